/**
 * Stalls the soak harness (bench/tcp-soak.ts, issue 17) looks for, each pinned at packet level on a
 * fake clock: a state from which a flow does not recover on its own.
 *
 * - The guest's zero-window probe (and its keep-alive) is a bare ACK one byte before RCV.NXT; RFC
 *   9293 §3.10.7.4 says to answer any unacceptable segment with an ACK. We did not answer segments
 *   without payload at all, so when the window update that reopened our closed window was lost (a
 *   host reader that fell behind, 2% loss on tap0), the guest probed a window it believed closed,
 *   heard nothing, and guest → host hung until the client gave up (230 s in the reported run).
 */
import { describe, expect, it } from 'vitest';
import { RECEIVE_BUFFER } from '../../src/stack/tcp/flow.js';
import { flagNames, TCP_ACK, TcpContext } from '../support/tcp-context.js';

const seq = (base: number, n: number): number => (base + n) >>> 0;

describe('TCP stalls: receive side (guest → host)', () => {
  it('answers the guest zero-window probe, so a lost window update cannot stall guest → host', async () => {
    const t = new TcpContext();
    const c = await t.open({ wscale: 7, mss: 1460 });
    // The host reader falls behind: our window closes.
    c.stream.pendingWriteBytes = RECEIVE_BUFFER;
    const closed = t.guestData(c, 'x'.repeat(1000), c.remoteFirst);
    expect(closed.map((s) => s.window)).toEqual([0]);
    // It catches up; the window update we send is lost on the way to the guest.
    c.stream.pendingWriteBytes = 0;
    c.stream.events.onDrain();
    expect((await t.drain()).map((s) => s.window << 7)).toEqual([RECEIVE_BUFFER]);
    // The guest's persist timer probes with SEG.SEQ = SND.UNA - 1 and no payload (Linux
    // tcp_xmit_probe_skb): the answer carries the open window.
    const probe = t.inject(t.spec(c, { flags: TCP_ACK, seq: seq(c.guestNext, -1) }));
    expect(probe.map((s) => [flagNames(s.flags), s.ack, s.window << 7])).toEqual([['ACK', c.guestNext, RECEIVE_BUFFER]]);
    // Unanswered probes back off; an answered one is answered every time.
    expect(t.inject(t.spec(c, { flags: TCP_ACK, seq: seq(c.guestNext, -1) }))).toHaveLength(1);
  });

  it('answers a keep-alive (the same old-sequence ACK on an idle flow)', async () => {
    const t = new TcpContext();
    const c = await t.open({ mss: 1460 });
    t.guestData(c, 'hello', c.remoteFirst);
    await t.drain();
    const out = t.inject(t.spec(c, { flags: TCP_ACK, seq: seq(c.guestNext, -1) }));
    expect(out.map((s) => [flagNames(s.flags), s.ack])).toEqual([['ACK', c.guestNext]]);
    expect(c.stream.text()).toBe('hello');
  });

  it('still sends nothing for an ordinary pure ACK (in sequence)', async () => {
    const t = new TcpContext();
    const c = await t.open({ mss: 1000 });
    const sent = await t.hostData(c, 'a'.repeat(500));
    expect(t.inject(t.spec(c, { flags: TCP_ACK, ack: seq(sent[0].seq, 500) }))).toEqual([]);
  });
});
