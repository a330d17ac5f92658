import { describe, expect, test } from 'vitest';
import { seqAdd, seqDiff, seqGe, seqGt, seqLe, seqLt, seqMax } from '../../src/wire/tcp-seq.js';
import { seeded } from './captured.js';

describe('TCP sequence arithmetic (RFC 9293 §3.4)', () => {
  test('plain comparisons', () => {
    expect([seqLt(1, 2), seqLe(1, 2), seqGt(1, 2), seqGe(1, 2)]).toEqual([true, true, false, false]);
    expect([seqLt(2, 2), seqLe(2, 2), seqGt(2, 2), seqGe(2, 2)]).toEqual([false, true, false, true]);
  });

  test('across the wrap: 0xffffffff is before 0, 0xfffffff0 before 5', () => {
    expect(seqLt(0xffffffff, 0)).toBe(true);
    expect(seqGt(0, 0xffffffff)).toBe(true);
    expect(seqLt(0xfffffff0, 5)).toBe(true);
    expect(seqDiff(5, 0xfffffff0)).toBe(21);
    expect(seqDiff(0xfffffff0, 5)).toBe(-21);
  });

  test('seqAdd wraps to uint32 and takes negative steps', () => {
    expect(seqAdd(0xffffffff, 1)).toBe(0);
    expect(seqAdd(0xfffffff0, 0x20)).toBe(0x10);
    expect(seqAdd(0, -1)).toBe(0xffffffff);
    expect(seqAdd(0x7fffffff, 1)).toBe(0x80000000);
  });

  test('max across the wrap', () => {
    expect(seqMax(0xfffffffe, 3)).toBe(3);
  });

  test('randomised: a + d compares as d says, for |d| < 2^31', () => {
    const random = seeded(32);
    for (let round = 0; round < 10000; round++) {
      const a = (random() * 2 ** 32) >>> 0;
      const d = Math.floor((random() * 2 - 1) * (2 ** 31 - 1));
      const b = seqAdd(a, d);
      expect(seqDiff(b, a)).toBe(d);
      expect(seqGt(b, a)).toBe(d > 0);
      expect(seqLt(b, a)).toBe(d < 0);
      expect(seqGe(b, a)).toBe(d >= 0);
      expect(seqLe(b, a)).toBe(d <= 0);
    }
  });
});
