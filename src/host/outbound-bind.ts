/**
 * `--outbound-addr` / `--outbound-addr6`: the local address host sockets bind to before they connect
 * (TCP) or send (UDP) on the guest's behalf. The CLI resolves an interface name to its first address
 * of the family at start-up (checkHostEnvironment), so only numeric addresses reach the host ports.
 *
 * The TCP and UDP host ports call outboundLocalAddress() with the destination they are about to use
 * and pass the result as `localAddress` (net.connect) or as the bind address (dgram). Loopback
 * destinations (the gateway alias, DNS on 127.0.0.53) are left unbound: a socket bound to an external
 * address cannot reach 127.0.0.1, and slirp4netns does not bind those either.
 */
import { isIP } from 'node:net';

export interface OutboundBind {
  readonly ipv4: string | undefined;
  readonly ipv6: string | undefined;
}

export const NO_OUTBOUND_BIND: OutboundBind = Object.freeze({ ipv4: undefined, ipv6: undefined });

function isLoopback(address: string): boolean {
  return address.startsWith('127.') || address === '::1' || address.toLowerCase().startsWith('::ffff:127.');
}

/** The address to bind to for a host socket towards destination, or undefined to let the kernel choose. */
export function outboundLocalAddress(bind: OutboundBind, destination: string): string | undefined {
  if (isLoopback(destination)) return undefined;
  const family = isIP(destination);
  if (family === 4) return bind.ipv4;
  if (family === 6) return bind.ipv6;
  return undefined;
}
