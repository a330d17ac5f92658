/**
 * The sending half of a flow (host → guest): transmit (new data within min(guest window, congestion
 * window), our FIN once the host has ended), the ACK path, retransmission on RTO, SACK-driven hole
 * repair during recovery, tail loss probes and zero-window probes. The decisions it leans on are
 * small pure units of the flow: congestion-control.ts (window, loss detection, recovery),
 * sack-scoreboard.ts (what the guest holds), rtt-estimator.ts (RTT and RTO, RFC 6298).
 *
 * Never changes the flow's state itself: an ACK of our FIN is reported (the context's finAcked) and
 * giving up goes through the context's abort; the engine makes the transitions.
 */
import { seqAdd, seqDiff, seqGe, seqGt, seqLt, seqMax } from '../../wire/tcp-seq.js';
import { TCP_ACK, TCP_FIN, TCP_MAX_HEADER_LENGTH, TCP_PSH } from '../../wire/tcp.js';
import { DuplicateAckOutcome, NewAckOutcome } from './congestion-control.js';
import type { Flow } from './flow.js';
import type { SegmentEmitter } from './segment-emitter.js';

export { INITIAL_RTO_MS, MAX_RTO_MS, MIN_RTO_MS } from './rtt-estimator.js';
/**
 * No flow lingers (issue 17): a guest that answers nothing for this long while we wait for it (data
 * or our FIN unacknowledged, or our zero-window probes unanswered) is given up: RST to the guest,
 * reset to the host socket. What counts as an answer: an ACK that moves SND.UNA, or, while its window
 * is closed, any ACK (RFC 1122 §4.2.2.17: a guest that keeps answering probes keeps its flow,
 * however long its window stays shut). The retransmission timer is capped at the deadline, so the
 * abort comes at this bound, not a backed-off RTO later. Linux's tcp_retries2 is ~15 minutes for a
 * WAN; the guest here is a local kernel at the other end of a TAP queue.
 */
export const PEER_TIMEOUT_MS = 120_000;
/** Holes repaired per ACK during recovery, so one ACK cannot trigger an unbounded burst. */
const REPAIRS_PER_ACK = 16;
/** Earliest tail loss probe (the timer queue serves deadlines on a 10 ms grid anyway). */
const MIN_TAIL_PROBE_MS = 10;

export interface SenderContext {
  readonly emitter: SegmentEmitter;
  readonly tso: boolean;
  now(): number;
  /** The window to advertise now (unscaled bytes); also records it as advertised. */
  receiveWindowField(flow: Flow): number;
  /** (Re)computes the flow's timer deadline in the timer queue; now: the caller's clock reading, if it has just taken one (saves a read). */
  reschedule(flow: Flow, now?: number): void;
  /** Gives up the flow: RST to the guest, host socket reset. */
  abort(flow: Flow, reason: string): void;
  /** The guest acknowledged our FIN (the engine moves the flow's state; may be said more than once). */
  finAcked(flow: Flow): void;
}

/**
 * The acknowledgment fields of one guest segment, as onAck reads them: one record per engine,
 * refilled for every segment (no allocation per packet).
 */
export class AckFields {
  /** SEG.ACK. */
  ack = 0;
  /** The window, already scaled. */
  window = 0;
  /** SEG.SEQ (which segment last set the window: RFC 9293 §3.10.7.4). */
  seq = 0;
  /** The timestamp echo (TSecr), 0 when the segment carried none. */
  tsEcho = 0;
  /** The segment carries payload or a FIN (then it is no duplicate ACK in the classic sense). */
  hasPayloadOrFin = false;
  /** SACK blocks: sackCount [left, right) pairs (a view the caller owns). */
  sackBlocks: Uint32Array = NO_SACK_BLOCKS;
  sackCount = 0;
}

const NO_SACK_BLOCKS = new Uint32Array(0);

export class TcpSender {
  /** Gathers a segment that spans several host reads; as big as any IPv4 packet's payload. */
  private readonly scratch = new Uint8Array(65536);

