/**
 * TCP and UDP over IPv6: the captured Linux and slirp4netns segments verify and are rebuilt byte for
 * byte with the IPv6 checksum fills; tcpdump checks what we build.
 */
import { describe, expect, test } from 'vitest';
import { readMac, readUint16 } from '../../src/wire/bytes.js';
import { finishChecksum, sumBytes } from '../../src/wire/checksum.js';
import { DropReason } from '../../src/wire/drop-reason.js';
import { EtherType, writeEthernetHeader } from '../../src/wire/ethernet.js';
import { parseIpv6 } from '../../src/wire/ipv6-address.js';
import { Ipv6NextHeader, Ipv6Packet, writeIpv6Header } from '../../src/wire/ipv6.js';
import {
  fillTcpChecksumIpv6,
  fillTcpPseudoChecksumIpv6,
  parseTcpOptions,
  TCP_ACK,
  TCP_CHECKSUM_OFFSET,
  TCP_PSH,
  TCP_SYN,
  TcpOptions,
  TcpSegment,
  writeMssOption,
  writeTcpHeader,
  writeTimestampOption,
  writeWindowScaleOption,
} from '../../src/wire/tcp.js';
import { UdpPacket, writeUdpHeaderIpv6 } from '../../src/wire/udp.js';
import { requireOrSkip } from '../support/netns.js';
import { randomBytes, seeded, toHex } from './captured.js';
import { SLIRP_TCP_SYN, SLIRP_TCP_SYN_ACK, VETH6_TCP_DATA, VETH6_TCP_SYN, VETH6_TCP_SYN_ACK, VETH6_UDP } from './captured-ipv6.js';
import { tcpdumpDecode, tcpdumpPrerequisite } from './tcpdump-oracle.js';

const ip = new Ipv6Packet();
const tcp = new TcpSegment();
const udp = new UdpPacket();
const options = new TcpOptions();

function segmentOf(frame: Uint8Array): TcpSegment {
  expect(ip.wrap(frame, 14, frame.length - 14)).toBe(DropReason.None);
  expect(ip.nextHeader).toBe(Ipv6NextHeader.Tcp);
  expect(tcp.wrap(frame, ip.payloadOffset, ip.payloadLength)).toBe(DropReason.None);
  return tcp;
}

/** A frame with `like`'s Ethernet and IPv6 header values around an upper-layer part written by `write`. */
function rebuild(like: Uint8Array, nextHeader: number, write: (buf: Uint8Array) => void): Uint8Array {
  const view = new Ipv6Packet();
  expect(view.wrap(like, 14, like.length - 14)).toBe(DropReason.None);
  const buf = new Uint8Array(like.length);
  writeEthernetHeader(buf, 0, readMac(like, 0), readMac(like, 6), EtherType.Ipv6);
  writeIpv6Header(buf, 14, like, view.sourceOffset, like, view.destinationOffset, nextHeader, view.payloadLength, view.hopLimit, view.trafficClass, view.flowLabel);
  write(buf);
  return buf;
}

