/**
 * The sender's SACK scoreboard (RFC 2018, RFC 6675 §3): the byte ranges above SND.UNA the guest says
 * it holds, kept merged and sorted as [left, right) pairs in one preallocated array. Pure bookkeeping:
 * it sends nothing and knows no flow; the sender asks it which bytes need no (re)transmission.
 *
 * Bounded: at most MAX_RANGES ranges; a block that would make one more forgets the lowest range
 * (the hole below it is then repaired as if nothing above it were held, which is only wasteful).
 * Allocates its array at the first block, never after (hot path: every ACK of a lossy flow passes
 * here); a flow that is never SACKed (every short connection) allocates none: a Uint32Array per flow
 * was ~1.2% of tslirp's CPU in a connection-rate run (its backing store is calloc'd and accounted).
 */
import { seqDiff, seqGe, seqGt, seqLt } from '../../wire/tcp-seq.js';

/** Ranges kept at most (a guest reports 3 or 4 blocks per ACK; holes beyond this many are rare). */
export const MAX_SACK_RANGES = 32;

/** The edges of every scoreboard that has held no range yet (read only below `count`, which is 0). */
const NO_EDGES = new Uint32Array(0);

export class SackScoreboard {
  /** [l0, r0, l1, r1, …] for `count` ranges, plus room for one insertion before trimming. */
  private edges = NO_EDGES;
  private count = 0;
  private total = 0;

  /** Number of ranges held. */
  get rangeCount(): number {
    return this.count;
  }

  get isEmpty(): boolean {
    return this.count === 0;
  }

  /** Bytes SACKed (RFC 6675 pipe: these have left the network). */
  get bytes(): number {
    return this.total;
  }

  /** Right edge of the highest range; only meaningful when not empty. */
  get highest(): number {
    return this.edges[2 * this.count - 1];
  }

  left(index: number): number {
    return this.edges[2 * index];
  }

  right(index: number): number {
    return this.edges[2 * index + 1];
  }

  clear(): void {
    this.count = 0;
    this.total = 0;
  }

  /**
   * Adds the guest's SACK blocks (count [left, right) pairs in blocks); whether any byte was SACKed
   * that was not before. D-SACKs (below ack) and blocks beyond what was sent (sendMax) are ignored.
   */
  record(blocks: Uint32Array, count: number, ack: number, sendMax: number): boolean {
    const before = this.total;
    for (let i = 0; i < count; i++) {
      const left = blocks[i * 2];
      const right = blocks[i * 2 + 1];
      if (!seqGt(right, left) || seqLt(left, ack) || seqGt(right, sendMax)) continue;
      this.add(left, right);
    }
    return this.total > before;
  }

  /** Merges [left, right) into the ranges (ranges that touch or overlap it become one). */
  add(left: number, right: number): void {
    if (this.edges === NO_EDGES) this.edges = new Uint32Array(2 * (MAX_SACK_RANGES + 1));
    const e = this.edges;
    const n = 2 * this.count;
    // The first range that reaches left, then every range that starts at or before right.
    let i = 0;
    while (i < n && seqLt(e[i + 1], left)) i += 2;
    let l = left;
    let r = right;
    let j = i;
    while (j < n && !seqGt(e[j], r)) {
      if (seqLt(e[j], l)) l = e[j];
      if (seqGt(e[j + 1], r)) r = e[j + 1];
      j += 2;
    }
    // Replace ranges [i, j) by the merged one: shift the tail by 2 - (j - i).
    const shift = 2 - (j - i);
    if (shift > 0) e.copyWithin(j + shift, j, n);
    else if (shift < 0) e.copyWithin(i + 2, j, n);
    e[i] = l;
    e[i + 1] = r;
    let length = n + shift;
    if (length > 2 * MAX_SACK_RANGES) {
      // Forget the lowest range (the array has room for exactly one more than the bound).
      e.copyWithin(0, 2, length);
      length -= 2;
    }
    this.count = length / 2;
    this.sum();
  }

  /** Forgets what una now covers: ranges below it go, a range straddling it starts at it. */
  dropBelow(una: number): void {
    const e = this.edges;
    const n = 2 * this.count;
    let i = 0;
    while (i < n && !seqGt(e[i + 1], una)) i += 2;
    if (i > 0) e.copyWithin(0, i, n);
    this.count = (n - i) / 2;
    if (this.count > 0 && seqLt(e[0], una)) e[0] = una;
    this.sum();
  }

  /** If seq lies in a SACKed range, the end of that range; else seq (where transmission may start). */
  endOfRangeAt(seq: number): number {
    const e = this.edges;
    for (let i = 0; i < 2 * this.count; i += 2) {
      if (seqGe(seq, e[i]) && seqLt(seq, e[i + 1])) return e[i + 1];
    }
    return seq;
  }

  /** The start of the first SACKed range after seq, capped at limit (where a hole ends). */
  nextRangeAfter(seq: number, limit: number): number {
    const e = this.edges;
    for (let i = 0; i < 2 * this.count; i += 2) {
      if (seqGt(e[i], seq)) return seqLt(e[i], limit) ? e[i] : limit;
    }
    return limit;
  }

  /** The ranges as pairs (debug output only: allocates). */
  toPairs(): [number, number][] {
    const out: [number, number][] = [];
    for (let i = 0; i < this.count; i++) out.push([this.left(i), this.right(i)]);
    return out;
  }

  private sum(): void {
    let total = 0;
    for (let i = 0; i < 2 * this.count; i += 2) total += seqDiff(this.edges[i + 1], this.edges[i]);
    this.total = total;
  }
}
