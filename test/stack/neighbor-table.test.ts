/**
 * The neighbour table's bounds keep serving newcomers: a full table evicts the entry learned longest
 * ago, a full pending queue evicts its oldest frame, and the ARP-request rate limiter cannot grow
 * past the table's size.
 */
import { describe, expect, test } from 'vitest';
import { FakeClock } from '../../src/stack/clock.js';
import { NeighborTable } from '../../src/stack/neighbor-table.js';

const BASE = 0x0a000200; // 10.0.2.0

function table(maxEntries: number, maxPending: number) {
  const clock = new FakeClock();
  const requests: number[] = [];
  const neighbors = new NeighborTable(maxEntries, maxPending, clock, (address) => requests.push(address));
  return { clock, requests, neighbors };
}

describe('NeighborTable bounds', () => {
  test('a full table learns a newcomer by evicting the entry learned longest ago', () => {
    const { neighbors } = table(3, 4);
    for (let i = 1; i <= 3; i++) neighbors.learn(BASE + i, 0x100 + i);
    expect(neighbors.learn(BASE + 4, 0x104).newlyResolved).toBe(true);
    expect(neighbors.size).toBe(3);
    expect(neighbors.lookup(BASE + 4)).toBe(0x104);
    expect(neighbors.lookup(BASE + 1)).toBeUndefined();
    expect([2, 3].map((i) => neighbors.lookup(BASE + i))).toEqual([0x102, 0x103]);
    // The evicted neighbour is learned again from its next frame.
    expect(neighbors.learn(BASE + 1, 0x101).newlyResolved).toBe(true);
    expect(neighbors.lookup(BASE + 1)).toBe(0x101);
  });

  test('a full pending queue keeps the newest frames: the oldest waiting one makes room', () => {
    const { neighbors } = table(8, 2);
    const frame = (n: number) => Uint8Array.of(n);
    neighbors.queueForResolution(BASE + 9, frame(1), null);
    neighbors.queueForResolution(BASE + 9, frame(2), null);
    neighbors.queueForResolution(BASE + 9, frame(3), null);
    expect(neighbors.pendingCount).toBe(2);
    expect(neighbors.takePending(BASE + 9).map((w) => w.frame[0])).toEqual([2, 3]);
  });

  test('the ARP request rate limiter stays within the table size: it forgets old addresses, not recent ones', () => {
    const { neighbors, requests } = table(4, 1);
    for (let i = 0; i < 100; i++) neighbors.queueForResolution(BASE + 10 + i, Uint8Array.of(i), null);
    expect(requests).toHaveLength(100); // one request per new address
    neighbors.queueForResolution(BASE + 10 + 99, Uint8Array.of(0), null);
    expect(requests).toHaveLength(100); // the latest address is still rate limited
    neighbors.queueForResolution(BASE + 10, Uint8Array.of(0), null);
    expect(requests).toHaveLength(101); // the first one was forgotten long ago: asked again
  });
});
