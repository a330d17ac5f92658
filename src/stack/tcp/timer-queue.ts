/**
 * The deadlines of every TCP flow, behind one Clock timer armed for the earliest of them
 * (DESIGN.md §5: not a setTimeout per segment, and an idle engine costs nothing).
 *
 * A binary min-heap of entries by deadline; each entry has one deadline at a time and scheduling
 * again moves it in place (O(log n): the RTO moves on every ACK). The Clock timer is armed for the
 * earliest deadline, rounded up to a GRAIN_MS grid so that flows due close together share one
 * wakeup, and is left alone when a deadline moves later (it then fires early once, finds nothing
 * due, and re-arms) or is cancelled (it then fires once, finds nothing, and stays off): the hot
 * path reschedules without touching the timer. When the last entry is removed (its flow gone) the
 * timer is cleared. So a flow that only waits (half-closed for up to 10 minutes, TIME_WAIT)
 * costs one wakeup at its deadline, never a periodic tick.
 *
 * Must never call an entry from inside schedule()/cancel(), nor run one before its deadline.
 */
import type { Clock, TimerHandle } from '../clock.js';

export interface TimerEntry {
  /** Absolute deadline in ms, or -1 when not queued. Managed by the queue. */
  timerDeadline: number;
  /** Position in the queue's heap while queued. Managed by the queue. */
  timerIndex: number;
  /** Called once the deadline has passed (the entry is no longer queued by then). */
  onTimer(now: number): void;
}

/**
 * Timers fire on this grid (a deadline is served at most this late): flows due within the same
 * 10 ms share one wakeup.
 */
export const GRAIN_MS = 10;

export class TimerQueue {
  private readonly heap: TimerEntry[] = [];
  /** Entries taken off the heap in one firing, called after (reused). */
  private readonly due: TimerEntry[] = [];
  private timer: TimerHandle | null = null;
  /** When the armed timer fires (Infinity when none is armed). */
  private timerAt = Infinity;
  private firing = false;
  private closed = false;

  constructor(private readonly clock: Clock) {}

  get size(): number {
    return this.heap.length;
  }

  /** now: the caller's clock reading if it has just taken one (a read costs 200-500 ns), else read here when needed. */
  schedule(entry: TimerEntry, deadline: number, now?: number): void {
    if (this.closed) return;
    const heap = this.heap;
    if (entry.timerDeadline < 0) {
      entry.timerDeadline = deadline;
      entry.timerIndex = heap.length;
      heap.push(entry);
      this.siftUp(entry.timerIndex);
    } else {
      const earlier = deadline < entry.timerDeadline;
      entry.timerDeadline = deadline;
      if (earlier) this.siftUp(entry.timerIndex);
      else this.siftDown(entry.timerIndex);
    }
    if (!this.firing) this.arm(now);
  }

  /**
   * The entry has no deadline for now but stays (a flow whose data is all acknowledged). A queue
   * this empties keeps its armed timer, which fires once at most, finds nothing and stays off: a
   * request/response exchange cancels the answer's RTO at the guest's ACK and schedules the next
   * answer's right after, and clearing the timer here cost a clearTimeout plus a setTimeout per
   * round trip (~2 % of the relay's CPU in a 64 B request/response).
   */
  cancel(entry: TimerEntry): void {
    if (entry.timerDeadline < 0) return;
    this.removeAt(entry.timerIndex);
    entry.timerDeadline = -1;
  }

  /**
   * The entry leaves for good (a flow that is gone). A queue this empties keeps its armed timer,
   * as cancel() does: a guest's serial short connections empty the queue at each one's end and fill
   * it at the next one's SYN, and clearing the timer here cost a clearTimeout plus a setTimeout
   * (and its unref) per connection; the timer fires once at most, finds nothing, and stays off.
   */
  remove(entry: TimerEntry): void {
    this.cancel(entry);
  }

  close(): void {
    this.closed = true;
    for (const entry of this.heap) entry.timerDeadline = -1;
    this.heap.length = 0;
    this.disarm();
  }

  /** Makes the timer fire no later than the earliest deadline's grid point. */
  private arm(knownNow?: number): void {
    if (this.heap.length === 0) {
      this.disarm();
      return;
    }
    let at = Math.ceil(this.heap[0].timerDeadline / GRAIN_MS) * GRAIN_MS;
    // Fires in time (early, if the deadline moved later: then re-armed). Checked before reading the
    // clock (200-500 ns, and an armed timer is the common case: every answer sent reschedules its
    // flow): the adjustment below only moves at later, so it cannot change this answer.
    if (this.timerAt <= at) return;
    const now = knownNow ?? this.clock.now();
    // Already due (scheduled for "now" from a handler): the next grid point, never a 0 ms timer.
    if (at <= now) at = (Math.floor(now / GRAIN_MS) + 1) * GRAIN_MS;
    if (this.timerAt <= at) return;
    if (this.timer !== null) this.clock.clearTimer(this.timer);
    this.timerAt = at;
    this.timer = this.clock.setTimer(this.fire, Math.ceil(at - now));
  }

  private disarm(): void {
    if (this.timer !== null) this.clock.clearTimer(this.timer);
    this.timer = null;
    this.timerAt = Infinity;
  }

  private readonly fire = (): void => {
    this.timer = null;
    this.timerAt = Infinity;
    const now = this.clock.now();
    const heap = this.heap;
    const due = this.due;
    // Take every due entry first: one that an entry's handler schedules again for "now" waits for
    // the next firing instead of looping here.
    while (heap.length > 0 && heap[0].timerDeadline <= now) {
      const entry = heap[0];
      this.removeAt(0);
      entry.timerDeadline = -1;
      due.push(entry);
    }
    this.firing = true;
    try {
      for (let i = 0; i < due.length; i++) due[i].onTimer(now);
    } finally {
      due.length = 0;
      this.firing = false;
    }
    if (!this.closed) this.arm();
  };

  private removeAt(index: number): void {
    const heap = this.heap;
    const last = heap.pop()!;
    if (index === heap.length) return; // it was the last one
    heap[index] = last;
    last.timerIndex = index;
    this.siftDown(index);
    this.siftUp(last.timerIndex);
  }

  private siftUp(index: number): void {
    const heap = this.heap;
    const entry = heap[index];
    while (index > 0) {
      const parentIndex = (index - 1) >> 1;
      const parent = heap[parentIndex];
      if (parent.timerDeadline <= entry.timerDeadline) break;
      heap[index] = parent;
      parent.timerIndex = index;
      index = parentIndex;
    }
    heap[index] = entry;
    entry.timerIndex = index;
  }

  private siftDown(index: number): void {
    const heap = this.heap;
    const length = heap.length;
    const entry = heap[index];
    for (;;) {
      const left = 2 * index + 1;
      if (left >= length) break;
      const right = left + 1;
      const child = right < length && heap[right].timerDeadline < heap[left].timerDeadline ? right : left;
      if (heap[child].timerDeadline >= entry.timerDeadline) break;
      heap[index] = heap[child];
      heap[index].timerIndex = index;
      index = child;
    }
    heap[index] = entry;
    entry.timerIndex = index;
  }
}
