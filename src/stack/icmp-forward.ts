/**
 * ICMP echo to destinations other than our own addresses (the Stack answers 10.0.2.2/.3 itself
 * before this receiver is asked): each guest (address, echo identifier) gets a host echo socket;
 * requests go out through it, and replies come back from the peer's guest-visible address with the
 * guest's identifier restored (the host kernel replaced it with the socket's own) and the checksum
 * redone; replies larger than the MTU are fragmented. Registered for protocol 1 and, for IPv6,
 * next header 58 (ICMPv6 echo through ICMPv6 ping sockets, checksum over the pseudo-header; NDP and
 * echo to our own addresses never get here: the Stack answers them).
 *
 * When the host refuses echo sockets (net.ipv4.ping_group_range excludes our group), the request is
 * dropped and counted, with one clear warning for the process's life, as slirp4netns does; opening is
 * retried on later requests, so fixing the sysctl needs no restart.
 *
 * Bounded: MAX_ECHO_SESSIONS sockets; a newcomer to a full table evicts the session idle the
 * longest (least-recently-used order to within LRU_STEP_MS), so a flood of identifiers never locks
 * out a new ping. Idle sessions are closed after 60 s on one sweep timer. Only echo requests are
 * forwarded; other guest ICMP is dropped. Never throws on guest input; an exception of ours in a
 * reply's handling closes that session only (reported to stack.faults).
 */
import { FRAME_CHECKSUM_PARTIAL, FRAME_CHECKSUM_VALID } from '../link/link.js';
import { writeUint16 } from '../wire/bytes.js';
import { DropReason } from '../wire/drop-reason.js';
import { fillIcmpv4Checksum, ICMPV4_HEADER_LENGTH, Icmpv4Packet, Icmpv4Type } from '../wire/icmpv4.js';
import { IpProtocol } from '../wire/ipv4.js';
import { fillIcmpv6Checksum, ICMPV6_HEADER_LENGTH, Icmpv6Packet, Icmpv6Type } from '../wire/icmpv6.js';
import type { IpFamily } from '../wire/ip-address.js';
import { IdleSweeper } from './idle-sweeper.js';
import { endpointKey, isIpv6Handle } from './address-table.js';
import { isBroadcastOrMulticast, type HostAddressMap } from './host-address-map.js';
import type { HostIcmpPort, HostIcmpSocket } from './host-icmp-port.js';
import type { IpDatagram, IpReceiver } from './ip-datagram.js';
import type { Stack } from './stack.js';

export const ECHO_IDLE_MS = 60_000;
export const MAX_ECHO_SESSIONS = 256;
/** A session used again moves to the end of the LRU order at most this often (one Map delete+set). */
const LRU_STEP_MS = 1_000;

export interface IcmpForwarderOptions {
  readonly hostPort: HostIcmpPort;
  readonly addressMap: HostAddressMap;
  readonly maxSessions?: number;
  readonly idleMs?: number;
}

interface EchoSession {
  readonly key: number;
  readonly guestAddress: number;
  readonly family: IpFamily;
  readonly identifier: number;
  readonly socket: HostIcmpSocket;
  lastUsed: number;
  /** When the session last moved to the end of the table's LRU order. */
  orderedAt: number;
  closed: boolean;
}

export class IcmpForwarder implements IpReceiver {
  private readonly sessions = new Map<number, EchoSession>();
  private readonly icmp = new Icmpv4Packet();
  private readonly icmp6 = new Icmpv6Packet();
  private readonly maxSessions: number;
  private readonly idleMs: number;
  private warnedRefused = false;
  private readonly sweeper: IdleSweeper;
  private closed = false;

