/**
 * One timer for a whole table of entries that expire when idle (UDP bindings, echo sessions): the
 * table calls arm(deadline) when an entry gets one; the sweeper keeps a single timer for the
 * earliest deadline, runs at most once per minIntervalMs, and re-arms for whatever the pass reports
 * as the next deadline. Entries never get a timer of their own, so refreshing one on every datagram
 * costs a field write, not a timer reset.
 */
import type { Clock, TimerHandle } from './clock.js';

/** Closes the entries idle at `now`; returns the earliest deadline among those left (or Infinity). */
export type SweepPass = (now: number) => number;

export class IdleSweeper {
  private timer: TimerHandle | null = null;
  private timerAt = Infinity;
  private lastPass = -Infinity;
  private closed = false;

  constructor(
    private readonly clock: Clock,
    private readonly pass: SweepPass,
    private readonly minIntervalMs = 1_000,
  ) {}

  /** Makes sure a pass runs at (or, rate-limited, shortly after) deadline. */
  arm(deadline: number): void {
    if (this.closed) return;
    const when = Math.max(deadline, this.lastPass + this.minIntervalMs);
    if (this.timer !== null && this.timerAt <= when) return;
    if (this.timer !== null) this.clock.clearTimer(this.timer);
    this.timerAt = when;
    this.timer = this.clock.setTimer(() => this.run(), Math.max(0, when - this.clock.now()));
  }

  close(): void {
    this.closed = true;
    if (this.timer !== null) this.clock.clearTimer(this.timer);
    this.timer = null;
  }

  private run(): void {
    this.timer = null;
    this.timerAt = Infinity;
    const now = this.clock.now();
    this.lastPass = now;
    const next = this.pass(now);
    if (next !== Infinity) this.arm(next);
  }
}
