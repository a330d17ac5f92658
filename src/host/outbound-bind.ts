/**
 * `--outbound-addr` / `--outbound-addr6`: the local address host sockets bind to before they connect
 * (TCP) or send (UDP) on the guest's behalf. The CLI resolves an interface name to its first address
 * of the family at start-up (checkHostEnvironment), so only numeric addresses reach the host ports.
 *
 * The TCP and UDP host ports call outboundLocalAddress() with the destination they are about to use
 * and pass the result as `localAddress` (net.connect) or as the bind address (dgram). Every
 * destination of the family is bound, host loopback included (the gateway alias, a resolver on
 * 127.0.0.53), as slirp4netns binds every outbound socket (libslirp's slirp_bind_outbound): on Linux
 * a socket bound to any local address reaches 127.0.0.1, and the peer sees that address.
 */
import { isIP } from 'node:net';

export interface OutboundBind {
  readonly ipv4: string | undefined;
  readonly ipv6: string | undefined;
}

export const NO_OUTBOUND_BIND: OutboundBind = Object.freeze({ ipv4: undefined, ipv6: undefined });

/** The address to bind to for a host socket towards destination, or undefined to let the kernel choose. */
export function outboundLocalAddress(bind: OutboundBind, destination: string): string | undefined {
  // Without --outbound-addr (the usual case) no family test: isIP is a RegExp run per connection.
  if (bind.ipv4 === undefined && bind.ipv6 === undefined) return undefined;
  const family = isIP(destination);
  if (family === 4) return bind.ipv4;
  if (family === 6) return destination.toLowerCase().startsWith('::ffff:') ? undefined : bind.ipv6;
  return undefined;
}