  constructor(
    private readonly stack: Stack,
    private readonly options: IcmpForwarderOptions,
  ) {
    this.maxSessions = options.maxSessions ?? MAX_ECHO_SESSIONS;
    this.idleMs = options.idleMs ?? ECHO_IDLE_MS;
    this.sweeper = new IdleSweeper(stack.clock, (now) => this.sweep(now));
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  receiveIp(ip: IpDatagram, frameFlags: number): DropReason {
    const verify = (frameFlags & (FRAME_CHECKSUM_PARTIAL | FRAME_CHECKSUM_VALID)) === 0;
    let reason: DropReason;
    let message: Uint8Array;
    let identifier: number;
    if (ip.family === 6) {
      const icmp = this.icmp6;
      reason = icmp.wrap(ip.bytes, ip.payloadOffset, ip.payloadLength, verify ? ip.pseudoHeaderSum(IpProtocol.Icmpv6, ip.payloadLength) : null);
      if (reason !== DropReason.None) return reason;
      if (icmp.type !== Icmpv6Type.EchoRequest || icmp.code !== 0) return DropReason.UnsupportedProtocol;
      message = icmp.bytes.subarray(icmp.offset, icmp.offset + icmp.length);
      identifier = icmp.identifier;
    } else {
      const icmp = this.icmp;
      reason = icmp.wrap(ip.bytes, ip.payloadOffset, ip.payloadLength, verify);
      if (reason !== DropReason.None) return reason;
      if (icmp.type !== Icmpv4Type.EchoRequest || icmp.code !== 0) return DropReason.UnsupportedProtocol;
      message = icmp.bytes.subarray(icmp.offset, icmp.offset + icmp.length);
      identifier = icmp.identifier;
    }
    const source = ip.source;
    const destination = ip.destination;
    if (source === 0) return DropReason.BadAddress;
    // No echo to broadcast or multicast through us (no amplification), nor to blocked or virtual hosts.
    if (isBroadcastOrMulticast(this.stack.config, destination)) return DropReason.Blocked;
    const endpoint = this.options.addressMap.toHost(destination, 0);
    // A host endpoint of the other family (an IPv4-mapped IPv6 destination) has no echo socket here.
    if (endpoint === undefined || endpoint.address.includes(':') !== (ip.family === 6)) return DropReason.Blocked;
    const key = endpointKey(source, identifier);
    let session = this.sessions.get(key);
    if (session === undefined) {
      if (this.sessions.size >= this.maxSessions) {
        const oldest = this.sessions.values().next().value;
        if (oldest !== undefined) this.remove(oldest);
      }
      const opened = this.open(key, source, ip.family, identifier);
      if (opened === undefined) return DropReason.HostError;
      session = opened;
    }
    this.touch(session);
    session.socket.send(message, endpoint.address);
    return DropReason.None;
  }

  private open(key: number, guestAddress: number, family: IpFamily, identifier: number): EchoSession | undefined {
    let session: EchoSession | undefined;
    const events = {
      onMessage: (message: Uint8Array, address: string): void => {
        if (session === undefined) return;
        try {
          this.fromHost(session, message, address);
        } catch (error) {
          this.stack.faults.report('icmp host event', error, 'echo session closed');
          if (!session.closed) this.remove(session);
        }
      },
    };
    const socket = this.options.hostPort.open(events, family);
    if (typeof socket === 'string') {
      if (!this.warnedRefused) {
        this.warnedRefused = true;
        const gid = process.getgid?.();
        this.stack.logger.warn(
          { code: socket },
          `ICMP echo to hosts other than the gateway is dropped: the host refuses ping sockets (${socket}); allow group ${gid ?? '?'} with sysctl -w net.ipv4.ping_group_range="${gid ?? 0} ${gid ?? 0}"`,
        );
      }
      return undefined;
    }
    const now = this.stack.clock.now();
    session = { key, guestAddress, family, identifier, socket, lastUsed: now, orderedAt: now, closed: false };
    this.stack.addresses.retain(guestAddress); // released in remove()
    this.sessions.set(key, session);
    this.sweeper.arm(session.lastUsed + this.idleMs);
    return session;
  }

  private fromHost(session: EchoSession, message: Uint8Array, address: string): void {
    if (session.closed || this.closed) return;
    const reply = session.family === 6 ? Icmpv6Type.EchoReply : Icmpv4Type.EchoReply;
    if (message.length < ICMPV4_HEADER_LENGTH || message[0] !== reply) {
      this.stack.countDrop(DropReason.UnsupportedProtocol);
      return;
    }
    const source = this.options.addressMap.toGuest(address); // an IPv6 handle comes held
    if (source === undefined) {
      this.stack.countDrop(DropReason.BadAddress);
      return;
    }
    try {
      if (isIpv6Handle(source) !== (session.family === 6)) {
        this.stack.countDrop(DropReason.BadAddress);
        return;
      }
      this.touch(session);
      if (session.family === 6) this.replyIpv6(session, source, message);
      else this.replyIpv4(session, source, message);
    } finally {
      this.stack.addresses.release(source);
    }
  }

  /** The echo reply into the guest, with its identifier restored and the ICMPv6 checksum redone. */
  private replyIpv6(session: EchoSession, source: number, message: Uint8Array): void {
    const output = this.stack.outputFor(session.guestAddress);
    const head = output.head;
    const l4 = output.l4Offset;
    head.set(message.subarray(0, ICMPV6_HEADER_LENGTH), l4);
    writeUint16(head, l4 + 4, session.identifier);
    const data = message.subarray(ICMPV6_HEADER_LENGTH);
    const sum = output.pseudoHeaderSum(source, session.guestAddress, IpProtocol.Icmpv6, message.length);
    fillIcmpv6Checksum(head, l4, ICMPV6_HEADER_LENGTH, sum, data);
    output.sendFragmentable(source, session.guestAddress, IpProtocol.Icmpv6, ICMPV6_HEADER_LENGTH, data);
  }

  private replyIpv4(session: EchoSession, source: number, message: Uint8Array): void {
    const output = this.stack.outputFor(session.guestAddress);
    const head = output.head;
    const l4 = output.l4Offset;
    head.set(message.subarray(0, ICMPV4_HEADER_LENGTH), l4);
    writeUint16(head, l4 + 4, session.identifier);
    const data = message.subarray(ICMPV4_HEADER_LENGTH);
    fillIcmpv4Checksum(head, l4, ICMPV4_HEADER_LENGTH, data);
    output.sendFragmentable(source, session.guestAddress, IpProtocol.Icmp, ICMPV4_HEADER_LENGTH, data);
  }

  /** Marks a session used now, keeping the table in (coarse) least-recently-used order. */
  private touch(session: EchoSession): void {
    const now = this.stack.clock.now();
    session.lastUsed = now;
    if (now - session.orderedAt < LRU_STEP_MS) return;
    session.orderedAt = now;
    this.sessions.delete(session.key);
    this.sessions.set(session.key, session);
  }

  /** One pass over every session: close the idle ones, report the earliest deadline left. */
  private sweep(now: number): number {
    let next = Infinity;
    for (const session of this.sessions.values()) {
      const deadline = session.lastUsed + this.idleMs;
      if (deadline <= now) this.remove(session);
      else if (deadline < next) next = deadline;
    }
    return next;
  }

  private remove(session: EchoSession): void {
    session.closed = true;
    this.sessions.delete(session.key);
    this.stack.addresses.release(session.guestAddress);
    try {
      session.socket.close();
    } catch (error) {
      this.stack.faults.report('icmp socket close', error, 'socket left to the runtime');
    }
  }

  close(): void {
    if (this.closed) return;
    for (const session of [...this.sessions.values()]) this.remove(session);
    this.closed = true;
    this.sweeper.close();
  }
}

/** Creates the forwarder, registers it for protocol 1 and its cleanup with the stack. */
export function installIcmpForward(stack: Stack, options: IcmpForwarderOptions): IcmpForwarder {
  const forwarder = new IcmpForwarder(stack, options);
  stack.setIpReceiver(IpProtocol.Icmp, forwarder);
  stack.setIpReceiver(IpProtocol.Icmpv6, forwarder);
  stack.onClose(() => forwarder.close());
  return forwarder;
}
