/**
 * How guest-visible addresses map to host addresses and back (slirp4netns/libslirp rules):
 *
 * - guest → gateway (10.0.2.2) or 255.255.255.255 means the host's loopback, 127.0.0.1;
 * - guest → DNS address (10.0.2.3) port 53 means the upstream resolver (resolv.conf or an option),
 *   even on loopback under --disable-host-loopback (systemd-resolved's 127.0.0.53): that one
 *   address and port, reached only through 10.0.2.3:53, as libslirp relays it;
 * - with --disable-host-loopback, every other loopback destination (the gateway alias,
 *   255.255.255.255, 127.0.0.0/8, 0.0.0.0) is blocked, by any route;
 * - with --disable-dns, 10.0.2.3 leads nowhere and gets no answer (libslirp would send it to
 *   whatever 10.0.2.3 is on the host's network: never);
 * - a host peer on loopback or 0.0.0.0, or with an address inside the guest network, appears to the
 *   guest as the gateway (guestVisibleAddress, also the rule for published ports' clients).
 *
 * IPv6 (with -6), the same rules with slirp4netns's IPv6 addresses: fd00::2 means the host's ::1;
 * fd00::3 port 53 the upstream resolver (of either family); --disable-host-loopback blocks fd00::2,
 * ::1, ::, and IPv4-mapped loopback (::ffff:127.0.0.0/104); the rest of fd00::/64, link-local and
 * multicast destinations have no host behind them; other addresses are reached as themselves. A host
 * peer on ::1, ::, link-local or inside fd00::/64 appears to the guest as fd00::2.
 * IPv6 addresses are handles (address-table.ts): toGuest() hands them out held once.
 *
 * One place for these rules so TCP, UDP and ICMP cannot disagree: toHost() says where a flow goes,
 * refusal() why it goes nowhere, and each engine answers that reason in its protocol.
 */
import { formatIpv4, inIpv4Prefix, ipv4Broadcast, parseIpv4OrMapped } from '../wire/ip-address.js';
import {
  formatIpv6,
  ipv4OfMappedIpv6,
  ipv6PrefixMatch,
  isIpv4MappedIpv6,
  isIpv6LinkLocal,
  isIpv6Loopback,
  isIpv6Multicast,
  isIpv6Unspecified,
  parseIpv6Into,
} from '../wire/ipv6-address.js';
import { isIpv6Handle, type IpAddresses } from './address-table.js';
import type { NetworkConfig } from './config.js';

export interface HostEndpoint {
  /** Numeric host address in text form ("127.0.0.1", "192.0.2.1"); never a name. */
  readonly address: string;
  readonly port: number;
}

/** Supplies the current upstream resolver (re-read by the DNS service when resolv.conf changes). */
export type DnsUpstream = () => HostEndpoint | undefined;

export const LOOPBACK = 0x7f000001;

/** Why toHost() refused a destination; the engines turn it into their protocol's answer. */
export enum Refusal {
  /** Host loopback under --disable-host-loopback: libslirp's EPERM, ICMP net unreachable from the gateway. */
  LoopbackBlocked,
  /** 10.0.2.3 off port 53, or DNS with no resolver: nothing listens (TCP reset, ICMP port unreachable). */
  NoService,
  /** 10.0.2.3 under --disable-dns: no answer at all, so the guest's attempt times out. */
  DnsDisabled,
  /** An address of the virtual network with no host behind it, multicast or class E. */
  NoHost,
}

export function isLoopbackOrUnspecified(address: number): boolean {
  return address >>> 24 === 127 || address === 0;
}

/**
 * 255.255.255.255, the guest network's broadcast, multicast and class E: never forwarded through us
 * (no amplification) and never answered with an ICMP error (RFC 1122 §3.2.2).
 */
export function isBroadcastOrMulticast(config: NetworkConfig, address: number): boolean {
  // IPv6 multicast never reaches the transports (the Stack drops it on input).
  if (isIpv6Handle(address)) return false;
  return address === 0xffffffff || address === ipv4Broadcast(config.ipv4) || address >>> 28 >= 0xe;
}

/** What an IPv6 destination is, for the rules above. */
const enum Ipv6Kind {
  Gateway,
  Dns,
  /** ::1, ::, ::ffff:127.0.0.0/104. */
  Loopback,
  /** The rest of the prefix, link-local, multicast: nobody on the host side. */
  NoHost,
  Elsewhere,
}

export class HostAddressMap {
  private readonly scratch = new Uint8Array(16);
  /** fd00::2 as a handle (the Stack's), held for the map's life; -1 without IPv6. */
  private readonly gateway6: number = -1;

  constructor(
    private readonly config: NetworkConfig,
    private readonly dnsUpstream: DnsUpstream = () => undefined,
    /** The stack's addresses (Stack.addresses): needed for IPv6 destinations and peers. */
    private readonly addresses?: IpAddresses,
  ) {
    if (addresses !== undefined && config.ipv6 !== undefined) this.gateway6 = addresses.intern6(config.ipv6.gateway, 0);
  }

