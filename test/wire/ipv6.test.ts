import { describe, expect, test } from 'vitest';
import { readUint16 } from '../../src/wire/bytes.js';
import { finishChecksum, sumBytes } from '../../src/wire/checksum.js';
import { DropReason } from '../../src/wire/drop-reason.js';
import { formatIpv6, parseIpv6 } from '../../src/wire/ipv6-address.js';
import {
  IPV6_HEADER_LENGTH,
  ipv6HeaderPseudoSum,
  Ipv6NextHeader,
  Ipv6Packet,
  writeIpv6Header,
  writeIpv6PayloadLength,
} from '../../src/wire/ipv6.js';
import { IPV6_FRAGMENT_HEADER_LENGTH, Ipv6FragmentHeader, writeIpv6FragmentHeader } from '../../src/wire/ipv6-fragment.js';
import { UdpPacket } from '../../src/wire/udp.js';
import { naiveChecksum } from '../support/oracle.js';
import { toHex } from './captured.js';
import {
  FRAGMENTED_UDP_PAYLOAD,
  SLIRP_ECHO_REPLY,
  SLIRP_RA,
  VETH6_BIG_ECHO_REQUEST,
  VETH6_ECHO_REQUEST,
  VETH6_FRAGMENTED_PORT_UNREACHABLE,
  VETH6_FRAGMENTS,
  VETH6_PACKET_TOO_BIG,
  VETH6_TCP_SYN,
} from './captured-ipv6.js';

function wrapped(frame: Uint8Array): Ipv6Packet {
  const ip = new Ipv6Packet();
  expect(ip.wrap(frame, 14, frame.length - 14)).toBe(DropReason.None);
  return ip;
}

function addr(text: string): Uint8Array {
  return parseIpv6(text)!;
}

