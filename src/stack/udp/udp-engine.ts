/**
 * The UDP engine: the IpReceiver for protocol 17. Each datagram from the guest is validated
 * (length, checksum unless the device left it partial or verified it; zero = none), offered to the
 * registered UdpServices first (DHCP, published-port replies), and otherwise forwarded to the host:
 * every guest (address, port) gets a Binding backed by host datagram sockets, so replies from any
 * host peer come back to the same guest port (full cone, as libslirp). A reply appears to come from
 * the peer's own address (host loopback as the gateway, HostAddressMap.toGuest), except replies from
 * an endpoint the guest reached through a mapped address (the DNS upstream behind 10.0.2.3:53),
 * which come from the address the guest sent to: a small reverse map per binding.
 *
 * Also the UdpGuestSender of services and published ports: sendToGuest() from any source address,
 * fragmented when larger than the MTU.
 *
 * Bounded: at most limits.udpBindings bindings. A newcomer to a full table evicts the binding idle
 * the longest (the table is kept in least-recently-used order, to within LRU_STEP_MS), so a flood of
 * new source ports costs the oldest idle bindings, never the service: new legitimate traffic always
 * gets a binding. Idle bindings expire (240 s as libslirp's SO_EXPIRE; 10 s for bindings that only
 * spoke DNS, as its SO_EXPIREFAST) on one sweep timer, not a timer per binding. A binding that only
 * ever sent to one host endpoint, never heard back, and was refused (ECONNREFUSED) is closed as soon
 * as the guest has its ICMP port unreachable: nothing can come back on it, and a storm of datagrams
 * to closed ports then leaves no host sockets behind (each a descriptor and kernel memory; with
 * Node's dgram also ~3.4 KB of JS heap). Never throws on guest input: drops are counted; an
 * exception of ours in a host socket event closes that binding only (reported to stack.faults).
 */
import { FRAME_CHECKSUM_PARTIAL, FRAME_CHECKSUM_VALID } from '../../link/link.js';
import { DropReason } from '../../wire/drop-reason.js';
import { IpProtocol } from '../../wire/ipv4.js';
import { fillUdpChecksum, UDP_HEADER_LENGTH, UdpPacket, writeUdpHeader } from '../../wire/udp.js';
import { IdleSweeper } from '../idle-sweeper.js';
import { endpointKey, isIpv6Handle } from '../address-table.js';
import { isBroadcastOrMulticast, Refusal, type HostAddressMap, type HostEndpoint } from '../host-address-map.js';
import { IcmpError } from '../icmp-errors.js';
import type { IpDatagram, IpReceiver } from '../ip-datagram.js';
import type { Stack } from '../stack.js';
import type { HostUdpPort, HostUdpSocket, HostUdpSocketEvents } from './host-udp-port.js';
import type { UdpGuestSender, UdpService } from './udp-service.js';

/** libslirp's SO_EXPIRE: an idle UDP socket is closed after 240 s. */
export const UDP_IDLE_MS = 240_000;
/** libslirp's SO_EXPIREFAST: a binding that only spoke to DNS (port 53) goes after 10 s. */
export const UDP_DNS_IDLE_MS = 10_000;
/**
 * A binding used again moves to the end of the table's order at most this often: the order is
 * least-recently-used to within this step, for a Map delete+set per binding per step, not per datagram.
 */
const LRU_STEP_MS = 1_000;
/** Mapped destinations remembered per binding (in practice: the DNS upstream). */
const REVERSE_MAP_LIMIT = 16;

export interface UdpEngineOptions {
  readonly hostPort: HostUdpPort;
  readonly addressMap: HostAddressMap;
  /** Offered every guest datagram before it is forwarded, in order. */
  readonly services?: readonly UdpService[];
  readonly idleMs?: number;
  readonly dnsIdleMs?: number;
}

/** A guest-visible endpoint (address as uint32). */
interface GuestEndpoint {
  readonly address: number;
  readonly port: number;
}

/** Where every binding's host socket events go: the engine's handlers, one object for all bindings. */
interface BindingOwner {
  message(binding: UdpBinding, payload: Uint8Array, address: string, port: number): void;
  error(binding: UdpBinding, code: string, destination: HostEndpoint | undefined): void;
}

