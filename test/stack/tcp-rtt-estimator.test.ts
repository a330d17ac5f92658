/**
 * The RTT estimator on its own (RFC 6298): the first sample, smoothing, the RTO's floor and
 * ceiling, backoff and its undoing, implausible samples ignored.
 */
import { describe, expect, it } from 'vitest';
import { INITIAL_RTO_MS, MAX_RTO_MS, MIN_RTO_MS, RttEstimator } from '../../src/stack/tcp/rtt-estimator.js';

describe('RttEstimator', () => {
  it('starts at the initial RTO with no estimate', () => {
    const rtt = new RttEstimator();
    expect([rtt.smoothedRtt, rtt.rttVariance, rtt.rto]).toEqual([0, 0, INITIAL_RTO_MS]);
    expect(rtt.baseRto()).toBe(INITIAL_RTO_MS);
  });

  it('first sample: SRTT = R, RTTVAR = R/2; later ones smoothed by 1/8 and 1/4', () => {
    const rtt = new RttEstimator();
    rtt.sample(400);
    expect([rtt.smoothedRtt, rtt.rttVariance, rtt.rto]).toEqual([400, 200, 400 + 4 * 200]);
    rtt.sample(200);
    expect(rtt.rttVariance).toBe(0.75 * 200 + 0.25 * 200);
    expect(rtt.smoothedRtt).toBe(0.875 * 400 + 0.125 * 200);
    expect(rtt.rto).toBe(375 + 4 * 200);
  });

  it('the RTO has a floor of MIN_RTO_MS and a variance term of at least 10 ms', () => {
    const rtt = new RttEstimator();
    rtt.sample(1);
    expect(rtt.rto).toBe(MIN_RTO_MS);
    for (let i = 0; i < 200; i++) rtt.sample(250);
    // RTTVAR has decayed to nearly nothing: SRTT + 10.
    expect(rtt.rto).toBeCloseTo(rtt.smoothedRtt + 10, 6);
  });

  it('ignores negative samples and samples above MAX_RTO_MS', () => {
    const rtt = new RttEstimator();
    rtt.sample(-5);
    rtt.sample(MAX_RTO_MS + 1);
    expect(rtt.smoothedRtt).toBe(0);
    rtt.sample(MAX_RTO_MS);
    expect(rtt.rto).toBe(MAX_RTO_MS);
  });

  it('backs off by doubling up to MAX_RTO_MS; new data undoes it; restart returns to the initial RTO', () => {
    const rtt = new RttEstimator();
    rtt.sample(100);
    const base = rtt.rto;
    rtt.backOff();
    rtt.backOff();
    expect(rtt.rto).toBe(4 * base);
    for (let i = 0; i < 20; i++) rtt.backOff();
    expect(rtt.rto).toBe(MAX_RTO_MS);
    rtt.undoBackoff();
    expect(rtt.rto).toBe(base);
    rtt.restart();
    expect(rtt.rto).toBe(INITIAL_RTO_MS);
    expect(rtt.smoothedRtt).toBe(100);
  });
});
