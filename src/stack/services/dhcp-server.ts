/**
 * The DHCP server at the gateway address (RFC 2131), as slirp4netns's: 16 leases from .15 of the
 * network (.15–.30), 86400 s, options 53 type, 54 server id (the gateway), 51 lease time, 1 subnet
 * mask, 3 router, 6 DNS server (left out with --disable-dns), 26 interface MTU.
 *
 * It is a UdpService: the UDP engine offers it every guest datagram first; it takes those for port 67
 * addressed to the gateway or a broadcast address, and answers through UdpGuestSender from the
 * gateway, port 67, to port 68.
 *
 * Leases are keyed by the client identifier (option 61) when the client sends one, else by chaddr,
 * so udhcpc and dhclient (which differ in whether they send 61) both get the same address on
 * renewal. A client that asks again is given its old address while nobody else holds it. Expiry is
 * lazy (checked against the Clock on use): no timers.
 *
 * Where replies go (RFC 2131 §4.1): to ciaddr when the client has one (RENEWING, INFORM), else to
 * 255.255.255.255. The RFC allows unicast to yiaddr/chaddr for a client without the broadcast flag,
 * but that needs a neighbour entry the guest never announced; libslirp broadcasts too, and both
 * udhcpc and dhclient read broadcasts on their packet sockets. NAKs are always broadcast (§4.3.2).
 * Relayed messages (giaddr set) cannot occur on this point-to-point link and are dropped.
 *
 * Never throws on guest input: malformed messages are dropped and counted through stack.countDrop.
 */
import { DropReason } from '../../wire/drop-reason.js';
import { formatMac } from '../../wire/bytes.js';
import { formatIpv4, ipv4Broadcast } from '../../wire/ip-address.js';
import {
  BOOTP_FLAG_BROADCAST,
  BOOTP_REQUEST,
  DhcpMessage,
  DhcpMessageType,
  DhcpOption,
  writeDhcpByteOption,
  writeDhcpEnd,
  writeDhcpReplyHeader,
  writeDhcpUint16Option,
  writeDhcpUint32Option,
} from '../../wire/dhcp.js';
import type { Stack } from '../stack.js';
import type { UdpGuestSender, UdpService } from '../udp/udp-service.js';

export const DHCP_SERVER_PORT = 67;
export const DHCP_CLIENT_PORT = 68;
/** slirp4netns/libslirp: NB_BOOTP_CLIENTS 16, LEASE_TIME 24 h. */
export const DHCP_POOL_SIZE = 16;
export const DHCP_LEASE_SECONDS = 86400;
/** How long an OFFER holds its address for the client it was made to, before others may get it. */
export const DHCP_OFFER_HOLD_MS = 60_000;
/** How long an address the guest declined (DHCPDECLINE: in use on the link) stays out of the pool. */
export const DHCP_DECLINE_HOLD_MS = 600_000;
const BROADCAST = 0xffffffff;
/** Room for any reply we write: fixed part 240, options well under 60, padded to 300. */
const REPLY_CAPACITY = 576;

const enum LeaseState {
  Free,
  Offered,
  Bound,
  Declined,
}

interface Lease {
  readonly address: number;
  state: LeaseState;
  /** Client key ("id:…" or "hw:…"); kept after release/expiry so the client gets it back. */
  key: string;
  /** Clock time (ms) when an Offered/Bound/Declined lease lapses back to Free. */
  expiresAt: number;
}

/** The UDP engine's side as the DHCP server sees it (GuestUdpPort satisfies it). */
export interface UdpServiceHost extends UdpGuestSender {
  addUdpService(service: UdpService): () => void;
}

export interface DhcpServerOptions {
  /** Lease time in seconds (default 86400, as slirp4netns). */
  readonly leaseSeconds?: number;
}

export class DhcpServer implements UdpService {
  /** Replies sent per message type (index DhcpMessageType), for tests and stats. */
  readonly sent = new Float64Array(9);
  private readonly leases: Lease[] = [];
  private readonly message = new DhcpMessage();
  private readonly leaseSeconds: number;
  private readonly broadcastAddress: number;

