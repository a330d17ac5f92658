/**
 * native/checksum.c against the byte-by-byte oracle, and sumBytes with the native sum installed
 * (as loading the addon does) against sumBytes without it: every length around the 32-byte loop and its
 * tails, odd start addresses, 64 KiB segments, and bounds checking.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { loadNativeAddon, packageRoot } from '../../src/native/native-addon.js';
import { finishChecksum, sumBytes, useNativeSum } from '../../src/wire/checksum.js';
import { naiveChecksum } from '../support/oracle.js';
import { randomBytes, seeded } from '../wire/captured.js';

const built = existsSync(join(packageRoot(), 'build', 'Release', 'tslirp_native.node'));

describe.skipIf(!built)('native checksum sum', () => {
  afterEach(() => useNativeSum(null));

  test('equals the oracle for lengths 0..300 at every start alignment', () => {
    const { checksumSum } = loadNativeAddon();
    const random = seeded(1624);
    const bytes = randomBytes(random, 400);
    for (let offset = 0; offset < 9; offset++) {
      for (let length = 0; length <= 300; length++) {
        const expected = naiveChecksum(bytes.subarray(offset, offset + length));
        expect(finishChecksum(checksumSum(bytes, offset, length))).toBe(expected);
      }
    }
  });

  test('a 64 KiB segment in a view with an odd byteOffset, and all-ones data (carries)', () => {
    const { checksumSum } = loadNativeAddon();
    const random = seeded(793);
    const backing = randomBytes(random, 65536 + 16);
    const view = backing.subarray(3);
    for (const length of [1448, 65480, 65481]) {
      expect(finishChecksum(checksumSum(view, 5, length))).toBe(naiveChecksum(view.subarray(5, 5 + length)));
    }
    const ones = new Uint8Array(65535).fill(0xff);
    expect(finishChecksum(checksumSum(ones, 0, ones.length))).toBe(naiveChecksum(ones));
  });

  test('sumBytes gives the same checksums with the native sum installed', () => {
    const random = seeded(1071);
    const bytes = randomBytes(random, 70_000);
    const cases: [number, number][] = [[0, 127], [1, 128], [2, 1448], [7, 1449], [4, 65480], [13, 65535]];
    const plain = cases.map(([offset, length]) => finishChecksum(sumBytes(bytes, offset, length, 0x1234)));
    useNativeSum(loadNativeAddon().checksumSum);
    const native = cases.map(([offset, length]) => finishChecksum(sumBytes(bytes, offset, length, 0x1234)));
    expect(native).toEqual(plain);
  });

  test('refuses ranges outside the array', () => {
    const { checksumSum } = loadNativeAddon();
    const bytes = new Uint8Array(100).subarray(10, 60);
    expect(checksumSum(bytes, 0, 50)).toBeTypeOf('number');
    expect(() => checksumSum(bytes, 1, 50)).toThrow(RangeError);
    expect(() => checksumSum(bytes, 51, 0)).toThrow(RangeError);
  });
});
