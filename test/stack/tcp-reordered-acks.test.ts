/**
 * ACKs the network delivered out of order (as the FaultLink of test/e2e/tcp-faults-e2e.test.ts
 * does): an older ACK must not set the send window back (RFC 9293 §3.10.7.4, SND.WL1/SND.WL2). A
 * stale zero window arriving after the guest had opened it again stopped the sender until a
 * zero-window probe (an RTO later, backing off) was answered.
 */
import { describe, expect, it } from 'vitest';
import { TCP_ACK, TcpContext } from '../support/tcp-context.js';

const seq = (base: number, n: number): number => (base + n) >>> 0;

describe('TCP ACKs that arrive out of order (host → guest sender)', () => {
  it('ignores the window of an ACK below una', async () => {
    const t = new TcpContext();
    const c = await t.open({ mss: 1000, window: 65535 });
    const at = (n: number): number => seq(c.remoteFirst, n);
    expect(await t.hostData(c, 'a'.repeat(3000))).toHaveLength(3);
    t.inject(t.spec(c, { flags: TCP_ACK, ack: at(3000), window: 65535 }));
    // The guest's earlier ACK, from when its buffer was full, comes last.
    expect(t.inject(t.spec(c, { flags: TCP_ACK, ack: at(1000), window: 0 }))).toEqual([]);
    expect((await t.hostData(c, 'b'.repeat(2000))).map((s) => s.seq)).toEqual([at(3000), at(4000)]);
  });

  it('ignores the window of an ACK with the same ACK number and an older sequence number', async () => {
    const t = new TcpContext();
    const c = await t.open({ mss: 1000, window: 65535 });
    const at = (n: number): number => seq(c.remoteFirst, n);
    const stale = t.spec(c, { flags: TCP_ACK, ack: at(0), window: 0 }); // sent before the data below
    t.guestData(c, 'x'.repeat(100), at(0), { window: 65535 });
    t.guestData(c, 'y'.repeat(100), at(0), { window: 65535 });
    // Its sequence number is below the last update's (a pure ACK at the same sequence number as a
    // later one could not be told apart: RFC 9293 takes that one).
    t.inject(stale);
    expect((await t.hostData(c, 'c'.repeat(2000))).map((s) => s.seq)).toEqual([at(0), at(1000)]);
    expect(c.stream.text()).toBe('x'.repeat(100) + 'y'.repeat(100));
  });

  it('still takes a window update from the current segment, closing and reopening', async () => {
    const t = new TcpContext();
    const c = await t.open({ mss: 1000, window: 65535 });
    const at = (n: number): number => seq(c.remoteFirst, n);
    await t.hostData(c, 'd'.repeat(1000));
    t.inject(t.spec(c, { flags: TCP_ACK, ack: at(1000), window: 0 }));
    expect(await t.hostData(c, 'e'.repeat(1000))).toEqual([]); // closed: nothing goes
    const reopened = t.inject(t.spec(c, { flags: TCP_ACK, ack: at(1000), window: 65535 }));
    expect(reopened.map((s) => s.seq)).toEqual([at(1000)]);
  });
});
