/**
 * The one ICMP error sender (src/stack/icmp-errors.ts): each family-neutral error becomes ICMPv4's
 * type and code, quotes what it is given, carries the next-hop MTU only for PacketTooBig, and goes
 * out from the address the caller names. Decoded by the independent ip-packet decoder and a naive sum.
 */
import { describe, expect, it } from 'vitest';
import { IcmpError } from '../../src/stack/icmp-errors.js';
import { createUdpContext, decodeIcmp, ip } from '../support/udp-context.js';
import { GUEST_IP } from '../support/stack-context.js';

async function sendOne(error: IcmpError, mtu = 0) {
  const ctx = createUdpContext();
  ctx.send({ dst: ip('10.0.2.2'), dstPort: 7 }); // the engine learns the guest's MAC
  await ctx.emitted();
  const quote = Uint8Array.from({ length: 28 }, (_, i) => i + 1);
  ctx.stack.icmpErrors.send(error, ip('192.0.2.1'), GUEST_IP, quote, 0, quote.length, mtu);
  const frames = await ctx.emitted();
  expect(frames).toHaveLength(1);
  return { icmp: decodeIcmp(frames[0]), quote };
}

describe('ICMP error sender (IPv4)', () => {
  it.each([
    [IcmpError.NetUnreachable, 3, 0],
    [IcmpError.HostUnreachable, 3, 1],
    [IcmpError.PortUnreachable, 3, 3],
    [IcmpError.TimeExceeded, 11, 0],
  ])('error %i is type %i code %i, quoting the bytes given', async (error, type, code) => {
    const { icmp, quote } = await sendOne(error, 1280);
    expect(icmp).toMatchObject({ src: '192.0.2.1', dst: '10.0.2.100', type, code, rest: 0 });
    expect([...icmp.body]).toEqual([...quote]);
  });

  it('packet too big is "fragmentation needed" with the next-hop MTU (RFC 1191)', async () => {
    const { icmp } = await sendOne(IcmpError.PacketTooBig, 1400);
    expect(icmp).toMatchObject({ type: 3, code: 4, rest: 1400 });
  });

  it('a UDP socket error quotes an IPv4 + UDP header naming the guest socket', async () => {
    const ctx = createUdpContext();
    ctx.send({ dst: ip('10.0.2.2'), dstPort: 7 });
    await ctx.emitted();
    ctx.stack.icmpErrors.aboutUdpSocket(IcmpError.PortUnreachable, ip('198.18.0.9'), GUEST_IP, 40000, ip('198.18.0.9'), 53);
    const [frame] = await ctx.emitted();
    const icmp = decodeIcmp(frame);
    expect(icmp).toMatchObject({ src: '198.18.0.9', dst: '10.0.2.100', type: 3, code: 3 });
    expect(icmp.body.length).toBe(28);
    expect(icmp.body.readUInt32BE(12)).toBe(GUEST_IP);
    expect(icmp.body.readUInt32BE(16)).toBe(ip('198.18.0.9'));
    expect(icmp.body[9]).toBe(17);
    expect(icmp.body.readUInt16BE(20)).toBe(40000);
    expect(icmp.body.readUInt16BE(22)).toBe(53);
  });
});