describe('TCP over IPv6', () => {
  test('the captured segments verify against the IPv6 pseudo-header, two ways', () => {
    for (const frame of [VETH6_TCP_SYN, VETH6_TCP_SYN_ACK, VETH6_TCP_DATA, SLIRP_TCP_SYN, SLIRP_TCP_SYN_ACK]) {
      segmentOf(frame);
      expect(tcp.verifyChecksumIpv6(frame, ip.sourceOffset, frame, ip.destinationOffset)).toBe(true);
      expect(finishChecksum(sumBytes(frame, tcp.offset, tcp.length, ip.pseudoHeaderSum(6, tcp.length)))).toBe(0);
      // The pseudo-header is not symmetric in its length: a segment one byte short fails.
      expect(finishChecksum(sumBytes(frame, tcp.offset, tcp.length, ip.pseudoHeaderSum(6, tcp.length + 1)))).not.toBe(0);
    }
  });

  test('deconstruct: the kernel\'s SYN and slirp4netns\'s SYN-ACK', () => {
    segmentOf(VETH6_TCP_SYN);
    expect(parseTcpOptions(tcp, options)).toBe(DropReason.None);
    expect([tcp.sourcePort, tcp.destinationPort, tcp.sequence, tcp.window, options.mss, options.windowScale, options.sackPermitted, options.timestampValue]).toEqual([
      52052, 47001, 426312456, 64800, 1440, 10, true, 2155268240,
    ]);
    segmentOf(SLIRP_TCP_SYN_ACK);
    expect(parseTcpOptions(tcp, options)).toBe(DropReason.None);
    expect([tcp.sequence, tcp.acknowledgment, tcp.window, options.mss, options.windowScale, options.hasTimestamp]).toEqual([64001, 1401992723, 65535, 1440, -1, false]);
  });

  test('construct: the kernel\'s SYN-ACK and data segment, and slirp4netns\'s SYN-ACK, byte for byte', () => {
    const synAck = rebuild(VETH6_TCP_SYN_ACK, 6, (buf) => {
      let at = writeTcpHeader(buf, 54, 47001, 52052, 365711920, 426312457, TCP_SYN | TCP_ACK, 64260, 20);
      at = writeMssOption(buf, at, 1440);
      buf.set([4, 2], at); // SACK-permitted first, as Linux orders it, then timestamps
      at += 2;
      buf.set([8, 10], at);
      buf.set([0x58, 0x6a, 0x40, 0x0f, 0x80, 0x76, 0xc8, 0x90], at + 2);
      at += 10;
      writeWindowScaleOption(buf, at, 10);
      fillTcpChecksumIpv6(buf, 54, 40, buf, 22, buf, 38, null);
    });
    expect(toHex(synAck)).toBe(toHex(VETH6_TCP_SYN_ACK));
    const hello = new TextEncoder().encode('hello');
    const data = rebuild(VETH6_TCP_DATA, 6, (buf) => {
      const at = writeTcpHeader(buf, 54, 52052, 47001, 426312457, 365711921, TCP_PSH | TCP_ACK, 64, 12);
      writeTimestampOption(buf, at, 2155268241, 1483358223);
      // Payload in another buffer (a send queue), header in the frame.
      fillTcpChecksumIpv6(buf, 54, 32, buf, 22, buf, 38, hello);
      buf.set(hello, 86);
    });
    expect(toHex(data)).toBe(toHex(VETH6_TCP_DATA));
    const slirp = rebuild(SLIRP_TCP_SYN_ACK, 6, (buf) => {
      writeMssOption(buf, writeTcpHeader(buf, 54, 47001, 46622, 64001, 1401992723, TCP_SYN | TCP_ACK, 65535, 4), 1440);
      fillTcpChecksumIpv6(buf, 54, 24, buf, 22, buf, 38, null);
    });
    expect(toHex(slirp)).toBe(toHex(SLIRP_TCP_SYN_ACK));
  });

  test('offload (TSO6 / NEEDS_CSUM): the pseudo-header partial sum, completed by summing the segment', () => {
    const buf = VETH6_TCP_SYN.slice();
    fillTcpPseudoChecksumIpv6(buf, 54, buf, 22, buf, 38, 40);
    const partial = readUint16(buf, 54 + TCP_CHECKSUM_OFFSET);
    expect(ip.wrap(buf, 14, buf.length - 14)).toBe(DropReason.None);
    let folded = ip.pseudoHeaderSum(6, 40);
    while (folded > 0xffff) folded = (folded & 0xffff) + (folded >>> 16);
    expect(partial).toBe(folded);
    // What the device does: checksum over the segment as it stands (partial in place), stored complemented.
    const device = finishChecksum(sumBytes(buf, 54, 40));
    expect(device).toBe(readUint16(VETH6_TCP_SYN, 54 + TCP_CHECKSUM_OFFSET));
  });

  test('cross-check: tcpdump verifies the checksums of segments we build (seeded)', (ctx) => {
    requireOrSkip(ctx, tcpdumpPrerequisite());
    const random = seeded(6);
    const frames: Uint8Array[] = [];
    const expected: string[] = [];
    const source = parseIpv6('fd00::2')!;
    for (let round = 0; round < 40; round++) {
      const guest = randomBytes(random, 16);
      guest[0] = 0xfd;
      const payload = randomBytes(random, (random() * 1400) | 0);
      const frame = new Uint8Array(14 + 40 + 32 + payload.length);
      writeEthernetHeader(frame, 0, 0x5254_0012_3456, 0x5255_0a00_0202, EtherType.Ipv6);
      writeIpv6Header(frame, 14, source, 0, guest, 0, 6, 32 + payload.length, 64);
      const seq = (random() * 2 ** 32) >>> 0;
      writeTimestampOption(frame, writeTcpHeader(frame, 54, 443, 40000 + round, seq, 7, TCP_ACK | TCP_PSH, 512, 12), round, round + 1);
      fillTcpChecksumIpv6(frame, 54, 32, frame, 22, frame, 38, payload);
      frame.set(payload, 86);
      frames.push(frame);
      expected.push(`.443 > `, `.${40000 + round}: Flags [P.], cksum`);
    }
    tcpdumpDecode(frames).forEach((text, i) => {
      expect(text, text).toMatch(/cksum 0x[0-9a-f]{4} \(correct\)/);
      expect(text).toContain(expected[i * 2]);
      expect(text).toContain(expected[i * 2 + 1]);
    });
    const bad = frames[0].slice();
    bad[bad.length - 1] ^= 1;
    expect(tcpdumpDecode([bad])[0]).toMatch(/incorrect/);
  });
});

