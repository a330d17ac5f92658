/**
 * UDP datagrams larger than the guest's MTU go out as RFC 791 fragments: each fragment a valid IPv4
 * packet (checked by ip-packet, header checksum recomputed independently), payloads a multiple of 8
 * except the last, one identification, offsets contiguous, and the UDP checksum over the whole
 * datagram valid once the pieces are put back together by the test itself.
 */
import { describe, expect, test } from 'vitest';
import { decodeIpv4Frame, l4ChecksumValid } from '../support/oracle.js';
import { createUdpContext, ip } from '../support/udp-context.js';

const GATEWAY = ip('10.0.2.2');

function pattern(length: number): Buffer {
  const b = Buffer.alloc(length);
  for (let i = 0; i < length; i++) b[i] = (i * 7 + (i >> 8)) & 0xff;
  return b;
}

async function largeReply(mtu: number, size: number): Promise<Uint8Array[]> {
  const ctx = createUdpContext({ mtu });
  ctx.send({ srcPort: 40000, dst: GATEWAY, dstPort: 7, payload: 'go' });
  ctx.port.last.deliver(pattern(size), '127.0.0.1', 7);
  return ctx.emitted();
}

describe('fragmentation towards the guest', () => {
  for (const [mtu, size] of [
    [1500, 8000],
    [1500, 1473], // one byte more than fits
    [576, 3000],
    [68, 200], // the minimum MTU: 48 data bytes per fragment
    [1500, 65507], // the largest UDP payload over IPv4
  ] as const) {
    test(`${size} bytes at MTU ${mtu}`, async () => {
      const frames = await largeReply(mtu, size);
      const decoded = frames.map(decodeIpv4Frame);
      const perFragment = (mtu - 20) & ~7;
      expect(frames.length).toBe(Math.ceil((size + 8) / perFragment));
      let offset = 0;
      const pieces: Uint8Array[] = [];
      decoded.forEach((o, i) => {
        const last = i === decoded.length - 1;
        expect(o.ipChecksumValid).toBe(true);
        expect(o.ip.length).toBeLessThanOrEqual(mtu);
        expect(o.ip.identification).toBe(decoded[0].ip.identification);
        expect(o.ip.fragmentOffset * 8).toBe(offset);
        expect(o.ip.flags).toBe(last ? 0 : 1); // ip-packet's flags: bit 0 = More Fragments
        if (!last) expect(o.ip.data.length % 8).toBe(0);
        expect(o.ip.sourceIp).toBe('10.0.2.2');
        expect(o.ip.destinationIp).toBe('10.0.2.100');
        offset += o.ip.data.length;
        pieces.push(o.ip.data);
      });
      const datagram = Buffer.concat(pieces);
      expect(datagram.length).toBe(size + 8);
      expect(datagram.readUInt16BE(4)).toBe(size + 8);
      expect(l4ChecksumValid({ ...decoded[0].ip, data: datagram })).toBe(true);
      expect(datagram.subarray(8).equals(pattern(size))).toBe(true);
    });
  }

  test('a datagram that fits goes out whole with DF', async () => {
    const [frame, ...rest] = await largeReply(1500, 1472);
    expect(rest).toEqual([]);
    const o = decodeIpv4Frame(frame);
    expect(o.ip.length).toBe(1500);
    expect(o.ip.flags).toBe(2); // Don't Fragment
  });

  test('consecutive fragmented datagrams use different identifications', async () => {
    const ctx = createUdpContext();
    ctx.send({ dst: GATEWAY, dstPort: 7 });
    ctx.port.last.deliver(pattern(3000), '127.0.0.1', 7);
    ctx.port.last.deliver(pattern(3000), '127.0.0.1', 7);
    const ids = new Set((await ctx.emitted()).map((f) => decodeIpv4Frame(f).ip.identification));
    expect(ids.size).toBe(2);
  });
});
