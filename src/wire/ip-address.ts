/**
 * IP addresses, prefixes and MTUs as an operator gives them (command line, API requests, library
 * options): the one place for their text forms and their rules, used alike by the CLI, the link's
 * --configure, the engine's network config and the published-port table, so no two layers can
 * disagree about what a valid --cidr or --mtu is.
 *
 * Pure: no state, no I/O. Bad text is reported as a one-line Error (this reads operator input, never
 * guest frames); callers that need their own error type rethrow it with the same message.
 * IPv4 addresses are uint32 numbers in host order.
 */

export const DEFAULT_MTU = 1500;
/** The smallest IPv4 MTU (RFC 791); slirp4netns takes any positive number, our engine needs headers to fit. */
export const MIN_MTU = 68;
/** slirp4netns refuses larger MTUs (the kernel's tun limit is 65535). */
export const MAX_MTU = 65521;

export const DEFAULT_CIDR = '10.0.2.0/24';
/** slirp4netns needs room for .100 in the network: a /25 at the smallest. */
export const MAX_PREFIX_LENGTH = 25;

/** "10.0.2.2" → 0x0a000202; undefined when not a dotted quad. */
export function parseIpv4(text: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) return undefined;
  let address = 0;
  for (let i = 1; i <= 4; i++) {
    const octet = Number(m[i]);
    if (octet > 255) return undefined;
    address = address * 256 + octet;
  }
  return address >>> 0;
}

export function formatIpv4(address: number): string {
  return `${address >>> 24}.${(address >>> 16) & 0xff}.${(address >>> 8) & 0xff}.${address & 0xff}`;
}

/** The IPv4 text of an address Node reports (an IPv4-mapped IPv6 address "::ffff:a.b.c.d" included), else undefined. */
export function parseIpv4OrMapped(text: string): number | undefined {
  const mapped = text.length > 7 && text.slice(0, 7).toLowerCase() === '::ffff:' && text.includes('.');
  return parseIpv4(mapped ? text.slice(7) : text);
}

/** Checks an MTU (an integer from MIN_MTU to MAX_MTU); returns it. */
export function checkMtu(mtu: number): number {
  if (!Number.isInteger(mtu) || mtu < MIN_MTU || mtu > MAX_MTU) {
    throw new Error(`MTU must be an integer from ${MIN_MTU} to ${MAX_MTU}, got "${mtu}"`);
  }
  return mtu;
}

/** An MTU as text (decimal digits only); see checkMtu. */
export function parseMtu(text: string): number {
  const mtu = /^\d{1,6}$/.test(text) ? Number(text) : NaN;
  if (!(mtu >= MIN_MTU && mtu <= MAX_MTU)) throw new Error(`MTU must be an integer from ${MIN_MTU} to ${MAX_MTU}, got "${text}"`);
  return mtu;
}

/** An IPv4 network: its address (host bits zero), prefix length and mask. */
export interface Ipv4Prefix {
  readonly network: number;
  readonly prefixLength: number;
  readonly netmask: number;
}

export function ipv4PrefixMask(prefixLength: number): number {
  return prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0;
}

export function inIpv4Prefix(prefix: Ipv4Prefix, address: number): boolean {
  return ((address & prefix.netmask) >>> 0) === prefix.network;
}

/** The prefix's broadcast address (all host bits set). */
export function ipv4Broadcast(prefix: Ipv4Prefix): number {
  return (prefix.network | ~prefix.netmask) >>> 0;
}

/**
 * "a.b.c.d/n" by slirp4netns's rules for --cidr: a network address (host bits zero) with a prefix
 * of 1 to 25 (room for .100).
 */
export function parseIpv4Cidr(text: string): Ipv4Prefix {
  const m = /^([^/]+)\/(\d{1,2})$/.exec(text);
  if (!m || !/^\d{1,3}(?:\.\d{1,3}){3}$/.test(m[1])) throw new Error(`invalid CIDR: ${text}`);
  const network = parseIpv4(m[1]);
  if (network === undefined) throw new Error(`invalid network address: ${m[1]}`);
  const prefixLength = Number(m[2]);
  if (prefixLength < 1 || prefixLength > MAX_PREFIX_LENGTH) {
    throw new Error(`prefix length needs to be 1-${MAX_PREFIX_LENGTH}, got ${prefixLength} in ${text}`);
  }
  const netmask = ipv4PrefixMask(prefixLength);
  if (((network & netmask) >>> 0) !== network) {
    throw new Error(`CIDR needs to be a network address like 10.0.2.0/24, not like 10.0.2.100/24: ${text}`);
  }
  return { network, prefixLength, netmask };
}

/** slirp4netns's addresses in an IPv4 network: gateway .2, DNS .3, guest .100 (--configure), DHCP from .15. */
export interface SlirpIpv4Addresses {
  readonly gateway: number;
  readonly dns: number;
  readonly guest: number;
  readonly dhcpStart: number;
}

export function slirpIpv4Addresses(prefix: Ipv4Prefix): SlirpIpv4Addresses {
  const network = prefix.network;
  return {
    gateway: (network + 2) >>> 0,
    dns: (network + 3) >>> 0,
    guest: (network + 100) >>> 0,
    dhcpStart: (network + 15) >>> 0,
  };
}

/** An address family, as the IP version number. */
export type IpFamily = 4 | 6;
