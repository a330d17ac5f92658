/**
 * One hashed timing wheel for every TCP flow (DESIGN.md §5: not a setTimeout per segment).
 * Each entry has one deadline at a time; scheduling again moves it. The wheel holds a single Clock
 * timer, and only while it has entries: an idle engine costs nothing.
 */
import type { Clock, TimerHandle } from '../clock.js';

export interface WheelEntry {
  /** Absolute deadline in ms, or -1 when not scheduled. Managed by the wheel. */
  wheelDeadline: number;
  wheelSlot: number;
  /** Called when the deadline passes. */
  onTimer(now: number): void;
}

const SLOT_MS = 10;
const SLOTS = 512; // 5.12 s per turn; longer deadlines just wait for their turn

export class TimerWheel {
  private readonly slots: Set<WheelEntry>[] = Array.from({ length: SLOTS }, () => new Set());
  private count = 0;
  private timer: TimerHandle | null = null;
  private cursor: number; // tick number of the next slot to process

  constructor(private readonly clock: Clock) {
    this.cursor = Math.floor(clock.now() / SLOT_MS);
  }

  get size(): number {
    return this.count;
  }

  schedule(entry: WheelEntry, deadline: number): void {
    this.cancel(entry);
    entry.wheelDeadline = deadline;
    // Never into a slot the cursor has passed: at the earliest, the next one processed.
    const tick = Math.max(Math.ceil(deadline / SLOT_MS), this.cursor);
    entry.wheelSlot = tick % SLOTS;
    this.slots[entry.wheelSlot].add(entry);
    this.count++;
    this.arm();
  }

  cancel(entry: WheelEntry): void {
    if (entry.wheelDeadline < 0) return;
    if (this.slots[entry.wheelSlot].delete(entry)) this.count--;
    entry.wheelDeadline = -1;
  }

  close(): void {
    for (const slot of this.slots) slot.clear();
    this.count = 0;
    if (this.timer) this.clock.clearTimer(this.timer);
    this.timer = null;
  }

  private arm(): void {
    if (this.timer || this.count === 0) return;
    this.timer = this.clock.setTimer(() => this.tick(), SLOT_MS);
  }

  private tick(): void {
    this.timer = null;
    const now = this.clock.now();
    const target = Math.floor(now / SLOT_MS);
    // Process every slot up to now (at most one full turn: later entries are re-checked by deadline).
    for (let processed = 0; this.cursor <= target && processed < SLOTS; processed++, this.cursor++) {
      const slot = this.slots[this.cursor % SLOTS];
      if (slot.size === 0) continue;
      for (const entry of slot) {
        if (entry.wheelDeadline <= now) {
          slot.delete(entry);
          this.count--;
          entry.wheelDeadline = -1;
          entry.onTimer(now);
        }
      }
    }
    if (this.cursor <= target) this.cursor = target + 1;
    this.arm();
  }
}