  /**
   * The host endpoint for a guest flow to destination:port, or undefined when it must be refused
   * (refusal() says why).
   */
  toHost(destination: number, port: number): HostEndpoint | undefined {
    const config = this.config;
    if (isIpv6Handle(destination)) {
      switch (this.ipv6Kind(destination)) {
        case Ipv6Kind.Dns:
          if (port !== 53 || config.disableDns) return undefined;
          return this.dnsUpstream();
        case Ipv6Kind.Gateway:
          return config.disableHostLoopback ? undefined : { address: '::1', port };
        case Ipv6Kind.Loopback:
          return config.disableHostLoopback ? undefined : { address: formatIpv6(this.scratch), port };
        case Ipv6Kind.NoHost:
          return undefined;
        default:
          return { address: formatIpv6(this.scratch), port };
      }
    }
    if (destination === config.ipv4.dns) {
      if (port !== 53 || config.disableDns) return undefined;
      return this.dnsUpstream();
    }
    if (destination === config.ipv4.gateway || destination === 0xffffffff) {
      return config.disableHostLoopback ? undefined : { address: '127.0.0.1', port };
    }
    if (isLoopbackOrUnspecified(destination)) {
      return config.disableHostLoopback ? undefined : { address: formatIpv4(destination), port };
    }
    // Other addresses inside the virtual network have no host behind them.
    if (inIpv4Prefix(config.ipv4, destination)) return undefined;
    // Multicast and class E are not forwarded.
    if (destination >>> 28 >= 0xe) return undefined;
    return { address: formatIpv4(destination), port };
  }

  /** Why toHost(destination, port) gave undefined (only meaningful then). */
  refusal(destination: number): Refusal {
    const config = this.config;
    if (isIpv6Handle(destination)) {
      const kind = this.ipv6Kind(destination);
      if (kind === Ipv6Kind.Dns) return config.disableDns ? Refusal.DnsDisabled : Refusal.NoService;
      if (kind === Ipv6Kind.Gateway || kind === Ipv6Kind.Loopback) return Refusal.LoopbackBlocked;
      return Refusal.NoHost;
    }
    if (destination === config.ipv4.dns) return config.disableDns ? Refusal.DnsDisabled : Refusal.NoService;
    if (destination === config.ipv4.gateway || destination === 0xffffffff || isLoopbackOrUnspecified(destination)) return Refusal.LoopbackBlocked;
    return Refusal.NoHost;
  }

  /**
   * The guest-visible source for a host peer address (see guestVisibleAddress), IPv6 peers included
   * (with -6): an IPv6 result is a handle held once, which the caller releases (Stack.addresses).
   */
  toGuest(hostAddress: string): number | undefined {
    const ipv4 = guestVisibleAddress(this.config, hostAddress);
    if (ipv4 !== undefined || this.gateway6 < 0) return ipv4;
    const addresses = this.addresses!;
    const v6 = this.config.ipv6!;
    const b = this.scratch;
    if (!parseIpv6Into(hostAddress, b, 0, true)) return undefined;
    if (isIpv6Loopback(b, 0) || isIpv6Unspecified(b, 0) || isIpv6LinkLocal(b, 0) || ipv6PrefixMatch(b, 0, v6.prefix, 0, v6.prefixLength)) {
      addresses.retain(this.gateway6);
      return this.gateway6;
    }
    const handle = addresses.intern6(b, 0);
    return handle < 0 ? undefined : handle;
  }

  /** Classifies an IPv6 destination handle; leaves its bytes in scratch. */
  private ipv6Kind(handle: number): Ipv6Kind {
    const v6 = this.config.ipv6;
    if (v6 === undefined || this.addresses === undefined) return Ipv6Kind.NoHost;
    const b = this.scratch;
    this.addresses.write6(handle, b, 0);
    if (ipv6PrefixMatch(b, 0, v6.prefix, 0, v6.prefixLength)) {
      if (ipv6PrefixMatch(b, 0, v6.gateway, 0, 128)) return Ipv6Kind.Gateway;
      if (ipv6PrefixMatch(b, 0, v6.dns, 0, 128)) return Ipv6Kind.Dns;
      return Ipv6Kind.NoHost;
    }
    if (isIpv6Loopback(b, 0) || isIpv6Unspecified(b, 0)) return Ipv6Kind.Loopback;
    if (isIpv4MappedIpv6(b, 0)) {
      const ipv4 = ipv4OfMappedIpv6(b, 0);
      if (isLoopbackOrUnspecified(ipv4)) return Ipv6Kind.Loopback;
    }
    if (isIpv6LinkLocal(b, 0) || isIpv6Multicast(b, 0)) return Ipv6Kind.NoHost;
    return Ipv6Kind.Elsewhere;
  }
}

/**
 * The one rule for how a host peer (numeric text as Node reports it) appears to the guest, used by
 * the engines for replies and by published ports for clients: its own IPv4 address (IPv4-mapped IPv6
 * included); the gateway for loopback and unspecified peers (the host itself) and for addresses inside
 * the guest network (the guest would look for those on its own link, where nothing answers for
 * them); undefined for an IPv6 peer (the guest network has no IPv6 yet).
 */
export function guestVisibleAddress(config: NetworkConfig, hostAddress: string): number | undefined {
  const address = parseIpv4OrMapped(hostAddress);
  if (address === undefined) return undefined;
  if (isLoopbackOrUnspecified(address) || inIpv4Prefix(config.ipv4, address)) return config.ipv4.gateway;
  return address;
}
