/**
 * native/malloc_control.c's policy, set as the addon loads: large allocations (read slabs) stay in
 * mappings of their own even after a large mapped chunk was freed, which glibc's adaptive threshold
 * otherwise answers by serving every later slab from the main heap, where it stayed after a bulk
 * transfer. Run in a fresh Node (the test runner's own heap history must not decide the outcome).
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ADDON = join(__dirname, '../../build/Release/tslirp_native.node');

const SCRIPT = String.raw`
const addon = require(process.argv[1]);
const mapped = () => addon.mallocInfo().mmapped;
(async () => {
  const before = mapped();
  let big = Buffer.allocUnsafe(4 << 20);
  big.fill(1);
  const withBig = mapped();
  big = null;
  // glibc without a fixed threshold: this free raises the mmap threshold to 4 MiB.
  for (let i = 0; i < 100 && mapped() >= withBig; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 20));
  }
  const freed = mapped() < withBig;
  const afterFree = mapped();
  const slab = Buffer.allocUnsafe(1 << 20);
  slab.fill(2);
  console.log(JSON.stringify({ bigMapped: withBig - before >= 4 << 20, freed, slabMapped: mapped() - afterFree >= 1 << 20 }));
})();
`;

describe('malloc control (addon load)', () => {
  it('keeps a 1 MiB allocation in a mapping of its own after a larger mapped chunk was freed', () => {
    const out = execFileSync(process.execPath, ['--expose-gc', '-e', SCRIPT, ADDON], { encoding: 'utf8', timeout: 20_000 });
    expect(JSON.parse(out)).toEqual({ bigMapped: true, freed: true, slabMapped: true });
  });
});
