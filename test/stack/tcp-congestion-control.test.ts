/**
 * Congestion control on its own: the initial window, slow start and congestion avoidance, the cap,
 * loss detection by three duplicate ACKs or by SACKed bytes, recovery (β = 0.7 with a floor,
 * partial ACKs, its end at the recovery point), the restart of a repair pass whose repairs were
 * lost, and the RTO's loss window.
 */
import { describe, expect, it } from 'vitest';
import { CongestionControl, DuplicateAckOutcome, MIN_CWND_SEGMENTS, NewAckOutcome } from '../../src/stack/tcp/congestion-control.js';

const MSS = 1000;

function started(): CongestionControl {
  const cc = new CongestionControl();
  cc.start(MSS);
  return cc;
}

describe('CongestionControl', () => {
  it('starts at MIN_CWND_SEGMENTS segments, grows by the bytes acknowledged in slow start', () => {
    const cc = started();
    expect(cc.congestionWindow).toBe(MIN_CWND_SEGMENTS * MSS);
    expect(cc.onNewAck(3000, 3000, MSS)).toBe(NewAckOutcome.None);
    expect(cc.congestionWindow).toBe(MIN_CWND_SEGMENTS * MSS + 3000);
  });

  it('grows by about one segment per window in congestion avoidance, and at most to 64 MiB', () => {
    const cc = started();
    cc.slowStartThreshold = 5000;
    cc.onNewAck(1000, 1000, MSS);
    expect(cc.congestionWindow).toBe(10_000 + 100); // MSS² / cwnd
    cc.slowStartThreshold = 0x7fffffff;
    cc.congestionWindow = 64 * 1024 * 1024 - 10;
    cc.onNewAck(1_000_000, 2000, MSS);
    expect(cc.congestionWindow).toBe(64 * 1024 * 1024);
  });

  it('a new ACK resets the duplicate count', () => {
    const cc = started();
    cc.onDuplicateAck(false, 0, MSS);
    cc.onDuplicateAck(false, 0, MSS);
    cc.onNewAck(1000, 1000, MSS);
    expect(cc.duplicateAcks).toBe(0);
    expect(cc.onDuplicateAck(false, 0, MSS)).toBe(DuplicateAckOutcome.None);
  });

  it('three duplicate ACKs mean loss; more in recovery repair further holes', () => {
    const cc = started();
    expect(cc.onDuplicateAck(false, 0, MSS)).toBe(DuplicateAckOutcome.None);
    expect(cc.onDuplicateAck(false, 0, MSS)).toBe(DuplicateAckOutcome.None);
    expect(cc.onDuplicateAck(false, 0, MSS)).toBe(DuplicateAckOutcome.EnterRecovery);
    cc.enterRecovery(40_000, 5000, 45_000, MSS);
    expect(cc.onDuplicateAck(false, 0, MSS)).toBe(DuplicateAckOutcome.RepairHoles);
  });

  it('with SACK, three segments SACKed mean loss at the first duplicate ACK (not without SACK agreed)', () => {
    expect(started().onDuplicateAck(true, 3 * MSS, MSS)).toBe(DuplicateAckOutcome.EnterRecovery);
    expect(started().onDuplicateAck(true, 3 * MSS - 1, MSS)).toBe(DuplicateAckOutcome.None);
    expect(started().onDuplicateAck(false, 3 * MSS, MSS)).toBe(DuplicateAckOutcome.None);
  });

  it('after a new ACK, three segments SACKed above the new una are a loss there, outside recovery only', () => {
    const cc = started();
    expect(cc.lossAtUna(0, MSS)).toBe(false);
    expect(cc.lossAtUna(3 * MSS - 1, MSS)).toBe(false);
    expect(cc.lossAtUna(3 * MSS, MSS)).toBe(true);
    cc.enterRecovery(40_000, 0, 40_000, MSS);
    expect(cc.lossAtUna(3 * MSS, MSS)).toBe(false);
  });

  it('recovery: window 0.7 of the flight (floored), repairs from una, partial ACKs, ends at the recovery point', () => {
    const cc = started();
    cc.enterRecovery(40_000, 5000, 45_000, MSS);
    expect(cc.inRecovery).toBe(true);
    expect([cc.slowStartThreshold, cc.congestionWindow, cc.recoverSeq, cc.retransmitNext, cc.repairMark]).toEqual([28_000, 28_000, 45_000, 5000, 45_000]);
    // A partial ACK: the next hole starts no lower than the new una; the window is kept.
    expect(cc.onNewAck(2000, 7000, MSS)).toBe(NewAckOutcome.RepairHoles);
    expect(cc.retransmitNext).toBe(7000);
    expect(cc.congestionWindow).toBe(28_000);
    cc.retransmitNext = 9000;
    cc.onNewAck(1000, 8000, MSS);
    expect(cc.retransmitNext).toBe(9000);
    // The recovery point acknowledged: recovery ends at ssthresh.
    expect(cc.onNewAck(37_000, 45_000, MSS)).toBe(NewAckOutcome.None);
    expect(cc.inRecovery).toBe(false);
    expect(cc.congestionWindow).toBe(28_000);
    // A small flight: the floor of MIN_CWND_SEGMENTS.
    const small = started();
    small.enterRecovery(4000, 0, 4000, MSS);
    expect(small.congestionWindow).toBe(MIN_CWND_SEGMENTS * MSS);
  });

  it('a repair pass restarts from una once three segments sent after it began are SACKed', () => {
    const cc = started();
    cc.enterRecovery(40_000, 5000, 45_000, MSS);
    cc.retransmitNext = 12_000; // repairs went out up to here
    cc.startRepairs(5000, true, 47_999, 50_000, MSS);
    expect(cc.retransmitNext).toBe(12_000);
    cc.startRepairs(5000, true, 48_000, 50_000, MSS);
    expect([cc.retransmitNext, cc.repairMark]).toEqual([5000, 50_000]);
    // Not before una; no restart without SACK information.
    cc.retransmitNext = 4000;
    cc.startRepairs(6000, false, 0, 50_000, MSS);
    expect(cc.retransmitNext).toBe(6000);
  });

  it('an RTO halves the flight into ssthresh (at least 2 segments), restarts the window, ends recovery', () => {
    const cc = started();
    cc.enterRecovery(40_000, 0, 40_000, MSS);
    cc.onDuplicateAck(false, 0, MSS);
    cc.onTimeout(30_000, MSS);
    expect([cc.slowStartThreshold, cc.congestionWindow, cc.inRecovery, cc.duplicateAcks]).toEqual([15_000, MIN_CWND_SEGMENTS * MSS, false, 0]);
    cc.onTimeout(1000, MSS);
    expect(cc.slowStartThreshold).toBe(2 * MSS);
  });

  it('leaveRecovery ends recovery and nothing else', () => {
    const cc = started();
    cc.enterRecovery(40_000, 0, 40_000, MSS);
    cc.leaveRecovery();
    expect([cc.inRecovery, cc.congestionWindow, cc.slowStartThreshold]).toEqual([false, 28_000, 28_000]);
  });
});
