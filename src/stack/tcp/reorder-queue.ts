/**
 * Out-of-order segments from the guest, copied (the frame buffer is reused after the batch), kept
 * sorted and non-overlapping, bounded in bytes. Also the source of the SACK blocks we advertise.
 */
import { seqAdd, seqDiff, seqGe, seqGt, seqLe, seqLt } from '../../wire/tcp-seq.js';

interface Range {
  seq: number;
  data: Uint8Array;
}

export class ReorderQueue {
  private ranges: Range[] = [];
  bytes = 0;

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
    // Trim against existing ranges: keep only the new bytes, possibly several pieces.
    const pieces: Range[] = [];
    let cursor = seq;
    for (const r of this.ranges) {
      const rEnd = seqAdd(r.seq, r.data.length);
      if (seqLe(rEnd, cursor)) continue;
      if (seqGe(r.seq, end)) break;
      if (seqLt(cursor, r.seq)) pieces.push({ seq: cursor, data: data.subarray(seqDiff(cursor, seq), seqDiff(r.seq, seq)) });
      cursor = seqGt(rEnd, cursor) ? rEnd : cursor;
    }
    if (seqLt(cursor, end)) pieces.push({ seq: cursor, data: data.subarray(seqDiff(cursor, seq)) });
    let added = 0;
    for (const p of pieces) added += p.data.length;
    if (added === 0) return true;
    if (this.bytes + added > this.maxBytes) return false;
    for (const p of pieces) {
      const copy = new Uint8Array(p.data); // the frame's buffer is reused after this batch
      let i = 0;
      while (i < this.ranges.length && seqLt(this.ranges[i].seq, p.seq)) i++;
      this.ranges.splice(i, 0, { seq: p.seq, data: copy });
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

  /** Writes up to max SACK blocks (merged adjacent ranges) into edges; returns the count. */
  sackBlocks(edges: Uint32Array, max: number): number {
    let count = 0;
    let i = 0;
    while (i < this.ranges.length && count < max) {
      const left = this.ranges[i].seq;
      let right = seqAdd(left, this.ranges[i].data.length);
      i++;
      while (i < this.ranges.length && this.ranges[i].seq === right) {
        right = seqAdd(right, this.ranges[i].data.length);
        i++;
      }
      edges[count * 2] = left;
      edges[count * 2 + 1] = right;
      count++;
    }
    return count;
  }
}
