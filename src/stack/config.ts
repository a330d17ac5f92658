/**
 * The virtual network's addresses and limits, per address family. Defaults are slirp4netns 1.2's (see
 * DESIGN.md §2): 10.0.2.0/24, gateway .2, DNS .3, guest .100, DHCP from .15, gateway MAC
 * 52:55:0a:00:02:02. The rules for CIDRs and MTUs are src/wire/ip-address.ts's, shared with the CLI.
 */
import { parseMac } from '../wire/bytes.js';
import { checkMtu, DEFAULT_CIDR, DEFAULT_MTU, formatIpv4, inIpv4Prefix, parseIpv4Cidr, slirpIpv4Addresses, type Ipv4Prefix, type SlirpIpv4Addresses } from '../wire/ip-address.js';

export { DEFAULT_CIDR, DEFAULT_MTU, MAX_MTU } from '../wire/ip-address.js';

/** The IPv4 side: the network and slirp4netns's addresses in it (uint32, host order). */
export interface Ipv4NetworkConfig extends Ipv4Prefix, SlirpIpv4Addresses {}

/**
 * The IPv6 side. Empty until IPv6 is implemented (issue 15 adds the prefix, gateway and DNS
 * addresses here); NetworkConfig.ipv6 is undefined while IPv6 is off.
 */
export interface Ipv6NetworkConfig {}

export interface NetworkConfig {
  readonly ipv4: Ipv4NetworkConfig;
  /** undefined: no IPv6 on the guest network (always, for now). */
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
}

export const DEFAULT_LIMITS: Limits = Object.freeze({
  arpEntries: 256,
  pendingArpFrames: 64,
  tcpFlows: 16384,
  udpBindings: 4096,
  reassemblyBuffers: 64,
  reassemblyBytes: 4 * 1024 * 1024,
});

export interface NetworkConfigInput {
  /** The IPv4 network, slirp4netns's --cidr rules (src/wire/ip-address.ts). */
  cidr?: string;
  mtu?: number;
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
    ipv6: undefined,
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
  return `${formatIpv4(v4.network)}/${v4.prefixLength} gateway ${formatIpv4(v4.gateway)} dns ${formatIpv4(v4.dns)}`;
}
