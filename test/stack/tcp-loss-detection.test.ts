/**
 * Loss detection of the sender (host → guest) before the RTO, pinned after the end-to-end fault run
 * (test/e2e/tcp-faults-e2e.test.ts) showed 100 MB host → guest spending most of its 10 s in 200 ms
 * RTOs, for two reasons:
 * - SACK duplicate ACKs as RFC 6675 defines them: a Linux guest whose application reads changes
 *   its window on nearly every ACK, so its duplicate ACKs never matched the classic definition (same
 *   window, no data) and no loss was repaired before the RTO;
 * - tail loss probes (RFC 8985 §7): Linux acknowledges a burst with one stretch ACK; when that ACK
 *   (or the burst's last segments) is lost, nothing comes back to start a recovery.
 * And one on the receiving side (guest → host), found when 5% faults stalled a guest → host run:
 * - SACK blocks most recent first (RFC 2018 §4): with more holes than the option holds, lowest-first
 *   never told the guest of newer segments; it resent what we held and took RTT samples seconds
 *   long from the ACK that finally named them, until its RTO backed off for good;
 * - the timestamp we echo only moves forward (RFC 7323 §4.3): a delayed or duplicated copy of an
 *   old segment set it back, and the guest measured the delay as round-trip time.
 */
import { describe, expect, it } from 'vitest';
import { TCP_ACK, TCP_PSH, TcpContext } from '../support/tcp-context.js';

const seq = (base: number, n: number): number => (base + n) >>> 0;

describe('TCP loss detection: SACK duplicate ACKs (host → guest)', () => {
  it('counts an ACK that SACKs new bytes as a duplicate even when its window changed', async () => {
    const t = new TcpContext();
    const c = await t.open({ mss: 1000, window: 65535, sackPermitted: true });
    expect(await t.hostData(c, 'w'.repeat(30_000))).toHaveLength(10);
    const at = (n: number): number => seq(c.remoteFirst, n);
    // Segment 0 lost; the guest's reader drains its buffer, so each ACK offers a different window.
    const dupAck = (sackEnd: number, window: number) => t.inject(t.spec(c, { flags: TCP_ACK, ack: at(0), window, sack: [[at(1000), at(sackEnd)]] }));
    expect(dupAck(2000, 64_000).map((s) => s.seq)).toEqual([at(10_000)]);
    expect(dupAck(3000, 65_000).map((s) => s.seq)).toEqual([at(11_000)]);
    // The third repairs the hole at once, without waiting for the RTO.
    expect(dupAck(4000, 63_000).map((s) => s.seq)).toEqual([at(0), at(12_000)]);
  });

  it('counts an ACK that SACKs new bytes and carries guest data as a duplicate', async () => {
    const t = new TcpContext();
    const c = await t.open({ mss: 1000, window: 65535, sackPermitted: true });
    await t.hostData(c, 'd'.repeat(30_000));
    const at = (n: number): number => seq(c.remoteFirst, n);
    const out = [];
    for (const sackEnd of [2000, 3000, 4000]) {
      // Both directions busy: the guest's ACKs ride on its own data.
      out.push(...t.guestData(c, 'x'.repeat(100), at(0), { flags: TCP_ACK | TCP_PSH, sack: [[at(1000), at(sackEnd)]] }));
    }
    expect(out.filter((s) => s.payload.length > 0).map((s) => s.seq)).toContain(at(0));
    expect(c.stream.text()).toBe('x'.repeat(300));
  });

  it('repairs a hole at the new una when the ACK that moved una already SACKs 3 segments above it', async () => {
    const t = new TcpContext();
    const c = await t.open({ mss: 1000, window: 65535, sackPermitted: true });
    expect(await t.hostData(c, 'h'.repeat(10_000))).toHaveLength(10);
    const at = (n: number): number => seq(c.remoteFirst, n);
    // Segment 1 lost. The guest acknowledged everything else in one stretch ACK (as Linux does for
    // a burst); it is the last ACK it sends until something new arrives.
    const out = t.inject(t.spec(c, { flags: TCP_ACK, ack: at(1000), window: 65535, sack: [[at(2000), at(10_000)]] }));
    expect(out.filter((s) => s.payload.length > 0).map((s) => s.seq)).toContain(at(1000));
  });

  it('still ignores a plain ACK whose window changed (a window update is no duplicate)', async () => {
    const t = new TcpContext();
    const c = await t.open({ mss: 1000, window: 65535 });
    await t.hostData(c, 'p'.repeat(3000));
    const at = (n: number): number => seq(c.remoteFirst, n);
    for (const window of [65000, 64000, 63000, 62000]) {
      expect(t.inject(t.spec(c, { flags: TCP_ACK, ack: at(0), window })).filter((s) => s.payload.length > 0)).toEqual([]);
    }
  });
});

