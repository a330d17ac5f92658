import { describe, expect, test } from 'vitest';
import { readUint16, writeUint16, writeUint32 } from '../../src/wire/bytes.js';
import { DropReason } from '../../src/wire/drop-reason.js';
import { IpProtocol, writeIpv4Header } from '../../src/wire/ipv4.js';
import {
  fillUdpChecksumIpv4,
  fillUdpChecksumIpv6,
  UDP_HEADER_LENGTH,
  UdpPacket,
  writeUdpHeader,
  writeUdpHeaderIpv4,
} from '../../src/wire/udp.js';
import { decodeIpv4Frame, l4ChecksumValid, naiveChecksum } from '../support/oracle.js';
import {
  DNS_IP,
  GUEST_IP,
  LO_UDP,
  LO_UDP_CHECKSUM,
  LOOPBACK,
  patched16,
  randomBytes,
  seeded,
  toHex,
  VETH_DHCP_DISCOVER,
  VETH_DNS_QUERY,
  VETH_DNS_QUERY_UDP_CHECKSUM,
} from './captured.js';

const DNS_QUERY = patched16(VETH_DNS_QUERY, 34 + 6, VETH_DNS_QUERY_UDP_CHECKSUM);
const DNS_PAYLOAD = VETH_DNS_QUERY.subarray(42);

