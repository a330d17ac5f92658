/**
 * Delayed ACKs (src/stack/tcp/delayed-acks.ts), packet by packet on a FakeClock: once the host's
 * answers follow our ACKs quickly, a small request's ACK waits for the answer to carry it (no pure
 * ACK frame per round trip); a wait the timer ends sends the ACK DELAYED_ACK_MS later and the next
 * ACK goes at once; a guest that sends right after a delayed ACK (Nagle) gets every ACK at once
 * from then on; bulk (a full segment or more) and one-way traffic are ACKed per batch as before.
 */
import { describe, expect, it } from 'vitest';
import { DELAYED_ACK_MS } from '../../src/stack/tcp/delayed-acks.js';
import { flagNames, TCP_ACK, TCP_PSH, TcpContext, type Connection } from '../support/tcp-context.js';

const seq = (base: number, n: number): number => (base + n) >>> 0;

/** One exchange: a request from the guest, the host's answer a moment later. Returns what each step emitted. */
async function exchange(t: TcpContext, c: Connection, remoteNext: number, request = 'ping', answer = 'pong') {
  const afterRequest = t.guestData(c, request, remoteNext);
  t.clock.advance(0.05);
  const afterAnswer = await t.hostData(c, answer);
  return { afterRequest, afterAnswer };
}

describe('TCP delayed ACKs', () => {
  it('ACKs the first request at once; once answers follow, the answer carries the ACK (one frame per round trip)', async () => {
    const t = new TcpContext();
    const c = await t.open({ ts: true });
    let remoteNext = c.remoteFirst;
    const first = await exchange(t, c, remoteNext);
    expect(first.afterRequest.map((s) => flagNames(s.flags))).toEqual(['ACK']);
    remoteNext = seq(remoteNext, 4);
    for (let i = 0; i < 5; i++) {
      const { afterRequest, afterAnswer } = await exchange(t, c, remoteNext);
      expect(afterRequest, 'no pure ACK for the request').toEqual([]);
      expect(afterAnswer).toHaveLength(1);
      expect(afterAnswer[0].payload.toString()).toBe('pong');
      expect(afterAnswer[0].ack, 'the answer acknowledges the request').toBe(c.guestNext);
      remoteNext = seq(remoteNext, 4);
      t.clock.advance(0.05);
    }
    expect(c.stream.text()).toBe('ping'.repeat(6));
    // Nothing was left owed: the timer finds every ACK carried and sends nothing.
    expect(await t.advance(10 * DELAYED_ACK_MS)).toEqual([]);
  });

  it('sends a waiting ACK after DELAYED_ACK_MS when no answer comes, then ACKs at once until answers are quick again', async () => {
    const t = new TcpContext();
    const c = await t.open();
    let remoteNext = c.remoteFirst;
    await exchange(t, c, remoteNext);
    remoteNext = seq(remoteNext, 4);
    expect(t.guestData(c, 'slow', remoteNext)).toEqual([]);
    expect(await t.advance(DELAYED_ACK_MS - 0.5)).toEqual([]);
    const late = await t.advance(1);
    expect(late.map((s) => flagNames(s.flags))).toEqual(['ACK']);
    expect(late[0].ack).toBe(c.guestNext);
    // The answer comes long after: the flow is no longer taken as interactive.
    t.clock.advance(20);
    await t.hostData(c, 'pong');
    remoteNext = seq(remoteNext, 4);
    t.clock.advance(20);
    expect(t.guestData(c, 'next', remoteNext).map((s) => flagNames(s.flags))).toEqual(['ACK']);
  });

  it('ACKs at once for good once the guest sends right after a delayed ACK (its Nagle was waiting for it)', async () => {
    const t = new TcpContext();
    const c = await t.open();
    let remoteNext = c.remoteFirst;
    await exchange(t, c, remoteNext);
    remoteNext = seq(remoteNext, 4);
    // The first half of a request waits for its ACK; the guest holds the second half until it comes.
    expect(t.guestData(c, 'GET ', remoteNext)).toEqual([]);
    expect((await t.advance(DELAYED_ACK_MS)).map((s) => flagNames(s.flags))).toEqual(['ACK']);
    t.clock.advance(0.1);
    expect(t.guestData(c, '/x\n', remoteNext).map((s) => flagNames(s.flags))).toEqual(['ACK']);
    // Quick answers again, but this flow's ACKs no longer wait.
    for (let i = 0; i < 3; i++) {
      await t.hostData(c, 'pong');
      remoteNext = seq(remoteNext, 4);
      t.clock.advance(0.05);
      expect(t.guestData(c, 'ping', remoteNext).map((s) => flagNames(s.flags))).toEqual(['ACK']);
    }
  });

  it('keeps delaying when a late answer, not the delayed ACK, is what the guest\'s next request follows', async () => {
    const t = new TcpContext();
    const c = await t.open();
    let remoteNext = c.remoteFirst;
    await exchange(t, c, remoteNext);
    remoteNext = seq(remoteNext, 4);
    expect(t.guestData(c, 'ping', remoteNext)).toEqual([]);
    expect((await t.advance(DELAYED_ACK_MS)).map((s) => flagNames(s.flags))).toEqual(['ACK']);
    // The answer comes a moment after the timer's ACK, the next request at once after the answer.
    t.clock.advance(0.1);
    await t.hostData(c, 'pong');
    remoteNext = seq(remoteNext, 4);
    t.clock.advance(0.05);
    expect(t.guestData(c, 'ping', remoteNext).map((s) => flagNames(s.flags))).toEqual(['ACK']); // not interactive after the timer
    t.clock.advance(0.05);
    await t.hostData(c, 'pong');
    remoteNext = seq(remoteNext, 4);
    expect(t.guestData(c, 'ping', remoteNext), 'quick answers: the ACK waits again').toEqual([]);
  });

  it('ACKs a full segment or more per batch at once, even on an interactive flow', async () => {
    const t = new TcpContext();
    const c = await t.open({ mss: 1460 });
    let remoteNext = c.remoteFirst;
    await exchange(t, c, remoteNext);
    remoteNext = seq(remoteNext, 4);
    const mss = 1460; // ours towards the guest on a default MTU 1500 link
    const big = 'x'.repeat(mss);
    const out = t.inject(
      t.spec(c, { flags: TCP_ACK, payload: big, ack: remoteNext }),
      t.spec(c, { flags: TCP_ACK | TCP_PSH, payload: 'y', seq: seq(c.guestNext, mss), ack: remoteNext }),
    );
    c.guestNext = seq(c.guestNext, mss + 1);
    expect(out.map((s) => flagNames(s.flags))).toEqual(['ACK']);
    expect(out[0].ack).toBe(c.guestNext);
  });

  it('ACKs one-way small writes at once: the host never answering, the flow never waits', async () => {
    const t = new TcpContext();
    const c = await t.open();
    for (let i = 0; i < 5; i++) {
      const out = t.guestData(c, 'log line\n', c.remoteFirst);
      expect(out.map((s) => flagNames(s.flags))).toEqual(['ACK']);
      t.clock.advance(0.05);
    }
    expect(t.clock.pendingTimers).toBe(0);
  });
});
