/** Both CLIs limit malloc to one arena as they start (src/cli/malloc-arenas.ts), and start without the addon too. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { limitMallocArenas, MALLOC_ARENAS } from '../../src/cli/malloc-arenas.js';
import type { NativeAddon } from '../../src/native/native-addon.js';
import { packageRoot } from '../../src/native/native-addon.js';

test('asks the addon for one arena; a missing addon is no error', () => {
  const asked: number[] = [];
  limitMallocArenas(() => ({ mallocLimitArenas: (count: number) => asked.push(count) > 0 }) as unknown as NativeAddon);
  expect(asked).toEqual([1]);
  expect(MALLOC_ARENAS).toBe(1);
  expect(() =>
    limitMallocArenas(() => {
      throw new Error('no addon');
    }),
  ).not.toThrow();
});

test('slirp4netns mode and tslirp run both set it, right after loading the addon', () => {
  for (const file of ['src/cli/main.ts', 'src/cli/run-command.ts']) {
    const source = readFileSync(join(packageRoot(), file), 'utf8');
    expect(source, file).toMatch(/import\('\.\.\/native\/native-addon\.js'\),?\s*\]?\)?;?\s*\n(?:.*\n)?\s*limitMallocArenas\(loadNativeAddon\);/);
  }
});
