/**
 * The receiving half of a flow (guest → host): in-order bytes go to the host socket (copied: the
 * frame buffer is reused after the batch), out-of-order bytes wait in a bounded reorder queue,
 * duplicates and overlaps are trimmed, and the window we advertise is the real room left: the
 * receive budget minus what the host socket has not written yet minus what waits out of order.
 */
import { seqAdd, seqDiff, seqGt, seqLe, seqLt } from '../../wire/tcp-seq.js';
import { RECEIVE_BUFFER, type Flow } from './flow.js';

export enum ReceiveResult {
  /** Nothing to say now; an ACK is due at the end of the batch if bytes were taken. */
  InOrder,
  /** Out of order, duplicate, or outside the window: ACK at once (dup ACK with SACK blocks). */
  AckNow,
}

export class TcpReceiver {
  /** Room we can offer the guest now, in bytes. */
  receiveRoom(flow: Flow): number {
    const queued = flow.host ? flow.host.pendingWriteBytes : 0;
    return Math.max(0, RECEIVE_BUFFER - queued - flow.reorder.bytes);
  }

  /** The 16-bit window field to send now; records the unscaled window as advertised. */
  windowField(flow: Flow): number {
    const room = this.receiveRoom(flow);
    const field = Math.min(0xffff, room >>> flow.receiveWindowShift);
    flow.advertisedWindow = field << flow.receiveWindowShift;
    return field;
  }

  /**
   * Takes the payload [offset, offset+length) of bytes at sequence seq, and a FIN after it when fin.
   * Returns whether an immediate ACK is needed.
   */
  receive(flow: Flow, seq: number, bytes: Uint8Array, offset: number, length: number, fin: boolean): ReceiveResult {
    let next = flow.receiveNext;
    // Accept up to the larger of what we last advertised and the room we have now: never less than
    // an edge we offered (RFC 9293 §3.8.6.2.2: a window must not shrink under the sender).
    const windowEnd = seqAdd(next, Math.max(flow.advertisedWindow, this.receiveRoom(flow), 1));
    const end = seqAdd(seq, length);
    if (length > 0) {
      if (seqLe(end, next)) return ReceiveResult.AckNow; // all old: a retransmission we already have
      if (!seqLt(seq, windowEnd)) return ReceiveResult.AckNow; // entirely beyond the window
      // Trim what we already have, and what lies beyond the window.
      let start = seq;
      if (seqLt(start, next)) {
        const skip = seqDiff(next, start);
        offset += skip;
        length -= skip;
        start = next;
      }
      if (seqGt(seqAdd(start, length), windowEnd)) {
        length = seqDiff(windowEnd, start);
        fin = false;
      }
      if (start !== next) {
        // A hole before it: keep it for later (copied), tell the guest at once (fast retransmit).
        flow.reorder.insert(start, bytes.subarray(offset, offset + length));
        return ReceiveResult.AckNow;
      }
      this.deliver(flow, new Uint8Array(bytes.subarray(offset, offset + length))); // the frame buffer is reused after the batch
      next = flow.receiveNext;
      // Anything waiting that now follows on.
      for (let waiting = flow.reorder.takeFrom(next); waiting; waiting = flow.reorder.takeFrom(flow.receiveNext)) {
        this.deliver(flow, waiting);
      }
    }
    if (fin) {
      const finSeq = seqAdd(seq, length);
      if (finSeq === flow.receiveNext && !flow.guestFinReceived) {
        flow.receiveNext = seqAdd(flow.receiveNext, 1);
        flow.guestFinReceived = true;
        flow.host?.end();
        return ReceiveResult.AckNow;
      }
      if (!flow.guestFinReceived) return ReceiveResult.AckNow;
    }
    return length > 0 && flow.reorder.isEmpty ? ReceiveResult.InOrder : ReceiveResult.AckNow;
  }

  /** data must be ours to give away (a copy): the host socket keeps it until written. */
  private deliver(flow: Flow, data: Uint8Array): void {
    if (data.length === 0) return;
    flow.host?.write(data);
    flow.receiveNext = seqAdd(flow.receiveNext, data.length);
  }
}
