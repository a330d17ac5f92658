/**
 * The UDP engine's host-socket port on the addon's non-blocking sockets (native/udp_socket.c): the
 * default wherever the addon loads (install-engines.ts chooses; NodeUdpPort is the fallback). A
 * Node dgram socket cost ~6 KB of JS heap over its life (EventEmitter, UDPWrap, a SendWrap per
 * send, lookup closures) for each guest source port, most of a storm's peak when thousands of
 * fresh ports each sent one datagram to a closed host port; here a binding's socket is a
 * descriptor, a uv_poll handle and this object, and each poll event is one call into JS.
 *
 * Same behaviour as NodeUdpPort (the engine cannot tell them apart), without its socket pair: ONE
 * unconnected socket per binding and family, opened at the first send with that destination's
 * family and bound for --outbound-addr(6) as outbound-bind.ts says, so the guest's port keeps one
 * host port whatever it talks to and replies are heard from any peer (full cone) from the first
 * datagram on. The kernel queues ICMP errors for it (IP_RECVERR), each with the destination of the
 * datagram that failed: onError(code, destination), ECONNREFUSED included, for every destination,
 * not only a connected one. Datagrams to the other family are refused with EAFNOSUPPORT.
 *
 * Sends are sendto of the engine's view during the call (nothing queued, nothing copied); one the
 * kernel refuses with EAGAIN (send buffer full), EPERM (firewall) or ENOBUFS (qdisc) is dropped, as
 * UDP may, and reported as that error (the engine counts it). Reads land in one receive area shared by every socket: onMessage's
 * payload is a view of it, valid during the call (host-udp-port.ts). Errors are reported from the
 * event that found them, or from inside send() when the kernel returned one there (an earlier
 * datagram's, which the kernel hands to the next call: that send is made again). An exception of
 * ours in an event or in send() closes this socket (reported as EIO; nothing is thrown into the
 * engine) and the next send opens a new one; nothing is emitted after close().
 */
import { isIP } from 'node:net';
import { constants as osConstants } from 'node:os';
import {
  UDP_EVENT_ERROR,
  UDP_EVENT_READABLE,
  UDP_PEER_ADDRESS,
  UDP_PEER_BYTES,
  UDP_PEER_FAMILY,
  UDP_PEER_PORT,
  UDP_PEER_SCOPE,
  loadNativeAddon,
  type NativeAddon,
} from '../native/native-addon.js';
import type { HostEndpoint } from '../stack/host-address-map.js';
import type { HostUdpPort, HostUdpSocket, HostUdpSocketEvents } from '../stack/udp/host-udp-port.js';
import { formatIpv4 } from '../wire/ip-address.js';
import { formatIpv6 } from '../wire/ipv6-address.js';
import { errnoName } from './errno-name.js';
import { NO_OUTBOUND_BIND, outboundLocalAddress, type OutboundBind } from './outbound-bind.js';

const ERRNO = osConstants.errno;
const EAGAIN = ERRNO.EAGAIN;

/**
 * Errors sendto returns only for the datagram at hand, never as an earlier one's pending error
 * (ICMP yields none of them): no error queue to read, no second attempt. EPERM: the host's firewall;
 * ENOBUFS: its queueing discipline dropped it (IP_RECVERR makes sendto say so).
 */
function isOwnSendError(errno: number): boolean {
  return errno === EAGAIN || errno === ERRNO.EAFNOSUPPORT || errno === ERRNO.EINVAL || errno === ERRNO.EPERM || errno === ERRNO.ENOBUFS;
}

/** Datagrams read per readable event at most (as libuv reads for dgram): one busy socket cannot hold the loop. */
const READS_PER_EVENT = 32;
/** Queued errors taken per event at most; the rest keep the socket in error and come with the next. */
const ERRORS_PER_EVENT = 64;
/** The largest UDP payload (65535 - 8 over IPv6; IPv4's is smaller) fits the receive area whole. */
const RECEIVE_AREA_BYTES = 65536;

/** The addon's UDP socket table of this process: ids (the last freed reused first) → sockets, and the shared areas. */
class NativeUdpSockets {
  private readonly sockets: (NativeUdpSocket | undefined)[] = [];
  private readonly freeIds: number[] = [];
  /** Where the addon leaves a datagram's source or a failed datagram's destination. */
  readonly peer = new Uint8Array(UDP_PEER_BYTES);
  /** Every socket's reads land here, one datagram at a time (not zeroed: it is only read after a recv). */
  readonly receiveArea: Uint8Array;
  private readonly peerText: PeerText;

