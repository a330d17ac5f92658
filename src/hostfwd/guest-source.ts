/**
 * Who a published port's client is to the guest (libslirp's rule, carried over to IPv6): the
 * client's own address where the guest can answer it, else the gateway of the forward's family.
 *
 * - Forward to an IPv4 guest address: guestVisibleAddress (src/stack/host-address-map.ts): the
 *   client's IPv4 address (an IPv4-mapped one, ::ffff:a.b.c.d, as a.b.c.d); 10.0.2.2 for loopback,
 *   unspecified and virtual-network clients, and for IPv6 clients (they have no IPv4 address).
 * - Forward to an IPv6 guest address: the client's IPv6 address; fd00::2 for loopback (::1 and
 *   ::ffff:127.0.0.0/104), unspecified, link-local (its zone is the host's link, not the guest's),
 *   multicast and guest-prefix clients, and for IPv4 clients (an IPv4-mapped source would be
 *   dropped by the guest's kernel as a martian, RFC 4291 §2.5.5.2).
 *
 * Answers a held engine address (the caller releases it), or -1 when the engine's IPv6 address
 * table is full (the caller refuses the client). Never throws on a client's address.
 */
import type { NetworkConfig } from '../stack/config.js';
import { guestVisibleAddress } from '../stack/host-address-map.js';
import { parseIpv4OrMapped } from '../wire/ip-address.js';
import { ipv6PrefixMatch, isIpv6LinkLocal, isIpv6Loopback, isIpv6Multicast, isIpv6Unspecified, parseIpv6 } from '../wire/ipv6-address.js';
import type { GuestAddresses } from './guest-connector.js';

export interface GuestSourceContext {
  readonly config: NetworkConfig;
  readonly addresses: GuestAddresses;
  /** fd00::2 as the engine's address (-1 while IPv6 is off). */
  readonly ipv6Gateway: number;
}

/** The guest-visible source for an IPv4 guest (not held: IPv4 addresses need no holding). */
export function ipv4GuestSource(config: NetworkConfig, clientAddress: string | undefined): number {
  if (clientAddress === undefined) return config.ipv4.gateway;
  return guestVisibleAddress(config, clientAddress) ?? config.ipv4.gateway;
}

/** The guest-visible source for a client of a forward to guest (an engine address), held once. */
export function heldGuestSource(context: GuestSourceContext, guestIsIpv6: boolean, clientAddress: string | undefined): number {
  if (!guestIsIpv6) return ipv4GuestSource(context.config, clientAddress);
  const gateway = (): number => {
    context.addresses.retain(context.ipv6Gateway);
    return context.ipv6Gateway;
  };
  const v6 = context.config.ipv6;
  if (clientAddress === undefined || v6 === undefined || parseIpv4OrMapped(clientAddress) !== undefined) return gateway();
  const bytes = parseIpv6(clientAddress, true);
  if (bytes === undefined) return gateway();
  if (isIpv6Loopback(bytes, 0) || isIpv6Unspecified(bytes, 0) || isIpv6LinkLocal(bytes, 0) || isIpv6Multicast(bytes, 0)) return gateway();
  if (ipv6PrefixMatch(bytes, 0, v6.prefix, 0, v6.prefixLength)) return gateway();
  return context.addresses.parse(clientAddress);
}
