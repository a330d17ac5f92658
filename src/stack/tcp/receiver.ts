/**
 * The receiving half of a flow (guest → host): in-order bytes go to the host socket (copied: the
 * frame buffer is reused after the batch), out-of-order bytes wait in a bounded reorder queue,
 * duplicates and overlaps are trimmed, and the window we advertise is the real room left: the
 * receive budget minus what the host socket has not written yet minus what waits out of order.
 *
 * In-order bytes are copied into a shared slab and written to the host socket once per flow per
 * batch (flushAll, called by the engine at the end of a wakeup), not once per segment: at MTU 1500
 * a batch of 40 segments is one socket write instead of 40. A full slab is used again once the host
 * has taken every write from it (the host stream's onWritten), through a pool of SPARE_SLABS: a bulk
 * upload cycles through a few megabytes instead of leaving a megabyte of garbage per megabyte for
 * the collector (which let 30–40 MB of them pile up before it ran).
 *
 * Never changes the flow's state: a FIN taken is reported (ReceiveResult.FinTaken) and the engine
 * makes the transition.
 */
import { seqAdd, seqDiff, seqGt, seqLt } from '../../wire/tcp-seq.js';
import { RECEIVE_BUFFER, type Flow } from './flow.js';

export enum ReceiveResult {
  /** Nothing to say now; an ACK is due at the end of the batch if bytes were taken. */
  InOrder,
  /** Out of order, duplicate, or outside the window: ACK at once (dup ACK with SACK blocks). */
  AckNow,
  /** The guest's FIN was taken (its bytes before it written, the host socket ended): ACK at once; the engine moves the flow's state. */
  FinTaken,
}

/** Size of the slab in-order bytes are gathered in (a new one once full; old ones live while written). */
const SLAB_SIZE = 1024 * 1024;
/** Full slabs kept for reuse once written (the host socket's queue holds at most RECEIVE_BUFFER). */
const SPARE_SLABS = 4;

/** One slab and the runs in it still in use (gathered, or written and not reported done). */
export class ReceiveSlab {
  /** Runs of flows in this slab not yet written, plus writes the host has not finished. */
  pending = 0;
  /** No more bytes go into it: it returns to the pool once pending reaches 0. */
  retired = false;
  /** Passed to every write from this slab (one function per slab, not per write). */
  readonly written = (): void => {
    if (--this.pending === 0 && this.retired) this.recycle(this);
  };

  constructor(
    readonly bytes: Uint8Array,
    private readonly recycle: (slab: ReceiveSlab) => void,
  ) {}
}

export class TcpReceiver {
  private readonly spare: Uint8Array[] = [];
  private readonly recycle = (slab: ReceiveSlab): void => {
    if (slab.bytes.length === SLAB_SIZE && this.spare.length < SPARE_SLABS) this.spare.push(slab.bytes);
  };
  private slab = new ReceiveSlab(new Uint8Array(0), this.recycle);
  private slabFill = 0;
  /** Flows with bytes gathered this batch (some may have been flushed already). */
  private pending: Flow[] = [];

  /** Room we can offer the guest now, in bytes. */
  receiveRoom(flow: Flow): number {
    const queued = (flow.host ? flow.host.pendingWriteBytes : 0) + (flow.rxEnd - flow.rxStart);
    return Math.max(0, RECEIVE_BUFFER - queued - flow.reorder.bytes);
  }

  /**
   * Writes every flow's gathered bytes to its host socket (end of batch). A flow whose write throws
   * goes to onFault (the engine resets it); the others are written all the same.
   */
  flushAll(onFault: (flow: Flow, error: unknown) => void): void {
    const pending = this.pending;
    if (pending.length === 0) return;
    for (let i = 0; i < pending.length; i++) {
      try {
        this.flush(pending[i]);
      } catch (error) {
        this.discard(pending[i]);
        onFault(pending[i], error);
      }
    }
    // Emptied by pop: `length = 0` drops the backing store (a runtime call) and the next push grows it again.
    while (pending.length > 0) pending.pop();
  }

