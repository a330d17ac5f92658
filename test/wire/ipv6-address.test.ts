import { SocketAddress } from 'node:net';
import { describe, expect, test } from 'vitest';
import {
  compareIpv6,
  copyIpv6,
  formatIpv6,
  IPV6_ALL_NODES,
  IPV6_ALL_ROUTERS,
  IPV6_LOOPBACK,
  IPV6_UNSPECIFIED,
  ipv4OfMappedIpv6,
  ipv6Equal,
  ipv6EqualWords,
  ipv6Hash,
  ipv6MulticastMac,
  ipv6MulticastScope,
  ipv6PrefixMatch,
  isIpv4MappedIpv6,
  isIpv6LinkLocal,
  isIpv6Loopback,
  isIpv6Multicast,
  isIpv6SolicitedNodeMulticast,
  isIpv6UniqueLocal,
  isIpv6Unspecified,
  parseIpv6,
  parseIpv6Into,
  readIpv6Words,
  writeEui64InterfaceId,
  writeIpv4MappedIpv6,
  writeIpv6Prefix,
  writeIpv6Words,
  writeLinkLocalFromMac,
  writeSolicitedNodeMulticast,
} from '../../src/wire/ipv6-address.js';
import { readMac } from '../../src/wire/bytes.js';
import { hex, randomBytes, seeded, toHex } from './captured.js';
import { GUEST6_MAC, ROUTER6_MAC, SLIRP_GUEST_MAC, SLIRP_NS, SLIRP_RS, VETH6_DAD_NS, VETH6_NS, VETH6_RS } from './captured-ipv6.js';

function addr(text: string): Uint8Array {
  const a = parseIpv6(text);
  if (!a) throw new Error(`test address ${text} does not parse`);
  return a;
}

/** glibc/libuv inet_pton + inet_ntop through Node, an independent parser and printer. */
function oracleText(text: string): string | undefined {
  try {
    return new SocketAddress({ address: text, family: 'ipv6' }).address;
  } catch {
    return undefined;
  }
}

/** The WHATWG URL host serializer: RFC 5952 compression, hex for every group (no mixed notation). */
function urlText(bytes: Uint8Array): string {
  const groups = Array.from({ length: 8 }, (_, g) => ((bytes[g * 2] << 8) | bytes[g * 2 + 1]).toString(16));
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}

