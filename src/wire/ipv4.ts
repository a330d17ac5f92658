/**
 * IPv4 packets (RFC 791): a checked view and a header writer.
 *
 * wrap() checks everything the engine relies on before it reads a field: version, IHL, total length
 * against the bytes present (Ethernet padding after the packet is allowed), options skipped safely by
 * IHL. The header checksum is verified by wrap() too, since every consumer needs it verified.
 * Never throws on guest input; returns a DropReason.
 */
import { DropReason } from './drop-reason.js';
import { EMPTY_BYTES, readUint16, readUint32, writeUint16, writeUint32 } from './bytes.js';
import { internetChecksum } from './checksum.js';

export const IPV4_HEADER_LENGTH = 20; // without options

export enum IpProtocol {
  Icmp = 1,
  Igmp = 2,
  Tcp = 6,
  Udp = 17,
  Icmpv6 = 58,
}

const VERSION_IHL = 0;
const DSCP_ECN = 1;
const TOTAL_LENGTH = 2;
const IDENTIFICATION = 4;
const FLAGS_FRAGMENT = 6;
const TTL = 8;
const PROTOCOL = 9;
const CHECKSUM = 10;
const SOURCE = 12;
const DESTINATION = 16;

const FLAG_DONT_FRAGMENT = 0x4000;
const FLAG_MORE_FRAGMENTS = 0x2000;
const FRAGMENT_OFFSET_MASK = 0x1fff;

export class Ipv4Packet {
  bytes: Uint8Array = EMPTY_BYTES;
  offset = 0;
  /** Total length from the header (bytes after it, e.g. Ethernet padding, are not part of the packet). */
  length = 0;

  /**
   * Points the view at an IPv4 packet starting at offset with at most `available` bytes.
   * Set verifyChecksum false only for packets we built ourselves.
   */
  wrap(bytes: Uint8Array, offset: number, available: number, verifyChecksum = true): DropReason {
    this.bytes = bytes;
    this.offset = offset;
    this.length = 0;
    if (available < IPV4_HEADER_LENGTH || offset + available > bytes.length) return DropReason.Truncated;
    const versionIhl = bytes[offset + VERSION_IHL];
    if (versionIhl >>> 4 !== 4) return DropReason.BadVersion;
    const headerLength = (versionIhl & 0x0f) * 4;
    if (headerLength < IPV4_HEADER_LENGTH) return DropReason.BadHeaderLength;
    const totalLength = readUint16(bytes, offset + TOTAL_LENGTH);
    if (totalLength < headerLength) return DropReason.BadLength;
    if (totalLength > available) return DropReason.Truncated;
    if (verifyChecksum && internetChecksum(bytes, offset, headerLength) !== 0) return DropReason.BadChecksum;
    this.length = totalLength;
    return DropReason.None;
  }

  get headerLength(): number {
    return (this.bytes[this.offset + VERSION_IHL] & 0x0f) * 4;
  }
  get dscpEcn(): number {
    return this.bytes[this.offset + DSCP_ECN];
  }
  get totalLength(): number {
    return readUint16(this.bytes, this.offset + TOTAL_LENGTH);
  }
  get identification(): number {
    return readUint16(this.bytes, this.offset + IDENTIFICATION);
  }
  get dontFragment(): boolean {
    return (readUint16(this.bytes, this.offset + FLAGS_FRAGMENT) & FLAG_DONT_FRAGMENT) !== 0;
  }
  get moreFragments(): boolean {
    return (readUint16(this.bytes, this.offset + FLAGS_FRAGMENT) & FLAG_MORE_FRAGMENTS) !== 0;
  }
  /** Fragment offset in bytes. */
  get fragmentOffset(): number {
    return (readUint16(this.bytes, this.offset + FLAGS_FRAGMENT) & FRAGMENT_OFFSET_MASK) * 8;
  }
  /** True for any fragment (first, middle or last). */
  get isFragment(): boolean {
    return (readUint16(this.bytes, this.offset + FLAGS_FRAGMENT) & (FLAG_MORE_FRAGMENTS | FRAGMENT_OFFSET_MASK)) !== 0;
  }
  get ttl(): number {
    return this.bytes[this.offset + TTL];
  }
  get protocol(): number {
    return this.bytes[this.offset + PROTOCOL];
  }
  get checksum(): number {
    return readUint16(this.bytes, this.offset + CHECKSUM);
  }
  get source(): number {
    return readUint32(this.bytes, this.offset + SOURCE);
  }
  get destination(): number {
    return readUint32(this.bytes, this.offset + DESTINATION);
  }
  /** Absolute index of the payload (after options) in bytes. */
  get payloadOffset(): number {
    return this.offset + this.headerLength;
  }
  get payloadLength(): number {
    return this.length - this.headerLength;
  }
}

/**
 * Writes a 20-byte IPv4 header (no options) with its checksum at offset; returns the payload offset.
 * fragmentField is the raw flags+offset word (0x4000 = DF, the default for what we originate).
 */
export function writeIpv4Header(
  buf: Uint8Array,
  offset: number,
  source: number,
  destination: number,
  protocol: number,
  payloadLength: number,
  ttl = 64,
  identification = 0,
  fragmentField = FLAG_DONT_FRAGMENT,
): number {
  buf[offset + VERSION_IHL] = 0x45;
  buf[offset + DSCP_ECN] = 0;
  writeUint16(buf, offset + TOTAL_LENGTH, IPV4_HEADER_LENGTH + payloadLength);
  writeUint16(buf, offset + IDENTIFICATION, identification);
  writeUint16(buf, offset + FLAGS_FRAGMENT, fragmentField);
  buf[offset + TTL] = ttl;
  buf[offset + PROTOCOL] = protocol;
  writeUint16(buf, offset + CHECKSUM, 0);
  writeUint32(buf, offset + SOURCE, source);
  writeUint32(buf, offset + DESTINATION, destination);
  writeUint16(buf, offset + CHECKSUM, internetChecksum(buf, offset, IPV4_HEADER_LENGTH));
  return offset + IPV4_HEADER_LENGTH;
}

export const IPV4_FLAG_DONT_FRAGMENT = FLAG_DONT_FRAGMENT;
export const IPV4_FLAG_MORE_FRAGMENTS = FLAG_MORE_FRAGMENTS;
