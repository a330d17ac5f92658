/**
 * The virtual network's addresses and limits. Defaults are slirp4netns 1.2's (see DESIGN.md §2):
 * 10.0.2.0/24, gateway .2, DNS .3, guest .100, DHCP from .15, gateway MAC 52:55:0a:00:02:02.
 */
import { formatIpv4, parseIpv4, parseMac } from '../wire/bytes.js';

export interface NetworkConfig {
  /** Network address (host bits zero) as uint32. */
  readonly network: number;
  readonly prefixLength: number;
  readonly netmask: number;
  readonly gateway: number;
  readonly dns: number;
  /** The address `--configure` gives the guest; default destination of published ports. */
  readonly guest: number;
  readonly dhcpStart: number;
  /** Our MAC address, used for the gateway and DNS addresses alike. */
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

export const DEFAULT_CIDR = '10.0.2.0/24';
export const DEFAULT_MTU = 1500;
export const MAX_MTU = 65521;

export interface NetworkConfigInput {
  cidr?: string;
  mtu?: number;
  gatewayMac?: string;
  disableHostLoopback?: boolean;
  disableDns?: boolean;
  limits?: Partial<Limits>;
}

/** Parses "a.b.c.d/n"; throws a one-line Error for bad input (this runs on CLI/library input, not guest input). */
export function parseCidr(cidr: string): { network: number; prefixLength: number } {
  const m = /^([^/]+)\/(\d{1,2})$/.exec(cidr);
  const address = m ? parseIpv4(m[1]) : undefined;
  const prefixLength = m ? Number(m[2]) : NaN;
  if (address === undefined || !(prefixLength >= 1 && prefixLength <= 30)) {
    throw new Error(`invalid CIDR "${cidr}" (expected e.g. 10.0.2.0/24, prefix 1-30)`);
  }
  const netmask = prefixMask(prefixLength);
  return { network: (address & netmask) >>> 0, prefixLength };
}

export function prefixMask(prefixLength: number): number {
  return prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0;
}

export function resolveNetworkConfig(input: NetworkConfigInput = {}): NetworkConfig {
  const { network, prefixLength } = parseCidr(input.cidr ?? DEFAULT_CIDR);
  const hostCount = 2 ** (32 - prefixLength);
  // slirp4netns needs room for .100; a smaller network is refused as it is there.
  if (hostCount < 128) throw new Error(`CIDR ${input.cidr} is too small: slirp4netns needs a /25 or larger`);
  const mtu = input.mtu ?? DEFAULT_MTU;
  if (!Number.isInteger(mtu) || mtu < 68 || mtu > MAX_MTU) throw new Error(`invalid MTU ${mtu} (68-${MAX_MTU})`);
  const gatewayMac = parseMac(input.gatewayMac ?? '52:55:0a:00:02:02');
  if (gatewayMac === undefined) throw new Error(`invalid MAC address "${input.gatewayMac}"`);
  return Object.freeze({
    network,
    prefixLength,
    netmask: prefixMask(prefixLength),
    gateway: (network + 2) >>> 0,
    dns: (network + 3) >>> 0,
    guest: (network + 100) >>> 0,
    dhcpStart: (network + 15) >>> 0,
    gatewayMac,
    mtu,
    disableHostLoopback: input.disableHostLoopback ?? false,
    disableDns: input.disableDns ?? false,
    limits: Object.freeze({ ...DEFAULT_LIMITS, ...input.limits }),
  });
}

export function isInNetwork(config: NetworkConfig, address: number): boolean {
  return ((address & config.netmask) >>> 0) === config.network;
}

export function describeNetwork(config: NetworkConfig): string {
  return `${formatIpv4(config.network)}/${config.prefixLength} gateway ${formatIpv4(config.gateway)} dns ${formatIpv4(config.dns)}`;
}
