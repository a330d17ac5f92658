import { describe, expect, test } from 'vitest';
import { readUint16 } from '../../src/wire/bytes.js';
import { DropReason } from '../../src/wire/drop-reason.js';
import {
  fillIcmpv4Checksum,
  ICMPV4_ERROR_QUOTE_DATA,
  ICMPV4_HEADER_LENGTH,
  icmpv4ErrorAllowed,
  icmpv4ErrorQuoteLength,
  Icmpv4Packet,
  Icmpv4TimeExceededCode,
  Icmpv4Type,
  Icmpv4UnreachableCode,
  writeIcmpv4Echo,
  writeIcmpv4Error,
} from '../../src/wire/icmpv4.js';
import { IpProtocol, Ipv4Packet, writeIpv4Header } from '../../src/wire/ipv4.js';
import { decodeIpv4Frame, icmpChecksumValid, naiveChecksum } from '../support/oracle.js';
import { DNS_IP, GUEST_IP, LO_ICMP_ECHO_REPLY, LO_ICMP_ECHO_REQUEST, LO_ICMP_PORT_UNREACHABLE, LO_UDP, LOOPBACK, randomBytes, seeded, toHex } from './captured.js';

const ECHO_DATA = Uint8Array.from({ length: 12 }, (_, i) => i);

