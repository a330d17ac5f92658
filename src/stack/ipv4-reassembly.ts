/**
 * Reassembly of IPv4 fragments from the guest (RFC 791 §3.2, RFC 815 bookkeeping), bounded:
 * at most limits.reassemblyBuffers datagrams in progress and limits.reassemblyBytes fragment bytes held
 * in total; a datagram not complete 30 s after its first fragment is forgotten.
 *
 * Eviction rule: a fragment that does not fit a bound evicts the datagrams in progress that started
 * longest ago (counted in `evicted`) until it fits. A local guest sends the fragments of
 * one datagram back to back, so a real datagram completes within moments while fragments that never
 * complete (a flood, a lost piece) are the old ones: refusing newcomers instead would let a few
 * hundred bogus first fragments lock every fragmented datagram out for 30 s (Linux evicts the same
 * way when ipfrag_high_thresh is reached).
 *
 * Overlapping fragments are rejected (the whole datagram is discarded, as RFC 5722 does for IPv6 and
 * as Linux does for IPv4 overlaps that disagree): overlaps are the tool of evasion attacks and no sane
 * sender produces them. An exact duplicate of a fragment already held (a retransmission) is ignored.
 *
 * Fragments are rare on this link (the guest's MTU is ours), so this path may allocate: each held
 * fragment's payload is copied, the whole datagram is built once when complete.
 */
import { DropReason } from '../wire/drop-reason.js';
import { internetChecksum } from '../wire/checksum.js';
import { writeUint16 } from '../wire/bytes.js';
import type { Ipv4Packet } from '../wire/ipv4.js';
import type { Clock, TimerHandle } from './clock.js';

/** RFC 791's suggested upper bound on reassembly time (Linux ipfrag_time is 30 s as well). */
export const REASSEMBLY_TIMEOUT_MS = 30_000;
const MAX_DATAGRAM = 65535;

interface Piece {
  start: number;
  end: number;
  data: Uint8Array;
}

interface Pending {
  readonly key: string;
  readonly expiresAt: number;
  /** Sorted by start, never overlapping. */
  readonly pieces: Piece[];
  /** Copy of the first fragment's IP header (with options), once it arrived. */
  header: Uint8Array | undefined;
  /** Payload length of the whole datagram, once the last fragment arrived; else -1. */
  total: number;
  held: number;
}

export interface ReassemblyLimits {
  readonly reassemblyBuffers: number;
  readonly reassemblyBytes: number;
}

export class Ipv4Reassembler {
  private readonly pending = new Map<string, Pending>();
  private heldBytes = 0;
  private timer: TimerHandle | undefined;
  private completed: Uint8Array | undefined;
  /** Datagrams in progress given up to make room for newer ones (the eviction rule above). */
  evicted = 0;

  constructor(
    private readonly limits: ReassemblyLimits,
    private readonly clock: Clock,
    private readonly timeoutMs = REASSEMBLY_TIMEOUT_MS,
  ) {}

  /** Datagrams in progress. */
  get size(): number {
    return this.pending.size;
  }

  /** Fragment payload bytes held. */
  get bytes(): number {
    return this.heldBytes;
  }

