/**
 * The UDP engine's view of a host datagram socket. The engine declares what it needs; src/host/
 * implements it with Node's dgram (src/host/node-udp-port.ts). Nothing here knows Node: packet-level
 * tests drive the engine with a fake.
 */
import type { HostEndpoint } from '../host-address-map.js';

/** Events from one host socket, delivered to the binding that owns it. */
export interface HostUdpSocketEvents {
  /**
   * A datagram from a host peer (address is numeric text: "127.0.0.1", or "::ffff:…"). payload is
   * the engine's from then on (it may be sent to the guest without a copy).
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
