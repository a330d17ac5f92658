/**
 * UDP engine, packet level: guest datagrams through a Stack on a FakeClock to a fake host port.
 * Bindings are created per guest (address, port), reused, expired when idle (240 s; 10 s for DNS-only)
 * and bounded; replies from host peers come back from the peer's guest-visible address (loopback →
 * 10.0.2.2, the DNS upstream → 10.0.2.3:53); host ECONNREFUSED becomes ICMP port unreachable;
 * blocked destinations get libslirp's ICMP answers; malformed datagrams are dropped and counted;
 * services see datagrams first.
 */
import { describe, expect, test } from 'vitest';
import { UDP_DNS_IDLE_MS, UDP_IDLE_MS } from '../../src/stack/udp/udp-engine.js';
import type { UdpService } from '../../src/stack/udp/udp-service.js';
import { decodeIpv4Frame } from '../support/oracle.js';
import { createUdpContext, decodeIcmp, decodeUdp, guestUdpFrame, ip } from '../support/udp-context.js';
import { GUEST_IP } from '../support/stack-context.js';

const GATEWAY = ip('10.0.2.2');
const DNS = ip('10.0.2.3');

describe('UDP bindings', () => {
  test('a guest datagram to 10.0.2.2 goes to host loopback through a new binding', () => {
    const ctx = createUdpContext();
    expect(ctx.send({ dst: GATEWAY, dstPort: 7, payload: 'hello' })).toEqual([]);
    expect(ctx.port.sockets).toHaveLength(1);
    const sent = ctx.port.last.sent[0];
    expect(Buffer.from(sent.payload).toString()).toBe('hello');
    expect(sent.destination).toEqual({ address: '127.0.0.1', port: 7 });
    expect(ctx.engine.bindingCount).toBe(1);
  });

  test('the same guest port reuses its binding for any destination; another port gets its own', () => {
    const ctx = createUdpContext();
    ctx.send({ dst: GATEWAY, dstPort: 7, payload: 'a' }, { dst: ip('192.0.2.9'), dstPort: 9, payload: 'b' }, { srcPort: 40001, dst: GATEWAY, dstPort: 7, payload: 'c' });
    expect(ctx.port.sockets).toHaveLength(2);
    expect(ctx.port.sockets[0].sent.map((s) => s.destination)).toEqual([
      { address: '127.0.0.1', port: 7 },
      { address: '192.0.2.9', port: 9 },
    ]);
    expect(ctx.port.sockets[1].sent.map((s) => Buffer.from(s.payload).toString())).toEqual(['c']);
    expect(ctx.engine.bindingCount).toBe(2);
  });

  test('a reply from host loopback reaches the guest port from 10.0.2.2, checksums valid', async () => {
    const ctx = createUdpContext();
    ctx.send({ srcPort: 40000, dst: GATEWAY, dstPort: 7, payload: 'ping' });
    ctx.port.last.deliver('pong', '127.0.0.1', 7);
    const frames = await ctx.emitted();
    expect(frames).toHaveLength(1);
    const d = decodeUdp(frames[0]);
    expect(d).toMatchObject({ src: '10.0.2.2', dst: '10.0.2.100', srcPort: 7, dstPort: 40000 });
    expect(d.payload.toString()).toBe('pong');
  });

  test('a reply is used only during onMessage: a host port may read every datagram into one buffer (NativeUdpPort does)', async () => {
    const ctx = createUdpContext({ mtu: 1500 });
    ctx.send({ srcPort: 40000, dst: GATEWAY, dstPort: 7, payload: 'go' });
    const area = new Uint8Array(4000);
    const deliverInArea = (text: string, length = text.length): void => {
      area.fill(0x58); // what the next read leaves where the last datagram was
      area.set(Buffer.from(text.padEnd(length, text[0])), 0);
      ctx.port.last.deliver(area.subarray(0, length), '127.0.0.1', 7);
    };
    deliverInArea('first');
    deliverInArea('second');
    deliverInArea('big', 3000); // fragmented: every fragment taken during the call too
    area.fill(0x58);
    const frames = await ctx.emitted();
    expect(frames.slice(0, 2).map((f) => ctx.decodeUdp(f).payload.toString())).toEqual(['first', 'second']);
    const fragments = frames.slice(2).map(decodeIpv4Frame);
    expect(fragments.length).toBe(3);
    const datagram = Buffer.concat(fragments.map((o) => o.ip.data));
    expect(datagram.subarray(8).toString()).toBe('big'.padEnd(3000, 'b'));
  });

  test('replies from any peer are accepted (full cone) and come from the peer address', async () => {
    const ctx = createUdpContext();
    ctx.send({ dst: ip('192.0.2.9'), dstPort: 69, payload: 'tftp read' });
    ctx.port.last.deliver('data', '192.0.2.9', 50123); // a TFTP server answers from a new port
    ctx.port.last.deliver('other', '::ffff:198.51.100.7', 3478);
    const frames = await ctx.emitted();
    expect(frames.map(decodeUdp).map((d) => `${d.src}:${d.srcPort} ${d.payload}`)).toEqual(['192.0.2.9:50123 data', '198.51.100.7:3478 other']);
  });

  test('DNS to 10.0.2.3:53 goes to the upstream, and its answer comes from 10.0.2.3:53', async () => {
    const ctx = createUdpContext({ upstream: { address: '127.0.0.53', port: 5353 } });
    ctx.send({ srcPort: 33333, dst: DNS, dstPort: 53, payload: 'query' });
    expect(ctx.port.last.sent[0].destination).toEqual({ address: '127.0.0.53', port: 5353 });
    ctx.port.last.deliver('answer', '127.0.0.53', 5353);
    // A datagram from another loopback peer still shows as the gateway.
    ctx.port.last.deliver('stray', '127.0.0.1', 5353);
    const [answer, stray] = (await ctx.emitted()).map(decodeUdp);
    expect(answer).toMatchObject({ src: '10.0.2.3', srcPort: 53, dst: '10.0.2.100', dstPort: 33333 });
    expect(answer.payload.toString()).toBe('answer');
    expect(stray).toMatchObject({ src: '10.0.2.2', srcPort: 5353 });
  });

  test('an IPv6 upstream gets a socket of its own; its answer comes from 10.0.2.3:53', async () => {
    const ctx = createUdpContext({ upstream: { address: '::1', port: 53 } });
    ctx.send({ srcPort: 33333, dst: DNS, dstPort: 53, payload: 'q' }, { srcPort: 33333, dst: GATEWAY, dstPort: 7, payload: 'x' });
    expect(ctx.port.sockets).toHaveLength(2);
    expect(ctx.port.sockets[0].sent[0].destination).toEqual({ address: '::1', port: 53 });
    expect(ctx.port.sockets[1].sent[0].destination).toEqual({ address: '127.0.0.1', port: 7 });
    ctx.port.sockets[0].deliver('a', '::1', 53);
    const [d] = (await ctx.emitted()).map(decodeUdp);
    expect(d).toMatchObject({ src: '10.0.2.3', srcPort: 53 });
  });

  test('idle bindings expire after 240 s (DNS-only after 10 s) on one sweep; traffic keeps them alive', () => {
    const ctx = createUdpContext({ upstream: { address: '127.0.0.1', port: 53 } });
    ctx.send({ srcPort: 1000, dst: GATEWAY, dstPort: 7, payload: 'a' }, { srcPort: 2000, dst: DNS, dstPort: 53, payload: 'q' }, { srcPort: 3000, dst: GATEWAY, dstPort: 7 });
    const [general, dns, kept] = ctx.port.sockets;
    ctx.clock.advance(UDP_DNS_IDLE_MS + 1000);
    expect(dns.closed).toBe(true);
    expect(general.closed).toBe(false);
    expect(ctx.engine.bindingCount).toBe(2);
    // Host replies count as use too (libslirp refreshes on both directions).
    for (let t = 0; t < UDP_IDLE_MS; t += 60_000) {
      ctx.clock.advance(60_000);
      kept.deliver('tick', '127.0.0.1', 7);
    }
    ctx.clock.advance(1_000);
    expect(general.closed).toBe(true);
    expect(kept.closed).toBe(false);
    expect(ctx.engine.bindingCount).toBe(1);
    // A new datagram from the expired port makes a fresh binding.
    ctx.send({ srcPort: 1000, dst: GATEWAY, dstPort: 7 });
    expect(ctx.port.sockets).toHaveLength(4);
    expect(ctx.clock.pendingTimers).toBe(1); // one sweep timer, not one per binding
  });

  test('the binding count is bounded: a newcomer evicts the binding idle the longest, recently used ones stay', () => {
    const ctx = createUdpContext({ config: { limits: { udpBindings: 3 } } });
    for (let p = 1; p <= 3; p++) {
      ctx.send({ srcPort: 1000 + p, dst: GATEWAY, dstPort: 7 });
      ctx.clock.advance(2_000);
    }
    ctx.send({ srcPort: 1001, dst: GATEWAY, dstPort: 8, payload: 'again' }); // 1001 is now the most recent
    ctx.clock.advance(2_000);
    ctx.send({ srcPort: 1004, dst: GATEWAY, dstPort: 7 }); // full: 1002 (idle longest) goes
    ctx.send({ srcPort: 1005, dst: GATEWAY, dstPort: 7 }); // then 1003
    expect(ctx.engine.bindingCount).toBe(3);
    expect(ctx.drops('table_full')).toBe(0);
    expect([1001, 1002, 1003, 1004, 1005].map((port) => ctx.engine.binding(GUEST_IP, port) !== undefined)).toEqual([true, false, false, true, true]);
    expect(ctx.port.sockets.map((s) => s.closed)).toEqual([false, true, true, false, false]);
    ctx.send({ srcPort: 1001, dst: GATEWAY, dstPort: 8, payload: 'still' });
    expect(ctx.port.sockets[0].sent).toHaveLength(3);
  });

  test('host ECONNREFUSED becomes ICMP port unreachable from the destination the guest used', async () => {
    const ctx = createUdpContext({ upstream: { address: '127.0.0.53', port: 53 } });
    ctx.send({ srcPort: 40000, dst: DNS, dstPort: 53, payload: 'q' });
    ctx.port.last.events.onError('ECONNREFUSED', { address: '127.0.0.53', port: 53 });
    const [dns] = (await ctx.emitted()).map(decodeIcmp);
    ctx.send({ srcPort: 40001, dst: GATEWAY, dstPort: 9999, payload: 'q' });
    ctx.port.last.events.onError('ECONNREFUSED'); // no destination given: the latest one
    const [gateway] = (await ctx.emitted()).map(decodeIcmp);
    expect(dns).toMatchObject({ src: '10.0.2.3', dst: '10.0.2.100', type: 3, code: 3 });
    // The quote names the guest's socket: 10.0.2.100:40000 → 10.0.2.3:53.
    expect(dns.body.readUInt32BE(12)).toBe(GUEST_IP);
    expect(dns.body.readUInt32BE(16)).toBe(DNS);
    expect(dns.body.readUInt16BE(20)).toBe(40000);
    expect(dns.body.readUInt16BE(22)).toBe(53);
    expect(gateway).toMatchObject({ src: '10.0.2.2', type: 3, code: 3 });
    expect(gateway.body.readUInt16BE(22)).toBe(9999);
  });

  test('a binding refused on its only destination, never answered, is closed once the guest is told; others stay', async () => {
    const ctx = createUdpContext();
    ctx.send({ srcPort: 2001, dst: GATEWAY, dstPort: 9 }); // to a closed port, nothing else
    ctx.send({ srcPort: 2002, dst: GATEWAY, dstPort: 7 }); // answered before, then refused
    ctx.send({ srcPort: 2003, dst: GATEWAY, dstPort: 9 }); // two destinations
    ctx.send({ srcPort: 2003, dst: GATEWAY, dstPort: 7 });
    const [closedOnly, answered, two] = ctx.port.sockets;
    answered.deliver('echo', '127.0.0.1', 7);
    await ctx.emitted();
    closedOnly.events.onError('ECONNREFUSED', { address: '127.0.0.1', port: 9 });
    answered.events.onError('ECONNREFUSED', { address: '127.0.0.1', port: 7 });
    two.events.onError('ECONNREFUSED', { address: '127.0.0.1', port: 9 });
    const icmp = (await ctx.emitted()).map(decodeIcmp);
    expect(icmp.map((m) => [m.type, m.code])).toEqual([[3, 3], [3, 3], [3, 3]]); // every guest is told
    expect([closedOnly.closed, answered.closed, two.closed]).toEqual([true, false, false]);
    expect([2001, 2002, 2003].map((port) => ctx.engine.binding(GUEST_IP, port) !== undefined)).toEqual([false, true, true]);
    // The guest may send again from that port: a fresh binding.
    ctx.send({ srcPort: 2001, dst: GATEWAY, dstPort: 9 });
    expect(ctx.port.sockets).toHaveLength(4);
  });

  test('other host errors are counted, not sent', async () => {
    const ctx = createUdpContext();
    ctx.send({ dst: GATEWAY, dstPort: 7 });
    ctx.port.last.events.onError('EMSGSIZE');
    expect(await ctx.emitted()).toEqual([]);
    expect(ctx.drops('host_error')).toBe(1);
  });

  test('blocked loopback (--disable-host-loopback) gets ICMP net unreachable, like libslirp, by every route', () => {
    const ctx = createUdpContext({ config: { disableHostLoopback: true } });
    const frames = ctx.send({ dst: GATEWAY, dstPort: 7, payload: 'x' });
    expect(frames).toHaveLength(1);
    const icmp = decodeIcmp(frames[0]);
    expect(icmp).toMatchObject({ src: '10.0.2.2', dst: '10.0.2.100', type: 3, code: 0 });
    expect(Buffer.from(icmp.body.subarray(0, 28))).toEqual(Buffer.from(guestUdpFrame({ dst: GATEWAY, dstPort: 7, payload: 'x' }).subarray(14, 42)));
    for (const dst of ['127.0.0.1', '127.0.0.53', '0.0.0.0']) {
      expect(ctx.send({ dst: ip(dst), dstPort: 53 }).map(decodeIcmp), dst).toMatchObject([{ src: '10.0.2.2', type: 3, code: 0 }]);
    }
    expect(ctx.send({ dst: 0xffffffff, dstPort: 9999 })).toEqual([]); // broadcast: blocked, no ICMP about it
    expect(ctx.port.sockets).toHaveLength(0);
    expect(ctx.drops('blocked')).toBe(5);
  });

  test('--disable-host-loopback still relays DNS to a resolver on loopback (127.0.0.53), from 10.0.2.3:53 only', async () => {
    const ctx = createUdpContext({ config: { disableHostLoopback: true }, upstream: { address: '127.0.0.53', port: 53 } });
    expect(ctx.send({ srcPort: 33333, dst: DNS, dstPort: 53, payload: 'query' })).toEqual([]);
    expect(ctx.port.last.sent.map((s) => s.destination)).toEqual([{ address: '127.0.0.53', port: 53 }]);
    ctx.port.last.deliver('answer', '127.0.0.53', 53);
    expect((await ctx.emitted()).map(decodeUdp)).toMatchObject([{ src: '10.0.2.3', srcPort: 53, dstPort: 33333 }]);
    // The same binding may not reach the resolver, or anything else on loopback, any other way.
    expect(ctx.send({ srcPort: 33333, dst: ip('127.0.0.53'), dstPort: 53 }).map(decodeIcmp)).toMatchObject([{ code: 0 }]);
    expect(ctx.send({ srcPort: 33333, dst: GATEWAY, dstPort: 53 }).map(decodeIcmp)).toMatchObject([{ code: 0 }]);
    expect(ctx.send({ srcPort: 33333, dst: DNS, dstPort: 5353 }).map(decodeIcmp)).toMatchObject([{ src: '10.0.2.3', code: 3 }]);
    expect(ctx.port.last.sent).toHaveLength(1);
  });

  test('--disable-dns: datagrams to 10.0.2.3 get no answer and go nowhere', async () => {
    const ctx = createUdpContext({ config: { disableDns: true }, upstream: { address: '127.0.0.53', port: 53 } });
    expect(ctx.send({ dst: DNS, dstPort: 53, payload: 'q' }, { dst: DNS, dstPort: 123, payload: 'q' })).toEqual([]);
    expect(await ctx.emitted()).toEqual([]);
    expect(ctx.port.sockets).toHaveLength(0);
    expect(ctx.drops('blocked')).toBe(2);
  });

  test('10.0.2.3 other than port 53, or without an upstream, answers port unreachable; broadcast is dropped silently', () => {
    const ctx = createUdpContext();
    expect(ctx.send({ dst: DNS, dstPort: 53 }).map(decodeIcmp)[0]).toMatchObject({ src: '10.0.2.3', code: 3 });
    expect(ctx.send({ dst: DNS, dstPort: 123 }).map(decodeIcmp)[0]).toMatchObject({ src: '10.0.2.3', code: 3 });
    expect(ctx.send({ dst: ip('10.0.2.255'), dstPort: 137 })).toEqual([]);
    expect(ctx.send({ dst: ip('224.0.0.251'), dstPort: 5353 })).toEqual([]);
    expect(ctx.send({ dst: ip('10.0.2.77'), dstPort: 9 }).map(decodeIcmp)[0]).toMatchObject({ src: '10.0.2.2', code: 1 });
    expect(ctx.port.sockets).toHaveLength(0);
  });

  test('255.255.255.255 goes to host loopback (libslirp rule) when no service takes it', () => {
    const ctx = createUdpContext();
    ctx.send({ dst: 0xffffffff, dstPort: 9999 });
    expect(ctx.port.last.sent[0].destination).toEqual({ address: '127.0.0.1', port: 9999 });
  });
});

