/**
 * The UDP engine's view of a host datagram socket. The engine declares what it needs; src/host/
 * implements it with the addon's sockets (src/host/native-udp-port.ts) or, where the addon cannot be
 * loaded, Node's dgram (src/host/node-udp-port.ts). Nothing here knows Node: packet-level
 * tests drive the engine with a fake.
 */
import type { HostEndpoint } from '../host-address-map.js';

/** Events from one host socket, delivered to the binding that owns it. */
export interface HostUdpSocketEvents {
  /**
   * A datagram from a host peer (address is numeric text: "127.0.0.1", or "::ffff:…"). payload is
   * valid only during the call (NativeUdpPort reads every datagram into one shared area): the
   * engine sends it to the guest within the call, and links take what they need during transmit().
   */
  onMessage(payload: Uint8Array, address: string, port: number): void;
  /**
   * The host reported an error for datagrams this socket sent. code is the errno name
   * ("ECONNREFUSED", "EHOSTUNREACH", …); destination, when the platform tells, is the host endpoint
   * the failed datagram was sent to (else the engine assumes its latest destination).
   */
  onError(code: string, destination?: HostEndpoint): void;
}

export interface HostUdpSocket {
  /** Sends one datagram. payload is valid only during the call: an implementation that queues copies. */
  send(payload: Uint8Array, destination: HostEndpoint): void;
  /** Closes the socket; no event follows. Idempotent. */
  close(): void;
}

export interface HostUdpPort {
  /**
   * Opens a socket on an ephemeral port. The engine sends through one socket only to destinations
   * of one family (it opens a second socket for an IPv6 upstream). Never throws: a failure to open
   * surfaces as onError.
   */
  open(events: HostUdpSocketEvents): HostUdpSocket;
}
