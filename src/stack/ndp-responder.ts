/**
 * Neighbor Discovery for our side of the link (RFC 4861), what ARP and DHCP are for IPv4:
 *
 * - Neighbor Solicitations for our four addresses (fd00::2, fd00::3, fe80::2, fe80::3) get an
 *   advertisement with libslirp's MACs, flags router + solicited + override; a solicitation from the
 *   unspecified address (duplicate address detection of one of OUR addresses) gets the advertisement
 *   to all nodes. Solicitations for any other target (the guest's own tentative address included:
 *   its duplicate address detection) get nothing, so the guest's addresses are never disturbed.
 * - Router Solicitations get a Router Advertisement at once, and one goes out unsolicited at start
 *   and then every 200–600 s (RFC 4861 §6.2.1's default interval): from fe80::2 to all nodes, cur hop
 *   limit 64, router lifetime 1800 s; options source link-layer address, prefix fd00::/64 on-link and
 *   autonomous (valid 86400 s, preferred 14400 s), our MTU (§4.6.4; slirp4netns sends none), and
 *   RDNSS fd00::3 (RFC 8106; none with --disable-dns).
 * - The guest's own addresses are resolved with our solicitations (solicit(), called by the
 *   neighbour table for a frame that waits), and learnt from every advertisement, solicitation and
 *   router solicitation that carries its link-layer address.
 *
 * Messages are checked by src/wire/ndp.ts (hop limit 255, code, options) first; anything else
 * (redirects, advertisements from routers) is dropped, counted. Never throws on guest input; its
 * frames are built in its own scratch buffer and sent through the FrameTransmitter.
 */
import { DropReason } from '../wire/drop-reason.js';
import { ETHERNET_HEADER_LENGTH, EtherType, writeEthernetHeader } from '../wire/ethernet.js';
import { fillIcmpv6Checksum, Icmpv6Type } from '../wire/icmpv6.js';
import { copyIpv6, IPV6_ALL_NODES, ipv6MulticastMac, isIpv6Unspecified, writeSolicitedNodeMulticast } from '../wire/ipv6-address.js';
import { IPV6_HEADER_LENGTH, ipv6HeaderPseudoSum, Ipv6NextHeader, type Ipv6Packet, writeIpv6Header, writeIpv6PayloadLength } from '../wire/ipv6.js';
import {
  NDP_HOP_LIMIT,
  NDP_NA_OVERRIDE,
  NDP_NA_ROUTER,
  NDP_NA_SOLICITED,
  NDP_PREFIX_AUTONOMOUS,
  NDP_PREFIX_ON_LINK,
  NdpMessage,
  NdpOptions,
  NdpOptionType,
  validateNdp,
  writeLinkLayerAddressOption,
  writeMtuOption,
  writeNeighborAdvertisement,
  writeNeighborSolicitation,
  writePrefixInformationOption,
  writeRdnssOption,
  writeRouterAdvertisement,
} from '../wire/ndp.js';
import type { IpAddresses } from './address-table.js';
import type { Clock, TimerHandle } from './clock.js';
import { ipv6OwnMac, type Ipv6NetworkConfig, type NetworkConfig } from './config.js';
import type { FrameTransmitter } from './frame-transmitter.js';
import type { RandomSource } from './random.js';

/** RFC 4861 §6.2.1 defaults (and libslirp's NDP_Min/MaxRtrAdvInterval). */
export const MIN_RTR_ADV_INTERVAL_MS = 200_000;
export const MAX_RTR_ADV_INTERVAL_MS = 600_000;
/** libslirp's values (DESIGN.md §2). */
export const RA_CUR_HOP_LIMIT = 64;
export const RA_ROUTER_LIFETIME_S = 1800;
export const RA_PREFIX_VALID_S = 86400;
export const RA_PREFIX_PREFERRED_S = 14400;
/** RFC 8106 §5.1: between MaxRtrAdvInterval and twice it. */
export const RA_RDNSS_LIFETIME_S = 1200;