/**
 * One guest (address, port) and the host sockets that speak for it; also their events' receiver
 * (no handler object or closures per socket: a storm of fresh guest ports makes thousands).
 */
export class UdpBinding implements HostUdpSocketEvents {
  socket4: HostUdpSocket | null = null;
  socket6: HostUdpSocket | null = null;
  lastUsed: number;
  /** When the binding last moved to the end of the table's LRU order. */
  orderedAt: number;
  /** True while every destination so far was port 53: the short idle timeout applies. */
  dnsOnly = true;
  /** Every datagram so far went to one host endpoint (lastHost). */
  oneDestination = true;
  /** A datagram came back from the host. */
  answered = false;
  /** Host "address|port" → the guest-visible endpoint the guest addressed (only for mapped ones). */
  reverse: Map<string, GuestEndpoint> | null = null;
  /** The latest destination, host side and guest side, for errors the platform cannot attribute. */
  lastHost: HostEndpoint | null = null;
  lastGuest: GuestEndpoint | null = null;
  closed = false;

  constructor(
    readonly key: number,
    readonly guestAddress: number,
    readonly guestPort: number,
    now: number,
    private readonly owner: BindingOwner,
  ) {
    this.lastUsed = now;
    this.orderedAt = now;
  }

  onMessage(payload: Uint8Array, address: string, port: number): void {
    this.owner.message(this, payload, address, port);
  }

  onError(code: string, destination?: HostEndpoint): void {
    this.owner.error(this, code, destination);
  }
}

function reverseKey(address: string, port: number): string {
  return `${address.startsWith('::ffff:') ? address.slice(7) : address}|${port}`;
}

export class UdpEngine implements IpReceiver, UdpGuestSender {
  private readonly bindings = new Map<number, UdpBinding>();
  private readonly services: UdpService[];
  private readonly udp = new UdpPacket();
  private readonly hostPort: HostUdpPort;
  private readonly addressMap: HostAddressMap;
  private readonly idleMs: number;
  private readonly dnsIdleMs: number;
  private readonly sweeper: IdleSweeper;
  private closed = false;

  constructor(
    private readonly stack: Stack,
    options: UdpEngineOptions,
  ) {
    this.hostPort = options.hostPort;
    this.addressMap = options.addressMap;
    this.services = [...(options.services ?? [])];
    this.idleMs = options.idleMs ?? UDP_IDLE_MS;
    this.dnsIdleMs = options.dnsIdleMs ?? UDP_DNS_IDLE_MS;
    this.sweeper = new IdleSweeper(stack.clock, (now) => this.sweep(now));
  }

  /** Live bindings (for stats). */
  get bindingCount(): number {
    return this.bindings.size;
  }

  /** The binding of a guest endpoint, if any (tests, stats). */
  binding(guestAddress: number, guestPort: number): UdpBinding | undefined {
    return this.bindings.get(endpointKey(guestAddress, guestPort));
  }

  /** Registers a service that sees every guest datagram before forwarding; returns its removal. */
  addUdpService(service: UdpService): () => void {
    this.services.push(service);
    return () => {
      const at = this.services.indexOf(service);
      if (at >= 0) this.services.splice(at, 1);
    };
  }

  // ---- guest → host ----

