import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/stack/clock.js';
import { IdleSweeper } from '../../src/stack/idle-sweeper.js';

/** A table of deadlines; the pass closes the due ones and reports the earliest left. */
function table(clock: FakeClock) {
  const deadlines = new Map<string, number>();
  /** Times of the passes, relative to the clock's start. */
  const passes: number[] = [];
  const start = clock.now();
  const sweeper = new IdleSweeper(clock, (now) => {
    passes.push(now - start);
    let next = Infinity;
    for (const [name, at] of deadlines) {
      if (at <= now) deadlines.delete(name);
      else next = Math.min(next, at);
    }
    return next;
  });
  /** at: relative to the clock's start. */
  const add = (name: string, at: number): void => {
    deadlines.set(name, start + at);
    sweeper.arm(start + at);
  };
  return { deadlines, passes, sweeper, add };
}

describe('IdleSweeper', () => {
  it('keeps one timer for the earliest deadline and re-arms for the next one left', () => {
    const clock = new FakeClock();
    const t = table(clock);
    t.add('late', 5_000);
    t.add('early', 2_000);
    t.add('later', 9_000);
    expect(clock.pendingTimers).toBe(1);
    clock.advance(2_000);
    expect(t.passes).toEqual([2_000]);
    expect([...t.deadlines.keys()]).toEqual(['late', 'later']);
    clock.advance(3_000);
    expect([...t.deadlines.keys()]).toEqual(['later']);
    clock.advance(4_000);
    expect(t.deadlines.size).toBe(0);
    expect(t.passes).toEqual([2_000, 5_000, 9_000]);
    expect(clock.pendingTimers).toBe(0);
  });

  it('runs at most once per interval however close the deadlines are', () => {
    const clock = new FakeClock();
    const t = table(clock);
    for (let i = 1; i <= 100; i++) t.add(`e${i}`, i * 10); // every 10 ms for a second
    clock.advance(2_000);
    expect(t.deadlines.size).toBe(0);
    expect(t.passes).toEqual([10, 1_010]);
  });

  it('a later deadline does not delay the timer; close() stops it', () => {
    const clock = new FakeClock();
    const t = table(clock);
    t.add('a', 1_000);
    t.sweeper.arm(clock.now() + 50_000);
    expect(clock.pendingTimers).toBe(1);
    t.sweeper.close();
    expect(clock.pendingTimers).toBe(0);
    t.sweeper.arm(clock.now() + 10);
    clock.advance(60_000);
    expect(t.passes).toEqual([]);
  });
});