  constructor(readonly addon: NativeAddon) {
    this.peerText = new PeerText(addon);
    const area = Buffer.allocUnsafeSlow(RECEIVE_AREA_BYTES);
    // A plain Uint8Array: its subarray is V8's builtin, a Buffer's a JavaScript override.
    this.receiveArea = new Uint8Array(area.buffer, area.byteOffset, RECEIVE_AREA_BYTES);
    addon.udpInit(this.dispatch, this.peer);
  }

  private readonly dispatch = (id: number, events: number): void => {
    const socket = this.sockets[id];
    if (socket === undefined) return;
    try {
      socket.handle(events);
    } catch {
      socket.fault();
    }
  };

  /** The peer area's address as text (the last one's string reused). */
  peerAddress(peer: Uint8Array): string {
    return this.peerText.of(peer);
  }

  claim(socket: NativeUdpSocket): number {
    const id = this.freeIds.pop() ?? this.sockets.length;
    this.sockets[id] = socket;
    return id;
  }

  release(id: number): void {
    this.sockets[id] = undefined;
    this.freeIds.push(id);
  }
}

let table: NativeUdpSockets | undefined;

/** The table, made at the first socket: a configuration that never forwards UDP allocates nothing. */
function socketTable(addon: NativeAddon): NativeUdpSockets {
  return (table ??= new NativeUdpSockets(addon));
}

class NativeUdpSocket implements HostUdpSocket {
  /** The addon's id for our socket, or -1 while none is open. */
  private id = -1;
  private closed = false;

  constructor(
    private readonly addon: NativeAddon,
    private readonly bind: OutboundBind,
    private readonly events: HostUdpSocketEvents,
  ) {}

  send(payload: Uint8Array, destination: HostEndpoint): void {
    if (this.closed || (this.id < 0 && !this.open(destination))) return;
    try {
      this.sendOpen(payload, destination);
    } catch {
      // The addon refused a call of ours (a bug): never thrown into the engine; as in an event.
      this.fault();
    }
  }

  private sendOpen(payload: Uint8Array, destination: HostEndpoint): void {
    const addon = this.addon;
    const sent = addon.udpSend(this.id, payload, destination.address, destination.port);
    if (sent >= 0) return;
    const errno = -sent;
    if (isOwnSendError(errno)) {
      this.events.onError(errnoName(errno), destination);
      return;
    }
    // Perhaps an earlier datagram's error (the kernel returns a pending one from the next call and
    // clears it): the queued errors go to the engine with their own destinations, then this
    // datagram goes again; failing again, the error is this one's.
    const queued = this.takeErrors();
    if (this.closed || this.id < 0) return;
    const again = addon.udpSend(this.id, payload, destination.address, destination.port);
    if (again < 0) this.events.onError(errnoName(-again), destination);
    else if (queued === 0) this.events.onError(errnoName(errno), undefined);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.closeSocket();
  }

  /** One poll event of our socket (from NativeUdpSockets.dispatch). */
  handle(events: number): void {
    // An error event with nothing queued is a pending error whose entry did not fit the queue:
    // only a recv clears it (else the socket stays in error). Taking the last queued entry clears it.
    const queued = (events & UDP_EVENT_ERROR) !== 0 ? this.takeErrors() : 0;
    if (((events & UDP_EVENT_READABLE) !== 0 || queued === 0) && !this.closed && this.id >= 0) this.readSome();
  }

  /** An exception of ours in an event: this socket goes (reported as EIO), the next send opens another. */
  fault(): void {
    if (this.closed) return;
    this.closeSocket();
    try {
      this.events.onError('EIO', undefined);
    } catch {
      // the engine contains its own handlers' exceptions; nothing more to do here
    }
  }

  /** Opens the socket for destination's family; false (reported) when that fails. */
  private open(destination: HostEndpoint): boolean {
    const family = isIP(destination.address);
    if (family !== 4 && family !== 6) {
      this.events.onError('EINVAL', destination);
      return false;
    }
    const sockets = socketTable(this.addon);
    const id = sockets.claim(this);
    let result: number;
    try {
      result = this.addon.udpOpen(id, family, outboundLocalAddress(this.bind, destination.address));
    } catch {
      result = -ERRNO.EINVAL;
    }
    if (result < 0) {
      sockets.release(id);
      this.events.onError(errnoName(-result), destination);
      return false;
    }
    this.id = id;
    return true;
  }

  private closeSocket(): void {
    if (this.id < 0) return;
    this.addon.udpClose(this.id);
    table!.release(this.id);
    this.id = -1;
  }

