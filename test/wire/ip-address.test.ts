import { describe, expect, it } from 'vitest';
import {
  checkMtu,
  formatIpv4,
  inIpv4Prefix,
  ipv4Broadcast,
  parseIpv4,
  parseIpv4Cidr,
  parseIpv4OrMapped,
  parseMtu,
  slirpIpv4Addresses,
} from '../../src/wire/ip-address.js';

describe('IPv4 text', () => {
  it('parses and formats dotted quads', () => {
    expect(parseIpv4('10.0.2.2')).toBe(0x0a000202);
    expect(parseIpv4('255.255.255.255')).toBe(0xffffffff);
    expect(formatIpv4(0xc0a80101)).toBe('192.168.1.1');
    for (const bad of ['', '10.0.2', '10.0.2.256', '10.0.2.2.1', ' 10.0.2.2', '1e1.0.0.0', '::1']) expect(parseIpv4(bad)).toBeUndefined();
  });

  it('takes IPv4-mapped IPv6 text as Node reports it, and nothing else of IPv6', () => {
    expect(parseIpv4OrMapped('::ffff:198.18.0.2')).toBe(0xc6120002);
    expect(parseIpv4OrMapped('::FFFF:127.0.0.1')).toBe(0x7f000001);
    expect(parseIpv4OrMapped('198.18.0.2')).toBe(0xc6120002);
    for (const other of ['::1', '2001:db8::1', '::ffff:c612:2', '::ffff:']) expect(parseIpv4OrMapped(other)).toBeUndefined();
  });
});

describe('CIDR (slirp4netns --cidr rules)', () => {
  it('gives network, prefix and mask', () => {
    expect(parseIpv4Cidr('10.0.2.0/24')).toEqual({ network: 0x0a000200, prefixLength: 24, netmask: 0xffffff00 });
    expect(parseIpv4Cidr('10.0.0.0/8')).toEqual({ network: 0x0a000000, prefixLength: 8, netmask: 0xff000000 });
    const p = parseIpv4Cidr('10.8.0.0/16');
    expect(inIpv4Prefix(p, 0x0a08ffff)).toBe(true);
    expect(inIpv4Prefix(p, 0x0a090000)).toBe(false);
    expect(ipv4Broadcast(p)).toBe(0x0a08ffff);
  });

  it.each([
    ['ten/8', 'invalid CIDR: ten/8'],
    ['10.0.2.0', 'invalid CIDR: 10.0.2.0'],
    ['10.0.300.0/24', 'invalid network address: 10.0.300.0'],
    ['10.0.2.0/26', 'prefix length needs to be 1-25, got 26 in 10.0.2.0/26'],
    ['0.0.0.0/0', 'prefix length needs to be 1-25, got 0 in 0.0.0.0/0'],
    ['10.0.2.100/24', 'CIDR needs to be a network address like 10.0.2.0/24, not like 10.0.2.100/24: 10.0.2.100/24'],
  ])('refuses %s', (text, message) => {
    expect(() => parseIpv4Cidr(text)).toThrow(message);
  });

  it("places slirp4netns's addresses", () => {
    expect(slirpIpv4Addresses(parseIpv4Cidr('10.8.0.0/16'))).toEqual({ gateway: 0x0a080002, dns: 0x0a080003, guest: 0x0a080064, dhcpStart: 0x0a08000f });
  });
});

describe('MTU', () => {
  it('takes 68 to 65521', () => {
    expect(checkMtu(68)).toBe(68);
    expect(parseMtu('65521')).toBe(65521);
    for (const bad of [67, 65522, 1500.5, NaN]) expect(() => checkMtu(bad)).toThrow(`MTU must be an integer from 68 to 65521, got "${bad}"`);
    for (const bad of ['', '0', '1500x', '-1500', '0x5dc']) expect(() => parseMtu(bad)).toThrow(`MTU must be an integer from 68 to 65521, got "${bad}"`);
  });
});
