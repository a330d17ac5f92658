/**
 * SystemClock, the engine's real time: milliseconds, monotonic, and read without loading perf_hooks
 * (the `performance` global loads it on first use: 0.8 MiB of RSS in every idle tslirp).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SystemClock } from '../../src/stack/clock.js';
import { IN_CI, REPO_ROOT } from '../support/netns.js';

describe('SystemClock', () => {
  it('counts milliseconds, monotonic, as Date.now() does over a wait', async () => {
    const clock = new SystemClock();
    const startClock = clock.now();
    const startWall = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 60));
    const clockMs = clock.now() - startClock;
    const wallMs = Date.now() - startWall;
    expect(clockMs).toBeGreaterThan(0);
    expect(Math.abs(clockMs - wallMs)).toBeLessThan(15);
    let previous = clock.now();
    for (let i = 0; i < 1000; i++) {
      const now = clock.now();
      expect(now).toBeGreaterThanOrEqual(previous);
      previous = now;
    }
  });

  it('reads the clock without looking up process.uptime each time (a generic property load on a dictionary-mode object)', () => {
    const clock = new SystemClock();
    const uptime = Object.getOwnPropertyDescriptor(process, 'uptime')!;
    Object.defineProperty(process, 'uptime', {
      configurable: true,
      get: () => {
        throw new Error('process.uptime looked up');
      },
    });
    try {
      expect(clock.now()).toBeGreaterThan(0);
    } finally {
      Object.defineProperty(process, 'uptime', uptime);
    }
  });

  it('does not load perf_hooks', (ctx) => {
    const built = join(REPO_ROOT, 'dist/stack/clock.js');
    if (!existsSync(built)) {
      if (IN_CI) throw new Error(`not built: ${built} (npm run build)`);
      ctx.skip(`not built: ${built}`);
    }
    // A fresh Node (vitest itself has loaded perf_hooks): the built module, read twice.
    const script = `const { SystemClock } = await import(${JSON.stringify(built)}); const c = new SystemClock(); c.now(); c.now();
      process.stdout.write(String(process.moduleLoadList.includes('NativeModule perf_hooks')));`;
    const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('false');
  });
});
