/**
 * The one sender of ICMP errors to the guest, shared by TCP (host unreachable after a SYN), UDP
 * (refused destinations, host socket errors) and whatever else must report a failure. Callers name a
 * family-neutral IcmpError; the sender picks the family of the destination's output, maps the error
 * to that family's type and code, writes the quote and sends. ICMPv4 today; ICMPv6 (destination
 * unreachable, packet too big, time exceeded: RFC 4443) plugs in as the family-6 case of
 * writeError() and writeSocketQuote().
 *
 * Never allocates: the quote of a datagram no longer held is built in one scratch buffer per family.
 */
import { Icmpv4TimeExceededCode, Icmpv4Type, Icmpv4UnreachableCode, writeIcmpv4Error } from '../wire/icmpv4.js';
import { IPV4_HEADER_LENGTH, IpProtocol, writeIpv4Header } from '../wire/ipv4.js';
import { UDP_HEADER_LENGTH, writeUdpHeader } from '../wire/udp.js';
import type { IpDatagram } from './ip-datagram.js';
import type { IpOutput } from './ip-output.js';

export enum IcmpError {
  /** No route to the destination network (ICMPv4 3/0, ICMPv6 1/0). */
  NetUnreachable,
  /** The host does not answer (ICMPv4 3/1, ICMPv6 1/3 address unreachable). */
  HostUnreachable,
  /** Nothing listens on the port (ICMPv4 3/3, ICMPv6 1/4). */
  PortUnreachable,
  /** Larger than the next hop's MTU, which the error carries (ICMPv4 3/4 with DF, ICMPv6 2/0). */
  PacketTooBig,
  /** Hop limit reached zero in transit (ICMPv4 11/0, ICMPv6 3/0). */
  TimeExceeded,
}

/** The (type, code) of an IcmpError in ICMPv4. */
export function icmpv4TypeAndCode(error: IcmpError): [type: number, code: number] {
  switch (error) {
    case IcmpError.NetUnreachable:
      return [Icmpv4Type.DestinationUnreachable, Icmpv4UnreachableCode.Net];
    case IcmpError.HostUnreachable:
      return [Icmpv4Type.DestinationUnreachable, Icmpv4UnreachableCode.Host];
    case IcmpError.PortUnreachable:
      return [Icmpv4Type.DestinationUnreachable, Icmpv4UnreachableCode.Port];
    case IcmpError.PacketTooBig:
      return [Icmpv4Type.DestinationUnreachable, Icmpv4UnreachableCode.FragmentationNeeded];
    case IcmpError.TimeExceeded:
      return [Icmpv4Type.TimeExceeded, Icmpv4TimeExceededCode.TtlExceeded];
  }
}

const ICMPV4_TYPE_AND_CODE: readonly (readonly [number, number])[] = [
  IcmpError.NetUnreachable,
  IcmpError.HostUnreachable,
  IcmpError.PortUnreachable,
  IcmpError.PacketTooBig,
  IcmpError.TimeExceeded,
].map(icmpv4TypeAndCode);

export class IcmpErrorSender {
  /** A quote naming a guest socket (IPv4 + UDP header) for errors about datagrams long gone. */
  private readonly socketQuote4 = new Uint8Array(IPV4_HEADER_LENGTH + UDP_HEADER_LENGTH);

  constructor(private readonly outputFor: (address: number) => IpOutput) {}

  /** An error about a datagram the guest sent, quoting it, from `from` to its source. */
  aboutDatagram(error: IcmpError, from: number, datagram: IpDatagram, mtu = 0): void {
    this.send(error, from, datagram.source, datagram.bytes, datagram.quoteOffset, datagram.quoteLength, mtu);
  }

  /**
   * An error quoting bytes[quoteOffset, +quoteLength), kept from an earlier datagram (TCP keeps its
   * SYN's quote while the host connects). mtu is the next-hop MTU of PacketTooBig.
   */
  send(error: IcmpError, from: number, to: number, bytes: Uint8Array, quoteOffset: number, quoteLength: number, mtu = 0): void {
    const output = this.outputFor(to);
    const end = this.writeError(output, error, bytes, quoteOffset, quoteLength, mtu);
    if (end < 0) return;
    output.send(from, to, output.family === 4 ? IpProtocol.Icmp : IpProtocol.Icmpv6, end - output.l4Offset, null);
  }

  /**
   * An error about a UDP datagram the engine no longer holds (a host socket reported it later): the
   * quote is a header naming the guest's socket (addresses, ports), all a guest stack needs to find it.
   */
  aboutUdpSocket(error: IcmpError, from: number, guestAddress: number, guestPort: number, remoteAddress: number, remotePort: number): void {
    const quote = this.writeSocketQuote(this.outputFor(guestAddress), guestAddress, guestPort, remoteAddress, remotePort);
    if (quote !== null) this.send(error, from, guestAddress, quote, 0, quote.length);
  }

  /** Writes the error into output.head at l4Offset; returns where it ends, -1 when the family has none yet. */
  private writeError(output: IpOutput, error: IcmpError, bytes: Uint8Array, quoteOffset: number, quoteLength: number, mtu: number): number {
    if (output.family !== 4) return -1; // ICMPv6 (RFC 4443): issue 15
    const [type, code] = ICMPV4_TYPE_AND_CODE[error];
    return writeIcmpv4Error(output.head, output.l4Offset, type, code, bytes, quoteOffset, quoteLength, error === IcmpError.PacketTooBig ? mtu : 0);
  }

  private writeSocketQuote(output: IpOutput, guestAddress: number, guestPort: number, remoteAddress: number, remotePort: number): Uint8Array | null {
    if (output.family !== 4) return null; // an IPv6 + UDP header: issue 15
    const quote = this.socketQuote4;
    writeIpv4Header(quote, 0, guestAddress, remoteAddress, IpProtocol.Udp, UDP_HEADER_LENGTH, 64, 0, 0);
    writeUdpHeader(quote, IPV4_HEADER_LENGTH, guestPort, remotePort, 0);
    return quote;
  }
}
