/**
 * Published ports (slirp4netns `add_hostfwd`): listen on the host at exactly host_addr:host_port
 * (IPv4 or IPv6; an IPv6 listener takes IPv6 clients only) and carry each client into the guest
 * **from the client's real address and port** (libslirp's rule), except where the guest could not
 * answer that address: loopback and unspecified clients appear as the gateway, 10.0.2.2 or fd00::2
 * by the guest address's family (guest-source.ts has the whole rule). The guest address is the
 * guest's IPv4 address or, with IPv6 on, an IPv6 address in its prefix (beyond slirp4netns).
 *
 * Engine addresses (IPv6 handles) are held while used: a forward's guest address for the forward's
 * life, a UDP mapping's source for the mapping's, a TCP client's source for the openToGuest call.
 *
 * TCP: a net.Server listens; its clients are accepted by the connector (acceptClients: natively, as
 * descriptors) where it can, else as the server's paused sockets; each is handed to the TCP engine's
 * openToGuest.
 * UDP: one dgram socket per forward; each client address gets a mapping to a guest-visible source
 * (its own address and port where free) that lives while it is used and expires after idleMs of
 * silence; guest replies to that source go back out of the same host socket to the client.
 *
 * remove(): a TCP forward stops accepting and open connections continue (their sockets belong to the
 * engine); a UDP forward closes its socket, and its mappings with it (a reply could not leave from
 * any other host port anyway). Must never throw on a client's input.
 */
import { createSocket, type Socket as DgramSocket, type RemoteInfo } from 'node:dgram';
import { isIP, createServer, type Server, type Socket } from 'node:net';
import type { Clock, TimerHandle } from '../stack/clock.js';
import { ipv6OwnMac, type NetworkConfig } from '../stack/config.js';
import { endpointKey, isIpv6Handle } from '../stack/address-table.js';
import { formatIpv4, parseIpv4 } from '../wire/ip-address.js';
import { formatIpv6, ipv6PrefixMatch, parseIpv6 } from '../wire/ipv6-address.js';
import { silentLogger, type Logger } from '../stack/logger.js';
import { endTcpClient, type GuestConnector, type UdpService } from './guest-connector.js';
import { heldGuestSource, type GuestSourceContext } from './guest-source.js';
import { HostfwdArgumentError, type HostfwdControl, type HostfwdEntry, type HostfwdRequest } from './hostfwd-control.js';

/** libslirp keeps an idle UDP socket for SO_EXPIRE = 240 s. */
export const DEFAULT_UDP_IDLE_MS = 240_000;
/** Bound on UDP client mappings per forward (DESIGN.md §6): a newcomer beyond it is dropped. */
export const DEFAULT_UDP_MAPPINGS = 4096;

export interface HostfwdTableOptions {
  readonly config: NetworkConfig;
  readonly connector: GuestConnector;
  readonly clock: Clock;
  readonly logger?: Logger;
  readonly udpIdleMs?: number;
  readonly udpMappingsPerForward?: number;
}

interface UdpMapping {
  readonly clientAddress: string;
  readonly clientPort: number;
  readonly source: number;
  readonly sourcePort: number;
  lastUsed: number;
}

abstract class Forward {
  constructor(
    readonly entry: HostfwdEntry,
    readonly guest: number,
  ) {}
  abstract close(): Promise<void>;
}

class TcpForward extends Forward {
  /** Set when the connector accepts the clients itself (the server is closed then): stops that. */
  stopAccepting: (() => void) | undefined;
  constructor(
    entry: HostfwdEntry,
    guest: number,
    private readonly server: Server,
  ) {
    super(entry, guest);
  }
  close(): Promise<void> {
    // Stops accepting; connections already handed to the engine are not ours to end. (close()'s
    // callback waits for them all, so do not wait for it: the listening fd is closed right away.)
    if (this.stopAccepting !== undefined) this.stopAccepting();
    else this.server.close();
    return new Promise((resolve) => setImmediate(resolve));
  }
}

class UdpForward extends Forward {
  /** By client "address|port" (host side). Each mapping holds its source (an engine address). */
  readonly byClient = new Map<string, UdpMapping>();
  /** By guest-visible source endpoint (endpointKey: numeric, either family). */
  readonly bySource = new Map<number, UdpMapping>();
  timer: TimerHandle | undefined;
  closed = false;
  constructor(
    entry: HostfwdEntry,
    guest: number,
    readonly socket: DgramSocket,
  ) {
    super(entry, guest);
  }
  close(): Promise<void> {
    this.closed = true;
    this.byClient.clear();
    this.bySource.clear();
    return new Promise((resolve) => {
      try {
        this.socket.close(() => resolve());
      } catch {
        resolve();
      }
    });
  }
}

export class HostfwdTable implements HostfwdControl {
  private readonly forwards: Forward[] = [];
  private nextId = 1;
  private readonly logger: Logger;
  private readonly udpIdleMs: number;
  private readonly udpMappingsPerForward: number;
  private readonly removeUdpService: () => void;
  private readonly sources: GuestSourceContext;
  private closed = false;
  /** Guest datagrams answering a UDP client go back out of the forward's host socket. */
  readonly udpService: UdpService = {
    receiveUdp: (source, sourcePort, destination, destinationPort, payload) => this.udpFromGuest(source, sourcePort, destination, destinationPort, payload),
  };

