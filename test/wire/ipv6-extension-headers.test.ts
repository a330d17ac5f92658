import { describe, expect, test } from 'vitest';
import { readUint32 } from '../../src/wire/bytes.js';
import { DropReason } from '../../src/wire/drop-reason.js';
import { Icmpv6Packet } from '../../src/wire/icmpv6.js';
import { parseIpv6 } from '../../src/wire/ipv6-address.js';
import { IPV6_HEADER_LENGTH, Ipv6NextHeader, Ipv6Packet, writeIpv6Header } from '../../src/wire/ipv6.js';
import { IPV6_MAX_EXTENSION_HEADERS, Ipv6HeaderChain, walkIpv6Headers } from '../../src/wire/ipv6-extension-headers.js';
import { hex } from './captured.js';
import {
  VETH6_ECHO_REQUEST,
  VETH6_FRAGMENTS,
  VETH6_HOP_BY_HOP_PORT_UNREACHABLE,
  VETH6_HOP_BY_HOP_UDP,
  VETH6_MLD_REPORT,
  VETH6_PARAMETER_PROBLEM_NEXT_HEADER,
  VETH6_PARAMETER_PROBLEM_OPTION,
  VETH6_TCP_SYN,
  VETH6_UNKNOWN_DESTINATION_OPTION,
  VETH6_UNKNOWN_NEXT_HEADER,
} from './captured-ipv6.js';

const ip = new Ipv6Packet();
const chain = new Ipv6HeaderChain();

function walk(frame: Uint8Array, offset = 14): DropReason {
  expect(ip.wrap(frame, offset, frame.length - offset)).toBe(DropReason.None);
  return walkIpv6Headers(ip, chain);
}

/** An IPv6 packet (no Ethernet) with the given first Next Header and payload bytes. */
function packet(nextHeader: number, payload: string, destination = 'fd00::1'): Uint8Array {
  const body = hex(payload);
  const buf = new Uint8Array(IPV6_HEADER_LENGTH + body.length);
  writeIpv6Header(buf, 0, parseIpv6('fd00::100')!, 0, parseIpv6(destination)!, 0, nextHeader, body.length);
  buf.set(body, IPV6_HEADER_LENGTH);
  return buf;
}

/** The pointer the kernel put in its Parameter Problem answer for a captured packet. */
function kernelPointer(answer: Uint8Array): [number, number] {
  const icmp = new Icmpv6Packet();
  expect(icmp.wrap(answer, 54, answer.length - 54, null)).toBe(DropReason.None);
  return [icmp.code, icmp.pointer];
}

