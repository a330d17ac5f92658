/**
 * Link-layer (MAC) addresses of the hosts on the guest network (normally just the guest), for both
 * address families: keyed by the engine's address numbers (an IPv4 uint32, or an IPv6 handle from
 * address-table.ts). Learned from the source of every frame the guest sends and from its ARP (and
 * later NDP) messages. Frames to an unresolved address wait in a small bounded queue while the
 * family's resolver asks for it (ARP request; NDP neighbour solicitation for IPv6, issue 15); the
 * queue is the only place output frames are copied.
 *
 * Bounded, and a full table still serves newcomers: a new address evicts the entry learned longest
 * ago (a live neighbour is learned again from its next frame, or resolved on demand); a frame
 * queued while the pending queue is full evicts the oldest waiting frame (new traffic is the more
 * useful, and old frames expire after PENDING_MAX_AGE_MS anyway); the request rate limiter
 * forgets everything once it holds maxEntries addresses.
 */
import type { TxInfo } from '../link/link.js';
import type { Clock } from './clock.js';

interface PendingFrame {
  destination: number;
  frame: Uint8Array; // head + body, Ethernet header still to be written
  info: TxInfo | null;
  queuedAt: number;
}

export interface WaitingFrame {
  readonly frame: Uint8Array;
  readonly info: TxInfo | null;
}

const ARP_RETRY_MS = 1000;
const PENDING_MAX_AGE_MS = 3000;

export class NeighborTable {
  private readonly entries = new Map<number, number>();
  private readonly pending: PendingFrame[] = [];
  private readonly lastRequest = new Map<number, number>();
  /** Last learned pair: the guest is usually the only neighbour, so most lookups stop here. */
  private lastAddress = -1;
  private lastMac = 0;

  constructor(
    private readonly maxEntries: number,
    private readonly maxPending: number,
    private readonly clock: Clock,
    /** Asks the network for address's MAC (ARP request for IPv4, neighbour solicitation for IPv6). */
    private readonly requestResolution: (address: number) => void,
    /** Told of an entry the table let go of (evicted): IPv6 handles are held while learnt. */
    private readonly forget: (address: number) => void = () => {},
  ) {}

  get size(): number {
    return this.entries.size;
  }

  learn(address: number, mac: number): { newlyResolved: boolean } {
    if (address === this.lastAddress && mac === this.lastMac) return { newlyResolved: false };
    const known = this.entries.get(address);
    if (known === undefined && this.entries.size >= this.maxEntries) {
      // Map order is insertion order: the first entry was learned longest ago.
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) {
        this.entries.delete(oldest);
        if (oldest === this.lastAddress) this.lastAddress = -1;
        this.forget(oldest);
      }
    }
    this.entries.set(address, mac);
    this.lastAddress = address;
    this.lastMac = mac;
    return { newlyResolved: known === undefined };
  }

  lookup(address: number): number | undefined {
    if (address === this.lastAddress) return this.lastMac;
    return this.entries.get(address);
  }

  /** Copies a frame to send once address resolves; asks for resolution (rate-limited per address). */
  queueForResolution(destination: number, head: Uint8Array, body: Uint8Array | null, info?: TxInfo): void {
    const now = this.clock.now();
    this.expire(now);
    if (this.maxPending > 0) {
      if (this.pending.length >= this.maxPending) this.pending.shift();
      const frame = new Uint8Array(head.length + (body?.length ?? 0));
      frame.set(head, 0);
      if (body) frame.set(body, head.length);
      this.pending.push({ destination, frame, info: info ? { ...info } : null, queuedAt: now });
    }
    const last = this.lastRequest.get(destination);
    if (last === undefined || now - last >= ARP_RETRY_MS) {
      if (last === undefined && this.lastRequest.size >= this.maxEntries) this.lastRequest.clear();
      this.lastRequest.set(destination, now);
      this.requestResolution(destination);
    }
  }

  /** Removes and returns the frames waiting for address (now resolved). */
  takePending(address: number): WaitingFrame[] {
    this.lastRequest.delete(address);
    const ready: WaitingFrame[] = [];
    for (let i = 0; i < this.pending.length; ) {
      if (this.pending[i].destination === address) {
        ready.push(this.pending[i]);
        this.pending.splice(i, 1);
      } else i++;
    }
    return ready;
  }

  /** Forgets every entry (closing), telling forget() of each. */
  clear(): void {
    for (const address of this.entries.keys()) this.forget(address);
    this.entries.clear();
    this.pending.length = 0;
    this.lastAddress = -1;
  }

  get pendingCount(): number {
    return this.pending.length;
  }

  private expire(now: number): void {
    while (this.pending.length > 0 && now - this.pending[0].queuedAt > PENDING_MAX_AGE_MS) this.pending.shift();
  }
}
