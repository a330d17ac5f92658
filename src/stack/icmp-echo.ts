/**
 * Answers ICMP echo requests addressed to the engine's own addresses (gateway and DNS), as
 * slirp4netns does even with --disable-host-loopback. Other ICMP to our addresses is dropped.
 * The reply's data is the request's data, sent as the frame body straight from the received batch.
 */
import { FRAME_CHECKSUM_PARTIAL, FRAME_CHECKSUM_VALID } from '../link/link.js';
import { DropReason } from '../wire/drop-reason.js';
import { Icmpv4Packet, Icmpv4Type, writeIcmpv4Echo, ICMPV4_HEADER_LENGTH } from '../wire/icmpv4.js';
import { IpProtocol, type Ipv4Packet } from '../wire/ipv4.js';
import type { Ipv4Output } from './ipv4-output.js';

export class IcmpEchoResponder {
  private readonly view = new Icmpv4Packet();

  constructor(private readonly output: Ipv4Output) {}

  receive(ip: Ipv4Packet, frameFlags: number): DropReason {
    const icmp = this.view;
    const verify = (frameFlags & (FRAME_CHECKSUM_PARTIAL | FRAME_CHECKSUM_VALID)) === 0;
    const reason = icmp.wrap(ip.bytes, ip.payloadOffset, ip.payloadLength, verify);
    if (reason !== DropReason.None) return reason;
    if (icmp.type !== Icmpv4Type.EchoRequest || icmp.code !== 0) return DropReason.UnsupportedProtocol;
    // A broadcast or 0.0.0.0 source gets no answer (no smurf amplification through us).
    if (ip.source === 0) return DropReason.BadAddress;
    const data = icmp.bytes.subarray(icmp.dataOffset, icmp.dataOffset + icmp.dataLength);
    writeIcmpv4Echo(this.output.head, this.output.l4Offset, Icmpv4Type.EchoReply, icmp.identifier, icmp.sequence, data);
    this.output.send(ip.destination, ip.source, IpProtocol.Icmp, ICMPV4_HEADER_LENGTH, data);
    return DropReason.None;
  }
}