describe('IPv6 address text', () => {
  test.each([
    ['::', '00000000000000000000000000000000'],
    ['::1', '00000000000000000000000000000001'],
    ['1::', '00010000000000000000000000000000'],
    ['fd00::2', 'fd000000000000000000000000000002'],
    ['FD00::D030:E1FF:FE11:B277', 'fd00000000000000d030e1fffe11b277'],
    ['2001:db8:0:0:1:0:0:1', '20010db8000000000001000000000001'],
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '20010db8000000000000000000000001'],
    ['1:2:3:4:5:6:7:8', '00010002000300040005000600070008'],
    ['1::2:3:4:5:6:7', '00010000000200030004000500060007'],
    ['1:2:3:4:5:6:7::', '00010002000300040005000600070000'],
    ['::2:3:4:5:6:7:8', '00000002000300040005000600070008'],
    ['::ffff:10.0.2.2', '00000000000000000000ffff0a000202'],
    ['::FFFF:127.0.0.1', '00000000000000000000ffff7f000001'],
    ['64:ff9b::192.0.2.33', '0064ff9b0000000000000000c0000221'],
    ['1:2:3:4:5:6:1.2.3.4', '00010002000300040005000601020304'],
    ['ff02::1:ff00:100', 'ff0200000000000000000001ff000100'],
  ])('parses %s', (text, bytes) => {
    expect(toHex(addr(text))).toBe(bytes);
    expect(oracleText(text)).toBeDefined();
  });

  test.each([
    '', ':', ':::', '1', '1:2', '1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8:9', '1::2::3', ':1::2', '1::2:', '1:2:3:4:5:6:7:8::',
    '::1:2:3:4:5:6:7:8', '12345::', 'g::', '1:2:3:4:5:6:7:8%', '::1.2.3', '::1.2.3.4.5', '::256.1.1.1', '::01.2.3.4',
    '::1.2.3.4:5', '1.2.3.4::', '1:2:3:4:5:6:7:1.2.3.4', ' ::1', '::1 ', '::-1', '[::1]', 'fe80::1%eth0', '0x1::',
  ])('refuses %j, as inet_pton does', (text) => {
    expect(parseIpv6(text)).toBeUndefined();
    if (!text.includes('%')) expect(oracleText(text)).toBeUndefined();
  });

  test('a zone is refused by default and dropped when asked (host-side peer addresses)', () => {
    expect(parseIpv6('fe80::1%eth0')).toBeUndefined();
    expect(toHex(parseIpv6('fe80::1%eth0', true)!)).toBe('fe800000000000000000000000000001');
    expect(parseIpv6('fe80::1%', true)).toBeUndefined();
    expect(parseIpv6('%eth0', true)).toBeUndefined();
  });

  test('parseIpv6Into writes at an offset and touches nothing else', () => {
    const out = new Uint8Array(20).fill(0xaa);
    expect(parseIpv6Into('fd00::3', out, 2)).toBe(true);
    expect(toHex(out)).toBe('aaaa' + 'fd000000000000000000000000000003' + 'aa'.repeat(2));
  });

  test.each([
    // RFC 5952 §4: leading zeros, longest run, first of equal runs, no single-group "::", lower case.
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'],
    ['2001:DB8:AAAA:BBBB:CCCC:DDDD:EEEE:0001', '2001:db8:aaaa:bbbb:cccc:dddd:eeee:1'],
    ['0:0:0:0:0:0:0:0', '::'],
    ['0:0:0:0:0:0:0:1', '::1'],
    ['1:0:0:0:0:0:0:0', '1::'],
    ['fd00:0:0:0:0:0:0:2', 'fd00::2'],
    // §5: IPv4-mapped in mixed notation.
    ['::ffff:a00:202', '::ffff:10.0.2.2'],
    ['0:0:0:0:0:ffff:7f00:1', '::ffff:127.0.0.1'],
  ])('formats %s as %s (RFC 5952)', (text, canonical) => {
    expect(formatIpv6(addr(text))).toBe(canonical);
    expect(oracleText(text)).toBe(canonical);
  });

  test('random addresses: format agrees with inet_ntop / the URL serializer, and parses back (seeded)', () => {
    const random = seeded(5952);
    for (let round = 0; round < 3000; round++) {
      const bytes = randomBytes(random, 16);
      // Zero runs of random length and place, so every compression case comes up.
      for (let g = 0; g < 8; g++) {
        if (random() < 0.5) {
          bytes[g * 2] = 0;
          bytes[g * 2 + 1] = 0;
        }
      }
      if (random() < 0.05) bytes.set([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff], 0);
      const text = formatIpv6(bytes);
      if (isIpv4MappedIpv6(bytes, 0)) expect(oracleText(text)).toBe(text);
      else expect(text).toBe(urlText(bytes));
      expect(toHex(addr(text))).toBe(toHex(bytes));
      // Every other valid spelling (upper case, leading zeros, no compression) parses to the same bytes.
      const full = Array.from({ length: 8 }, (_, g) => ((bytes[g * 2] << 8) | bytes[g * 2 + 1]).toString(16).toUpperCase().padStart(4, '0'));
      expect(toHex(addr(full.join(':')))).toBe(toHex(bytes));
      expect(toHex(addr(oracleText(full.join(':'))!))).toBe(toHex(bytes));
    }
  });

  test('random text: never throws, and accepts exactly what inet_pton accepts (seeded)', () => {
    const random = seeded(4291);
    const pick = <T>(list: readonly T[]): T => list[(random() * list.length) | 0];
    const hexDigits = [...'0123456789abcdefABCDEF'];
    const digit = (): string => (random() < 0.01 ? pick(['g', ' ', '/', 'x']) : pick(hexDigits));
    const group = (): string => Array.from({ length: pick([1, 1, 2, 3, 4, 4, 4, 0, 5]) }, digit).join('');
    const separator = (): string => (random() < 0.85 ? ':' : random() < 0.7 ? '::' : pick([':::', '.', '']));
    const octet = (): string => (random() < 0.95 ? pick(['0', '1', '9', '10', '99', '200', '255']) : pick(['256', '01', '000', '1000', '']));
    let accepted = 0;
    let acceptedDotted = 0;
    for (let round = 0; round < 20000; round++) {
      // Near-valid text: groups and separators in random number, sometimes a dotted quad at the end.
      const groups = 1 + ((random() * 9) | 0);
      let text = random() < 0.2 ? pick([':', '::']) : '';
      for (let g = 0; g < groups; g++) text += group() + (g < groups - 1 ? separator() : '');
      if (random() < 0.3) text += pick([':', '::']) + [octet(), octet(), octet(), octet(), octet()].slice(0, pick([3, 4, 4, 4, 4, 4, 5])).join('.');
      else if (random() < 0.1) text += pick([':', '::']);
      const ours = parseIpv6(text);
      const theirs = oracleText(text);
      expect(ours === undefined, text).toBe(theirs === undefined);
      if (ours && theirs) expect(toHex(ours), text).toBe(toHex(addr(theirs)));
      if (ours) {
        accepted++;
        if (text.includes('.')) acceptedDotted++;
      }
    }
    // The generator must reach both sides of every rule, not only garbage.
    expect(accepted).toBeGreaterThan(1000);
    expect(acceptedDotted).toBeGreaterThan(100);
  });
});

