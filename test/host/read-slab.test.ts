/**
 * ReadSlab, where host TCP reads land: an idle flow gives its slab back once the guest acknowledged
 * every byte (where the caller asks for regions only while reading: the addon's sockets), and keeps
 * it where Node's onread holds a region between reads; a slab with bytes the engine still holds is
 * never given back or read into. The pools are shared by every ReadSlab of the process, so "given
 * back" shows as the next flow reading into the same memory.
 */
import { describe, expect, it } from 'vitest';
import { ReadSlab } from '../../src/host/read-slab.js';

/** Reads `bytes` (a fill of `value`) the way native-tcp-port.ts does: region, the read, take. */
function read(slab: ReadSlab, bytes: number, value = 7): Uint8Array {
  const region = slab.region();
  const n = Math.min(bytes, region.length);
  region.fill(value, 0, n);
  return slab.take(n);
}

const whileReading = (): ReadSlab => new ReadSlab({ regionOnlyWhileReading: true });

describe('ReadSlab', () => {
  it('gives an idle flow\'s slab back once every byte is released: the next flow reads into it', () => {
    const idle = whileReading();
    const chunk = read(idle, 100);
    idle.release(100);
    const next = whileReading();
    const region = next.region();
    expect(region.buffer).toBe(chunk.buffer);
    expect(region.byteOffset).toBe(0);
  });

  it('keeps a slab whose bytes the engine still holds, and never reads over them', () => {
    const busy = whileReading();
    const chunk = read(busy, 100, 1);
    busy.release(99);
    const other = whileReading();
    const region = other.region();
    expect(region.buffer).not.toBe(chunk.buffer);
    other.unclaimed();
    const again = read(busy, 50, 2);
    expect(again.buffer).toBe(chunk.buffer);
    expect(again.byteOffset).toBe(chunk.byteOffset + 100);
    expect(chunk.every((b) => b === 1)).toBe(true);
  });

  it('gives the slab back at once when the read it was taken for found nothing', () => {
    const flow = whileReading();
    const region = flow.region();
    flow.unclaimed();
    const next = whileReading();
    expect(next.region().buffer).toBe(region.buffer);
  });

  it('keeps the slab where Node holds a region between reads (onread), reading from its start again', () => {
    const nodeRead = new ReadSlab();
    const first = read(nodeRead, 100);
    const held = nodeRead.region(); // what Node keeps until the next read
    nodeRead.release(100);
    const other = new ReadSlab();
    read(other, 10); // a first read lands in the shared buffer and is copied into a slab of its own
    const after = other.region();
    expect(after.buffer).not.toBe(first.buffer);
    expect(held.buffer).toBe(first.buffer);
    expect(nodeRead.take(5).buffer).toBe(first.buffer);
  });

  it('gives a full-size slab back after a bulk flow paused, and takes one from the pool again', () => {
    const bulk = whileReading();
    let total = 0;
    let last = read(bulk, 128 * 1024);
    total += last.length;
    while (last.buffer.byteLength < 1024 * 1024) {
      last = read(bulk, 128 * 1024);
      total += last.length;
    }
    bulk.release(total);
    const next = whileReading();
    for (let i = 0; i < 20 && next.region().buffer.byteLength < 1024 * 1024; i++) next.take(128 * 1024);
    expect(next.region().buffer).toBe(last.buffer);
    next.unclaimed();
    expect(bulk.region().buffer.byteLength).toBe(1024 * 1024);
    bulk.unclaimed();
  });

  it('keeps a slab of a size between the pooled ones when idle, reading from its start again', () => {
    const medium = whileReading();
    read(medium, 64 * 1024);
    const second = read(medium, 128 * 1024);
    expect(second.buffer.byteLength).toBe(128 * 1024);
    medium.release(64 * 1024 + second.length);
    const again = read(medium, 10);
    expect(again.buffer).toBe(second.buffer);
    expect(again.byteOffset).toBe(0);
  });
});
