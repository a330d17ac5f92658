/**
 * ICMPv6 (RFC 4443): a checked view, writers for echo and the four error messages, the checksum
 * (always over the IPv6 pseudo-header, §2.3), and the rules for when an error may be sent (§2.4).
 *
 * Errors quote as much of the invoking packet as fits in the minimum IPv6 MTU (1280 bytes with our
 * IPv6 and ICMPv6 headers), as §2.4(c) asks. Writers leave the checksum zero; fillIcmpv6Checksum
 * completes a message once its bytes are in place. Neighbor Discovery messages are ICMPv6 too; their
 * bodies are in ndp.ts. Never throws on guest input (returns a DropReason); never allocates.
 */
import { DropReason } from './drop-reason.js';
import { readUint16 } from './bytes.js';
import { finishChecksum, sumBytes } from './checksum.js';
import { copyQuote, fillIcmpChecksum, ICMP_HEADER_LENGTH, IcmpMessageView, icmpEchoRest, writeIcmpHeader } from './icmp-message.js';
import { isIpv6Multicast, isIpv6Unspecified } from './ipv6-address.js';
import { IPV6_HEADER_LENGTH, IPV6_MIN_MTU, Ipv6NextHeader, type Ipv6Packet } from './ipv6.js';
import type { Ipv6HeaderChain } from './ipv6-extension-headers.js';

export const ICMPV6_HEADER_LENGTH = ICMP_HEADER_LENGTH;

export enum Icmpv6Type {
  DestinationUnreachable = 1,
  PacketTooBig = 2,
  TimeExceeded = 3,
  ParameterProblem = 4,
  EchoRequest = 128,
  EchoReply = 129,
  MulticastListenerQuery = 130,
  MulticastListenerReport = 131,
  MulticastListenerDone = 132,
  RouterSolicitation = 133,
  RouterAdvertisement = 134,
  NeighborSolicitation = 135,
  NeighborAdvertisement = 136,
  Redirect = 137,
  MulticastListenerReportV2 = 143,
}

export enum Icmpv6UnreachableCode {
  NoRoute = 0,
  AdministrativelyProhibited = 1,
  BeyondScope = 2,
  AddressUnreachable = 3,
  PortUnreachable = 4,
  SourcePolicyFailed = 5,
  RejectRoute = 6,
}

export enum Icmpv6TimeExceededCode {
  HopLimitExceeded = 0,
  FragmentReassembly = 1,
}

export enum Icmpv6ParameterProblemCode {
  ErroneousHeaderField = 0,
  UnrecognizedNextHeader = 1,
  UnrecognizedOption = 2,
}

/** Most bytes of the invoking packet an error quotes: 1280 − 40 (IPv6) − 8 (ICMPv6). */
export const ICMPV6_ERROR_QUOTE_MAX = IPV6_MIN_MTU - IPV6_HEADER_LENGTH - ICMPV6_HEADER_LENGTH;

export const ICMPV6_CHECKSUM_OFFSET = 2;

export class Icmpv6Packet extends IcmpMessageView {
  /**
   * Wraps an ICMPv6 message of `length` bytes (the upper-layer length from the header walk) and
   * verifies its checksum against pseudoHeaderSum (Ipv6Packet.pseudoHeaderSum(58, length)); pass
   * null only for messages we built ourselves.
   */
  wrap(bytes: Uint8Array, offset: number, length: number, pseudoHeaderSum: number | null): DropReason {
    this.bytes = bytes;
    this.offset = offset;
    this.length = length;
    if (length < ICMPV6_HEADER_LENGTH || offset + length > bytes.length) return DropReason.Truncated;
    if (pseudoHeaderSum !== null && finishChecksum(sumBytes(bytes, offset, length, pseudoHeaderSum)) !== 0) return DropReason.BadChecksum;
    return DropReason.None;
  }

  /** The MTU of a packet too big message. */
  get mtu(): number {
    return this.rest;
  }
  /** The pointer of a parameter problem message (offset of the offending byte in the quoted packet). */
  get pointer(): number {
    return this.rest;
  }
  /** Types 0–127 are errors (§2.1) and quote the invoking packet. */
  get isError(): boolean {
    return this.type < 128;
  }
}

/**
 * Writes an echo request/reply header at offset (checksum zero: the data goes after it, then
 * fillIcmpv6Checksum). Returns the offset of the data.
 */
export function writeIcmpv6Echo(
  buf: Uint8Array,
  offset: number,
  type: Icmpv6Type.EchoRequest | Icmpv6Type.EchoReply,
  identifier: number,
  sequence: number,
): number {
  writeIcmpHeader(buf, offset, type, 0, icmpEchoRest(identifier, sequence));
  return offset + ICMPV6_HEADER_LENGTH;
}

