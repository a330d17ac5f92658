/**
 * Neighbor Discovery (RFC 4861): the bodies of Router Solicitation/Advertisement, Neighbor
 * Solicitation/Advertisement and Redirect (views and writers), their options (link-layer addresses,
 * prefix information, MTU, and RDNSS from RFC 8106) with a length-checking iterator, and the validity
 * checks of §6.1 and §7.1 that a node must pass before acting on a message.
 *
 * NDP messages are ICMPv6 messages: the ICMPv6 view verifies the checksum, this module the rest.
 * Writers leave the checksum to fillIcmpv6Checksum (icmpv6.ts) once the options are written.
 * Never throws on guest input (returns a DropReason); never allocates.
 */
import { DropReason } from './drop-reason.js';
import { EMPTY_BYTES, readMac, readUint16, readUint32, writeMac, writeUint16, writeUint32 } from './bytes.js';
import { Icmpv6Type } from './icmpv6.js';
import {
  copyIpv6,
  ipv6Equal,
  isIpv6LinkLocal,
  isIpv6Multicast,
  isIpv6SolicitedNodeMulticast,
  isIpv6Unspecified,
  writeIpv6Prefix,
} from './ipv6-address.js';
import type { Ipv6Packet } from './ipv6.js';

/** Every NDP message is sent, and must arrive, with this hop limit: proof it did not cross a router. */
export const NDP_HOP_LIMIT = 255;

export const NDP_ROUTER_SOLICITATION_LENGTH = 8;
export const NDP_ROUTER_ADVERTISEMENT_LENGTH = 16;
export const NDP_NEIGHBOR_SOLICITATION_LENGTH = 24;
export const NDP_NEIGHBOR_ADVERTISEMENT_LENGTH = 24;
export const NDP_REDIRECT_LENGTH = 40;

/** Router Advertisement flags (RFC 4861 §4.2). */
export const NDP_RA_MANAGED = 0x80;
export const NDP_RA_OTHER = 0x40;
/** Neighbor Advertisement flags (RFC 4861 §4.4). */
export const NDP_NA_ROUTER = 0x80;
export const NDP_NA_SOLICITED = 0x40;
export const NDP_NA_OVERRIDE = 0x20;
/** Prefix Information flags (RFC 4861 §4.6.2). */
export const NDP_PREFIX_ON_LINK = 0x80;
export const NDP_PREFIX_AUTONOMOUS = 0x40;
/** A lifetime of all ones means forever (prefix lifetimes, RDNSS). */
export const NDP_INFINITE_LIFETIME = 0xffffffff;

export enum NdpOptionType {
  SourceLinkLayerAddress = 1,
  TargetLinkLayerAddress = 2,
  PrefixInformation = 3,
  RedirectedHeader = 4,
  Mtu = 5,
  Nonce = 14,
  RouteInformation = 24,
  RecursiveDnsServer = 25,
  DnsSearchList = 31,
}

export const NDP_LINK_LAYER_ADDRESS_OPTION_LENGTH = 8;
export const NDP_PREFIX_INFORMATION_OPTION_LENGTH = 32;
export const NDP_MTU_OPTION_LENGTH = 8;

const TYPE = 0;
const CODE = 1;
const CHECKSUM = 2;
// Router Advertisement
const CUR_HOP_LIMIT = 4;
const RA_FLAGS = 5;
const ROUTER_LIFETIME = 6;
const REACHABLE_TIME = 8;
const RETRANS_TIMER = 12;
// Neighbor Solicitation / Advertisement / Redirect
const NA_FLAGS = 4;
const TARGET = 8;
const REDIRECT_DESTINATION = 24;

/** Length of the fixed part of an NDP message of this ICMPv6 type, or -1 when it is not one. */
export function ndpFixedLength(type: number): number {
  switch (type) {
    case Icmpv6Type.RouterSolicitation:
      return NDP_ROUTER_SOLICITATION_LENGTH;
    case Icmpv6Type.RouterAdvertisement:
      return NDP_ROUTER_ADVERTISEMENT_LENGTH;
    case Icmpv6Type.NeighborSolicitation:
      return NDP_NEIGHBOR_SOLICITATION_LENGTH;
    case Icmpv6Type.NeighborAdvertisement:
      return NDP_NEIGHBOR_ADVERTISEMENT_LENGTH;
    case Icmpv6Type.Redirect:
      return NDP_REDIRECT_LENGTH;
    default:
      return -1;
  }
}

