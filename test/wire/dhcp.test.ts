import { describe, expect, test } from 'vitest';
import { readUint32 } from '../../src/wire/bytes.js';
import {
  BOOTP_FIXED_LENGTH,
  BOOTP_MIN_LENGTH,
  BOOTP_REPLY,
  BOOTP_REQUEST,
  DHCP_MAGIC_COOKIE,
  DHCP_OPTIONS_OFFSET,
  DhcpMessage,
  DhcpMessageType,
  DhcpOption,
  writeDhcpByteOption,
  writeDhcpEnd,
  writeDhcpReplyHeader,
  writeDhcpUint16Option,
  writeDhcpUint32Option,
} from '../../src/wire/dhcp.js';
import { DropReason } from '../../src/wire/drop-reason.js';
import { DNS_IP, GATEWAY_IP, GUEST_MAC, hex, randomBytes, seeded, toHex, VETH_DHCP_DISCOVER } from './captured.js';

const DISCOVER = VETH_DHCP_DISCOVER.subarray(42);
const GUEST_IP_15 = 0x0a00020f;

/** A request: fixed part from the captured DISCOVER, then the given option bytes. */
function request(options: number[]): Uint8Array {
  const buf = new Uint8Array(DHCP_OPTIONS_OFFSET + options.length);
  buf.set(DISCOVER.subarray(0, DHCP_OPTIONS_OFFSET));
  buf.set(options, DHCP_OPTIONS_OFFSET);
  return buf;
}

function text(message: DhcpMessage, length: number): string {
  return Buffer.from(message.bytes.subarray(message.optionDataOffset, message.optionDataOffset + length)).toString('latin1');
}

