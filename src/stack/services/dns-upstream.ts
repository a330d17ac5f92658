/**
 * Where the DNS forwarder sends the guest's queries: the engine side of the DNS address (10.0.2.3).
 * The UDP and TCP engines relay the guest's packets to 10.0.2.3:53 (UDP and TCP) to the endpoint the
 * DnsUpstream returns and relay the answers back unchanged (HostAddressMap applies the rules: a
 * resolver on loopback is reached even under --disable-host-loopback, through 10.0.2.3:53 only).
 *
 * Precedence: --disable-dns leads nowhere (10.0.2.3 gets no answer); explicit upstreams
 * (--dns-upstream, the library's option) come next, the first one used; otherwise the fallback (the host's resolv.conf, read by
 * src/host/resolv-conf.ts), asked on every new flow so a changed file takes effect at once.
 * Knows no files and no sockets: the host side is passed in.
 */
import type { NetworkConfig } from '../config.js';
import type { DnsUpstream, HostEndpoint } from '../host-address-map.js';

export interface DnsUpstreamOptions {
  readonly config: Pick<NetworkConfig, 'disableDns'>;
  /** Explicit resolvers; the first is used. Empty or absent: the fallback. */
  readonly upstreams?: readonly HostEndpoint[];
  /** Consulted when no explicit upstream is given (e.g. ResolvConfReader.current). */
  readonly fallback?: DnsUpstream;
}

export function createDnsUpstream(options: DnsUpstreamOptions): DnsUpstream {
  if (options.config.disableDns) return () => undefined;
  const explicit = options.upstreams?.[0];
  if (explicit !== undefined) {
    const fixed: HostEndpoint = Object.freeze({ address: explicit.address, port: explicit.port });
    return () => fixed;
  }
  return options.fallback ?? (() => undefined);
}
