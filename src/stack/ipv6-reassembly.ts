/**
 * Reassembly of IPv6 fragments from the guest (RFC 8200 §4.5): IPv6's part of the shared fragment
 * table (fragment-table.ts: bounds, eviction rule, overlaps discard the whole datagram as RFC 5722
 * asks, duplicates ignored, timer). Here: a packet is (source, destination, identification); a
 * fragment's length and offset were checked by walkIpv6Headers (multiples of 8, within 65535);
 * incomplete packets are forgotten 60 s after their first fragment (RFC 8200's reassembly timeout).
 * The whole packet is the first fragment's unfragmentable part (the fixed header and the extension
 * headers before the Fragment header) followed by the fragments' data, with the Fragment header gone:
 * the Next Header byte that named it now names what the fragments carry, the payload length is
 * rewritten. The Stack walks the result again.
 */
import { readUint32, writeUint16 } from '../wire/bytes.js';
import { DropReason } from '../wire/drop-reason.js';
import type { Ipv6HeaderChain } from '../wire/ipv6-extension-headers.js';
import { IPV6_HEADER_LENGTH, type Ipv6Packet } from '../wire/ipv6.js';
import { IPV6_FRAGMENT_HEADER_LENGTH } from '../wire/ipv6-fragment.js';
import type { Clock } from './clock.js';
import { icmpv6ErrorQuoteLength } from '../wire/icmpv6.js';
import { FragmentTable, type ReassemblyLimits, type ReassemblyTimeout } from './fragment-table.js';

/** RFC 8200 §4.5: 60 seconds after the first-arriving fragment. */
export const IPV6_REASSEMBLY_TIMEOUT_MS = 60_000;
const MAX_PAYLOAD = 65535;

function finishIpv6(whole: Uint8Array): void {
  writeUint16(whole, 4, whole.length - IPV6_HEADER_LENGTH);
}

export class Ipv6Reassembler {
  private readonly table: FragmentTable;

  /** onTimeout: a packet whose first fragment came and whose error was allowed timed out (see fragment-table.ts). */
  constructor(limits: ReassemblyLimits, clock: Clock, timeoutMs = IPV6_REASSEMBLY_TIMEOUT_MS, onTimeout?: ReassemblyTimeout) {
    this.table = new FragmentTable(limits, clock, timeoutMs, finishIpv6, onTimeout);
  }

  get size(): number {
    return this.table.size;
  }

  get bytes(): number {
    return this.table.bytes;
  }

  /** Packets in progress given up to make room for newer ones. */
  get evicted(): number {
    return this.table.evicted;
  }

  /**
   * Takes one fragment: ip walked into chain, which stopped at its Fragment header. Returns
   * DropReason.None when accepted; then takeCompleted() gives the whole packet if this one completed it.
   * errorAllowed: an ICMPv6 error about this packet may be sent (asked of the first fragment only).
   */
  receive(ip: Ipv6Packet, chain: Ipv6HeaderChain, errorAllowed = false): DropReason {
    const b = ip.bytes;
    const at = chain.offset;
    const offsetFlags = (b[at + 2] << 8) | b[at + 3];
    const start = offsetFlags & 0xfff8;
    const last = (offsetFlags & 1) === 0;
    const length = chain.length - IPV6_FRAGMENT_HEADER_LENGTH;
    if (length === 0 && !(last && start === 0)) return DropReason.BadLength;
    if (at - ip.offset - IPV6_HEADER_LENGTH + start + length > MAX_PAYLOAD) return DropReason.BadLength;
    const key = keyOf(b, ip.sourceOffset, readUint32(b, at + 4));
    let header: Uint8Array | undefined;
    let quote: Uint8Array | undefined;
    if (start === 0) {
      // The first fragment as it came (Linux quotes it so), not the rebuilt header.
      if (errorAllowed) quote = b.slice(ip.offset, ip.offset + icmpv6ErrorQuoteLength(ip.length));
      header = b.slice(ip.offset, at);
      // What named the Fragment header now names what the fragments carry.
      header[chain.protocolFieldOffset - ip.offset] = b[at];
    }
    return this.table.receive(key, start, length, last, b, at + IPV6_FRAGMENT_HEADER_LENGTH, header, quote);
  }

  /** The packet the last receive() completed (a new buffer), once. */
  takeCompleted(): Uint8Array | undefined {
    return this.table.takeCompleted();
  }

  clear(): void {
    this.table.clear();
  }
}

/** Source, destination and identification (RFC 8200 §4.5) as a key. */
function keyOf(b: Uint8Array, addresses: number, identification: number): string {
  let key = `${identification}`;
  for (let i = 0; i < 32; i += 4) key += `:${readUint32(b, addresses + i)}`;
  return key;
}
