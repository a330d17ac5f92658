/**
 * The IPv6 extension header walk (RFC 8200 §4): from the fixed header through Hop-by-Hop Options,
 * Routing and Destination Options to the upper layer, stopping at a Fragment header (the engine
 * reassembles, then walks the whole packet again) or at No Next Header.
 *
 * Every length is checked against the packet before it is used, the number of headers is bounded,
 * and the options of Hop-by-Hop and Destination Options headers are processed as a host must
 * (§4.2: unknown options by their two action bits). Where RFC 8200 asks for an ICMPv6 Parameter
 * Problem, the chain says which code and pointer; sending it (or not, RFC 4443 §2.4) is the engine's
 * decision. Never throws on guest input; never allocates: one reused Ipv6HeaderChain per batch.
 */
import { DropReason } from './drop-reason.js';
import { readUint16 } from './bytes.js';
import { Icmpv6ParameterProblemCode } from './icmpv6.js';
import { isIpv6Multicast } from './ipv6-address.js';
import { IPV6_HEADER_LENGTH, IPV6_NEXT_HEADER_OFFSET, IPV6_PAYLOAD_LENGTH_OFFSET, Ipv6NextHeader, type Ipv6Packet } from './ipv6.js';
import { IPV6_FRAGMENT_HEADER_LENGTH, IPV6_FRAGMENT_OFFSET_FIELD } from './ipv6-fragment.js';

/** More extension headers than this is an attack or a bug, not a packet (Linux has no fixed limit; 8 is generous). */
export const IPV6_MAX_EXTENSION_HEADERS = 8;

/** Option types inside Hop-by-Hop and Destination Options headers (RFC 8200 §4.2, RFC 2711). */
export const IPV6_OPTION_PAD1 = 0;
export const IPV6_OPTION_PADN = 1;
export const IPV6_OPTION_ROUTER_ALERT = 5;

/** What a walk found: filled by walkIpv6Headers, reused across packets. */
export class Ipv6HeaderChain {
  /**
   * The Next Header value the walk stopped at: the upper layer (TCP, UDP, ICMPv6 or anything the
   * engine does not know), Fragment (44) or No Next Header (59).
   */
  protocol = 0;
  /** Absolute index of what `protocol` names (the upper-layer message, or the Fragment header). */
  offset = 0;
  /** Bytes from offset to the end of the packet. */
  length = 0;
  /**
   * Absolute index of the Next Header byte that holds `protocol`: the pointer of a Parameter Problem
   * "unrecognized next header", and the byte reassembly rewrites when it removes a Fragment header.
   */
  protocolFieldOffset = 0;
  /** Router Alert value from Hop-by-Hop options (0 = MLD, RFC 2711), or -1 when absent. */
  routerAlert = -1;
  /** After a failed walk: the ICMPv6 Parameter Problem code to answer with, or -1 to drop silently. */
  problemCode = -1;
  /** With problemCode: the offending byte's index from the start of the IPv6 header. */
  problemPointer = 0;
}

/**
 * Walks the extension headers of a wrapped packet into chain. Returns None with chain describing
 * where the upper layer (or the Fragment header) starts; otherwise a DropReason, with
 * chain.problemCode/problemPointer set when RFC 8200 asks for a Parameter Problem:
 * - Hop-by-Hop anywhere but first → BadExtensionHeader, code 1 at its Next Header field;
 * - a Routing header with segments left → BadExtensionHeader, code 0 at its type field (we route
 *   none: type 0 is deprecated by RFC 5095, the others are not ours to process);
 * - an unknown option whose action bits say so → BadOption, code 2 at the option;
 * - a non-last fragment whose length is not a multiple of 8 → BadLength, code 0 at the payload length;
 * - a fragment reaching past 65535 bytes → BadLength, code 0 at the fragment offset.
 * A header cut short is Truncated, too many headers HeaderChainTooLong (both silent).
 */