  constructor(private readonly ctx: SenderContext) {}

  /**
   * Starts the sender after the handshake: una = iss + 1. The queue already starts there (reset when
   * the ISS was chosen) and may hold bytes the host sent early: they are kept.
   */
  start(flow: Flow, firstSeq: number, guestWindow: number): void {
    if (flow.sendQueue.baseSeq !== firstSeq) flow.sendQueue.reset(firstSeq);
    flow.sendNext = firstSeq;
    flow.sendMax = firstSeq;
    flow.sendWindow = guestWindow;
    // The handshake segment that carried guestWindow: receiveNext - 1 is at or before its sequence.
    flow.windowSeq = seqAdd(flow.receiveNext, -1);
    flow.windowAck = firstSeq;
    flow.congestion.start(flow.sendMss);
  }

  /** Largest payload of one segment we may emit (a super-segment with TSO). */
  private segmentLimit(flow: Flow): number {
    if (!this.ctx.tso) return flow.sendMss;
    // A TSO super-segment is one IP packet: its payload fits the family's largest L4 packet less a full TCP header.
    const maxSuperSegment = flow.output.maxL4Length - TCP_MAX_HEADER_LENGTH;
    return Math.max(flow.sendMss, Math.floor(maxSuperSegment / flow.sendMss) * flow.sendMss);
  }

  /** Sends whatever the windows allow: new data, then FIN when due. */
  transmit(flow: Flow): void {
    const queue = flow.sendQueue;
    const una = queue.baseSeq;
    const sacked = flow.sacked;
    const windowLimit = Math.min(flow.sendWindow, flow.congestion.congestionWindow);
    const segmentLimit = this.segmentLimit(flow);
    const dataEnd = queue.endSeq;
    // RFC 6675 "pipe": bytes the guest SACKed have left the network; counting them would stall new
    // data during recovery (no new data, no new SACKs, a lost repair waits for the RTO).
    const sackedBytes = sacked.bytes;
    let sent = false;
    while (seqLt(flow.sendNext, dataEnd)) {
      const inFlight = seqDiff(flow.sendNext, una) - sackedBytes;
      const room = windowLimit - inFlight;
      if (room <= 0) break;
      // Skip what the guest already holds (after an RTO rewound sendNext).
      const skipTo = sacked.endOfRangeAt(flow.sendNext);
      if (skipTo !== flow.sendNext) {
        flow.sendNext = skipTo;
        continue;
      }
      const holeEnd = sacked.nextRangeAfter(flow.sendNext, dataEnd);
      const available = seqDiff(holeEnd, flow.sendNext);
      // Avoid tiny segments at the window edge unless that is all the data there is (silly window).
      let length = Math.min(available, segmentLimit, room);
      if (length < flow.sendMss && length < available && inFlight > 0) break;
      length = this.sendData(flow, flow.sendNext, Math.max(1, length));
      if (length === 0) break;
      flow.sendNext = seqAdd(flow.sendNext, length);
      flow.sendMax = seqMax(flow.sendMax, flow.sendNext);
      sent = true;
    }
    if (!flow.finSent && flow.sendNext === dataEnd && flow.hostEnded && !flow.finAcked) {
      this.ctx.emitter.send(flow, dataEnd, TCP_FIN | TCP_ACK, null, this.ctx.receiveWindowField(flow));
      flow.finSent = true;
      flow.sendNext = seqAdd(dataEnd, 1);
      flow.sendMax = seqMax(flow.sendMax, flow.sendNext);
      flow.ackPending = false;
      sent = true;
    }
    if (sent || (flow.sendWindow === 0 && queue.length > 0)) this.armRetransmit(flow);
  }

  /**
   * Emits up to length bytes at seq (a view of the send queue, gathered only when chunks are small).
   * Returns how many bytes went out: callers advance their sequence numbers by that, never by what
   * they asked for (a shorter gather must not leave a hole the guest waits for).
   */
  private sendData(flow: Flow, seq: number, length: number): number {
    const payload = flow.sendQueue.gather(seq, length, this.scratch);
    if (payload.length === 0) return 0;
    const gso = payload.length > flow.sendMss ? flow.sendMss : 0;
    this.ctx.emitter.send(flow, seq, TCP_ACK | TCP_PSH, payload, this.ctx.receiveWindowField(flow), gso);
    flow.ackPending = false;
    return payload.length;
  }