describe('IPv6 header view', () => {
  test('deconstruct: the captured echo request', () => {
    const ip = wrapped(VETH6_ECHO_REQUEST);
    expect([ip.trafficClass, ip.flowLabel, ip.payloadLength, ip.nextHeader, ip.hopLimit]).toEqual([0, 0xd7456, 20, Ipv6NextHeader.Icmpv6, 64]);
    expect([formatIpv6(ip.bytes, ip.sourceOffset), formatIpv6(ip.bytes, ip.destinationOffset)]).toEqual(['fd00::100', 'fd00::1']);
    expect([ip.offset, ip.length, ip.payloadOffset, ip.sourceOffset, ip.destinationOffset]).toEqual([14, 60, 54, 22, 38]);
  });

  test('deconstruct: slirp4netns\'s RA (hop limit 255, link-local source, all-nodes destination)', () => {
    const ip = wrapped(SLIRP_RA);
    expect([ip.hopLimit, ip.payloadLength, formatIpv6(ip.bytes, ip.sourceOffset), formatIpv6(ip.bytes, ip.destinationOffset)]).toEqual([
      255,
      56,
      'fe80::2',
      'ff02::1',
    ]);
  });

  test('traffic class and flow label are the bits between version and payload length', () => {
    const buf = new Uint8Array(40);
    writeIpv6Header(buf, 0, addr('::1'), 0, addr('::2'), 0, 59, 0, 1, 0xab, 0xcdef1);
    expect(toHex(buf.subarray(0, 4))).toBe('6abcdef1');
    const ip = new Ipv6Packet();
    expect(ip.wrap(buf, 0, 40)).toBe(DropReason.None);
    expect([ip.trafficClass, ip.flowLabel, ip.hopLimit, ip.nextHeader]).toEqual([0xab, 0xcdef1, 1, 59]);
  });

  test('construct: the kernel\'s echo request header, byte for byte', () => {
    const buf = new Uint8Array(VETH6_ECHO_REQUEST.length);
    const next = writeIpv6Header(buf, 14, VETH6_ECHO_REQUEST, 22, VETH6_ECHO_REQUEST, 38, Ipv6NextHeader.Icmpv6, 20, 64, 0, 0xd7456);
    expect(next).toBe(54);
    expect(toHex(buf.subarray(14, 54))).toBe(toHex(VETH6_ECHO_REQUEST.subarray(14, 54)));
    writeIpv6PayloadLength(buf, 14, 0x1234);
    expect(readUint16(buf, 18)).toBe(0x1234);
  });

  test('Ethernet padding after the packet is not part of it', () => {
    const padded = new Uint8Array(VETH6_ECHO_REQUEST.length + 10);
    padded.set(VETH6_ECHO_REQUEST);
    const ip = new Ipv6Packet();
    expect(ip.wrap(padded, 14, padded.length - 14)).toBe(DropReason.None);
    expect(ip.length).toBe(60);
  });

  test('truncated at every length → Truncated; a short payload length is fine', () => {
    const ip = new Ipv6Packet();
    for (let available = 0; available < 60; available++) {
      expect(ip.wrap(VETH6_ECHO_REQUEST, 14, available)).toBe(DropReason.Truncated);
      expect(ip.length).toBe(0);
      // The buffer itself ending early (available claims more than there is).
      expect(ip.wrap(VETH6_ECHO_REQUEST.subarray(0, 14 + available), 14, 60)).toBe(DropReason.Truncated);
    }
    const short = VETH6_ECHO_REQUEST.slice();
    short[19] = 4;
    expect(ip.wrap(short, 14, 60)).toBe(DropReason.None);
    expect(ip.length).toBe(44);
  });

  test('a version other than 6 → BadVersion', () => {
    for (const version of [0, 4, 5, 7, 15]) {
      const b = VETH6_ECHO_REQUEST.slice();
      b[14] = (version << 4) | (b[14] & 0x0f);
      expect(new Ipv6Packet().wrap(b, 14, 60)).toBe(DropReason.BadVersion);
    }
  });

  test('pseudo-header sum: the captured TCP SYN and ICMPv6 echo verify to zero', () => {
    const syn = wrapped(VETH6_TCP_SYN);
    expect(finishChecksum(sumBytes(VETH6_TCP_SYN, 54, 40, syn.pseudoHeaderSum(Ipv6NextHeader.Tcp, 40)))).toBe(0);
    expect(finishChecksum(sumBytes(VETH6_TCP_SYN, 54, 40, syn.pseudoHeaderSum(Ipv6NextHeader.Udp, 40)))).not.toBe(0);
    const echo = wrapped(SLIRP_ECHO_REPLY);
    expect(finishChecksum(sumBytes(SLIRP_ECHO_REPLY, 54, 20, echo.pseudoHeaderSum(58, 20)))).toBe(0);
    expect(ipv6HeaderPseudoSum(SLIRP_ECHO_REPLY, 14, 58, 20)).toBe(echo.pseudoHeaderSum(58, 20));
  });

  test('pseudo-header sum equals a naive sum over the 40-byte pseudo-header of RFC 8200 §8.1', () => {
    const ip = wrapped(VETH6_BIG_ECHO_REQUEST);
    const pseudo = new Uint8Array(40);
    pseudo.set(VETH6_BIG_ECHO_REQUEST.subarray(22, 54));
    pseudo.set([0, 0, 0x05, 0x1c, 0, 0, 0, 58], 32);
    expect(finishChecksum(ip.pseudoHeaderSum(58, 0x51c))).toBe(naiveChecksum(pseudo));
    expect(naiveChecksum(pseudo, VETH6_BIG_ECHO_REQUEST.subarray(54))).toBe(0);
  });

  test('the reconstructed large captures: their kernel checksums verify', () => {
    for (const frame of [VETH6_BIG_ECHO_REQUEST, VETH6_PACKET_TOO_BIG, VETH6_FRAGMENTED_PORT_UNREACHABLE]) {
      const ip = wrapped(frame);
      expect(ip.nextHeader).toBe(58);
      expect(finishChecksum(sumBytes(frame, 54, ip.payloadLength, ip.pseudoHeaderSum(58, ip.payloadLength)))).toBe(0);
    }
    expect(VETH6_PACKET_TOO_BIG.length - 14).toBe(1280);
  });
});

