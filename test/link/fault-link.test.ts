import { describe, expect, it } from 'vitest';
import { FaultLink, type FaultLinkOptions } from '../../src/link/fault-link.js';
import { FRAME_CHECKSUM_VALID, type FrameBatch, type TxInfo } from '../../src/link/link.js';
import { MemoryLink } from '../../src/link/memory-link.js';

/** Frame i: 14-byte "Ethernet header" of 0xee, then 4 bytes of i, then filler. */
function frame(i: number, length = 60): Uint8Array {
  const f = new Uint8Array(length).fill(0xee, 0, 14);
  new DataView(f.buffer).setUint32(14, i);
  return f;
}
const id = (f: Uint8Array): number => new DataView(f.buffer, f.byteOffset).getUint32(14);

function setup(options: FaultLinkOptions) {
  const inner = new MemoryLink();
  const link = new FaultLink(inner, options);
  const received: { frame: Uint8Array; flags: number }[] = [];
  link.start({
    receiveBatch(batch: FrameBatch) {
      for (let i = 0; i < batch.count; i++) {
        received.push({ frame: batch.data.slice(batch.offsets[i], batch.offsets[i] + batch.lengths[i]), flags: batch.flags[i] });
      }
    },
  });
  /** Guest → engine: n frames in batches of `batch`. */
  const receive = (n: number, batch = 10, flags = 0): void => {
    for (let i = 0; i < n; i += batch) {
      const frames = [];
      for (let j = i; j < Math.min(n, i + batch); j++) frames.push(frame(j));
      inner.inject(frames, frames.map(() => flags));
    }
  };
  /** Engine → guest: n frames, flushed every `batch`. */
  const transmit = (n: number, batch = 10, info?: TxInfo): Uint8Array[] => {
    for (let i = 0; i < n; i++) {
      const f = frame(i);
      link.transmit(f.subarray(0, 20), f.subarray(20), info);
      if ((i + 1) % batch === 0) link.flush();
    }
    link.flush();
    return inner.take();
  };
  return { inner, link, received, receive, transmit };
}

describe('FaultLink', () => {
  it('is transparent with no faults, both directions, and keeps offload metadata', () => {
    const t = setup({ seed: 1 });
    t.receive(25, 7, FRAME_CHECKSUM_VALID);
    expect(t.received.map((r) => id(r.frame))).toEqual([...Array(25).keys()]);
    expect(t.received.every((r) => r.flags === FRAME_CHECKSUM_VALID)).toBe(true);
    const info: TxInfo = { gsoSize: 1448, gsoIpv6: false, headerLength: 54, checksumStart: 34, checksumOffset: 16 };
    const sent = t.transmit(25, 10);
    expect(sent.map(id)).toEqual([...Array(25).keys()]);
    expect(sent[3]).toEqual(frame(3));
    t.link.transmit(frame(99), null, info);
    t.link.flush();
    expect(t.inner.takeWithInfo()[0].info).toEqual(info);
    expect(t.link.receiveCounters).toEqual({ frames: 25, dropped: 0, reordered: 0, duplicated: 0, corrupted: 0 });
    expect(t.link.transmitCounters.frames).toBe(26);
  });

  it('drops with the given probability, per direction, counted', () => {
    const t = setup({ seed: 7, receive: { drop: 0.05 }, transmit: { drop: 1 } });
    t.receive(10_000, 32);
    const dropped = t.link.receiveCounters.dropped;
    expect(dropped).toBeGreaterThan(400);
    expect(dropped).toBeLessThan(600);
    expect(t.received.length).toBe(10_000 - dropped);
    expect(t.transmit(50)).toEqual([]);
    expect(t.link.transmitCounters.dropped).toBe(50);
  });

  it('is reproducible from its seed, and different seeds differ', () => {
    const run = (seed: number): number[] => {
      const t = setup({ seed, receive: { drop: 0.1, reorder: 0.1, duplicate: 0.1 } });
      t.receive(500, 16);
      t.link.releaseHeld();
      return t.received.map((r) => id(r.frame));
    };
    expect(run(42)).toEqual(run(42));
    expect(run(42)).not.toEqual(run(43));
  });

  it('reorders without losing anything: a held frame comes out after the next N', () => {
    const t = setup({ seed: 3, transmit: { reorder: 0.2 }, reorderDistance: 2 });
    const sent = t.transmit(1000, 50);
    t.link.releaseHeld();
    const all = [...sent, ...t.inner.take()].map(id);
    expect(t.link.transmitCounters.reordered).toBeGreaterThan(100);
    expect(all).not.toEqual([...Array(1000).keys()]);
    expect([...all].sort((a, b) => a - b)).toEqual([...Array(1000).keys()]);
    // A frame held alone (its successors not held) comes out exactly two places later.
    expect(all.some((v, i) => i >= 2 && all[i - 2] === v + 1 && all[i - 1] === v + 2 && all[i + 1] === v + 3)).toBe(true);
  });

  it('holds a reordered frame across batches until enough frames pass', () => {
    // Seed chosen so frame 0 is held: find one.
    let seed = 1;
    for (; seed < 1000; seed++) {
      const t = setup({ seed, receive: { reorder: 0.5 }, reorderDistance: 1 });
      t.receive(1, 1);
      if (t.received.length === 0) break;
    }
    const t = setup({ seed, receive: { reorder: 0.5 }, reorderDistance: 1 });
    t.receive(1, 1);
    expect(t.received).toEqual([]);
    t.link.releaseHeld();
    expect(t.received.map((r) => id(r.frame))).toEqual([0]);
  });

  it('duplicates: every frame twice at probability 1', () => {
    const t = setup({ seed: 5, receive: { duplicate: 1 } });
    t.receive(4, 4);
    expect(t.received.map((r) => id(r.frame))).toEqual([0, 0, 1, 1, 2, 2, 3, 3]);
    expect(t.link.receiveCounters.duplicated).toBe(4);
  });

  it('corrupts one bit past the Ethernet header, never the caller\'s bytes, and clears checksum flags', () => {
    const t = setup({ seed: 9, receive: { corrupt: 1 }, transmit: { corrupt: 1 } });
    t.receive(100, 10, FRAME_CHECKSUM_VALID);
    for (const r of t.received) {
      expect(r.flags).toBe(0);
      expect(Array.from(r.frame.subarray(0, 14))).toEqual(new Array(14).fill(0xee));
    }
    const original = frame(1);
    const copy = new Uint8Array(original);
    t.link.transmit(original, null);
    t.link.flush();
    const [out] = t.inner.take();
    expect(original).toEqual(copy);
    let bits = 0;
    for (let i = 0; i < out.length; i++) {
      let x = out[i] ^ original[i];
      while (x) {
        bits += x & 1;
        x >>= 1;
      }
      if (i < 14) expect(out[i]).toBe(original[i]);
    }
    expect(bits).toBe(1);
    expect(t.link.transmitCounters.corrupted).toBe(1);
  });
});
