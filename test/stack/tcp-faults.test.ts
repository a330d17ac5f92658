/**
 * 1 MB each way through a FaultLink (drop, reorder, duplicate, corrupt in both directions) between
 * the engine and a scripted guest: a minimal TCP peer written here (cumulative ACKs with SACK blocks,
 * go-back-N on timeout, fast retransmit on three duplicate ACKs), on a FakeClock. The bytes must
 * arrive intact both ways, both FINs must get through, and the flow must be freed.
 */
import { describe, expect, it } from 'vitest';
import { FaultLink, type FaultProbabilities } from '../../src/link/fault-link.js';
import { MemoryLink } from '../../src/link/memory-link.js';
import { FakeClock } from '../../src/stack/clock.js';
import { HostAddressMap } from '../../src/stack/host-address-map.js';
import { SeededRandom } from '../../src/stack/random.js';
import { Stack } from '../../src/stack/stack.js';
import { installTcp } from '../../src/stack/tcp/tcp-engine.js';
import { ETHERNET_HEADER_LENGTH } from '../../src/wire/ethernet.js';
import { GATEWAY_IP, GUEST_IP, seededRandom } from '../support/stack-context.js';
import { FakeHostPort, guestSegment, TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN, type SegmentSpec } from '../support/tcp-context.js';

const SIZE = 1024 * 1024;
const GUEST_PORT = 40000;
const REMOTE_PORT = 80;
const ISS = 0xfff0_0000; // wraps during the transfer

