/**
 * HostUdpPort on Node's dgram.
 *
 * Linux reports ICMP port unreachable (ECONNREFUSED) only on connected UDP sockets, and disconnecting
 * an auto-bound socket gives up its port. So a binding starts with one socket bound to an ephemeral
 * port P (SO_REUSEADDR) and connected to its first destination; when the guest sends to a second
 * destination, a second socket is bound to the same P (SO_REUSEADDR) unconnected, and carries every
 * other destination. The kernel delivers the first destination's datagrams (and its ICMP errors) to
 * the connected socket and everyone else's to the unconnected one, so the guest's port keeps one host
 * port whatever it talks to, replies from any peer are heard once the binding has talked to two
 * destinations, and ECONNREFUSED works for the common single-destination case (DNS, echo, NTP).
 * While only connected, a peer answering from another address is not heard (the kernel filters).
 *
 * The family (udp4/udp6) follows the first destination; datagrams to the other family are refused
 * with EAFNOSUPPORT (the engine opens a separate socket for an IPv6 upstream).
 */
import dgram from 'node:dgram';
import { isIP } from 'node:net';
import type { HostEndpoint } from '../stack/host-address-map.js';
import type { HostUdpPort, HostUdpSocket, HostUdpSocketEvents } from '../stack/udp/host-udp-port.js';
import { NO_OUTBOUND_BIND, outboundLocalAddress, type OutboundBind } from './outbound-bind.js';

/** Datagrams queued while a socket binds/connects (a burst from the guest before the callback). */
const MAX_QUEUED = 256;

const enum State {
  New,
  /** The connected socket is binding/connecting. */
  Connecting,
  Connected,
  /** The second (unconnected) socket is binding. */
  Widening,
  Wide,
  Closed,
}

function errorCode(err: unknown): string {
  return (err as NodeJS.ErrnoException | null)?.code ?? 'EIO';
}

class NodeUdpSocket implements HostUdpSocket {
  private connected: dgram.Socket | undefined;
  private unconnected: dgram.Socket | undefined;
  private state = State.New;
  private family = 0;
  private target: HostEndpoint | undefined;
  /** What the connected socket was bound to (the outbound address, else the unspecified one). */
  private bindAddress = '';
  private queue: { data: Uint8Array; endpoint: HostEndpoint }[] = [];

  constructor(
    private readonly bind: OutboundBind,
    private readonly events: HostUdpSocketEvents,
  ) {}

  send(payload: Uint8Array, endpoint: HostEndpoint): void {
    // payload is lent only for this call; dgram may hold a buffer until the socket is bound/writable.
    this.sendOwned(Buffer.from(payload), endpoint);
  }

  close(): void {
    if (this.state === State.Closed) return;
    this.state = State.Closed;
    this.queue = [];
    for (const socket of [this.connected, this.unconnected]) {
      try {
        socket?.close();
      } catch {
        // already closed
      }
    }
  }

  private sendOwned(data: Uint8Array, endpoint: HostEndpoint): void {
    switch (this.state) {
      case State.Closed:
        return;
      case State.New:
        this.start(data, endpoint);
        return;
      case State.Connecting:
      case State.Widening:
        if (this.queue.length < MAX_QUEUED) this.queue.push({ data, endpoint });
        return;
      case State.Connected:
      case State.Wide:
        if (endpoint.port === this.target!.port && endpoint.address === this.target!.address) {
          this.connected!.send(data, this.onSentToTarget);
        } else if (this.state === State.Wide) {
          this.sendUnconnected(data, endpoint);
        } else {
          this.widen(data, endpoint);
        }
        return;
    }
  }

  private createSocket(): dgram.Socket {
    const socket = dgram.createSocket({ type: this.family === 6 ? 'udp6' : 'udp4', reuseAddr: true });
    socket.on('message', (msg, rinfo) => {
      if (this.state !== State.Closed) this.events.onMessage(msg, rinfo.address, rinfo.port);
    });
    return socket;
  }

  private start(data: Uint8Array, endpoint: HostEndpoint): void {
    const family = isIP(endpoint.address);
    if (family === 0) {
      this.events.onError('EINVAL', endpoint);
      return;
    }
    this.family = family;
    const socket = this.createSocket();
    this.connected = socket;
    // ECONNREFUSED arrives here (from recvmsg) on the connected socket: the refused peer is the target.
    socket.on('error', (err) => {
      if (this.state !== State.Closed) this.events.onError(errorCode(err), this.target);
    });
    this.state = State.Connecting;
    this.target = endpoint;
    this.queue.push({ data, endpoint });
    const local = outboundLocalAddress(this.bind, endpoint.address);
    this.bindAddress = local ?? (family === 6 ? '::' : '0.0.0.0');
    socket.bind({ port: 0, address: local }, () => {
      if (this.state === State.Closed) return;
      socket.connect(endpoint.port, endpoint.address, (err?: Error) => {
        if (this.state === State.Closed) return;
        if (err) {
          this.events.onError(errorCode(err), endpoint);
          return;
        }
        this.state = State.Connected;
        this.drain();
      });
    });
  }

  /**
   * Binds the second, unconnected socket to the connected one's port and to the address that one
   * was bound to: not to its address now, which connect() narrowed to the source it chose (127.0.0.1
   * for a loopback target, from where no other network is reachable: EINVAL).
   */
  private widen(data: Uint8Array, endpoint: HostEndpoint): void {
    const port = this.connected!.address().port;
    const address = this.bindAddress;
    const socket = this.createSocket();
    this.unconnected = socket;
    socket.on('error', (err) => {
      if (this.state !== State.Closed) this.events.onError(errorCode(err), undefined);
    });
    this.state = State.Widening;
    this.queue.push({ data, endpoint });
    socket.bind({ port, address }, () => {
      if (this.state === State.Closed) return;
      this.state = State.Wide;
      this.drain();
    });
  }

  private drain(): void {
    const queued = this.queue;
    this.queue = [];
    for (const q of queued) this.sendOwned(q.data, q.endpoint);
  }

  private sendUnconnected(data: Uint8Array, endpoint: HostEndpoint): void {
    if (isIP(endpoint.address) !== this.family) {
      this.events.onError('EAFNOSUPPORT', endpoint);
      return;
    }
    this.unconnected!.send(data, endpoint.port, endpoint.address, (err) => {
      if (err && this.state !== State.Closed) this.events.onError(errorCode(err), endpoint);
    });
  }

  private readonly onSentToTarget = (err: Error | null): void => {
    if (err && this.state !== State.Closed) this.events.onError(errorCode(err), this.target);
  };
}

export class NodeUdpPort implements HostUdpPort {
  constructor(private readonly bind: OutboundBind = NO_OUTBOUND_BIND) {}

  open(events: HostUdpSocketEvents): HostUdpSocket {
    return new NodeUdpSocket(this.bind, events);
  }
}
