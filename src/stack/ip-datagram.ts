/**
 * The input seam: what a transport (TCP, UDP, ICMP forwarding) sees of a datagram the guest sent,
 * for either address family. The Stack validates the IP header, reassembles fragments and fills one
 * reused view per family; receivers read addresses, payload, the pseudo-header sum for their checksum
 * and the quote an ICMP error about the datagram carries, and never an IPv4 or IPv6 header.
 *
 * A view is valid only during the receiver's call (its bytes are the link's batch buffer).
 */
import { ipv4PseudoHeaderSum, ipv6PseudoHeaderSum } from '../wire/checksum.js';
import { EMPTY_BYTES } from '../wire/bytes.js';
import { icmpv4ErrorQuoteLength } from '../wire/icmpv4.js';
import { icmpv6ErrorQuoteLength } from '../wire/icmpv6.js';
import type { Ipv6Packet } from '../wire/ipv6.js';
import type { IpFamily } from '../wire/ip-address.js';
import type { Ipv4Packet } from '../wire/ipv4.js';
import type { DropReason } from '../wire/drop-reason.js';

export interface IpDatagram {
  readonly family: IpFamily;
  /** Addresses as the engine keys them: an IPv4 address is its uint32, an IPv6 one a handle (address-table.ts). */
  readonly source: number;
  readonly destination: number;
  /** The L4 protocol (IPv4 protocol, IPv6 next header after extension headers). */
  readonly protocol: number;
  readonly bytes: Uint8Array;
  /** The L4 packet: bytes[payloadOffset, +payloadLength). */
  readonly payloadOffset: number;
  readonly payloadLength: number;
  /**
   * What an ICMP error about this datagram quotes: bytes[quoteOffset, +quoteLength) (IPv4: the header
   * and 8 data bytes, RFC 792; IPv6: as much as keeps the error within 1280 bytes, RFC 4443 §3.1).
   */
  readonly quoteOffset: number;
  readonly quoteLength: number;
  /** The running pseudo-header sum for an L4 packet of this protocol and length (checksum checks). */
  pseudoHeaderSum(protocol: number, l4Length: number): number;
}

/** A transport plugged into the Stack for one IP protocol number, of both families. */
export interface IpReceiver {
  /**
   * datagram is a view valid only during the call. frameFlags are the link's FRAME_* bits (checksum
   * offload state). Returns DropReason.None when the datagram was taken, else why it was dropped.
   */
  receiveIp(datagram: IpDatagram, frameFlags: number): DropReason;
}

/** The IPv4 view: filled from a validated, whole (reassembled) Ipv4Packet. */
export class Ipv4Datagram implements IpDatagram {
  readonly family = 4;
  source = 0;
  destination = 0;
  protocol = 0;
  bytes: Uint8Array = EMPTY_BYTES;
  payloadOffset = 0;
  payloadLength = 0;
  quoteOffset = 0;
  quoteLength = 0;

  fill(ip: Ipv4Packet): this {
    this.source = ip.source;
    this.destination = ip.destination;
    this.protocol = ip.protocol;
    this.bytes = ip.bytes;
    const headerLength = ip.headerLength;
    this.payloadOffset = ip.offset + headerLength;
    this.payloadLength = ip.length - headerLength;
    this.quoteOffset = ip.offset;
    this.quoteLength = icmpv4ErrorQuoteLength(headerLength, ip.length);
    return this;
  }

  pseudoHeaderSum(protocol: number, l4Length: number): number {
    return ipv4PseudoHeaderSum(this.source, this.destination, protocol, l4Length);
  }
}

/**
 * The IPv6 view: filled from a validated, whole packet whose extension headers were walked up to the
 * upper layer at payloadOffset. source and destination are handles (address-table.ts) the Stack holds
 * during the receiver's call; a receiver that keeps one (a flow, a binding) retains it.
 */
export class Ipv6Datagram implements IpDatagram {
  readonly family = 6;
  source = 0;
  destination = 0;
  protocol = 0;
  bytes: Uint8Array = EMPTY_BYTES;
  payloadOffset = 0;
  payloadLength = 0;
  quoteOffset = 0;
  quoteLength = 0;
  private sourceOffset = 0;
  private destinationOffset = 0;

  fill(ip: Ipv6Packet, source: number, destination: number, protocol: number, payloadOffset: number, payloadLength: number): this {
    this.source = source;
    this.destination = destination;
    this.protocol = protocol;
    this.bytes = ip.bytes;
    this.sourceOffset = ip.sourceOffset;
    this.destinationOffset = ip.destinationOffset;
    this.payloadOffset = payloadOffset;
    this.payloadLength = payloadLength;
    this.quoteOffset = ip.offset;
    this.quoteLength = icmpv6ErrorQuoteLength(ip.length);
    return this;
  }

  pseudoHeaderSum(protocol: number, l4Length: number): number {
    return ipv6PseudoHeaderSum(this.bytes, this.sourceOffset, this.bytes, this.destinationOffset, protocol, l4Length);
  }
}
