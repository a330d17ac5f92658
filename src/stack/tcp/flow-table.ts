/**
 * The TCP flows by their four-tuple, for both address families: a map by the remote endpoint
 * (address · 2^16 + port, address-table.ts's endpointKey) of maps by the guest endpoint. Numeric keys
 * only, no strings on the hot path; the few flows that share a remote endpoint (a guest's connections
 * to one server) share an inner map. The flow found last is checked first: a batch of a bulk transfer
 * is mostly one flow's segments. Knows nothing of TCP state; bounds are the engine's.
 */
import { endpointKey } from '../address-table.js';
import type { FlowTuple } from './flow.js';

export class FlowTable<F extends FlowTuple> {
  private readonly byRemote = new Map<number, Map<number, F>>();
  /**
   * The last inner map that emptied, kept for the next remote endpoint: a guest's serial short
   * connections to one server empty and refill it each time, a new Map per connection otherwise.
   */
  private spare: Map<number, F> | undefined;
  private count = 0;
  private last: F | undefined;

  get size(): number {
    return this.count;
  }

  get(guestAddress: number, guestPort: number, remoteAddress: number, remotePort: number): F | undefined {
    const last = this.last;
    if (
      last !== undefined &&
      last.guestPort === guestPort &&
      last.remotePort === remotePort &&
      last.guestAddress === guestAddress &&
      last.remoteAddress === remoteAddress
    ) {
      return last;
    }
    const flow = this.byRemote.get(endpointKey(remoteAddress, remotePort))?.get(endpointKey(guestAddress, guestPort));
    if (flow !== undefined) this.last = flow;
    return flow;
  }

  /** Adds a flow; its tuple must be free (get() said undefined). */
  add(flow: F): void {
    const remoteKey = endpointKey(flow.remoteAddress, flow.remotePort);
    let inner = this.byRemote.get(remoteKey);
    if (inner === undefined) {
      inner = this.spare ?? new Map<number, F>();
      this.spare = undefined;
      this.byRemote.set(remoteKey, inner);
    }
    inner.set(endpointKey(flow.guestAddress, flow.guestPort), flow);
    this.count++;
  }

  /** Removes this flow (not another that took its tuple since); returns whether it was there. */
  delete(flow: F): boolean {
    const remoteKey = endpointKey(flow.remoteAddress, flow.remotePort);
    const inner = this.byRemote.get(remoteKey);
    const guestKey = endpointKey(flow.guestAddress, flow.guestPort);
    if (inner?.get(guestKey) !== flow) return false;
    inner.delete(guestKey);
    if (this.last === flow) this.last = undefined;
    if (inner.size === 0) {
      this.byRemote.delete(remoteKey);
      this.spare = inner;
    }
    this.count--;
    return true;
  }

  *values(): IterableIterator<F> {
    for (const inner of this.byRemote.values()) yield* inner.values();
  }

  clear(): void {
    this.byRemote.clear();
    this.spare = undefined;
    this.count = 0;
    this.last = undefined;
  }
}
