/**
 * Bytes read from the host and not yet acknowledged by the guest, kept as the chunks the host socket
 * handed us (no copy; contiguous reads merged): segments are views into them, and retransmissions
 * re-read them. Sequence
 * numbers are tracked relative to `baseSeq` (the sequence number of the first kept byte).
 */
import { seqAdd, seqDiff } from '../../wire/tcp-seq.js';

export class SendQueue {
  private chunks: Uint8Array[] = [];
  private head = 0; // index of the first live chunk in `chunks`
  private headOffset = 0; // bytes of chunks[head] already acknowledged
  /** Sequence number of the first unacknowledged byte. */
  baseSeq = 0;
  /** Bytes held (unacknowledged, sent or not). */
  length = 0;

  reset(baseSeq: number): void {
    this.chunks = [];
    this.head = 0;
    this.headOffset = 0;
    this.baseSeq = baseSeq;
    this.length = 0;
  }

  /**
   * Appends bytes read from the host. A chunk that continues the previous one in the same memory
   * (the host port reads into a slab, each read right after the last) extends it, so segments can
   * be cut across read boundaries as plain views.
   */
  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    const last = this.chunks.length > this.head ? this.chunks[this.chunks.length - 1] : undefined;
    if (last !== undefined && last.buffer === chunk.buffer && last.byteOffset + last.length === chunk.byteOffset) {
      this.chunks[this.chunks.length - 1] = new Uint8Array(last.buffer, last.byteOffset, last.length + chunk.length);
    } else {
      this.chunks.push(chunk);
    }
    this.length += chunk.length;
  }

  /** Sequence number just after the last byte held. */
  get endSeq(): number {
    return seqAdd(this.baseSeq, this.length);
  }

  /** Drops bytes up to (not including) sequence number `ack`. */
  acknowledge(ack: number): void {
    let n = seqDiff(ack, this.baseSeq);
    if (n <= 0) return;
    if (n > this.length) n = this.length;
    this.baseSeq = seqAdd(this.baseSeq, n);
    this.length -= n;
    while (n > 0) {
      const chunk = this.chunks[this.head];
      const left = chunk.length - this.headOffset;
      if (n < left) {
        this.headOffset += n;
        break;
      }
      n -= left;
      this.head++;
      this.headOffset = 0;
    }
    // Compact now and then so the array does not grow without bound.
    if (this.head > 64 && this.head * 2 > this.chunks.length) {
      this.chunks = this.chunks.slice(this.head);
      this.head = 0;
    }
  }

  /**
   * A view of up to maxLength bytes starting at sequence number seq, not crossing a chunk boundary
   * (so it never copies). Empty when seq is outside the held bytes.
   */
  view(seq: number, maxLength: number): Uint8Array {
    let offset = seqDiff(seq, this.baseSeq);
    if (offset < 0 || offset >= this.length || maxLength <= 0) return EMPTY;
    offset += this.headOffset;
    for (let i = this.head; i < this.chunks.length; i++) {
      const chunk = this.chunks[i];
      if (offset < chunk.length) return chunk.subarray(offset, offset + Math.min(maxLength, chunk.length - offset));
      offset -= chunk.length;
    }
    return EMPTY;
  }

  /**
   * Like view(), but when the chunk boundary would cut the segment short, copies into scratch so a
   * segment can carry up to maxLength bytes across chunks (small host reads still make full segments).
   */
  gather(seq: number, maxLength: number, scratch: Uint8Array): Uint8Array {
    const first = this.view(seq, maxLength);
    const wanted = Math.min(maxLength, this.length - seqDiff(seq, this.baseSeq));
    if (first.length >= wanted || first.length === 0) return first;
    const limit = Math.min(wanted, scratch.length);
    let filled = 0;
    while (filled < limit) {
      const part = this.view(seqAdd(seq, filled), limit - filled);
      if (part.length === 0) break;
      scratch.set(part, filled);
      filled += part.length;
    }
    return scratch.subarray(0, filled);
  }
}

const EMPTY = new Uint8Array(0);