  /**
   * Processes the ACK number, window and SACK blocks of a segment from the guest (state Established
   * or later).
   */
  onAck(flow: Flow, fields: AckFields): void {
    const { ack, window, seq } = fields;
    const queue = flow.sendQueue;
    const una = queue.baseSeq;
    const congestion = flow.congestion;
    if (seqGt(ack, flow.sendMax)) return; // acknowledges what we never sent: ignore (RFC 9293 sends an ACK; the caller does)
    // An ACK older than una was overtaken (the network reordered it): nothing in it is news, and
    // its window is stale; taken, a late zero window would stop us until a probe's answer.
    if (seqLt(ack, una)) return;
    const previousWindow = flow.sendWindow;
    // RFC 9293 §3.10.7.4: only a segment at least as new as the one that last set it updates the
    // window (SND.WL1 < SEG.SEQ, or SND.WL1 = SEG.SEQ and SND.WL2 =< SEG.ACK).
    if (seqLt(flow.windowSeq, seq) || (flow.windowSeq === seq && seqGe(ack, flow.windowAck))) {
      flow.sendWindow = window;
      flow.windowSeq = seq;
      flow.windowAck = ack;
    }
    flow.probesUnanswered = 0;
    // The guest answered: a new wait (if any) starts now (armRetransmit). Progress, or any word
    // about a closed window.
    if (seqGt(ack, una) || window === 0 || previousWindow === 0) flow.unansweredSince = -1;
    // RFC 6675 §2: an ACK that SACKs bytes not SACKed before is a duplicate ACK whatever else it
    // carries. The classic definition (same window, no data) alone misses nearly all of them from a
    // guest whose application keeps reading: its window changes on every ACK, and every loss then
    // waited for the RTO.
    const newlySacked = fields.sackCount > 0 && flow.sackPermitted && flow.sacked.record(fields.sackBlocks, fields.sackCount, ack, flow.sendMax);
    if (newlySacked || seqGt(ack, una)) flow.tailProbeSent = false; // the guest is answering: probe again next time
    if (seqGt(ack, una)) {
      const acked = seqDiff(ack, una);
      if (fields.tsEcho !== 0 && flow.timestamps) flow.rtt.sample((Math.floor(this.ctx.now()) - fields.tsEcho) | 0);
      // New data got through: undo any RTO / probe backoff (there may be no RTT sample to do it:
      // without timestamps none is taken, and a backed-off RTO would otherwise stay for good).
      flow.rtt.undoBackoff();
      const held = queue.length;
      queue.acknowledge(ack);
      // The queue dropped its views, and links read payload by the end of this wakeup's flush() (before
      // any further host read): the host port may read into that memory again.
      if (queue.length < held) flow.host?.release?.(held - queue.length);
      // Only our FIN occupies the sequence number after the data.
      if (flow.hostEnded && seqGe(ack, seqAdd(queue.endSeq, 1))) {
        this.ctx.finAcked(flow);
        if (flow.closed) return; // LAST-ACK ended: the flow is released, nothing is left to send or time
      }
      if (seqLt(flow.sendNext, ack)) flow.sendNext = ack;
      flow.sacked.dropBelow(ack);
      flow.retransmitCount = 0;
      if (congestion.onNewAck(acked, ack, flow.sendMss) === NewAckOutcome.RepairHoles) this.repairHoles(flow, true);
      if (congestion.lossAtUna(flow.sacked.bytes, flow.sendMss)) this.enterRecovery(flow);
      this.armRetransmit(flow);
    } else if (ack === una && flow.inFlight > 0 && (newlySacked || (!fields.hasPayloadOrFin && window === previousWindow))) {
      const outcome = congestion.onDuplicateAck(flow.sackPermitted, flow.sacked.bytes, flow.sendMss);
      if (outcome === DuplicateAckOutcome.EnterRecovery) this.enterRecovery(flow);
      else if (outcome === DuplicateAckOutcome.RepairHoles) this.repairHoles(flow, false);
    }
    this.transmit(flow);
  }