/** A checked view of one NDP message (the whole ICMPv6 message, header included). */
export class NdpMessage {
  bytes: Uint8Array = EMPTY_BYTES;
  offset = 0;
  length = 0;

  /**
   * Wraps the ICMPv6 message at offset (its checksum already verified by Icmpv6Packet.wrap).
   * UnsupportedProtocol when the type is not an NDP message; Truncated when shorter than its fixed part.
   */
  wrap(bytes: Uint8Array, offset: number, length: number): DropReason {
    this.bytes = bytes;
    this.offset = offset;
    this.length = length;
    if (length < 8 || offset + length > bytes.length) return DropReason.Truncated;
    const fixed = ndpFixedLength(bytes[offset + TYPE]);
    if (fixed < 0) return DropReason.UnsupportedProtocol;
    if (length < fixed) return DropReason.Truncated;
    return DropReason.None;
  }

  get type(): number {
    return this.bytes[this.offset + TYPE];
  }
  get code(): number {
    return this.bytes[this.offset + CODE];
  }
  get checksum(): number {
    return readUint16(this.bytes, this.offset + CHECKSUM);
  }

  // Router Advertisement
  /** Hop limit the router suggests for outgoing packets (0 = unspecified). */
  get curHopLimit(): number {
    return this.bytes[this.offset + CUR_HOP_LIMIT];
  }
  /** The flags byte: NDP_RA_MANAGED, NDP_RA_OTHER (and RFC 4191 preference bits). */
  get routerFlags(): number {
    return this.bytes[this.offset + RA_FLAGS];
  }
  get managed(): boolean {
    return (this.bytes[this.offset + RA_FLAGS] & NDP_RA_MANAGED) !== 0;
  }
  get other(): boolean {
    return (this.bytes[this.offset + RA_FLAGS] & NDP_RA_OTHER) !== 0;
  }
  /** Seconds this router may be a default router (0 = not a default router). */
  get routerLifetime(): number {
    return readUint16(this.bytes, this.offset + ROUTER_LIFETIME);
  }
  /** Milliseconds (0 = unspecified). */
  get reachableTime(): number {
    return readUint32(this.bytes, this.offset + REACHABLE_TIME);
  }
  /** Milliseconds (0 = unspecified). */
  get retransTimer(): number {
    return readUint32(this.bytes, this.offset + RETRANS_TIMER);
  }

  // Neighbor Advertisement
  /** The flags byte: NDP_NA_ROUTER, NDP_NA_SOLICITED, NDP_NA_OVERRIDE. */
  get advertisementFlags(): number {
    return this.bytes[this.offset + NA_FLAGS];
  }
  get router(): boolean {
    return (this.bytes[this.offset + NA_FLAGS] & NDP_NA_ROUTER) !== 0;
  }
  get solicited(): boolean {
    return (this.bytes[this.offset + NA_FLAGS] & NDP_NA_SOLICITED) !== 0;
  }
  get override(): boolean {
    return (this.bytes[this.offset + NA_FLAGS] & NDP_NA_OVERRIDE) !== 0;
  }

  /** Absolute index of the 16-byte Target Address (neighbor solicitation/advertisement, redirect). */
  get targetOffset(): number {
    return this.offset + TARGET;
  }
  /** Absolute index of the 16-byte Destination Address of a redirect. */
  get redirectDestinationOffset(): number {
    return this.offset + REDIRECT_DESTINATION;
  }
  /** Absolute index of the first option. */
  get optionsOffset(): number {
    return this.offset + ndpFixedLength(this.bytes[this.offset + TYPE]);
  }
  get optionsEnd(): number {
    return this.offset + this.length;
  }
}

/**
 * Walks the options of an NDP message: `while (reader.next()) { switch (reader.type) … }`, then
 * check reader.reason. next() refuses (reason BadOption) an option of length zero or reaching past
 * the message (RFC 4861 §4.6), and a known option whose length is not its own (link-layer address
 * 8 bytes for Ethernet, prefix information 32, MTU 8, RDNSS 8 + 16n with n ≥ 1).
 * Unknown options are returned for the caller to skip. The typed getters read the current option.
 */
export class NdpOptionReader {
  bytes: Uint8Array = EMPTY_BYTES;
  /** Absolute index of the current option. */
  offset = 0;
  type = 0;
  /** Length of the current option in bytes. */
  length = 0;
  /** None while iterating and at a clean end; BadOption after a refused option. */
  reason = DropReason.None;
  private nextOffset = 0;
  private end = 0;