/** How many bytes of an invoking packet of `length` bytes (from its IPv6 header on) an error quotes. */
export function icmpv6ErrorQuoteLength(length: number): number {
  return length < ICMPV6_ERROR_QUOTE_MAX ? length : ICMPV6_ERROR_QUOTE_MAX;
}

/**
 * Writes an error message (destination unreachable, packet too big, time exceeded, parameter
 * problem) quoting original[originalOffset, +quoteLength) (see icmpv6ErrorQuoteLength); original may
 * be buf itself, even overlapping. parameter is the MTU (packet too big), the pointer (parameter
 * problem) or 0. Checksum zero (fill it next). Returns the offset after the message.
 */
export function writeIcmpv6Error(
  buf: Uint8Array,
  offset: number,
  type: number,
  code: number,
  parameter: number,
  original: Uint8Array,
  originalOffset: number,
  quoteLength: number,
): number {
  // Quote first: the original may sit where the header goes (an error built in place of its packet).
  copyQuote(original, originalOffset, buf, offset + ICMPV6_HEADER_LENGTH, quoteLength);
  writeIcmpHeader(buf, offset, type, code, parameter);
  return offset + ICMPV6_HEADER_LENGTH + quoteLength;
}

/**
 * Computes and stores the checksum of the message at buf[offset, +length) followed by data (which
 * may live in another buffer; null when the message is whole in buf). pseudoHeaderSum covers the
 * whole message length: ipv6HeaderPseudoSum(buf, ipOffset, 58, length + data.length).
 */
export function fillIcmpv6Checksum(buf: Uint8Array, offset: number, length: number, pseudoHeaderSum: number, data: Uint8Array | null = null): void {
  fillIcmpChecksum(buf, offset, length, pseudoHeaderSum, data);
}

/**
 * RFC 4443 §2.4(e): may an error of errorType/errorCode be sent about this packet? Not about an
 * ICMPv6 error or a redirect; not about a packet sent to a multicast address (IPv6 or link layer)
 * except packet too big and a parameter problem about an unrecognized option; never to a source that
 * is not one node (unspecified or multicast). chain is the packet's walk (a failed walk is fine: it
 * still says how far it got). Rate limiting (§2.4(f)) is the engine's.
 */
export function icmpv6ErrorAllowed(
  errorType: number,
  errorCode: number,
  ip: Ipv6Packet,
  chain: Ipv6HeaderChain,
  linkLayerMulticast: boolean,
): boolean {
  const b = ip.bytes;
  if (isIpv6Unspecified(b, ip.sourceOffset) || isIpv6Multicast(b, ip.sourceOffset)) return false;
  const multicastExempt =
    errorType === Icmpv6Type.PacketTooBig ||
    (errorType === Icmpv6Type.ParameterProblem && errorCode === Icmpv6ParameterProblemCode.UnrecognizedOption);
  if (!multicastExempt && (linkLayerMulticast || isIpv6Multicast(b, ip.destinationOffset))) return false;
  // The invoking packet's ICMPv6 type, when it has one within reach (also in a first fragment). A
  // walk that failed stopped at an extension header (a bad option, a misplaced header): the headers
  // after it are skipped by their lengths, as Linux does, to see whether an ICMPv6 error follows.
  const end = ip.offset + ip.length;
  let next = chain.protocol;
  let cursor = chain.offset;
  for (let n = 0; n < IPV6_MAX_SKIPPED_HEADERS && isOptionsOrRouting(next) && cursor + 2 <= end; n++) {
    next = b[cursor];
    cursor += (b[cursor + 1] + 1) * 8;
  }
  let at = -1;
  if (next === Ipv6NextHeader.Icmpv6) at = cursor;
  else if (next === Ipv6NextHeader.Fragment && cursor + 8 < end && b[cursor] === Ipv6NextHeader.Icmpv6) {
    if ((readUint16(b, cursor + 2) & 0xfff8) === 0) at = cursor + 8;
  }
  if (at < 0) return !isOptionsOrRouting(next); // a chain too long or cut short: say nothing
  if (at >= end) return false; // an ICMPv6 message with no type byte: say nothing
  const type = b[at];
  return type >= 128 && type !== Icmpv6Type.Redirect;
}

/** How many extension headers icmpv6ErrorAllowed skips looking for an ICMPv6 error (the walk's bound). */
const IPV6_MAX_SKIPPED_HEADERS = 8;

function isOptionsOrRouting(next: number): boolean {
  return next === Ipv6NextHeader.HopByHopOptions || next === Ipv6NextHeader.DestinationOptions || next === Ipv6NextHeader.Routing;
}
