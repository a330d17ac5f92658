/**
 * HostIcmpPort on the host: the native addon opens the unprivileged echo socket (Node cannot) and
 * Node's dgram does its I/O (bind({ fd }) adopts the datagram fd; libuv polls it like any UDP socket).
 * Sends go to the destination with port 1 (dgram refuses 0; the kernel ignores the port of an echo
 * socket); received messages are whole ICMP messages without the IP header.
 *
 * Family 6 opens an ICMPv6 echo socket (IPPROTO_ICMPV6, same ping_group_range rule) adopted by a
 * udp6 dgram socket: messages are ICMPv6 (echo request 128 / reply 129), the kernel fills the
 * identifier and the checksum (over its pseudo-header) as it does for IPv4.
 */
import dgram from 'node:dgram';
import { constants } from 'node:os';
import { loadNativeAddon, type NativeAddon } from '../native/native-addon.js';
import type { HostIcmpPort, HostIcmpSocket, HostIcmpSocketEvents } from '../stack/host-icmp-port.js';

/** The part of the addon this port uses (tests may pass a fake). */
export type IcmpAddon = Pick<NativeAddon, 'icmpSocketOpen'>;

function errnoName(errno: number): string {
  for (const [name, value] of Object.entries(constants.errno)) if (value === errno) return name;
  return `errno ${errno}`;
}

class NodeIcmpSocket implements HostIcmpSocket {
  private closed = false;
  constructor(private readonly socket: dgram.Socket) {}

  send(message: Uint8Array, address: string): void {
    if (this.closed) return;
    // Copied: the message is a view into the link's batch buffer, which is reused after this call.
    this.socket.send(Buffer.from(message), 1, address, () => undefined);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.socket.close();
    } catch {
      // already closed
    }
  }
}

export class NodeIcmpPort implements HostIcmpPort {
  private open_: ((family: 4 | 6) => number) | undefined;

  /** addon: for tests; by default the native addon, loaded on the first echo request (not at start-up). */
  constructor(private readonly addon?: IcmpAddon) {}

  private opener(): (family: 4 | 6) => number {
    if (this.open_ !== undefined) return this.open_;
    let addon: IcmpAddon | undefined = this.addon;
    try {
      addon ??= loadNativeAddon();
    } catch {
      // No addon (a library user who never built it): echo requests are refused as unsupported.
      this.open_ = () => -constants.errno.ENOSYS;
      return this.open_;
    }
    const opener = addon;
    this.open_ = (family) => opener.icmpSocketOpen(family);
    return this.open_;
  }

  /** family: of the destinations the socket will echo to (the engine opens one per family). */
  open(events: HostIcmpSocketEvents, family: 4 | 6 = 4): HostIcmpSocket | string {
    const fd = this.opener()(family);
    if (fd < 0) return errnoName(-fd);
    const socket = dgram.createSocket(family === 6 ? 'udp6' : 'udp4');
    socket.on('message', (message, remote) => events.onMessage(message, remote.address));
    socket.on('error', () => undefined); // errors of echo sockets carry nothing the guest can use
    socket.bind({ fd });
    return new NodeIcmpSocket(socket);
  }
}
