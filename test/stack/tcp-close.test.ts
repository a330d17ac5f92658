/**
 * Teardown, packet by packet: FIN from either side (half-close keeps the other direction flowing),
 * simultaneous close, RST both ways, TIME-WAIT and idle bounds, and that a finished flow leaves no
 * timer and no table entry behind. Also openToGuest (published ports): SYN with retries and timeout.
 */
import { describe, expect, it } from 'vitest';
import { parseIpv4 } from '../../src/wire/ip-address.js';
import { FakeHostStream, flagNames, GUEST_IP, TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN, TcpContext } from '../support/tcp-context.js';

const seq = (base: number, n: number): number => (base + n) >>> 0;

describe('TCP close', () => {
  it('guest FIN half-closes the host socket; host data keeps flowing; host end closes the flow', async () => {
    const t = new TcpContext();
    const c = await t.open({ mss: 1000 });
    t.guestData(c, 'request', c.remoteFirst);
    // The FIN alone, the host open: its ACK waits for a segment of ours to carry it (up to 20 ms).
    const fin = t.inject(t.spec(c, { flags: TCP_ACK | TCP_FIN }));
    expect(fin).toEqual([]);
    c.guestNext = seq(c.guestNext, 1);
    expect(c.stream.ended).toBe(true);
    expect(c.stream.text()).toBe('request');
    // The host answers after the guest's FIN: the answer acknowledges the FIN, and no ACK follows alone.
    const reply = await t.hostData(c, 'response');
    expect(reply.map((s) => [s.payload.toString(), s.ack])).toEqual([['response', c.guestNext]]);
    expect(await t.advance(30)).toEqual([]);
    c.stream.events.onEnd();
    const ourFin = await t.drain();
    expect(ourFin.map((s) => flagNames(s.flags))).toEqual(['FIN|ACK']);
    expect(ourFin[0].seq).toBe(seq(c.remoteFirst, 8));
    t.inject(t.spec(c, { flags: TCP_ACK, ack: seq(c.remoteFirst, 9) }));
    // LAST-ACK → CLOSED at the ACK of our FIN (RFC 9293): gone at once, no deadline left, no linger
    // (the guest, which closed first, keeps the TIME-WAIT). A stray copy of its FIN gets a reset.
    expect(t.engine.size).toBe(0);
    await t.expectNoTimerLeft();
    const again = t.inject(t.spec(c, { flags: TCP_ACK | TCP_FIN, seq: seq(c.guestNext, -1), ack: seq(c.remoteFirst, 9) }));
    expect(again.map((s) => flagNames(s.flags))).toEqual(['RST']);
  });

  it("the guest's FIN alone is acknowledged by our FIN when the host ends within 20 ms (one FIN|ACK for the two), else by an ACK alone", async () => {
    for (const hostEndsAfter of [5, -1]) {
      const t = new TcpContext();
      const c = await t.open({ mss: 1000 });
      expect(t.inject(t.spec(c, { flags: TCP_ACK | TCP_FIN }))).toEqual([]);
      c.guestNext = seq(c.guestNext, 1);
      expect(c.stream.ended).toBe(true); // the shutdown that usually makes the host end at once
      if (hostEndsAfter >= 0) {
        expect(await t.advance(hostEndsAfter)).toEqual([]);
        c.stream.events.onEnd();
        const out = await t.drain();
        expect(out.map((s) => [flagNames(s.flags), s.seq, s.ack])).toEqual([['FIN|ACK', c.remoteFirst, c.guestNext]]);
        expect(await t.advance(100)).toEqual([]); // the owed ACK went with the FIN
        expect(t.inject(t.spec(c, { flags: TCP_ACK, ack: seq(c.remoteFirst, 1) }))).toEqual([]);
        expect(t.engine.size).toBe(0);
      } else {
        const out = await t.advance(30);
        expect(out.map((s) => [flagNames(s.flags), s.ack])).toEqual([['ACK', c.guestNext]]);
      }
    }
  });

  it('host end sends FIN after the queued data; the guest keeps sending until its own FIN', async () => {
    const t = new TcpContext();
    const c = await t.open({ mss: 1000 });
    c.stream.events.onData(Buffer.from('bye'));
    c.stream.events.onEnd();
    const out = await t.drain();
    expect(out.map((s) => [flagNames(s.flags), s.payload.toString()])).toEqual([
      ['PSH|ACK', 'bye'],
      ['FIN|ACK', ''],
    ]);
    t.inject(t.spec(c, { flags: TCP_ACK, ack: seq(c.remoteFirst, 4) }));
    t.guestData(c, 'still talking', seq(c.remoteFirst, 4));
    expect(c.stream.text()).toBe('still talking');
    const fin = t.inject(t.spec(c, { flags: TCP_ACK | TCP_FIN, ack: seq(c.remoteFirst, 4) }));
    expect(fin.map((s) => flagNames(s.flags))).toEqual(['ACK']);
    expect(c.stream.ended).toBe(true);
    await t.advance(3000);
    expect(t.engine.size).toBe(0);
  });

  it('simultaneous close: both FINs cross', async () => {
    const t = new TcpContext();
    const c = await t.open();
    c.stream.events.onEnd();
    const ours = await t.drain();
    expect(flagNames(ours[0].flags)).toBe('FIN|ACK');
    // The guest's FIN does not acknowledge ours yet.
    const out = t.inject(t.spec(c, { flags: TCP_ACK | TCP_FIN, ack: c.remoteFirst }));
    expect(out[0].ack).toBe(seq(c.guestNext, 1));
    c.guestNext = seq(c.guestNext, 1);
    t.inject(t.spec(c, { flags: TCP_ACK, ack: seq(c.remoteFirst, 1) }));
    await t.advance(3000);
    expect(t.engine.size).toBe(0);
    expect(t.clock.pendingTimers).toBe(0);
  });

  it('retransmits a lost FIN', async () => {
    const t = new TcpContext();
    const c = await t.open();
    c.stream.events.onEnd();
    await t.drain();
    const again = await t.advance(1100);
    expect(again.map((s) => flagNames(s.flags))).toEqual(['FIN|ACK']);
  });

  it('guest RST at the expected sequence aborts the host socket; others get a challenge ACK', async () => {
    const t = new TcpContext();
    const c = await t.open();
    const challenge = t.inject(t.spec(c, { flags: TCP_RST, seq: seq(c.guestNext, 5000) }));
    expect(challenge.map((s) => flagNames(s.flags))).toEqual(['ACK']);
    expect(t.engine.size).toBe(1);
    expect(t.inject(t.spec(c, { flags: TCP_RST }))).toEqual([]);
    expect(c.stream.wasReset).toBe(true);
    expect(t.engine.size).toBe(0);
    // The flow was the only one waiting for a deadline: nothing of it is left to run.
    await t.expectNoTimerLeft();
  });

  it('host socket error or close without an orderly end resets the guest', async () => {
    const t = new TcpContext();
    const c = await t.open();
    c.stream.events.onError(0, 'ECONNRESET');
    c.stream.events.onClose();
    const out = await t.drain();
    expect(out.map((s) => flagNames(s.flags))).toEqual(['RST|ACK']);
    expect(out[0].seq).toBe(c.remoteFirst);
    expect(t.engine.size).toBe(0);
  });

  it('bounds a half-closed idle flow', async () => {
    const t = new TcpContext();
    const c = await t.open();
    t.inject(t.spec(c, { flags: TCP_ACK | TCP_FIN }));
    expect(t.engine.size).toBe(1);
    const out = await t.advance(11 * 60_000);
    expect(out.map((s) => flagNames(s.flags))).toContain('RST|ACK');
    expect(t.engine.size).toBe(0);
    expect(c.stream.wasReset || c.stream.destroyed).toBe(true);
  });

  it('1000 flows open, exchange data and close: table and timers empty afterwards', async () => {
    const t = new TcpContext();
    const conns = [];
    for (let i = 0; i < 1000; i++) conns.push(await t.open({ srcPort: 20000 + i }));
    expect(t.engine.size).toBe(1000);
    for (const c of conns) {
      t.guestData(c, `ping ${c.srcPort}`, c.remoteFirst);
      const reply = await t.hostData(c, `pong ${c.srcPort}`);
      expect(reply[0].payload.toString()).toBe(`pong ${c.srcPort}`);
      expect(c.stream.text()).toBe(`ping ${c.srcPort}`);
      const ack = seq(c.remoteFirst, reply[0].payload.length);
      t.inject(t.spec(c, { flags: TCP_ACK | TCP_FIN, ack }));
      c.guestNext = seq(c.guestNext, 1);
      c.stream.events.onEnd();
      await t.drain();
      t.inject(t.spec(c, { flags: TCP_ACK, ack: seq(ack, 1) }));
    }
    await t.advance(5000);
    expect(t.engine.size).toBe(0);
    expect(t.clock.pendingTimers).toBe(0);
  });
});