describe('IPv6 extension header walk', () => {
  test('no extension headers: the upper layer follows the fixed header', () => {
    expect(walk(VETH6_TCP_SYN)).toBe(DropReason.None);
    expect([chain.protocol, chain.offset, chain.length, chain.protocolFieldOffset, chain.routerAlert]).toEqual([6, 54, 40, 20, -1]);
    expect(walk(VETH6_ECHO_REQUEST)).toBe(DropReason.None);
    expect([chain.protocol, chain.offset, chain.length]).toEqual([58, 54, 20]);
  });

  test('the kernel\'s MLDv2 report: Hop-by-Hop with Router Alert 0 and PadN, then ICMPv6', () => {
    expect(walk(VETH6_MLD_REPORT)).toBe(DropReason.None);
    expect([chain.protocol, chain.offset, chain.length, chain.protocolFieldOffset, chain.routerAlert]).toEqual([58, 62, 48, 54, 0]);
    expect(VETH6_MLD_REPORT[chain.offset]).toBe(143);
  });

  test('UDP behind Hop-by-Hop options (the kernel answered port unreachable: it went through)', () => {
    expect(walk(VETH6_HOP_BY_HOP_UDP)).toBe(DropReason.None);
    expect([chain.protocol, chain.offset, chain.length, chain.routerAlert]).toEqual([17, 62, 11, 0]);
    // The error quotes the packet whole, Hop-by-Hop header included.
    expect(walk(VETH6_HOP_BY_HOP_PORT_UNREACHABLE.subarray(14), 48)).toBe(DropReason.None);
    expect(chain.protocol).toBe(17);
  });

  test('an unknown Next Header (253) ends the walk; its field is the kernel\'s pointer', () => {
    expect(walk(VETH6_UNKNOWN_NEXT_HEADER)).toBe(DropReason.None);
    expect([chain.protocol, chain.offset, chain.length]).toEqual([253, 54, 8]);
    expect([1, chain.protocolFieldOffset - ip.offset]).toEqual(kernelPointer(VETH6_PARAMETER_PROBLEM_NEXT_HEADER));
  });

  test('an unknown destination option with action 10: the kernel\'s code 2 and pointer', () => {
    expect(walk(VETH6_UNKNOWN_DESTINATION_OPTION)).toBe(DropReason.BadOption);
    expect([chain.problemCode, chain.problemPointer]).toEqual(kernelPointer(VETH6_PARAMETER_PROBLEM_OPTION));
  });

  test('a fragment stops the walk at its Fragment header', () => {
    for (const frame of VETH6_FRAGMENTS) {
      expect(walk(frame)).toBe(DropReason.None);
      expect([chain.protocol, chain.offset, chain.protocolFieldOffset]).toEqual([Ipv6NextHeader.Fragment, 54, 20]);
      expect(chain.length).toBe(frame.length - 54);
    }
  });

  test('headers in a chain: Hop-by-Hop, Destination Options, Routing (segments left 0), Destination Options, UDP', () => {
    const p = packet(
      0,
      '3c00 0000 0000 0000' + // HBH → DO: six Pad1
        '2b01 0106 0000 0000 0000 0000 0000 0000' + // DO (16 bytes) → Routing: PadN of 6, six Pad1
        '3c00 0400 0000 0000' + // Routing type 4, segments left 0 → DO
        '1100 0000 0100 0000' + // DO → UDP: Pad1, Pad1, empty PadN, Pad1, Pad1
        '1234 5678 000c 0000 6869 6a6b',
    );
    expect(walk(p, 0)).toBe(DropReason.None);
    expect([chain.protocol, chain.offset, chain.length, chain.protocolFieldOffset]).toEqual([17, 80, 12, 72]);
  });

  test('No Next Header (59) ends the walk, whatever follows', () => {
    expect(walk(packet(60, '3b00 0100 0000 0000 ffff'), 0)).toBe(DropReason.None);
    expect([chain.protocol, chain.offset, chain.length]).toEqual([59, 48, 2]);
  });

  test('Hop-by-Hop anywhere but first → code 1 at the Next Header that names it', () => {
    expect(walk(packet(60, '0000 0100 0000 0000 1100 0100 0000 0000'), 0)).toBe(DropReason.BadExtensionHeader);
    expect([chain.problemCode, chain.problemPointer]).toEqual([1, 40]);
  });

  test('a Routing header with segments left → code 0 at its Routing Type; with none left it is skipped', () => {
    expect(walk(packet(43, '1100 0001 0000 0000'), 0)).toBe(DropReason.BadExtensionHeader);
    expect([chain.problemCode, chain.problemPointer]).toEqual([0, 42]);
    expect(walk(packet(43, '1102 0003 0000 0000' + '00'.repeat(16) + '0000 0000 0000 0000'), 0)).toBe(DropReason.BadExtensionHeader);
    expect([chain.problemCode, chain.problemPointer]).toEqual([0, 42]);
    expect(walk(packet(43, '3b00 0000 0000 0000'), 0)).toBe(DropReason.None);
    expect(chain.protocol).toBe(59);
  });

  test.each([
    // option type, destination, reason, problem code (−1 = silent)
    [0x07, 'fd00::1', DropReason.None, -1], // action 00: skip
    [0x47, 'fd00::1', DropReason.BadOption, -1], // 01: discard silently
    [0x87, 'fd00::1', DropReason.BadOption, 2], // 10: discard and report
    [0x87, 'ff02::1', DropReason.BadOption, 2], // …even to a multicast destination
    [0xc7, 'fd00::1', DropReason.BadOption, 2], // 11: report unless multicast
    [0xc7, 'ff02::1', DropReason.BadOption, -1],
    [0xc2, 'fd00::1', DropReason.BadOption, 2], // Jumbo Payload: not supported, handled by its action bits
  ])('unknown option 0x%s to %s', (type, destination, reason, code) => {
    const typeHex = type.toString(16).padStart(2, '0');
    for (const first of [0, 60]) {
      expect(walk(packet(first, `1100 01 00 ${typeHex} 00 0000` + '1234 5678 0008 0000', destination), 0)).toBe(reason);
      expect(chain.problemCode).toBe(code);
      if (code >= 0) expect(chain.problemPointer).toBe(44);
    }
  });

  test('Router Alert is a Hop-by-Hop option; its length must be 2', () => {
    expect(walk(packet(0, '3b00 0502 0001 0100'), 0)).toBe(DropReason.None);
    expect(chain.routerAlert).toBe(1);
    expect(walk(packet(0, '3b00 0503 0000 0000'), 0)).toBe(DropReason.BadOption);
    expect(chain.problemCode).toBe(-1);
    // In Destination Options, type 5 is just an option with action 00.
    expect(walk(packet(60, '3b00 0502 0001 0100'), 0)).toBe(DropReason.None);
    expect(chain.routerAlert).toBe(-1);
  });

  test('an option running past its header → BadOption (silent)', () => {
    expect(walk(packet(60, '3b00 0105 0000 0000'), 0)).toBe(DropReason.BadOption);
    expect(walk(packet(60, '3b00 0000 0000 0001'), 0)).toBe(DropReason.BadOption);
    expect(chain.problemCode).toBe(-1);
  });

  test(`more than ${IPV6_MAX_EXTENSION_HEADERS} extension headers → HeaderChainTooLong`, () => {
    const many = (n: number): string => Array.from({ length: n }, (_, i) => (i === n - 1 ? '3b' : '3c') + '00 0104 0000 0000').join('');
    expect(walk(packet(60, many(IPV6_MAX_EXTENSION_HEADERS)), 0)).toBe(DropReason.None);
    expect(walk(packet(60, many(IPV6_MAX_EXTENSION_HEADERS + 1)), 0)).toBe(DropReason.HeaderChainTooLong);
  });

  test('a non-last fragment whose length is not a multiple of 8 → code 0 at the payload length', () => {
    expect(walk(packet(44, '1100 0001 0000 0001' + '00'.repeat(12)), 0)).toBe(DropReason.BadLength);
    expect([chain.problemCode, chain.problemPointer]).toEqual([0, 4]);
    // The last fragment may have any length.
    expect(walk(packet(44, '1100 0008 0000 0001' + '00'.repeat(12)), 0)).toBe(DropReason.None);
  });

  test('a fragment reaching past 65535 bytes → code 0 at the fragment offset', () => {
    expect(walk(packet(44, '1100 fff8 0000 0001' + '00'.repeat(8)), 0)).toBe(DropReason.BadLength);
    expect([chain.problemCode, chain.problemPointer]).toEqual([0, 42]);
    expect(walk(packet(44, '1100 fff0 0000 0001' + '00'.repeat(15)), 0)).toBe(DropReason.None);
  });

  test('every header truncated at every length → a DropReason, never a read past the packet', () => {
    const full = packet(0, '3c00 0502 0000 0100' + '2b01 0106 0000 0000 0000 0000 0000 0000' + '2c00 0400 0000 0000' + '1100 0001 0000 0001' + '00'.repeat(16));
    expect(walk(full, 0)).toBe(DropReason.None);
    expect(chain.protocol).toBe(44);
    // Headers: Hop-by-Hop 8, Destination Options 16, Routing 8, Fragment 8, then 16 bytes of data.
    for (let payload = 0; payload <= full.length - 40; payload++) {
      // The payload length says less than the headers need: the walk must stop at the packet's end.
      const cut = full.slice();
      cut[4] = payload >>> 8;
      cut[5] = payload & 0xff;
      const reason = walk(cut, 0);
      const expected = payload < 40 ? DropReason.Truncated : (payload - 40) % 8 === 0 ? DropReason.None : DropReason.BadLength;
      expect(reason, `payload ${payload}`).toBe(expected);
      expect(chain.length, `payload ${payload}`).toBeGreaterThanOrEqual(0);
    }
  });

  test('bit flips in a captured chain: never throws, the result stays within the packet', () => {
    for (const frame of [VETH6_MLD_REPORT, VETH6_UNKNOWN_DESTINATION_OPTION, VETH6_HOP_BY_HOP_UDP, VETH6_FRAGMENTS[0]]) {
      for (let bit = 14 * 8; bit < Math.min(frame.length, 14 + 40 + 24) * 8; bit++) {
        const b = frame.slice();
        b[bit >>> 3] ^= 0x80 >>> (bit & 7);
        if (ip.wrap(b, 14, b.length - 14) !== DropReason.None) continue;
        const reason = walkIpv6Headers(ip, chain);
        expect(DropReason[reason]).toBeDefined();
        expect(chain.length).toBeGreaterThanOrEqual(0);
        if (reason === DropReason.None) expect(chain.offset + chain.length).toBe(ip.offset + ip.length);
        if (chain.problemCode >= 0) expect(chain.problemPointer).toBeLessThan(ip.length);
      }
    }
    expect(readUint32(VETH6_MLD_REPORT, 14)).toBe(0x60000000); // the fixture was not touched
  });
});
