/**
 * Services the engine itself provides over UDP (DHCP server, anything addressed to our own
 * addresses) plug into the UDP engine through this port. The UDP engine offers each datagram from the
 * guest to its services first; a service that takes it returns true and it is not forwarded to the host.
 */

/** Sends a UDP datagram to the guest (the UDP engine builds the headers, checksum, fragments if needed). */
export interface UdpGuestSender {
  sendToGuest(source: number, sourcePort: number, destination: number, destinationPort: number, payload: Uint8Array): void;
}

export interface UdpService {
  /**
   * Offered every datagram from the guest. payload is a view valid only during the call.
   * Returns true when the service took it (answered, or dropped it as malformed and counted that).
   */
  receiveUdp(source: number, sourcePort: number, destination: number, destinationPort: number, payload: Uint8Array): boolean;
}
