/**
 * How guest-visible addresses map to host addresses and back (slirp4netns/libslirp rules):
 *
 * - guest → gateway (10.0.2.2) or 255.255.255.255 means the host's loopback, 127.0.0.1;
 * - guest → DNS address (10.0.2.3) port 53 means the upstream resolver (resolv.conf or an option);
 * - with --disable-host-loopback, every loopback destination (the gateway alias, 127.0.0.0/8,
 *   0.0.0.0, and an upstream resolver on loopback as well) is blocked, by any route;
 * - a host peer on loopback or 0.0.0.0 appears to the guest as the gateway.
 *
 * One place for these rules so TCP, UDP and ICMP cannot disagree.
 */
import { formatIpv4, parseIpv4 } from '../wire/bytes.js';
import type { NetworkConfig } from './config.js';

export interface HostEndpoint {
  /** Numeric host address in text form ("127.0.0.1", "192.0.2.1"); never a name. */
  readonly address: string;
  readonly port: number;
}

/** Supplies the current upstream resolver (re-read by the DNS service when resolv.conf changes). */
export type DnsUpstream = () => HostEndpoint | undefined;

export const LOOPBACK = 0x7f000001;

export function isLoopbackOrUnspecified(address: number): boolean {
  return address >>> 24 === 127 || address === 0;
}

export class HostAddressMap {
  constructor(
    private readonly config: NetworkConfig,
    private readonly dnsUpstream: DnsUpstream = () => undefined,
  ) {}

  /**
   * The host endpoint for a guest flow to destination:port, or undefined when it must be refused
   * (blocked loopback, DNS disabled or no resolver, an address of the guest network itself).
   */
  toHost(destination: number, port: number): HostEndpoint | undefined {
    const config = this.config;
    if (destination === config.dns) {
      if (port !== 53 || config.disableDns) return undefined;
      const upstream = this.dnsUpstream();
      if (!upstream) return undefined;
      const upstreamAddress = parseIpv4(upstream.address);
      if (config.disableHostLoopback && (upstream.address === '::1' || (upstreamAddress !== undefined && isLoopbackOrUnspecified(upstreamAddress)))) {
        return undefined;
      }
      return upstream;
    }
    if (destination === config.gateway || destination === 0xffffffff) {
      return config.disableHostLoopback ? undefined : { address: '127.0.0.1', port };
    }
    if (isLoopbackOrUnspecified(destination)) {
      return config.disableHostLoopback ? undefined : { address: formatIpv4(destination), port };
    }
    // Other addresses inside the virtual network have no host behind them.
    if (((destination & config.netmask) >>> 0) === config.network) return undefined;
    // Multicast and class E are not forwarded.
    if (destination >>> 28 >= 0xe) return undefined;
    return { address: formatIpv4(destination), port };
  }

  /** The guest-visible source for a host peer address (IPv4 text, or IPv4-mapped IPv6). */
  toGuest(hostAddress: string): number | undefined {
    const text = hostAddress.startsWith('::ffff:') ? hostAddress.slice(7) : hostAddress;
    const address = parseIpv4(text);
    if (address === undefined) return undefined;
    if (isLoopbackOrUnspecified(address)) return this.config.gateway;
    return address;
  }
}
