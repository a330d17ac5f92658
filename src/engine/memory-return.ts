/**
 * Gives memory back to the kernel once a burst of traffic is over: after at least BURST_FRAMES
 * frames (either way) since the last return, as soon as a QUIET_MS window passes with fewer than
 * QUIET_FRAMES, it calls `release` once (the CLI passes glibc's malloc_trim(0)).
 *
 * Why: thousands of short-lived host sockets (a SYN storm to closed ports, a UDP port scan) leave
 * Node's per-socket allocations (libuv handles, socket wraps, requests) freed but interleaved with
 * live ones in malloc's arenas, which glibc trims only at their top: measured, the main heap stayed
 * 4.5 MiB above idle for good after 20k refused SYNs and 20k UDP datagrams (bench/memory.ts --map).
 *
 * Costs nothing per frame beyond a counter compare at the end of a batch; one timer while a burst is
 * being watched (re-armed every QUIET_MS while traffic continues), none when idle. Must never: call
 * release while traffic flows (a trim walks every arena: ~1 ms per few MiB), or poll an idle engine.
 */
import type { Clock, TimerHandle } from '../stack/clock.js';
import type { BatchObserver } from '../stack/stack.js';
import type { StackStats } from '../stack/stats.js';

/** Frames since the last return that make a burst worth returning memory after. */
export const BURST_FRAMES = 4096;
/** A window this long with fewer than QUIET_FRAMES frames means the burst is over. */
export const QUIET_MS = 2000;
export const QUIET_FRAMES = 64;

export class MemoryReturn implements BatchObserver {
  private returnedAt = 0;
  private windowStart = 0;
  private timer: TimerHandle | null = null;
  private closed = false;
  /** How many times release ran (for tests and the stats). */
  releases = 0;

  constructor(
    private readonly clock: Clock,
    private readonly stats: StackStats,
    private readonly release: () => void,
  ) {}

  afterBatch(): void {
    if (this.timer !== null || this.closed) return;
    const frames = this.frames();
    if (frames - this.returnedAt < BURST_FRAMES) return;
    this.windowStart = frames;
    this.timer = this.clock.setTimer(() => this.check(), QUIET_MS);
  }

  close(): void {
    this.closed = true;
    if (this.timer !== null) this.clock.clearTimer(this.timer);
    this.timer = null;
  }

  private check(): void {
    const frames = this.frames();
    if (frames - this.windowStart >= QUIET_FRAMES) {
      this.windowStart = frames; // still busy: look again in a while
      this.timer = this.clock.setTimer(() => this.check(), QUIET_MS);
      return;
    }
    this.timer = null;
    this.returnedAt = frames;
    this.releases++;
    this.release();
  }

  private frames(): number {
    return this.stats.framesIn + this.stats.framesOut;
  }
}
