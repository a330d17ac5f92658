/**
 * The CLI bundles (dist/bundle/*.cjs, `npm run bundle`): V8 keeps a script's source in the heap for
 * the process's life, as one byte a character only when every character is Latin-1; a single `→`
 * in a comment doubled the 0.3 MB the running CLI holds. esbuild's --minify-whitespace drops the
 * comments (names are kept: stack traces still name functions).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { IN_CI, REPO_ROOT } from '../support/netns.js';

describe('the CLI bundles', () => {
  for (const [name, functionName] of [
    ['main.cjs', 'parseCommandLine'],
    ['subcommand-main.cjs', 'parseRunArgs'],
  ]) {
    it(`${name} is ASCII, without comments, with its functions' names`, (ctx) => {
      const path = join(REPO_ROOT, 'dist/bundle', name);
      if (!existsSync(path)) {
        if (IN_CI) throw new Error(`not built: ${path} (npm run build)`);
        ctx.skip(`not built: ${path}`);
      }
      const text = readFileSync(path, 'latin1');
      const nonAscii = text.search(/[^\x00-\x7f]/);
      expect(nonAscii, nonAscii < 0 ? '' : text.slice(Math.max(0, nonAscii - 60), nonAscii + 20)).toBe(-1);
      expect(text).not.toMatch(/\n\s*\/\*\*/); // no doc comments left
      expect(text).toContain(`function ${functionName}(`);
    });
  }
});