describe('IPv6 address raw form', () => {
  test('words: read from packet bytes and written back, compared without allocation', () => {
    const packet = hex('ffff' + 'fd000000000000000000000000000003' + 'ffff');
    const words = new Uint32Array(8);
    readIpv6Words(packet, 2, words, 4);
    expect(Array.from(words.subarray(4))).toEqual([0xfd000000, 0, 0, 3]);
    expect(ipv6EqualWords(packet, 2, words, 4)).toBe(true);
    expect(ipv6EqualWords(IPV6_LOOPBACK, 0, words, 4)).toBe(false);
    const out = new Uint8Array(18);
    writeIpv6Words(out, 1, words, 4);
    expect(toHex(out)).toBe('00' + 'fd000000000000000000000000000003' + '00');
    copyIpv6(packet, 2, out, 2);
    expect(ipv6Equal(out, 2, packet, 2)).toBe(true);
  });

  test('compare is numeric order, equal is all 16 bytes', () => {
    const list = ['::', '::1', '::2', '::1:0', 'fd00::2', 'fd00::3', 'fe80::1', 'ff02::1'].map(addr);
    for (let i = 0; i < list.length; i++) {
      for (let j = 0; j < list.length; j++) {
        expect(Math.sign(compareIpv6(list[i], 0, list[j], 0))).toBe(Math.sign(i - j));
        expect(ipv6Equal(list[i], 0, list[j], 0)).toBe(i === j);
      }
    }
  });

  test('hash: seeded, spreads over low bits, equal addresses hash equal', () => {
    const a = addr('fd00::d030:e1ff:fe11:b277');
    expect(ipv6Hash(a, 0, 7)).toBe(ipv6Hash(Uint8Array.from(a), 0, 7));
    expect(ipv6Hash(a, 0, 7)).not.toBe(ipv6Hash(a, 0, 8));
    // Guest addresses differing only in their last byte land in different buckets of a small table.
    const buckets = new Set<number>();
    for (let i = 0; i < 256; i++) {
      a[15] = i;
      buckets.add(ipv6Hash(a, 0) & 255);
    }
    expect(buckets.size).toBeGreaterThan(140);
  });

  test.each([
    ['fd00::5', 'fd00::', 64, true],
    ['fd00::5', 'fd01::', 64, false],
    ['fd00::5', 'fd01::', 15, true],
    ['fd00::5', 'fd01::', 16, false],
    ['fe80::1', 'fe80::', 10, true],
    ['febf::1', 'fe80::', 10, true],
    ['fec0::1', 'fe80::', 10, false],
    ['::1', '::1', 128, true],
    ['::1', '::', 128, false],
    ['::1', '::', 127, true],
    ['ff02::1', '::', 0, true],
    ['ff02::1', '::', -5, true],
    ['::1', '::1', 999, true],
  ])('%s in %s/%i → %s', (a, prefix, length, match) => {
    expect(ipv6PrefixMatch(addr(a), 0, addr(prefix), 0, length)).toBe(match);
  });

  test('writeIpv6Prefix clears the host bits', () => {
    const out = new Uint8Array(16);
    writeIpv6Prefix(out, 0, addr('fd00:1:2:3:4:5:6:7'), 0, 64);
    expect(formatIpv6(out)).toBe('fd00:1:2:3::');
    writeIpv6Prefix(out, 0, addr('ffff:ffff::'), 0, 10);
    expect(formatIpv6(out)).toBe('ffc0::');
    writeIpv6Prefix(out, 0, addr('fd00::1'), 0, 128);
    expect(formatIpv6(out)).toBe('fd00::1');
  });
});