  receiveIp(ip: IpDatagram, frameFlags: number): DropReason {
    const udp = this.udp;
    const reason = udp.wrap(ip.bytes, ip.payloadOffset, ip.payloadLength);
    if (reason !== DropReason.None) return reason;
    // A zero checksum means "none" over IPv4 only (RFC 8200 §8.1).
    if ((frameFlags & (FRAME_CHECKSUM_PARTIAL | FRAME_CHECKSUM_VALID)) === 0 && !udp.verifyChecksum(ip.pseudoHeaderSum(IpProtocol.Udp, udp.length), ip.family === 4)) {
      return DropReason.BadChecksum;
    }
    const source = ip.source;
    const sourcePort = udp.sourcePort;
    const destination = ip.destination;
    const destinationPort = udp.destinationPort;
    const payload = udp.bytes.subarray(udp.payloadOffset, udp.payloadOffset + udp.payloadLength);
    const services = this.services;
    for (let i = 0; i < services.length; i++) {
      if (services[i].receiveUdp(source, sourcePort, destination, destinationPort, payload)) return DropReason.None;
    }
    // Beyond the services, only a configured guest with a real port may speak to the host.
    if (source === 0 || sourcePort === 0 || destinationPort === 0) return DropReason.BadAddress;
    const endpoint = this.addressMap.toHost(destination, destinationPort);
    if (endpoint === undefined) return this.refuse(ip);
    let binding = this.bindings.get(endpointKey(source, sourcePort));
    if (binding === undefined) {
      if (this.bindings.size >= this.stack.config.limits.udpBindings) this.evictLeastRecentlyUsed();
      binding = this.createBinding(source, sourcePort);
    }
    this.touch(binding);
    if (destinationPort !== 53) binding.dnsOnly = false;
    const last = binding.lastHost;
    if (last !== null && (last.address !== endpoint.address || last.port !== endpoint.port)) binding.oneDestination = false;
    this.remember(binding, endpoint, destination, destinationPort);
    const family = endpoint.address.includes(':') ? 6 : 4;
    const socket = family === 4 ? (binding.socket4 ??= this.openSocket(binding)) : (binding.socket6 ??= this.openSocket(binding));
    socket.send(payload, endpoint);
    return DropReason.None;
  }

  /** ICMP for a destination we will not forward to (libslirp's answers), or a silent drop. */
  private refuse(ip: IpDatagram): DropReason {
    const config = this.stack.config;
    const destination = ip.destination;
    if (isBroadcastOrMulticast(config, destination)) return DropReason.Blocked;
    let error: IcmpError;
    switch (this.addressMap.refusal(destination)) {
      case Refusal.DnsDisabled:
        return DropReason.Blocked; // no answer: the guest's query times out
      case Refusal.NoService:
        error = IcmpError.PortUnreachable; // nothing listens there but DNS
        break;
      case Refusal.LoopbackBlocked:
        error = IcmpError.NetUnreachable; // libslirp: EPERM → net unreachable
        break;
      default:
        error = IcmpError.HostUnreachable; // no host behind it
    }
    const from = error === IcmpError.PortUnreachable ? destination : this.stack.gatewayFor(destination);
    this.stack.icmpErrors.aboutDatagram(error, from, ip);
    return DropReason.Blocked;
  }

  /** Marks a binding used now, keeping the table in (coarse) least-recently-used order. */
  private touch(binding: UdpBinding): void {
    const now = this.stack.clock.now();
    binding.lastUsed = now;
    if (now - binding.orderedAt < LRU_STEP_MS) return;
    binding.orderedAt = now;
    this.bindings.delete(binding.key);
    this.bindings.set(binding.key, binding);
  }

  /** Room for a newcomer in a full table: the binding idle the longest goes. */
  private evictLeastRecentlyUsed(): void {
    const oldest = this.bindings.values().next().value;
    if (oldest !== undefined) this.remove(oldest);
  }

  private createBinding(address: number, port: number): UdpBinding {
    const now = this.stack.clock.now();
    this.stack.addresses.retain(address); // released in remove()
    const binding = new UdpBinding(endpointKey(address, port), address, port, now, this.owner);
    this.bindings.set(binding.key, binding);
    this.sweeper.arm(now + this.dnsIdleMs);
    return binding;
  }