  /** Positions the reader before the first option of a wrapped message. */
  start(message: NdpMessage): void {
    this.reset(message.bytes, message.optionsOffset, message.optionsEnd);
  }

  /** Positions the reader before the options in bytes[start, end). */
  reset(bytes: Uint8Array, start: number, end: number): void {
    this.bytes = bytes;
    this.nextOffset = start;
    this.end = end;
    this.offset = start;
    this.type = 0;
    this.length = 0;
    this.reason = DropReason.None;
  }

  /** Moves to the next option: true when there is one, false at the end or on a refused option. */
  next(): boolean {
    const at = this.nextOffset;
    if (at >= this.end || this.reason !== DropReason.None) return false;
    if (at + 2 > this.end) return this.refuse();
    const type = this.bytes[at];
    const length = this.bytes[at + 1] * 8;
    if (length === 0 || at + length > this.end) return this.refuse();
    switch (type) {
      case NdpOptionType.SourceLinkLayerAddress:
      case NdpOptionType.TargetLinkLayerAddress:
        if (length !== NDP_LINK_LAYER_ADDRESS_OPTION_LENGTH) return this.refuse();
        break;
      case NdpOptionType.PrefixInformation:
        if (length !== NDP_PREFIX_INFORMATION_OPTION_LENGTH) return this.refuse();
        break;
      case NdpOptionType.Mtu:
        if (length !== NDP_MTU_OPTION_LENGTH) return this.refuse();
        break;
      case NdpOptionType.RecursiveDnsServer:
        if (length < 24 || (length & 15) !== 8) return this.refuse();
        break;
    }
    this.offset = at;
    this.type = type;
    this.length = length;
    this.nextOffset = at + length;
    return true;
  }

  private refuse(): boolean {
    this.reason = DropReason.BadOption;
    return false;
  }

  /** Source/target link-layer address: the MAC as a 48-bit number. */
  get linkLayerAddress(): number {
    return readMac(this.bytes, this.offset + 2);
  }

  // Prefix Information
  get prefixLength(): number {
    return this.bytes[this.offset + 2];
  }
  /** NDP_PREFIX_ON_LINK, NDP_PREFIX_AUTONOMOUS. */
  get prefixFlags(): number {
    return this.bytes[this.offset + 3];
  }
  get onLink(): boolean {
    return (this.bytes[this.offset + 3] & NDP_PREFIX_ON_LINK) !== 0;
  }
  get autonomous(): boolean {
    return (this.bytes[this.offset + 3] & NDP_PREFIX_AUTONOMOUS) !== 0;
  }
  /** Seconds; NDP_INFINITE_LIFETIME is forever. */
  get validLifetime(): number {
    return readUint32(this.bytes, this.offset + 4);
  }
  get preferredLifetime(): number {
    return readUint32(this.bytes, this.offset + 8);
  }
  /** Absolute index of the 16-byte prefix. */
  get prefixOffset(): number {
    return this.offset + 16;
  }

  /** The MTU option's value. */
  get mtu(): number {
    return readUint32(this.bytes, this.offset + 4);
  }

  // RDNSS
  /** Seconds the servers may be used; NDP_INFINITE_LIFETIME is forever, 0 withdraws them. */
  get rdnssLifetime(): number {
    return readUint32(this.bytes, this.offset + 4);
  }
  get rdnssAddressCount(): number {
    return (this.length - 8) >>> 4;
  }
  /** Absolute index of the i-th server address. */
  rdnssAddressOffset(i: number): number {
    return this.offset + 8 + i * 16;
  }
}

/** What the options of one message say that the engine acts on; reused across messages. */
export class NdpOptions {
  /** MAC as a 48-bit number, or -1 when absent. */
  sourceLinkLayerAddress = -1;
  targetLinkLayerAddress = -1;
  /** -1 when absent. */
  mtu = -1;
  prefixCount = 0;
  rdnssCount = 0;
  /** Absolute index of a Nonce option (RFC 3971 §5.3, used by enhanced DAD, RFC 7527), or -1. */
  nonceOffset = -1;
  readonly reader = new NdpOptionReader();
}

