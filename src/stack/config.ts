/**
 * The virtual network's addresses and limits, per address family. Defaults are slirp4netns 1.2's (see
 * DESIGN.md §2): 10.0.2.0/24, gateway .2, DNS .3, guest .100, DHCP from .15, gateway MAC
 * 52:55:0a:00:02:02. The rules for CIDRs and MTUs are src/wire/ip-address.ts's, shared with the CLI.
 */
import { parseMac } from '../wire/bytes.js';
import { formatIpv6, ipv6Equal, ipv6PrefixMatch, isIpv6LinkLocal, parseIpv6 } from '../wire/ipv6-address.js';
import { checkMtu, DEFAULT_CIDR, DEFAULT_MTU, formatIpv4, inIpv4Prefix, parseIpv4Cidr, slirpIpv4Addresses, type Ipv4Prefix, type SlirpIpv4Addresses } from '../wire/ip-address.js';

export { DEFAULT_CIDR, DEFAULT_MTU, MAX_MTU } from '../wire/ip-address.js';

/** The IPv4 side: the network and slirp4netns's addresses in it (uint32, host order). */
export interface Ipv4NetworkConfig extends Ipv4Prefix, SlirpIpv4Addresses {}

/**
 * The IPv6 side (--enable-ipv6), slirp4netns's plan: prefix fd00::/64, gateway fd00::2 (also the
 * host's ::1), DNS fd00::3, and their link-local twins fe80::2, fe80::3 (router advertisements come
 * from fe80::2). libslirp's MACs: 52:56 followed by the address's last four bytes. Addresses are
 * 16-byte arrays (never written after resolveNetworkConfig).
 */
export interface Ipv6NetworkConfig {
  readonly prefix: Uint8Array;
  readonly prefixLength: number;
  readonly gateway: Uint8Array;
  readonly dns: Uint8Array;
  readonly gatewayLinkLocal: Uint8Array;
  readonly dnsLinkLocal: Uint8Array;
  /** 52:56:00:00:00:02: fd00::2, fe80::2 and every other frame we send over IPv6. */
  readonly gatewayMac: number;
  /** 52:56:00:00:00:03: fd00::3 and fe80::3. */
  readonly dnsMac: number;
}

/** slirp4netns's IPv6 plan (see Ipv6NetworkConfig). */
export function defaultIpv6Config(): Ipv6NetworkConfig {
  const address = (text: string): Uint8Array => parseIpv6(text) as Uint8Array;
  return Object.freeze({
    prefix: address('fd00::'),
    prefixLength: 64,
    gateway: address('fd00::2'),
    dns: address('fd00::3'),
    gatewayLinkLocal: address('fe80::2'),
    dnsLinkLocal: address('fe80::3'),
    gatewayMac: 0x5256_0000_0002,
    dnsMac: 0x5256_0000_0003,
  });
}

export interface NetworkConfig {
  readonly ipv4: Ipv4NetworkConfig;
  /** undefined: no IPv6 on the guest network (without --enable-ipv6): IPv6 frames are dropped, counted. */
  readonly ipv6: Ipv6NetworkConfig | undefined;
  /** Our MAC address, used for the gateway and DNS addresses of both families. */
  readonly gatewayMac: number;
  /** The guest's IP MTU. */
  readonly mtu: number;
  /** Block every loopback destination (127/8, 0.0.0.0) by any route, as --disable-host-loopback. */
  readonly disableHostLoopback: boolean;
  readonly disableDns: boolean;
  /** Bounds (DESIGN.md §6): exceeding one rejects the newcomer and keeps existing state. */
  readonly limits: Limits;
}

export interface Limits {
  readonly arpEntries: number;
  readonly pendingArpFrames: number;
  readonly tcpFlows: number;
  readonly udpBindings: number;
  readonly reassemblyBuffers: number;
  readonly reassemblyBytes: number;
  /** Distinct IPv6 addresses held at once (address-table.ts): flows', bindings', neighbours'. */
  readonly ipv6Addresses: number;
}

