import { describe, expect, test } from 'vitest';
import { ARP_LENGTH, ArpOperation, ArpPacket, writeArp } from '../../src/wire/arp.js';
import { writeUint16 } from '../../src/wire/bytes.js';
import { DropReason } from '../../src/wire/drop-reason.js';
import { GATEWAY_IP, GATEWAY_MAC, GUEST_IP, GUEST_MAC, hex, randomBytes, seeded, toHex, VETH_ARP_REQUEST } from './captured.js';

const REQUEST = VETH_ARP_REQUEST.subarray(14);

describe('ARP', () => {
  test('deconstruct: the captured who-has 10.0.2.2 tell 10.0.2.100', () => {
    const arp = new ArpPacket();
    expect(arp.wrap(VETH_ARP_REQUEST, 14, 28)).toBe(DropReason.None);
    expect(arp.operation).toBe(ArpOperation.Request);
    expect(arp.senderMac).toBe(GUEST_MAC);
    expect(arp.senderIp).toBe(GUEST_IP);
    expect(arp.targetMac).toBe(0);
    expect(arp.targetIp).toBe(GATEWAY_IP);
  });

  test('construct: the same request, and the reply we would send', () => {
    const buf = new Uint8Array(30).fill(0x55);
    expect(writeArp(buf, 1, ArpOperation.Request, GUEST_MAC, GUEST_IP, 0, GATEWAY_IP)).toBe(1 + ARP_LENGTH);
    expect(toHex(buf.subarray(1, 29))).toBe(toHex(REQUEST));
    expect([buf[0], buf[29]]).toEqual([0x55, 0x55]);
    writeArp(buf, 0, ArpOperation.Reply, GATEWAY_MAC, GATEWAY_IP, GUEST_MAC, GUEST_IP);
    expect(toHex(buf.subarray(0, 28))).toBe(toHex(hex('0001 0800 06 04 0002 52550a000202 0a000202 525400123456 0a000264')));
  });

  test('round trip, and Ethernet padding after the 28 bytes is ignored', () => {
    const arp = new ArpPacket();
    const buf = new Uint8Array(46).fill(0xff);
    writeArp(buf, 0, ArpOperation.Reply, 0xffff_ffff_fffe, 0xffffffff, 1, 0);
    expect(arp.wrap(buf, 0, 46)).toBe(DropReason.None);
    expect([arp.operation, arp.senderMac, arp.senderIp, arp.targetMac, arp.targetIp]).toEqual([2, 0xffff_ffff_fffe, 0xffffffff, 1, 0]);
  });

  test('truncated at every length → Truncated, never throws', () => {
    const arp = new ArpPacket();
    for (let length = 0; length < ARP_LENGTH; length++) {
      expect(arp.wrap(VETH_ARP_REQUEST, 14, length)).toBe(DropReason.Truncated);
      expect(arp.wrap(VETH_ARP_REQUEST.subarray(0, 14 + length), 14, 28)).toBe(DropReason.Truncated);
    }
  });

  test.each([
    ['hardware type 6 (IEEE 802)', 0, 6],
    ['protocol type IPv6', 2, 0x86dd],
    ['operation 3 (RARP request)', 6, 3],
    ['operation 0', 6, 0],
  ])('%s → UnsupportedArp', (_name, at, value) => {
    const b = REQUEST.slice();
    writeUint16(b, at, value);
    expect(new ArpPacket().wrap(b, 0, 28)).toBe(DropReason.UnsupportedArp);
  });

  test.each([
    ['hardware length 8', 4, 8],
    ['protocol length 16', 5, 16],
    ['hardware length 0', 4, 0],
  ])('%s → UnsupportedArp', (_name, at, value) => {
    const b = REQUEST.slice();
    b[at] = value;
    expect(new ArpPacket().wrap(b, 0, 28)).toBe(DropReason.UnsupportedArp);
  });

  test('random bytes never throw', () => {
    const random = seeded(826);
    const arp = new ArpPacket();
    for (let round = 0; round < 5000; round++) {
      const b = randomBytes(random, (random() * 40) | 0);
      if (round % 2 === 0 && b.length >= 8) b.set(REQUEST.subarray(0, 6));
      const reason = arp.wrap(b, 0, b.length);
      expect(reason === DropReason.None || reason === DropReason.Truncated || reason === DropReason.UnsupportedArp).toBe(true);
    }
  });
});
