import * as ipPacket from 'ip-packet';
import { describe, expect, test } from 'vitest';
import { readUint16, writeUint16 } from '../../src/wire/bytes.js';
import { internetChecksum } from '../../src/wire/checksum.js';
import { DropReason } from '../../src/wire/drop-reason.js';
import {
  IPV4_FLAG_DONT_FRAGMENT,
  IPV4_FLAG_MORE_FRAGMENTS,
  IPV4_HEADER_LENGTH,
  IpProtocol,
  Ipv4Packet,
  writeIpv4Header,
} from '../../src/wire/ipv4.js';
import { DNS_IP, GUEST_IP, LO_ICMP_PORT_UNREACHABLE, LO_TCP_SYN, LOOPBACK, randomBytes, seeded, toHex, VETH_DHCP_DISCOVER, VETH_DNS_QUERY } from './captured.js';

/** Header + payload as one packet, our writer. */
function packet(payload: Uint8Array, protocol = IpProtocol.Udp, ttl = 64, id = 0, fragment = IPV4_FLAG_DONT_FRAGMENT): Uint8Array {
  const buf = new Uint8Array(IPV4_HEADER_LENGTH + payload.length);
  writeIpv4Header(buf, 0, GUEST_IP, DNS_IP, protocol, payload.length, ttl, id, fragment);
  buf.set(payload, IPV4_HEADER_LENGTH);
  return buf;
}

/** A 24-byte header with one 4-byte option (router alert) and a valid checksum. */
function withOption(payload: Uint8Array): Uint8Array {
  const buf = new Uint8Array(24 + payload.length);
  writeIpv4Header(buf, 0, GUEST_IP, DNS_IP, IpProtocol.Udp, payload.length + 4);
  buf[0] = 0x46;
  buf.set([0x94, 0x04, 0x00, 0x00], 20);
  buf.set(payload, 24);
  writeUint16(buf, 10, 0);
  writeUint16(buf, 10, internetChecksum(buf, 0, 24));
  return buf;
}