/** Reads the options of a wrapped message into out. BadOption when one is refused (see NdpOptionReader). */
export function parseNdpOptions(message: NdpMessage, out: NdpOptions): DropReason {
  out.sourceLinkLayerAddress = -1;
  out.targetLinkLayerAddress = -1;
  out.mtu = -1;
  out.prefixCount = 0;
  out.rdnssCount = 0;
  out.nonceOffset = -1;
  const reader = out.reader;
  reader.start(message);
  while (reader.next()) {
    switch (reader.type) {
      case NdpOptionType.SourceLinkLayerAddress:
        out.sourceLinkLayerAddress = reader.linkLayerAddress;
        break;
      case NdpOptionType.TargetLinkLayerAddress:
        out.targetLinkLayerAddress = reader.linkLayerAddress;
        break;
      case NdpOptionType.Mtu:
        out.mtu = reader.mtu;
        break;
      case NdpOptionType.PrefixInformation:
        out.prefixCount++;
        break;
      case NdpOptionType.RecursiveDnsServer:
        out.rdnssCount++;
        break;
      case NdpOptionType.Nonce:
        out.nonceOffset = reader.offset;
        break;
    }
  }
  return reader.reason;
}

/**
 * The validity checks of RFC 4861 (§6.1.1 RS, §6.1.2 RA, §7.1.1 NS, §7.1.2 NA, §8.1 redirect) on
 * a message already wrapped (and checksum-verified), parsing its options into options on the way:
 * hop limit 255, code 0, every option well formed, and the address rules of each type (e.g. an NS
 * from the unspecified address — duplicate address detection — goes to a solicited-node address and
 * carries no source link-layer address). InvalidNdp or BadOption when it fails: drop silently.
 */
export function validateNdp(ip: Ipv6Packet, message: NdpMessage, options: NdpOptions): DropReason {
  if (ip.hopLimit !== NDP_HOP_LIMIT || message.code !== 0) return DropReason.InvalidNdp;
  const reason = parseNdpOptions(message, options);
  if (reason !== DropReason.None) return reason;
  const b = ip.bytes;
  const unspecifiedSource = isIpv6Unspecified(b, ip.sourceOffset);
  switch (message.type) {
    case Icmpv6Type.RouterSolicitation:
      if (unspecifiedSource && options.sourceLinkLayerAddress >= 0) return DropReason.InvalidNdp;
      break;
    case Icmpv6Type.RouterAdvertisement:
      if (!isIpv6LinkLocal(b, ip.sourceOffset)) return DropReason.InvalidNdp;
      break;
    case Icmpv6Type.NeighborSolicitation:
      if (isIpv6Multicast(message.bytes, message.targetOffset)) return DropReason.InvalidNdp;
      if (unspecifiedSource && (!isIpv6SolicitedNodeMulticast(b, ip.destinationOffset) || options.sourceLinkLayerAddress >= 0)) {
        return DropReason.InvalidNdp;
      }
      break;
    case Icmpv6Type.NeighborAdvertisement:
      if (isIpv6Multicast(message.bytes, message.targetOffset)) return DropReason.InvalidNdp;
      if (isIpv6Multicast(b, ip.destinationOffset) && message.solicited) return DropReason.InvalidNdp;
      break;
    case Icmpv6Type.Redirect: {
      const m = message.bytes;
      if (!isIpv6LinkLocal(b, ip.sourceOffset) || isIpv6Multicast(m, message.redirectDestinationOffset)) return DropReason.InvalidNdp;
      if (!isIpv6LinkLocal(m, message.targetOffset) && !ipv6Equal(m, message.targetOffset, m, message.redirectDestinationOffset)) {
        return DropReason.InvalidNdp;
      }
      break;
    }
  }
  return DropReason.None;
}

// ---- Writers (checksum zero: write the options, then fillIcmpv6Checksum) ----

function writeIcmpv6Head(buf: Uint8Array, offset: number, type: number): void {
  buf[offset + TYPE] = type;
  buf[offset + CODE] = 0;
  writeUint16(buf, offset + CHECKSUM, 0);
}

/** Returns the offset of the options. */
export function writeRouterSolicitation(buf: Uint8Array, offset: number): number {
  writeIcmpv6Head(buf, offset, Icmpv6Type.RouterSolicitation);
  writeUint32(buf, offset + 4, 0);
  return offset + NDP_ROUTER_SOLICITATION_LENGTH;
}

