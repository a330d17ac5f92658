/**
 * The one sender of ICMP errors to the guest, shared by the Stack (time exceeded, parameter problem),
 * TCP (host unreachable after a SYN), UDP (refused destinations, host socket errors) and whatever else
 * must report a failure. Callers name a family-neutral IcmpError; the sender takes the output of the
 * destination's family, maps the error to that family's type and code (ICMPv4, RFC 792; ICMPv6,
 * RFC 4443), quotes and checksums as that family does (ICMPv6's checksum covers the pseudo-header),
 * and sends.
 *
 * Rate limited, for both families together (RFC 4443 §2.4(f) asks it of ICMPv6, RFC 1812 §4.3.2.8
 * of routers): a token bucket of ERROR_BURST errors refilled at ERRORS_PER_SECOND, Linux's global
 * icmp_msgs_burst/icmp_msgs_per_sec. A guest gets every error of a traceroute or a few refused
 * datagrams; one flooding expired or refused packets gets at most that many answers. Sent and
 * suppressed errors are counted (stats icmpErrorsSent / icmpErrorsRateLimited).
 *
 * Callers decide whether an error may be sent at all (never about broadcast or multicast, RFC 1122
 * §3.2.2, RFC 4443 §2.4(e)). Allocates nothing for ICMPv4; an ICMPv6 quote goes out as the frame body
 * (a view), since it may be as long as 1232 bytes.
 */
import {
  fillIcmpv6Checksum,
  ICMPV6_ERROR_QUOTE_MAX,
  ICMPV6_HEADER_LENGTH,
  Icmpv6ParameterProblemCode,
  Icmpv6TimeExceededCode,
  Icmpv6Type,
  Icmpv6UnreachableCode,
  writeIcmpv6Error,
} from '../wire/icmpv6.js';
import { Icmpv4TimeExceededCode, Icmpv4Type, Icmpv4UnreachableCode, writeIcmpv4Error } from '../wire/icmpv4.js';
import { IpProtocol } from '../wire/ipv4.js';
import { IPV6_HEADER_LENGTH } from '../wire/ipv6.js';
import { UDP_HEADER_LENGTH, writeUdpHeader } from '../wire/udp.js';
import type { Clock } from './clock.js';
import type { IpDatagram } from './ip-datagram.js';
import type { IpOutput } from './ip-output.js';
import type { StackStats } from './stats.js';

/** Linux's net.ipv4.icmp_msgs_burst and icmp_msgs_per_sec (its global ICMP limit). */
export const ERROR_BURST = 50;
export const ERRORS_PER_SECOND = 1000;

export enum IcmpError {
  /** No route to the destination network (ICMPv4 3/0, ICMPv6 1/0). */
  NetUnreachable,
  /** The host does not answer (ICMPv4 3/1, ICMPv6 1/3 address unreachable). */
  HostUnreachable,
  /** Nothing listens on the port (ICMPv4 3/3, ICMPv6 1/4). */
  PortUnreachable,
  /** Larger than the next hop's MTU, which the error carries (ICMPv4 3/4, RFC 1191; ICMPv6 2/0). */
  PacketTooBig,
  /** Hop limit reached zero in transit (ICMPv4 11/0, ICMPv6 3/0). */
  TimeExceeded,
  /**
   * An upper-layer protocol nobody here speaks (ICMPv4 3/2 protocol unreachable; ICMPv6 4/1
   * unrecognized Next Header, the parameter its pointer).
   */
  ProtocolUnreachable,
  /** An IPv6 header field in error (ICMPv6 4/0, the parameter its pointer); never sent over IPv4. */
  ErroneousHeaderField,
  /** An IPv6 option whose action bits ask for a report (ICMPv6 4/2, pointer); never sent over IPv4. */
  UnrecognizedOption,
  /** A fragmented datagram did not complete in time (ICMPv4 11/1, ICMPv6 3/1). */
  ReassemblyTimeExceeded,
}

/** [type, code] of each IcmpError, by family (null: not an ICMPv4 message). */
const ICMPV4_TYPE_AND_CODE: readonly (readonly [number, number] | null)[] = [
  [Icmpv4Type.DestinationUnreachable, Icmpv4UnreachableCode.Net],
  [Icmpv4Type.DestinationUnreachable, Icmpv4UnreachableCode.Host],
  [Icmpv4Type.DestinationUnreachable, Icmpv4UnreachableCode.Port],
  [Icmpv4Type.DestinationUnreachable, Icmpv4UnreachableCode.FragmentationNeeded],
  [Icmpv4Type.TimeExceeded, Icmpv4TimeExceededCode.TtlExceeded],
  [Icmpv4Type.DestinationUnreachable, Icmpv4UnreachableCode.Protocol],
  null,
  null,
  [Icmpv4Type.TimeExceeded, Icmpv4TimeExceededCode.FragmentReassembly],
];
const ICMPV6_TYPE_AND_CODE: readonly (readonly [number, number])[] = [
  [Icmpv6Type.DestinationUnreachable, Icmpv6UnreachableCode.NoRoute],
  [Icmpv6Type.DestinationUnreachable, Icmpv6UnreachableCode.AddressUnreachable],
  [Icmpv6Type.DestinationUnreachable, Icmpv6UnreachableCode.PortUnreachable],
  [Icmpv6Type.PacketTooBig, 0],
  [Icmpv6Type.TimeExceeded, Icmpv6TimeExceededCode.HopLimitExceeded],
  [Icmpv6Type.ParameterProblem, Icmpv6ParameterProblemCode.UnrecognizedNextHeader],
  [Icmpv6Type.ParameterProblem, Icmpv6ParameterProblemCode.ErroneousHeaderField],
  [Icmpv6Type.ParameterProblem, Icmpv6ParameterProblemCode.UnrecognizedOption],
  [Icmpv6Type.TimeExceeded, Icmpv6TimeExceededCode.FragmentReassembly],
];

