/**
 * IPv4 reassembly, packet level: fragments injected as the guest sends them reach the protocol's
 * receiver as one whole datagram (any order, duplicates ignored), with a valid header checksum and
 * no fragment bits; overlaps and bad lengths are dropped and counted; a full table evicts the
 * datagrams in progress that started longest ago, so a flood of fragments that never complete cannot
 * lock a fresh fragmented datagram out; incomplete datagrams are forgotten after 30 s.
 */
import { describe, expect, test } from 'vitest';
import type { IpDatagram, IpReceiver } from '../../src/stack/ip-datagram.js';
import { internetChecksum } from '../../src/wire/checksum.js';
import { DropReason } from '../../src/wire/drop-reason.js';
import { Ipv4Packet } from '../../src/wire/ipv4.js';
import { decodeIpv4Frame } from '../support/oracle.js';
import { createStackContext, GATEWAY_IP, GUEST_IP, ipv4Frame, seededRandom } from '../support/stack-context.js';

const PROTOCOL = 253; // RFC 3692 experimental: no engine claims it

/** Keeps what a receiver gets; the IPv4 header is read back from the view's quote (it starts there). */
class Capture implements IpReceiver {
  readonly packets: { header: Uint8Array; payload: Uint8Array; fragment: boolean; checksumOk: boolean }[] = [];
  private readonly ipv4 = new Ipv4Packet();
  receiveIp(datagram: IpDatagram): DropReason {
    const ip = this.ipv4;
    expect(ip.wrap(datagram.bytes, datagram.quoteOffset, datagram.payloadOffset + datagram.payloadLength - datagram.quoteOffset, false)).toBe(DropReason.None);
    expect(ip.payloadOffset).toBe(datagram.payloadOffset);
    this.packets.push({
      header: ip.bytes.slice(ip.offset, ip.offset + ip.headerLength),
      payload: datagram.bytes.slice(datagram.payloadOffset, datagram.payloadOffset + datagram.payloadLength),
      fragment: ip.isFragment,
      checksumOk: internetChecksum(ip.bytes, ip.offset, ip.headerLength) === 0,
    });
    return DropReason.None;
  }
}

function setup(limits?: { reassemblyBuffers?: number; reassemblyBytes?: number }) {
  const ctx = createStackContext({ config: limits ? { limits } : undefined });
  const capture = new Capture();
  ctx.stack.setIpReceiver(PROTOCOL, capture);
  return { ...ctx, capture };
}

function payloadOf(length: number, seed = 1): Uint8Array {
  const r = seededRandom(seed);
  return Uint8Array.from({ length }, () => Math.floor(r() * 256));
}

/** A fragment of `whole` covering [start, end); more = MF. */
function fragment(whole: Uint8Array, start: number, end: number, more: boolean, id = 77): Uint8Array {
  return ipv4Frame(GUEST_IP, GATEWAY_IP, PROTOCOL, whole.subarray(start, end), {
    identification: id,
    fragmentField: (more ? 0x2000 : 0) | (start >> 3),
  });
}

function split(whole: Uint8Array, size: number, id = 77): Uint8Array[] {
  const frames: Uint8Array[] = [];
  for (let at = 0; at < whole.length; at += size) frames.push(fragment(whole, at, Math.min(whole.length, at + size), at + size < whole.length, id));
  return frames;
}

