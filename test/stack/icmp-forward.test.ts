/**
 * ICMP echo forwarding, packet level: echo requests to other hosts go out through a fake host echo
 * socket per guest (address, identifier); replies come back from the peer's guest-visible address
 * with the guest's identifier restored and a valid checksum (checked independently), fragmented
 * above the MTU; refusal by the host (ping_group_range) drops with one warning; sessions expire and
 * are bounded; our own addresses are still answered by the Stack itself.
 */
import { describe, expect, test } from 'vitest';
import { HostAddressMap } from '../../src/stack/host-address-map.js';
import type { HostIcmpPort, HostIcmpSocket, HostIcmpSocketEvents } from '../../src/stack/host-icmp-port.js';
import { ECHO_IDLE_MS, installIcmpForward } from '../../src/stack/icmp-forward.js';
import type { Logger } from '../../src/stack/logger.js';
import { SeededRandom } from '../../src/stack/random.js';
import { Stack } from '../../src/stack/stack.js';
import { MemoryLink } from '../../src/link/memory-link.js';
import { FakeClock } from '../../src/stack/clock.js';
import { silentLogger } from '../../src/stack/logger.js';
import { decodeIpv4Frame, naiveChecksum } from '../support/oracle.js';
import { GUEST_IP, ipv4Frame } from '../support/stack-context.js';
import { decodeIcmp, fragmentFrames, ip } from '../support/udp-context.js';

class FakeEchoSocket implements HostIcmpSocket {
  readonly sent: { message: Buffer; address: string }[] = [];
  closed = false;
  constructor(readonly events: HostIcmpSocketEvents) {}
  send(message: Uint8Array, address: string): void {
    this.sent.push({ message: Buffer.from(message), address });
  }
  close(): void {
    this.closed = true;
  }
  /** The host kernel's reply: identifier replaced by the socket's own (here 0xbeef). */
  reply(request: Buffer, address: string): void {
    const m = Buffer.from(request);
    m[0] = 0;
    m.writeUInt16BE(0xbeef, 4);
    m.writeUInt16BE(0, 2);
    m.writeUInt16BE(naiveChecksum(m), 2);
    this.events.onMessage(m, address);
  }
}

class FakeEchoPort implements HostIcmpPort {
  readonly sockets: FakeEchoSocket[] = [];
  refuse: string | undefined;
  open(events: HostIcmpSocketEvents): HostIcmpSocket | string {
    if (this.refuse) return this.refuse;
    const s = new FakeEchoSocket(events);
    this.sockets.push(s);
    return s;
  }
}

function echoRequest(identifier: number, sequence: number, data: Uint8Array = Buffer.from('abcdefgh')): Buffer {
  const m = Buffer.alloc(8 + data.length);
  m[0] = 8;
  m.writeUInt16BE(identifier, 4);
  m.writeUInt16BE(sequence, 6);
  m.set(data, 8);
  m.writeUInt16BE(naiveChecksum(m), 2);
  return m;
}

function setup(options: { mtu?: number; maxSessions?: number } = {}) {
  const warnings: string[] = [];
  const logger: Logger = silentLogger();
  logger.warn = ((_o: unknown, msg?: string) => void warnings.push(msg ?? '')) as Logger['warn'];
  const link = new MemoryLink({ mtu: options.mtu ?? 1500 });
  const clock = new FakeClock();
  const stack = new Stack(link, { config: { mtu: link.mtu }, clock, logger, random: new SeededRandom(1) });
  stack.start();
  const port = new FakeEchoPort();
  const forwarder = installIcmpForward(stack, { hostPort: port, addressMap: new HostAddressMap(stack.config), maxSessions: options.maxSessions });
  const send = (dst: number, message: Buffer, src = GUEST_IP): Uint8Array[] => {
    link.inject(ipv4Frame(src, dst, 1, message));
    return link.take();
  };
  const emitted = async (): Promise<Uint8Array[]> => {
    await Promise.resolve();
    return link.take();
  };
  const drops = (name: string): number => stack.stats.snapshot().drops[name] ?? 0;
  return { link, clock, stack, port, forwarder, send, emitted, drops, warnings };
}

const PEER = ip('198.18.0.2');