describe('malformed UDP is dropped and counted', () => {
  test('bad checksum', () => {
    const ctx = createUdpContext();
    ctx.send({ dst: GATEWAY, dstPort: 7, payload: 'x', checksum: 'bad' });
    expect(ctx.drops('bad_checksum')).toBe(1);
    expect(ctx.port.sockets).toHaveLength(0);
  });

  test('zero checksum means none and is accepted', () => {
    const ctx = createUdpContext();
    ctx.send({ dst: GATEWAY, dstPort: 7, payload: 'x', checksum: 'zero' });
    expect(ctx.port.last.sent).toHaveLength(1);
  });

  test('a bad checksum is not checked when the device says the guest left it partial', () => {
    const ctx = createUdpContext();
    ctx.link.inject([guestUdpFrame({ dst: GATEWAY, dstPort: 7, payload: 'x', checksum: 'bad' })], [1]);
    expect(ctx.port.last.sent).toHaveLength(1);
  });

  test('length field beyond the packet, below 8, and a truncated header', () => {
    const ctx = createUdpContext();
    ctx.send({ dst: GATEWAY, dstPort: 7, payload: 'abc', udpLength: 12 });
    ctx.send({ dst: GATEWAY, dstPort: 7, payload: 'abc', udpLength: 7 });
    ctx.exchange(guestUdpFrame({ dst: GATEWAY, dstPort: 7 }).subarray(0, 14 + 20 + 4).map((b, i) => (i === 17 ? 24 : b)));
    expect(ctx.port.sockets).toHaveLength(0);
    expect(ctx.drops('truncated') + ctx.drops('bad_length')).toBeGreaterThanOrEqual(2);
    expect(ctx.stack.stats.totalDrops).toBe(3);
  });

  test('a length field shorter than the IP payload trims the datagram (padding ignored)', () => {
    const ctx = createUdpContext();
    ctx.send({ dst: GATEWAY, dstPort: 7, payload: 'abcdef', udpLength: 11, checksum: 'zero' });
    expect(Buffer.from(ctx.port.last.sent[0].payload).toString()).toBe('abc');
  });

  test('source port 0 and destination port 0 are not forwarded', () => {
    const ctx = createUdpContext();
    ctx.send({ srcPort: 0, dst: GATEWAY, dstPort: 7 }, { dst: GATEWAY, dstPort: 0 });
    expect(ctx.port.sockets).toHaveLength(0);
    expect(ctx.drops('bad_address')).toBe(2);
  });
});

