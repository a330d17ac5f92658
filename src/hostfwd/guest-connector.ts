/**
 * What the published-port table needs from the engines, and nothing more: open a TCP flow into the
 * guest for an accepted host socket, send a UDP datagram into the guest from any source, and see the
 * guest's UDP replies before the UDP engine forwards them to the host (UdpService in
 * src/stack/udp/udp-service.ts). The TCP and UDP engines satisfy these; hostfwd never sees a packet.
 *
 * Addresses are guest-visible IPv4 addresses as uint32 (host order); ports are numbers.
 */
import type { Socket } from 'node:net';
import type { UdpGuestSender, UdpService } from '../stack/udp/udp-service.js';

export interface GuestTcpOpen {
  /**
   * The accepted host connection, paused (accepted with pauseOnConnect). From this call on the engine
   * owns it: it resumes it once the guest answered the SYN, relays bytes both ways with backpressure,
   * mirrors FIN/RST, and destroys it if the guest refuses (RST), times out, or the flow table is full.
   */
  readonly socket: Socket;
  /** Guest-visible source: the client's real address, or the gateway for loopback/unspecified clients. */
  readonly source: number;
  readonly sourcePort: number;
  readonly destination: number;
  readonly destinationPort: number;
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

export interface GuestConnector {
  readonly tcp: GuestTcpConnector;
  readonly udp: GuestUdpPort;
}

export type { UdpService, UdpGuestSender };
