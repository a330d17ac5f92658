/**
 * The ICMP forwarder's view of a host echo ("ping") socket: socket(AF_INET, SOCK_DGRAM,
 * IPPROTO_ICMP), which needs no privilege when the caller's group is inside
 * net.ipv4.ping_group_range. The host kernel owns the echo identifier of such a socket (it rewrites
 * it on send and matches replies by it), so the engine opens one socket per guest (address,
 * identifier) and restores the guest's identifier on replies. src/host/node-icmp-port.ts implements
 * it (native socket, Node dgram for I/O); tests use a fake.
 */

export interface HostIcmpSocketEvents {
  /** An ICMP message for this socket (an echo reply, identifier as the host kernel set it). Ours from then on. */
  onMessage(message: Uint8Array, address: string): void;
}

export interface HostIcmpSocket {
  /** Sends an ICMP message (header + data; the kernel fills identifier and checksum). Copies if it queues. */
  send(message: Uint8Array, address: string): void;
  /** Idempotent; no event follows. */
  close(): void;
}

export interface HostIcmpPort {
  /** Opens an echo socket, or returns the errno name when the host refuses one ("EACCES": ping_group_range). */
  /** family: of the destinations it will echo to (4 when absent); one socket per family. */
  open(events: HostIcmpSocketEvents, family?: 4 | 6): HostIcmpSocket | string;
}