  /** Writes this flow's gathered bytes now (before its FIN, or when its run is interrupted). */
  flush(flow: Flow): void {
    const slab = flow.rxSlab;
    if (slab === null) return;
    const data = slab.bytes.subarray(flow.rxStart, flow.rxEnd);
    flow.rxSlab = null;
    flow.rxStart = 0;
    flow.rxEnd = 0;
    if (flow.host === null) {
      slab.written();
      return;
    }
    try {
      flow.host.write(data, slab.written);
    } catch (error) {
      slab.written(); // the write never started: its run is free
      throw error;
    }
  }

  /** Forgets gathered bytes (the flow is gone). */
  discard(flow: Flow): void {
    flow.rxSlab?.written();
    flow.rxSlab = null;
    flow.rxStart = 0;
    flow.rxEnd = 0;
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
    const next = flow.receiveNext;
    // Accept up to the larger of what we last advertised and the room we have now: never less than
    // an edge we offered (RFC 9293 §3.8.6.2.2: a window must not shrink under the sender).
    const windowEnd = seqAdd(next, Math.max(flow.advertisedWindow, this.receiveRoom(flow), 1));
    // Where the FIN sits: after the segment's bytes, however many of them we already hold.
    const end = seqAdd(seq, length);
    if (length > 0 && seqGt(end, next)) {
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
        // A FIN after it is remembered and taken when the hole fills.
        const kept = flow.reorder.insert(start, bytes.subarray(offset, offset + length));
        if (kept && fin && !flow.guestFinReceived) {
          flow.guestFinPending = true;
          flow.guestFinSeq = end;
        }
        return ReceiveResult.AckNow;
      }
      this.deliver(flow, bytes.subarray(offset, offset + length)); // copied into the slab: the frame buffer is reused after the batch
      // Anything waiting that now follows on.
      for (let waiting = flow.reorder.takeFrom(flow.receiveNext); waiting; waiting = flow.reorder.takeFrom(flow.receiveNext)) {
        this.deliver(flow, waiting);
      }
      if (flow.guestFinPending && flow.guestFinSeq === flow.receiveNext && flow.reorder.isEmpty) {
        this.takeFin(flow);
        return ReceiveResult.FinTaken;
      }
    } else if (length > 0 && !fin) {
      return ReceiveResult.AckNow; // all old: a retransmission we already have
    } else {
      length = 0; // at most a FIN is new
    }
    if (fin) {
      if (end === flow.receiveNext && !flow.guestFinReceived) {
        this.takeFin(flow);
        return ReceiveResult.FinTaken;
      }
      return ReceiveResult.AckNow; // a FIN beyond a hole (remembered above) or a retransmitted one
    }
    return length > 0 && flow.reorder.isEmpty ? ReceiveResult.InOrder : ReceiveResult.AckNow;
  }

  /** Retires the current slab (pooled once its writes are done) and starts another. */
  private nextSlab(atLeast: number): void {
    const full = this.slab;
    full.retired = true;
    if (full.pending === 0) this.recycle(full);
    const bytes = atLeast <= SLAB_SIZE ? (this.spare.pop() ?? new Uint8Array(SLAB_SIZE)) : new Uint8Array(atLeast);
    this.slab = new ReceiveSlab(bytes, this.recycle);
    this.slabFill = 0;
  }

  private takeFin(flow: Flow): void {
    flow.receiveNext = seqAdd(flow.receiveNext, 1);
    flow.guestFinPending = false;
    this.flush(flow); // the bytes gathered before the FIN go first
    flow.host?.end();
  }

  /** Gathers data (copied into the slab) for the host socket; written at the end of the batch. */
  private deliver(flow: Flow, data: Uint8Array): void {
    const length = data.length;
    if (length === 0) return;
    // Only a run adjacent to what this flow gathered last can grow; otherwise write that run first.
    if (flow.rxSlab !== null && (flow.rxSlab !== this.slab || flow.rxEnd !== this.slabFill)) this.flush(flow);
    if (this.slabFill + length > this.slab.bytes.length) {
      this.flush(flow);
      this.nextSlab(length);
    }
    if (flow.rxSlab === null) {
      flow.rxSlab = this.slab;
      this.slab.pending++; // until written and done (or discarded)
      flow.rxStart = this.slabFill;
      this.pending.push(flow);
    }
    this.slab.bytes.set(data, this.slabFill);
    this.slabFill += length;
    flow.rxEnd = this.slabFill;
    flow.receiveNext = seqAdd(flow.receiveNext, length);
  }
}