describe('openToGuest (published ports)', () => {
  const client = parseIpv4('198.18.0.2')!;

  it('sends SYN from the client address, completes on SYN-ACK and resumes the host socket', async () => {
    const t = new TcpContext();
    t.learnGuest();
    let stream: FakeHostStream | undefined;
    const ok = t.engine.openToGuest({ guestAddress: GUEST_IP, guestPort: 8080, remoteAddress: client, remotePort: 50000 }, (events) => {
      stream = new FakeHostStream({ address: '198.18.0.2', port: 50000 });
      stream.events = events;
      return stream;
    });
    expect(ok).toBe(true);
    const [syn] = await t.drain();
    expect(flagNames(syn.flags)).toBe('SYN');
    expect(syn.src).toBe(client);
    expect(syn.srcPort).toBe(50000);
    expect(syn.dstPort).toBe(8080);
    expect(syn.mss).toBe(1460);
    expect(syn.wscale).toBe(7);
    expect(syn.sackPermitted).toBe(true);
    expect(syn.ts).not.toBeNull();
    expect(stream!.paused).toBe(true);
    // A second open on the same tuple is refused while this one lives.
    expect(t.engine.openToGuest({ guestAddress: GUEST_IP, guestPort: 8080, remoteAddress: client, remotePort: 50000 }, () => new FakeHostStream({ address: '', port: 0 }))).toBe(false);
    const out = t.inject({ src: GUEST_IP, dst: client, srcPort: 8080, dstPort: 50000, seq: 7000, ack: seq(syn.seq, 1), flags: TCP_SYN | TCP_ACK, mss: 1460, wscale: 7, sackPermitted: true, ts: [1, syn.ts![0]] });
    expect(out.map((s) => flagNames(s.flags))).toEqual(['ACK']);
    expect(out[0].ack).toBe(7001);
    expect(stream!.paused).toBe(false);
    t.inject({ src: GUEST_IP, dst: client, srcPort: 8080, dstPort: 50000, seq: 7001, ack: seq(syn.seq, 1), flags: TCP_ACK, payload: 'hi', ts: [2, syn.ts![0]] });
    expect(stream!.text()).toBe('hi');
  });

  it('retries the SYN with backoff, then gives up and closes the host socket', async () => {
    const t = new TcpContext();
    t.learnGuest();
    let stream: FakeHostStream | undefined;
    t.engine.openToGuest({ guestAddress: GUEST_IP, guestPort: 8080, remoteAddress: client, remotePort: 50001 }, (events) => {
      stream = new FakeHostStream({ address: '198.18.0.2', port: 50001 });
      stream.events = events;
      return stream;
    });
    const first = await t.drain();
    expect(first).toHaveLength(1);
    const retries = await t.advance(120_000);
    expect(retries.map((s) => flagNames(s.flags))).toEqual(['SYN', 'SYN', 'SYN', 'SYN', 'SYN']);
    expect(retries.every((s) => s.seq === first[0].seq)).toBe(true);
    expect(t.engine.size).toBe(0);
    expect(stream!.destroyed).toBe(true);
  });

  it('a new client on the tuple of a connection in TIME-WAIT replaces it (busy clients reuse ports within 2 s)', async () => {
    const t = new TcpContext();
    t.learnGuest();
    const tuple = { guestAddress: GUEST_IP, guestPort: 8080, remoteAddress: client, remotePort: 50003 };
    const open = (): { stream: () => FakeHostStream | undefined; ok: boolean } => {
      let stream: FakeHostStream | undefined;
      const ok = t.engine.openToGuest(tuple, (events) => {
        stream = new FakeHostStream({ address: '198.18.0.2', port: 50003 });
        stream.events = events;
        return stream;
      });
      return { stream: () => stream, ok };
    };
    const first = open();
    const [syn] = await t.drain();
    const guest = { src: GUEST_IP, dst: client, srcPort: 8080, dstPort: 50003 };
    t.inject({ ...guest, seq: 7000, ack: seq(syn.seq, 1), flags: TCP_SYN | TCP_ACK, mss: 1460 });
    // The client closes first; the guest answers with its own FIN; we acknowledge it: TIME-WAIT.
    first.stream()!.events.onEnd();
    const [ourFin] = await t.drain();
    expect(flagNames(ourFin.flags)).toBe('FIN|ACK');
    t.inject({ ...guest, seq: 7001, ack: seq(syn.seq, 2), flags: TCP_ACK | TCP_FIN });
    expect(t.engine.size).toBe(1);
    expect(first.stream()!.destroyed).toBe(true);
    // 1 s later the client's kernel hands the same port to a new connection.
    await t.advance(1000);
    const second = open();
    expect(second.ok).toBe(true);
    const [syn2] = await t.drain();
    expect(flagNames(syn2.flags)).toBe('SYN');
    expect(((syn2.seq - seq(syn.seq, 2)) >>> 0) > 0 && ((syn2.seq - seq(syn.seq, 2)) >>> 0) < 0x80000000).toBe(true); // beyond the old sequence space
    const out = t.inject({ ...guest, seq: 90000, ack: seq(syn2.seq, 1), flags: TCP_SYN | TCP_ACK, mss: 1460 });
    expect(out.map((s) => flagNames(s.flags))).toEqual(['ACK']);
    expect(second.stream()!.paused).toBe(false);
    expect(t.engine.size).toBe(1);
    // A live connection on the tuple still refuses a second one.
    expect(open().ok).toBe(false);
  });

  it('a guest RST (port closed) closes the host socket', async () => {
    const t = new TcpContext();
    t.learnGuest();
    let stream: FakeHostStream | undefined;
    t.engine.openToGuest({ guestAddress: GUEST_IP, guestPort: 8081, remoteAddress: client, remotePort: 50002 }, (events) => {
      stream = new FakeHostStream({ address: '198.18.0.2', port: 50002 });
      stream.events = events;
      return stream;
    });
    const [syn] = await t.drain();
    t.inject({ src: GUEST_IP, dst: client, srcPort: 8081, dstPort: 50002, seq: 0, ack: seq(syn.seq, 1), flags: TCP_RST | TCP_ACK });
    expect(t.engine.size).toBe(0);
    expect(stream!.destroyed).toBe(true);
  });
});