  constructor(
    private readonly stack: Stack,
    private readonly sender: UdpGuestSender,
    options: DhcpServerOptions = {},
  ) {
    const config = stack.config;
    this.leaseSeconds = options.leaseSeconds ?? DHCP_LEASE_SECONDS;
    this.broadcastAddress = ipv4Broadcast(config.ipv4);
    for (let i = 0; i < DHCP_POOL_SIZE; i++) {
      this.leases.push({ address: (config.ipv4.dhcpStart + i) >>> 0, state: LeaseState.Free, key: '', expiresAt: 0 });
    }
  }

  /** The addresses currently offered or bound, as text, for logs and tests. */
  describeLeases(): { address: string; state: string; key: string }[] {
    const now = this.stack.clock.now();
    return this.leases
      .filter((lease) => this.stateOf(lease, now) !== LeaseState.Free)
      .map((lease) => ({ address: formatIpv4(lease.address), state: ['free', 'offered', 'bound', 'declined'][lease.state], key: lease.key }));
  }

  receiveUdp(_source: number, _sourcePort: number, destination: number, destinationPort: number, payload: Uint8Array): boolean {
    if (destinationPort !== DHCP_SERVER_PORT) return false;
    const config = this.stack.config;
    if (destination !== BROADCAST && destination !== this.broadcastAddress && destination !== config.ipv4.gateway) return false;
    const reason = this.handle(payload);
    if (reason !== DropReason.None) this.stack.countDrop(reason, payload, 0, payload.length);
    return true;
  }

  private handle(payload: Uint8Array): DropReason {
    const m = this.message;
    const reason = m.wrap(payload, 0, payload.length);
    if (reason !== DropReason.None) return reason;
    if (m.op !== BOOTP_REQUEST) return DropReason.Malformed;
    // Plain BOOTP (no option 53) is not served, as libslirp.
    const type = m.messageType;
    if (type === 0) return DropReason.Malformed;
    if (m.giaddr !== 0) return DropReason.NotForUs;
    const key = this.clientKey(m);
    if (key === undefined) return DropReason.BadOption;
    const now = this.stack.clock.now();
    switch (type) {
      case DhcpMessageType.Discover:
        return this.discover(m, key, now);
      case DhcpMessageType.Request:
        return this.request(m, key, now);
      case DhcpMessageType.Decline:
        return this.decline(m, key, now);
      case DhcpMessageType.Release:
        return this.release(m, key, now);
      case DhcpMessageType.Inform:
        return this.inform(m);
      default:
        // OFFER/ACK/NAK are server messages; a client never sends them.
        return DropReason.Malformed;
    }
  }

  private discover(m: DhcpMessage, key: string, now: number): DropReason {
    const lease = this.leaseFor(key, m.requestedIp, now);
    if (lease === undefined) {
      this.stack.logger.warn({ client: key }, `DHCP: pool of ${DHCP_POOL_SIZE} addresses exhausted, no offer`);
      return DropReason.TableFull;
    }
    if (this.stateOf(lease, now) !== LeaseState.Bound) {
      lease.state = LeaseState.Offered;
      lease.expiresAt = now + DHCP_OFFER_HOLD_MS;
    }
    this.assign(lease, key);
    this.reply(m, DhcpMessageType.Offer, lease.address, 0);
    return DropReason.None;
  }

