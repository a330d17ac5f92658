/**
 * Adaptive busy-polling of the event loop (native/busy_poll.c). The window policy is pinned as a
 * pure function; the loop's behaviour in a child process (the test runner's own loop stays as it
 * is): with an echo peer answering within the window, waits end while polling (sleeps avoided);
 * with gaps far longer than the window, it closes and the loop blocks at once; stopped, it neither
 * polls nor counts; and it never keeps a finished process alive. Counters, not timings, are asserted:
 * the window is made wide (2 ms against a loopback echo, 40 ms gaps against it) so that a loaded
 * machine cannot turn one into the other.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { packageRoot, type NativeAddon, type NativeBusyPollStats } from '../../src/native/native-addon.js';

const addonPath = join(packageRoot(), 'build', 'Release', 'tslirp_native.node');
const US = 1000;

describe.skipIf(!existsSync(addonPath))('busy-polling of the event loop', () => {
  const addon = (): NativeAddon => require(addonPath) as NativeAddon;

  test('the window opens at a quarter of the maximum after a wait within it, doubles up to the maximum, halves after a longer wait and closes below a quarter', () => {
    const next = addon().busyPollNextWindow;
    const max = 50 * US;
    expect(next(0, max, 30 * US)).toBe(12_500);
    expect(next(12_500, max, 40 * US)).toBe(25 * US);
    expect(next(25 * US, max, 50 * US)).toBe(max);
    expect(next(max, max, 10 * US)).toBe(max);
    expect(next(max, max, 50 * US + 1)).toBe(25 * US);
    expect(next(25 * US, max, 10_000 * US)).toBe(12_500);
    expect(next(12_500, max, 10_000 * US)).toBe(0);
    expect(next(0, max, 10_000 * US)).toBe(0);
    // A maximum too small to quarter still opens (at the maximum).
    expect(next(0, 3, 2)).toBe(3);
    expect(() => next(-1, max, 0)).toThrow(RangeError);
  });

  test('a period in which the thread got under 3/4 of the CPU time it wanted, or ending with more runnable tasks than CPUs, is contended: the back-off starts at 20 ms, doubles to 1.28 s, and resets after a quiet period of spinning only', () => {
    // Two CPUs, this thread the one runnable task unless said otherwise.
    const next = (backoffNs: number, spun: boolean, wantedNs: number, gotNs: number, runnable = 1): number =>
      addon().busyPollNextBackoff(backoffNs, spun, wantedNs, gotNs, runnable, 2);
    const ms = 1000 * US;
    const first = 20 * ms;
    expect(next(0, true, 20 * ms, 19 * ms)).toBe(0);
    expect(next(0, true, 20 * ms, 15 * ms)).toBe(0); // exactly 3/4: not contended
    expect(next(0, true, 20 * ms, 14 * ms)).toBe(first);
    expect(next(0, true, 4 * ms, 1 * ms)).toBe(0); // under 5 ms wanted: too little to tell
    expect(next(first, false, 20 * ms, 10 * ms)).toBe(2 * first);
    expect(next(640 * ms, false, 20 * ms, 10 * ms)).toBe(1280 * ms);
    expect(next(1280 * ms, true, 20 * ms, 10 * ms)).toBe(1280 * ms);
    // Quiet while backed off proves nothing (nothing spun); quiet while spinning ends the back-off.
    expect(next(2 * first, false, 20 * ms, 20 * ms)).toBe(2 * first);
    expect(next(2 * first, true, 20 * ms, 20 * ms)).toBe(0);
    // Runnable tasks: up to one per CPU is no contention; more is, whatever the CPU time got.
    expect(next(0, true, 20 * ms, 20 * ms, 2)).toBe(0);
    expect(next(0, true, 20 * ms, 20 * ms, 3)).toBe(first);
    // Unknown (no /proc/loadavg): only the CPU time got counts.
    expect(addon().busyPollNextBackoff(0, true, 20 * ms, 20 * ms, 5, 0)).toBe(0);
  });

  test('beside a CPU hog on its CPU it stops spinning (backs off) instead of taking the hog\'s slices', () => {
    // Both pinned to one CPU: the spinning loop and the hog take turns, so the loop gets about half
    // of the CPU time it wants.
    const script = `
      const addon = require(${JSON.stringify(addonPath)});
      const { spawn } = require('node:child_process');
      // A hog that ends itself after 15 s even if this script dies first (execFileSync's timeout ends
      // only the script), and is ended with SIGKILL here (a process that inherited SIGTERM ignored,
      // as under a test runner, would survive SIGTERM).
      const hog = spawn('taskset', ['-c', '0', process.execPath, '-e', 'const end = Date.now() + 15000; while (Date.now() < end);'], { stdio: 'ignore' });
      process.on('exit', () => hog.kill('SIGKILL'));
      const cat = spawn('cat', [], { stdio: ['pipe', 'pipe', 'inherit'] });
      addon.busyPollStart(2000, true);
      const until = Date.now() + 600;
      const onData = () => {
        if (Date.now() < until) { cat.stdin.write('x'); return; }
        cat.stdout.off('data', onData);
        cat.stdin.end();
        hog.kill('SIGKILL');
        console.log(JSON.stringify(addon.busyPollStats()));
      };
      cat.stdout.on('data', onData);
      cat.stdin.write('x');`;
    const out = execFileSync('taskset', ['-c', '0', process.execPath, '-e', script], { encoding: 'utf8', timeout: 20_000 });
    const stats = JSON.parse(out) as NativeBusyPollStats;
    expect(stats.backoffs).toBeGreaterThanOrEqual(1);
    expect(stats.backoffNs).toBeGreaterThanOrEqual(20_000 * US);
  });

  test('a loop answered within the window avoids sleeping; long gaps close the window; stopped, it does nothing', () => {
    // The echo peer is a second process (cat on a pipe), so that each answer arrives while the loop waits.
    const script = `
      const addon = require(${JSON.stringify(addonPath)});
      const { spawn } = require('node:child_process');
      const cat = spawn('cat', [], { stdio: ['pipe', 'pipe', 'inherit'] });
      const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
      const pingPong = (count) => new Promise((done) => {
        let left = count;
        const onData = () => {
          if (--left === 0) { cat.stdout.off('data', onData); done(); } else cat.stdin.write('x');
        };
        cat.stdout.on('data', onData);
        cat.stdin.write('x');
      });
      (async () => {
        await pingPong(20); // registered with epoll, warmed up, without polling
        const started = addon.busyPollStart(2000, false); // alone or not on its CPU (the test runner's workers), it polls
        await pingPong(300);
        const dense = addon.busyPollStats();
        for (let i = 0; i < 6; i++) await sleep(40);
        const sparse = addon.busyPollStats();
        addon.busyPollStart(0, false);
        await pingPong(50);
        await sleep(40);
        const stopped = addon.busyPollStats();
        cat.stdin.end();
        console.log(JSON.stringify({ started, dense, sparse, stopped }));
      })();`;
    const out = execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20_000 });
    const { started, dense, sparse, stopped } = JSON.parse(out) as Record<'dense' | 'sparse' | 'stopped', NativeBusyPollStats> & { started: boolean };
    // Built against this Node's libuv, so supported here.
    expect(started).toBe(true);
    expect(dense.maxNs).toBe(2000 * US);
    // About one wait per answer; nearly every one ended while polling.
    expect(dense.waits).toBeGreaterThanOrEqual(250);
    expect(dense.hits).toBeGreaterThan(dense.waits * 0.8);
    expect(dense.windowNs).toBeGreaterThan(0);
    // Six 40 ms sleeps: the window halves on each and closes; at most 2 ms polled per wait.
    expect(sparse.windowNs).toBe(0);
    expect(sparse.blocks - dense.blocks).toBeGreaterThanOrEqual(6);
    expect(sparse.spinNs - dense.spinNs).toBeLessThanOrEqual((sparse.waits - dense.waits) * 2000 * US);
    // Contention is not checked: no back-off.
    expect(dense.backoffs).toBe(0);
    // Stopped: no wait is counted any more.
    expect(stopped.waits).toBe(sparse.waits);
    expect(stopped.maxNs).toBe(0);
  });

  test('a process that busy-polls still exits when its work is done', () => {
    const script = `require(${JSON.stringify(addonPath)}).busyPollStart(1000, true); setTimeout(() => console.log('done'), 20);`;
    expect(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 10_000 }).trim()).toBe('done');
  });
});