describe('IPv4', () => {
  test('deconstruct: the captured SYN packet', () => {
    const ip = new Ipv4Packet();
    expect(ip.wrap(LO_TCP_SYN, 14, LO_TCP_SYN.length - 14)).toBe(DropReason.None);
    expect(ip.headerLength).toBe(20);
    expect(ip.dscpEcn).toBe(0);
    expect(ip.totalLength).toBe(60);
    expect(ip.length).toBe(60);
    expect(ip.identification).toBe(19025);
    expect(ip.dontFragment).toBe(true);
    expect(ip.moreFragments).toBe(false);
    expect(ip.fragmentOffset).toBe(0);
    expect(ip.isFragment).toBe(false);
    expect(ip.ttl).toBe(64);
    expect(ip.protocol).toBe(IpProtocol.Tcp);
    expect(ip.checksum).toBe(0xf268);
    expect(ip.source).toBe(LOOPBACK);
    expect(ip.destination).toBe(LOOPBACK);
    expect(ip.payloadOffset).toBe(34);
    expect(ip.payloadLength).toBe(40);
  });

  test('deconstruct: the captured ICMP error (tos c0, id e4b8, no DF) and DHCP broadcast', () => {
    const ip = new Ipv4Packet();
    expect(ip.wrap(LO_ICMP_PORT_UNREACHABLE, 14, LO_ICMP_PORT_UNREACHABLE.length - 14)).toBe(DropReason.None);
    expect([ip.dscpEcn, ip.identification, ip.dontFragment, ip.protocol]).toEqual([0xc0, 0xe4b8, false, IpProtocol.Icmp]);
    expect(ip.wrap(VETH_DHCP_DISCOVER, 14, VETH_DHCP_DISCOVER.length - 14)).toBe(DropReason.None);
    expect([ip.source, ip.destination, ip.totalLength, ip.protocol]).toEqual([0, 0xffffffff, 328, IpProtocol.Udp]);
  });

  test('construct: our header for the captured SYN is the captured header', () => {
    const buf = new Uint8Array(20);
    expect(writeIpv4Header(buf, 0, LOOPBACK, LOOPBACK, IpProtocol.Tcp, 40, 64, 19025)).toBe(20);
    expect(toHex(buf)).toBe(toHex(LO_TCP_SYN.subarray(14, 34)));
  });

  test('construct: the captured glibc DNS query header', () => {
    const buf = new Uint8Array(22).fill(0xaa);
    expect(writeIpv4Header(buf, 1, GUEST_IP, DNS_IP, IpProtocol.Udp, 37, 64, 0x9e38)).toBe(21);
    expect(toHex(buf.subarray(1, 21))).toBe(toHex(VETH_DNS_QUERY.subarray(14, 34)));
    expect([buf[0], buf[21]]).toEqual([0xaa, 0xaa]);
  });

  test('round trip: fragment fields', () => {
    const ip = new Ipv4Packet();
    const middle = packet(new Uint8Array(8), IpProtocol.Udp, 1, 7, IPV4_FLAG_MORE_FRAGMENTS | 185);
    expect(ip.wrap(middle, 0, middle.length)).toBe(DropReason.None);
    expect([ip.moreFragments, ip.dontFragment, ip.fragmentOffset, ip.isFragment, ip.ttl, ip.identification]).toEqual([true, false, 1480, true, 1, 7]);
    const last = packet(new Uint8Array(8), IpProtocol.Udp, 64, 7, 185);
    expect(ip.wrap(last, 0, last.length)).toBe(DropReason.None);
    expect([ip.moreFragments, ip.fragmentOffset, ip.isFragment]).toEqual([false, 1480, true]);
  });

  test('options are skipped by IHL: payload after 24 bytes', () => {
    const ip = new Ipv4Packet();
    const buf = withOption(new Uint8Array([1, 2, 3]));
    expect(ip.wrap(buf, 0, buf.length)).toBe(DropReason.None);
    expect([ip.headerLength, ip.payloadOffset, ip.payloadLength]).toEqual([24, 24, 3]);
  });

  test('Ethernet padding after the packet is not payload', () => {
    const ip = new Ipv4Packet();
    const buf = new Uint8Array(46);
    buf.set(packet(new Uint8Array([9, 9])));
    expect(ip.wrap(buf, 0, 46)).toBe(DropReason.None);
    expect([ip.length, ip.payloadLength]).toEqual([22, 2]);
  });

  test('truncated at every length → a DropReason, never a throw', () => {
    const ip = new Ipv4Packet();
    for (const frame of [LO_TCP_SYN, VETH_DHCP_DISCOVER, LO_ICMP_PORT_UNREACHABLE]) {
      const total = frame.length - 14;
      for (let length = 0; length < total; length++) {
        expect(ip.wrap(frame, 14, length)).toBe(DropReason.Truncated);
        expect(ip.wrap(frame.subarray(0, 14 + length), 14, length)).toBe(DropReason.Truncated);
      }
    }
    const opt = withOption(new Uint8Array(4));
    for (let length = 0; length < opt.length; length++) expect(ip.wrap(opt, 0, length)).toBe(DropReason.Truncated);
  });

  test('malformed headers', () => {
    const ip = new Ipv4Packet();
    const good = packet(new Uint8Array(8));
    const bad = (edit: (b: Uint8Array) => void, fixChecksum = true): Uint8Array => {
      const b = good.slice();
      edit(b);
      if (fixChecksum) {
        writeUint16(b, 10, 0);
        writeUint16(b, 10, internetChecksum(b, 0, Math.max(20, Math.min(60, (b[0] & 15) * 4))));
      }
      return b;
    };
    expect(ip.wrap(bad((b) => (b[0] = 0x65)), 0, 28)).toBe(DropReason.BadVersion);
    expect(ip.wrap(bad((b) => (b[0] = 0x05)), 0, 28)).toBe(DropReason.BadVersion);
    for (const ihl of [0, 1, 4]) expect(ip.wrap(bad((b) => (b[0] = 0x40 | ihl)), 0, 28)).toBe(DropReason.BadHeaderLength);
    expect(ip.wrap(bad((b) => writeUint16(b, 2, 19)), 0, 28)).toBe(DropReason.BadLength);
    expect(ip.wrap(bad((b) => writeUint16(b, 2, 0)), 0, 28)).toBe(DropReason.BadLength);
    expect(ip.wrap(bad((b) => writeUint16(b, 2, 29)), 0, 28)).toBe(DropReason.Truncated);
    expect(ip.wrap(bad((b) => writeUint16(b, 2, 0xffff)), 0, 28)).toBe(DropReason.Truncated);
    // IHL 7 (28 bytes) with total length 24: header longer than the packet.
    expect(ip.wrap(bad((b) => { b[0] = 0x47; writeUint16(b, 2, 24); }), 0, 28)).toBe(DropReason.BadLength);
    // IHL 15 (60 bytes) in a 28-byte packet.
    expect(ip.wrap(bad((b) => (b[0] = 0x4f)), 0, 28)).toBe(DropReason.BadLength);
    expect(ip.wrap(bad((b) => (b[8] ^= 1), false), 0, 28)).toBe(DropReason.BadChecksum);
    expect(ip.wrap(bad((b) => (b[19] ^= 0x80), false), 0, 28)).toBe(DropReason.BadChecksum);
  });

  test('verifyChecksum=false skips only the checksum', () => {
    const ip = new Ipv4Packet();
    const b = packet(new Uint8Array(4));
    b[10] ^= 0xff;
    expect(ip.wrap(b, 0, b.length)).toBe(DropReason.BadChecksum);
    expect(ip.wrap(b, 0, b.length, false)).toBe(DropReason.None);
  });

  test('random bytes never throw, and anything accepted has a verified header', () => {
    const random = seeded(791);
    const ip = new Ipv4Packet();
    for (let round = 0; round < 20000; round++) {
      const b = randomBytes(random, (random() * 80) | 0);
      if (b.length > 0 && round % 2 === 0) b[0] = 0x45;
      const reason = ip.wrap(b, 0, b.length);
      if (reason === DropReason.None) {
        expect(internetChecksum(b, 0, ip.headerLength)).toBe(0);
        expect(ip.payloadOffset + ip.payloadLength).toBeLessThanOrEqual(b.length);
      }
    }
  });
});

