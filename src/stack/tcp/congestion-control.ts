/**
 * Congestion control and loss recovery state of one flow's sender: NewReno-like (slow start,
 * congestion avoidance, fast recovery until SND.UNA passes the recovery point) with SACK-driven
 * hole repair during recovery (RFC 6675 in spirit). Pure decisions on numbers: it sends nothing,
 * reads no scoreboard and arms no timer; the sender feeds it ACK facts and acts on its answers.
 *
 * Gentler than a WAN stack's (β = 0.7, floor of MIN_CWND_SEGMENTS): the "network" is a TAP queue,
 * where loss is a full queue or a test's random drop, not a shared bottleneck; the floor keeps a
 * 2%-loss link near line rate, the window keeps bursts under the kernel's backlog.
 */
import { seqAdd, seqGe, seqGt, seqLt } from '../../wire/tcp-seq.js';

/** The congestion window never falls below this many segments (except after an RTO: see onTimeout). */
export const MIN_CWND_SEGMENTS = 10;
/** Multiplicative decrease on loss. */
const LOSS_BETA = 0.7;
/** Upper bound of the congestion window. */
const MAX_CWND = 64 * 1024 * 1024;
/** Duplicate ACKs that mean loss (RFC 5681 §3.2). */
const DUPLICATE_ACK_THRESHOLD = 3;
/** SACKed segments above a hole that make it lost (RFC 6675 DupThresh, IsLost). */
const SACKED_SEGMENTS_FOR_LOSS = 3;

/** What the sender does after an ACK that acknowledged new data. */
export enum NewAckOutcome {
  /** Nothing more (slow start or congestion avoidance grew the window, or recovery ended). */
  None,
  /** A partial ACK in recovery: repair the next hole now. */
  RepairHoles,
}

/** What the sender does after a duplicate ACK. */
export enum DuplicateAckOutcome {
  None,
  /** Loss detected: enter recovery (enterRecovery), which repairs the first holes. */
  EnterRecovery,
  /** Already recovering: repair further holes. */
  RepairHoles,
}

export class CongestionControl {
  congestionWindow = 0;
  slowStartThreshold = 0x7fffffff;
  duplicateAcks = 0;
  /** Fast recovery: until SND.UNA passes recoverSeq. */
  inRecovery = false;
  recoverSeq = 0;
  /** Next hole to retransmit during recovery (SACK-driven). */
  retransmitNext = 0;
  /** sendMax when the current pass of hole repairs began (to notice repairs lost in turn). */
  repairMark = 0;

  /** The connection is established: the initial window. */
  start(mss: number): void {
    this.congestionWindow = MIN_CWND_SEGMENTS * mss;
  }

  /** An ACK moved SND.UNA by acked bytes to ack. */
  onNewAck(acked: number, ack: number, mss: number): NewAckOutcome {
    this.duplicateAcks = 0;
    let outcome = NewAckOutcome.None;
    if (this.inRecovery) {
      if (seqGe(ack, this.recoverSeq)) {
        this.inRecovery = false;
        this.congestionWindow = Math.max(this.slowStartThreshold, MIN_CWND_SEGMENTS * mss);
      } else {
        // Partial ACK: the next hole starts at the new una.
        if (seqLt(this.retransmitNext, ack)) this.retransmitNext = ack;
        outcome = NewAckOutcome.RepairHoles;
      }
    } else if (this.congestionWindow < this.slowStartThreshold) {
      this.congestionWindow += acked;
    } else {
      this.congestionWindow += Math.max(1, Math.floor((mss * mss) / this.congestionWindow));
    }
    this.congestionWindow = Math.min(this.congestionWindow, MAX_CWND);
    return outcome;
  }

  /**
   * After new data was acknowledged: the new una is itself a hole with 3 segments' worth SACKed above
   * it (RFC 6675 IsLost). Recovery starts now; no duplicate ACK for it may follow (the ACK that said
   * so may have been the last).
   */
  lossAtUna(sackedBytes: number, mss: number): boolean {
    return !this.inRecovery && sackedBytes > 0 && sackedBytes >= SACKED_SEGMENTS_FOR_LOSS * mss;
  }

  /**
   * A duplicate ACK (same una, data in flight; RFC 6675 §2 counts one that SACKs new bytes).
   * sackedBytes: the scoreboard's total, consulted only when SACK was agreed.
   */
  onDuplicateAck(sackPermitted: boolean, sackedBytes: number, mss: number): DuplicateAckOutcome {
    this.duplicateAcks++;
    if (!this.inRecovery && (this.duplicateAcks === DUPLICATE_ACK_THRESHOLD || (sackPermitted && sackedBytes >= SACKED_SEGMENTS_FOR_LOSS * mss))) {
      return DuplicateAckOutcome.EnterRecovery;
    }
    return this.inRecovery ? DuplicateAckOutcome.RepairHoles : DuplicateAckOutcome.None;
  }

  /** Loss detected with flight bytes outstanding: shrink the window, repairs start at una. */
  enterRecovery(flight: number, una: number, sendMax: number, mss: number): void {
    this.inRecovery = true;
    this.recoverSeq = sendMax;
    this.slowStartThreshold = Math.max(Math.floor(flight * LOSS_BETA), MIN_CWND_SEGMENTS * mss);
    this.congestionWindow = this.slowStartThreshold;
    this.retransmitNext = una;
    this.repairMark = sendMax;
  }

  /**
   * Where the next repair pass starts. A repair that was lost too: the guest has SACKed 3 segments
   * sent after this pass began (highestSacked), yet holes below the repairs are still open: start the
   * pass again from una (RACK's reasoning, simply). hasSacks: the scoreboard is not empty.
   */
  startRepairs(una: number, hasSacks: boolean, highestSacked: number, sendMax: number, mss: number): void {
    if (seqLt(this.retransmitNext, una)) this.retransmitNext = una;
    if (hasSacks && seqGt(this.retransmitNext, una) && seqGe(highestSacked, seqAdd(this.repairMark, SACKED_SEGMENTS_FOR_LOSS * mss))) {
      this.retransmitNext = una;
      this.repairMark = sendMax;
    }
  }

  /** The retransmission timer fired with inFlight bytes outstanding (RFC 5681 §3.1: loss window). */
  onTimeout(inFlight: number, mss: number): void {
    this.slowStartThreshold = Math.max(Math.floor(inFlight / 2), 2 * mss);
    this.congestionWindow = MIN_CWND_SEGMENTS * mss;
    this.inRecovery = false;
    this.duplicateAcks = 0;
  }

  /** Recovery is abandoned without a loss response (a closed window: everything is resent from una). */
  leaveRecovery(): void {
    this.inRecovery = false;
  }
}
