/**
 * Edge cases found by reading the engine against RFC 9293 / 6298: each test pins a fix.
 */
import { describe, expect, it } from 'vitest';
import { parseIpv4 } from '../../src/wire/ip-address.js';
import { FakeHostStream, flagNames, GUEST_IP, TCP_ACK, TCP_FIN, TCP_PSH, TCP_SYN, TcpContext } from '../support/tcp-context.js';

const seq = (base: number, n: number): number => (base + n) >>> 0;

describe('TCP edge cases', () => {
  it('takes a FIN on a retransmitted segment that overlaps bytes already received', async () => {
    const t = new TcpContext();
    const c = await t.open({ mss: 1000 });
    t.guestData(c, 'hello ', c.remoteFirst);
    // The guest retransmits "hello world" + FIN (its first ACK was lost): 6 bytes old, 5 new.
    const out = t.inject(t.spec(c, { flags: TCP_ACK | TCP_PSH | TCP_FIN, seq: seq(c.guestNext, -6), payload: 'hello world' }));
    expect(c.stream.text()).toBe('hello world');
    expect(c.stream.ended).toBe(true);
    expect(out.map((s) => [flagNames(s.flags), s.ack])).toEqual([['ACK', seq(c.guestNext, 6)]]);
  });

  it('does not lose host bytes read before the guest completes the handshake of a published port', async () => {
    const t = new TcpContext();
    t.learnGuest();
    const client = parseIpv4('198.18.0.2')!;
    let stream: FakeHostStream | undefined;
    t.engine.openToGuest({ guestAddress: GUEST_IP, guestPort: 8080, remoteAddress: client, remotePort: 50000 }, (events) => {
      stream = new FakeHostStream({ address: '198.18.0.2', port: 50000 });
      stream.events = events;
      // A socket that had bytes buffered delivers them before pause() takes effect.
      events.onData(Buffer.from('early'));
      return stream;
    });
    const [syn] = await t.drain();
    expect(flagNames(syn.flags)).toBe('SYN');
    const out = t.inject({ src: GUEST_IP, dst: client, srcPort: 8080, dstPort: 50000, seq: 7000, ack: seq(syn.seq, 1), flags: TCP_SYN | TCP_ACK, mss: 1460 });
    const all = [...out, ...(await t.drain())];
    expect(all.map((s) => s.payload.toString()).join('')).toBe('early');
    expect(all.find((s) => s.payload.length > 0)!.seq).toBe(seq(syn.seq, 1));
  });

  it('undoes the RTO backoff once new data is acknowledged (no timestamps: no RTT samples)', async () => {
    const t = new TcpContext();
    const c = await t.open({ mss: 1000 });
    const [first] = await t.hostData(c, 'a'.repeat(100));
    expect(await t.advance(999)).toEqual([]);
    const [again] = await t.advance(1); // RTO 1 s; now backed off to 2 s
    expect(again.seq).toBe(first.seq);
    t.inject(t.spec(c, { flags: TCP_ACK, ack: seq(c.remoteFirst, 100) }));
    await t.hostData(c, 'b'.repeat(100)); // lost
    const retransmit = await t.advance(1000);
    expect(retransmit.map((s) => s.seq)).toEqual([seq(c.remoteFirst, 100)]);
  });

  it('keeps probing a window the guest closed with bytes still in flight, and does not give up while it answers', async () => {
    const t = new TcpContext();
    const c = await t.open({ mss: 1000 });
    await t.hostData(c, 'x'.repeat(3000));
    // The guest takes the first 1000 bytes and closes its window (the rest were dropped by it).
    t.inject(t.spec(c, { flags: TCP_ACK, ack: seq(c.remoteFirst, 1000), window: 0 }));
    let sent = 0;
    for (let i = 0; i < 40; i++) {
      const out = await t.advance(60_000);
      sent += out.length;
      // The guest answers every probe: still closed.
      for (const _ of out) t.inject(t.spec(c, { flags: TCP_ACK, ack: seq(c.remoteFirst, 1000), window: 0 }));
    }
    expect(sent).toBeGreaterThan(10);
    expect(t.engine.size).toBe(1);
    expect(c.stream.wasReset).toBe(false);
    // The window opens: the rest goes out.
    const resumed = t.inject(t.spec(c, { flags: TCP_ACK, ack: seq(c.remoteFirst, 1000), window: 65535 }));
    expect(resumed.map((s) => s.seq)).toEqual([seq(c.remoteFirst, 1000), seq(c.remoteFirst, 2000)]);
  });

  it('a FIN from the guest before the hole fills is taken once the hole fills', async () => {
    const t = new TcpContext();
    const c = await t.open({ mss: 1000, sackPermitted: true });
    const hole = t.inject(t.spec(c, { flags: TCP_ACK | TCP_FIN, seq: seq(c.guestNext, 3), payload: 'def' }));
    expect(hole[0].ack).toBe(c.guestNext);
    const filled = t.inject(t.spec(c, { flags: TCP_ACK, payload: 'abc' }));
    expect(c.stream.text()).toBe('abcdef');
    expect(c.stream.ended).toBe(true);
    expect(filled.map((s) => s.ack)).toEqual([seq(c.guestNext, 7)]);
  });

  it('keeps new data flowing during SACK recovery, and repairs a hole again when its repair is lost', async () => {
    const t = new TcpContext();
    const c = await t.open({ mss: 1000, sackPermitted: true });
    const first = await t.hostData(c, 'd'.repeat(30_000));
    expect(first).toHaveLength(10); // initial congestion window: 10 segments
    const at = (n: number): number => seq(c.remoteFirst, n);
    const dupAck = (sackEnd: number) => t.inject(t.spec(c, { flags: TCP_ACK, ack: at(0), sack: [[at(1000), at(sackEnd)]] }));
    // Limited transmit (RFC 3042): the first two duplicates each let one new segment out.
    expect(dupAck(2000).map((s) => s.seq)).toEqual([at(10_000)]);
    expect(dupAck(3000).map((s) => s.seq)).toEqual([at(11_000)]);
    // Third: repair the hole; SACKed bytes do not count as in flight, so new data keeps going.
    expect(dupAck(4000).map((s) => s.seq)).toEqual([at(0), at(12_000)]);
    // That repair is lost. Each further SACK lets more new data out...
    expect(dupAck(5000).map((s) => s.seq)).toEqual([at(13_000)]);
    expect(dupAck(11_000).map((s) => s.seq)).toEqual([14, 15, 16, 17, 18, 19].map((k) => at(k * 1000)));
    expect(dupAck(13_000).map((s) => s.seq)).toEqual([at(20_000), at(21_000)]);
    // ...and once 3 segments sent after the repair pass began (12000 on) are SACKed while the hole is
    // still open, the repair is taken as lost and sent again (not left to the RTO).
    expect(dupAck(15_000).map((s) => s.seq)).toEqual([at(0), at(22_000), at(23_000)]);
    expect(dupAck(16_000).map((s) => s.seq)).toEqual([at(24_000)]);
  });
});