describe('IPv4 cross-checked with the independent ip-packet decoder', () => {
  test('headers we write decode to the same fields, with a checksum ip-packet agrees with', () => {
    const random = seeded(2);
    for (let round = 0; round < 200; round++) {
      const payload = randomBytes(random, (random() * 1500) | 0);
      const source = (random() * 0x1_0000_0000) >>> 0;
      const destination = (random() * 0x1_0000_0000) >>> 0;
      const ttl = 1 + ((random() * 255) | 0);
      const id = (random() * 0x10000) | 0;
      const protocol = [IpProtocol.Tcp, IpProtocol.Udp, IpProtocol.Icmp][round % 3];
      const buf = Buffer.alloc(20 + payload.length);
      writeIpv4Header(buf, 0, source, destination, protocol, payload.length, ttl, id);
      buf.set(payload, 20);
      const decoded = ipPacket.decode({ buffer: buf, start: 0, end: buf.length });
      const dotted = (a: number): string => `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
      expect(decoded).toMatchObject({ version: 4, ihl: 5, length: 20 + payload.length, identification: id, flags: 2, fragmentOffset: 0, ttl, protocol });
      expect(decoded.sourceIp).toBe(dotted(source));
      expect(decoded.destinationIp).toBe(dotted(destination));
      expect(Buffer.from(decoded.data).equals(Buffer.from(payload))).toBe(true);
      // ip-packet's checksum() overwrites bytes 10-11 of what it is given: a copy.
      expect(ipPacket.checksum(Buffer.from(buf.subarray(0, 20)))).toBe(decoded.checksum);
    }
  });

  test('packets ip-packet encodes are accepted by our view', () => {
    const random = seeded(3);
    const ip = new Ipv4Packet();
    for (let round = 0; round < 100; round++) {
      const data = Buffer.from(randomBytes(random, (random() * 600) | 0));
      const state = { buffer: Buffer.alloc(20 + data.length), start: 0, end: 0 };
      ipPacket.encode(state, { version: 4, ttl: 63, protocol: 17, identification: round, flags: 2, sourceIp: '10.0.2.100', destinationIp: '8.8.8.8', data });
      ipPacket.checksum(state.buffer); // fills bytes 10-11 in place: that is what we want here
      expect(ip.wrap(state.buffer, 0, state.buffer.length)).toBe(DropReason.None);
      expect([ip.source, ip.destination, ip.ttl, ip.identification, ip.dontFragment, ip.payloadLength]).toEqual([GUEST_IP, 0x08080808, 63, round, true, data.length]);
      expect(readUint16(state.buffer, 10)).toBe(ip.checksum);
    }
  });
});
