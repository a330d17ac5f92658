/**
 * The TCP engine's timer queue on a FakeClock: one clock timer armed for the earliest deadline (on
 * a 10 ms grid), never a periodic tick; entries run in deadline order, never early; moving a
 * deadline later leaves the timer alone, and so do cancelling and removing the last deadline (the
 * timer fires once more, runs nothing, and stays off); close() leaves no timer.
 */
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/stack/clock.js';
import { GRAIN_MS, TimerQueue, type TimerEntry } from '../../src/stack/tcp/timer-queue.js';
import { seededRandom } from '../support/stack-context.js';

class Entry implements TimerEntry {
  timerDeadline = -1;
  timerIndex = 0;
  readonly calls: number[] = [];
  constructor(
    readonly name: string,
    private readonly log: string[] = [],
    private readonly then?: (now: number) => void,
  ) {}
  onTimer(now: number): void {
    this.calls.push(now);
    this.log.push(this.name);
    this.then?.(now);
  }
}

describe('TimerQueue', () => {
  it('arms one timer for the earliest deadline and fires once, at its grid point, not every tick', () => {
    const clock = new FakeClock(0);
    const queue = new TimerQueue(clock);
    const entry = new Entry('a');
    queue.schedule(entry, 600_000); // a half-closed flow's 10-minute bound
    expect(clock.pendingTimers).toBe(1);
    clock.advance(599_999);
    expect(entry.calls).toEqual([]);
    expect(clock.fired).toBe(0);
    clock.advance(1);
    expect(entry.calls).toEqual([600_000]);
    expect(clock.fired).toBe(1);
    expect(clock.pendingTimers).toBe(0);
    expect(queue.size).toBe(0);
  });

  it('serves a deadline at the next grid point, never before it', () => {
    const clock = new FakeClock(1000);
    const queue = new TimerQueue(clock);
    const entry = new Entry('a');
    queue.schedule(entry, 1203);
    clock.advance(203);
    expect(entry.calls).toEqual([]);
    clock.advance(GRAIN_MS - 3);
    expect(entry.calls).toEqual([1210]);
  });

  it('runs entries in deadline order; those due within one grid step share one wakeup', () => {
    const clock = new FakeClock(0);
    const queue = new TimerQueue(clock);
    const log: string[] = [];
    const entries = [new Entry('c', log), new Entry('a', log), new Entry('b', log), new Entry('d', log)];
    queue.schedule(entries[0], 37);
    queue.schedule(entries[1], 31);
    queue.schedule(entries[2], 33);
    queue.schedule(entries[3], 500);
    expect(clock.pendingTimers).toBe(1);
    clock.advance(100);
    expect(log).toEqual(['a', 'b', 'c']);
    expect(clock.fired).toBe(1);
    clock.advance(400);
    expect(log).toEqual(['a', 'b', 'c', 'd']);
    expect(clock.fired).toBe(2);
  });

  it('a deadline moved later keeps the armed timer: it fires early once, runs nothing, re-arms', () => {
    const clock = new FakeClock(0);
    const queue = new TimerQueue(clock);
    const entry = new Entry('a');
    queue.schedule(entry, 200);
    for (let t = 10; t <= 150; t += 10) {
      clock.advance(10);
      queue.schedule(entry, t + 200); // an RTO pushed forward by every ACK
    }
    expect(clock.pendingTimers).toBe(1);
    expect(clock.fired).toBe(0);
    clock.advance(50); // t = 200: the original timer
    expect(entry.calls).toEqual([]);
    expect(clock.fired).toBe(1);
    expect(clock.pendingTimers).toBe(1);
    clock.advance(150); // t = 350
    expect(entry.calls).toEqual([350]);
    expect(clock.fired).toBe(2);
  });

  it('a deadline moved earlier re-arms for it', () => {
    const clock = new FakeClock(0);
    const queue = new TimerQueue(clock);
    const entry = new Entry('a');
    queue.schedule(entry, 60_000);
    queue.schedule(entry, 40);
    expect(clock.pendingTimers).toBe(1);
    clock.advance(40);
    expect(entry.calls).toEqual([40]);
    expect(clock.pendingTimers).toBe(0);
  });

  it('cancelling the last entry keeps the armed timer: it fires once, runs nothing, stays off; scheduling again before reuses it', () => {
    const clock = new FakeClock(0);
    const queue = new TimerQueue(clock);
    const a = new Entry('a');
    queue.schedule(a, 100);
    queue.cancel(a);
    expect(a.timerDeadline).toBe(-1);
    expect([clock.pendingTimers, clock.timersSet]).toEqual([1, 1]);
    queue.schedule(a, 150); // later than the armed timer: left alone
    queue.cancel(a);
    expect([clock.pendingTimers, clock.timersSet]).toEqual([1, 1]);
    clock.advance(1000);
    expect([a.calls, clock.fired, clock.pendingTimers, clock.timersSet]).toEqual([[], 1, 0, 1]);
  });

  it('removing the last entry keeps the armed timer, so serial short flows arm it once, not once each; close() clears everything', () => {
    const clock = new FakeClock(0);
    const queue = new TimerQueue(clock);
    const a = new Entry('a');
    const b = new Entry('b');
    queue.schedule(a, 100);
    queue.schedule(b, 200);
    queue.remove(a);
    expect(a.timerDeadline).toBe(-1);
    queue.remove(b);
    expect(queue.size).toBe(0);
    expect([clock.pendingTimers, clock.timersSet]).toEqual([1, 1]);
    queue.remove(b); // not queued: nothing happens
    // A guest's short connections one after another: each flow's deadline comes and goes within
    // the first one's grid step; the timer armed for the first serves them all.
    for (let i = 0; i < 5; i++) {
      const flow = new Entry(`flow ${i}`);
      queue.schedule(flow, 100 + i);
      queue.remove(flow);
    }
    expect([clock.pendingTimers, clock.timersSet]).toEqual([1, 1]);
    clock.advance(1000); // it fires once, runs nothing, stays off
    expect([a.calls, b.calls, clock.fired, clock.pendingTimers, clock.timersSet]).toEqual([[], [], 1, 0, 1]);
    queue.schedule(a, 1300);
    queue.close();
    expect(clock.pendingTimers).toBe(0);
    clock.advance(1000);
    expect(a.calls).toEqual([]);
    queue.schedule(a, 2000); // closed: ignored
    expect(clock.pendingTimers).toBe(0);
  });

  it('an entry that schedules itself for "now" runs again at the next firing, not in a loop', () => {
    const clock = new FakeClock(0);
    const queue = new TimerQueue(clock);
    let again = 3;
    const entry: Entry = new Entry('a', [], (now) => {
      if (again-- > 0) queue.schedule(entry, now);
    });
    queue.schedule(entry, 10);
    clock.advance(10);
    expect(entry.calls).toEqual([10]);
    clock.advance(100);
    expect(entry.calls).toEqual([10, 20, 30, 40]);
    expect(clock.fired).toBe(4);
    expect(clock.pendingTimers).toBe(0);
  });

  it('random schedules, moves and cancels: each entry runs once per deadline, in order, never early, at most one grid step late', () => {
    const random = seededRandom(12);
    const clock = new FakeClock(0);
    const queue = new TimerQueue(clock);
    const ran: { entry: number; deadline: number; at: number }[] = [];
    const entries: (Entry & { expected: number })[] = [];
    for (let i = 0; i < 200; i++) {
      const entry = Object.assign(
        new Entry(String(i), [], (now) => {
          ran.push({ entry: i, deadline: entry.expected, at: now });
        }),
        { expected: -1 },
      );
      entries.push(entry);
    }
    for (let step = 0; step < 2000; step++) {
      const entry = entries[Math.floor(random() * entries.length)];
      const action = random();
      if (action < 0.15) {
        queue.cancel(entry);
        entry.expected = -1;
      } else if (action < 0.9) {
        const deadline = Math.floor(clock.now() + random() * 5000);
        queue.schedule(entry, deadline);
        entry.expected = deadline;
      } else {
        clock.advance(Math.floor(random() * 300));
      }
      // Nothing waits a whole grid step past its deadline; whatever ran was due.
      for (const e of entries) {
        if (e.timerDeadline >= 0) expect(clock.now() - e.timerDeadline).toBeLessThan(GRAIN_MS);
      }
      for (const r of ran.splice(0)) {
        expect(r.at).toBeGreaterThanOrEqual(r.deadline);
        expect(r.at - r.deadline).toBeLessThanOrEqual(GRAIN_MS);
        entries[r.entry].expected = -1;
      }
    }
    clock.advance(10_000);
    expect(queue.size).toBe(0);
    expect(clock.pendingTimers).toBe(0);
  });
});

describe("TimerQueue with the caller's clock reading", () => {
  it('arms from the now it is given without reading the clock, and fires on the same grid', () => {
    const clock = new FakeClock(0);
    let reads = 0;
    const read = clock.now.bind(clock);
    clock.now = () => {
      reads++;
      return read();
    };
    const queue = new TimerQueue(clock);
    const entry = new Entry('a');
    queue.schedule(entry, 95, 0);
    expect(reads).toBe(0);
    expect(clock.pendingTimers).toBe(1);
    clock.advance(99);
    expect(entry.calls).toEqual([]);
    clock.advance(1);
    expect(entry.calls).toEqual([100]);
  });
});