  /** Reads what is waiting (up to READS_PER_EVENT datagrams), each to the engine as a view of the shared area. */
  private readSome(): void {
    const addon = this.addon;
    const sockets = table!;
    const area = sockets.receiveArea;
    const peer = sockets.peer;
    for (let i = 0; i < READS_PER_EVENT; i++) {
      const n = addon.udpRecv(this.id, area);
      if (n === -EAGAIN) return;
      if (n < 0) {
        // A pending error, returned once: the queued ones say where it came from.
        const queued = this.takeErrors();
        if (this.closed || this.id < 0) return;
        if (queued === 0) this.events.onError(errnoName(-n), undefined);
      } else {
        const port = (peer[UDP_PEER_PORT] << 8) | peer[UDP_PEER_PORT + 1];
        this.events.onMessage(area.subarray(0, n), this.peerAddress(peer), port);
      }
      if (this.closed || this.id < 0) return;
    }
  }

  /** Hands the engine the queued errors (at most ERRORS_PER_EVENT), each with its destination; how many. */
  private takeErrors(): number {
    const addon = this.addon;
    const peer = table!.peer;
    let count = 0;
    while (count < ERRORS_PER_EVENT) {
      const errno = addon.udpRecvError(this.id);
      if (errno < 0) break;
      count++;
      const destination = peer[UDP_PEER_FAMILY] === 0 ? undefined : { address: this.peerAddress(peer), port: (peer[UDP_PEER_PORT] << 8) | peer[UDP_PEER_PORT + 1] };
      this.events.onError(errnoName(errno), destination);
      if (this.closed || this.id < 0) break;
    }
    return count;
  }

  private peerAddress(peer: Uint8Array): string {
    return table!.peerAddress(peer);
  }
}

/**
 * The last address the peer area held, and its text, for every socket: one peer's replies (a
 * resolver's, a server's), and a storm's refusals from loopback, make no new strings.
 */
class PeerText {
  private family = 0;
  private a = 0;
  private b = 0;
  private c = 0;
  private d = 0;
  private scope = 0;
  private text = '';

  constructor(private readonly addon: NativeAddon) {}

  /**
   * The peer area's address as Node writes it ("127.0.0.1"; "::ffff:127.0.0.1" on an IPv6 socket;
   * "fe80::1%eth0" with its scope: the engine finds a link-local resolver by the text it sent to).
   */
  of(peer: Uint8Array): string {
    const at = UDP_PEER_ADDRESS;
    const a = ((peer[at] << 24) | (peer[at + 1] << 16) | (peer[at + 2] << 8) | peer[at + 3]) >>> 0;
    if (peer[UDP_PEER_FAMILY] === 4) {
      if (this.family !== 4 || this.a !== a) {
        this.family = 4;
        this.a = a;
        this.text = formatIpv4(a);
      }
      return this.text;
    }
    const b = ((peer[at + 4] << 24) | (peer[at + 5] << 16) | (peer[at + 6] << 8) | peer[at + 7]) >>> 0;
    const c = ((peer[at + 8] << 24) | (peer[at + 9] << 16) | (peer[at + 10] << 8) | peer[at + 11]) >>> 0;
    const d = ((peer[at + 12] << 24) | (peer[at + 13] << 16) | (peer[at + 14] << 8) | peer[at + 15]) >>> 0;
    const s = UDP_PEER_SCOPE;
    const scope = ((peer[s] << 24) | (peer[s + 1] << 16) | (peer[s + 2] << 8) | peer[s + 3]) >>> 0;
    if (this.family !== 6 || this.a !== a || this.b !== b || this.c !== c || this.d !== d || this.scope !== scope) {
      this.family = 6;
      this.a = a;
      this.b = b;
      this.c = c;
      this.d = d;
      this.scope = scope;
      const text = formatIpv6(peer, at);
      // The kernel names a scope only where the address needs one (link-local), as Node then does.
      this.text = scope === 0 ? text : `${text}%${this.addon.udpScopeName(scope) ?? scope}`;
    }
    return this.text;
  }
}

export class NativeUdpPort implements HostUdpPort {
  /** Whether this process can use it (the addon loads); install-engines.ts falls back to NodeUdpPort. */
  static available(): boolean {
    try {
      loadNativeAddon();
      return true;
    } catch {
      return false;
    }
  }

  private readonly addon: NativeAddon;

  constructor(private readonly bind: OutboundBind = NO_OUTBOUND_BIND) {
    this.addon = loadNativeAddon();
  }

  open(events: HostUdpSocketEvents): HostUdpSocket {
    return new NativeUdpSocket(this.addon, this.bind, events);
  }
}