describe('IPv6 Fragment header', () => {
  test('deconstruct: the kernel\'s three fragments of a 3000-byte UDP datagram', () => {
    const frag = new Ipv6FragmentHeader();
    const seen = VETH6_FRAGMENTS.map((frame) => {
      const ip = wrapped(frame);
      expect(ip.nextHeader).toBe(Ipv6NextHeader.Fragment);
      expect(frag.wrap(frame, ip.payloadOffset, ip.payloadLength)).toBe(DropReason.None);
      return [frag.nextHeader, frag.fragmentOffset, frag.moreFragments, frag.identification, frag.isAtomic, ip.length - IPV6_HEADER_LENGTH - 8];
    });
    expect(seen).toEqual([
      [17, 0, true, 0x06c05674, false, 1448],
      [17, 1448, true, 0x06c05674, false, 1448],
      [17, 2896, false, 0x06c05674, false, 112],
    ]);
  });

  test('reassembled by hand, the fragments give the datagram whose UDP checksum the kernel computed', () => {
    const frag = new Ipv6FragmentHeader();
    const datagram = new Uint8Array(3008);
    for (const frame of VETH6_FRAGMENTS) {
      const ip = wrapped(frame);
      frag.wrap(frame, ip.payloadOffset, ip.payloadLength);
      datagram.set(frame.subarray(frag.dataOffset, ip.offset + ip.length), frag.fragmentOffset);
    }
    const udp = new UdpPacket();
    expect(udp.wrap(datagram, 0, datagram.length)).toBe(DropReason.None);
    expect([udp.sourcePort, udp.destinationPort, udp.payloadLength]).toEqual([44312, 47003, 3000]);
    expect(udp.verifyChecksumIpv6(VETH6_FRAGMENTS[0], 22, VETH6_FRAGMENTS[0], 38)).toBe(true);
    expect(toHex(datagram.subarray(8))).toBe(toHex(FRAGMENTED_UDP_PAYLOAD));
  });

  test('construct: the kernel\'s fragment headers, byte for byte', () => {
    const buf = new Uint8Array(8);
    const expected = [
      [0, true],
      [1448, true],
      [2896, false],
    ] as const;
    expected.forEach(([offset, more], i) => {
      expect(writeIpv6FragmentHeader(buf, 0, 17, offset, more, 0x06c05674)).toBe(IPV6_FRAGMENT_HEADER_LENGTH);
      expect(toHex(buf)).toBe(toHex(VETH6_FRAGMENTS[i].subarray(54, 62)));
    });
  });

  test('atomic fragment (RFC 6946), reserved bits ignored, low offset bits dropped by the writer', () => {
    const buf = new Uint8Array(8);
    writeIpv6FragmentHeader(buf, 0, 6, 0, false, 1);
    const frag = new Ipv6FragmentHeader();
    expect(frag.wrap(buf, 0, 8)).toBe(DropReason.None);
    expect([frag.isAtomic, frag.fragmentOffset, frag.moreFragments]).toEqual([true, 0, false]);
    buf[1] = 0xff;
    buf[3] |= 0x06; // the two reserved bits beside M
    expect([frag.isAtomic, frag.nextHeader]).toEqual([true, 6]);
    writeIpv6FragmentHeader(buf, 0, 6, 8 * 8191 + 7, true, 0xffffffff);
    expect([frag.fragmentOffset, frag.moreFragments, frag.identification]).toEqual([8 * 8191, true, 0xffffffff]);
  });

  test('truncated at every length → Truncated', () => {
    const frag = new Ipv6FragmentHeader();
    for (let n = 0; n < 8; n++) {
      expect(frag.wrap(VETH6_FRAGMENTS[2], 54, n)).toBe(DropReason.Truncated);
      expect(frag.wrap(VETH6_FRAGMENTS[2].subarray(0, 54 + n), 54, 8)).toBe(DropReason.Truncated);
    }
  });
});
