/**
 * The in-memory pcap ring (src/link/pcap-ring-link.ts): frames both ways are kept cut to the
 * snaplen, the oldest go once the memory is used up, records older than maxSeconds are left out of a
 * snapshot, and the snapshot is a pcap file tcpdump reads.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { FrameBatch } from '../../src/link/link.js';
import { MemoryLink } from '../../src/link/memory-link.js';
import { PcapRingLink } from '../../src/link/pcap-ring-link.js';
import { IN_CI } from '../support/netns.js';

/** Records of a pcap file: [seconds, micros, captured, original, first byte]. */
function records(file: Buffer): [number, number, number, number, number][] {
  expect(file.readUInt32LE(0)).toBe(0xa1b2c3d4);
  const out: [number, number, number, number, number][] = [];
  for (let at = 24; at < file.length; ) {
    const captured = file.readUInt32LE(at + 8);
    out.push([file.readUInt32LE(at), file.readUInt32LE(at + 4), captured, file.readUInt32LE(at + 12), file[at + 16]]);
    at += 16 + captured;
  }
  return out;
}

function frame(tag: number, length: number): Uint8Array {
  const f = new Uint8Array(length);
  f[0] = tag;
  return f;
}

function ring(options: { maxBytes?: number; maxSeconds?: number; snaplen?: number } = {}) {
  let nowMs = 1_700_000_000_000;
  const inner = new MemoryLink();
  const link = new PcapRingLink(inner, { ...options, now: () => nowMs });
  const received: number[] = [];
  link.start({ receiveBatch: (batch: FrameBatch) => received.push(batch.count) });
  return { link, inner, received, advance: (ms: number) => (nowMs += ms) };
}

describe('PcapRingLink', () => {
  it('keeps both directions cut to the snaplen, passes frames through unchanged', () => {
    const r = ring({ snaplen: 100 });
    r.inner.inject([frame(1, 60), frame(2, 1514)]);
    r.advance(1.5);
    r.link.transmit(frame(3, 54), frame(0, 9000));
    r.link.flush();
    expect(r.received).toEqual([2]);
    expect(r.inner.take().map((f) => f.length)).toEqual([9054]);
    const snap = r.link.snapshot();
    expect(snap.records).toBe(3);
    expect(snap.seconds).toBeCloseTo(0.0015, 6);
    expect(records(snap.file)).toEqual([
      [1_700_000_000, 0, 60, 60, 1],
      [1_700_000_000, 0, 100, 1514, 2],
      [1_700_000_000, 1500, 100, 9054, 3],
    ]);
    expect(snap.file.readUInt32LE(16)).toBe(100); // snaplen in the global header
  });

  it('drops the oldest records once its memory is used, keeping at least half of it', () => {
    const r = ring({ snaplen: 64, maxBytes: 2 * 10 * (16 + 64) });
    for (let i = 0; i < 35; i++) {
      r.link.transmit(frame(i, 64), null);
      r.link.flush();
    }
    const tags = records(r.link.snapshot().file).map((x) => x[4]);
    // Halves of 10 records: the last full half (20…29) and the current one (30…34).
    expect(tags).toEqual(Array.from({ length: 15 }, (_, i) => 20 + i));
  });

  it('leaves out records older than maxSeconds', () => {
    const r = ring({ maxSeconds: 2 });
    r.link.transmit(frame(1, 60), null);
    r.link.flush();
    r.advance(1500);
    r.link.transmit(frame(2, 60), null);
    r.link.flush();
    r.advance(1000);
    r.link.transmit(frame(3, 60), null);
    expect(records(r.link.snapshot().file).map((x) => x[4])).toEqual([2, 3]);
  });

  it('writes a file tcpdump reads', (ctx) => {
    let tcpdump = true;
    try {
      execFileSync('sh', ['-c', 'command -v tcpdump'], { stdio: 'ignore' });
    } catch {
      tcpdump = false;
    }
    if (!tcpdump) {
      if (IN_CI) throw new Error('tcpdump missing in CI');
      ctx.skip('needs tcpdump');
    }
    const r = ring();
    r.link.transmit(frame(0xff, 60), null);
    const dir = mkdtempSync(join(tmpdir(), 'tslirp-ring-'));
    try {
      const path = join(dir, 'ring.pcap');
      writeFileSync(path, r.link.snapshot().file);
      expect(execFileSync('tcpdump', ['-nr', path], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim().split('\n')).toHaveLength(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
