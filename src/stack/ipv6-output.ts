/**
 * The IPv6 output (the IpOutput seam for family 6): callers write their L4 header into the scratch
 * `head` at l4Offset (14 + 40), then send() writes the IPv6 and Ethernet headers in front and hands
 * head + body to the FrameTransmitter. Addresses are handles (address-table.ts), written out of the
 * table into the header. The Ethernet source is libslirp's: 52:56:00:00:00:03 for frames from the
 * DNS address (fd00::3, fe80::3), 52:56:00:00:00:02 for everything else; multicast destinations
 * (ff02::1) go to their 33:33 MAC, unicast ones wait in the neighbour table for the guest's
 * neighbour advertisement when unknown.
 *
 * Datagrams larger than the MTU (UDP, ICMPv6 echo replies) are cut into fragments (RFC 8200 §4.5):
 * a Fragment header after the fixed header, every fragment but the last carrying a multiple of 8
 * bytes, one random-based identification per datagram. TCP never needs it (MSS = MTU − 60).
 * Never allocates on this path except when a frame must wait for resolution (bounded queue, copied).
 */
import type { TxInfo } from '../link/link.js';
import { writeUint16, writeUint32 } from '../wire/bytes.js';
import { ipv6PseudoHeaderSum } from '../wire/checksum.js';
import { ETHERNET_HEADER_LENGTH, EtherType, writeEthernetHeader } from '../wire/ethernet.js';
import { ipv6Equal, ipv6MulticastMac } from '../wire/ipv6-address.js';
import { IPV6_HEADER_LENGTH, IPV6_MAX_PAYLOAD_LENGTH, Ipv6NextHeader } from '../wire/ipv6.js';
import { IPV6_FRAGMENT_HEADER_LENGTH } from '../wire/ipv6-fragment.js';
import { TCP_HEADER_LENGTH } from '../wire/tcp.js';
import type { IpAddresses } from './address-table.js';
import type { Ipv6NetworkConfig, NetworkConfig } from './config.js';
import type { FrameTransmitter } from './frame-transmitter.js';
import type { IpOutput } from './ip-output.js';
import type { NeighborTable } from './neighbor-table.js';
import type { RandomSource } from './random.js';

const IP_OFFSET = ETHERNET_HEADER_LENGTH;
const L4_OFFSET = IP_OFFSET + IPV6_HEADER_LENGTH;
const SOURCE_AT = IP_OFFSET + 8;
const DESTINATION_AT = IP_OFFSET + 24;
/** Room for the largest L4 header we build (TCP with every option is 60), ICMP errors' slack, and a Fragment header. */
const HEAD_CAPACITY = L4_OFFSET + IPV6_FRAGMENT_HEADER_LENGTH + 128;
/** Hop limit of what we send (Linux's default); NDP sets 255 itself. */
export const IPV6_HOP_LIMIT = 64;

export class Ipv6Output implements IpOutput {
  readonly family = 6;
  readonly head = new Uint8Array(HEAD_CAPACITY);
  readonly l4Offset = L4_OFFSET;
  readonly tcpMss: number;
  /** A fragmented datagram's fragmentable part must stay within 65535 bytes with its Fragment header. */
  readonly maxL4Length = IPV6_MAX_PAYLOAD_LENGTH - IPV6_FRAGMENT_HEADER_LENGTH;
  readonly gsoIpv6 = true;
  private readonly headViews: Uint8Array[] = [];
  /** Two addresses side by side, for pseudo-header sums of handles. */
  private readonly pair = new Uint8Array(32);
  private readonly v6: Ipv6NetworkConfig;
  /** Identifications of fragmented datagrams: random start, drawn at the first one (-1 until then). */
  private identification = -1;

  constructor(
    private readonly transmitter: FrameTransmitter,
    private readonly config: NetworkConfig,
    private readonly neighbors: NeighborTable,
    private readonly addresses: IpAddresses,
    private readonly random: RandomSource,
  ) {
    if (config.ipv6 === undefined) throw new Error('Ipv6Output without an IPv6 configuration');
    this.v6 = config.ipv6;
    for (let n = 0; n <= HEAD_CAPACITY; n++) this.headViews.push(this.head.subarray(0, n));
    this.tcpMss = config.mtu - IPV6_HEADER_LENGTH - TCP_HEADER_LENGTH;
  }

  pseudoHeaderSum(source: number, destination: number, protocol: number, l4Length: number): number {
    const pair = this.pair;
    this.addresses.write6(source, pair, 0);
    this.addresses.write6(destination, pair, 16);
    return ipv6PseudoHeaderSum(pair, 0, pair, 16, protocol, l4Length);
  }