  /** RFC 2131 §4.3.2: SELECTING (server id), INIT-REBOOT (requested IP, no ciaddr), RENEWING/REBINDING (ciaddr). */
  private request(m: DhcpMessage, key: string, now: number): DropReason {
    const serverId = m.serverIdentifier;
    const requested = m.requestedIp;
    const ciaddr = m.ciaddr;
    if (serverId !== 0) {
      const own = this.ownedBy(key, now);
      if (serverId !== this.stack.config.ipv4.gateway) {
        // The client chose another server: our offer is free again.
        if (own !== undefined && this.stateOf(own, now) === LeaseState.Offered) own.state = LeaseState.Free;
        return DropReason.None;
      }
      const wanted = requested !== 0 ? requested : ciaddr;
      // Also after the offer's hold lapsed: nobody else took it (ownedBy still finds the key).
      if (own !== undefined && own.address === wanted) return this.ack(m, key, own, now);
      this.nak(m, `requested ${formatIpv4(wanted)} was not offered to it`);
      return DropReason.None;
    }
    const wanted = requested !== 0 ? requested : ciaddr;
    if (wanted === 0) return DropReason.BadOption;
    const lease = this.poolLease(wanted);
    if (lease !== undefined) {
      const state = this.stateOf(lease, now);
      // Its own lease, or a free one it remembers from before we started (tslirp restarted under it).
      if (lease.key === key || state === LeaseState.Free) {
        if (state !== LeaseState.Declined) return this.ack(m, key, lease, now);
      }
    }
    this.nak(m, `${formatIpv4(wanted)} is not available to it`);
    return DropReason.None;
  }

  private decline(m: DhcpMessage, key: string, now: number): DropReason {
    if (m.serverIdentifier !== this.stack.config.ipv4.gateway) return DropReason.None;
    const lease = this.poolLease(m.requestedIp);
    if (lease === undefined || lease.key !== key) return DropReason.None;
    lease.state = LeaseState.Declined;
    lease.key = '';
    lease.expiresAt = now + DHCP_DECLINE_HOLD_MS;
    this.stack.logger.warn(`DHCP: the guest declined ${formatIpv4(lease.address)} (in use on the link); held back for ${DHCP_DECLINE_HOLD_MS / 1000} s`);
    return DropReason.None;
  }

  private release(m: DhcpMessage, key: string, now: number): DropReason {
    const lease = this.poolLease(m.ciaddr);
    if (lease !== undefined && lease.key === key && this.stateOf(lease, now) === LeaseState.Bound) {
      // The key stays: the same client gets this address back if nobody took it meanwhile.
      lease.state = LeaseState.Free;
      this.stack.logger.debug(`DHCP: ${formatIpv4(lease.address)} released`);
    }
    return DropReason.None;
  }

  /** DHCPINFORM (§4.3.5): the client has an address already and wants the other parameters. */
  private inform(m: DhcpMessage): DropReason {
    const ciaddr = m.ciaddr;
    if (ciaddr === 0) return DropReason.BadAddress;
    this.reply(m, DhcpMessageType.Ack, 0, ciaddr);
    return DropReason.None;
  }

  private ack(m: DhcpMessage, key: string, lease: Lease, now: number): DropReason {
    const renewal = lease.state === LeaseState.Bound && lease.key === key;
    lease.state = LeaseState.Bound;
    this.assign(lease, key);
    lease.expiresAt = now + this.leaseSeconds * 1000;
    if (!renewal) this.stack.logger.info(`DHCP: ${formatIpv4(lease.address)} leased to ${formatMac(m.chaddr)}`);
    this.reply(m, DhcpMessageType.Ack, lease.address, m.ciaddr);
    return DropReason.None;
  }

  private nak(m: DhcpMessage, why: string): void {
    this.stack.logger.debug(`DHCP: NAK to ${formatMac(m.chaddr)}: ${why}`);
    this.reply(m, DhcpMessageType.Nak, 0, 0);
  }