describe('TCP loss detection: tail loss probe (host → guest)', () => {
  /** A connection with timestamps and an RTT estimate of about 5 ms (PTO: 10 ms, the floor). */
  async function measured(t: TcpContext) {
    const c = await t.open({ mss: 1012, window: 65535, ts: true, sackPermitted: true }); // 1000 after the timestamp option
    for (let i = 0; i < 5; i++) {
      const sent = await t.hostData(c, 'r'.repeat(1000));
      t.clock.advance(5);
      t.inject(t.spec(c, { flags: TCP_ACK, ack: seq(sent[0].seq, 1000), window: 65535, ts: [t.nextTs(), sent[0].ts![0]] }));
    }
    return { c, at: (n: number): number => seq(c.remoteFirst, 5000 + n) };
  }

  it('sends new data as a probe when no ACK comes back for a flight, then waits for the RTO', async () => {
    const t = new TcpContext();
    const { c, at } = await measured(t);
    const flight = await t.hostData(c, 'n'.repeat(30_000));
    const sent = flight.length * 1000; // as much as the congestion window allows
    expect(flight.map((s) => s.seq)).toEqual(flight.map((_, k) => at(k * 1000)));
    expect(sent).toBeLessThan(30_000);
    // The stretch ACK for the flight is lost. Within a few timer grid steps: one new segment asks for news.
    const probe = await t.advance(40);
    expect(probe.map((s) => [s.seq, s.payload.length])).toEqual([[at(sent), 1000]]);
    // One probe only: unanswered, the RTO (200 ms floor) follows, go-back from una.
    expect(await t.advance(150)).toEqual([]);
    const rto = await t.advance(100);
    expect(rto[0].seq).toBe(at(0));
  });

  it('resends the last segment as the probe when there is no new data, and the answer ends it', async () => {
    const t = new TcpContext();
    const { c, at } = await measured(t);
    await t.hostData(c, 'e'.repeat(4000));
    const probe = await t.advance(40);
    expect(probe.map((s) => [s.seq, s.payload.length])).toEqual([[at(3000), 1000]]);
    // The guest had everything: its ACK for the probe acknowledges all, nothing more is sent.
    t.inject(t.spec(c, { flags: TCP_ACK, ack: at(4000), window: 65535 }));
    expect(await t.advance(5000)).toEqual([]);
  });

  it('a probe whose answer reveals a hole starts the repair at once', async () => {
    const t = new TcpContext();
    const { c, at } = await measured(t);
    await t.hostData(c, 'l'.repeat(4000));
    await t.advance(40); // probe: [3000, 4000) again
    // The first segment was lost, the guest holds the rest: one ACK SACKing 3 segments above the hole.
    const out = t.inject(t.spec(c, { flags: TCP_ACK, ack: at(0), window: 65535, sack: [[at(1000), at(4000)]] }));
    expect(out.filter((s) => s.payload.length > 0).map((s) => s.seq)).toEqual([at(0)]);
  });

  it('does not probe a single segment in flight (its ACK may be delayed) nor without an RTT estimate', async () => {
    const t = new TcpContext();
    const { c } = await measured(t);
    await t.hostData(c, 's'.repeat(1000));
    expect(await t.advance(190)).toEqual([]);
    const u = new TcpContext();
    const d = await u.open({ mss: 1000, window: 65535 }); // no timestamps: no RTT samples
    await u.hostData(d, 'u'.repeat(5000));
    expect(await u.advance(990)).toEqual([]);
  });
});

describe('TCP loss detection: the SACK blocks we send (guest → host)', () => {
  it('names the block of the segment that triggered the ACK first, then the most recent ones', async () => {
    const t = new TcpContext();
    const c = await t.open({ mss: 1000, window: 65535, ts: true, sackPermitted: true }); // 3 blocks fit beside timestamps
    const g = (n: number): number => seq(c.guestNext, n);
    const sacks: [number, number][][] = [];
    // Segments 1, 3, 5, 7, 9 arrive (0, 2, 4, 6, 8 lost): five holes, room for three blocks.
    for (const k of [1, 3, 5, 7, 9]) {
      const [ack] = t.inject(t.spec(c, { flags: TCP_ACK | TCP_PSH, seq: g(k * 100), payload: 'x'.repeat(100) }));
      expect(ack.ack).toBe(c.guestNext);
      sacks.push(ack.sack);
    }
    expect(sacks[4]).toEqual([
      [g(900), g(1000)],
      [g(700), g(800)],
      [g(500), g(600)],
    ]);
    // A copy of segment 3 (a duplicate, or a spurious retransmission): its block comes first again.
    const [again] = t.inject(t.spec(c, { flags: TCP_ACK | TCP_PSH, seq: g(300), payload: 'x'.repeat(100) }));
    expect(again.sack).toEqual([
      [g(300), g(400)],
      [g(900), g(1000)],
      [g(700), g(800)],
    ]);
    // Segment 4 joins 3 and 5 into one block, named first.
    const [joined] = t.inject(t.spec(c, { flags: TCP_ACK | TCP_PSH, seq: g(400), payload: 'x'.repeat(100) }));
    expect(joined.sack).toEqual([
      [g(300), g(600)],
      [g(900), g(1000)],
      [g(700), g(800)],
    ]);
  });
});

describe('TCP loss detection: the timestamp we echo (guest → host)', () => {
  it('does not move TS.Recent back for a delayed copy of an old segment', async () => {
    const t = new TcpContext();
    const c = await t.open({ mss: 1012, window: 65535, ts: true });
    const first = c.guestNext;
    const [a] = t.guestData(c, 'a'.repeat(100), c.remoteFirst, { ts: [5000, c.lastRemoteTs] });
    expect(a.ts![1]).toBe(5000);
    // The same segment again, from before (TSval 4000): acknowledged, but 5000 stays the echo.
    const [old] = t.inject(t.spec(c, { flags: TCP_ACK | TCP_PSH, seq: first, payload: 'a'.repeat(100), ts: [4000, c.lastRemoteTs] }));
    expect(old.ack).toBe(c.guestNext);
    expect(old.ts![1]).toBe(5000);
    // New data with a newer TSval moves it on.
    const [b] = t.guestData(c, 'b'.repeat(100), c.remoteFirst, { ts: [5100, c.lastRemoteTs] });
    expect(b.ts![1]).toBe(5100);
    expect(c.stream.text()).toBe('a'.repeat(100) + 'b'.repeat(100));
  });
});
