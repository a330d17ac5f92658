/**
 * Answers ICMPv6 echo requests addressed to the engine's own IPv6 addresses (fd00::2, fd00::3 and
 * their link-local twins), as libslirp does even with --disable-host-loopback: the reply comes from
 * the address asked, with the request's identifier, sequence and data (sent as the frame body straight
 * from the received batch). Other ICMPv6 to our addresses is not this responder's.
 */
import { DropReason } from '../wire/drop-reason.js';
import { fillIcmpv6Checksum, ICMPV6_HEADER_LENGTH, Icmpv6Type, writeIcmpv6Echo, type Icmpv6Packet } from '../wire/icmpv6.js';
import { Ipv6NextHeader } from '../wire/ipv6.js';
import type { Ipv6Output } from './ipv6-output.js';

export class Icmpv6EchoResponder {
  constructor(private readonly output: Ipv6Output) {}

  /** icmp: a verified echo request from source (a handle) to our address destination (a handle). */
  receive(icmp: Icmpv6Packet, source: number, destination: number): DropReason {
    if (icmp.code !== 0) return DropReason.UnsupportedProtocol;
    const output = this.output;
    const data = icmp.bytes.subarray(icmp.dataOffset, icmp.dataOffset + icmp.dataLength);
    const l4 = output.l4Offset;
    writeIcmpv6Echo(output.head, l4, Icmpv6Type.EchoReply, icmp.identifier, icmp.sequence);
    const length = ICMPV6_HEADER_LENGTH + data.length;
    fillIcmpv6Checksum(output.head, l4, ICMPV6_HEADER_LENGTH, output.pseudoHeaderSum(destination, source, Ipv6NextHeader.Icmpv6, length), data);
    output.sendFragmentable(destination, source, Ipv6NextHeader.Icmpv6, ICMPV6_HEADER_LENGTH, data);
    return DropReason.None;
  }
}