describe('DHCP message view', () => {
  test('deconstruct: the captured udhcpc DISCOVER', () => {
    const m = new DhcpMessage();
    expect(m.wrap(VETH_DHCP_DISCOVER, 42, DISCOVER.length)).toBe(DropReason.None);
    expect([m.op, m.hops, m.xid, m.secs, m.flags]).toEqual([BOOTP_REQUEST, 0, 0x5177750c, 0, 0]);
    expect([m.ciaddr, m.yiaddr, m.siaddr, m.giaddr, m.chaddr]).toEqual([0, 0, 0, 0, GUEST_MAC]);
    expect(m.messageType).toBe(DhcpMessageType.Discover);
    expect(m.requestedIp).toBe(0);
    expect(m.serverIdentifier).toBe(0);
    const prl = m.findParameterRequestList();
    expect(prl).toBe(7);
    expect(Array.from(m.bytes.subarray(m.optionDataOffset, m.optionDataOffset + prl))).toEqual([1, 3, 6, 12, 15, 28, 42]);
    expect(m.requestsParameter(DhcpOption.InterfaceMtu)).toBe(false);
    expect(m.requestsParameter(DhcpOption.DomainNameServer)).toBe(true);
    expect(text(m, m.findHostName())).toBe('guest1');
    const clientId = m.findClientIdentifier();
    expect(toHex(m.bytes.subarray(m.optionDataOffset, m.optionDataOffset + clientId))).toBe('01525400123456');
    expect(text(m, m.findOption(60))).toBe('udhcp 1.35.0');
    expect(m.findOption(57)).toBe(2);
    expect(m.findOption(DhcpOption.LeaseTime)).toBe(-1);
  });

  test('REQUEST options: requested IP (50) and server id (54)', () => {
    const m = new DhcpMessage();
    const b = request([53, 1, 3, 50, 4, 10, 0, 2, 15, 54, 4, 10, 0, 2, 2, 255]);
    expect(m.wrap(b, 0, b.length)).toBe(DropReason.None);
    expect([m.messageType, m.requestedIp, m.serverIdentifier]).toEqual([DhcpMessageType.Request, GUEST_IP_15, GATEWAY_IP]);
  });

  test('malformed option payload sizes read as absent, not as garbage', () => {
    const m = new DhcpMessage();
    const b = request([53, 2, 3, 3, 50, 3, 10, 0, 2, 255]);
    expect(m.wrap(b, 0, b.length)).toBe(DropReason.None);
    expect([m.messageType, m.requestedIp]).toEqual([0, 0]);
  });

  test('pads, no End (options run to the end of the message), and nothing after End is read', () => {
    const m = new DhcpMessage();
    const noEnd = request([0, 0, 53, 1, 1, 0]);
    expect(m.wrap(noEnd, 0, noEnd.length)).toBe(DropReason.None);
    expect(m.messageType).toBe(1);
    const afterEnd = request([255, 53, 1, 1]);
    expect(m.wrap(afterEnd, 0, afterEnd.length)).toBe(DropReason.None);
    expect(m.messageType).toBe(0);
    // Garbage after End does not make the message malformed.
    const garbage = request([53, 1, 5, 255, 7, 200]);
    expect(m.wrap(garbage, 0, garbage.length)).toBe(DropReason.None);
  });

  test('option overload (52) is ignored: sname/file are never read as options', () => {
    const b = request([52, 1, 3, 255]);
    b.set([53, 1, 2, 255], 44); // "options" in sname
    b.set([53, 1, 5, 255], 108); // and in file
    const m = new DhcpMessage();
    expect(m.wrap(b, 0, b.length)).toBe(DropReason.None);
    expect(m.messageType).toBe(0);
    expect(m.findOption(DhcpOption.Overload)).toBe(1);
  });

  test('malformed → DropReason', () => {
    const m = new DhcpMessage();
    const badCookie = DISCOVER.slice();
    badCookie[BOOTP_FIXED_LENGTH] ^= 1;
    expect(m.wrap(badCookie, 0, badCookie.length)).toBe(DropReason.Malformed);
    const htype = DISCOVER.slice();
    htype[1] = 6;
    expect(m.wrap(htype, 0, htype.length)).toBe(DropReason.Malformed);
    const hlen = DISCOVER.slice();
    hlen[2] = 16;
    expect(m.wrap(hlen, 0, hlen.length)).toBe(DropReason.Malformed);
    for (const options of [[53], [53, 1], [12, 6, 0x67], [0, 0, 12, 200, 1]]) {
      const b = request(options);
      expect(m.wrap(b, 0, b.length), JSON.stringify(options)).toBe(DropReason.BadOption);
    }
  });

  test('truncated at every length → a DropReason, never throws', () => {
    const m = new DhcpMessage();
    for (let length = 0; length < DISCOVER.length; length++) {
      const reason = m.wrap(DISCOVER, 0, length);
      if (length < DHCP_OPTIONS_OFFSET) expect(reason).toBe(DropReason.Truncated);
      else if (reason === DropReason.None) {
        // Cut between options (or in the trailing pad): what is left must read consistently.
        expect(m.findOption(61)).toBeLessThanOrEqual(7);
      } else expect(reason).toBe(DropReason.BadOption);
      expect(m.wrap(DISCOVER.subarray(0, length), 0, DISCOVER.length)).toBe(DropReason.Truncated);
    }
  });

  test('random option bytes never throw; lookups stay inside the message', () => {
    const random = seeded(2132);
    const m = new DhcpMessage();
    for (let round = 0; round < 5000; round++) {
      const b = request(Array.from(randomBytes(random, (random() * 80) | 0)));
      if (m.wrap(b, 0, b.length) !== DropReason.None) continue;
      for (const code of [12, 50, 53, 54, 55, 61, (random() * 256) | 0]) {
        const length = m.findOption(code);
        if (length >= 0) expect(m.optionDataOffset + length).toBeLessThanOrEqual(b.length);
      }
      void m.messageType;
      void m.requestsParameter(1);
    }
  });
});

