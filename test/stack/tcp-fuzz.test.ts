/**
 * 10,000 random and mutated TCP frames against live flows (established with every option, half-way
 * through a handshake, connecting): the engine never throws, every frame is counted once (dropped
 * with a reason, or taken), whatever it answers is well formed, and it still works afterwards.
 */
import { describe, expect, it } from 'vitest';
import { FRAME_CHECKSUM_PARTIAL } from '../../src/link/link.js';
import { ETHERNET_HEADER_LENGTH } from '../../src/wire/ethernet.js';
import { seededRandom } from '../support/stack-context.js';
import { decode, guestSegment, TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN, TcpContext, type SegmentSpec } from '../support/tcp-context.js';

/** Recomputes the TCP checksum of an Ethernet/IPv4(20)/TCP frame in place (so mutations get past it). */
function fixTcpChecksum(frame: Uint8Array): void {
  const ip = ETHERNET_HEADER_LENGTH;
  const l4 = ip + 20;
  if (frame.length < l4 + 18) return;
  frame[l4 + 16] = 0;
  frame[l4 + 17] = 0;
  let sum = 0;
  for (let i = 12; i < 20; i += 2) sum += (frame[ip + i] << 8) | frame[ip + i + 1];
  const length = frame.length - l4;
  sum += 6 + length;
  for (let i = 0; i < length; i += 2) sum += (frame[l4 + i] << 8) | (i + 1 < length ? frame[l4 + i + 1] : 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  const c = ~sum & 0xffff;
  frame[l4 + 16] = c >> 8;
  frame[l4 + 17] = c & 0xff;
}

describe('TCP fuzz', () => {
  it('10,000 random/mutated TCP frames: no throw, each counted once, answers well formed, engine still works', async () => {
    const t = new TcpContext({ limits: { tcpFlows: 64 } });
    const random = seededRandom(0x7c9);
    const c = await t.open({ mss: 1460, wscale: 7, sackPermitted: true, ts: true });
    await t.hostData(c, 'h'.repeat(5000)); // bytes in flight, so ACK/SACK processing has work
    const base = c.guestNext;
    const templates: SegmentSpec[] = [
      t.spec(c, { flags: TCP_ACK | TCP_PSH, payload: 'x'.repeat(300) }),
      t.spec(c, { flags: TCP_ACK, seq: base + 1000, payload: 'y'.repeat(500), sack: [[c.remoteFirst + 1460, c.remoteFirst + 2920]] }),
      t.spec(c, { flags: TCP_ACK, ack: c.remoteFirst + 1460, sack: [[c.remoteFirst + 2920, c.remoteFirst + 4380], [c.remoteFirst + 100, c.remoteFirst + 200]] }),
      t.spec(c, { flags: TCP_ACK | TCP_FIN, seq: base + 2000 }),
      t.spec(c, { flags: TCP_RST, seq: base + 5 }),
      t.spec(c, { flags: TCP_SYN, seq: 99 }),
      { srcPort: 41000, seq: 5, flags: TCP_SYN, mss: 1460, wscale: 14, sackPermitted: true, ts: [1, 0] },
      { srcPort: 41001, seq: 5, flags: TCP_ACK, ack: 77, payload: 'zz' },
    ];
    const frames = templates.map(guestSegment);
    let answered = 0;
    const N = 10_000;
    for (let i = 0; i < N; i++) {
      const kind = i % 4;
      let frame: Uint8Array;
      if (kind === 0) {
        // Random TCP header and payload behind a valid IP header, checksum fixed.
        const template = frames[Math.floor(random() * frames.length)];
        frame = template.slice(0, ETHERNET_HEADER_LENGTH + 20 + Math.floor(random() * 120));
        for (let j = ETHERNET_HEADER_LENGTH + 20; j < frame.length; j++) frame[j] = Math.floor(random() * 256);
        // Mostly to our flows' ports, so the state machines get the garbage.
        if (random() < 0.7 && frame.length >= ETHERNET_HEADER_LENGTH + 24) frame.set(template.subarray(ETHERNET_HEADER_LENGTH + 20, ETHERNET_HEADER_LENGTH + 24), ETHERNET_HEADER_LENGTH + 20);
        frame[ETHERNET_HEADER_LENGTH + 2] = (frame.length - ETHERNET_HEADER_LENGTH) >> 8;
        frame[ETHERNET_HEADER_LENGTH + 3] = (frame.length - ETHERNET_HEADER_LENGTH) & 0xff;
        fixIpChecksum(frame);
        fixTcpChecksum(frame);
      } else {
        // A valid segment with a few bytes of its TCP part (header, options, payload) changed.
        frame = frames[Math.floor(random() * frames.length)].slice();
        for (let flips = 1 + Math.floor(random() * 3); flips > 0; flips--) {
          const at = ETHERNET_HEADER_LENGTH + 20 + Math.floor(random() * (frame.length - ETHERNET_HEADER_LENGTH - 20));
          frame[at] = Math.floor(random() * 256);
        }
        if (kind !== 3) fixTcpChecksum(frame); // kind 3 keeps the bad checksum: must be dropped
        if (kind === 2 && random() < 0.3) frame = frame.slice(0, frame.length - 1 - Math.floor(random() * 20)); // truncated
      }
      const dropsBefore = t.stack.stats.totalDrops;
      expect(() => t.base.link.inject([frame], [random() < 0.1 ? FRAME_CHECKSUM_PARTIAL : 0])).not.toThrow();
      const delta = t.stack.stats.totalDrops - dropsBefore;
      expect(delta === 0 || delta === 1, `frame ${i} counted ${delta} times`).toBe(true);
      // Whatever goes back to the guest is well formed (IPv4 and TCP checksums verified).
      for (const out of t.base.link.take()) {
        decode(out);
        answered++;
      }
      // Host-side events arrive now and then, too.
      if (i % 500 === 499) {
        for (const s of t.port.streams) {
          if (random() < 0.5) s.events.onConnect();
          else s.events.onData(Buffer.from('host bytes'));
        }
        await t.drain(); // decodes (and so checks) what it returns
      }
    }
    expect(t.stack.stats.framesIn).toBe(N + 2 /* the handshake */);
    expect(t.stack.stats.totalDrops).toBeGreaterThan(N / 4);
    expect(answered).toBeGreaterThan(0);
    expect(t.engine.size).toBeLessThanOrEqual(64);
    // Timers run and end what they should; then a fresh connection works.
    for (let k = 0; k < 30; k++) await t.advance(60_000);
    const fresh = await t.open({ srcPort: 50123, mss: 1000 });
    t.guestData(fresh, 'still alive', fresh.remoteFirst);
    expect(fresh.stream.text()).toBe('still alive');
  });
});

function fixIpChecksum(frame: Uint8Array): void {
  const ip = ETHERNET_HEADER_LENGTH;
  frame[ip + 10] = 0;
  frame[ip + 11] = 0;
  let sum = 0;
  for (let i = 0; i < 20; i += 2) sum += (frame[ip + i] << 8) | frame[ip + i + 1];
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  const c = ~sum & 0xffff;
  frame[ip + 10] = c >> 8;
  frame[ip + 11] = c & 0xff;
}
