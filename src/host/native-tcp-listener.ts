/**
 * Published ports' TCP clients accepted natively (native/tcp_listener.c) instead of by a net.Server:
 * the server listens (its address, options and errors are Node's), then its socket is duplicated,
 * the server closed, and the duplicate polled by the addon, which accepts each client and hands over
 * its descriptor, address and port. A net.Server made a handle wrap and a net.Socket per client only
 * for the engine to duplicate its descriptor and destroy both (adoptSocketNatively): a share of every
 * published connection's CPU. Runs only before the event loop has polled the new server (right after
 * its listen callback), so no client was accepted by Node meanwhile.
 */
import type { Server } from 'node:net';
import { loadNativeAddon } from '../native/native-addon.js';

/**
 * Takes over server's accepting (hostfwd's TcpClientAcceptor): answers the function that stops it
 * and closes the socket, or undefined (Node's accepting serves) when there is no descriptor to take.
 */
export function acceptClientsNatively(server: Server, onClient: (fd: number, address: string, port: number) => void): (() => void) | undefined {
  const addon = loadNativeAddon();
  const fd = (server as unknown as { _handle?: { fd?: unknown } | null })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) return undefined;
  const own = addon.socketDup(fd);
  if (own < 0) return undefined;
  server.close(); // closes its descriptor only: the listening socket lives on in ours
  const listener = addon.tcpListenerStart(own, onClient);
  return () => addon.tcpListenerStop(listener);
}
