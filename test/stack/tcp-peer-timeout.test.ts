/**
 * No flow lingers (issue 17): a guest that stops answering is given up PEER_TIMEOUT_MS (120 s) after
 * we began waiting for it, on every path that waits (data unacknowledged, duplicate ACKs that never
 * move SND.UNA, zero-window probes unanswered, our FIN unacknowledged on a half-closed flow): RST to
 * the guest and a reset of the host socket, at the bound and not a backed-off RTO later. And the
 * flows that must stay: a guest that keeps its window shut but answers every probe (RFC 1122
 * §4.2.2.17), and a host peer that stops reading (our window closes; the guest's probes are
 * answered; memory stays bounded).
 */
import { describe, expect, it } from 'vitest';
import { RECEIVE_BUFFER, SEND_BUFFER } from '../../src/stack/tcp/flow.js';
import { PEER_TIMEOUT_MS } from '../../src/stack/tcp/sender.js';
import { flagNames, TCP_ACK, TCP_FIN, TCP_PSH, TcpContext, type Connection, type Emitted } from '../support/tcp-context.js';

const seq = (base: number, n: number): number => (base + n) >>> 0;

/** Advances time in 1 s steps up to ms, returning everything emitted; stops early once the flow is gone. */
async function runFor(t: TcpContext, ms: number, onStep?: (out: Emitted[]) => void): Promise<Emitted[]> {
  const all: Emitted[] = [];
  for (let elapsed = 0; elapsed < ms; elapsed += 1000) {
    const out = await t.advance(Math.min(1000, ms - elapsed));
    all.push(...out);
    onStep?.(out);
  }
  return all;
}

function expectAborted(t: TcpContext, c: Connection, out: Emitted[]): void {
  const resets = out.filter((s) => s.flags & 0x04);
  expect(resets.map((s) => flagNames(s.flags))).toEqual(['RST|ACK']);
  expect(c.stream.wasReset).toBe(true);
  expect(t.engine.size).toBe(0);
}

