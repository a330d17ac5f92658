/**
 * The test support's address families (test/support/ip-family.ts), which packet-level tests use to
 * build guest frames and to decode what the engine emits: each family's builder and decoder agree,
 * the IPv4 one agrees with our wire codec and ip-packet, and the IPv6 pseudo-header agrees with
 * src/wire's (two independent implementations of RFC 8200 §8.1).
 */
import { describe, expect, it } from 'vitest';
import { ipv4PseudoHeaderSum, sumBytes, finishChecksum } from '../../src/wire/checksum.js';
import { Ipv4Packet } from '../../src/wire/ipv4.js';
import { fillUdpChecksumIpv6, writeUdpHeader } from '../../src/wire/udp.js';
import { IPV4, IPV6, ipv6Bytes, ipv6Text, l4ChecksumFor, l4ChecksumValidFor } from '../support/ip-family.js';

describe('IPv6 text in the test support', () => {
  it.each([
    ['fd00::100', 'fd00::100'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['::1', '::1'],
    ['::', '::'],
    ['fe80::5255:aff:fe00:202', 'fe80::5255:aff:fe00:202'],
    ['::ffff:10.0.2.2', '::ffff:a00:202'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2:3:4:5:6'],
  ])('%s → bytes → %s', (text, canonical) => {
    expect(ipv6Text(ipv6Bytes(text))).toBe(canonical);
  });

  it('refuses what is not an address of the family', () => {
    expect(() => ipv6Bytes('10.0.2.2')).toThrow(/not an IPv6 address/);
    expect(() => IPV4.frame('fd00::1', '10.0.2.2', 17, new Uint8Array(8))).toThrow(/not an IPv4 address/);
  });
});

describe.each([IPV4, IPV6])('IPv$version test family', (family) => {
  it('decodes what it builds', () => {
    const l4 = Uint8Array.from({ length: 12 }, (_, i) => i);
    const frame = family.frame(family.guest, family.gateway, 17, l4, { hopLimit: 9 });
    expect(frame.length).toBe(family.l4Offset + 12);
    expect(((frame[12] << 8) | frame[13]) >>> 0).toBe(family.etherType);
    const d = family.decode(frame);
    expect(d).toMatchObject({ source: family.guest, destination: family.gateway, protocol: 17, hopLimit: 9, headerValid: true });
    expect(d.sourceMac).toBe('02:00:00:00:01:00');
    expect([...d.payload]).toEqual([...l4]);
  });

  it('an L4 checksum it computes verifies, and a flipped bit does not', () => {
    const l4 = new Uint8Array(16);
    writeUdpHeader(l4, 0, 40000, 53, 8);
    l4.set([1, 2, 3, 4, 5, 6, 7, 8], 8);
    const sum = l4ChecksumFor(family, family.guest, family.dns, 17, l4);
    l4[6] = sum >> 8;
    l4[7] = sum & 0xff;
    const decoded = family.decode(family.frame(family.guest, family.dns, 17, l4));
    expect(l4ChecksumValidFor(family, decoded)).toBe(true);
    decoded.payload[9] ^= 1;
    expect(l4ChecksumValidFor(family, decoded)).toBe(false);
  });
});

describe('the families against src/wire', () => {
  it('IPv4: the header checksum and the pseudo-header match our codec', () => {
    const frame = IPV4.frame('10.0.2.100', '198.18.0.2', 6, new Uint8Array(20), { identification: 0x1234, fragmentField: 0x2000 | 3 });
    const ip = new Ipv4Packet();
    expect(ip.wrap(frame, 14, frame.length - 14)).toBe(0); // header checksum verified by our view
    expect([ip.identification, ip.moreFragments, ip.fragmentOffset, ip.protocol]).toEqual([0x1234, true, 24, 6]);
    const pseudo = IPV4.pseudoHeader('10.0.2.100', '198.18.0.2', 6, 20);
    expect(finishChecksum(sumBytes(pseudo, 0, pseudo.length))).toBe(finishChecksum(ipv4PseudoHeaderSum(0x0a000264, 0xc6120002, 6, 20)));
  });

  it('IPv6: a UDP checksum filled by src/wire verifies with the test pseudo-header', () => {
    const l4 = new Uint8Array(8 + 5);
    writeUdpHeader(l4, 0, 547, 546, 5);
    l4.set(Buffer.from('hello'), 8);
    const addresses = new Uint8Array(32);
    addresses.set(ipv6Bytes('fe80::2'), 0);
    addresses.set(ipv6Bytes('fe80::5055:55ff:fe00:100'), 16);
    fillUdpChecksumIpv6(l4, 0, addresses, 0, addresses, 16);
    const decoded = IPV6.decode(IPV6.frame('fe80::2', 'fe80::5055:55ff:fe00:100', 17, l4));
    expect(l4ChecksumValidFor(IPV6, decoded)).toBe(true);
  });

  it('IPv6: the decoder refuses a payload length beyond the frame', () => {
    const frame = IPV6.frame('fd00::100', 'fd00::2', 17, new Uint8Array(8));
    frame[14 + 5] = 9;
    expect(() => IPV6.decode(frame)).toThrow(/beyond the frame/);
  });
});
