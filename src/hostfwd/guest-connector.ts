/**
 * What the published-port table needs from the engines, and nothing more: open a TCP flow into the
 * guest for an accepted host socket, send a UDP datagram into the guest from any source, and see the
 * guest's UDP replies before the UDP engine forwards them to the host (UdpService in
 * src/stack/udp/udp-service.ts). The TCP and UDP engines satisfy these; hostfwd never sees a packet.
 *
 * Addresses are the engine's numbers (src/stack/address-table.ts): an IPv4 address is its uint32,
 * an IPv6 one a handle of the engine's address table, which `addresses` turns text into (held) and
 * back. An address passed to the engine is held by the caller for the call; the engine retains what
 * it keeps (a flow, a binding). Ports are numbers.
 */
import { closeSync } from 'node:fs';
import type { Server, Socket } from 'node:net';
import type { UdpGuestSender, UdpService } from '../stack/udp/udp-service.js';

export interface GuestTcpOpen {
  /**
   * The accepted host connection: a net.Socket, paused (accepted with pauseOnConnect), or the
   * descriptor of one accepted by the connector's own listener (acceptClients). From this call on
   * the engine owns it: it resumes it once the guest answered the SYN, relays bytes both ways with
   * backpressure, mirrors FIN/RST, and closes it if the guest refuses (RST), times out, or the flow
   * table is full.
   */
  readonly client: Socket | number;
  /** Guest-visible source (guest-source.ts): the client's real address, or the gateway of the destination's family. */
  readonly source: number;
  readonly sourcePort: number;
  readonly destination: number;
  readonly destinationPort: number;
}

/** Ends an accepted client nobody took (GuestTcpOpen.client): destroys the socket, or closes the descriptor. */
export function endTcpClient(client: Socket | number): void {
  if (typeof client !== 'number') {
    client.destroy();
    return;
  }
  try {
    closeSync(client);
  } catch {
    // Closed already: nothing to end.
  }
}

/** The TCP engine's side: `openToGuest` sends the SYN from source:sourcePort to destination:destinationPort. */
export interface GuestTcpConnector {
  openToGuest(open: GuestTcpOpen): void;
}

/** The UDP engine's side: send into the guest from any source, and offer guest datagrams to services first. */
export interface GuestUdpPort extends UdpGuestSender {
  /** Registers a service that sees every guest datagram before it is forwarded; returns its removal. */
  addUdpService(service: UdpService): () => void;
}

/** The engine's address numbers for both families (the Stack's IpAddresses satisfies it). */
export interface GuestAddresses {
  /** Numeric text of either family as an engine address, held once; -1 when not an address or the table is full. */
  parse(text: string): number;
  retain(address: number): void;
  release(address: number): void;
  /** Text of either family (allocates: logs, listings). */
  format(address: number): string;
}

/**
 * Takes over a listening server's socket and accepts its clients itself (no net.Socket per client):
 * each arrives as onClient(descriptor, address text, port). The server is closed (its socket lives
 * on); the answer stops accepting and closes the socket. Undefined when it cannot (the server's
 * 'connection' events serve then).
 */
export type TcpClientAcceptor = (server: Server, onClient: (fd: number, address: string, port: number) => void) => (() => void) | undefined;

export interface GuestConnector {
  readonly tcp: GuestTcpConnector;
  /** Accepts published ports' TCP clients natively where it can; absent: Node's accepting. */
  readonly acceptClients?: TcpClientAcceptor;
  readonly udp: GuestUdpPort;
  readonly addresses: GuestAddresses;
  /** fd00::2 as the engine's address (held by the engine for its life), -1 while IPv6 is off. */
  readonly ipv6Gateway: number;
}

export type { UdpService, UdpGuestSender };