  private remember(binding: UdpBinding, endpoint: HostEndpoint, destination: number, destinationPort: number): void {
    const addresses = this.stack.addresses;
    let guest: GuestEndpoint | null = binding.lastGuest;
    if (guest === null || guest.address !== destination || guest.port !== destinationPort) {
      // Each place that keeps an endpoint (lastGuest, each reverse entry) holds its address once.
      addresses.retain(destination);
      if (guest !== null) addresses.release(guest.address);
      guest = { address: destination, port: destinationPort };
      binding.lastGuest = guest;
    }
    binding.lastHost = endpoint;
    // A reply from endpoint would appear from toGuest(endpoint.address):endpoint.port; remember the
    // guest's own view only when that differs (the DNS upstream, mapped from 10.0.2.3:53).
    const replySource = this.addressMap.toGuest(endpoint.address);
    if (replySource !== undefined) addresses.release(replySource);
    if (replySource === destination && endpoint.port === destinationPort) return;
    const reverse = (binding.reverse ??= new Map());
    const key = reverseKey(endpoint.address, endpoint.port);
    if (reverse.has(key)) return;
    if (reverse.size >= REVERSE_MAP_LIMIT) {
      const oldest = reverse.keys().next().value as string;
      const dropped = reverse.get(oldest)!;
      reverse.delete(oldest);
      addresses.release(dropped.address);
    }
    addresses.retain(guest.address);
    reverse.set(key, guest);
  }

  private openSocket(binding: UdpBinding): HostUdpSocket {
    return this.hostPort.open(binding); // its events go to this.owner
  }

  /** Host socket events run on the event loop: a bug there costs this binding, nothing else. */
  private readonly owner: BindingOwner = {
    message: (binding, payload, address, port) => {
      try {
        this.fromHost(binding, payload, address, port);
      } catch (error) {
        this.contain(binding, error);
      }
    },
    error: (binding, code, destination) => {
      try {
        this.hostError(binding, code, destination);
      } catch (error) {
        this.contain(binding, error);
      }
    },
  };

  // ---- host → guest ----

  private fromHost(binding: UdpBinding, payload: Uint8Array, address: string, port: number): void {
    if (binding.closed || this.closed) return;
    const mapped = binding.reverse?.get(reverseKey(address, port));
    if (mapped !== undefined) {
      this.touch(binding);
      binding.answered = true;
      this.sendToGuest(mapped.address, mapped.port, binding.guestAddress, binding.guestPort, payload);
      return;
    }
    const source = this.addressMap.toGuest(address); // an IPv6 handle comes held: released below
    if (source === undefined) {
      this.stack.countDrop(DropReason.BadAddress);
      return;
    }
    try {
      // A peer of the other family than the guest's address (no mapping says how it would look): dropped.
      if (port === 0 || isIpv6Handle(source) !== isIpv6Handle(binding.guestAddress)) {
        this.stack.countDrop(DropReason.BadAddress);
        return;
      }
      this.touch(binding);
      binding.answered = true;
      this.sendToGuest(source, port, binding.guestAddress, binding.guestPort, payload);
    } finally {
      this.stack.addresses.release(source);
    }
  }

  /**
   * ECONNREFUSED (the host answered ICMP port unreachable) becomes port unreachable to the guest,
   * from the destination the guest used; host/net unreachable likewise. Other errors are logged.
   */
  private hostError(binding: UdpBinding, code: string, destination: HostEndpoint | undefined): void {
    if (binding.closed || this.closed) return;
    let error: IcmpError;
    if (code === 'ECONNREFUSED') error = IcmpError.PortUnreachable;
    else if (code === 'EHOSTUNREACH') error = IcmpError.HostUnreachable;
    else if (code === 'ENETUNREACH') error = IcmpError.NetUnreachable;
    else {
      this.stack.logger.debug({ code, guestPort: binding.guestPort }, 'UDP host socket error');
      this.stack.countDrop(DropReason.HostError);
      return;
    }
    let guest: GuestEndpoint | null | undefined = null;
    /** An address toGuest handed out held, released below. */
    let held = -1;
    if (destination !== undefined) {
      guest = binding.reverse?.get(reverseKey(destination.address, destination.port));
      if (guest === undefined) {
        const address = this.addressMap.toGuest(destination.address);
        if (address !== undefined) held = address;
        guest = address === undefined ? null : { address, port: destination.port };
      }
    } else {
      guest = binding.lastGuest;
    }
    try {
      if (guest === null || isIpv6Handle(guest.address) !== isIpv6Handle(binding.guestAddress)) return;
      // The datagram is long gone: the error quotes a header naming the guest's socket.
      const from = error === IcmpError.PortUnreachable ? guest.address : this.stack.gatewayFor(binding.guestAddress);
      this.stack.icmpErrors.aboutUdpSocket(error, from, binding.guestAddress, binding.guestPort, guest.address, guest.port);
    } finally {
      if (held >= 0) this.stack.addresses.release(held);
    }
    // Refused on its only destination and never answered: nothing will come back (head comment).
    if (code === 'ECONNREFUSED' && binding.oneDestination && !binding.answered) this.remove(binding);
  }

