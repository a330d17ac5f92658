/**
 * Delayed ACKs for flows where the guest and the host take turns (request/response): the ACK of a
 * small request waits up to DELAYED_ACK_MS for the host's answer, which carries it (RFC 9293
 * §3.8.6.3, RFC 1122 §4.2.3.2), instead of going out as a frame of its own. A pure ACK cost a TAP
 * write per round trip (and the guest kernel's processing of it, which runs inside that write):
 * strace -c of a 64 B request/response through one flow showed 2 writev per round trip, 1 with this.
 *
 * An owed ACK waits only when all of these hold; otherwise it goes with the batch's flush as before:
 * - the flow is interactive: the host's answer reached the guest within DELAYED_ACK_MS of an ACK we
 *   sent at once for guest data (Linux's "pingpong" mode). A delayed ACK the timer has to send ends
 *   it (the answers are slower than the delay), until an answer follows an ACK quickly again;
 * - less than one full segment (our MSS) is unacknowledged: bulk data is ACKed per batch as before;
 * - the guest never showed it waits for our ACKs: new data from it right after a delayed ACK went
 *   out, with no data of ours in between (Nagle holding its next small write back until then), makes
 *   every later ACK of that flow go at once.
 *
 * One clock timer serves every waiting flow; it runs only while some ACK waits (none when idle).
 */
import type { Clock, TimerHandle } from '../clock.js';
import { seqDiff } from '../../wire/tcp-seq.js';
import type { Flow } from './flow.js';

/** How long an ACK may wait for an answer to carry it (libslirp's fast timer is 2 ms too). */
export const DELAYED_ACK_MS = 2;
/** Guest data arriving this soon after a delayed ACK was waiting for that ACK (Nagle). */
export const NAGLE_RELEASE_MS = 1;

export class DelayedAcks {
  /** Flows whose ACK waits (some entries are stale: carried meanwhile; dropped when the timer fires). */
  private waiting: Flow[] = [];
  /** The other list of the two the timer swaps (no allocation per firing). */
  private spare: Flow[] = [];
  private timer: TimerHandle | null = null;
  private closed = false;

  constructor(
    private readonly clock: Clock,
    /** Sends the flow's ACK now. */
    private readonly sendAck: (flow: Flow) => void,
    /** An exception while sending one flow's ACK (the engine resets that flow). */
    private readonly fault: (flow: Flow, error: unknown) => void,
  ) {}

  /**
   * An ACK is owed for in-order guest data at the end of a batch: true when it waits (queued here,
   * sent by the timer unless an answer carries it first), false when it must go now (then the caller
   * sends it and this records when).
   */
  defer(flow: Flow, now: number): boolean {
    if (this.closed || !flow.interactive || flow.ackDelayRefused || seqDiff(flow.receiveNext, flow.ackSent) >= flow.output.tcpMss) {
      flow.dataAckedAt = now;
      return false;
    }
    if (flow.ackDelayedSince < 0) flow.ackDelayedSince = now;
    if (!flow.ackDelayQueued) {
      flow.ackDelayQueued = true;
      this.waiting.push(flow);
    }
    if (this.timer === null) this.timer = this.clock.setTimer(this.fire, DELAYED_ACK_MS);
    return true;
  }

  close(): void {
    this.closed = true;
    if (this.timer !== null) this.clock.clearTimer(this.timer);
    this.timer = null;
    for (const flow of this.waiting) flow.ackDelayQueued = false;
    this.waiting.length = 0;
  }

  private readonly fire = (): void => {
    this.timer = null;
    if (this.closed) return;
    const now = this.clock.now();
    const waiting = this.waiting;
    this.waiting = this.spare;
    let earliest = Infinity;
    for (let i = 0; i < waiting.length; i++) {
      const flow = waiting[i];
      if (flow.closed || !flow.ackPending || flow.ackDelayedSince < 0) {
        flow.ackDelayQueued = false; // carried by an answer (or the flow is gone)
        continue;
      }
      const due = flow.ackDelayedSince + DELAYED_ACK_MS;
      if (due > now) {
        this.waiting.push(flow);
        if (due < earliest) earliest = due;
        continue;
      }
      flow.ackDelayQueued = false;
      flow.interactive = false;
      flow.delayedAckSentAt = now;
      try {
        this.sendAck(flow);
      } catch (error) {
        this.fault(flow, error);
      }
    }
    waiting.length = 0;
    this.spare = waiting;
    if (this.waiting.length > 0) this.timer = this.clock.setTimer(this.fire, Math.max(1, Math.ceil(earliest - now)));
  };
}

/** The sender put host data on its way to the guest: an answer, if it follows our last ACK of guest data quickly. */
export function answerSent(flow: Flow, now: () => number): void {
  // Guest data after this answers it, not our delayed ACK: no sign of Nagle waiting for that ACK.
  flow.delayedAckSentAt = -1;
  if (flow.interactive || flow.dataAckedAt < 0) return;
  if (now() - flow.dataAckedAt < DELAYED_ACK_MS) flow.interactive = true;
  flow.dataAckedAt = -1;
}

/** New in-order data from the guest: was it held back for the delayed ACK we sent just before (nothing of ours in between)? */
export function guestDataArrived(flow: Flow, now: number): void {
  if (flow.delayedAckSentAt < 0) return;
  if (now - flow.delayedAckSentAt < NAGLE_RELEASE_MS) flow.ackDelayRefused = true;
  flow.delayedAckSentAt = -1;
}
