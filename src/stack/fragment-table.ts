/**
 * The fragment table both reassemblers share (ipv4-reassembly.ts, ipv6-reassembly.ts): datagrams in
 * progress keyed by their family's identity, bounded, with one expiry timer. The family parts read a
 * fragment's fields out of their header and give the key, where its data lies, the header that heads
 * the whole datagram and how that header is finished; everything else is decided here, once:
 *
 * - Bounds: at most limits.reassemblyBuffers datagrams in progress and limits.reassemblyBytes fragment
 *   bytes held in total. Eviction rule: a fragment that does not fit a bound evicts the datagrams in
 *   progress that started longest ago (counted in `evicted`) until it fits. A local guest sends the
 *   fragments of one datagram back to back, so a real datagram completes within moments while
 *   fragments that never complete (a flood, a lost piece) are the old ones: refusing newcomers instead
 *   would let a few hundred bogus first fragments lock every fragmented datagram out for the timeout
 *   (Linux evicts the same way when ipfrag_high_thresh is reached).
 * - Timeout: a datagram not complete timeoutMs after its first fragment is forgotten (the family's:
 *   30 s IPv4, 60 s IPv6); one timer while anything is held, so idle memory is returned without
 *   waiting for another fragment. One whose fragment at offset 0 had come, with a quote for an ICMP
 *   error, is handed to onTimeout (time exceeded in reassembly, RFC 792, RFC 8200 §4.5); datagrams
 *   evicted or discarded as malformed are not (Linux sends nothing for those either).
 * - Holes and overlaps: pieces are kept sorted, never overlapping. An exact duplicate of a piece held
 *   (a retransmission) is ignored; any other overlap discards the whole datagram (RFC 5722 for IPv6,
 *   and Linux for IPv4 overlaps that disagree: overlaps are the tool of evasion attacks and no sane
 *   sender produces them). A last fragment that disagrees with the length already known, or a piece
 *   beyond it, is malformed and discards the datagram as well.
 *
 * - Piece buffers: each held piece is copied into a buffer of the next power-of-two size (64 bytes up),
 *   and a forgotten datagram's buffers are kept for the next fragments (at most SPARE_BYTES, all given
 *   up when the table empties on its timer). Why: a flood of first fragments that never complete (the
 *   storm of bench/memory.ts) otherwise cost a fresh 1.5 KiB buffer outside V8's heap per fragment,
 *   malloc'd and freed only once V8 collected its view: 5000 of them grew malloc's heap by 4.6 MiB
 *   and left it fragmented.
 *
 * Never throws on guest input: every refusal is a DropReason. Fragments are rare on this link (the
 * guest's MTU is ours), so the rest of this path may allocate (small objects in V8's young
 * generation); the whole datagram is built once when complete.
 */
import { DropReason } from '../wire/drop-reason.js';
import type { Clock, TimerHandle } from './clock.js';

export interface ReassemblyLimits {
  readonly reassemblyBuffers: number;
  readonly reassemblyBytes: number;
}

/** Fixes the header of a whole datagram (lengths, fragment fields, checksum) once its data is in place. */
export type FinishDatagram = (whole: Uint8Array, headerLength: number) => void;

/** Told of a datagram that timed out, with what an ICMP error about it quotes (its first fragment, cut). */
export type ReassemblyTimeout = (quote: Uint8Array) => void;

interface Piece {
  start: number;
  end: number;
  /** Holds the piece's end - start bytes from its start; a pooled buffer (see pieceBuffer). */
  buffer: Uint8Array;
}

/**
 * Piece buffers are 2^(SMALLEST_SHIFT + class) bytes, 64 bytes up to 64 KiB: never more than twice a
 * piece's bytes, but for pieces under 32 bytes (a guest sending 8-byte fragments gets 64-byte
 * buffers: as much memory per piece as the piece's own objects take anyway).
 */
const SMALLEST_SHIFT = 6;
const CLASSES = 11;
/** Spare piece buffers kept for reuse, in bytes (a flood of 1480-byte first fragments needs one or two). */
export const SPARE_BYTES = 256 * 1024;
/** A new datagram's pieces until its first one comes (never added to: see receive). */
const NO_PIECES: Piece[] = [];

interface Pending {
  readonly key: string;
  readonly expiresAt: number;
  /** Sorted by start, never overlapping. */
  pieces: Piece[];
  /** The header that heads the whole datagram (from the fragment at offset 0), once it arrived. */
  header: Uint8Array | undefined;
  /** What an error about the datagram quotes, when one may be sent (from the fragment at offset 0). */
  quote: Uint8Array | undefined;
  /** Length of the fragmented data of the whole datagram, once the last fragment arrived; else -1. */
  total: number;
  held: number;
}

export class FragmentTable {
  private readonly pending = new Map<string, Pending>();
  private heldBytes = 0;
  private timer: TimerHandle | undefined;
  private completed: Uint8Array | undefined;
  /** Spare piece buffers by size class, and their bytes. */
  private readonly spare: Uint8Array[][] = Array.from({ length: CLASSES }, () => []);
  private spareBytes = 0;
  /** Datagrams in progress given up to make room for newer ones (the eviction rule above). */
  evicted = 0;
  /** Piece buffers allocated over the table's life (not taken from the spares): for tests. */
  buffersAllocated = 0;