  constructor(private readonly options: HostfwdTableOptions) {
    this.logger = options.logger ?? silentLogger();
    this.udpIdleMs = options.udpIdleMs ?? DEFAULT_UDP_IDLE_MS;
    this.udpMappingsPerForward = options.udpMappingsPerForward ?? DEFAULT_UDP_MAPPINGS;
    this.removeUdpService = options.connector.udp.addUdpService(this.udpService);
    this.sources = { config: options.config, addresses: options.connector.addresses, ipv6Gateway: options.connector.ipv6Gateway };
  }

  list(): readonly HostfwdEntry[] {
    return this.forwards.map((f) => f.entry);
  }

  async add(request: HostfwdRequest): Promise<number> {
    if (this.closed) throw new Error('hostfwd table is closed');
    const family = isIP(request.hostAddr);
    if (family === 0) throw new HostfwdArgumentError('host_addr', `host address ${request.hostAddr} is not numeric`);
    if (!(request.hostPort >= 1 && request.hostPort <= 65535 && request.guestPort >= 1 && request.guestPort <= 65535)) {
      throw new Error('ports must be 1-65535');
    }
    const guest = this.holdGuestAddress(request.guestAddr);
    // The id is taken only once the listener is up: a failed add consumes none (as slirp4netns).
    const reserve = (): HostfwdEntry => ({ id: this.nextId++, ...request });
    let forward: Forward;
    try {
      if (request.proto === 'tcp') {
        const server = await this.listenTcp(request, family);
        const tcp = new TcpForward(reserve(), guest, server);
        // Listening is Node's (its addresses, options and errors); accepting the connector's where it can.
        tcp.stopAccepting = this.options.connector.acceptClients?.(server, (fd, address, port) => this.acceptTcp(tcp, fd, address, port));
        if (tcp.stopAccepting === undefined) server.on('connection', (socket) => this.acceptTcp(tcp, socket, socket.remoteAddress, socket.remotePort ?? 0));
        forward = tcp;
      } else {
        const socket = await this.bindUdp(request, family);
        const udp = new UdpForward(reserve(), guest, socket);
        socket.on('message', (message, remote) => this.udpFromClient(udp, message, remote));
        forward = udp;
      }
    } catch (error) {
      this.options.connector.addresses.release(guest);
      throw error;
    }
    if (this.closed) {
      await this.closeForward(forward);
      throw new Error('hostfwd table is closed');
    }
    this.forwards.push(forward);
    this.logger.info({ hostfwd: forward.entry }, 'hostfwd added');
    return forward.entry.id;
  }

  async remove(id: number): Promise<boolean> {
    const index = this.forwards.findIndex((f) => f.entry.id === id);
    if (index < 0) return false;
    const [forward] = this.forwards.splice(index, 1);
    await this.closeForward(forward);
    this.logger.info({ hostfwd: forward.entry }, 'hostfwd removed');
    return true;
  }

  /** Closes every listener (orderly exit). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.removeUdpService();
    await Promise.all(this.forwards.splice(0).map((f) => this.closeForward(f)));
  }

  /**
   * The engine address for a request's guest_addr, held: any IPv4 address (as slirp4netns), or with
   * IPv6 on an address of the guest's prefix other than ours. Throws a HostfwdArgumentError.
   */
  private holdGuestAddress(text: string): number {
    const ipv4 = parseIpv4(text);
    if (ipv4 !== undefined) return ipv4;
    const bytes = parseIpv6(text);
    if (bytes === undefined) throw new HostfwdArgumentError('guest_addr', `guest address ${text} is not a numeric IPv4 or IPv6 address`);
    const v6 = this.options.config.ipv6;
    if (v6 === undefined) throw new HostfwdArgumentError('guest_addr', `guest address ${text} is IPv6, and IPv6 is off (--enable-ipv6)`);
    if (!ipv6PrefixMatch(bytes, 0, v6.prefix, 0, v6.prefixLength) || ipv6OwnMac(v6, bytes, 0) >= 0) {
      throw new HostfwdArgumentError('guest_addr', `guest address ${text} is not a guest address in ${formatIpv6(v6.prefix)}/${v6.prefixLength}`);
    }
    const handle = this.options.connector.addresses.parse(text);
    if (handle < 0) throw new Error(`no room for guest address ${text} (IPv6 address table full)`);
    return handle;
  }

  /** Closes a forward and lets go of the engine addresses it held. */
  private async closeForward(forward: Forward): Promise<void> {
    const addresses = this.options.connector.addresses;
    if (forward instanceof UdpForward) for (const mapping of forward.byClient.values()) addresses.release(mapping.source);
    await forward.close();
    addresses.release(forward.guest);
  }