export const DEFAULT_LIMITS: Limits = Object.freeze({
  arpEntries: 256,
  pendingArpFrames: 64,
  tcpFlows: 16384,
  udpBindings: 4096,
  reassemblyBuffers: 64,
  reassemblyBytes: 4 * 1024 * 1024,
  ipv6Addresses: 32768,
});

export interface NetworkConfigInput {
  /** The IPv4 network, slirp4netns's --cidr rules (src/wire/ip-address.ts). */
  cidr?: string;
  mtu?: number;
  /** IPv6 on the guest network (--enable-ipv6), slirp4netns's plan (defaultIpv6Config). */
  ipv6?: boolean;
  gatewayMac?: string;
  disableHostLoopback?: boolean;
  disableDns?: boolean;
  limits?: Partial<Limits>;
}

/** Throws a one-line Error for bad input (this runs on CLI/library input, not guest input). */
export function resolveNetworkConfig(input: NetworkConfigInput = {}): NetworkConfig {
  const prefix = parseIpv4Cidr(input.cidr ?? DEFAULT_CIDR);
  const ipv4: Ipv4NetworkConfig = Object.freeze({ ...prefix, ...slirpIpv4Addresses(prefix) });
  const mtu = checkMtu(input.mtu ?? DEFAULT_MTU);
  const gatewayMac = parseMac(input.gatewayMac ?? '52:55:0a:00:02:02');
  if (gatewayMac === undefined) throw new Error(`invalid MAC address "${input.gatewayMac}"`);
  return Object.freeze({
    ipv4,
    ipv6: input.ipv6 === true ? defaultIpv6Config() : undefined,
    gatewayMac,
    mtu,
    disableHostLoopback: input.disableHostLoopback ?? false,
    disableDns: input.disableDns ?? false,
    limits: Object.freeze({ ...DEFAULT_LIMITS, ...input.limits }),
  });
}

/** True for an address of the guest's IPv4 network. */
export function isInNetwork(config: NetworkConfig, address: number): boolean {
  return inIpv4Prefix(config.ipv4, address);
}

export function describeNetwork(config: NetworkConfig): string {
  const v4 = config.ipv4;
  const v6 = config.ipv6;
  const ipv6 = v6 ? `; ${formatIpv6(v6.prefix)}/${v6.prefixLength} gateway ${formatIpv6(v6.gateway)} dns ${formatIpv6(v6.dns)}` : '';
  return `${formatIpv4(v4.network)}/${v4.prefixLength} gateway ${formatIpv4(v4.gateway)} dns ${formatIpv4(v4.dns)}${ipv6}`;
}

/** Our MAC for the IPv6 address at bytes[offset] (gateway, DNS or their link-local twins), -1 when it is not ours. */
export function ipv6OwnMac(v6: Ipv6NetworkConfig, bytes: Uint8Array, offset: number): number {
  const last = bytes[offset + 15];
  if (last !== v6.gateway[15] && last !== v6.dns[15]) return -1;
  if (ipv6Equal(bytes, offset, v6.gateway, 0) || ipv6Equal(bytes, offset, v6.gatewayLinkLocal, 0)) return v6.gatewayMac;
  if (ipv6Equal(bytes, offset, v6.dns, 0) || ipv6Equal(bytes, offset, v6.dnsLinkLocal, 0)) return v6.dnsMac;
  return -1;
}

/** True for an address the guest may speak from: in the IPv6 prefix or link-local, and not ours. */
export function isIpv6GuestSource(v6: Ipv6NetworkConfig, bytes: Uint8Array, offset: number): boolean {
  if (!ipv6PrefixMatch(bytes, offset, v6.prefix, 0, v6.prefixLength) && !isIpv6LinkLocal(bytes, offset)) return false;
  return ipv6OwnMac(v6, bytes, offset) < 0;
}
