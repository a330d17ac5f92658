/**
 * The one way frames reach the Link, and the rule for when the Link is flushed, so that no sender
 * has to remember it:
 *
 * - a frame sent during a wakeup (a received batch) goes out with that wakeup's one flush, after the
 *   batch observers (coalesced ACKs, bytes gathered for the host);
 * - a frame sent during a wakeup a host port began for its events (HostStreamEvents.wakeup: the
 *   native TCP port's one call per loop turn) goes out with that call's one flush;
 * - a frame sent at any other time (a host socket event, a timer) makes the transmitter ask for one
 *   flush at the end of the current tick (a microtask, run as a wakeup of its own), so many sends in
 *   one tick are still one link batch.
 *
 * This is the place that decides WHEN frames leave; nothing else calls Link.flush(). Counts frames
 * and bytes out. Never throws: a link whose flush throws loses that batch's frames (reported to the
 * stack's faults), and the next wakeup starts clean.
 */
import type { Link, TxInfo } from '../link/link.js';
import type { FaultLog } from './fault-log.js';
import type { StackStats } from './stats.js';

const RESOLVED = Promise.resolve();

export class FrameTransmitter {
  /** Wakeups in progress (a link that delivers frames during its own flush nests them). */
  private wakeups = 0;
  private flushQueued = false;
  private closed = false;
  private readonly flushAtEndOfTick = (): void => {
    this.flushQueued = false;
    if (this.closed) return;
    this.beginWakeup();
    this.endWakeup();
  };

  constructor(
    private readonly link: Link,
    private readonly stats: StackStats,
    private readonly faults: FaultLog,
    /** Work due before every flush (the stack's batch observers). */
    private readonly beforeFlush: () => void,
  ) {}

  /** Queues one frame on the link (see Link.transmit: head and body are taken during the call). */
  transmit(head: Uint8Array, body: Uint8Array | null, info?: TxInfo): void {
    this.link.transmit(head, body, info);
    this.stats.framesOut++;
    this.stats.bytesOut += head.length + (body === null ? 0 : body.length);
    if (head[12] === 0x86 && head[13] === 0xdd) this.stats.ipv6FramesOut++;
    if (this.wakeups === 0 && !this.flushQueued && !this.closed) {
      this.flushQueued = true;
      // A resolved promise's then, not queueMicrotask: the same microtask queue, but Node's
      // queueMicrotask wraps every call in an AsyncResource and a bind (~175 ns against ~90 ns
      // here; once per host event). flushAtEndOfTick never throws, so nothing can be rejected.
      RESOLVED.then(this.flushAtEndOfTick);
    }
  }

  /** A wakeup starts (a received batch): frames sent from now on wait for endWakeup(). */
  beginWakeup(): void {
    this.wakeups++;
  }

  /** The wakeup ends: batch observers run, then everything queued goes out in one flush. */
  endWakeup(): void {
    try {
      if (this.closed) return; // a host port may end a wakeup it began just before the stack closed
      this.beforeFlush();
      this.link.flush();
    } catch (error) {
      this.faults.report('link flush', error, 'queued frames dropped');
    } finally {
      this.wakeups--;
    }
  }

  /** Nothing is flushed after this (the link is being closed). */
  close(): void {
    this.closed = true;
  }
}