  private listenTcp(request: HostfwdRequest, family: number): Promise<Server> {
    return new Promise((resolve, reject) => {
      // Paused until the engine has the guest's SYN-ACK: nothing read is lost or buffered twice.
      const server = createServer({ pauseOnConnect: true, allowHalfOpen: true, noDelay: true });
      server.once('error', reject);
      server.listen({ host: request.hostAddr, port: request.hostPort, exclusive: true, ipv6Only: family === 6 }, () => {
        server.off('error', reject);
        server.on('error', (err) => this.logger.warn({ err, hostfwd: request }, 'hostfwd listener error'));
        resolve(server);
      });
    });
  }

  private bindUdp(request: HostfwdRequest, family: number): Promise<DgramSocket> {
    return new Promise((resolve, reject) => {
      const socket = createSocket({ type: family === 6 ? 'udp6' : 'udp4', ipv6Only: family === 6 });
      socket.once('error', reject);
      socket.bind({ address: request.hostAddr, port: request.hostPort, exclusive: true }, () => {
        socket.off('error', reject);
        socket.on('error', (err) => this.logger.warn({ err, hostfwd: request }, 'hostfwd UDP socket error'));
        resolve(socket);
      });
    });
  }

  /** A client accepted (a paused net.Socket, or a descriptor the connector accepted): into the guest. */
  private acceptTcp(forward: Forward, client: Socket | number, address: string | undefined, sourcePort: number): void {
    const source = sourcePort === 0 ? -1 : heldGuestSource(this.sources, isIpv6Handle(forward.guest), address);
    if (source < 0) {
      endTcpClient(client);
      return;
    }
    try {
      this.options.connector.tcp.openToGuest({ client, source, sourcePort, destination: forward.guest, destinationPort: forward.entry.guestPort });
    } catch (err) {
      this.logger.warn({ err, hostfwd: forward.entry }, 'cannot open a flow into the guest');
      endTcpClient(client);
    } finally {
      // The engine retained it if it keeps the flow.
      this.options.connector.addresses.release(source);
    }
  }

  private udpFromClient(forward: UdpForward, message: Buffer, remote: RemoteInfo): void {
    if (forward.closed) return;
    const key = `${remote.address}|${remote.port}`;
    const now = this.options.clock.now();
    let mapping = forward.byClient.get(key);
    if (mapping === undefined) {
      if (forward.byClient.size >= this.udpMappingsPerForward) {
        this.logger.debug({ hostfwd: forward.entry, client: key }, 'UDP hostfwd mapping table full: datagram dropped');
        return;
      }
      const source = heldGuestSource(this.sources, isIpv6Handle(forward.guest), remote.address);
      if (source < 0) return;
      const sourcePort = this.freeSourcePort(forward, source, remote.port);
      if (sourcePort === 0) {
        this.options.connector.addresses.release(source);
        return;
      }
      mapping = { clientAddress: remote.address, clientPort: remote.port, source, sourcePort, lastUsed: now };
      forward.byClient.set(key, mapping);
      forward.bySource.set(endpointKey(source, sourcePort), mapping);
      this.scheduleExpiry(forward);
    }
    mapping.lastUsed = now;
    this.options.connector.udp.sendToGuest(mapping.source, mapping.sourcePort, forward.guest, forward.entry.guestPort, message);
  }

  /** The client's own port when free for that guest-visible source, else another (loopback clients share the gateway). */
  private freeSourcePort(forward: UdpForward, source: number, wanted: number): number {
    if (!forward.bySource.has(endpointKey(source, wanted))) return wanted;
    for (let i = 0; i < 16384; i++) {
      const port = 49152 + ((wanted + i * 7919) % 16384);
      if (!forward.bySource.has(endpointKey(source, port))) return port;
    }
    return 0;
  }

  private udpFromGuest(source: number, sourcePort: number, destination: number, destinationPort: number, payload: Uint8Array): boolean {
    const key = endpointKey(destination, destinationPort);
    for (let i = 0; i < this.forwards.length; i++) {
      const forward = this.forwards[i];
      if (!(forward instanceof UdpForward) || forward.guest !== source || forward.entry.guestPort !== sourcePort) continue;
      const mapping = forward.bySource.get(key);
      if (mapping === undefined) continue;
      mapping.lastUsed = this.options.clock.now();
      // payload is a view valid only during this call; dgram keeps its buffer until sent.
      forward.socket.send(Buffer.from(payload), mapping.clientPort, mapping.clientAddress);
      return true;
    }
    return false;
  }

  private scheduleExpiry(forward: UdpForward): void {
    if (forward.timer !== undefined || forward.closed) return;
    const clock = this.options.clock;
    forward.timer = clock.setTimer(() => {
      forward.timer = undefined;
      if (forward.closed) return;
      const now = clock.now();
      for (const [key, mapping] of forward.byClient) {
        if (now - mapping.lastUsed >= this.udpIdleMs) {
          forward.byClient.delete(key);
          forward.bySource.delete(endpointKey(mapping.source, mapping.sourcePort));
          this.options.connector.addresses.release(mapping.source);
        }
      }
      if (forward.byClient.size > 0) this.scheduleExpiry(forward);
    }, Math.max(1000, this.udpIdleMs / 4));
  }
}