/** The ICMPv6 type and code an IcmpError becomes (for icmpv6ErrorAllowed). */
export function icmpv6TypeAndCode(error: IcmpError): readonly [number, number] {
  return ICMPV6_TYPE_AND_CODE[error];
}

export class IcmpErrorSender {
  /** A quote naming a guest UDP socket (IP + UDP header, either family) for errors about datagrams long gone. */
  private readonly socketQuote = new Uint8Array(IPV6_HEADER_LENGTH + UDP_HEADER_LENGTH);

  /** Tokens of the rate limit (fractional), as of tokensAt. */
  private tokens = ERROR_BURST;
  private tokensAt: number;

  constructor(
    private readonly outputFor: (address: number) => IpOutput,
    private readonly clock: Clock,
    private readonly stats: StackStats,
  ) {
    this.tokensAt = clock.now();
  }

  /** An error about a datagram the guest sent, quoting it, from `from` to its source. */
  aboutDatagram(error: IcmpError, from: number, datagram: IpDatagram, mtu = 0): void {
    this.send(error, from, datagram.source, datagram.bytes, datagram.quoteOffset, datagram.quoteLength, mtu);
  }

  /**
   * An error quoting bytes[quoteOffset, +quoteLength), kept from an earlier datagram (TCP keeps its
   * SYN's quote while the host connects). parameter is the next-hop MTU of PacketTooBig or the pointer
   * of an ICMPv6 parameter problem (ProtocolUnreachable, ErroneousHeaderField, UnrecognizedOption).
   */
  send(error: IcmpError, from: number, to: number, bytes: Uint8Array, quoteOffset: number, quoteLength: number, parameter = 0): void {
    const output = this.outputFor(to);
    const typeAndCode = output.family === 4 ? ICMPV4_TYPE_AND_CODE[error] : ICMPV6_TYPE_AND_CODE[error];
    if (typeAndCode === null) return; // IPv4 has no use for the IPv6-only errors
    const [type, code] = typeAndCode;
    // Only packet too big (the MTU) and ICMPv6's parameter problems (the pointer) carry a parameter;
    // IPv4's protocol unreachable has none.
    if (type !== Icmpv6Type.ParameterProblem || output.family === 4) {
      if (error !== IcmpError.PacketTooBig) parameter = 0;
    }
    if (!this.takeToken()) {
      this.stats.icmpErrorsRateLimited++;
      return;
    }
    this.stats.icmpErrorsSent++;
    const head = output.head;
    const l4 = output.l4Offset;
    if (output.family === 4) {
      const end = writeIcmpv4Error(head, l4, type, code, bytes, quoteOffset, quoteLength, parameter);
      output.send(from, to, IpProtocol.Icmp, end - l4, null);
      return;
    }
    const quote = bytes.subarray(quoteOffset, quoteOffset + Math.min(quoteLength, ICMPV6_ERROR_QUOTE_MAX));
    writeIcmpv6Error(head, l4, type, code, parameter, quote, 0, 0);
    const length = ICMPV6_HEADER_LENGTH + quote.length;
    fillIcmpv6Checksum(head, l4, ICMPV6_HEADER_LENGTH, output.pseudoHeaderSum(from, to, IpProtocol.Icmpv6, length), quote);
    output.send(from, to, IpProtocol.Icmpv6, ICMPV6_HEADER_LENGTH, quote);
  }

  /**
   * An error about a UDP datagram the engine no longer holds (a host socket reported it later): the
   * quote is a header naming the guest's socket (addresses, ports), all a guest stack needs to find it.
   */
  aboutUdpSocket(error: IcmpError, from: number, guestAddress: number, guestPort: number, remoteAddress: number, remotePort: number): void {
    const quote = this.socketQuote;
    const udp = this.outputFor(guestAddress).writeIpHeader(quote, 0, guestAddress, remoteAddress, IpProtocol.Udp, UDP_HEADER_LENGTH);
    writeUdpHeader(quote, udp, guestPort, remotePort, 0);
    this.send(error, from, guestAddress, quote, 0, udp + UDP_HEADER_LENGTH);
  }

  /** The token bucket: ERRORS_PER_SECOND refill, at most ERROR_BURST saved up. */
  private takeToken(): boolean {
    const now = this.clock.now();
    if (now > this.tokensAt) {
      this.tokens = Math.min(ERROR_BURST, this.tokens + ((now - this.tokensAt) * ERRORS_PER_SECOND) / 1000);
      this.tokensAt = now;
    }
    if (this.tokens < 1) return false;
    this.tokens--;
    return true;
  }
}
