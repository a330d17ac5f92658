/**
 * The CLIs' releaseMemory (src/cli/release-memory.ts): V8's low-memory notification, then the trim
 * once V8's callbacks have run; and the addon's v8LowMemory gives a heap of garbage back (in a child
 * Node, whose heap this test does not share).
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { releaseMemory, TRIM_DELAY_MS } from '../../src/cli/release-memory.js';
import { packageRoot } from '../../src/native/native-addon.js';

test('collects first, trims after TRIM_DELAY_MS', () => {
  const calls: string[] = [];
  let later: (() => void) | undefined;
  releaseMemory(
    { v8LowMemory: () => void calls.push('v8'), mallocTrim: () => calls.push('trim') > 0 },
    (callback, ms) => {
      calls.push(`timer ${ms}`);
      later = callback;
    },
  );
  expect(calls).toEqual(['v8', `timer ${TRIM_DELAY_MS}`]);
  later?.();
  expect(calls).toEqual(['v8', `timer ${TRIM_DELAY_MS}`, 'trim']);
});

const ADDON = join(packageRoot(), 'build', 'Release', 'tslirp_native.node');

test.skipIf(!existsSync(ADDON))("v8LowMemory gives a heap full of garbage back (V8's heap total shrinks to what lives)", () => {
  const child = String.raw`
    const addon = require(process.argv[1]);
    let garbage = [];
    for (let i = 0; i < 300000; i++) garbage.push({ i, text: 'x' + i });
    garbage = null;
    const before = process.memoryUsage().heapTotal;
    addon.v8LowMemory();
    console.log(JSON.stringify({ before, after: process.memoryUsage().heapTotal }));
  `;
  const { before, after } = JSON.parse(execFileSync(process.execPath, ['-e', child, ADDON], { encoding: 'utf8', timeout: 20_000 })) as { before: number; after: number };
  expect(before).toBeGreaterThan(30 * 1024 * 1024);
  expect(after).toBeLessThan(before / 4);
});
