/**
 * ICMPv4 (RFC 792): a checked view, echo and error writers, type and code constants.
 *
 * Errors quote the offending packet's IP header and its first 8 data bytes (RFC 792; RFC 1812 §4.3.2.3
 * allows more, we keep the classic size so the reply always fits a minimum MTU).
 * Never throws on guest input (returns a DropReason); writers never allocate.
 */
import { DropReason } from './drop-reason.js';
import { finishChecksum, sumBytes } from './checksum.js';
import { copyQuote, fillIcmpChecksum, ICMP_HEADER_LENGTH, IcmpMessageView, icmpEchoRest, writeIcmpHeader } from './icmp-message.js';
import { IpProtocol, type Ipv4Packet } from './ipv4.js';

export const ICMPV4_HEADER_LENGTH = ICMP_HEADER_LENGTH;

export enum Icmpv4Type {
  EchoReply = 0,
  DestinationUnreachable = 3,
  SourceQuench = 4,
  Redirect = 5,
  EchoRequest = 8,
  TimeExceeded = 11,
  ParameterProblem = 12,
}

export enum Icmpv4UnreachableCode {
  Net = 0,
  Host = 1,
  Protocol = 2,
  Port = 3,
  FragmentationNeeded = 4,
  SourceRouteFailed = 5,
  NetUnknown = 6,
  HostUnknown = 7,
  NetProhibited = 9,
  HostProhibited = 10,
  AdministrativelyProhibited = 13,
}

export enum Icmpv4TimeExceededCode {
  /** TTL reached zero in transit. */
  TtlExceeded = 0,
  /** Fragment reassembly time exceeded. */
  FragmentReassembly = 1,
}

/** How much of the offending packet an error quotes beyond its IP header (RFC 792: 64 bits). */
export const ICMPV4_ERROR_QUOTE_DATA = 8;

export class Icmpv4Packet extends IcmpMessageView {
  /** Wraps an ICMP message; verifies its checksum unless told the device did (or left it partial). */
  wrap(bytes: Uint8Array, offset: number, length: number, verifyChecksum = true): DropReason {
    this.bytes = bytes;
    this.offset = offset;
    this.length = length;
    if (length < ICMPV4_HEADER_LENGTH || offset + length > bytes.length) return DropReason.Truncated;
    if (verifyChecksum && finishChecksum(sumBytes(bytes, offset, length)) !== 0) return DropReason.BadChecksum;
    return DropReason.None;
  }

  /** Next-hop MTU of a "fragmentation needed" error (RFC 1191); 0 from old routers. */
  get nextHopMtu(): number {
    return this.rest & 0xffff;
  }
  /** True for the error types that quote an offending packet (destination unreachable, time exceeded). */
  get isError(): boolean {
    const t = this.type;
    return t === Icmpv4Type.DestinationUnreachable || t === Icmpv4Type.TimeExceeded;
  }
}

/**
 * Writes an echo request/reply header at offset and its checksum over header + data (data is the
 * message body, which may live in another buffer). Returns the offset after the header.
 */
export function writeIcmpv4Echo(
  buf: Uint8Array,
  offset: number,
  type: Icmpv4Type.EchoReply | Icmpv4Type.EchoRequest,
  identifier: number,
  sequence: number,
  data: Uint8Array | null,
): number {
  writeIcmpHeader(buf, offset, type, 0, icmpEchoRest(identifier, sequence));
  fillIcmpv4Checksum(buf, offset, ICMPV4_HEADER_LENGTH, data);
  return offset + ICMPV4_HEADER_LENGTH;
}

/**
 * How many bytes of an offending IPv4 packet an error quotes: its header and the first 8 bytes of
 * its data, never more than the packet has.
 */
export function icmpv4ErrorQuoteLength(ipHeaderLength: number, ipTotalLength: number): number {
  return Math.min(ipHeaderLength + ICMPV4_ERROR_QUOTE_DATA, ipTotalLength);
}

/**
 * RFC 1122 §3.2.2, RFC 1812 §4.3.2.7: may an error be sent about this packet? Only about a first
 * fragment (offset 0), never to a source that names no one host (0.0.0.0/8, multicast, class E), never
 * about an ICMP error message: as libslirp, any type above 18 counts as one, and a message too short
 * to have a type gets nothing. Whether the destination was broadcast or multicast is the caller's
 * to check (it knows the network).
 */
export function icmpv4ErrorAllowed(ip: Ipv4Packet): boolean {
  if (ip.fragmentOffset !== 0) return false;
  const source = ip.source;
  if (source >>> 24 === 0 || source >>> 28 >= 0xe) return false;
  if (ip.protocol !== IpProtocol.Icmp) return true;
  if (ip.payloadLength < 1) return false;
  const type = ip.bytes[ip.payloadOffset];
  return (
    type <= 18 &&
    type !== Icmpv4Type.DestinationUnreachable &&
    type !== Icmpv4Type.SourceQuench &&
    type !== Icmpv4Type.Redirect &&
    type !== Icmpv4Type.TimeExceeded &&
    type !== Icmpv4Type.ParameterProblem
  );
}

/**
 * Writes an error message (destination unreachable, time exceeded) quoting the offending packet's
 * IP header and first 8 data bytes, copied from original[originalOffset, +quoteLength) (see
 * icmpv4ErrorQuoteLength). original may be buf itself, even overlapping. Returns the offset after
 * the message.
 */
export function writeIcmpv4Error(
  buf: Uint8Array,
  offset: number,
  type: number,
  code: number,
  original: Uint8Array,
  originalOffset: number,
  quoteLength: number,
  nextHopMtu = 0,
): number {
  // Quote first: the original may sit where the header goes (an error built in place of its packet).
  copyQuote(original, originalOffset, buf, offset + ICMPV4_HEADER_LENGTH, quoteLength);
  writeIcmpHeader(buf, offset, type, code, nextHopMtu & 0xffff); // RFC 1191: next-hop MTU for "fragmentation needed"
  const length = ICMPV4_HEADER_LENGTH + quoteLength;
  fillIcmpv4Checksum(buf, offset, length, null);
  return offset + length;
}

/** Computes and stores the checksum of the header at buf[offset, +headerLength) followed by data. */
export function fillIcmpv4Checksum(buf: Uint8Array, offset: number, headerLength: number, data: Uint8Array | null): void {
  fillIcmpChecksum(buf, offset, headerLength, 0, data);
}