const IP_OFFSET = ETHERNET_HEADER_LENGTH;
const ICMP_OFFSET = IP_OFFSET + IPV6_HEADER_LENGTH;

/** What the Stack does with what NDP learnt: record (handle, MAC) and send what waited for it. */
export type LearnNeighbor = (handle: number, mac: number) => void;

export class NdpResponder {
  private readonly frame = new Uint8Array(ICMP_OFFSET + 256);
  private readonly message = new NdpMessage();
  private readonly options = new NdpOptions();
  private readonly target = new Uint8Array(16);
  private readonly v6: Ipv6NetworkConfig;
  private timer: TimerHandle | undefined;
  private closed = false;

  constructor(
    private readonly transmitter: FrameTransmitter,
    private readonly config: NetworkConfig,
    private readonly addresses: IpAddresses,
    private readonly clock: Clock,
    private readonly random: RandomSource,
    private readonly learn: LearnNeighbor,
  ) {
    if (config.ipv6 === undefined) throw new Error('NdpResponder without an IPv6 configuration');
    this.v6 = config.ipv6;
  }

  /** Sends the first unsolicited advertisement and arms the periodic ones. */
  start(): void {
    this.advertise();
  }

  close(): void {
    this.closed = true;
    if (this.timer !== undefined) this.clock.clearTimer(this.timer);
    this.timer = undefined;
  }

  /**
   * An NDP message (ICMPv6 type 133–137, checksum verified) at bytes[offset, +length) of ip.
   * sourceHandle is ip's source as a handle, -1 when it is the unspecified address.
   */
  receive(ip: Ipv6Packet, offset: number, length: number, sourceHandle: number, ethernetSource: number): DropReason {
    const message = this.message;
    let reason = message.wrap(ip.bytes, offset, length);
    if (reason !== DropReason.None) return reason;
    reason = validateNdp(ip, message, this.options);
    if (reason !== DropReason.None) return reason;
    const linkLayer = this.options.sourceLinkLayerAddress;
    switch (message.type) {
      case Icmpv6Type.RouterSolicitation:
        if (sourceHandle >= 0 && linkLayer >= 0) this.learn(sourceHandle, linkLayer);
        this.sendRouterAdvertisement();
        return DropReason.None;
      case Icmpv6Type.NeighborSolicitation:
        return this.answerSolicitation(ip, sourceHandle, linkLayer >= 0 ? linkLayer : ethernetSource);
      case Icmpv6Type.NeighborAdvertisement: {
        const handle = this.addresses.ipv6.find(message.bytes, message.targetOffset);
        const mac = this.options.targetLinkLayerAddress;
        if (handle >= 0) this.learn(handle, mac >= 0 ? mac : ethernetSource);
        return DropReason.None;
      }
      default:
        // Router advertisements and redirects: there is no other router on this link.
        return DropReason.NotForUs;
    }
  }

  /** Asks the guest for the MAC of one of its addresses (a frame waits for it in the neighbour table). */
  solicit(handle: number): void {
    if (this.closed) return;
    const frame = this.frame;
    const target = this.target;
    this.addresses.write6(handle, target, 0);
    const destination = IP_OFFSET + 24;
    writeIpv6Header(frame, IP_OFFSET, this.v6.gatewayLinkLocal, 0, target, 0, Ipv6NextHeader.Icmpv6, 0, NDP_HOP_LIMIT);
    writeSolicitedNodeMulticast(frame, destination, target, 0);
    let end = writeNeighborSolicitation(frame, ICMP_OFFSET, target, 0);
    end = writeLinkLayerAddressOption(frame, end, NdpOptionType.SourceLinkLayerAddress, this.v6.gatewayMac);
    this.finish(end, this.v6.gatewayMac);
  }