describe('DHCP reply writers', () => {
  const OPTIONS_HEX =
    '350102' + // 53 OFFER
    '36040a000202' + // 54 server id 10.0.2.2
    '330400015180' + // 51 lease 86400
    '0104ffffff00' + // 1 subnet mask
    '03040a000202' + // 3 router
    '06040a000203' + // 6 DNS 10.0.2.3
    '1a0205dc' + // 26 MTU 1500
    'ff';

  /** An OFFER for the captured DISCOVER, written piece by piece as the server does. */
  function offer(buf: Uint8Array, offset: number): number {
    let at = writeDhcpReplyHeader(buf, offset, 0x5177750c, 0, 0, GUEST_IP_15, 0, 0, GUEST_MAC);
    at = writeDhcpByteOption(buf, at, DhcpOption.MessageType, DhcpMessageType.Offer);
    at = writeDhcpUint32Option(buf, at, DhcpOption.ServerIdentifier, GATEWAY_IP);
    at = writeDhcpUint32Option(buf, at, DhcpOption.LeaseTime, 86400);
    at = writeDhcpUint32Option(buf, at, DhcpOption.SubnetMask, 0xffffff00);
    at = writeDhcpUint32Option(buf, at, DhcpOption.Router, GATEWAY_IP);
    at = writeDhcpUint32Option(buf, at, DhcpOption.DomainNameServer, DNS_IP);
    at = writeDhcpUint16Option(buf, at, DhcpOption.InterfaceMtu, 1500);
    return writeDhcpEnd(buf, at, offset);
  }

  test('construct: an OFFER for the captured DISCOVER, 300 bytes, options in order', () => {
    const buf = new Uint8Array(BOOTP_MIN_LENGTH);
    expect(offer(buf, 0)).toBe(BOOTP_MIN_LENGTH);
    expect(toHex(buf.subarray(0, 28))).toBe(toHex(hex('02010600 5177750c 0000 0000 00000000 0a00020f 00000000 00000000')));
    expect(toHex(buf.subarray(28, 44))).toBe('525400123456' + '00'.repeat(10));
    expect(buf.subarray(44, BOOTP_FIXED_LENGTH).every((b) => b === 0)).toBe(true);
    expect(readUint32(buf, BOOTP_FIXED_LENGTH)).toBe(DHCP_MAGIC_COOKIE);
    const end = DHCP_OPTIONS_OFFSET + OPTIONS_HEX.length / 2;
    expect(toHex(buf.subarray(DHCP_OPTIONS_OFFSET, end))).toBe(OPTIONS_HEX);
    expect(buf.subarray(end, BOOTP_MIN_LENGTH).every((b) => b === 0)).toBe(true);
  });

  test('round trip: our OFFER parses back', () => {
    const buf = new Uint8Array(400);
    const length = offer(buf, 50);
    const m = new DhcpMessage();
    expect(m.wrap(buf, 50, length)).toBe(DropReason.None);
    expect([m.op, m.xid, m.yiaddr, m.chaddr, m.messageType, m.serverIdentifier]).toEqual([BOOTP_REPLY, 0x5177750c, GUEST_IP_15, GUEST_MAC, DhcpMessageType.Offer, GATEWAY_IP]);
    expect(m.addressOption(DhcpOption.Router)).toBe(GATEWAY_IP);
    expect(m.addressOption(DhcpOption.DomainNameServer)).toBe(DNS_IP);
    expect(m.addressOption(DhcpOption.SubnetMask)).toBe(0xffffff00);
    expect(m.findOption(DhcpOption.LeaseTime)).toBe(4);
    expect(readUint32(buf, m.optionDataOffset)).toBe(86400);
    expect(m.findOption(DhcpOption.InterfaceMtu)).toBe(2);
  });

  test('a reused dirty buffer gives exactly the same bytes (nothing from an earlier frame leaks)', () => {
    const clean = new Uint8Array(BOOTP_MIN_LENGTH);
    const dirty = new Uint8Array(BOOTP_MIN_LENGTH).fill(0xa5);
    offer(clean, 0);
    offer(dirty, 0);
    expect(toHex(dirty)).toBe(toHex(clean));
  });

  test('piecewise writers, and End beyond 300 bytes keeps the real length', () => {
    const buf = new Uint8Array(600).fill(0xa5);
    let at = writeDhcpReplyHeader(buf, 0, 9, 0, 0, GUEST_IP_15, GATEWAY_IP, 0, GUEST_MAC);
    expect(at).toBe(DHCP_OPTIONS_OFFSET);
    at = writeDhcpByteOption(buf, at, DhcpOption.MessageType, DhcpMessageType.Ack);
    at = writeDhcpUint16Option(buf, at, DhcpOption.InterfaceMtu, 65520);
    expect(toHex(buf.subarray(at - 4, at))).toBe('1a02fff0');
    for (let k = 0; k < 50; k++) at = writeDhcpUint32Option(buf, at, 224, k);
    const length = writeDhcpEnd(buf, at, 0);
    expect(length).toBe(at + 1);
    const m = new DhcpMessage();
    expect(m.wrap(buf, 0, length)).toBe(DropReason.None);
    expect([m.messageType, m.siaddr, m.findOption(DhcpOption.InterfaceMtu)]).toEqual([DhcpMessageType.Ack, GATEWAY_IP, 2]);
  });
});