export function walkIpv6Headers(ip: Ipv6Packet, chain: Ipv6HeaderChain): DropReason {
  const b = ip.bytes;
  const base = ip.offset;
  const end = base + ip.length;
  chain.routerAlert = -1;
  chain.problemCode = -1;
  chain.problemPointer = 0;
  let nextHeader = ip.nextHeader;
  let field = base + IPV6_NEXT_HEADER_OFFSET;
  let at = base + IPV6_HEADER_LENGTH;
  for (let count = 0; ; count++) {
    chain.protocol = nextHeader;
    chain.offset = at;
    chain.length = end - at;
    chain.protocolFieldOffset = field;
    if (nextHeader === Ipv6NextHeader.Fragment) return checkFragment(b, base, at, end, chain);
    if (nextHeader !== Ipv6NextHeader.HopByHopOptions && nextHeader !== Ipv6NextHeader.DestinationOptions && nextHeader !== Ipv6NextHeader.Routing) {
      return DropReason.None; // the upper layer, or No Next Header
    }
    if (count === IPV6_MAX_EXTENSION_HEADERS) return DropReason.HeaderChainTooLong;
    if (at + 2 > end) return DropReason.Truncated;
    const length = (b[at + 1] + 1) * 8;
    if (at + length > end) return DropReason.Truncated;
    if (nextHeader === Ipv6NextHeader.Routing) {
      if (b[at + 3] !== 0) return problem(chain, Icmpv6ParameterProblemCode.ErroneousHeaderField, at + 2 - base, DropReason.BadExtensionHeader);
    } else {
      if (nextHeader === Ipv6NextHeader.HopByHopOptions && count !== 0) {
        return problem(chain, Icmpv6ParameterProblemCode.UnrecognizedNextHeader, field - base, DropReason.BadExtensionHeader);
      }
      const reason = walkOptions(b, base, at + 2, at + length, nextHeader === Ipv6NextHeader.HopByHopOptions, isIpv6Multicast(b, ip.destinationOffset), chain);
      if (reason !== DropReason.None) return reason;
    }
    nextHeader = b[at];
    field = at;
    at += length;
  }
}

/** The TLV options of one Hop-by-Hop or Destination Options header, bytes [start, end). */
function walkOptions(
  b: Uint8Array,
  base: number,
  start: number,
  end: number,
  hopByHop: boolean,
  multicastDestination: boolean,
  chain: Ipv6HeaderChain,
): DropReason {
  let i = start;
  while (i < end) {
    const type = b[i];
    if (type === IPV6_OPTION_PAD1) {
      i++;
      continue;
    }
    if (i + 2 > end) return DropReason.BadOption;
    const length = b[i + 1];
    if (i + 2 + length > end) return DropReason.BadOption;
    if (type === IPV6_OPTION_ROUTER_ALERT && hopByHop) {
      if (length !== 2) return DropReason.BadOption;
      chain.routerAlert = readUint16(b, i + 2);
    } else if (type !== IPV6_OPTION_PADN) {
      // Unknown (the Jumbo Payload option included: RFC 2675 is not supported): the two high bits
      // say what to do (RFC 8200 §4.2).
      const action = type >>> 6;
      if (action === 1) return DropReason.BadOption;
      if (action === 2 || (action === 3 && !multicastDestination)) {
        return problem(chain, Icmpv6ParameterProblemCode.UnrecognizedOption, i - base, DropReason.BadOption);
      }
      if (action === 3) return DropReason.BadOption;
    }
    i += 2 + length;
  }
  return DropReason.None;
}

/** The checks of RFC 8200 §4.5 that need the packet around a Fragment header at `at`. */
function checkFragment(b: Uint8Array, base: number, at: number, end: number, chain: Ipv6HeaderChain): DropReason {
  if (at + IPV6_FRAGMENT_HEADER_LENGTH > end) return DropReason.Truncated;
  const offsetFlags = readUint16(b, at + 2);
  const dataLength = end - at - IPV6_FRAGMENT_HEADER_LENGTH;
  if ((offsetFlags & 1) !== 0 && (dataLength & 7) !== 0) {
    return problem(chain, Icmpv6ParameterProblemCode.ErroneousHeaderField, IPV6_PAYLOAD_LENGTH_OFFSET, DropReason.BadLength);
  }
  if ((offsetFlags & 0xfff8) + dataLength > 0xffff) {
    return problem(chain, Icmpv6ParameterProblemCode.ErroneousHeaderField, at + IPV6_FRAGMENT_OFFSET_FIELD - base, DropReason.BadLength);
  }
  return DropReason.None;
}

function problem(chain: Ipv6HeaderChain, code: number, pointer: number, reason: DropReason): DropReason {
  chain.problemCode = code;
  chain.problemPointer = pointer;
  return reason;
}
