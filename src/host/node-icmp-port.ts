/**
 * HostIcmpPort on the host: the native addon opens the unprivileged echo socket (Node cannot) and
 * Node's dgram does its I/O (bind({ fd }) adopts the datagram fd; libuv polls it like any UDP socket).
 * Sends go to the destination with port 1 (dgram refuses 0; the kernel ignores the port of an echo
 * socket); received messages are whole ICMP messages without the IP header.
 */
import dgram from 'node:dgram';
import { constants } from 'node:os';
import { loadNativeAddon } from '../link/tap-native.js';
import type { HostIcmpPort, HostIcmpSocket, HostIcmpSocketEvents } from '../stack/host-icmp-port.js';

type IcmpAddon = { icmpSocketOpen?: () => number };

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
  private open_: (() => number) | undefined;

  /** addon: for tests; by default the native addon, loaded on the first echo request (not at start-up). */
  constructor(private readonly addon?: IcmpAddon) {}

  private opener(): () => number {
    if (this.open_ !== undefined) return this.open_;
    let addon: IcmpAddon | undefined = this.addon;
    try {
      addon ??= loadNativeAddon() as unknown as IcmpAddon;
    } catch {
      addon = {};
    }
    const open = addon.icmpSocketOpen;
    this.open_ = typeof open === 'function' ? open : () => -constants.errno.ENOSYS;
    return this.open_;
  }

  open(events: HostIcmpSocketEvents): HostIcmpSocket | string {
    const fd = this.opener()();
    if (fd < 0) return errnoName(-fd);
    const socket = dgram.createSocket('udp4');
    socket.on('message', (message, remote) => events.onMessage(message, remote.address));
    socket.on('error', () => undefined); // errors of echo sockets carry nothing the guest can use
    socket.bind({ fd });
    return new NodeIcmpSocket(socket);
  }
}
