/**
 * Reassembly of IPv4 fragments from the guest (RFC 791 §3.2): IPv4's part of the shared fragment
 * table (fragment-table.ts, which holds the bounds, the eviction rule, the overlap policy and the
 * timer). Here: a datagram is (source, destination, protocol, identification); all but the last
 * fragment carry a multiple of 8 bytes and nothing may end beyond 65535; the whole datagram is the
 * first fragment's header (with options) followed by the data, its total length, fragment field and
 * header checksum rewritten; incomplete datagrams are forgotten 30 s after their first fragment.
 */
import { DropReason } from '../wire/drop-reason.js';
import { internetChecksum } from '../wire/checksum.js';
import { writeUint16 } from '../wire/bytes.js';
import type { Ipv4Packet } from '../wire/ipv4.js';
import type { Clock } from './clock.js';
import { icmpv4ErrorQuoteLength } from '../wire/icmpv4.js';
import { FragmentTable, type ReassemblyLimits, type ReassemblyTimeout } from './fragment-table.js';

/** RFC 791's suggested upper bound on reassembly time (Linux ipfrag_time is 30 s as well). */
export const REASSEMBLY_TIMEOUT_MS = 30_000;
const MAX_DATAGRAM = 65535;

/** The whole datagram's header: its length, no longer a fragment, checksum valid. */
function finishIpv4(whole: Uint8Array, headerLength: number): void {
  writeUint16(whole, 2, whole.length);
  writeUint16(whole, 6, 0);
  writeUint16(whole, 10, 0);
  writeUint16(whole, 10, internetChecksum(whole, 0, headerLength));
}

export class Ipv4Reassembler {
  private readonly table: FragmentTable;

  /** onTimeout: a datagram whose first fragment came and whose error was allowed timed out (see fragment-table.ts). */
  constructor(limits: ReassemblyLimits, clock: Clock, timeoutMs = REASSEMBLY_TIMEOUT_MS, onTimeout?: ReassemblyTimeout) {
    this.table = new FragmentTable(limits, clock, timeoutMs, finishIpv4, onTimeout);
  }

  /** Datagrams in progress. */
  get size(): number {
    return this.table.size;
  }

  /** Fragment payload bytes held. */
  get bytes(): number {
    return this.table.bytes;
  }

  /** Datagrams in progress given up to make room for newer ones. */
  get evicted(): number {
    return this.table.evicted;
  }

  /**
   * Takes one fragment (ip.isFragment must be true). Returns DropReason.None when it was accepted;
   * then takeCompleted() gives the whole datagram if this fragment completed it. errorAllowed: an
   * ICMP error about this datagram may be sent (asked of the first fragment only).
   */
  receive(ip: Ipv4Packet, errorAllowed = false): DropReason {
    const start = ip.fragmentOffset;
    const length = ip.payloadLength;
    const last = !ip.moreFragments;
    if (length === 0) return DropReason.BadLength;
    // All but the last fragment carry a multiple of 8 bytes; nothing may end beyond 65535.
    if ((!last && (length & 7) !== 0) || ip.headerLength + start + length > MAX_DATAGRAM) return DropReason.BadLength;
    const key = `${ip.source}:${ip.destination}:${ip.protocol}:${ip.identification}`;
    const header = start === 0 ? ip.bytes.slice(ip.offset, ip.offset + ip.headerLength) : undefined;
    const quote = start === 0 && errorAllowed ? ip.bytes.slice(ip.offset, ip.offset + icmpv4ErrorQuoteLength(ip.headerLength, ip.length)) : undefined;
    return this.table.receive(key, start, length, last, ip.bytes, ip.payloadOffset, header, quote);
  }

  /** The datagram the last receive() completed (a new buffer, header checksum valid), once. */
  takeCompleted(): Uint8Array | undefined {
    return this.table.takeCompleted();
  }

  /** Forgets everything (stack close). */
  clear(): void {
    this.table.clear();
  }
}