describe('services and sendToGuest', () => {
  test('services see datagrams first; a taken datagram is not forwarded; removal works', () => {
    const seen: string[] = [];
    const service: UdpService = {
      receiveUdp: (_s, sp, _d, dp, payload) => {
        seen.push(`${sp}>${dp}:${Buffer.from(payload).toString()}`);
        return dp === 67;
      },
    };
    const ctx = createUdpContext();
    const remove = ctx.engine.addUdpService(service);
    ctx.send({ src: 0, srcPort: 68, dst: 0xffffffff, dstPort: 67, payload: 'discover' }, { dst: GATEWAY, dstPort: 7, payload: 'echo' });
    expect(seen).toEqual(['68>67:discover', '40000>7:echo']);
    expect(ctx.port.sockets).toHaveLength(1);
    remove();
    ctx.send({ dst: GATEWAY, dstPort: 67, payload: 'later' });
    expect(seen).toHaveLength(2);
  });

  test('sendToGuest from any source (published ports keep the client address)', async () => {
    const ctx = createUdpContext();
    ctx.send({ dst: GATEWAY, dstPort: 7 }); // the guest's MAC is learned
    await ctx.emitted();
    ctx.engine.sendToGuest(ip('198.18.0.2'), 41000, GUEST_IP, 8080, Buffer.from('from a client'));
    const [d] = (await ctx.emitted()).map(decodeUdp);
    expect(d).toMatchObject({ src: '198.18.0.2', srcPort: 41000, dst: '10.0.2.100', dstPort: 8080 });
    expect(d.payload.toString()).toBe('from a client');
  });

  test('everything is closed with the stack', () => {
    const ctx = createUdpContext();
    ctx.send({ dst: GATEWAY, dstPort: 7 }, { srcPort: 2, dst: GATEWAY, dstPort: 7 });
    ctx.stack.close();
    expect(ctx.port.sockets.every((s) => s.closed)).toBe(true);
    expect(ctx.clock.pendingTimers).toBe(0);
  });
});
