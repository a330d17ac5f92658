/**
 * Steady state, packet by packet: data both ways, ACK coalescing, out-of-order and duplicate
 * segments with SACK blocks, our window from real buffer room, the guest's window honoured (zero
 * window probes), backpressure on the host socket, and super-segments with link offloads.
 */
import { describe, expect, it } from 'vitest';
import { RECEIVE_BUFFER } from '../../src/stack/tcp/flow.js';
import { flagNames, guestSegment, TCP_ACK, TCP_PSH, TcpContext } from '../support/tcp-context.js';

const seq = (base: number, n: number): number => (base + n) >>> 0;

describe('TCP data (guest → host)', () => {
  it('delivers in-order bytes to the host and coalesces ACKs to one per batch', async () => {
    const t = new TcpContext();
    const c = await t.open({ wscale: 7, sackPermitted: true });
    const a = t.spec(c, { flags: TCP_ACK | TCP_PSH, payload: 'hello ' });
    const b = t.spec(c, { flags: TCP_ACK | TCP_PSH, payload: 'world', seq: seq(c.guestNext, 6) });
    const out = t.inject(a, b);
    c.guestNext = seq(c.guestNext, 11);
    expect(c.stream.text()).toBe('hello world');
    expect(out).toHaveLength(1);
    expect(flagNames(out[0].flags)).toBe('ACK');
    expect(out[0].ack).toBe(c.guestNext);
    expect(out[0].seq).toBe(c.remoteFirst);
  });

  it('keeps out-of-order segments, SACKs them at once, and delivers when the hole fills', async () => {
    const t = new TcpContext();
    const c = await t.open({ wscale: 7, sackPermitted: true });
    const base = c.guestNext;
    let out = t.inject(t.spec(c, { flags: TCP_ACK, payload: 'CCCC', seq: seq(base, 8) }));
    expect(out).toHaveLength(1);
    expect(out[0].ack).toBe(base);
    expect(out[0].sack).toEqual([[seq(base, 8), seq(base, 12)]]);
    out = t.inject(t.spec(c, { flags: TCP_ACK, payload: 'BBBB', seq: seq(base, 4) }));
    expect(out[0].sack).toEqual([[seq(base, 4), seq(base, 12)]]);
    expect(c.stream.text()).toBe('');
    out = t.inject(t.spec(c, { flags: TCP_ACK, payload: 'AAAA', seq: base }));
    expect(c.stream.text()).toBe('AAAABBBBCCCC');
    expect(out).toHaveLength(1);
    expect(out[0].ack).toBe(seq(base, 12));
    expect(out[0].sack).toEqual([]);
  });

  it('trims duplicates and overlaps, and ACKs a pure duplicate at once', async () => {
    const t = new TcpContext();
    const c = await t.open({ sackPermitted: true });
    const base = c.guestNext;
    t.guestData(c, 'abcdef', c.remoteFirst);
    const dup = t.inject(t.spec(c, { flags: TCP_ACK, payload: 'abcdef', seq: base }));
    expect(dup).toHaveLength(1);
    expect(dup[0].ack).toBe(seq(base, 6));
    // Overlap: "defghi" at base+3 adds only "ghi".
    t.inject(t.spec(c, { flags: TCP_ACK, payload: 'defghi', seq: seq(base, 3) }));
    expect(c.stream.text()).toBe('abcdefghi');
    // Overlapping out-of-order pieces are stored once.
    t.inject(t.spec(c, { flags: TCP_ACK, payload: 'mnop', seq: seq(base, 12) }));
    t.inject(t.spec(c, { flags: TCP_ACK, payload: 'lmnopq', seq: seq(base, 11) }));
    t.inject(t.spec(c, { flags: TCP_ACK, payload: 'jk', seq: seq(base, 9) }));
    expect(c.stream.text()).toBe('abcdefghijklmnopq');
  });

  it('drops data outside the window and re-acknowledges', async () => {
    const t = new TcpContext();
    const c = await t.open({ wscale: 7 });
    const far = seq(c.guestNext, RECEIVE_BUFFER + 100_000);
    const out = t.inject(t.spec(c, { flags: TCP_ACK, payload: 'zz', seq: far }));
    expect(out).toHaveLength(1);
    expect(out[0].ack).toBe(c.guestNext);
    expect(c.stream.text()).toBe('');
  });

  it('advertises real room: shrinks while the host socket is backed up, updates on drain', async () => {
    const t = new TcpContext();
    const c = await t.open({ wscale: 7 });
    const first = t.guestData(c, 'x'.repeat(1000), c.remoteFirst);
    const full = first[0].window << 7;
    c.stream.pendingWriteBytes = RECEIVE_BUFFER - 256 * 1024;
    const second = t.guestData(c, 'y'.repeat(1000), c.remoteFirst);
    expect(second[0].window << 7).toBeLessThanOrEqual(256 * 1024);
    c.stream.pendingWriteBytes = RECEIVE_BUFFER;
    const third = t.guestData(c, 'z'.repeat(1000), c.remoteFirst);
    expect(third[0].window).toBe(0);
    c.stream.pendingWriteBytes = 0;
    c.stream.events.onDrain();
    const update = await t.drain();
    expect(update).toHaveLength(1);
    expect(update[0].window << 7).toBe(full);
  });
});

