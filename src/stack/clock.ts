/**
 * The engine's only source of time. Tests drive a FakeClock so every timer-dependent behaviour
 * (retransmission, expiry) runs deterministically and instantly.
 */

export interface TimerHandle {
  readonly __timer: unique symbol;
}

export interface Clock {
  /** Milliseconds, monotonic. */
  now(): number;
  /** Calls callback once after delayMs. The engine keeps few of these (one per table of deadlines), not one per segment. */
  setTimer(callback: () => void, delayMs: number): TimerHandle;
  clearTimer(handle: TimerHandle): void;
}

/**
 * process.uptime, looked up once. `process` is a global object in dictionary mode (slow properties),
 * so `process.uptime()` cost optimized code a global load and an uncached, generic property load
 * (V8's LoadIC builtin) on every read: with the engine's ~6 reads per short connection, ~8 % of the
 * relay's main-thread instructions in a connection-rate run (callgrind). Node's uptime uses no `this`.
 */
const uptime: () => number = process.uptime;

/**
 * Real time: the monotonic clock and Node timers (unref'd, so an idle engine never keeps the process
 * alive by itself). process.uptime() rather than performance.now(): the same clock (libuv's
 * monotonic time, sub-microsecond as a double) at the same cost per call, but the first use of the
 * `performance` global loads perf_hooks and its twelve modules, 0.8 MiB RSS for a process that
 * never measures performance.
 */
export class SystemClock implements Clock {
  now(): number {
    return uptime() * 1000;
  }
  setTimer(callback: () => void, delayMs: number): TimerHandle {
    const t = setTimeout(callback, delayMs);
    t.unref();
    return t as unknown as TimerHandle;
  }
  clearTimer(handle: TimerHandle): void {
    clearTimeout(handle as unknown as NodeJS.Timeout);
  }
}

interface FakeTimer {
  at: number;
  seq: number;
  callback: () => void;
  cancelled: boolean;
}

/** Time that moves only when advance() is called; due timers fire in order of (time, creation). */
export class FakeClock implements Clock {
  private current: number;
  private timers: FakeTimer[] = [];
  private nextSeq = 0;
  private firedCount = 0;
  private setCount = 0;

  constructor(start = 1_000_000) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  setTimer(callback: () => void, delayMs: number): TimerHandle {
    this.setCount++;
    const timer: FakeTimer = { at: this.current + Math.max(0, delayMs), seq: this.nextSeq++, callback, cancelled: false };
    this.timers.push(timer);
    return timer as unknown as TimerHandle;
  }

  clearTimer(handle: TimerHandle): void {
    (handle as unknown as FakeTimer).cancelled = true;
  }

  /** Number of timers still pending. */
  get pendingTimers(): number {
    return this.timers.filter((t) => !t.cancelled).length;
  }

  /** setTimer calls so far: each is a Node timer created on a real clock. */
  get timersSet(): number {
    return this.setCount;
  }

  /** Timer callbacks run so far: each is a wakeup the engine would cost on a real clock. */
  get fired(): number {
    return this.firedCount;
  }

  /** Moves time forward by ms, firing every timer that falls due on the way (including ones they set). */
  advance(ms: number): void {
    const end = this.current + ms;
    for (;;) {
      let next: FakeTimer | undefined;
      for (const t of this.timers) {
        if (t.cancelled || t.at > end) continue;
        if (!next || t.at < next.at || (t.at === next.at && t.seq < next.seq)) next = t;
      }
      if (!next) break;
      this.current = Math.max(this.current, next.at);
      next.cancelled = true;
      this.timers = this.timers.filter((t) => !t.cancelled);
      this.firedCount++;
      next.callback();
    }
    this.current = end;
  }
}