describe('IPv4 reassembly', () => {
  test('in-order fragments become one datagram with a valid header and no fragment bits', () => {
    const { link, stack, capture } = setup();
    const whole = payloadOf(4000);
    link.inject(split(whole, 1480));
    expect(capture.packets).toHaveLength(1);
    const got = capture.packets[0];
    expect(got.fragment).toBe(false);
    expect(got.checksumOk).toBe(true);
    expect(Buffer.from(got.payload).equals(Buffer.from(whole))).toBe(true);
    // The oracle agrees: a valid IPv4 packet of the full length.
    const frame = new Uint8Array(14 + got.header.length + got.payload.length);
    frame[12] = 0x08;
    frame.set(got.header, 14);
    frame.set(got.payload, 14 + got.header.length);
    const oracle = decodeIpv4Frame(frame);
    expect(oracle.ipChecksumValid).toBe(true);
    expect(oracle.ip.length).toBe(20 + 4000);
    expect(oracle.ip.data.length).toBe(4000);
    expect(oracle.ip.flags & 1).toBe(0);
    expect(oracle.ip.fragmentOffset).toBe(0);
    expect(stack.stats.drops.reduce((a, b) => a + b, 0)).toBe(0);
  });

  test('any order, with exact duplicates, still reassembles exactly once', () => {
    const { link, capture } = setup();
    const whole = payloadOf(9000, 2);
    const frames = split(whole, 1024);
    const r = seededRandom(7);
    const shuffled = [...frames, frames[3], frames[0]].sort(() => r() - 0.5);
    for (const f of shuffled) link.inject(f);
    expect(capture.packets).toHaveLength(1);
    expect(Buffer.from(capture.packets[0].payload).equals(Buffer.from(whole))).toBe(true);
  });

  test('two datagrams interleaved (different identification) are kept apart', () => {
    const { link, capture } = setup();
    const a = payloadOf(3000, 3);
    const b = payloadOf(2000, 4);
    const fa = split(a, 1000, 1);
    const fb = split(b, 1000, 2);
    link.inject([fa[0], fb[1], fa[2], fb[0], fa[1]]);
    expect(capture.packets.map((p) => p.payload.length).sort()).toEqual([2000, 3000]);
  });

  test('an overlapping fragment discards the datagram and is counted', () => {
    const { link, stack, capture } = setup();
    const whole = payloadOf(3000, 5);
    link.inject([fragment(whole, 0, 1600, true), fragment(whole, 1592, 3000, false)]);
    expect(capture.packets).toHaveLength(0);
    expect(stack.stats.drops[DropReason.FragmentOverlap]).toBe(1);
    // The rest of the datagram, sent cleanly afterwards, no longer completes the discarded one.
    link.inject([fragment(whole, 1600, 3000, false)]);
    expect(capture.packets).toHaveLength(0);
  });

  test('a non-final fragment whose length is not a multiple of 8 is dropped', () => {
    const { link, stack, capture } = setup();
    const whole = payloadOf(2000, 6);
    link.inject([fragment(whole, 0, 1001, true), fragment(whole, 1001, 2000, false)]);
    expect(capture.packets).toHaveLength(0);
    expect(stack.stats.drops[DropReason.BadLength]).toBeGreaterThanOrEqual(1);
  });

  test('a fragment reaching beyond 65535 bytes is dropped', () => {
    const { link, stack } = setup();
    const frame = ipv4Frame(GUEST_IP, GATEWAY_IP, PROTOCOL, new Uint8Array(1000), { identification: 9, fragmentField: 0x2000 | (65000 >> 3) });
    link.inject(frame);
    expect(stack.stats.drops[DropReason.BadLength]).toBe(1);
  });

  test('a newcomer to a full table evicts the datagram in progress that started longest ago', () => {
    const { link, stack, capture } = setup({ reassemblyBuffers: 2 });
    const a = payloadOf(2000, 8);
    const b = payloadOf(2000, 9);
    const c = payloadOf(2000, 10);
    link.inject([fragment(a, 0, 1000, true, 1), fragment(b, 0, 1000, true, 2), fragment(c, 0, 1000, true, 3)]);
    expect(stack.stats.drops[DropReason.ReassemblyLimit]).toBe(0);
    link.inject([fragment(b, 1000, 2000, false, 2), fragment(c, 1000, 2000, false, 3)]);
    expect(capture.packets.map((p) => Buffer.from(p.payload))).toEqual([Buffer.from(b), Buffer.from(c)]);
    // a was evicted for c: its last fragment alone completes nothing.
    link.inject(fragment(a, 1000, 2000, false, 1));
    expect(capture.packets).toHaveLength(2);
  });

  test('a fragment flood cannot lock out a fresh fragmented datagram: it is delivered at once', () => {
    const { link, stack, capture } = setup(); // the default bounds
    // Hundreds of first fragments that never complete (more than the table holds), in one batch and
    // in many, as a hostile guest sends them.
    const junk = payloadOf(1480, 13);
    for (let burst = 0; burst < 10; burst++) {
      link.inject(Array.from({ length: 50 }, (_, i) => fragment(junk, 0, 1480, true, 1000 + burst * 50 + i)));
    }
    expect(stack.stats.drops[DropReason.ReassemblyLimit]).toBe(0);
    const whole = payloadOf(3000, 14);
    link.inject(split(whole, 1480, 4242));
    expect(capture.packets).toHaveLength(1);
    expect(Buffer.from(capture.packets[0].payload).equals(Buffer.from(whole))).toBe(true);
  });

  test('the byte bound evicts the oldest datagrams for a newer one, and drops a datagram that alone outgrows it', () => {
    const { link, stack, capture } = setup({ reassemblyBytes: 2048 });
    const old = payloadOf(3000, 15);
    link.inject(fragment(old, 0, 1000, true, 1));
    const fits = payloadOf(2000, 16);
    link.inject(split(fits, 1000, 2)); // needs room for 2000 bytes: the 1000 of `old` are evicted
    expect(capture.packets.map((p) => Buffer.from(p.payload))).toEqual([Buffer.from(fits)]);
    const huge = payloadOf(4000, 11);
    link.inject(split(huge, 1000, 3));
    expect(capture.packets).toHaveLength(1);
    expect(stack.stats.drops[DropReason.ReassemblyLimit]).toBeGreaterThanOrEqual(1);
  });

  test('an incomplete datagram is forgotten after 30 s (memory returned, late fragments do not complete it)', () => {
    const { link, clock, capture, stack } = setup({ reassemblyBuffers: 1 });
    const whole = payloadOf(3000, 12);
    link.inject(fragment(whole, 0, 1000, true));
    clock.advance(29_000);
    link.inject(fragment(whole, 1000, 2000, true));
    clock.advance(1_500);
    // Expired: the buffer is free again (a newcomer is accepted), and the late last fragment starts afresh.
    link.inject(fragment(whole, 2000, 3000, false));
    expect(capture.packets).toHaveLength(0);
    expect(stack.stats.drops[DropReason.ReassemblyLimit]).toBe(0);
    clock.advance(31_000);
    expect(clock.pendingTimers).toBe(0);
  });

  test('unfragmented packets are untouched and the DF bit does not matter', () => {
    const { link, capture } = setup();
    link.inject(ipv4Frame(GUEST_IP, GATEWAY_IP, PROTOCOL, payloadOf(100), { fragmentField: 0 }));
    link.inject(ipv4Frame(GUEST_IP, GATEWAY_IP, PROTOCOL, payloadOf(100), { fragmentField: 0x4000 }));
    expect(capture.packets).toHaveLength(2);
  });
});