describe('TCP data (guest → host): memory of the bytes gathered for the host', () => {
  it('reuses a slab once the host took every write from it, never while a write or a gathered run still needs it', async () => {
    const t = new TcpContext();
    // Host streams that keep the view they were given and read it only when they complete the write,
    // later: memory the engine reused too early shows as wrong bytes.
    const conns = [await t.open({ srcPort: 1001, wscale: 7 }), await t.open({ srcPort: 1002, wscale: 7 })];
    const received = conns.map(() => [] as Buffer[]);
    const unfinished: (() => void)[] = [];
    conns.forEach((c, i) => {
      c.stream.write = (data: Uint8Array, onWritten?: () => void) => {
        unfinished.push(() => {
          received[i].push(Buffer.from(data));
          onWritten?.();
        });
      };
    });
    const pattern = (flow: number, at: number, length: number): Buffer => {
      const b = Buffer.alloc(length);
      for (let k = 0; k < length; k++) b[k] = (flow * 101 + (at + k) * 7 + ((at + k) >>> 11)) & 0xff;
      return b;
    };
    const sent = [0, 0];
    const buffers = new Set<ArrayBufferLike>();
    const capture = (): void => {
      for (const c of conns) {
        const original = c.stream.write;
        c.stream.write = (data: Uint8Array, onWritten?: () => void) => {
          buffers.add(data.buffer);
          original(data, onWritten);
        };
      }
    };
    capture();
    // 100 batches of 2 × 60 KB (one segment each flow): 12 MB through 1 MiB slabs. Writes complete
    // two batches late, so slabs are retired while writes and runs from them are outstanding.
    for (let batch = 0; batch < 100; batch++) {
      const specs = conns.map((c, i) => {
        const payload = pattern(i, sent[i], 60_000);
        const spec = t.spec(c, { flags: TCP_ACK | TCP_PSH, payload });
        c.guestNext = (c.guestNext + payload.length) >>> 0;
        sent[i] += payload.length;
        return spec;
      });
      t.inject(...specs);
      if (unfinished.length > 4) for (const finish of unfinished.splice(0, unfinished.length - 4)) finish();
    }
    for (const finish of unfinished.splice(0)) finish();
    conns.forEach((_, i) => expect(Buffer.concat(received[i]).equals(pattern(i, 0, sent[i]))).toBe(true));
    // 12 MB went through a handful of slabs, not one new megabyte per megabyte.
    expect(buffers.size).toBeLessThanOrEqual(6);
  });
});