describe('IPv6 address classes and derived addresses', () => {
  test.each([
    // text, unspecified, loopback, multicast, link-local, unique local, mapped, solicited-node
    ['::', true, false, false, false, false, false, false],
    ['::1', false, true, false, false, false, false, false],
    ['::2', false, false, false, false, false, false, false],
    ['ff02::1', false, false, true, false, false, false, false],
    ['ff02::1:ff12:3456', false, false, true, false, false, false, true],
    ['ff02::2:ff12:3456', false, false, true, false, false, false, false],
    ['ff05::1:ff12:3456', false, false, true, false, false, false, false],
    ['fe80::5054:ff:fe12:3456', false, false, false, true, false, false, false],
    ['febf::1', false, false, false, true, false, false, false],
    ['fec0::1', false, false, false, false, false, false, false],
    ['fd00::2', false, false, false, false, true, false, false],
    ['fc00::2', false, false, false, false, true, false, false],
    ['fe00::2', false, false, false, false, false, false, false],
    ['::ffff:127.0.0.1', false, false, false, false, false, true, false],
    ['::fffe:127.0.0.1', false, false, false, false, false, false, false],
    ['1::ffff:127.0.0.1', false, false, false, false, false, false, false],
  ])('%s', (text, unspecified, loopback, multicast, linkLocal, uniqueLocal, mapped, solicited) => {
    const a = addr(text);
    expect([
      isIpv6Unspecified(a, 0),
      isIpv6Loopback(a, 0),
      isIpv6Multicast(a, 0),
      isIpv6LinkLocal(a, 0),
      isIpv6UniqueLocal(a, 0),
      isIpv4MappedIpv6(a, 0),
      isIpv6SolicitedNodeMulticast(a, 0),
    ]).toEqual([unspecified, loopback, multicast, linkLocal, uniqueLocal, mapped, solicited]);
  });

  test('well-known constants', () => {
    expect([formatIpv6(IPV6_UNSPECIFIED), formatIpv6(IPV6_LOOPBACK), formatIpv6(IPV6_ALL_NODES), formatIpv6(IPV6_ALL_ROUTERS)]).toEqual([
      '::',
      '::1',
      'ff02::1',
      'ff02::2',
    ]);
    expect(ipv6MulticastScope(IPV6_ALL_NODES, 0)).toBe(2);
    expect(ipv6MulticastScope(addr('ff0e::1'), 0)).toBe(0xe);
  });

  test('IPv4-mapped: write and read back', () => {
    const out = new Uint8Array(16).fill(0x55);
    writeIpv4MappedIpv6(out, 0, 0x7f000001);
    expect(formatIpv6(out)).toBe('::ffff:127.0.0.1');
    expect(ipv4OfMappedIpv6(out, 0)).toBe(0x7f000001);
  });

  test('solicited-node multicast: the kernel\'s DAD and resolution destinations', () => {
    const out = new Uint8Array(16);
    // VETH6_DAD_NS: target fd00::100 (at 62) sent to ff02::1:ff00:100 (IPv6 destination at 38).
    writeSolicitedNodeMulticast(out, 0, VETH6_DAD_NS, 62);
    expect(toHex(out)).toBe(toHex(VETH6_DAD_NS.subarray(38, 54)));
    writeSolicitedNodeMulticast(out, 0, VETH6_NS, 62);
    expect(toHex(out)).toBe(toHex(VETH6_NS.subarray(38, 54)));
    writeSolicitedNodeMulticast(out, 0, SLIRP_NS, 62);
    expect(formatIpv6(out)).toBe('ff02::1:ff00:2');
    // In place: the address itself becomes its solicited-node address.
    const inPlace = addr('fd00::d030:e1ff:fe11:b277');
    writeSolicitedNodeMulticast(inPlace, 0, inPlace, 0);
    expect(formatIpv6(inPlace)).toBe('ff02::1:ff11:b277');
  });

  test('link-local from MAC (modified EUI-64): the kernels\' own link-local addresses', () => {
    const out = new Uint8Array(16);
    writeLinkLocalFromMac(out, 0, GUEST6_MAC);
    expect(toHex(out)).toBe(toHex(VETH6_RS.subarray(22, 38)));
    expect(formatIpv6(out)).toBe('fe80::5054:ff:fe12:3456');
    writeLinkLocalFromMac(out, 0, SLIRP_GUEST_MAC);
    expect(toHex(out)).toBe(toHex(SLIRP_RS.subarray(22, 38)));
    writeLinkLocalFromMac(out, 0, ROUTER6_MAC);
    expect(formatIpv6(out)).toBe('fe80::5055:aff:fe00:202');
    // The universal/local bit is inverted both ways.
    writeEui64InterfaceId(out, 8, 0x0000_0000_0001);
    expect(toHex(out.subarray(8))).toBe('020000fffe000001');
  });

  test('multicast MAC: 33:33 and the last 32 bits, as on the captured frames', () => {
    for (const frame of [VETH6_DAD_NS, VETH6_NS, VETH6_RS, SLIRP_NS]) {
      expect(ipv6MulticastMac(frame, 38)).toBe(readMac(frame, 0));
    }
    expect(ipv6MulticastMac(IPV6_ALL_NODES, 0)).toBe(0x3333_0000_0001);
  });
});
