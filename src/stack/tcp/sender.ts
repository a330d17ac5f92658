/**
 * The sending half of a flow (host → guest): new data within min(guest window, congestion window),
 * RTO per RFC 6298 with backoff, fast retransmit on three duplicate ACKs, SACK-driven hole repair
 * during recovery (RFC 6675 in spirit), zero-window probes, and our FIN once the host has ended.
 *
 * Congestion control is NewReno-like but gentler than a WAN stack's (β = 0.7, floor of 10 segments):
 * the "network" is a TAP queue, where loss is a full queue or a test's random drop, not a shared
 * bottleneck; the floor keeps a 2%-loss link near line rate, the window keeps bursts under the
 * kernel's backlog.
 */
import { seqAdd, seqDiff, seqGe, seqGt, seqLt, seqMax } from '../../wire/tcp-seq.js';
import { TCP_ACK, TCP_FIN, TCP_MAX_HEADER_LENGTH, TCP_PSH } from '../../wire/tcp.js';
import type { Flow } from './flow.js';
import type { SegmentEmitter } from './segment-emitter.js';

export const MIN_RTO_MS = 200;
export const MAX_RTO_MS = 60_000;
export const INITIAL_RTO_MS = 1000;
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
const MIN_CWND_SEGMENTS = 10;
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
  /** (Re)computes the flow's timer deadline in the timer queue. */
  reschedule(flow: Flow): void;
  /** Gives up the flow: RST to the guest, host socket reset. */
  abort(flow: Flow, reason: string): void;
}

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
    flow.congestionWindow = MIN_CWND_SEGMENTS * flow.sendMss;
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
    const windowLimit = Math.min(flow.sendWindow, flow.congestionWindow);
    const segmentLimit = this.segmentLimit(flow);
    const dataEnd = queue.endSeq;
    // RFC 6675 "pipe": bytes the guest SACKed have left the network; counting them would stall new
    // data during recovery (no new data, no new SACKs, a lost repair waits for the RTO).
    const sackedBytes = flow.sacked.length > 0 ? this.sackedBytes(flow) : 0;
    let sent = false;
    while (seqLt(flow.sendNext, dataEnd)) {
      const inFlight = seqDiff(flow.sendNext, una) - sackedBytes;
      const room = windowLimit - inFlight;
      if (room <= 0) break;
      // Skip what the guest already holds (after an RTO rewound sendNext).
      const skipTo = this.sackedEnd(flow, flow.sendNext);
      if (skipTo !== flow.sendNext) {
        flow.sendNext = skipTo;
        continue;
      }
      const holeEnd = this.nextSackedStart(flow, flow.sendNext, dataEnd);
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
    if (flow.hostEnded && !flow.finAcked && !flow.finSent && flow.sendNext === dataEnd) {
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
   * or later) whose sequence number is seq. sackEdges holds sackCount [left, right) pairs.
   */
  onAck(flow: Flow, ack: number, window: number, sackEdges: Uint32Array, sackCount: number, tsEcho: number, hasPayloadOrFin: boolean, seq: number): void {
    const queue = flow.sendQueue;
    const una = queue.baseSeq;
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
    const newlySacked = sackCount > 0 && flow.sackPermitted && this.recordSacks(flow, sackEdges, sackCount, ack);
    if (newlySacked || seqGt(ack, una)) flow.tailProbeSent = false; // the guest is answering: probe again next time
    if (seqGt(ack, una)) {
      const acked = seqDiff(ack, una);
      if (tsEcho !== 0 && flow.timestamps) this.sampleRtt(flow, (Math.floor(this.ctx.now()) - tsEcho) | 0);
      // New data got through: undo any RTO / probe backoff (there may be no RTT sample to do it:
      // without timestamps none is taken, and a backed-off RTO would otherwise stay for good).
      flow.rto = this.baseRto(flow);
      const held = queue.length;
      queue.acknowledge(ack);
      // The queue dropped its views, and links read payload by the end of this wakeup's flush() (before
      // any further host read): the host port may read into that memory again.
      if (queue.length < held) flow.host?.release?.(held - queue.length);
      // Only our FIN occupies the sequence number after the data.
      if (flow.hostEnded && seqGe(ack, seqAdd(queue.endSeq, 1))) flow.finAcked = true;
      if (seqLt(flow.sendNext, ack)) flow.sendNext = ack;
      this.dropSacksBelow(flow, ack);
      flow.duplicateAcks = 0;
      flow.retransmitCount = 0;
      if (flow.inRecovery) {
        if (seqGe(ack, flow.recoverSeq)) {
          flow.inRecovery = false;
          flow.congestionWindow = Math.max(flow.slowStartThreshold, MIN_CWND_SEGMENTS * flow.sendMss);
        } else {
          // Partial ACK: the next hole starts at the new una.
          if (seqLt(flow.retransmitNext, ack)) flow.retransmitNext = ack;
          this.repairHoles(flow, true);
        }
      } else if (flow.congestionWindow < flow.slowStartThreshold) {
        flow.congestionWindow += acked;
      } else {
        flow.congestionWindow += Math.max(1, Math.floor((flow.sendMss * flow.sendMss) / flow.congestionWindow));
      }
      flow.congestionWindow = Math.min(flow.congestionWindow, 64 * 1024 * 1024);
      // The new una is itself a hole with 3 segments' worth SACKed above it (RFC 6675 IsLost): repair
      // it now; no duplicate ACK for it may follow (the ACK that said so may have been the last).
      if (!flow.inRecovery && flow.sacked.length > 0 && this.sackedBytes(flow) >= 3 * flow.sendMss) this.enterRecovery(flow);
      this.armRetransmit(flow);
    } else if (ack === una && flow.inFlight > 0 && (newlySacked || (!hasPayloadOrFin && window === previousWindow))) {
      flow.duplicateAcks++;
      if (!flow.inRecovery && (flow.duplicateAcks === 3 || (flow.sackPermitted && this.sackedBytes(flow) >= 3 * flow.sendMss))) {
        this.enterRecovery(flow);
      } else if (flow.inRecovery) {
        this.repairHoles(flow, false);
      }
    }
    this.transmit(flow);
  }

  private enterRecovery(flow: Flow): void {
    const flight = flow.inFlight;
    flow.inRecovery = true;
    flow.recoverSeq = flow.sendMax;
    flow.slowStartThreshold = Math.max(Math.floor(flight * 0.7), MIN_CWND_SEGMENTS * flow.sendMss);
    flow.congestionWindow = flow.slowStartThreshold;
    flow.retransmitNext = flow.sendQueue.baseSeq;
    flow.repairMark = flow.sendMax;
    this.repairHoles(flow, true);
  }

  /**
   * Retransmits unSACKed ranges between retransmitNext and the highest SACKed byte (or just the first
   * segment without SACK information). Each hole is sent once per recovery episode.
   */
  private repairHoles(flow: Flow, force: boolean): void {
    const una = flow.sendQueue.baseSeq;
    if (seqLt(flow.retransmitNext, una)) flow.retransmitNext = una;
    const sacked = flow.sacked;
    const highest = sacked.length > 0 ? sacked[sacked.length - 1] : una;
    // A repair that was lost too: the guest has SACKed 3 segments sent after this repair pass began,
    // yet holes below the repairs are still open. Start the pass again (RACK's reasoning, simply).
    if (sacked.length > 0 && seqGt(flow.retransmitNext, una) && seqGe(highest, seqAdd(flow.repairMark, 3 * flow.sendMss))) {
      flow.retransmitNext = una;
      flow.repairMark = flow.sendMax;
    }
    const limit = sacked.length > 0 ? highest : seqAdd(una, force ? flow.sendMss : 0);
    let repairs = 0;
    while (seqLt(flow.retransmitNext, limit) && repairs < REPAIRS_PER_ACK) {
      const start = this.sackedEnd(flow, flow.retransmitNext);
      if (!seqLt(start, limit)) break;
      const holeEnd = this.nextSackedStart(flow, start, limit);
      const length = Math.min(seqDiff(holeEnd, start), flow.sendMss, seqDiff(flow.sendQueue.endSeq, start));
      if (length <= 0) break;
      const sent = this.sendData(flow, start, length);
      if (sent === 0) break;
      flow.retransmitNext = seqAdd(start, sent);
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
        flow.sacked.length = 0;
        flow.inRecovery = false;
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
    flow.rto = Math.min(flow.rto * 2, MAX_RTO_MS);
    flow.slowStartThreshold = Math.max(Math.floor(flow.inFlight / 2), 2 * flow.sendMss);
    flow.congestionWindow = MIN_CWND_SEGMENTS * flow.sendMss;
    flow.inRecovery = false;
    flow.duplicateAcks = 0;
    flow.sacked.length = 0; // RFC 6675 §5.1: the receiver may have reneged; start over
    flow.sendNext = queue.baseSeq;
    if (flow.hostEnded) flow.finSent = false; // resent after the data, like everything else
    this.transmit(flow);
    this.armRetransmit(flow);
  }

  /** RFC 9293 §3.8.6.1: keep asking a closed window; an old-sequence ACK makes the guest answer with its window. */
  private probeZeroWindow(flow: Flow): void {
    this.ctx.emitter.send(flow, seqAdd(flow.sendQueue.baseSeq, -1), TCP_ACK, null, this.ctx.receiveWindowField(flow));
    flow.rto = Math.min(flow.rto * 2, MAX_RTO_MS);
    flow.rtoAt = this.peerDeadlineCap(flow, this.ctx.now() + flow.rto);
    flow.tailProbeArmed = false;
    this.ctx.reschedule(flow);
  }

  /** deadline, or earlier when the guest's time to answer (PEER_TIMEOUT_MS) runs out first. */
  private peerDeadlineCap(flow: Flow, deadline: number): number {
    if (flow.unansweredSince < 0) flow.unansweredSince = this.ctx.now();
    return Math.min(deadline, flow.unansweredSince + PEER_TIMEOUT_MS);
  }

  private armRetransmit(flow: Flow): void {
    // Once our FIN is acknowledged nothing is left to wait for (inFlight still counts the FIN's
    // sequence number: the queue ends before it). Counted, the RTO kept firing with backoff on a
    // flow the host had half-closed, and gave it up as a retransmission failure minutes later.
    const waiting = !flow.finAcked && (flow.inFlight > 0 || flow.finSent || (flow.sendWindow === 0 && flow.sendQueue.length > 0));
    const probe = waiting ? this.tailProbeTimeout(flow) : Infinity;
    flow.tailProbeArmed = probe < flow.rto;
    if (waiting) {
      flow.rtoAt = this.peerDeadlineCap(flow, this.ctx.now() + Math.min(probe, flow.rto));
    } else {
      flow.rtoAt = -1;
      flow.unansweredSince = -1;
    }
    this.ctx.reschedule(flow);
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
    if (flow.tailProbeSent || flow.smoothedRtt === 0 || flow.retransmitCount > 0 || flow.sendWindow === 0) return Infinity;
    if (flow.inFlight <= flow.sendMss || seqLt(flow.sendNext, flow.sendMax)) return Infinity;
    return Math.max(2 * flow.smoothedRtt, MIN_TAIL_PROBE_MS);
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

  private sampleRtt(flow: Flow, sample: number): void {
    if (sample < 0 || sample > MAX_RTO_MS) return;
    if (flow.smoothedRtt === 0) {
      flow.smoothedRtt = sample;
      flow.rttVariance = sample / 2;
    } else {
      flow.rttVariance = 0.75 * flow.rttVariance + 0.25 * Math.abs(flow.smoothedRtt - sample);
      flow.smoothedRtt = 0.875 * flow.smoothedRtt + 0.125 * sample;
    }
    flow.rto = this.baseRto(flow);
  }

  /** The RTO from the RTT estimate, without backoff (RFC 6298 §2). */
  private baseRto(flow: Flow): number {
    if (flow.smoothedRtt === 0) return INITIAL_RTO_MS;
    return Math.min(MAX_RTO_MS, Math.max(MIN_RTO_MS, flow.smoothedRtt + Math.max(10, 4 * flow.rttVariance)));
  }

  // ---- SACK scoreboard: merged [left, right) ranges above una, sorted ----

  /** Adds the guest's SACK blocks to the scoreboard; whether they SACKed any byte not SACKed before. */
  private recordSacks(flow: Flow, edges: Uint32Array, count: number, ack: number): boolean {
    const before = this.sackedBytes(flow);
    for (let i = 0; i < count; i++) {
      const left = edges[i * 2];
      const right = edges[i * 2 + 1];
      // Ignore D-SACKs and blocks outside what we sent.
      if (!seqGt(right, left) || seqLt(left, ack) || seqGt(right, flow.sendMax)) continue;
      this.addSackRange(flow, left, right);
    }
    return this.sackedBytes(flow) > before;
  }

  private addSackRange(flow: Flow, left: number, right: number): void {
    const s = flow.sacked;
    let i = 0;
    while (i < s.length && seqLt(s[i + 1], left)) i += 2;
    let l = left;
    let r = right;
    let j = i;
    while (j < s.length && !seqGt(s[j], r)) {
      if (seqLt(s[j], l)) l = s[j];
      if (seqGt(s[j + 1], r)) r = s[j + 1];
      j += 2;
    }
    s.splice(i, j - i, l, r);
    if (s.length > 64) s.splice(0, s.length - 64); // bounded: forget the oldest ranges
  }

  private dropSacksBelow(flow: Flow, una: number): void {
    const s = flow.sacked;
    let i = 0;
    while (i < s.length && !seqGt(s[i + 1], una)) i += 2;
    if (i > 0) s.splice(0, i);
    if (s.length > 0 && seqLt(s[0], una)) s[0] = una;
  }

  private sackedBytes(flow: Flow): number {
    let total = 0;
    for (let i = 0; i < flow.sacked.length; i += 2) total += seqDiff(flow.sacked[i + 1], flow.sacked[i]);
    return total;
  }

  /** If seq lies in a SACKed range, the end of that range; else seq. */
  private sackedEnd(flow: Flow, seq: number): number {
    const s = flow.sacked;
    for (let i = 0; i < s.length; i += 2) {
      if (seqGe(seq, s[i]) && seqLt(seq, s[i + 1])) return s[i + 1];
    }
    return seq;
  }

  /** The start of the first SACKed range after seq, capped at limit. */
  private nextSackedStart(flow: Flow, seq: number, limit: number): number {
    const s = flow.sacked;
    for (let i = 0; i < s.length; i += 2) {
      if (seqGt(s[i], seq)) return seqLt(s[i], limit) ? s[i] : limit;
    }
    return limit;
  }
}
