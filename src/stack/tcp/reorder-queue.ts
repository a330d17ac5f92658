/**
 * Out-of-order segments from the guest, copied (the frame buffer is reused after the batch), kept
 * sorted and non-overlapping, bounded in bytes. Also the source of the SACK blocks we advertise:
 * the most recently touched first (RFC 2018 §4), so that with more holes than an option has room
 * for, the guest still hears of every segment that arrives. Lowest-first would name the same 3
 * blocks on every ACK: the guest retransmitted data we held, and took a segment's RTT from the
 * ACK that finally named it, seconds late, until its RTO backed off into a stall.
 */
import { seqAdd, seqDiff, seqGe, seqGt, seqLe, seqLt } from '../../wire/tcp-seq.js';

interface Range {
  seq: number;
  data: Uint8Array;
  /** When a segment last landed on this range (insert() count): recency for SACK block order. */
  touched: number;
}

/** Most SACK blocks one option carries (40 option bytes: 4 without timestamps). */
const MAX_BLOCKS = 4;
/**
 * Scratch for sackBlocks(): the most recent blocks found so far, [left, right, touched] each.
 * Shared by every queue (sackBlocks runs to completion): a typed array per flow was a visible part
 * of what each new connection allocates.
 */
const best = new Float64Array(MAX_BLOCKS * 3);

export class ReorderQueue {
  private ranges: Range[] = [];
  bytes = 0;
  private inserts = 0;

  constructor(private readonly maxBytes: number) {}

  get isEmpty(): boolean {
    return this.ranges.length === 0;
  }

  clear(): void {
    this.ranges = [];
    this.bytes = 0;
  }

  /**
   * Stores the part of data (at seq) not already held. Returns false when it did not fit the bound
   * (the segment is dropped; the guest will retransmit it).
   */
  insert(seq: number, data: Uint8Array): boolean {
    if (data.length === 0) return true;
    const end = seqAdd(seq, data.length);
    const touched = ++this.inserts;
    // Trim against existing ranges: keep only the new bytes, possibly several pieces. Ranges the
    // segment overlaps count as touched (a duplicate names its block first too).
    const pieces: Range[] = [];
    let cursor = seq;
    for (const r of this.ranges) {
      const rEnd = seqAdd(r.seq, r.data.length);
      if (seqLe(rEnd, cursor)) continue;
      if (seqGe(r.seq, end)) break;
      r.touched = touched;
      if (seqLt(cursor, r.seq)) pieces.push({ seq: cursor, data: data.subarray(seqDiff(cursor, seq), seqDiff(r.seq, seq)), touched });
      cursor = seqGt(rEnd, cursor) ? rEnd : cursor;
    }
    if (seqLt(cursor, end)) pieces.push({ seq: cursor, data: data.subarray(seqDiff(cursor, seq)), touched });
    let added = 0;
    for (const p of pieces) added += p.data.length;
    if (added === 0) return true;
    if (this.bytes + added > this.maxBytes) return false;
    for (const p of pieces) {
      const copy = new Uint8Array(p.data); // the frame's buffer is reused after this batch
      let i = 0;
      while (i < this.ranges.length && seqLt(this.ranges[i].seq, p.seq)) i++;
      this.ranges.splice(i, 0, { seq: p.seq, data: copy, touched });
    }
    this.bytes += added;
    return true;
  }

  /** Removes and returns the data that starts at or before `seq` (in order), trimmed to begin at seq. */
  takeFrom(seq: number): Uint8Array | undefined {
    while (this.ranges.length > 0) {
      const r = this.ranges[0];
      const rEnd = seqAdd(r.seq, r.data.length);
      if (seqGt(r.seq, seq)) return undefined;
      this.ranges.shift();
      this.bytes -= r.data.length;
      if (seqLe(rEnd, seq)) continue; // entirely old
      return r.data.subarray(seqDiff(seq, r.seq));
    }
    return undefined;
  }

  /** The held ranges as [start, end) sequence pairs, merged where adjacent (a debug dump; allocates). */
  heldRanges(): [number, number][] {
    const out: [number, number][] = [];
    for (const r of this.ranges) {
      const end = seqAdd(r.seq, r.data.length);
      const last = out[out.length - 1];
      if (last !== undefined && last[1] === r.seq) last[1] = end;
      else out.push([r.seq, end]);
    }
    return out;
  }

  /**
   * Writes up to max SACK blocks (merged adjacent ranges) into edges, the most recently touched
   * first; returns the count.
   */
  sackBlocks(edges: Uint32Array, max: number): number {
    const limit = Math.min(max, MAX_BLOCKS);
    let count = 0;
    let i = 0;
    while (i < this.ranges.length) {
      const left = this.ranges[i].seq;
      let right = seqAdd(left, this.ranges[i].data.length);
      let touched = this.ranges[i].touched;
      i++;
      while (i < this.ranges.length && this.ranges[i].seq === right) {
        right = seqAdd(right, this.ranges[i].data.length);
        if (this.ranges[i].touched > touched) touched = this.ranges[i].touched;
        i++;
      }
      // Keep the `limit` most recent, sorted newest first (insertion into a list of at most 4).
      let at = count;
      while (at > 0 && best[(at - 1) * 3 + 2] < touched) at--;
      if (at >= limit) continue;
      for (let k = Math.min(count, limit - 1); k > at; k--) {
        best[k * 3] = best[(k - 1) * 3];
        best[k * 3 + 1] = best[(k - 1) * 3 + 1];
        best[k * 3 + 2] = best[(k - 1) * 3 + 2];
      }
      best[at * 3] = left;
      best[at * 3 + 1] = right;
      best[at * 3 + 2] = touched;
      if (count < limit) count++;
    }
    for (let k = 0; k < count; k++) {
      edges[k * 2] = best[k * 3];
      edges[k * 2 + 1] = best[k * 3 + 1];
    }
    return count;
  }
}