/** flags: NDP_RA_MANAGED | NDP_RA_OTHER; lifetime in seconds, times in milliseconds. Returns the offset of the options. */
export function writeRouterAdvertisement(
  buf: Uint8Array,
  offset: number,
  curHopLimit: number,
  flags: number,
  routerLifetime: number,
  reachableTime: number,
  retransTimer: number,
): number {
  writeIcmpv6Head(buf, offset, Icmpv6Type.RouterAdvertisement);
  buf[offset + CUR_HOP_LIMIT] = curHopLimit;
  buf[offset + RA_FLAGS] = flags;
  writeUint16(buf, offset + ROUTER_LIFETIME, routerLifetime);
  writeUint32(buf, offset + REACHABLE_TIME, reachableTime);
  writeUint32(buf, offset + RETRANS_TIMER, retransTimer);
  return offset + NDP_ROUTER_ADVERTISEMENT_LENGTH;
}

/** Returns the offset of the options. */
export function writeNeighborSolicitation(buf: Uint8Array, offset: number, target: Uint8Array, targetOffset: number): number {
  writeIcmpv6Head(buf, offset, Icmpv6Type.NeighborSolicitation);
  writeUint32(buf, offset + 4, 0);
  copyIpv6(target, targetOffset, buf, offset + TARGET);
  return offset + NDP_NEIGHBOR_SOLICITATION_LENGTH;
}

/** flags: NDP_NA_ROUTER | NDP_NA_SOLICITED | NDP_NA_OVERRIDE. Returns the offset of the options. */
export function writeNeighborAdvertisement(buf: Uint8Array, offset: number, flags: number, target: Uint8Array, targetOffset: number): number {
  writeIcmpv6Head(buf, offset, Icmpv6Type.NeighborAdvertisement);
  writeUint32(buf, offset + 4, 0);
  buf[offset + NA_FLAGS] = flags;
  copyIpv6(target, targetOffset, buf, offset + TARGET);
  return offset + NDP_NEIGHBOR_ADVERTISEMENT_LENGTH;
}

/** Source or target link-layer address option for an Ethernet MAC (48-bit number). Returns the next offset. */
export function writeLinkLayerAddressOption(
  buf: Uint8Array,
  offset: number,
  type: NdpOptionType.SourceLinkLayerAddress | NdpOptionType.TargetLinkLayerAddress,
  mac: number,
): number {
  buf[offset] = type;
  buf[offset + 1] = 1;
  writeMac(buf, offset + 2, mac);
  return offset + NDP_LINK_LAYER_ADDRESS_OPTION_LENGTH;
}

/**
 * Prefix information option: prefix (bits after prefixLength cleared, as §4.6.2 asks), flags
 * NDP_PREFIX_ON_LINK | NDP_PREFIX_AUTONOMOUS, lifetimes in seconds. Returns the next offset.
 */
export function writePrefixInformationOption(
  buf: Uint8Array,
  offset: number,
  prefix: Uint8Array,
  prefixOffset: number,
  prefixLength: number,
  flags: number,
  validLifetime: number,
  preferredLifetime: number,
): number {
  buf[offset] = NdpOptionType.PrefixInformation;
  buf[offset + 1] = 4;
  buf[offset + 2] = prefixLength;
  buf[offset + 3] = flags;
  writeUint32(buf, offset + 4, validLifetime);
  writeUint32(buf, offset + 8, preferredLifetime);
  writeUint32(buf, offset + 12, 0);
  writeIpv6Prefix(buf, offset + 16, prefix, prefixOffset, prefixLength);
  return offset + NDP_PREFIX_INFORMATION_OPTION_LENGTH;
}

/** MTU option. Returns the next offset. */
export function writeMtuOption(buf: Uint8Array, offset: number, mtu: number): number {
  buf[offset] = NdpOptionType.Mtu;
  buf[offset + 1] = 1;
  writeUint16(buf, offset + 2, 0);
  writeUint32(buf, offset + 4, mtu);
  return offset + NDP_MTU_OPTION_LENGTH;
}

/**
 * Recursive DNS server option (RFC 8106 §5.1) with count (≥ 1) addresses taken from consecutive
 * 16-byte slots at addresses[addressesOffset]; lifetime in seconds. Returns the next offset.
 */
export function writeRdnssOption(
  buf: Uint8Array,
  offset: number,
  lifetime: number,
  addresses: Uint8Array,
  addressesOffset: number,
  count: number,
): number {
  buf[offset] = NdpOptionType.RecursiveDnsServer;
  buf[offset + 1] = 1 + 2 * count;
  writeUint16(buf, offset + 2, 0);
  writeUint32(buf, offset + 4, lifetime);
  for (let i = 0; i < count; i++) copyIpv6(addresses, addressesOffset + i * 16, buf, offset + 8 + i * 16);
  return offset + 8 + 16 * count;
}
