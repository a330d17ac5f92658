/**
 * An idle engine costs no wakeups, packet by packet on a FakeClock (each timer callback the clock
 * runs would be a wakeup of the process): a flow that only waits for its bound (half-closed, either
 * side) wakes the engine once, at the bound; an established flow with everything acknowledged
 * wakes it once at most (the timer last armed, finding nothing), then never; a flow with data in
 * flight holds one timer for its RTO, not a tick, armed once for many round trips; short
 * connections one after another arm it once for them all.
 */
import { describe, expect, it } from 'vitest';
import { flagNames, TCP_ACK, TCP_FIN, TcpContext } from '../support/tcp-context.js';

const seq = (base: number, n: number): number => (base + n) >>> 0;
const MINUTE = 60_000;

describe('TCP timers of idle flows', () => {
  it('a flow the guest half-closed wakes the engine once, at its 10-minute bound', async () => {
    const t = new TcpContext();
    const c = await t.open();
    t.inject(t.spec(c, { flags: TCP_ACK | TCP_FIN }));
    c.guestNext = seq(c.guestNext, 1);
    // The FIN's ACK, delayed for a FIN of ours that did not come (tcp-close.test.ts): one wakeup.
    expect((await t.advance(30)).map((s) => flagNames(s.flags))).toEqual(['ACK']);
    const before = t.clock.fired;
    expect(await t.advance(9 * MINUTE)).toEqual([]);
    expect(t.clock.fired - before).toBe(0);
    expect(t.clock.pendingTimers).toBe(1);
    const out = await t.advance(2 * MINUTE);
    expect(out.map((s) => flagNames(s.flags))).toEqual(['RST|ACK']);
    expect(t.clock.fired - before).toBe(1);
    expect(t.engine.size).toBe(0);
    expect(t.clock.pendingTimers).toBe(0);
  });

  it('a flow the host half-closed (its FIN acknowledged) waits without waking, and traffic moves its bound', async () => {
    const t = new TcpContext();
    const c = await t.open();
    c.stream.events.onEnd();
    const fin = await t.drain();
    expect(fin.map((s) => flagNames(s.flags))).toEqual(['FIN|ACK']);
    t.inject(t.spec(c, { flags: TCP_ACK, ack: seq(c.remoteFirst, 1) }));
    const before = t.clock.fired;
    await t.advance(5 * MINUTE);
    // The guest still sends: the flow lives on, its bound moves 10 minutes past this.
    t.guestData(c, 'more', seq(c.remoteFirst, 1));
    await t.advance(9 * MINUTE);
    expect(t.engine.size).toBe(1);
    // A deadline that moves later leaves the armed timer alone: it wakes once where the FIN's RTO
    // was due, and once at the first bound; each time it finds nothing due and re-arms.
    expect(t.clock.fired - before).toBe(2);
    await t.advance(2 * MINUTE);
    expect(t.engine.size).toBe(0);
    expect(t.clock.fired - before).toBe(3);
    expect(t.clock.pendingTimers).toBe(0);
  });

  it('an established flow with everything acknowledged wakes the engine once at most, then never', async () => {
    const t = new TcpContext();
    const c = await t.open({ ts: true });
    t.guestData(c, 'request', c.remoteFirst);
    const reply = await t.hostData(c, 'response');
    expect(reply).toHaveLength(1);
    expect(t.clock.pendingTimers).toBe(1); // the response's RTO
    t.inject(t.spec(c, { flags: TCP_ACK, ack: seq(c.remoteFirst, 8) }));
    const before = t.clock.fired;
    await t.advance(60 * MINUTE);
    expect(t.clock.fired - before).toBeLessThanOrEqual(1); // the RTO's timer, left armed, finds nothing
    expect(t.clock.pendingTimers).toBe(0);
    expect(t.engine.size).toBe(1);
  });

  it("a guest's serial short connections (it closes first) arm the clock timer once for them all, not once each", async () => {
    const t = new TcpContext();
    let setAfterFirst = 0;
    for (let i = 0; i < 20; i++) {
      const c = await t.open({ srcPort: 41000 + i });
      t.guestData(c, 'q', c.remoteFirst);
      expect(await t.hostData(c, 'a')).toHaveLength(1);
      t.inject(t.spec(c, { flags: TCP_ACK | TCP_FIN, ack: seq(c.remoteFirst, 1) }));
      c.guestNext = seq(c.guestNext, 1);
      c.stream.events.onEnd();
      expect((await t.drain()).map((s) => flagNames(s.flags))).toEqual(['FIN|ACK']);
      t.inject(t.spec(c, { flags: TCP_ACK, ack: seq(c.remoteFirst, 2) }));
      expect(t.engine.size).toBe(0);
      t.clock.advance(0.2); // ~5000 connections a second
      if (i === 0) setAfterFirst = t.clock.timersSet;
    }
    // The first connection armed it (each of its earlier deadlines re-armed it); every later one's
    // deadlines came and went before it fired, leaving it armed.
    expect(setAfterFirst).toBeGreaterThan(0);
    expect(t.clock.timersSet - setAfterFirst).toBe(0);
    await t.expectNoTimerLeft();
  });

  it('request/response exchanges keep one timer, armed once for them all, and no periodic tick', async () => {
    const t = new TcpContext();
    const c = await t.open({ ts: true });
    let remoteNext = c.remoteFirst;
    const before = t.clock.fired;
    const setBefore = t.clock.timersSet;
    for (let i = 0; i < 100; i++) {
      t.guestData(c, 'ping', remoteNext);
      const reply = await t.hostData(c, 'pong');
      expect(reply[0].payload.toString()).toBe('pong');
      remoteNext = seq(remoteNext, 4);
      t.clock.advance(1); // 1 ms per round trip: 100 ms in all
      expect(t.clock.pendingTimers).toBeLessThanOrEqual(1);
    }
    t.inject(t.spec(c, { flags: TCP_ACK, ack: remoteNext }));
    // Every response was acknowledged well before its RTO: no timer ever ran (a 10 ms tick would have run 10 times),
    // and the first response's timer served all 100 (the guest's ACK of one leaves it armed for the next).
    expect(t.clock.fired - before).toBe(0);
    expect(t.clock.timersSet - setBefore).toBe(1);
    await t.advance(MINUTE);
    expect(t.clock.fired - before).toBe(1); // it fires once, finds nothing, stays off
    expect(t.clock.pendingTimers).toBe(0);
  });
});
