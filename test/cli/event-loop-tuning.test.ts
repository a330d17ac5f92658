/** tuneEventLoop (src/cli/event-loop-tuning.ts): what both CLIs ask of the addon before traffic. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { tuneEventLoop } from '../../src/cli/event-loop-tuning.js';
import { packageRoot } from '../../src/native/native-addon.js';

function fakeAddon(started: boolean): { calls: string[]; addon: Parameters<typeof tuneEventLoop>[0] } {
  const calls: string[] = [];
  return {
    calls,
    addon: {
      loopIdleMetricsOff: () => calls.push('idle metrics off') > 0,
      busyPollStart: (microseconds: number, checkContention: boolean) => {
        calls.push(`busy poll ${microseconds} ${checkContention}`);
        return started;
      },
    },
  };
}

test('turns idle metrics off, then starts busy polling with the contention check', () => {
  const { calls, addon } = fakeAddon(true);
  const warnings: string[] = [];
  tuneEventLoop(addon, 50, (message) => warnings.push(message));
  expect(calls).toEqual(['idle metrics off', 'busy poll 50 true']);
  expect(warnings).toEqual([]);
});

test('warns when busy polling was asked for and could not start, not when it was turned off', () => {
  const refused = fakeAddon(false);
  const warnings: string[] = [];
  tuneEventLoop(refused.addon, 50, (message) => warnings.push(message));
  expect(warnings).toEqual(['busy polling is off: this libuv is not the one the native addon was built against']);
  warnings.length = 0;
  tuneEventLoop(fakeAddon(false).addon, 0, (message) => warnings.push(message));
  expect(warnings).toEqual([]);
});

test('both CLIs tune the loop through it', () => {
  for (const file of ['src/cli/main.ts', 'src/cli/run-command.ts']) {
    const source = readFileSync(join(packageRoot(), file), 'utf8');
    expect(source, file).toMatch(/tuneEventLoop\(loadNativeAddon\(\), \w+\.busyPollMicroseconds,/);
    expect(source, file).not.toMatch(/busyPollStart\(/);
  }
});