describe('TCP: a guest that stops answering is given up after PEER_TIMEOUT_MS', () => {
  it('is 120 s', () => {
    expect(PEER_TIMEOUT_MS).toBe(120_000);
  });

  it('data unacknowledged: retransmits with backoff, then RST at the bound (not a backed-off RTO later)', async () => {
    const t = new TcpContext();
    const c = await t.open({ mss: 1000 });
    await t.hostData(c, 'z'.repeat(100)); // the wait begins now
    const before = await runFor(t, PEER_TIMEOUT_MS - 20);
    expect(before.every((s) => s.payload.length === 100)).toBe(true);
    expect(before.length).toBeGreaterThanOrEqual(5); // 1, 2, 4, 8, 16, 32, 60 s…
    expect(t.engine.size).toBe(1);
    expectAborted(t, c, await t.advance(30));
  });

  it('duplicate ACKs that never move SND.UNA do not keep the flow (the guest drops everything we send)', async () => {
    const t = new TcpContext();
    const c = await t.open({ mss: 1000, window: 60_000 });
    await t.hostData(c, 'd'.repeat(5000));
    const before = await runFor(t, PEER_TIMEOUT_MS - 20, (out) => {
      for (const _ of out) t.inject(t.spec(c, { flags: TCP_ACK, ack: c.remoteFirst, window: 60_000 }));
    });
    expect(before.length).toBeGreaterThan(3);
    expect(t.engine.size).toBe(1);
    expectAborted(t, c, await t.advance(30));
  });

  it('an ACK that moves SND.UNA starts the wait again', async () => {
    const t = new TcpContext();
    const c = await t.open({ mss: 1000 });
    await t.hostData(c, 'a'.repeat(2000));
    await runFor(t, 100_000);
    t.inject(t.spec(c, { flags: TCP_ACK, ack: seq(c.remoteFirst, 1000) }));
    await runFor(t, PEER_TIMEOUT_MS - 20);
    expect(t.engine.size).toBe(1);
    expectAborted(t, c, await t.advance(30));
  });

  it('zero-window probes unanswered: RST at the bound after the last answer', async () => {
    const t = new TcpContext();
    const c = await t.open({ mss: 1000, window: 1000 });
    await t.hostData(c, 'q'.repeat(3000));
    t.inject(t.spec(c, { flags: TCP_ACK, ack: seq(c.remoteFirst, 1000), window: 0 })); // the last word from the guest
    const probes = await runFor(t, PEER_TIMEOUT_MS - 20);
    expect(probes.length).toBeGreaterThanOrEqual(5);
    expect(probes.every((s) => s.payload.length === 0 && s.seq === seq(c.remoteFirst, 999))).toBe(true);
    expect(t.engine.size).toBe(1);
    expectAborted(t, c, await t.advance(30));
  });

  it('half-closed, our FIN unacknowledged: RST at the bound', async () => {
    const t = new TcpContext();
    const c = await t.open({ mss: 1000 });
    t.guestData(c, 'request', c.remoteFirst, { flags: TCP_ACK | TCP_PSH | TCP_FIN });
    c.guestNext = seq(c.guestNext, 1);
    await t.hostData(c, 'response');
    c.stream.events.onEnd();
    const fin = await t.drain();
    expect(fin.map((s) => flagNames(s.flags))).toEqual(['FIN|ACK']);
    await runFor(t, PEER_TIMEOUT_MS - 20);
    expect(t.engine.size).toBe(1);
    expectAborted(t, c, await t.advance(30));
  });

  it('keeps a flow whose guest holds its window shut but answers every probe; the host stays paused', async () => {
    const t = new TcpContext();
    const c = await t.open({ mss: 1460, wscale: 7, window: 100 });
    const block = new Uint8Array(1024 * 1024);
    for (let i = 0; i <= SEND_BUFFER / block.length; i++) await t.hostData(c, block);
    expect(c.stream.paused).toBe(true);
    const taken = seq(c.remoteFirst, 8 * 1460); // the window (12,800 bytes) took 8 segments
    t.inject(t.spec(c, { flags: TCP_ACK, ack: taken, window: 0 }));
    let probes = 0;
    await runFor(t, 30 * 60_000, (out) => {
      for (const _ of out) {
        probes++;
        t.inject(t.spec(c, { flags: TCP_ACK, ack: taken, window: 0 }));
      }
    });
    expect(probes).toBeGreaterThan(20); // one a minute at most once backed off
    expect(t.engine.size).toBe(1);
    expect(c.stream.wasReset).toBe(false);
    expect(c.stream.paused).toBe(true);
  });
});

describe('TCP: a host peer that stops reading (guest → host)', () => {
  it('closes our window, answers the guest probes for as long as it probes, takes nothing beyond the window', async () => {
    const t = new TcpContext();
    const c = await t.open({ mss: 1460, wscale: 7 });
    c.stream.pendingWriteBytes = RECEIVE_BUFFER; // the host reader stopped: everything is still queued
    expect(t.guestData(c, 'x'.repeat(1000), c.remoteFirst).map((s) => s.window)).toEqual([0]);
    // Beyond the (closed) window: at most the one byte a probe may carry is taken, the rest is left
    // to the guest's retransmission; the answer says the window is still closed.
    const beyond = t.inject(t.spec(c, { flags: TCP_ACK | TCP_PSH, payload: 'y'.repeat(1000) }));
    expect(beyond.map((s) => [s.ack, s.window])).toEqual([[seq(c.guestNext, 1), 0]]);
    c.guestNext = seq(c.guestNext, 1);
    expect(c.stream.text()).toBe(`${'x'.repeat(1000)}y`);
    let answers = 0;
    for (let minute = 0; minute < 30; minute++) {
      await t.advance(60_000);
      answers += t.inject(t.spec(c, { flags: TCP_ACK, seq: seq(c.guestNext, -1) })).filter((s) => s.window === 0).length;
    }
    expect(answers).toBe(30);
    expect(t.engine.size).toBe(1);
    // The guest gives up on its own (its probe limit): its RST ends the host socket too.
    t.inject(t.spec(c, { flags: 0x04 | TCP_ACK }));
    expect(c.stream.wasReset).toBe(true);
    expect(t.engine.size).toBe(0);
  });
});