  private enterRecovery(flow: Flow): void {
    flow.congestion.enterRecovery(flow.inFlight, flow.sendQueue.baseSeq, flow.sendMax, flow.sendMss);
    this.repairHoles(flow, true);
  }

  /**
   * Retransmits unSACKed ranges between retransmitNext and the highest SACKed byte (or just the first
   * segment without SACK information). Each hole is sent once per recovery episode.
   */
  private repairHoles(flow: Flow, force: boolean): void {
    const una = flow.sendQueue.baseSeq;
    const sacked = flow.sacked;
    const congestion = flow.congestion;
    const highest = sacked.isEmpty ? una : sacked.highest;
    congestion.startRepairs(una, !sacked.isEmpty, highest, flow.sendMax, flow.sendMss);
    const limit = sacked.isEmpty ? seqAdd(una, force ? flow.sendMss : 0) : highest;
    let repairs = 0;
    while (seqLt(congestion.retransmitNext, limit) && repairs < REPAIRS_PER_ACK) {
      const start = sacked.endOfRangeAt(congestion.retransmitNext);
      if (!seqLt(start, limit)) break;
      const holeEnd = sacked.nextRangeAfter(start, limit);
      const length = Math.min(seqDiff(holeEnd, start), flow.sendMss, seqDiff(flow.sendQueue.endSeq, start));
      if (length <= 0) break;
      const sent = this.sendData(flow, start, length);
      if (sent === 0) break;
      congestion.retransmitNext = seqAdd(start, sent);
      repairs++;
    }
    if (repairs > 0) this.armRetransmit(flow);
  }

  /** The retransmission timer fired. */
  onRetransmitTimeout(flow: Flow): void {
    const queue = flow.sendQueue;
    if (flow.unansweredSince >= 0 && this.ctx.now() - flow.unansweredSince >= PEER_TIMEOUT_MS) {
      this.ctx.abort(flow, flow.sendWindow === 0 ? 'zero-window probes unanswered' : 'retransmission limit');
      return;
    }
    if (flow.sendWindow === 0 && queue.length > 0) {
      // The guest closed its window (maybe after dropping bytes in flight): nothing may be resent
      // into it, so ask for the window instead; resend from una once it opens. A guest that stops
      // answering probes is given up (PEER_TIMEOUT_MS) like one that stops acknowledging.
      flow.probesUnanswered++;
      if (flow.inFlight > 0) {
        flow.sendNext = queue.baseSeq;
        flow.sacked.clear();
        flow.congestion.leaveRecovery();
        if (flow.hostEnded) flow.finSent = false;
      }
      this.probeZeroWindow(flow);
      return;
    }
    const outstanding = !flow.finAcked && (flow.inFlight > 0 || (flow.hostEnded && flow.finSent));
    if (!outstanding) {
      flow.unansweredSince = -1;
      return;
    }
    if (flow.tailProbeArmed) {
      flow.tailProbeArmed = false;
      flow.tailProbeSent = true;
      this.sendTailProbe(flow);
      this.armRetransmit(flow); // the RTO proper, from now
      return;
    }
    flow.retransmitCount++;
    flow.rtt.backOff();
    flow.congestion.onTimeout(flow.inFlight, flow.sendMss);
    flow.sacked.clear(); // RFC 6675 §5.1: the receiver may have reneged; start over
    flow.sendNext = queue.baseSeq;
    if (flow.hostEnded) flow.finSent = false; // resent after the data, like everything else
    this.transmit(flow);
    this.armRetransmit(flow);
  }