describe('TCP data (host → guest)', () => {
  it('sends host bytes as MSS segments, one read per send, and stops at the guest window', async () => {
    const t = new TcpContext({ mtu: 1500 });
    const c = await t.open({ mss: 1000, window: 3000 });
    const out = await t.hostData(c, 'a'.repeat(5000));
    expect(out.map((s) => s.payload.length)).toEqual([1000, 1000, 1000]);
    expect(out.map((s) => s.seq)).toEqual([c.remoteFirst, seq(c.remoteFirst, 1000), seq(c.remoteFirst, 2000)]);
    expect(out.every((s) => s.ack === c.guestNext)).toBe(true);
    const more = t.inject(t.spec(c, { flags: TCP_ACK, ack: seq(c.remoteFirst, 2000), window: 3000 }));
    expect(more.map((s) => [s.seq - c.remoteFirst, s.payload.length])).toEqual([
      [3000, 1000],
      [4000, 1000],
    ]);
  });

  it('uses the guest MSS (minus timestamps) and the window scale of the guest', async () => {
    const t = new TcpContext({ mtu: 9000 });
    const c = await t.open({ mss: 1460, wscale: 2, ts: true, window: 1000 }); // 4000 bytes
    const out = await t.hostData(c, 'b'.repeat(10_000));
    // 1104 bytes of window left is less than an MSS: wait (silly window avoidance) until an ACK.
    expect(out.map((s) => s.payload.length)).toEqual([1448, 1448]);
    expect(out[0].ts).not.toBeNull();
    const more = t.inject(t.spec(c, { flags: TCP_ACK, ack: seq(c.remoteFirst, 2896), window: 1000 }));
    expect(more.map((s) => s.payload.length)).toEqual([1448, 1448]);
  });

  it('probes a zero window with backoff and resumes when it opens', async () => {
    const t = new TcpContext();
    const c = await t.open({ mss: 1000, window: 1000 });
    const out = await t.hostData(c, 'q'.repeat(3000));
    expect(out).toHaveLength(1);
    // The guest takes it but closes its window.
    expect(t.inject(t.spec(c, { flags: TCP_ACK, ack: seq(c.remoteFirst, 1000), window: 0 }))).toEqual([]);
    const probe1 = await t.advance(1000);
    expect(probe1).toHaveLength(1);
    expect(probe1[0].seq).toBe(seq(c.remoteFirst, 999)); // an old sequence number: forces an ACK
    expect(probe1[0].payload.length).toBe(0);
    expect(await t.advance(1500)).toEqual([]);
    const probe2 = await t.advance(600);
    expect(probe2).toHaveLength(1);
    // Window opens: data flows again, and is not taken for a duplicate ACK.
    const resumed = t.inject(t.spec(c, { flags: TCP_ACK, ack: seq(c.remoteFirst, 1000), window: 5000 }));
    expect(resumed.map((s) => s.payload.length)).toEqual([1000, 1000]);
  });

  it('pauses the host socket when the send buffer is full and resumes as the guest acknowledges', async () => {
    const t = new TcpContext();
    const c = await t.open({ mss: 1460, wscale: 14, window: 0xffff });
    const chunk = new Uint8Array(1024 * 1024);
    let sent = await t.hostData(c, chunk);
    for (let i = 0; i < 4; i++) await t.hostData(c, chunk);
    expect(c.stream.paused).toBe(true);
    // The guest acknowledges everything sent so far, each time; slow start lets the buffer out.
    let rounds = 0;
    while (c.stream.paused && sent.length > 0 && rounds++ < 100) {
      const last = sent[sent.length - 1];
      sent = t.inject(t.spec(c, { flags: TCP_ACK, ack: seq(last.seq, last.payload.length), window: 0xffff }));
    }
    expect(c.stream.paused).toBe(false);
    expect(rounds).toBeLessThan(20);
  });

  it('cuts nothing with TSO: super-segments up to 64 KiB with gsoSize = MSS, checksum left partial', async () => {
    const t = new TcpContext({ mtu: 1500, offloads: { tso: true, txChecksumOffload: true, rxChecksumPartial: true } });
    const c = await t.open({ mss: 1460, wscale: 7, window: 0xffff });
    c.stream.events.onData(new Uint8Array(200_000));
    await Promise.resolve();
    await Promise.resolve();
    const sent = t.base.link.takeWithInfo();
    expect(sent.length).toBeGreaterThan(0);
    // The initial congestion window (10 segments) goes out as one super-segment.
    const first = sent[0];
    expect(sent).toHaveLength(1);
    expect(first.info?.gsoSize).toBe(1460);
    expect(first.info?.checksumStart).toBe(34);
    expect(first.info?.checksumOffset).toBe(16);
    expect(first.frame.length - 14 - 20 - 20).toBe(14600);
    // Once the window has grown, segments are as large as an IPv4 packet allows, in MSS multiples.
    let acked = 14600;
    const big: typeof sent = [];
    for (let round = 0; round < 3; round++) {
      t.base.link.inject(guestSegment(t.spec(c, { flags: TCP_ACK, ack: seq(c.remoteFirst, acked), window: 0xffff })));
      const out = t.base.link.takeWithInfo();
      for (const f of out) acked += f.frame.length - 54;
      big.push(...out);
    }
    expect(Math.max(...big.map((f) => f.frame.length - 54))).toBe(Math.floor((65535 - 80) / 1460) * 1460);
    expect(big.every((f) => f.frame.length - 54 <= 1460 || f.info?.gsoSize === 1460)).toBe(true);
  });
});
