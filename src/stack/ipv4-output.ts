/**
 * The IPv4 output (the IpOutput seam for family 4): callers write their L4 header into the scratch
 * `head` at l4Offset (14 + 20), then send() writes the IPv4 and Ethernet headers in front and hands
 * head + body to the FrameTransmitter. One scratch buffer for all IPv4 frames is safe because the
 * Link takes the head during transmit() (see link.ts). Datagrams larger than the MTU are cut by the
 * Ipv4Fragmenter. Never allocates on this path except when a frame must wait for ARP resolution
 * (bounded queue, copied).
 */
import type { TxInfo } from '../link/link.js';
import { BROADCAST_MAC } from '../wire/bytes.js';
import { ipv4PseudoHeaderSum } from '../wire/checksum.js';
import { ETHERNET_HEADER_LENGTH, EtherType, writeEthernetHeader } from '../wire/ethernet.js';
import { ipv4Broadcast } from '../wire/ip-address.js';
import { IPV4_FLAG_DONT_FRAGMENT, IPV4_HEADER_LENGTH, writeIpv4Header } from '../wire/ipv4.js';
import { TCP_HEADER_LENGTH } from '../wire/tcp.js';
import type { NetworkConfig } from './config.js';
import type { FrameTransmitter } from './frame-transmitter.js';
import type { IpOutput } from './ip-output.js';
import { IPV4_MAX_PAYLOAD, Ipv4Fragmenter } from './ipv4-fragmenter.js';
import type { NeighborTable } from './neighbor-table.js';
import type { RandomSource } from './random.js';

const L4_OFFSET = ETHERNET_HEADER_LENGTH + IPV4_HEADER_LENGTH;
/** Room for the largest L4 header we build (TCP with all options is 60) plus slack for ICMP errors. */
const HEAD_CAPACITY = L4_OFFSET + 128;

export class Ipv4Output implements IpOutput {
  readonly family = 4;
  /** Scratch for headers; valid to write L4 bytes at [l4Offset, head.length). */
  readonly head = new Uint8Array(HEAD_CAPACITY);
  readonly l4Offset = L4_OFFSET;
  readonly tcpMss: number;
  readonly maxL4Length = IPV4_MAX_PAYLOAD;
  readonly gsoIpv6 = false;
  /** head.subarray(0, n) for every n, made once, so sending a frame allocates no view. */
  private readonly headViews: Uint8Array[] = [];
  private identification = 0;
  private readonly broadcast: number;
  private readonly fragmenter: Ipv4Fragmenter;

  constructor(
    private readonly transmitter: FrameTransmitter,
    private readonly config: NetworkConfig,
    private readonly neighbors: NeighborTable,
    random: RandomSource,
  ) {
    for (let n = 0; n <= HEAD_CAPACITY; n++) this.headViews.push(this.head.subarray(0, n));
    this.tcpMss = config.mtu - IPV4_HEADER_LENGTH - TCP_HEADER_LENGTH;
    this.broadcast = ipv4Broadcast(config.ipv4);
    this.fragmenter = new Ipv4Fragmenter(this, config.mtu, random);
  }

  pseudoHeaderSum(source: number, destination: number, protocol: number, l4Length: number): number {
    return ipv4PseudoHeaderSum(source, destination, protocol, l4Length);
  }

  send(source: number, destination: number, protocol: number, l4HeaderLength: number, body: Uint8Array | null, info?: TxInfo): boolean {
    return this.sendPacket(source, destination, protocol, l4HeaderLength, body, info, IPV4_FLAG_DONT_FRAGMENT);
  }

  sendFragmentable(source: number, destination: number, protocol: number, l4HeaderLength: number, body: Uint8Array | null): number {
    return this.fragmenter.send(source, destination, protocol, l4HeaderLength, body);
  }

  /**
   * Sends one IPv4 packet (or fragment): fragmentField is the raw flags+offset word; identification
   * defaults to the next of our own counter.
   */
  sendPacket(
    source: number,
    destination: number,
    protocol: number,
    l4HeaderLength: number,
    body: Uint8Array | null,
    info: TxInfo | undefined,
    fragmentField: number,
    identification?: number,
  ): boolean {
    const payloadLength = l4HeaderLength + (body?.length ?? 0);
    const id = identification ?? (this.identification = (this.identification + 1) & 0xffff);
    writeIpv4Header(this.head, ETHERNET_HEADER_LENGTH, source, destination, protocol, payloadLength, 64, id, fragmentField);
    const headLength = L4_OFFSET + l4HeaderLength;
    return this.sendFrame(destination, this.headViews[headLength], body, info);
  }

  /** Sends a frame whose IPv4 header is already in place at head[14..]; fills in Ethernet. */
  sendFrame(destination: number, head: Uint8Array, body: Uint8Array | null, info?: TxInfo): boolean {
    const mac = this.resolve(destination);
    if (mac === undefined) {
      this.neighbors.queueForResolution(destination, head, body, info);
      return false;
    }
    writeEthernetHeader(head, 0, mac, this.config.gatewayMac, EtherType.Ipv4);
    this.transmitter.transmit(head, body, info);
    return true;
  }

  writeIpHeader(buf: Uint8Array, offset: number, source: number, destination: number, protocol: number, l4Length: number): number {
    return writeIpv4Header(buf, offset, source, destination, protocol, l4Length, 64, 0, 0);
  }

  private resolve(destination: number): number | undefined {
    if (destination === 0xffffffff || destination === this.broadcast) return BROADCAST_MAC;
    return this.neighbors.lookup(destination);
  }
}
