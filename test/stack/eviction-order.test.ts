/**
 * The engine's eviction order on its own (the flows a full table gives up, oldest first): insertion
 * order, re-joining at the newest end, idempotent add and delete, removal from the middle and both
 * ends, clear. The rule it serves (a full table evicts the oldest flow not established) is pinned
 * at packet level in tcp-handshake.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { EvictionOrder, type EvictionLinks } from '../../src/stack/tcp/eviction-order.js';

class Entry implements EvictionLinks<Entry> {
  evictPrev: Entry | null = null;
  evictNext: Entry | null = null;
  inEvictionOrder = false;
  constructor(readonly name: string) {}
}

/** The names oldest first, by taking the oldest until empty (then put back in the same order). */
function names(order: EvictionOrder<Entry>): string[] {
  const out: Entry[] = [];
  for (let e = order.oldest(); e !== undefined; e = order.oldest()) {
    out.push(e);
    order.delete(e);
  }
  for (const e of out) order.add(e);
  return out.map((e) => e.name);
}

describe('EvictionOrder', () => {
  it('gives entries back oldest first; one that leaves and joins again is the newest', () => {
    const order = new EvictionOrder<Entry>();
    const [a, b, c] = ['a', 'b', 'c'].map((n) => new Entry(n));
    expect(order.oldest()).toBeUndefined();
    order.add(a);
    order.add(b);
    order.add(c);
    expect(order.size).toBe(3);
    expect(order.oldest()).toBe(a);
    order.add(a); // already in: stays the oldest, as Set.add
    expect(names(order)).toEqual(['a', 'b', 'c']);
    expect(order.delete(a)).toBe(true);
    order.add(a);
    expect(names(order)).toEqual(['b', 'c', 'a']);
  });

  it('deletes from the middle and both ends, and says whether the entry was in it', () => {
    const order = new EvictionOrder<Entry>();
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((n) => new Entry(n));
    for (const e of [a, b, c, d]) order.add(e);
    expect(order.delete(b)).toBe(true);
    expect(order.delete(b)).toBe(false);
    expect(names(order)).toEqual(['a', 'c', 'd']);
    order.delete(d);
    order.delete(a);
    expect(names(order)).toEqual(['c']);
    order.delete(c);
    expect(order.size).toBe(0);
    expect(order.oldest()).toBeUndefined();
    order.add(d);
    expect(names(order)).toEqual(['d']);
    expect(order.delete(new Entry('never added'))).toBe(false);
    expect(order.size).toBe(1);
  });

  it('clear empties it and unlinks every entry (each can join again)', () => {
    const order = new EvictionOrder<Entry>();
    const entries = ['a', 'b', 'c'].map((n) => new Entry(n));
    for (const e of entries) order.add(e);
    order.clear();
    expect(order.size).toBe(0);
    expect(entries.every((e) => !e.inEvictionOrder && e.evictPrev === null && e.evictNext === null)).toBe(true);
    order.add(entries[2]);
    order.add(entries[0]);
    expect(names(order)).toEqual(['c', 'a']);
  });
});