describe('ICMP echo forwarding', () => {
  test('a request goes out through a host echo socket; the reply returns with the guest identifier', async () => {
    const t = setup();
    const request = echoRequest(0x1234, 1);
    expect(t.send(PEER, request)).toEqual([]);
    expect(t.port.sockets).toHaveLength(1);
    const sent = t.port.sockets[0].sent[0];
    expect(sent.address).toBe('198.18.0.2');
    expect(sent.message.equals(request)).toBe(true);
    t.port.sockets[0].reply(request, '198.18.0.2');
    const [reply] = (await t.emitted()).map(decodeIcmp);
    expect(reply).toMatchObject({ src: '198.18.0.2', dst: '10.0.2.100', type: 0, code: 0 });
    expect(reply.rest).toBe(0x12340001);
    expect(reply.body.toString()).toBe('abcdefgh');
  });

  test('one socket per (guest, identifier), reused for later sequence numbers', () => {
    const t = setup();
    t.send(PEER, echoRequest(1, 1));
    t.send(PEER, echoRequest(1, 2));
    t.send(ip('192.0.2.1'), echoRequest(1, 3)); // same identifier, another destination: same socket
    t.send(PEER, echoRequest(2, 1));
    expect(t.port.sockets).toHaveLength(2);
    expect(t.port.sockets[0].sent.map((s) => s.address)).toEqual(['198.18.0.2', '198.18.0.2', '192.0.2.1']);
  });

  test('our own addresses are answered by the Stack, not forwarded', () => {
    const t = setup();
    const frames = t.send(ip('10.0.2.2'), echoRequest(7, 1));
    expect(frames.map(decodeIcmp)[0]).toMatchObject({ src: '10.0.2.2', type: 0 });
    expect(t.port.sockets).toHaveLength(0);
  });

  test('a large reply is fragmented to the MTU', async () => {
    const t = setup({ mtu: 1500 });
    const data = Buffer.alloc(4000, 0x61);
    const request = echoRequest(9, 1, data);
    // The guest's request arrives in fragments; the Stack reassembles it before the forwarder.
    t.link.inject(fragmentFrames(GUEST_IP, PEER, 1, request, 1480, 77));
    expect(t.port.sockets[0].sent[0].message.equals(request)).toBe(true);
    t.port.sockets[0].reply(request, '198.18.0.2');
    const frames = await t.emitted();
    expect(frames).toHaveLength(3);
    const pieces = frames.map(decodeIpv4Frame).map((o) => {
      expect(o.ipChecksumValid).toBe(true);
      expect(o.ip.length).toBeLessThanOrEqual(1500);
      return o.ip.data;
    });
    const whole = Buffer.concat(pieces);
    expect(naiveChecksum(whole)).toBe(0);
    expect(whole.readUInt16BE(4)).toBe(9);
    expect(whole.subarray(8).equals(data)).toBe(true);
  });

  test('refused by the host (ping_group_range): dropped, counted, one warning, retried later', () => {
    const t = setup();
    t.port.refuse = 'EACCES';
    t.send(PEER, echoRequest(1, 1));
    t.send(PEER, echoRequest(1, 2));
    expect(t.drops('host_error')).toBe(2);
    expect(t.warnings).toHaveLength(1);
    expect(t.warnings[0]).toMatch(/ping_group_range/);
    t.port.refuse = undefined;
    t.send(PEER, echoRequest(1, 3));
    expect(t.port.sockets).toHaveLength(1);
  });

  test('only echo requests are forwarded; bad checksums, broadcast and virtual hosts are dropped', () => {
    const t = setup();
    const bad = echoRequest(1, 1);
    bad[9] ^= 1;
    t.send(PEER, bad);
    const reply = echoRequest(1, 1);
    reply[0] = 0;
    reply.writeUInt16BE(0, 2);
    reply.writeUInt16BE(naiveChecksum(reply), 2);
    t.send(PEER, reply);
    t.send(ip('10.0.2.255'), echoRequest(1, 1));
    t.send(ip('10.0.2.50'), echoRequest(1, 1));
    expect(t.port.sockets).toHaveLength(0);
    expect(t.drops('bad_checksum')).toBe(1);
    expect(t.drops('unsupported_protocol')).toBe(1);
    expect(t.drops('blocked')).toBe(2);
  });

  test('sessions expire when idle and are bounded (a newcomer evicts the session idle the longest)', () => {
    const t = setup({ maxSessions: 2 });
    t.send(PEER, echoRequest(1, 1));
    t.clock.advance(2_000);
    t.send(PEER, echoRequest(2, 1));
    t.clock.advance(2_000);
    t.send(PEER, echoRequest(1, 2)); // 1 is now the most recent
    t.clock.advance(2_000);
    t.send(PEER, echoRequest(3, 1)); // full: 2 goes
    expect(t.drops('table_full')).toBe(0);
    expect(t.forwarder.sessionCount).toBe(2);
    expect(t.port.sockets.map((s) => s.closed)).toEqual([false, true, false]);
    expect(t.port.sockets[2].sent).toHaveLength(1);
    t.clock.advance(ECHO_IDLE_MS + 1_000);
    expect(t.forwarder.sessionCount).toBe(0);
    expect(t.port.sockets.every((s) => s.closed)).toBe(true);
    t.send(PEER, echoRequest(3, 2));
    expect(t.forwarder.sessionCount).toBe(1);
    t.stack.close();
    expect(t.port.sockets[2].closed).toBe(true);
    expect(t.clock.pendingTimers).toBe(0);
  });
});
