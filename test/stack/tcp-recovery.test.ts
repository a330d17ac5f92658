/**
 * Loss recovery of the sender (host → guest), packet by packet: RTO per RFC 6298 with backoff and
 * the retransmission limit, fast retransmit on three duplicate ACKs, SACK-driven hole repair, and
 * the RTT estimate from timestamps.
 */
import { describe, expect, it } from 'vitest';
import { flagNames, TCP_ACK, TcpContext, type Connection, type Emitted } from '../support/tcp-context.js';

const seq = (base: number, n: number): number => (base + n) >>> 0;
const rel = (c: Connection, s: Emitted): [number, number] => [(s.seq - c.remoteFirst) >>> 0, s.payload.length];

describe('TCP loss recovery (host → guest)', () => {
  it('retransmits the first unacknowledged segment on RTO, doubling the timeout each time', async () => {
    const t = new TcpContext();
    const c = await t.open({ mss: 1000, window: 60000 });
    const sent = await t.hostData(c, 'r'.repeat(3000));
    expect(sent.map((s) => rel(c, s))).toEqual([[0, 1000], [1000, 1000], [2000, 1000]]);
    expect(await t.advance(999)).toEqual([]);
    // RTO (1 s initial): go-back from una, the congestion window restarts.
    const first = await t.advance(10);
    expect(first.map((s) => rel(c, s))).toEqual([[0, 1000], [1000, 1000], [2000, 1000]]);
    expect(await t.advance(1980)).toEqual([]);
    const second = await t.advance(30);
    expect(second[0] && rel(c, second[0])).toEqual([0, 1000]);
    // An ACK for everything ends it; no more retransmissions.
    t.inject(t.spec(c, { flags: TCP_ACK, ack: seq(c.remoteFirst, 3000), window: 60000 }));
    expect(await t.advance(10_000)).toEqual([]);
  });

  it('gives up after the retransmission limit: RST to the guest, reset to the host', async () => {
    const t = new TcpContext();
    const c = await t.open({ mss: 1000 });
    await t.hostData(c, 'z'.repeat(100));
    const all = await t.advance(30 * 60_000);
    const last = all[all.length - 1];
    expect(flagNames(last.flags)).toBe('RST|ACK');
    expect(c.stream.wasReset).toBe(true);
    expect(t.engine.size).toBe(0);
  });

  it('fast-retransmits after three duplicate ACKs, before any timeout', async () => {
    const t = new TcpContext();
    const c = await t.open({ mss: 1000, window: 60000 });
    await t.hostData(c, 'f'.repeat(8000));
    // Segment 0 lost: the guest ACKs nothing new for each later segment.
    const dup = t.spec(c, { flags: TCP_ACK, ack: c.remoteFirst, window: 60000 });
    expect(t.inject(dup)).toEqual([]);
    expect(t.inject(dup)).toEqual([]);
    const third = t.inject(dup);
    expect(third.map((s) => rel(c, s))[0]).toEqual([0, 1000]);
  });

  it('repairs exactly the holes the guest SACKs around, once each', async () => {
    const t = new TcpContext();
    const c = await t.open({ mss: 1000, window: 60000, sackPermitted: true });
    await t.hostData(c, 's'.repeat(10000));
    const a = c.remoteFirst;
    // Lost: [1000, 2000) and [4000, 5000). The guest SACKs what arrived after them.
    const sacks: [number, number][][] = [
      [[seq(a, 2000), seq(a, 3000)]],
      [[seq(a, 2000), seq(a, 4000)]],
      [[seq(a, 5000), seq(a, 6000)], [seq(a, 2000), seq(a, 4000)]],
      [[seq(a, 5000), seq(a, 7000)], [seq(a, 2000), seq(a, 4000)]],
    ];
    const out: Emitted[] = [];
    for (const sack of sacks) out.push(...t.inject(t.spec(c, { flags: TCP_ACK, ack: seq(a, 1000), window: 60000, sack })));
    const repairs = out.filter((s) => s.payload.length > 0 && (s.seq - a) >>> 0 < 10000);
    const ranges = repairs.map((s) => rel(c, s));
    expect(ranges).toContainEqual([1000, 1000]);
    expect(ranges).toContainEqual([4000, 1000]);
    expect(ranges.filter(([start]) => start === 1000)).toHaveLength(1);
    // Never resends what the guest holds.
    for (const [start] of ranges) expect([2000, 3000, 5000, 6000]).not.toContain(start);
    // Partial ACK then full ACK end recovery without a timeout.
    t.inject(t.spec(c, { flags: TCP_ACK, ack: seq(a, 4000), window: 60000, sack: [[seq(a, 5000), seq(a, 7000)]] }));
    t.inject(t.spec(c, { flags: TCP_ACK, ack: seq(a, 10000), window: 60000 }));
    expect(await t.advance(5000)).toEqual([]);
  });

  it('takes RTT samples from timestamps: RTO falls towards the 200 ms floor', async () => {
    const t = new TcpContext();
    const c = await t.open({ mss: 1012, window: 60000, ts: true }); // 1000 after the timestamp option
    for (let i = 0; i < 5; i++) {
      const sent = await t.hostData(c, 'p'.repeat(1000));
      t.clock.advance(5);
      const tsval = sent[0].ts![0];
      t.inject(t.spec(c, { flags: TCP_ACK, ack: seq(sent[0].seq, 1000), window: 60000, ts: [t.nextTs(), tsval] }));
    }
    await t.hostData(c, 'l'.repeat(1000));
    expect(await t.advance(190)).toEqual([]);
    const rto = await t.advance(30);
    expect(rto.map((s) => [flagNames(s.flags), s.payload.length, (s.seq - c.remoteFirst) >>> 0])).toEqual([["PSH|ACK", 1000, 5000]]);
  });
});
