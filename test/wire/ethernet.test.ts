import { describe, expect, test } from 'vitest';
import { BROADCAST_MAC } from '../../src/wire/bytes.js';
import { DropReason } from '../../src/wire/drop-reason.js';
import { ETHERNET_HEADER_LENGTH, EtherType, EthernetFrame, writeEthernetHeader } from '../../src/wire/ethernet.js';
import { GATEWAY_MAC, GUEST_MAC, hex, toHex, VETH_ARP_REQUEST, VETH_DNS_QUERY } from './captured.js';

describe('Ethernet II', () => {
  test('deconstruct: a captured ARP broadcast', () => {
    const frame = new EthernetFrame();
    expect(frame.wrap(VETH_ARP_REQUEST, 0, VETH_ARP_REQUEST.length)).toBe(DropReason.None);
    expect(frame.destination).toBe(BROADCAST_MAC);
    expect(frame.source).toBe(GUEST_MAC);
    expect(frame.etherType).toBe(EtherType.Arp);
    expect(frame.payloadOffset).toBe(14);
    expect(frame.payloadLength).toBe(28);
  });

  test('deconstruct: a captured unicast IPv4 frame, at an offset inside a larger buffer', () => {
    const buffer = new Uint8Array(VETH_DNS_QUERY.length + 10);
    buffer.set(VETH_DNS_QUERY, 6);
    const frame = new EthernetFrame();
    expect(frame.wrap(buffer, 6, VETH_DNS_QUERY.length)).toBe(DropReason.None);
    expect(frame.destination).toBe(GATEWAY_MAC);
    expect(frame.source).toBe(GUEST_MAC);
    expect(frame.etherType).toBe(EtherType.Ipv4);
    expect(frame.payloadOffset).toBe(20);
    expect(frame.payloadLength).toBe(VETH_DNS_QUERY.length - 14);
  });

  test('construct: the same header bytes', () => {
    const buf = new Uint8Array(16).fill(0xee);
    expect(writeEthernetHeader(buf, 1, BROADCAST_MAC, GUEST_MAC, EtherType.Arp)).toBe(15);
    expect(toHex(buf.subarray(1, 15))).toBe(toHex(VETH_ARP_REQUEST.subarray(0, 14)));
    expect(buf[0]).toBe(0xee);
    expect(buf[15]).toBe(0xee);
  });

  test('round trip of extreme MACs and EtherTypes', () => {
    const frame = new EthernetFrame();
    const buf = new Uint8Array(14);
    for (const [dst, src, type] of [
      [0, 0xffff_ffff_ffff, 0x86dd],
      [0x0100_5e00_0001, 0x8000_0000_0001, 0xffff],
      [0xfeff_ffff_fffe, 1, 0],
    ]) {
      writeEthernetHeader(buf, 0, dst, src, type);
      expect(frame.wrap(buf, 0, 14)).toBe(DropReason.None);
      expect([frame.destination, frame.source, frame.etherType]).toEqual([dst, src, type]);
      expect(frame.payloadLength).toBe(0);
    }
    expect(toHex(buf)).toBe(toHex(hex('fefffffffffe 000000000001 0000')));
  });

  test('truncated at every length below 14 → Truncated, never throws', () => {
    const frame = new EthernetFrame();
    for (let length = 0; length < ETHERNET_HEADER_LENGTH; length++) {
      expect(frame.wrap(VETH_ARP_REQUEST, 0, length)).toBe(DropReason.Truncated);
      expect(frame.wrap(VETH_ARP_REQUEST.subarray(0, length), 0, length)).toBe(DropReason.Truncated);
    }
  });

  test('a length running past the buffer → Truncated', () => {
    const frame = new EthernetFrame();
    expect(frame.wrap(VETH_ARP_REQUEST, 0, VETH_ARP_REQUEST.length + 1)).toBe(DropReason.Truncated);
    expect(frame.wrap(VETH_ARP_REQUEST, 30, 14)).toBe(DropReason.Truncated);
  });
});