  send(source: number, destination: number, protocol: number, l4HeaderLength: number, body: Uint8Array | null, info?: TxInfo): boolean {
    this.writeHeader(source, destination, protocol, l4HeaderLength + (body?.length ?? 0));
    return this.sendFrame(destination, this.headViews[L4_OFFSET + l4HeaderLength], body, info);
  }

  sendFragmentable(source: number, destination: number, protocol: number, l4HeaderLength: number, body: Uint8Array | null): number {
    const bodyLength = body?.length ?? 0;
    const length = l4HeaderLength + bodyLength;
    if (length > this.maxL4Length) return 0;
    if (IPV6_HEADER_LENGTH + length <= this.config.mtu) {
      this.send(source, destination, protocol, l4HeaderLength, body);
      return 1;
    }
    // body is non-null here: an L4 header alone always fits (MTU ≥ 1280 on an IPv6 link, ≥ 68 here).
    const data = body as Uint8Array;
    const perFragment = (this.config.mtu - IPV6_HEADER_LENGTH - IPV6_FRAGMENT_HEADER_LENGTH) & ~7;
    if (this.identification < 0) this.identification = this.random.uint32();
    const id = (this.identification = (this.identification + 1) >>> 0);
    const head = this.head;
    // The L4 header moves behind the Fragment header; it travels in the first fragment only.
    head.copyWithin(L4_OFFSET + IPV6_FRAGMENT_HEADER_LENGTH, L4_OFFSET, L4_OFFSET + l4HeaderLength);
    let sent = perFragment - l4HeaderLength;
    this.sendFragment(source, destination, protocol, id, 0, true, l4HeaderLength, data.subarray(0, sent));
    let frames = 1;
    while (sent < bodyLength) {
      const n = Math.min(perFragment, bodyLength - sent);
      this.sendFragment(source, destination, protocol, id, l4HeaderLength + sent, sent + n < bodyLength, 0, data.subarray(sent, sent + n));
      sent += n;
      frames++;
    }
    return frames;
  }

  /** One fragment: the Fragment header at l4Offset, then l4HeaderLength bytes of L4 header (first only), then chunk. */
  private sendFragment(source: number, destination: number, protocol: number, id: number, offset: number, more: boolean, l4HeaderLength: number, chunk: Uint8Array): void {
    const head = this.head;
    this.writeHeader(source, destination, Ipv6NextHeader.Fragment, IPV6_FRAGMENT_HEADER_LENGTH + l4HeaderLength + chunk.length);
    head[L4_OFFSET] = protocol;
    head[L4_OFFSET + 1] = 0;
    // The offset is a multiple of 8: in 8-byte units shifted left by 3, it is itself.
    writeUint16(head, L4_OFFSET + 2, offset | (more ? 1 : 0));
    writeUint32(head, L4_OFFSET + 4, id);
    this.sendFrame(destination, this.headViews[L4_OFFSET + IPV6_FRAGMENT_HEADER_LENGTH + l4HeaderLength], chunk);
  }

  sendFrame(destination: number, head: Uint8Array, body: Uint8Array | null, info?: TxInfo): boolean {
    let mac: number | undefined;
    if (head[DESTINATION_AT] === 0xff) mac = ipv6MulticastMac(head, DESTINATION_AT);
    else mac = this.neighbors.lookup(destination);
    if (mac === undefined) {
      this.neighbors.queueForResolution(destination, head, body, info);
      return false;
    }
    const v6 = this.v6;
    const fromDns = ipv6Equal(head, SOURCE_AT, v6.dns, 0) || ipv6Equal(head, SOURCE_AT, v6.dnsLinkLocal, 0);
    writeEthernetHeader(head, 0, mac, fromDns ? v6.dnsMac : v6.gatewayMac, EtherType.Ipv6);
    this.transmitter.transmit(head, body, info);
    return true;
  }

  writeIpHeader(buf: Uint8Array, offset: number, source: number, destination: number, protocol: number, l4Length: number): number {
    buf[offset] = 0x60;
    buf[offset + 1] = 0;
    buf[offset + 2] = 0;
    buf[offset + 3] = 0;
    writeUint16(buf, offset + 4, l4Length);
    buf[offset + 6] = protocol;
    buf[offset + 7] = IPV6_HOP_LIMIT;
    this.addresses.write6(source, buf, offset + 8);
    this.addresses.write6(destination, buf, offset + 24);
    return offset + IPV6_HEADER_LENGTH;
  }

  private writeHeader(source: number, destination: number, nextHeader: number, payloadLength: number): void {
    this.writeIpHeader(this.head, IP_OFFSET, source, destination, nextHeader, payloadLength);
  }
}