  /**
   * Takes one fragment (ip.isFragment must be true). Returns DropReason.None when it was accepted;
   * then takeCompleted() gives the whole datagram if this fragment completed it.
   */
  receive(ip: Ipv4Packet): DropReason {
    this.completed = undefined;
    const now = this.clock.now();
    this.expire(now);
    const start = ip.fragmentOffset;
    const length = ip.payloadLength;
    const end = start + length;
    const last = !ip.moreFragments;
    if (length === 0) return DropReason.BadLength;
    // All but the last fragment carry a multiple of 8 bytes; nothing may end beyond 65535.
    if ((!last && (length & 7) !== 0) || ip.headerLength + end > MAX_DATAGRAM) return DropReason.BadLength;
    const key = `${ip.source}:${ip.destination}:${ip.protocol}:${ip.identification}`;
    let entry = this.pending.get(key);
    if (entry === undefined) {
      if (length > this.limits.reassemblyBytes || this.limits.reassemblyBuffers < 1) return DropReason.ReassemblyLimit;
      while (this.pending.size >= this.limits.reassemblyBuffers || this.heldBytes + length > this.limits.reassemblyBytes) this.evictOldest();
      entry = { key, expiresAt: now + this.timeoutMs, pieces: [], header: undefined, total: -1, held: 0 };
      this.pending.set(key, entry);
      this.arm();
    }
    if (last) {
      if ((entry.total !== -1 && entry.total !== end) || (entry.pieces.length > 0 && entry.pieces[entry.pieces.length - 1].end > end)) {
        this.discard(entry);
        return DropReason.Malformed;
      }
      entry.total = end;
    } else if (entry.total !== -1 && end > entry.total) {
      this.discard(entry);
      return DropReason.Malformed;
    }
    // Find the insertion point; reject any overlap, ignore an exact duplicate.
    const pieces = entry.pieces;
    let at = 0;
    while (at < pieces.length && pieces[at].start < start) at++;
    const before = at > 0 ? pieces[at - 1] : undefined;
    const after = at < pieces.length ? pieces[at] : undefined;
    if (after !== undefined && after.start === start && after.end === end) return DropReason.None;
    if ((before !== undefined && before.end > start) || (after !== undefined && after.start < end)) {
      this.discard(entry);
      return DropReason.FragmentOverlap;
    }
    while (this.heldBytes + length > this.limits.reassemblyBytes) {
      const oldest = this.pending.values().next().value;
      if (oldest === undefined || oldest === entry) {
        // Only this datagram is held and it alone outgrows the bound: it cannot complete.
        this.discard(entry);
        return DropReason.ReassemblyLimit;
      }
      this.evictOldest();
    }
    pieces.splice(at, 0, { start, end, data: ip.bytes.slice(ip.payloadOffset, ip.payloadOffset + length) });
    entry.held += length;
    this.heldBytes += length;
    if (start === 0) entry.header = ip.bytes.slice(ip.offset, ip.offset + ip.headerLength);
    if (entry.total !== -1 && entry.header !== undefined && entry.held === entry.total) this.complete(entry);
    return DropReason.None;
  }

  /** The datagram the last receive() completed (a new buffer, header checksum valid), once. */
  takeCompleted(): Uint8Array | undefined {
    const whole = this.completed;
    this.completed = undefined;
    return whole;
  }

  /** Forgets everything (stack close). */
  clear(): void {
    for (const entry of [...this.pending.values()]) this.discard(entry);
    if (this.timer !== undefined) this.clock.clearTimer(this.timer);
    this.timer = undefined;
  }

  private complete(entry: Pending): void {
    const header = entry.header!;
    const headerLength = header.length;
    const whole = new Uint8Array(headerLength + entry.total);
    whole.set(header, 0);
    for (const piece of entry.pieces) whole.set(piece.data, headerLength + piece.start);
    writeUint16(whole, 2, whole.length);
    writeUint16(whole, 6, 0); // no longer a fragment
    writeUint16(whole, 10, 0);
    writeUint16(whole, 10, internetChecksum(whole, 0, headerLength));
    this.discard(entry);
    this.completed = whole;
  }

  /** Forgets the datagram in progress that started longest ago (Map order is arrival order). */
  private evictOldest(): void {
    const oldest = this.pending.values().next().value;
    if (oldest === undefined) return;
    this.discard(oldest);
    this.evicted++;
  }

  private discard(entry: Pending): void {
    if (!this.pending.delete(entry.key)) return;
    this.heldBytes -= entry.held;
  }

  private expire(now: number): void {
    for (const entry of this.pending.values()) {
      // Insertion order is arrival order, and every entry has the same timeout.
      if (entry.expiresAt > now) break;
      this.discard(entry);
    }
  }

  /** One timer while anything is held, so idle memory is returned without waiting for a fragment. */
  private arm(): void {
    if (this.timer !== undefined) return;
    this.timer = this.clock.setTimer(() => {
      this.timer = undefined;
      this.expire(this.clock.now());
      if (this.pending.size > 0) this.arm();
    }, this.timeoutMs);
  }
}