  /** RFC 9293 §3.8.6.1: keep asking a closed window; an old-sequence ACK makes the guest answer with its window. */
  private probeZeroWindow(flow: Flow): void {
    this.ctx.emitter.send(flow, seqAdd(flow.sendQueue.baseSeq, -1), TCP_ACK, null, this.ctx.receiveWindowField(flow));
    flow.rtt.backOff();
    const now = this.ctx.now();
    flow.rtoAt = this.peerDeadlineCap(flow, now, flow.rtt.rto);
    flow.tailProbeArmed = false;
    this.ctx.reschedule(flow, now);
  }

  /**
   * now + delay, or earlier when the guest's time to answer (PEER_TIMEOUT_MS) runs out first. The
   * caller's clock reading is reused: a read costs 200-500 ns and this runs once per answer sent.
   */
  private peerDeadlineCap(flow: Flow, now: number, delay: number): number {
    if (flow.unansweredSince < 0) flow.unansweredSince = now;
    return Math.min(now + delay, flow.unansweredSince + PEER_TIMEOUT_MS);
  }

  private armRetransmit(flow: Flow): void {
    // Once our FIN is acknowledged nothing is left to wait for (inFlight still counts the FIN's
    // sequence number: the queue ends before it). Counted, the RTO kept firing with backoff on a
    // flow the host had half-closed, and gave it up as a retransmission failure minutes later.
    const waiting = !flow.finAcked && (flow.inFlight > 0 || flow.finSent || (flow.sendWindow === 0 && flow.sendQueue.length > 0));
    const probe = waiting ? this.tailProbeTimeout(flow) : Infinity;
    const rto = flow.rtt.rto;
    flow.tailProbeArmed = probe < rto;
    if (waiting) {
      const now = this.ctx.now();
      flow.rtoAt = this.peerDeadlineCap(flow, now, Math.min(probe, rto));
      this.ctx.reschedule(flow, now);
    } else {
      flow.rtoAt = -1;
      flow.unansweredSince = -1;
      this.ctx.reschedule(flow);
    }
  }

  /**
   * Tail loss probe (RFC 8985 §7): when the last ACKs of a flight are lost, or the last segments,
   * nothing comes back to start a recovery, and the sender would sit out the RTO (200 ms at least)
   * on a link whose round trip is well under a millisecond. A Linux guest acknowledges a burst with
   * one stretch ACK, so one lost frame was enough. After 2·SRTT with no answer, one segment goes
   * out to make the guest say what it holds. Infinity when no probe is due: no RTT estimate, the
   * RTO already fired, a probe is unanswered, a closed window, or a single segment in flight (its
   * ACK may be delayed: RFC 8985 waits as long as the RTO then).
   */
  private tailProbeTimeout(flow: Flow): number {
    const smoothedRtt = flow.rtt.smoothedRtt;
    if (flow.tailProbeSent || smoothedRtt === 0 || flow.retransmitCount > 0 || flow.sendWindow === 0) return Infinity;
    if (flow.inFlight <= flow.sendMss || seqLt(flow.sendNext, flow.sendMax)) return Infinity;
    return Math.max(2 * smoothedRtt, MIN_TAIL_PROBE_MS);
  }

  /** The probe: one new segment if the guest's window takes it (not the congestion window: it is one segment), else the last one again. */
  private sendTailProbe(flow: Flow): void {
    const queue = flow.sendQueue;
    const una = queue.baseSeq;
    if (seqLt(flow.sendNext, queue.endSeq)) {
      const length = Math.min(flow.sendMss, seqDiff(queue.endSeq, flow.sendNext));
      if (seqDiff(flow.sendNext, una) + length <= flow.sendWindow) {
        const sent = this.sendData(flow, flow.sendNext, length);
        flow.sendNext = seqAdd(flow.sendNext, sent);
        flow.sendMax = seqMax(flow.sendMax, flow.sendNext);
        if (sent > 0) return;
      }
    }
    const dataEnd = seqLt(flow.sendMax, queue.endSeq) ? flow.sendMax : queue.endSeq;
    const length = Math.min(flow.sendMss, seqDiff(dataEnd, una));
    if (length > 0) this.sendData(flow, seqAdd(dataEnd, -length), length);
  }
}
