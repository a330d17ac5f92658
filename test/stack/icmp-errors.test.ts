/**
 * The one ICMP error sender (src/stack/icmp-errors.ts): each family-neutral error becomes the
 * family's type and code, quotes what it is given, carries the next-hop MTU only for PacketTooBig,
 * and goes out from the address the caller names. IPv4 through a real Stack (decoded by ip-packet and
 * a naive sum); ICMPv6 through a family-6 IpOutput double (there is no IPv6 output yet), checked by
 * the test support's IPv6 family (naive checksum over the RFC 8200 pseudo-header).
 */
import { describe, expect, it } from 'vitest';
import type { TxInfo } from '../../src/link/link.js';
import { IPV6_HANDLE_BASE } from '../../src/stack/address-table.js';
import { FakeClock } from '../../src/stack/clock.js';
import { IcmpError, IcmpErrorSender } from '../../src/stack/icmp-errors.js';
import type { IpOutput } from '../../src/stack/ip-output.js';
import { StackStats } from '../../src/stack/stats.js';
import { ipv6PseudoHeaderSum } from '../../src/wire/checksum.js';
import { IPV6, ipv6Bytes } from '../support/ip-family.js';
import { createUdpContext, decodeIcmp, decodeIcmpOf, ip } from '../support/udp-context.js';
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

/** A family-6 output that records what it is asked to send; addresses are handles of the texts given. */
class RecordingIpv6Output implements IpOutput {
  readonly family = 6;
  readonly head = new Uint8Array(54 + 128);
  readonly l4Offset = 54;
  readonly tcpMss = 1500 - 40 - 20;
  readonly maxL4Length = 65535;
  readonly gsoIpv6 = true;
  readonly frames: Uint8Array[] = [];
  constructor(private readonly texts: string[]) {}
  text(handle: number): string {
    return this.texts[handle - IPV6_HANDLE_BASE];
  }
  pseudoHeaderSum(source: number, destination: number, protocol: number, l4Length: number): number {
    return ipv6PseudoHeaderSum(ipv6Bytes(this.text(source)), 0, ipv6Bytes(this.text(destination)), 0, protocol, l4Length);
  }
  send(source: number, destination: number, protocol: number, l4HeaderLength: number, body: Uint8Array | null, _info?: TxInfo): boolean {
    const l4 = Buffer.concat([this.head.subarray(this.l4Offset, this.l4Offset + l4HeaderLength), body ?? new Uint8Array(0)]);
    this.frames.push(IPV6.frame(this.text(source), this.text(destination), protocol, l4));
    return true;
  }
  sendFragmentable(): number {
    throw new Error('not used by the error sender');
  }
  sendFrame(): boolean {
    throw new Error('not used by the error sender');
  }
  writeIpHeader(buf: Uint8Array, offset: number, source: number, destination: number, protocol: number, l4Length: number): number {
    buf.set([0x60, 0, 0, 0, l4Length >> 8, l4Length & 0xff, protocol, 64], offset);
    buf.set(ipv6Bytes(this.text(source)), offset + 8);
    buf.set(ipv6Bytes(this.text(destination)), offset + 24);
    return offset + 40;
  }
}

describe('ICMP error sender (ICMPv6 through a family-6 output)', () => {
  const [GATEWAY6, GUEST6, REMOTE6] = [0, 1, 2].map((k) => IPV6_HANDLE_BASE + k);
  const setup = () => {
    const output = new RecordingIpv6Output(['fd00::2', 'fd00::100', '2001:db8::7']);
    return { output, sender: new IcmpErrorSender(() => output, new FakeClock(), new StackStats()) };
  };

  it.each([
    [IcmpError.NetUnreachable, 1, 0, 0],
    [IcmpError.HostUnreachable, 1, 3, 0],
    [IcmpError.PortUnreachable, 1, 4, 0],
    [IcmpError.PacketTooBig, 2, 0, 1400],
    [IcmpError.TimeExceeded, 3, 0, 0],
  ])('error %i is type %i code %i (parameter %i), checksummed over the pseudo-header', (error, type, code, parameter) => {
    const { output, sender } = setup();
    const quote = Uint8Array.from({ length: 48 }, (_, i) => 0x60 + i);
    sender.send(error, GATEWAY6, GUEST6, quote, 0, quote.length, 1400);
    const icmp = decodeIcmpOf(IPV6, output.frames[0]);
    expect(icmp).toMatchObject({ src: 'fd00::2', dst: 'fd00::100', type, code, rest: parameter });
    expect([...icmp.body]).toEqual([...quote]);
  });

  it('quotes at most 1232 bytes (the error fits the IPv6 minimum MTU, RFC 4443 §2.4(c))', () => {
    const { output, sender } = setup();
    const big = new Uint8Array(1400);
    sender.send(IcmpError.PortUnreachable, GATEWAY6, GUEST6, big, 0, big.length);
    expect(output.frames[0].length - 14).toBe(1280);
  });

  it('a UDP socket error quotes an IPv6 + UDP header naming the guest socket', () => {
    const { output, sender } = setup();
    sender.aboutUdpSocket(IcmpError.PortUnreachable, REMOTE6, GUEST6, 40000, REMOTE6, 53);
    const icmp = decodeIcmpOf(IPV6, output.frames[0]);
    expect(icmp).toMatchObject({ src: '2001:db8::7', dst: 'fd00::100', type: 1, code: 4 });
    expect(icmp.body.length).toBe(48);
    const quoted = IPV6.decode(Buffer.concat([Buffer.alloc(12), Buffer.from([0x86, 0xdd]), icmp.body]));
    expect(quoted).toMatchObject({ source: 'fd00::100', destination: '2001:db8::7', protocol: 17 });
    expect([icmp.body.readUInt16BE(40), icmp.body.readUInt16BE(42)]).toEqual([40000, 53]);
  });
});