describe('ICMPv4', () => {
  test('deconstruct: the captured echo request and reply', () => {
    const icmp = new Icmpv4Packet();
    expect(icmp.wrap(LO_ICMP_ECHO_REQUEST, 34, 20)).toBe(DropReason.None);
    expect([icmp.type, icmp.code, icmp.checksum, icmp.identifier, icmp.sequence]).toEqual([Icmpv4Type.EchoRequest, 0, 0x7898, 24898, 1]);
    expect([icmp.dataOffset, icmp.dataLength, icmp.isError]).toEqual([42, 12, false]);
    expect(icmp.wrap(LO_ICMP_ECHO_REPLY, 34, 20)).toBe(DropReason.None);
    expect([icmp.type, icmp.checksum, icmp.identifier, icmp.sequence]).toEqual([Icmpv4Type.EchoReply, 0x8098, 24898, 1]);
  });

  test('deconstruct: the captured port unreachable quotes the UDP packet', () => {
    const icmp = new Icmpv4Packet();
    expect(icmp.wrap(LO_ICMP_PORT_UNREACHABLE, 34, 41)).toBe(DropReason.None);
    expect([icmp.type, icmp.code, icmp.checksum, icmp.nextHopMtu, icmp.isError]).toEqual([3, Icmpv4UnreachableCode.Port, 0xc489, 0, true]);
    const quoted = new Ipv4Packet();
    expect(quoted.wrap(LO_ICMP_PORT_UNREACHABLE, icmp.dataOffset, icmp.dataLength)).toBe(DropReason.None);
    expect([quoted.protocol, quoted.identification, quoted.source]).toEqual([IpProtocol.Udp, 0xe747, LOOPBACK]);
  });

  test('construct: the kernel\'s echo reply, data in another buffer', () => {
    const buf = new Uint8Array(20);
    expect(writeIcmpv4Echo(buf, 0, Icmpv4Type.EchoReply, 24898, 1, ECHO_DATA)).toBe(8);
    buf.set(ECHO_DATA, 8);
    expect(toHex(buf)).toBe(toHex(LO_ICMP_ECHO_REPLY.subarray(34)));
    writeIcmpv4Echo(buf, 0, Icmpv4Type.EchoRequest, 24898, 1, ECHO_DATA);
    expect(toHex(buf)).toBe(toHex(LO_ICMP_ECHO_REQUEST.subarray(34)));
  });

  test('construct: the kernel\'s port unreachable, quoting the whole 33-byte datagram', () => {
    const buf = new Uint8Array(41);
    const next = writeIcmpv4Error(buf, 0, Icmpv4Type.DestinationUnreachable, Icmpv4UnreachableCode.Port, LO_UDP, 14, 33);
    expect(next).toBe(41);
    expect(toHex(buf)).toBe(toHex(LO_ICMP_PORT_UNREACHABLE.subarray(34)));
  });

  test('error quote length: IP header + 8 bytes, never more than the packet', () => {
    expect(ICMPV4_ERROR_QUOTE_DATA).toBe(8);
    expect(icmpv4ErrorQuoteLength(20, 1500)).toBe(28);
    expect(icmpv4ErrorQuoteLength(60, 1500)).toBe(68);
    expect(icmpv4ErrorQuoteLength(20, 24)).toBe(24);
    expect(icmpv4ErrorQuoteLength(20, 20)).toBe(20);
  });

  test('time exceeded and fragmentation needed (next-hop MTU) errors', () => {
    const original = LO_UDP.subarray(14);
    const buf = new Uint8Array(36);
    const quote = icmpv4ErrorQuoteLength(20, original.length);
    writeIcmpv4Error(buf, 0, Icmpv4Type.TimeExceeded, Icmpv4TimeExceededCode.TtlExceeded, original, 0, quote);
    const icmp = new Icmpv4Packet();
    expect(icmp.wrap(buf, 0, 36)).toBe(DropReason.None);
    expect([icmp.type, icmp.code, icmp.isError, icmp.dataLength]).toEqual([11, 0, true, 28]);
    expect(toHex(buf.subarray(8))).toBe(toHex(original.subarray(0, 28)));
    writeIcmpv4Error(buf, 0, Icmpv4Type.DestinationUnreachable, Icmpv4UnreachableCode.FragmentationNeeded, original, 0, quote, 1400);
    expect(icmp.wrap(buf, 0, 36)).toBe(DropReason.None);
    expect([icmp.code, icmp.nextHopMtu]).toEqual([4, 1400]);
    expect(naiveChecksum(buf)).toBe(0);
  });

  test('when an error may be sent (RFC 1122 §3.2.2): about a first fragment from one host, never about an ICMP error', () => {
    const allowed = (frame: Uint8Array): boolean => {
      const ip = new Ipv4Packet();
      expect(ip.wrap(frame, 14, frame.length - 14)).toBe(DropReason.None);
      return icmpv4ErrorAllowed(ip);
    };
    expect(allowed(LO_UDP)).toBe(true);
    expect(allowed(LO_ICMP_ECHO_REQUEST)).toBe(true);
    expect(allowed(LO_ICMP_ECHO_REPLY)).toBe(true);
    expect(allowed(LO_ICMP_PORT_UNREACHABLE)).toBe(false);
    const withType = (type: number): Uint8Array => {
      const frame = LO_ICMP_ECHO_REQUEST.slice();
      frame[34] = type;
      return fixHeader(frame);
    };
    // Source quench, redirect, time exceeded, parameter problem are errors; 19 and above unknown: as errors (libslirp).
    for (const type of [4, 5, 11, 12, 19, 200]) expect(allowed(withType(type)), `type ${type}`).toBe(false);
    for (const type of [13, 15, 17]) expect(allowed(withType(type)), `type ${type}`).toBe(true);
    // A later fragment (offset 8) never; a first fragment (MF, offset 0) yes.
    const later = LO_UDP.slice();
    later[20] = 0x20;
    later[21] = 1;
    expect(allowed(fixHeader(later))).toBe(false);
    const first = LO_UDP.slice();
    first[20] = 0x20;
    first[21] = 0;
    expect(allowed(fixHeader(first))).toBe(true);
    // Sources that name no one host: 0.0.0.0/8, multicast, class E.
    for (const source of [[0, 0, 0, 0], [0, 1, 2, 3], [224, 0, 0, 1], [240, 0, 0, 1]]) {
      const frame = LO_UDP.slice();
      frame.set(source, 26);
      expect(allowed(fixHeader(frame)), source.join('.')).toBe(false);
    }
  });

  test('an error may quote from the buffer it is written into, even overlapping', () => {
    const original = LO_UDP.subarray(14, 14 + 28);
    for (const [from, to] of [[0, 4], [20, 0], [0, 0], [8, 8]]) {
      const buf = new Uint8Array(80);
      buf.set(original, from);
      writeIcmpv4Error(buf, to, 3, 3, buf, from, 28);
      expect(toHex(buf.subarray(to + 8, to + 36)), `${from}→${to}`).toBe(toHex(original));
      expect(naiveChecksum(buf.subarray(to, to + 36))).toBe(0);
    }
    // Through two views of one ArrayBuffer.
    const memory = new Uint8Array(100);
    memory.set(original, 10);
    writeIcmpv4Error(memory.subarray(12), 0, 3, 1, memory.subarray(10), 0, 28);
    expect(toHex(memory.subarray(20, 48))).toBe(toHex(original));
  });

  test('odd-length echo data: checksum pads correctly', () => {
    const data = Uint8Array.from([1, 2, 3, 4, 5]);
    const buf = new Uint8Array(13);
    writeIcmpv4Echo(buf, 0, Icmpv4Type.EchoRequest, 0xbeef, 0xffff, data);
    buf.set(data, 8);
    expect(naiveChecksum(buf)).toBe(0);
    expect(new Icmpv4Packet().wrap(buf, 0, 13)).toBe(DropReason.None);
    fillIcmpv4Checksum(buf, 0, 13, null);
    expect(new Icmpv4Packet().wrap(buf, 0, 13)).toBe(DropReason.None);
  });

  test('bad checksum → BadChecksum unless verification is off', () => {
    const icmp = new Icmpv4Packet();
    for (let at = 34; at < LO_ICMP_ECHO_REQUEST.length; at++) {
      const b = LO_ICMP_ECHO_REQUEST.slice();
      b[at] ^= 0x10;
      expect(icmp.wrap(b, 34, 20)).toBe(DropReason.BadChecksum);
      expect(icmp.wrap(b, 34, 20, false)).toBe(DropReason.None);
    }
  });

  test('truncated at every length → Truncated or BadChecksum, never throws', () => {
    const icmp = new Icmpv4Packet();
    for (let length = 0; length < 20; length++) {
      const reason = icmp.wrap(LO_ICMP_ECHO_REQUEST, 34, length);
      expect(reason).toBe(length < ICMPV4_HEADER_LENGTH ? DropReason.Truncated : DropReason.BadChecksum);
      expect(icmp.wrap(LO_ICMP_ECHO_REQUEST.subarray(0, 34 + length), 34, 20)).toBe(DropReason.Truncated);
    }
  });

  test('cross-check: an echo reply we build in a frame decodes with ip-packet and verifies', () => {
    const random = seeded(792);
    for (let round = 0; round < 50; round++) {
      const data = randomBytes(random, (random() * 200) | 0);
      const frame = new Uint8Array(14 + 20 + 8 + data.length);
      frame[12] = 0x08;
      writeIpv4Header(frame, 14, DNS_IP, GUEST_IP, IpProtocol.Icmp, 8 + data.length);
      writeIcmpv4Echo(frame, 34, Icmpv4Type.EchoReply, round, round * 3, data);
      frame.set(data, 42);
      const decoded = decodeIpv4Frame(frame);
      expect(decoded.ipChecksumValid).toBe(true);
      expect(icmpChecksumValid(decoded.ip)).toBe(true);
      expect(decoded.ip.protocol).toBe(1);
      expect([decoded.ip.data[0], readUint16(decoded.ip.data, 4), readUint16(decoded.ip.data, 6)]).toEqual([0, round, round * 3]);
    }
  });
});

/** Rewrites the IPv4 header checksum of an Ethernet frame after a test changed header bytes. */
function fixHeader(frame: Uint8Array): Uint8Array {
  frame[24] = 0;
  frame[25] = 0;
  const sum = naiveChecksum(frame.subarray(14, 34));
  frame[24] = sum >> 8;
  frame[25] = sum & 0xff;
  return frame;
}