  private answerSolicitation(ip: Ipv6Packet, sourceHandle: number, guestMac: number): DropReason {
    const m = this.message.bytes;
    const targetAt = this.message.targetOffset;
    const mac = ipv6OwnMac(this.v6, m, targetAt);
    if (mac < 0) return DropReason.NotForUs; // the guest's own addresses (its DAD) and anything else
    if (sourceHandle >= 0) this.learn(sourceHandle, guestMac);
    const frame = this.frame;
    const target = this.target;
    copyIpv6(m, targetAt, target, 0);
    const dad = isIpv6Unspecified(ip.bytes, ip.sourceOffset);
    // A duplicate address detection probe for our address: tell every node (RFC 4861 §7.2.4).
    if (dad) writeIpv6Header(frame, IP_OFFSET, target, 0, IPV6_ALL_NODES, 0, Ipv6NextHeader.Icmpv6, 0, NDP_HOP_LIMIT);
    else writeIpv6Header(frame, IP_OFFSET, target, 0, ip.bytes, ip.sourceOffset, Ipv6NextHeader.Icmpv6, 0, NDP_HOP_LIMIT);
    const flags = NDP_NA_ROUTER | NDP_NA_OVERRIDE | (dad ? 0 : NDP_NA_SOLICITED);
    let end = writeNeighborAdvertisement(frame, ICMP_OFFSET, flags, target, 0);
    end = writeLinkLayerAddressOption(frame, end, NdpOptionType.TargetLinkLayerAddress, mac);
    this.finish(end, mac, dad ? -1 : guestMac);
    return DropReason.None;
  }

  private sendRouterAdvertisement(): void {
    if (this.closed) return;
    const v6 = this.v6;
    const frame = this.frame;
    writeIpv6Header(frame, IP_OFFSET, v6.gatewayLinkLocal, 0, IPV6_ALL_NODES, 0, Ipv6NextHeader.Icmpv6, 0, NDP_HOP_LIMIT);
    let end = writeRouterAdvertisement(frame, ICMP_OFFSET, RA_CUR_HOP_LIMIT, 0, RA_ROUTER_LIFETIME_S, 0, 0);
    end = writeLinkLayerAddressOption(frame, end, NdpOptionType.SourceLinkLayerAddress, v6.gatewayMac);
    end = writePrefixInformationOption(frame, end, v6.prefix, 0, v6.prefixLength, NDP_PREFIX_ON_LINK | NDP_PREFIX_AUTONOMOUS, RA_PREFIX_VALID_S, RA_PREFIX_PREFERRED_S);
    end = writeMtuOption(frame, end, this.config.mtu);
    if (!this.config.disableDns) end = writeRdnssOption(frame, end, RA_RDNSS_LIFETIME_S, v6.dns, 0, 1);
    this.finish(end, v6.gatewayMac);
  }

  /** Unsolicited advertisement now (flushed at once: a wakeup of its own), the next one 200–600 s later. */
  private advertise(): void {
    if (this.closed) return;
    this.transmitter.beginWakeup();
    try {
      this.sendRouterAdvertisement();
    } finally {
      this.transmitter.endWakeup();
    }
    const delay = MIN_RTR_ADV_INTERVAL_MS + (this.random.uint32() % (MAX_RTR_ADV_INTERVAL_MS - MIN_RTR_ADV_INTERVAL_MS));
    this.timer = this.clock.setTimer(() => this.advertise(), delay);
  }

  /**
   * Completes the frame whose ICMPv6 message ends at `end`: payload length, checksum, Ethernet (to
   * the multicast MAC of a multicast destination, else to destinationMac), then transmits it.
   */
  private finish(end: number, sourceMac: number, destinationMac = -1): void {
    const frame = this.frame;
    const length = end - ICMP_OFFSET;
    writeIpv6PayloadLength(frame, IP_OFFSET, length);
    fillIcmpv6Checksum(frame, ICMP_OFFSET, length, ipv6HeaderPseudoSum(frame, IP_OFFSET, Ipv6NextHeader.Icmpv6, length));
    const destinationAt = IP_OFFSET + 24;
    const mac = frame[destinationAt] === 0xff ? ipv6MulticastMac(frame, destinationAt) : destinationMac;
    writeEthernetHeader(frame, 0, mac, sourceMac, EtherType.Ipv6);
    this.transmitter.transmit(frame.subarray(0, end), null);
  }
}
