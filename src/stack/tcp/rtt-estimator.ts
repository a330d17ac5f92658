/**
 * Round-trip time estimate and retransmission timeout of one flow (RFC 6298): SRTT and RTTVAR from
 * timestamp samples, the RTO from them, doubled per backoff up to MAX_RTO_MS. Pure arithmetic on
 * three numbers: it arms no timer and sends nothing (the sender does, reading `rto`).
 */

export const MIN_RTO_MS = 200;
export const MAX_RTO_MS = 60_000;
export const INITIAL_RTO_MS = 1000;
/** Floor of the variance term (K·RTTVAR, RFC 6298 §2.3's G): the timer queue serves deadlines on a 10 ms grid anyway. */
const MIN_VARIANCE_TERM_MS = 10;

export class RttEstimator {
  /** SRTT in ms; 0 until the first sample. */
  smoothedRtt = 0;
  rttVariance = 0;
  /** The retransmission timeout now, backoff included. */
  rto = INITIAL_RTO_MS;

  /** Takes one RTT sample in ms (RFC 6298 §2.2-2.3); implausible ones (negative, above MAX_RTO_MS) are ignored. */
  sample(ms: number): void {
    if (ms < 0 || ms > MAX_RTO_MS) return;
    if (this.smoothedRtt === 0) {
      this.smoothedRtt = ms;
      this.rttVariance = ms / 2;
    } else {
      this.rttVariance = 0.75 * this.rttVariance + 0.25 * Math.abs(this.smoothedRtt - ms);
      this.smoothedRtt = 0.875 * this.smoothedRtt + 0.125 * ms;
    }
    this.rto = this.baseRto();
  }

  /** The RTO from the estimate, without backoff (INITIAL_RTO_MS before any sample). */
  baseRto(): number {
    if (this.smoothedRtt === 0) return INITIAL_RTO_MS;
    return Math.min(MAX_RTO_MS, Math.max(MIN_RTO_MS, this.smoothedRtt + Math.max(MIN_VARIANCE_TERM_MS, 4 * this.rttVariance)));
  }

  /** New data got through: undo any backoff (RFC 6298 §5.7 in spirit; without timestamps no sample would). */
  undoBackoff(): void {
    this.rto = this.baseRto();
  }

  /** A timeout fired (or a probe went unanswered): double the RTO, up to MAX_RTO_MS (RFC 6298 §5.5). */
  backOff(): void {
    this.rto = Math.min(this.rto * 2, MAX_RTO_MS);
  }

  /** The handshake is done: the RTO restarts at its initial value (the estimate, if any, is kept). */
  restart(): void {
    this.rto = INITIAL_RTO_MS;
  }
}