describe('UDP over IPv6', () => {
  test('the captured datagram verifies; zero would be invalid', () => {
    expect(ip.wrap(VETH6_UDP, 14, VETH6_UDP.length - 14)).toBe(DropReason.None);
    expect(udp.wrap(VETH6_UDP, ip.payloadOffset, ip.payloadLength)).toBe(DropReason.None);
    expect(udp.verifyChecksumIpv6(VETH6_UDP, 22, VETH6_UDP, 38)).toBe(true);
    const zero = VETH6_UDP.slice();
    zero[60] = 0;
    zero[61] = 0;
    expect(udp.wrap(zero, 54, 13)).toBe(DropReason.None);
    expect(udp.verifyChecksumIpv6(zero, 22, zero, 38)).toBe(false);
  });

  test('construct: the kernel\'s datagram, byte for byte, with writeUdpHeaderIpv6', () => {
    const payload = VETH6_UDP.subarray(62);
    const built = rebuild(VETH6_UDP, 17, (buf) => {
      expect(writeUdpHeaderIpv6(buf, 54, buf, 22, 46457, buf, 38, 47002, payload)).toBe(62);
      buf.set(payload, 62);
    });
    expect(toHex(built)).toBe(toHex(VETH6_UDP));
  });

  test('cross-check: tcpdump verifies the checksums of datagrams we build (seeded)', (ctx) => {
    requireOrSkip(ctx, tcpdumpPrerequisite());
    const random = seeded(17);
    const frames: Uint8Array[] = [];
    const source = parseIpv6('fd00::3')!;
    for (let round = 0; round < 40; round++) {
      const guest = randomBytes(random, 16);
      guest[0] = 0xfd;
      const payload = randomBytes(random, (random() * 1400) | 0);
      const frame = new Uint8Array(14 + 40 + 8 + payload.length);
      writeEthernetHeader(frame, 0, 0x5254_0012_3456, 0x5255_0a00_0203, EtherType.Ipv6);
      writeIpv6Header(frame, 14, source, 0, guest, 0, 17, 8 + payload.length);
      writeUdpHeaderIpv6(frame, 54, frame, 22, 53, frame, 38, 30000 + round, payload);
      frame.set(payload, 62);
      frames.push(frame);
    }
    tcpdumpDecode(frames).forEach((text, i) => {
      expect(text, text).toContain('[udp sum ok]');
      expect(text).toContain(`.53 > `);
      expect(text).toContain(`.${30000 + i}:`);
    });
  });
});
