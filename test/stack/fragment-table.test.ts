/**
 * The fragment table's piece buffers: a flood of first fragments that never complete reuses the
 * buffers of the datagrams it evicts instead of allocating one per fragment (counted by
 * buffersAllocated, not timed); a reused buffer's old bytes never reach a reassembled datagram;
 * the spares are given up once the table empties on its timer.
 */
import { describe, expect, test } from 'vitest';
import { FakeClock } from '../../src/stack/clock.js';
import { FragmentTable } from '../../src/stack/fragment-table.js';
import { DropReason } from '../../src/wire/drop-reason.js';

const HEADER = Uint8Array.of(0x45, 0, 0, 0);
const TIMEOUT_MS = 30_000;

function table(reassemblyBuffers = 64): { fragments: FragmentTable; clock: FakeClock } {
  const clock = new FakeClock();
  const fragments = new FragmentTable({ reassemblyBuffers, reassemblyBytes: 4 * 1024 * 1024 }, clock, TIMEOUT_MS, () => {});
  return { fragments, clock };
}

/** `length` bytes of `fill`, in a larger frame at offset 14 (as a fragment's data sits in its frame). */
function data(length: number, fill: number): Uint8Array {
  const frame = new Uint8Array(14 + length + 4).fill(0xee);
  frame.fill(fill, 14, 14 + length);
  return frame;
}

describe('fragment table piece buffers', () => {
  test('5000 first fragments that never complete allocate no more buffers than the table holds datagrams, plus one', () => {
    const { fragments } = table(64);
    const junk = data(1480, 7);
    for (let id = 0; id < 5000; id++) {
      expect(fragments.receive(`junk:${id}`, 0, 1480, false, junk, 14, HEADER.slice())).toBe(DropReason.None);
    }
    expect(fragments.size).toBe(64);
    expect(fragments.evicted).toBe(5000 - 64);
    expect(fragments.buffersAllocated).toBeLessThanOrEqual(65);
  });

  test('a datagram built from reused buffers holds exactly its own bytes', () => {
    const { fragments } = table();
    // Two datagrams of 0xaa bytes, completed: their four buffers become spares.
    for (let id = 0; id < 2; id++) {
      fragments.receive(`old:${id}`, 0, 1480, false, data(1480, 0xaa), 14, HEADER.slice());
      fragments.receive(`old:${id}`, 1480, 1480, true, data(1480, 0xaa), 14, undefined);
      expect(fragments.takeCompleted()).toBeDefined();
    }
    const before = fragments.buffersAllocated;
    // A datagram of two shorter pieces (of the same size class), last first: both land in reused buffers.
    expect(fragments.receive('new', 1200, 1100, true, data(1100, 2), 14, undefined)).toBe(DropReason.None);
    expect(fragments.receive('new', 0, 1200, false, data(1200, 1), 14, HEADER.slice())).toBe(DropReason.None);
    expect(fragments.buffersAllocated).toBe(before);
    const whole = fragments.takeCompleted();
    expect(whole).toBeDefined();
    const expected = new Uint8Array(HEADER.length + 2300);
    expected.set(HEADER);
    expected.fill(1, HEADER.length, HEADER.length + 1200);
    expected.fill(2, HEADER.length + 1200);
    expect(Buffer.from(whole!).equals(Buffer.from(expected))).toBe(true);
  });

  test('once the table empties on its timer the spares go: the next fragment gets a new buffer', () => {
    const { fragments, clock } = table(4);
    for (let id = 0; id < 8; id++) fragments.receive(`flood:${id}`, 0, 1480, false, data(1480, 3), 14, HEADER.slice());
    clock.advance(TIMEOUT_MS + 1);
    expect(fragments.size).toBe(0);
    const before = fragments.buffersAllocated;
    fragments.receive('later', 0, 1480, false, data(1480, 4), 14, HEADER.slice());
    expect(fragments.buffersAllocated).toBe(before + 1);
  });

  test('pieces of every size class up to 64 KiB, and the largest IPv4 fragment, reassemble', () => {
    const { fragments } = table();
    for (const length of [8, 64, 72, 1480, 2048, 2056, 4096, 30_000, 65_000]) {
      fragments.receive(`size:${length}`, 0, length, false, data(length, 9), 14, HEADER.slice());
      expect(fragments.receive(`size:${length}`, length, 8, true, data(8, 9), 14, undefined)).toBe(DropReason.None);
      const whole = fragments.takeCompleted();
      expect(whole?.length).toBe(HEADER.length + length + 8);
      expect(whole!.subarray(HEADER.length).every((b) => b === 9)).toBe(true);
    }
  });
});
