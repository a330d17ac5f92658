/**
 * Sends an IPv4 packet to the guest whole when it fits the MTU, else as RFC 791 fragments: every
 * fragment but the last carries a multiple of 8 payload bytes, the first carries the L4 header, all
 * share one identification. Used for UDP datagrams (and ICMP replies) larger than the guest's MTU;
 * TCP never needs it (it cuts segments to the MSS).
 *
 * Owned by Ipv4Output (its sendFragmentable). The caller writes its L4 header at
 * output.head[l4Offset, +l4HeaderLength) exactly as for Ipv4Output.send; the body is lent to the Link
 * in slices, taken during each transmit. Never allocates per fragment beyond the body subarray views.
 */
import { IPV4_FLAG_DONT_FRAGMENT, IPV4_FLAG_MORE_FRAGMENTS, IPV4_HEADER_LENGTH } from '../wire/ipv4.js';
import type { Ipv4Output } from './ipv4-output.js';
import type { RandomSource } from './random.js';

/** The largest IPv4 payload (65535 minus a 20-byte header). */
export const IPV4_MAX_PAYLOAD = 65535 - IPV4_HEADER_LENGTH;

export class Ipv4Fragmenter {
  /**
   * Identifications for fragmented packets only (RFC 6864: atomic DF packets need none unique).
   * Starts at a random value so a restarted engine does not repeat the last one's sequence; drawn
   * at the first fragmented packet (-1 until then), so a stack that never fragments draws nothing.
   */
  private identification = -1;

  constructor(
    private readonly output: Ipv4Output,
    private readonly mtu: number,
    private readonly random: RandomSource,
  ) {}

  /**
   * Sends l4 header + body from source to destination. Returns the number of frames sent (queued
   * behind ARP counts too), 0 when the packet is larger than IPv4 allows (the caller counts the drop).
   */
  send(source: number, destination: number, protocol: number, l4HeaderLength: number, body: Uint8Array | null): number {
    const bodyLength = body?.length ?? 0;
    const payloadLength = l4HeaderLength + bodyLength;
    if (payloadLength > IPV4_MAX_PAYLOAD) return 0;
    if (IPV4_HEADER_LENGTH + payloadLength <= this.mtu) {
      this.output.sendPacket(source, destination, protocol, l4HeaderLength, body, undefined, IPV4_FLAG_DONT_FRAGMENT);
      return 1;
    }
    // body is non-null here: the L4 header alone always fits (MTU >= 68).
    const data = body as Uint8Array;
    const perFragment = (this.mtu - IPV4_HEADER_LENGTH) & ~7;
    if (this.identification < 0) this.identification = this.random.uint32() & 0xffff;
    const id = (this.identification = (this.identification + 1) & 0xffff);
    // First fragment: the L4 header (still in output.head) and the start of the body.
    let taken = perFragment - l4HeaderLength;
    this.output.sendPacket(source, destination, protocol, l4HeaderLength, data.subarray(0, taken), undefined, IPV4_FLAG_MORE_FRAGMENTS, id);
    let frames = 1;
    while (taken < bodyLength) {
      const length = Math.min(perFragment, bodyLength - taken);
      const last = taken + length === bodyLength;
      const offsetUnits = (l4HeaderLength + taken) >>> 3;
      const field = (last ? 0 : IPV4_FLAG_MORE_FRAGMENTS) | offsetUnits;
      this.output.sendPacket(source, destination, protocol, 0, data.subarray(taken, taken + length), undefined, field, id);
      taken += length;
      frames++;
    }
    return frames;
  }
}