describe('UDP', () => {
  test('deconstruct: the captured DNS query (checksum as tcpdump computed it)', () => {
    const udp = new UdpPacket();
    expect(udp.wrap(DNS_QUERY, 34, DNS_QUERY.length - 34)).toBe(DropReason.None);
    expect([udp.sourcePort, udp.destinationPort, udp.length, udp.checksum]).toEqual([58298, 53, 37, 0xcb47]);
    expect([udp.payloadOffset, udp.payloadLength]).toEqual([42, 29]);
    expect(udp.verifyChecksumIpv4(GUEST_IP, DNS_IP)).toBe(true);
    expect(udp.verifyChecksumIpv4(GUEST_IP, GUEST_IP)).toBe(false);
  });

  test('deconstruct: the captured udhcpc DISCOVER has a complete, valid checksum', () => {
    const udp = new UdpPacket();
    expect(udp.wrap(VETH_DHCP_DISCOVER, 34, VETH_DHCP_DISCOVER.length - 34)).toBe(DropReason.None);
    expect([udp.sourcePort, udp.destinationPort, udp.length, udp.checksum]).toEqual([68, 67, 308, 0xe1ef]);
    expect(udp.verifyChecksumIpv4(0, 0xffffffff)).toBe(true);
  });

  test('construct: the DNS query header, payload in another buffer', () => {
    const buf = new Uint8Array(8);
    expect(writeUdpHeaderIpv4(buf, 0, GUEST_IP, 58298, DNS_IP, 53, DNS_PAYLOAD)).toBe(8);
    expect(toHex(buf)).toBe(toHex(DNS_QUERY.subarray(34, 42)));
  });

  test('construct: header then fill with the payload contiguous, or separate', () => {
    const buf = new Uint8Array(13);
    expect(writeUdpHeader(buf, 0, 33497, 47002, 5)).toBe(8);
    expect(readUint16(buf, 6)).toBe(0);
    buf.set(LO_UDP.subarray(42), 8);
    fillUdpChecksumIpv4(buf, 0, LOOPBACK, LOOPBACK);
    expect(readUint16(buf, 6)).toBe(LO_UDP_CHECKSUM);
    expect(toHex(buf)).toBe(toHex(patched16(LO_UDP, 40, LO_UDP_CHECKSUM).subarray(34)));
    const header = new Uint8Array(8);
    writeUdpHeader(header, 0, 33497, 47002, 5);
    fillUdpChecksumIpv4(header, 0, LOOPBACK, LOOPBACK, LO_UDP.subarray(42));
    expect(readUint16(header, 6)).toBe(LO_UDP_CHECKSUM);
  });

  test('a computed checksum of zero is sent as ffff, and ffff verifies', () => {
    const buf = new Uint8Array(10);
    writeUdpHeader(buf, 0, 1000, 2000, 2);
    fillUdpChecksumIpv4(buf, 0, GUEST_IP, DNS_IP);
    // Putting the checksum itself into the payload makes the one's complement sum all ones.
    writeUint16(buf, 8, readUint16(buf, 6));
    fillUdpChecksumIpv4(buf, 0, GUEST_IP, DNS_IP);
    expect(readUint16(buf, 6)).toBe(0xffff);
    const udp = new UdpPacket();
    expect(udp.wrap(buf, 0, 10)).toBe(DropReason.None);
    expect(udp.verifyChecksumIpv4(GUEST_IP, DNS_IP)).toBe(true);
  });

  test('zero checksum means none over IPv4', () => {
    const b = patched16(DNS_QUERY, 40, 0);
    const udp = new UdpPacket();
    expect(udp.wrap(b, 34, b.length - 34)).toBe(DropReason.None);
    expect(udp.verifyChecksumIpv4(GUEST_IP, DNS_IP)).toBe(true);
  });

  test('every single-bit error in header or payload fails verification', () => {
    const udp = new UdpPacket();
    for (let at = 34; at < DNS_QUERY.length; at++) {
      if (at === 38 || at === 39) continue; // the length field: changes what is summed, checked separately
      const b = DNS_QUERY.slice();
      b[at] ^= 1 << (at & 7);
      if (at === 40 && readUint16(b, 40) === 0) continue;
      expect(udp.wrap(b, 34, b.length - 34)).toBe(DropReason.None);
      expect(udp.verifyChecksumIpv4(GUEST_IP, DNS_IP), `byte ${at}`).toBe(false);
    }
  });

  test('length field: < 8 → BadLength, > available → Truncated, < available → trailing bytes ignored', () => {
    const udp = new UdpPacket();
    for (const length of [0, 1, 7]) expect(udp.wrap(patched16(DNS_QUERY, 38, length), 34, 37)).toBe(DropReason.BadLength);
    expect(udp.wrap(patched16(DNS_QUERY, 38, 38), 34, 37)).toBe(DropReason.Truncated);
    expect(udp.wrap(patched16(DNS_QUERY, 38, 0xffff), 34, 37)).toBe(DropReason.Truncated);
    expect(udp.wrap(patched16(DNS_QUERY, 38, 8), 34, 37)).toBe(DropReason.None);
    expect([udp.length, udp.payloadLength]).toEqual([8, 0]);
  });

  test('truncated at every length → Truncated, never throws', () => {
    const udp = new UdpPacket();
    for (let available = 0; available < 37; available++) {
      expect(udp.wrap(DNS_QUERY, 34, available)).toBe(DropReason.Truncated);
      expect(udp.wrap(DNS_QUERY.subarray(0, 34 + available), 34, 37)).toBe(DropReason.Truncated);
    }
  });

  test('IPv6: fill then verify, against a naive pseudo-header sum; zero is invalid', () => {
    const random = seeded(8200);
    const addresses = randomBytes(random, 32);
    const udp = new UdpPacket();
    for (let round = 0; round < 50; round++) {
      const payload = randomBytes(random, (random() * 300) | 0);
      const buf = new Uint8Array(8 + payload.length);
      writeUdpHeader(buf, 0, 5353, 5353, payload.length);
      buf.set(payload, 8);
      fillUdpChecksumIpv6(buf, 0, addresses, 0, addresses, 16);
      const pseudo = new Uint8Array(40);
      pseudo.set(addresses);
      writeUint32(pseudo, 32, buf.length);
      pseudo[39] = IpProtocol.Udp;
      expect(naiveChecksum(pseudo, buf)).toBe(0);
      expect(udp.wrap(buf, 0, buf.length)).toBe(DropReason.None);
      expect(udp.verifyChecksumIpv6(addresses, 0, addresses, 16)).toBe(true);
      const other = addresses.slice();
      other[3] ^= 0x40;
      expect(udp.verifyChecksumIpv6(other, 0, other, 16)).toBe(false);
      buf[6] = 0;
      buf[7] = 0;
      expect(udp.verifyChecksumIpv6(addresses, 0, addresses, 16)).toBe(false);
    }
  });

  test('cross-check: datagrams we build decode with ip-packet and verify with a naive checksum', () => {
    const random = seeded(768);
    for (let round = 0; round < 100; round++) {
      const payload = randomBytes(random, (random() * 1472) | 0);
      const frame = new Uint8Array(14 + 20 + 8 + payload.length);
      frame[12] = 0x08;
      writeIpv4Header(frame, 14, DNS_IP, GUEST_IP, IpProtocol.Udp, 8 + payload.length);
      writeUdpHeaderIpv4(frame, 34, DNS_IP, 53, GUEST_IP, 40000 + round, payload);
      frame.set(payload, 42);
      const decoded = decodeIpv4Frame(frame);
      expect(decoded.ipChecksumValid).toBe(true);
      expect(decoded.ip.protocol).toBe(17);
      expect(l4ChecksumValid(decoded.ip)).toBe(true);
      expect([readUint16(decoded.ip.data, 0), readUint16(decoded.ip.data, 2), readUint16(decoded.ip.data, 4)]).toEqual([53, 40000 + round, 8 + payload.length]);
      expect(UDP_HEADER_LENGTH + payload.length).toBe(decoded.ip.data.length);
    }
  });
});
