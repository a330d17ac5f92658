/**
 * The output path's flush rule (src/stack/frame-transmitter.ts): frames sent during a received batch
 * leave in that batch's one flush; frames sent from a host socket event or a timer leave in one flush
 * at the end of that tick, though no sender asks for it (before, each of 12 call sites had to call
 * flushSoon(), and one was missed once: commit d9600ff). Counted per link flush with MemoryLink's
 * listener.
 */
import { describe, expect, it } from 'vitest';
import { decode, flagNames, TCP_ACK, TCP_PSH, TcpContext } from '../support/tcp-context.js';
import { createUdpContext, decodeUdp, ip } from '../support/udp-context.js';

/** Frames per link flush, as the link saw them. */
function countFlushes(link: { onTransmit: ((frames: Uint8Array[]) => void) | undefined }): number[] {
  const flushes: number[] = [];
  link.onTransmit = (frames) => flushes.push(frames.length);
  return flushes;
}

const endOfTick = (): Promise<void> => Promise.resolve();

describe('flush rule', () => {
  it('host bytes reach the link at the end of the tick, two reads of one tick in one flush', async () => {
    const t = new TcpContext();
    const c = await t.open({ wscale: 7, sackPermitted: true });
    const flushes = countFlushes(t.base.link);
    c.stream.events.onData(Buffer.from('first '));
    c.stream.events.onData(Buffer.from('second'));
    expect(flushes, 'nothing leaves before the end of the tick').toEqual([]);
    await endOfTick();
    expect(flushes).toEqual([2]);
    const segments = t.base.link.take().map((frame) => decode(frame));
    expect(segments.map((s) => s.payload.toString())).toEqual(['first ', 'second']);
    expect(segments.every((s) => flagNames(s.flags) === 'PSH|ACK')).toBe(true);
    await endOfTick();
    expect(flushes, 'no second flush without a second send').toEqual([2]);
  });

  it("a host socket's connect answers the guest (SYN-ACK) with nobody flushing", async () => {
    const t = new TcpContext();
    t.inject({ seq: 1000, flags: 0x02, mss: 1460 });
    const flushes = countFlushes(t.base.link);
    t.port.last.events.onConnect();
    await endOfTick();
    expect(flushes).toEqual([1]);
    expect(flagNames(decode(t.base.link.take()[0]).flags)).toBe('SYN|ACK');
  });

  it('a retransmission from a timer is flushed at the end of its tick', async () => {
    const t = new TcpContext();
    const c = await t.open({ sackPermitted: true });
    await t.hostData(c, 'lost');
    const flushes = countFlushes(t.base.link);
    t.clock.advance(1100); // the RTO (1 s initial) fires: the segment goes out again
    await endOfTick();
    expect(flushes).toEqual([1]);
    expect(decode(t.base.link.take()[0]).payload.toString()).toBe('lost');
  });

  it("a host datagram's reply reaches the guest at the end of the tick", async () => {
    const ctx = createUdpContext();
    ctx.send({ srcPort: 40000, dst: ip('10.0.2.2'), dstPort: 7, payload: 'ping' });
    const flushes = countFlushes(ctx.link);
    ctx.port.last.deliver('pong', '127.0.0.1', 7);
    ctx.port.last.deliver('pong2', '127.0.0.1', 7);
    expect(flushes).toEqual([]);
    await endOfTick();
    expect(flushes).toEqual([2]);
    expect(ctx.link.take().map((f) => decodeUdp(f).payload.toString())).toEqual(['pong', 'pong2']);
  });

  it('frames sent during a received batch leave in that batch’s one flush, with its ACK', async () => {
    const t = new TcpContext();
    const c = await t.open({ wscale: 7, sackPermitted: true });
    const flushes = countFlushes(t.base.link);
    // Guest data in two frames of one batch: one coalesced ACK, sent at the end of the batch.
    const a = t.spec(c, { flags: TCP_ACK | TCP_PSH, payload: 'ab' });
    const b = t.spec(c, { flags: TCP_ACK | TCP_PSH, payload: 'cd', seq: (c.guestNext + 2) >>> 0 });
    expect(t.inject(a, b)).toHaveLength(1);
    expect(flushes).toEqual([1]);
    await endOfTick();
    expect(flushes, 'no extra flush after the batch').toEqual([1]);
  });
});