  constructor(
    private readonly limits: ReassemblyLimits,
    private readonly clock: Clock,
    private readonly timeoutMs: number,
    private readonly finish: FinishDatagram,
    private readonly onTimeout: ReassemblyTimeout | undefined = undefined,
  ) {}

  /** Datagrams in progress. */
  get size(): number {
    return this.pending.size;
  }

  /** Fragment data bytes held. */
  get bytes(): number {
    return this.heldBytes;
  }

  /**
   * Takes one fragment of the datagram `key`: bytes[dataAt, dataAt + length) is its data, at `start`
   * in the whole; `last` when no more fragments follow it; `header`, for the fragment at offset 0 only,
   * a copy of what heads the whole datagram, and `quote` what an ICMP error about it would quote
   * (undefined when none may be sent). The family checked its own length rules first. Returns DropReason.None when the fragment was accepted; then
   * takeCompleted() gives the whole datagram if this fragment completed it.
   */
  receive(key: string, start: number, length: number, last: boolean, bytes: Uint8Array, dataAt: number, header: Uint8Array | undefined, quote?: Uint8Array): DropReason {
    this.completed = undefined;
    const now = this.clock.now();
    this.expire(now);
    const end = start + length;
    let entry = this.pending.get(key);
    if (entry === undefined) {
      if (length > this.limits.reassemblyBytes || this.limits.reassemblyBuffers < 1) return DropReason.ReassemblyLimit;
      while (this.pending.size >= this.limits.reassemblyBuffers || this.heldBytes + length > this.limits.reassemblyBytes) this.evictOldest();
      entry = { key, expiresAt: now + this.timeoutMs, pieces: NO_PIECES, header: undefined, quote: undefined, total: -1, held: 0 };
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
    const buffer = this.pieceBuffer(length);
    buffer.set(bytes.subarray(dataAt, dataAt + length));
    const piece = { start, end, buffer };
    // A datagram's first piece gets an array of one (a flood of first fragments that never
    // complete is this case); splice would allocate the array of what it removed on every call.
    if (pieces.length === 0) entry.pieces = [piece];
    else if (at === pieces.length) pieces.push(piece);
    else pieces.splice(at, 0, piece);
    entry.held += length;
    this.heldBytes += length;
    if (header !== undefined) {
      entry.header = header;
      entry.quote = quote;
    }
    if (entry.total !== -1 && entry.header !== undefined && entry.held === entry.total) this.complete(entry);
    return DropReason.None;
  }

  /** The datagram the last receive() completed (a new buffer, finished by the family), once. */
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
    this.dropSpares();
  }

  /** A buffer for a piece of length bytes: a spare of its size class, else a new one. */
  private pieceBuffer(length: number): Uint8Array {
    const sizeClass = Math.max(0, 32 - Math.clz32(length - 1) - SMALLEST_SHIFT);
    if (sizeClass >= CLASSES) {
      this.buffersAllocated++; // larger than any IP fragment's data: not pooled
      return new Uint8Array(length);
    }
    const buffer = this.spare[sizeClass].pop();
    if (buffer !== undefined) {
      this.spareBytes -= buffer.length;
      return buffer;
    }
    this.buffersAllocated++;
    return new Uint8Array(1 << (SMALLEST_SHIFT + sizeClass));
  }

  /** Keeps a forgotten piece's buffer for the next fragments, while the spares are under SPARE_BYTES. */
  private recycle(buffer: Uint8Array): void {
    const sizeClass = 31 - Math.clz32(buffer.length) - SMALLEST_SHIFT;
    if (sizeClass >= CLASSES || this.spareBytes + buffer.length > SPARE_BYTES) return;
    this.spare[sizeClass].push(buffer);
    this.spareBytes += buffer.length;
  }

  private dropSpares(): void {
    for (const list of this.spare) list.length = 0;
    this.spareBytes = 0;
  }

  private complete(entry: Pending): void {
    const header = entry.header!;
    const headerLength = header.length;
    const whole = new Uint8Array(headerLength + entry.total);
    whole.set(header, 0);
    for (const piece of entry.pieces) whole.set(piece.buffer.subarray(0, piece.end - piece.start), headerLength + piece.start);
    this.finish(whole, headerLength);
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
    for (const piece of entry.pieces) this.recycle(piece.buffer);
    entry.pieces = NO_PIECES;
  }

  private expire(now: number): void {
    for (const entry of this.pending.values()) {
      // Insertion order is arrival order, and every entry has the same timeout.
      if (entry.expiresAt > now) break;
      this.discard(entry);
      if (entry.quote !== undefined && this.onTimeout !== undefined) this.onTimeout(entry.quote);
    }
  }

  private arm(): void {
    if (this.timer !== undefined) return;
    this.timer = this.clock.setTimer(() => {
      this.timer = undefined;
      this.expire(this.clock.now());
      // Nothing in progress: the spares go too, so a finished flood leaves no buffers behind.
      if (this.pending.size > 0) this.arm();
      else this.dropSpares();
    }, this.timeoutMs);
  }
}