  /**
   * Sends a datagram into the guest from any source (services, published ports, host replies),
   * fragmented when larger than the MTU. payload is lent to the Link during the call. Sent from a
   * host socket event (a published port's client), it is flushed at the end of the tick by the
   * output path's rule (frame-transmitter.ts), not left waiting for unrelated traffic.
   */
  sendToGuest(source: number, sourcePort: number, destination: number, destinationPort: number, payload: Uint8Array): void {
    if (this.closed) return;
    try {
      this.emitToGuest(source, sourcePort, destination, destinationPort, payload);
    } catch (error) {
      // Called from host socket events too (published ports): contained to this datagram.
      this.stack.faults.report('udp send to guest', error, 'datagram dropped');
    }
  }

  private emitToGuest(source: number, sourcePort: number, destination: number, destinationPort: number, payload: Uint8Array): void {
    const output = this.stack.outputFor(destination);
    const length = UDP_HEADER_LENGTH + payload.length;
    if (length > output.maxL4Length) {
      this.stack.countDrop(DropReason.BadLength);
      return;
    }
    const head = output.head;
    const l4 = output.l4Offset;
    writeUdpHeader(head, l4, sourcePort, destinationPort, payload.length);
    fillUdpChecksum(head, l4, output.pseudoHeaderSum(source, destination, IpProtocol.Udp, length), payload);
    output.sendFragmentable(source, destination, IpProtocol.Udp, UDP_HEADER_LENGTH, payload);
  }

  // ---- expiry ----

  /** One pass over every binding: close the idle ones, report the earliest deadline left. */
  private sweep(now: number): number {
    let next = Infinity;
    for (const binding of this.bindings.values()) {
      const deadline = binding.lastUsed + (binding.dnsOnly ? this.dnsIdleMs : this.idleMs);
      if (deadline <= now) this.remove(binding);
      else if (deadline < next) next = deadline;
    }
    return next;
  }

  private remove(binding: UdpBinding): void {
    binding.closed = true;
    this.bindings.delete(binding.key);
    const addresses = this.stack.addresses;
    addresses.release(binding.guestAddress);
    if (binding.lastGuest !== null) addresses.release(binding.lastGuest.address);
    if (binding.reverse !== null) for (const kept of binding.reverse.values()) addresses.release(kept.address);
    binding.lastGuest = null;
    binding.reverse = null;
    const socket4 = binding.socket4;
    const socket6 = binding.socket6;
    binding.socket4 = binding.socket6 = null;
    if (socket4 !== null) this.closeSocket(socket4);
    if (socket6 !== null) this.closeSocket(socket6);
  }

  private closeSocket(socket: HostUdpSocket): void {
    try {
      socket.close();
    } catch (error) {
      this.stack.faults.report('udp socket close', error, 'socket left to the runtime');
    }
  }

  /** A bug while handling this binding's host event: report it and close the binding. */
  private contain(binding: UdpBinding, error: unknown): void {
    this.stack.faults.report('udp host event', error, 'binding closed');
    if (!binding.closed) this.remove(binding);
  }

  close(): void {
    if (this.closed) return;
    for (const binding of [...this.bindings.values()]) this.remove(binding);
    this.closed = true;
    this.sweeper.close();
  }
}

/** Creates the UDP engine, registers it for protocol 17 and its cleanup with the stack. */
export function installUdp(stack: Stack, options: UdpEngineOptions): UdpEngine {
  const engine = new UdpEngine(stack, options);
  stack.setIpReceiver(IpProtocol.Udp, engine);
  stack.onClose(() => engine.close());
  return engine;
}
