/**
 * Everything the engine sends to the guest leaves through here: the caller writes its L4 header into
 * the shared scratch `head` at L4_OFFSET, then send() writes the IPv4 and Ethernet headers in front
 * and hands head + body to the Link. One scratch buffer for all frames is safe because the Link copies
 * the head during transmit() (see link.ts). Never allocates on this path except when a frame must wait
 * for ARP resolution (bounded queue, copied).
 */
import type { Link, TxInfo } from '../link/link.js';
import { BROADCAST_MAC } from '../wire/bytes.js';
import { ETHERNET_HEADER_LENGTH, EtherType, writeEthernetHeader } from '../wire/ethernet.js';
import { IPV4_FLAG_DONT_FRAGMENT, IPV4_HEADER_LENGTH, writeIpv4Header } from '../wire/ipv4.js';
import type { NetworkConfig } from './config.js';
import type { NeighborTable } from './neighbor-table.js';
import type { StackStats } from './stats.js';

/** Where callers write their L4 header in `head`. */
export const L4_OFFSET = ETHERNET_HEADER_LENGTH + IPV4_HEADER_LENGTH;
/** Room for the largest L4 header we build (TCP with all options is 60) plus slack for ICMP errors. */
export const HEAD_CAPACITY = L4_OFFSET + 128;

export class Ipv4Output {
  /** Scratch for headers; valid to write L4 bytes at [L4_OFFSET, HEAD_CAPACITY). */
  readonly head = new Uint8Array(HEAD_CAPACITY);
  /** head.subarray(0, n) for every n, made once, so sending a frame allocates no view. */
  private readonly headViews: Uint8Array[] = [];
  private identification = 0;

  constructor(
    private readonly link: Link,
    private readonly config: NetworkConfig,
    private readonly neighbors: NeighborTable,
    private readonly stats: StackStats,
  ) {
    for (let n = 0; n <= HEAD_CAPACITY; n++) this.headViews.push(this.head.subarray(0, n));
  }

  /**
   * Sends an IPv4 packet to the guest: L4 header already at head[L4_OFFSET, L4_OFFSET + l4HeaderLength),
   * payload in body. Returns false when it could not go out now (no route: the frame is dropped,
   * or it was queued behind ARP resolution).
   */
  send(
    source: number,
    destination: number,
    protocol: number,
    l4HeaderLength: number,
    body: Uint8Array | null,
    info?: TxInfo,
    fragmentField = IPV4_FLAG_DONT_FRAGMENT,
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
    this.link.transmit(head, body, info);
    this.stats.framesOut++;
    this.stats.bytesOut += head.length + (body?.length ?? 0);
    return true;
  }

  private resolve(destination: number): number | undefined {
    const broadcast = (this.config.ipv4.network | ~this.config.ipv4.netmask) >>> 0;
    if (destination === 0xffffffff || destination === broadcast) return BROADCAST_MAC;
    return this.neighbors.lookup(destination);
  }
}