  /**
   * Writes and sends a reply. yiaddr 0 with ciaddr set is an INFORM answer (no lease time); NAK
   * carries only 53 and 54. Sent to ciaddr when set (not for NAK), else broadcast.
   */
  private reply(m: DhcpMessage, type: DhcpMessageType, yiaddr: number, ciaddr: number): void {
    const config = this.stack.config;
    const nak = type === DhcpMessageType.Nak;
    // A new buffer per reply: the UDP engine may hold the payload until the link is flushed, and
    // DHCP is rare enough that this costs nothing.
    const buf = new Uint8Array(REPLY_CAPACITY);
    let at = writeDhcpReplyHeader(buf, 0, m.xid, m.flags & BOOTP_FLAG_BROADCAST, nak ? 0 : ciaddr, yiaddr, 0, 0, m.chaddr);
    at = writeDhcpByteOption(buf, at, DhcpOption.MessageType, type);
    at = writeDhcpUint32Option(buf, at, DhcpOption.ServerIdentifier, config.ipv4.gateway);
    if (!nak) {
      if (yiaddr !== 0) at = writeDhcpUint32Option(buf, at, DhcpOption.LeaseTime, this.leaseSeconds);
      at = writeDhcpUint32Option(buf, at, DhcpOption.SubnetMask, config.ipv4.netmask);
      at = writeDhcpUint32Option(buf, at, DhcpOption.Router, config.ipv4.gateway);
      if (!config.disableDns) at = writeDhcpUint32Option(buf, at, DhcpOption.DomainNameServer, config.ipv4.dns);
      at = writeDhcpUint16Option(buf, at, DhcpOption.InterfaceMtu, Math.min(config.mtu, 0xffff));
    }
    const length = writeDhcpEnd(buf, at, 0);
    const destination = !nak && ciaddr !== 0 ? ciaddr : BROADCAST;
    this.sent[type]++;
    this.sender.sendToGuest(config.ipv4.gateway, DHCP_SERVER_PORT, destination, DHCP_CLIENT_PORT, buf.subarray(0, length));
  }

  /** "id:<hex>" from option 61 when present (non-empty), else "hw:<chaddr>"; undefined when 61 is empty. */
  private clientKey(m: DhcpMessage): string | undefined {
    const length = m.findClientIdentifier();
    if (length === 0) return undefined;
    if (length < 0) return `hw:${m.chaddr.toString(16)}`;
    let hex = 'id:';
    const b = m.bytes;
    for (let k = 0; k < length; k++) hex += (b[m.optionDataOffset + k] + 0x100).toString(16).slice(1);
    return hex;
  }

  /** Gives lease to key; any other lease the key held or remembered is let go (one address per client). */
  private assign(lease: Lease, key: string): void {
    for (const other of this.leases) {
      if (other === lease || other.key !== key) continue;
      other.key = '';
      if (other.state !== LeaseState.Declined) other.state = LeaseState.Free;
    }
    lease.key = key;
  }

  private stateOf(lease: Lease, now: number): LeaseState {
    if (lease.state !== LeaseState.Free && now >= lease.expiresAt) lease.state = LeaseState.Free;
    return lease.state;
  }

  private poolLease(address: number): Lease | undefined {
    const index = address - this.stack.config.ipv4.dhcpStart;
    return index >= 0 && index < DHCP_POOL_SIZE ? this.leases[index] : undefined;
  }

  /** The lease offered to or bound by key (or last held by it and still free). */
  private ownedBy(key: string, now: number): Lease | undefined {
    for (const lease of this.leases) if (lease.key === key && this.stateOf(lease, now) !== LeaseState.Declined) return lease;
    return undefined;
  }

  /**
   * The address to offer: the client's own (current or remembered), else the one it asks for if
   * free, else the first never-used free one, else the first free one (someone else's old lease).
   */
  private leaseFor(key: string, requested: number, now: number): Lease | undefined {
    const own = this.ownedBy(key, now);
    if (own !== undefined) return own;
    const asked = this.poolLease(requested);
    if (asked !== undefined && this.stateOf(asked, now) === LeaseState.Free && asked.key === '') return asked;
    let fallback: Lease | undefined;
    for (const lease of this.leases) {
      if (this.stateOf(lease, now) !== LeaseState.Free) continue;
      if (lease.key === '') return lease;
      fallback ??= lease;
    }
    return fallback;
  }
}

/** Creates the DHCP server and registers it with the UDP engine; returns it (its removal via stack close). */
export function installDhcp(stack: Stack, udp: UdpServiceHost, options: DhcpServerOptions = {}): DhcpServer {
  const server = new DhcpServer(stack, udp, options);
  const remove = udp.addUdpService(server);
  stack.onClose(remove);
  return server;
}
