/**
 * IPv6 packets (RFC 8200 §3): a checked view of the fixed header, its writer, and the pseudo-header
 * sum that TCP, UDP and ICMPv6 checksums start from.
 *
 * wrap() checks the version and the payload length against the bytes present (Ethernet padding after
 * the packet is allowed). It does not walk extension headers: walkIpv6Headers does, on demand. There
 * is no header checksum in IPv6. Addresses stay in the packet; the view gives their offsets.
 * Never throws on guest input; returns a DropReason. Never allocates.
 */
import { DropReason } from './drop-reason.js';
import { EMPTY_BYTES, readUint16, readUint32, writeUint16, writeUint32 } from './bytes.js';
import { ipv6PseudoHeaderSum } from './checksum.js';
import { copyIpv6 } from './ipv6-address.js';

export const IPV6_HEADER_LENGTH = 40;
/** Every IPv6 link carries at least this (RFC 8200 §5); ICMPv6 errors are cut to fit it. */
export const IPV6_MIN_MTU = 1280;
export const IPV6_MAX_PAYLOAD_LENGTH = 0xffff;

/** Next Header values the wire layer knows (IANA "Assigned Internet Protocol Numbers"). */
export enum Ipv6NextHeader {
  HopByHopOptions = 0,
  Tcp = 6,
  Udp = 17,
  Routing = 43,
  Fragment = 44,
  EncapsulatingSecurityPayload = 50,
  AuthenticationHeader = 51,
  Icmpv6 = 58,
  NoNextHeader = 59,
  DestinationOptions = 60,
}

const VERSION_CLASS_FLOW = 0;
const PAYLOAD_LENGTH = 4;
const NEXT_HEADER = 6;
const HOP_LIMIT = 7;
const SOURCE = 8;
const DESTINATION = 24;

/** Offsets of the fields within the header, for Parameter Problem pointers and in-place rewrites. */
export const IPV6_PAYLOAD_LENGTH_OFFSET = PAYLOAD_LENGTH;
export const IPV6_NEXT_HEADER_OFFSET = NEXT_HEADER;
export const IPV6_HOP_LIMIT_OFFSET = HOP_LIMIT;
export const IPV6_SOURCE_OFFSET = SOURCE;
export const IPV6_DESTINATION_OFFSET = DESTINATION;

export class Ipv6Packet {
  bytes: Uint8Array = EMPTY_BYTES;
  offset = 0;
  /** Header plus payload length (bytes after it, e.g. Ethernet padding, are not part of the packet). */
  length = 0;

  /** Points the view at an IPv6 packet starting at offset with at most `available` bytes. */
  wrap(bytes: Uint8Array, offset: number, available: number): DropReason {
    this.bytes = bytes;
    this.offset = offset;
    this.length = 0;
    if (available < IPV6_HEADER_LENGTH || offset + available > bytes.length) return DropReason.Truncated;
    if (bytes[offset] >>> 4 !== 6) return DropReason.BadVersion;
    // A payload length of 0 with a Jumbo option (RFC 2675) is not supported: it reads as empty.
    const payloadLength = readUint16(bytes, offset + PAYLOAD_LENGTH);
    if (payloadLength > available - IPV6_HEADER_LENGTH) return DropReason.Truncated;
    this.length = IPV6_HEADER_LENGTH + payloadLength;
    return DropReason.None;
  }

  get trafficClass(): number {
    return (readUint16(this.bytes, this.offset + VERSION_CLASS_FLOW) >>> 4) & 0xff;
  }
  get flowLabel(): number {
    return readUint32(this.bytes, this.offset + VERSION_CLASS_FLOW) & 0xfffff;
  }
  get payloadLength(): number {
    return readUint16(this.bytes, this.offset + PAYLOAD_LENGTH);
  }
  get nextHeader(): number {
    return this.bytes[this.offset + NEXT_HEADER];
  }
  get hopLimit(): number {
    return this.bytes[this.offset + HOP_LIMIT];
  }
  /** Absolute index of the 16-byte source address in bytes. */
  get sourceOffset(): number {
    return this.offset + SOURCE;
  }
  /** Absolute index of the 16-byte destination address in bytes. */
  get destinationOffset(): number {
    return this.offset + DESTINATION;
  }
  /** Absolute index of what follows the fixed header (an extension header or the upper layer). */
  get payloadOffset(): number {
    return this.offset + IPV6_HEADER_LENGTH;
  }

  /**
   * Running sum of the pseudo-header (RFC 8200 §8.1) for an upper-layer message of `length` bytes
   * with Next Header value nextHeader (TCP 6, UDP 17, ICMPv6 58). Pass it to the checksum checks.
   */
  pseudoHeaderSum(nextHeader: number, length: number): number {
    return ipv6PseudoHeaderSum(this.bytes, this.offset + SOURCE, this.bytes, this.offset + DESTINATION, nextHeader, length);
  }
}

/**
 * Writes a 40-byte IPv6 header at offset; returns the payload offset. Addresses are 16-byte ranges
 * (they may be in buf itself, but not where the header goes).
 */
export function writeIpv6Header(
  buf: Uint8Array,
  offset: number,
  source: Uint8Array,
  sourceOffset: number,
  destination: Uint8Array,
  destinationOffset: number,
  nextHeader: number,
  payloadLength: number,
  hopLimit = 64,
  trafficClass = 0,
  flowLabel = 0,
): number {
  writeUint32(buf, offset + VERSION_CLASS_FLOW, ((6 << 28) | ((trafficClass & 0xff) << 20) | (flowLabel & 0xfffff)) >>> 0);
  writeUint16(buf, offset + PAYLOAD_LENGTH, payloadLength);
  buf[offset + NEXT_HEADER] = nextHeader;
  buf[offset + HOP_LIMIT] = hopLimit;
  copyIpv6(source, sourceOffset, buf, offset + SOURCE);
  copyIpv6(destination, destinationOffset, buf, offset + DESTINATION);
  return offset + IPV6_HEADER_LENGTH;
}

/** Rewrites the payload length of the header at offset (for a packet whose size is known only after writing it). */
export function writeIpv6PayloadLength(buf: Uint8Array, offset: number, payloadLength: number): void {
  writeUint16(buf, offset + PAYLOAD_LENGTH, payloadLength);
}

/**
 * Pseudo-header sum from the addresses of the IPv6 header at buf[ipOffset], for an upper-layer
 * message of `length` bytes: the sum to fill a checksum of a packet being built in place.
 */
export function ipv6HeaderPseudoSum(buf: Uint8Array, ipOffset: number, nextHeader: number, length: number): number {
  return ipv6PseudoHeaderSum(buf, ipOffset + SOURCE, buf, ipOffset + DESTINATION, nextHeader, length);
}