function sum16(bytes: Uint8Array, from: number, to: number, initial: number): number {
  let sum = initial;
  for (let i = from; i < to; i += 2) sum += (bytes[i] << 8) | (i + 1 < to ? bytes[i + 1] : 0);
  return sum;
}
function fold(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

interface Parsed {
  seq: number;
  ack: number;
  flags: number;
  window: number;
  wscale: number;
  mss: number;
  payload: Uint8Array;
}

/** The guest's own decoder: IPv4 + TCP with both checksums checked; null for anything else. */
function parseFrame(frame: Uint8Array): Parsed | null {
  const ip = ETHERNET_HEADER_LENGTH;
  if (frame.length < ip + 40 || frame[12] !== 0x08 || frame[13] !== 0x00) return null;
  if (frame[ip] !== 0x45 || frame[ip + 9] !== 6) return null;
  const total = (frame[ip + 2] << 8) | frame[ip + 3];
  if (total < 40 || ip + total > frame.length) return null;
  if (fold(sum16(frame, ip, ip + 20, 0)) !== 0xffff) return null;
  const l4 = ip + 20;
  const end = ip + total;
  const pseudo = sum16(frame, ip + 12, ip + 20, 6 + (end - l4));
  if (fold(sum16(frame, l4, end, pseudo)) !== 0xffff) return null;
  const dv = new DataView(frame.buffer, frame.byteOffset);
  const headerLength = (frame[l4 + 12] >> 4) * 4;
  if (headerLength < 20 || l4 + headerLength > end) return null;
  let wscale = -1;
  let mss = 0;
  for (let at = l4 + 20; at < l4 + headerLength; ) {
    const kind = frame[at];
    if (kind === 0) break;
    if (kind === 1) {
      at++;
      continue;
    }
    const len = frame[at + 1];
    if (len < 2) break;
    if (kind === 2) mss = dv.getUint16(at + 2);
    if (kind === 3) wscale = frame[at + 2];
    at += len;
  }
  return {
    seq: dv.getUint32(l4 + 4),
    ack: dv.getUint32(l4 + 8),
    flags: frame[l4 + 13],
    window: dv.getUint16(l4 + 14),
    wscale,
    mss,
    payload: frame.slice(l4 + headerLength, end),
  };
}

/** A small TCP for the guest side: opens, sends `data` then FIN, receives into `received`. */
class ScriptedGuest {
  readonly inbox: Uint8Array[] = [];
  established = false;
  // Sending (relative to ISS + 1).
  una = 0;
  sent = 0;
  finSent = false;
  private peerWindow = 0;
  private peerWscale = 0;
  private mss = 536;
  private dupAcks = 0;
  private lastProgress: number;
  // Receiving (relative to IRS + 1).
  private irs = 0;
  rcvNext = 0;
  readonly received = new Uint8Array(SIZE);
  finReceived = false;
  private readonly ooo = new Map<number, Uint8Array>();
  private out: SegmentSpec[] = [];
  retransmits = 0;
  resets = 0;

  constructor(
    private readonly data: Uint8Array,
    private readonly clock: FakeClock,
  ) {
    this.lastProgress = clock.now();
  }

  private abs(rel: number): number {
    return (ISS + 1 + rel) >>> 0;
  }
  private spec(s: Partial<SegmentSpec> & { flags: number; seq: number }): SegmentSpec {
    return { srcPort: GUEST_PORT, dstPort: REMOTE_PORT, dst: GATEWAY_IP, ack: (this.irs + 1 + this.rcvNext) >>> 0, window: 0xffff, ...s };
  }
  private sendAck(): void {
    const sack = this.sackBlocks();
    this.out.push(this.spec({ flags: TCP_ACK, seq: this.abs(Math.min(this.sent, this.data.length + 1)), sack }));
  }

  private sackBlocks(): [number, number][] {
    const ranges = [...this.ooo.entries()].map(([s, d]) => [s, s + d.length]).sort((a, b) => a[0] - b[0]);
    const merged: number[][] = [];
    for (const r of ranges) {
      const last = merged[merged.length - 1];
      if (last && r[0] <= last[1]) last[1] = Math.max(last[1], r[1]);
      else merged.push([...r]);
    }
    return merged.slice(0, 3).map(([l, r]) => [(this.irs + 1 + l) >>> 0, (this.irs + 1 + r) >>> 0]);
  }

  /** Handles everything the engine sent; returns whether anything arrived. */
  receiveAll(): boolean {
    if (this.inbox.length === 0) return false;
    const frames = this.inbox.splice(0);
    let ackDue = false;
    for (const frame of frames) {
      const s = parseFrame(frame);
      if (!s) continue; // corrupted (or not TCP): dropped, as a real guest would
      if (s.flags & TCP_RST) {
        this.resets++;
        continue;
      }
      if (!this.established) {
        if ((s.flags & (TCP_SYN | TCP_ACK)) !== (TCP_SYN | TCP_ACK) || s.ack !== this.abs(0)) continue;
        this.irs = s.seq;
        this.peerWscale = s.wscale >= 0 ? s.wscale : 0;
        this.mss = s.mss || 536;
        this.peerWindow = s.window;
        this.established = true;
        this.lastProgress = this.clock.now();
        ackDue = true;
        continue;
      }
      if (s.flags & TCP_SYN) {
        ackDue = true; // our handshake ACK was lost
        continue;
      }
      this.onAck(s);
      const rel = (s.seq - this.irs - 1) | 0;
      const length = s.payload.length;
      if (length > 0) {
        if (rel + length <= this.rcvNext) {
          this.sendAck(); // duplicate: ACK at once
        } else if (rel > this.rcvNext) {
          if (!this.ooo.has(rel) || this.ooo.get(rel)!.length < length) this.ooo.set(rel, s.payload);
          this.sendAck(); // out of order: ACK at once with SACK
        } else {
          this.take(rel, s.payload);
          ackDue = true;
        }
      }
      if (s.flags & TCP_FIN) {
        if (rel + length === this.rcvNext && !this.finReceived) {
          this.finReceived = true;
          this.rcvNext++;
        }
        this.sendAck();
      }
    }
    if (ackDue) this.sendAck();
    return true;
  }

  private take(rel: number, payload: Uint8Array): void {
    const skip = this.rcvNext - rel;
    const bytes = payload.subarray(skip);
    expect(this.rcvNext + bytes.length, 'the engine sent beyond its data').toBeLessThanOrEqual(SIZE);
    this.received.set(bytes, this.rcvNext);
    this.rcvNext += bytes.length;
    for (let moved = true; moved; ) {
      moved = false;
      for (const [s, d] of this.ooo) {
        if (s + d.length <= this.rcvNext) {
          this.ooo.delete(s);
        } else if (s <= this.rcvNext) {
          this.ooo.delete(s);
          const part = d.subarray(this.rcvNext - s);
          this.received.set(part, this.rcvNext);
          this.rcvNext += part.length;
          moved = true;
        }
      }
    }
  }

  private onAck(s: Parsed): void {
    if (!(s.flags & TCP_ACK)) return;
    const ack = (s.ack - ISS - 1) | 0;
    const window = s.window << this.peerWscale;
    if (ack > this.una && ack <= this.sent) {
      this.una = ack;
      this.dupAcks = 0;
      this.lastProgress = this.clock.now();
    } else if (ack === this.una && this.una < this.sent && s.payload.length === 0 && window === this.peerWindow) {
      if (++this.dupAcks === 3) this.retransmit(this.una);
    }
    this.peerWindow = window;
  }

  private retransmit(rel: number): void {
    this.retransmits++;
    if (rel >= this.data.length) {
      this.out.push(this.spec({ flags: TCP_ACK | TCP_FIN, seq: this.abs(this.data.length) }));
      return;
    }
    const length = Math.min(this.mss, this.data.length - rel);
    this.out.push(this.spec({ flags: TCP_ACK | TCP_PSH, seq: this.abs(rel), payload: this.data.subarray(rel, rel + length) }));
  }

  /** Sends what the windows allow (or the SYN), and retransmits on timeout; returns the batch. */
  pump(): SegmentSpec[] {
    const now = this.clock.now();
    if (!this.established) {
      if (this.out.length === 0 && (now - this.lastProgress >= 1000 || this.sent === 0)) {
        this.sent = -1; // SYN outstanding
        this.lastProgress = now;
        this.out.push({ srcPort: GUEST_PORT, dstPort: REMOTE_PORT, dst: GATEWAY_IP, seq: ISS, flags: TCP_SYN, window: 0xffff, mss: 1460, wscale: 7, sackPermitted: true });
      }
    } else {
      if (this.sent < 0) this.sent = 0;
      const total = this.data.length + 1; // + FIN
      if (this.una < this.sent && now - this.lastProgress >= 300) {
        // Timeout: go back to the first unacknowledged byte.
        this.retransmits++;
        this.sent = this.una;
        this.finSent = false;
        this.lastProgress = now;
      }
      const limit = Math.min(this.peerWindow, 64 * 1024);
      while (this.sent < this.data.length && this.sent - this.una < limit) {
        const length = Math.min(this.mss, this.data.length - this.sent, limit - (this.sent - this.una));
        if (length <= 0) break;
        this.out.push(this.spec({ flags: TCP_ACK | TCP_PSH, seq: this.abs(this.sent), payload: this.data.subarray(this.sent, this.sent + length) }));
        this.sent += length;
      }
      if (this.sent === this.data.length && !this.finSent) {
        this.out.push(this.spec({ flags: TCP_ACK | TCP_FIN, seq: this.abs(this.sent) }));
        this.finSent = true;
        this.sent = total;
      }
    }
    const batch = this.out;
    this.out = [];
    return batch;
  }
}

async function transfer(seed: number, faults: FaultProbabilities) {
  const inner = new MemoryLink({ keep: false });
  const link = new FaultLink(inner, { seed, receive: faults, transmit: faults, reorderDistance: 3 });
  const clock = new FakeClock();
  const stack = new Stack(link, { config: { mtu: 1500 }, clock, random: new SeededRandom(seed) });
  stack.start();
  const port = new FakeHostPort();
  const engine = installTcp(stack, { hostPort: port, addressMap: new HostAddressMap(stack.config) });
  const bytes = seededRandom(seed);
  const up = Uint8Array.from({ length: SIZE }, () => Math.floor(bytes() * 256));
  const down = Uint8Array.from({ length: SIZE }, () => Math.floor(bytes() * 256));
  const guest = new ScriptedGuest(up, clock);
  inner.onTransmit = (frames) => guest.inbox.push(...frames);
  let fed = 0;
  let hostEnded = false;
  let connected = false;
  let rounds = 0;
  const start = clock.now();
  /** Fake milliseconds until each direction had all its bytes. */
  let downMs = -1;
  let upMs = -1;
  const done = (): boolean =>
    guest.finReceived && guest.una === SIZE + 1 && port.streams.length > 0 && port.last.ended && engine.size === 0;
  while (!done() && rounds++ < 400_000) {
    let busy = guest.receiveAll();
    const batch = guest.pump();
    if (batch.length > 0) {
      inner.inject(batch.map(guestSegment));
      busy = true;
    }
    const stream = port.streams[0];
    if (stream && !connected) {
      connected = true;
      stream.events.onConnect();
    }
    if (stream && !stream.paused && fed < SIZE) {
      const chunk = Math.min(64 * 1024, SIZE - fed);
      stream.events.onData(down.slice(fed, fed + chunk));
      fed += chunk;
      busy = true;
    } else if (stream && fed === SIZE && !hostEnded) {
      hostEnded = true;
      stream.events.onEnd();
    }
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (downMs < 0 && guest.rcvNext >= SIZE) downMs = clock.now() - start;
    if (upMs < 0 && port.streams.length > 0 && port.last.written.reduce((n, c) => n + c.length, 0) >= SIZE) upMs = clock.now() - start;
    if (!busy && guest.inbox.length === 0) {
      link.releaseHeld();
      clock.advance(10);
    }
  }
  return { port, engine, guest, link, up, down, clock, rounds, downMs, upMs };
}

describe('TCP through a FaultLink', () => {
  it('moves 1 MB each way intact under 5% drop + reorder + duplicate + corruption, both directions', async () => {
    const faults = { drop: 0.05, reorder: 0.05, duplicate: 0.05, corrupt: 0.05 };
    const r = await transfer(2026, faults);
    const stream = r.port.streams[0];
    expect(r.port.streams).toHaveLength(1);
    expect(Buffer.compare(stream.bytes(), Buffer.from(r.up)), 'guest → host bytes').toBe(0);
    expect(stream.ended).toBe(true);
    expect(Buffer.compare(Buffer.from(r.guest.received), Buffer.from(r.down)), 'host → guest bytes').toBe(0);
    expect(r.guest.finReceived).toBe(true);
    expect(r.guest.resets).toBe(0);
    expect(r.engine.size).toBe(0);
    // The faults did happen, in both directions.
    for (const c of [r.link.receiveCounters, r.link.transmitCounters]) {
      expect(c.dropped).toBeGreaterThan(10);
      expect(c.reordered).toBeGreaterThan(10);
      expect(c.duplicated).toBeGreaterThan(10);
      expect(c.corrupted).toBeGreaterThan(10);
    }
  }, 120_000);

  it.each([1, 2, 3, 4, 5, 6, 7, 8])('and with seed %i', async (seed) => {
    const r = await transfer(seed, { drop: 0.05, reorder: 0.05, duplicate: 0.05, corrupt: 0.05 });
    expect(Buffer.compare(r.port.streams[0].bytes(), Buffer.from(r.up))).toBe(0);
    expect(Buffer.compare(Buffer.from(r.guest.received), Buffer.from(r.down))).toBe(0);
    expect(r.engine.size).toBe(0);
  }, 120_000);
});
