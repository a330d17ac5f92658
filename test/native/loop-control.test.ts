/**
 * loopIdleMetricsOff (native/loop_control.c): libuv's idle-time metrics, which Node turns on and
 * which cost an extra 0-timeout epoll_pwait before every blocking one, are off afterwards, seen
 * where Node reports them (performance.eventLoopUtilization: no idle time accounted any more). Run
 * in a child process: the test runner's own loop keeps its metrics.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { packageRoot } from '../../src/native/native-addon.js';

const addonPath = join(packageRoot(), 'build', 'Release', 'tslirp_native.node');

/** Sleeps 100 ms on the loop in a fresh node, metrics turned off first or not; its idle ms and the call's result. */
function idleOver100ms(turnOff: boolean): { off: boolean | null; idle: number; again: boolean | null } {
  const script = `
    const { performance } = require('node:perf_hooks');
    const addon = require(${JSON.stringify(addonPath)});
    const off = ${turnOff} ? addon.loopIdleMetricsOff() : null;
    const again = ${turnOff} ? addon.loopIdleMetricsOff() : null;
    const start = performance.eventLoopUtilization();
    setTimeout(() => console.log(JSON.stringify({ off, again, idle: performance.eventLoopUtilization(start).idle })), 100);`;
  return JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 10_000 })) as { off: boolean | null; idle: number; again: boolean | null };
}

describe.skipIf(!existsSync(addonPath))('the event loop without idle-time metrics', () => {
  test('Node accounts idle time by default; after loopIdleMetricsOff it accounts none, and a second call finds them off', () => {
    expect(idleOver100ms(false).idle).toBeGreaterThan(50);
    const after = idleOver100ms(true);
    expect(after.off).toBe(true);
    expect(after.again).toBe(false);
    expect(after.idle).toBe(0);
  });
});
