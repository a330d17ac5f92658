/**
 * TCP, UDP and ICMPv6 echo over IPv6 at packet level (issue 15): the engines terminate and
 * re-originate the guest's flows as for IPv4, with slirp4netns's IPv6 address rules (fd00::2 → the
 * host's ::1, fd00::3:53 → the resolver of any family, --disable-host-loopback → ICMPv6 no route from
 * fe80::2), checksums over the IPv6 pseudo-header (checked by the test family's independent sum),
 * MSS = MTU − 60, the hostfwd direction (a flow opened into the guest from an IPv6 client), and every
 * IPv6 address handle released once its flow, binding or session is gone.
 * Frames are built and decoded by test/support/ip-family.ts, never by src/wire.
 */
import { describe, expect, it } from 'vitest';
import { HostAddressMap } from '../../src/stack/host-address-map.js';
import { installIcmpForward } from '../../src/stack/icmp-forward.js';
import type { HostIcmpPort, HostIcmpSocket, HostIcmpSocketEvents } from '../../src/stack/host-icmp-port.js';
import { IPV6, ipv6Bytes } from '../support/ip-family.js';
import { naiveChecksum } from '../support/oracle.js';
import { createStackContext } from '../support/stack-context.js';
import { flagNames, GUEST_ISN, GUEST_PORT, HostConnectError, TCP_ACK, TCP_FIN, TCP_SYN, TcpContext } from '../support/tcp-context.js';
import { createUdpContext } from '../support/udp-context.js';

const GUEST = IPV6.guest;
/** Our pinned handles (fd00::2, fd00::3, fe80::2, fe80::3) plus the guest's, held by the neighbour table. */
const HELD_AT_REST = 5;

describe('TCP over IPv6', () => {
  it('a guest connection to fd00::2 reaches the host\'s ::1: handshake, data both ways, close; handles released', async () => {
    const t = new TcpContext({ family: IPV6 });
    const conn = await t.open({ mss: 1440, wscale: 7, sackPermitted: true, ts: true });
    expect(t.port.last.endpoint).toEqual({ address: '::1', port: 80 });
    expect(t.stack.addresses.ipv6.size).toBe(HELD_AT_REST);
    t.guestData(conn, 'hello', conn.remoteFirst);
    t.stack.transmitter.beginWakeup();
    t.stack.transmitter.endWakeup();
    expect(Buffer.concat(t.port.last.written).toString()).toBe('hello');
    const out = await t.hostData(conn, 'world');
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ source: 'fd00::2', destination: GUEST, srcPort: 80, dstPort: GUEST_PORT });
    expect(out[0].payload.toString()).toBe('world');
    // Guest closes, host closes: the flow goes, and its handles with it once TIME-WAIT ends.
    t.inject(t.spec(conn, { flags: TCP_ACK | TCP_FIN, ack: conn.remoteFirst + 5 }));
    conn.guestNext += 1;
    t.port.last.events.onEnd();
    const fin = await t.drain();
    expect(fin.some((s) => s.flags & TCP_FIN)).toBe(true);
    const finSeg = fin.find((s) => s.flags & TCP_FIN)!;
    t.inject(t.spec(conn, { flags: TCP_ACK, ack: finSeg.seq + 1 }));
    await t.advance(3000);
    expect(t.engine.size).toBe(0);
    expect(t.stack.addresses.ipv6.size).toBe(HELD_AT_REST);
  });

  it('the SYN-ACK offers MSS = MTU − 60 and its checksum covers the IPv6 pseudo-header', async () => {
    const t = new TcpContext({ family: IPV6, mtu: 65520 });
    t.inject({ seq: GUEST_ISN, flags: TCP_SYN, mss: 65460 });
    t.port.last.events.onConnect();
    const [synAck] = await t.drain(); // decode() checks the checksum independently
    expect(flagNames(synAck.flags)).toBe('SYN|ACK');
    expect(synAck.mss).toBe(65460);
    expect(synAck).toMatchObject({ source: 'fd00::2', destination: GUEST });
  });

  it('other addresses are reached as themselves; an unreachable one gets ICMPv6 address unreachable from it', async () => {
    const t = new TcpContext({ family: IPV6 });
    t.inject({ seq: GUEST_ISN, flags: TCP_SYN, mss: 1440, dst: '2001:db8::7' });
    expect(t.port.last.endpoint).toEqual({ address: '2001:db8::7', port: 80 });
    t.port.last.events.onError(HostConnectError.Unreachable, 'EHOSTUNREACH');
    const out = await t.drain();
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ icmpType: 1, icmpCode: 3, source: '2001:db8::7', destination: GUEST });
    expect(t.engine.size).toBe(0);
    expect(t.stack.addresses.ipv6.size).toBe(HELD_AT_REST);
  });

  it('--disable-host-loopback: fd00::2, ::1, :: and ::ffff:127.0.0.1 get ICMPv6 no route from fe80::2 quoting the SYN; nothing connects', () => {
    const t = new TcpContext({ family: IPV6, config: { disableHostLoopback: true } });
    for (const dst of ['fd00::2', '::1', '::', '::ffff:127.0.0.1']) {
      const out = t.inject({ seq: GUEST_ISN, flags: TCP_SYN, mss: 1440, dst, dstPort: 12121 });
      expect(out, dst).toHaveLength(1);
      expect(out[0]).toMatchObject({ icmpType: 1, icmpCode: 0, source: 'fe80::2', destination: GUEST });
      // The quote starts with the SYN's IPv6 header: its destination as the guest sent it.
      const quoted = IPV6.decode(Buffer.concat([Buffer.alloc(12), Buffer.from([0x86, 0xdd]), out[0].payload]));
      expect(quoted.destination).toBe(IPV6.decode(IPV6.frame(GUEST, dst, 6, new Uint8Array(0))).destination); // canonical text
    }
    expect(t.port.streams).toHaveLength(0);
  });

  it('fd00::3 port 53 reaches the resolver (an IPv4 one too); other ports of fd00::3 and the rest of fd00::/64 get RST', async () => {
    const t = new TcpContext({ family: IPV6, dnsUpstream: { address: '127.0.0.53', port: 53 } });
    t.inject({ seq: GUEST_ISN, flags: TCP_SYN, mss: 1440, dst: 'fd00::3', dstPort: 53 });
    expect(t.port.last.endpoint).toEqual({ address: '127.0.0.53', port: 53 });
    for (const [dst, dstPort] of [['fd00::3', 80], ['fd00::4', 80]] as const) {
      const out = t.inject({ seq: GUEST_ISN, flags: TCP_SYN, mss: 1440, dst, dstPort, srcPort: 40001 });
      expect(out, dst).toHaveLength(1);
      expect(flagNames(out[0].flags)).toBe('RST|ACK');
      expect(out[0]).toMatchObject({ source: dst, destination: GUEST });
    }
    expect(t.port.streams).toHaveLength(1);
  });

  it('opens a flow into the guest from an IPv6 client (published ports), resolving the guest first', async () => {
    const t = new TcpContext({ family: IPV6 });
    const addresses = t.stack.addresses;
    const guest = addresses.parse(GUEST);
    const client = addresses.parse('fd5e:7e57:1::2');
    let hostEvents: Parameters<Parameters<typeof t.engine.openToGuest>[1]>[0] | undefined;
    const opened = t.engine.openToGuest({ guestAddress: guest, guestPort: 80, remoteAddress: client, remotePort: 51000 }, (events) => {
      hostEvents = events;
      return { write() {}, pendingWriteBytes: 0, end() {}, reset() {}, destroy() {}, pause() {}, resume() {} };
    });
    addresses.release(guest);
    addresses.release(client);
    expect(opened).toBe(true);
    expect(hostEvents).toBeDefined();
    // The guest's MAC is not known yet: the SYN waits for our neighbour solicitation's answer.
    const asked = await t.drain();
    expect(asked).toHaveLength(1);
    expect(asked[0].icmpType).toBe(135);
    const syn = t.injectFrames([IPV6.frame(GUEST, 'fe80::2', 58, neighborAdvertisement(GUEST), { hopLimit: 255 })]);
    expect(syn).toHaveLength(1);
    expect(flagNames(syn[0].flags)).toBe('SYN');
    expect(syn[0]).toMatchObject({ source: 'fd5e:7e57:1::2', destination: GUEST, srcPort: 51000, dstPort: 80, mss: 1440 });
    // An IPv4 client cannot be carried to an IPv6 guest address.
    const mixed = t.engine.openToGuest({ guestAddress: addresses.parse(GUEST), guestPort: 80, remoteAddress: 0x7f000001, remotePort: 51001 }, () => {
      throw new Error('no host stream for a refused open');
    });
    expect(mixed).toBe(false);
  });
});

function neighborAdvertisement(target: string): Uint8Array {
  const body = Buffer.alloc(32);
  body[0] = 136;
  body[4] = 0x60;
  body.set(ipv6Bytes(target), 8);
  body.set([2, 1, 0x02, 0, 0, 0, 0x01, 0x00], 24);
  body.writeUInt16BE(naiveChecksum(IPV6.pseudoHeader(target, 'fe80::2', 58, body.length), body), 2);
  return body;
}

describe('UDP over IPv6', () => {
  it('to fd00::2 goes to the host\'s ::1, the reply comes back from fd00::2; the binding\'s handles go with it', async () => {
    const u = createUdpContext({ family: IPV6 });
    expect(u.send({ dst: 'fd00::2', dstPort: 7, srcPort: 5000, payload: 'ping' })).toEqual([]);
    expect(u.port.last.sent[0].destination).toEqual({ address: '::1', port: 7 });
    expect(Buffer.from(u.port.last.sent[0].payload).toString()).toBe('ping');
    u.port.last.deliver('pong', '::1', 7);
    const [reply] = await u.emitted();
    expect(u.decodeUdp(reply)).toMatchObject({ src: 'fd00::2', dst: GUEST, srcPort: 7, dstPort: 5000 });
    expect(u.decodeUdp(reply).payload.toString()).toBe('pong');
    // A global peer answers as itself.
    u.send({ dst: '2001:db8::9', dstPort: 9, srcPort: 5000, payload: 'x' });
    u.port.last.deliver('y', '2001:db8::9', 9);
    expect(u.decodeUdp((await u.emitted())[0])).toMatchObject({ src: '2001:db8::9', srcPort: 9 });
    // A peer of the other family, unmapped, has no way to appear to an IPv6 guest socket.
    u.port.last.deliver('z', '192.0.2.1', 9);
    expect(await u.emitted()).toEqual([]);
    expect(u.drops('bad_address')).toBe(1);
    u.clock.advance(300_000);
    expect(u.engine.bindingCount).toBe(0);
    expect(u.stack.addresses.ipv6.size).toBe(HELD_AT_REST);
  });

  it('fd00::3:53 reaches the resolver of either family; its answers come from fd00::3:53', async () => {
    const u = createUdpContext({ family: IPV6, upstream: { address: '127.0.0.53', port: 53 } });
    u.send({ dst: 'fd00::3', dstPort: 53, srcPort: 5353, payload: 'q' });
    expect(u.port.last.sent[0].destination).toEqual({ address: '127.0.0.53', port: 53 });
    u.port.last.deliver('a', '127.0.0.53', 53);
    expect(u.decodeUdp((await u.emitted())[0])).toMatchObject({ src: 'fd00::3', srcPort: 53, dst: GUEST, dstPort: 5353 });
  });

  it('--disable-host-loopback: fd00::2 gets ICMPv6 no route from fe80::2; fd00::3 off port 53 port unreachable from fd00::3', () => {
    const u = createUdpContext({ family: IPV6, config: { disableHostLoopback: true } });
    const [blocked] = u.send({ dst: 'fd00::2', dstPort: 7, srcPort: 5000 });
    expect(u.decodeIcmp(blocked)).toMatchObject({ src: 'fe80::2', dst: GUEST, type: 1, code: 0 });
    const [closed] = u.send({ dst: 'fd00::3', dstPort: 80, srcPort: 5000 });
    expect(u.decodeIcmp(closed)).toMatchObject({ src: 'fd00::3', dst: GUEST, type: 1, code: 4 });
  });

  it('a zero checksum is no checksum over IPv4 only: dropped over IPv6', () => {
    const u = createUdpContext({ family: IPV6 });
    expect(u.send({ dst: 'fd00::2', dstPort: 7, checksum: 'zero' })).toEqual([]);
    expect(u.port.sockets).toHaveLength(0);
    expect(u.drops('bad_checksum')).toBe(1);
  });

  it('a reply larger than the MTU reaches the guest in fragments that reassemble to it', async () => {
    const u = createUdpContext({ family: IPV6, mtu: 1280 });
    u.send({ dst: 'fd00::2', dstPort: 7, srcPort: 5000, payload: 'q' });
    const big = Buffer.alloc(4000, 0);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 0xff;
    u.port.last.deliver(big, '::1', 7);
    const frames = await u.emitted();
    expect(frames.length).toBe(4);
    let whole = Buffer.alloc(0);
    for (const [i, frame] of frames.entries()) {
      const ip = IPV6.decode(frame);
      expect(ip.protocol).toBe(44);
      expect(40 + ip.payload.length).toBeLessThanOrEqual(1280);
      const f = Buffer.from(ip.payload);
      expect(f[0]).toBe(17);
      expect(f.readUInt16BE(2) & ~7).toBe(whole.length);
      expect(f.readUInt16BE(2) & 1).toBe(i < frames.length - 1 ? 1 : 0);
      whole = Buffer.concat([whole, f.subarray(8)]);
    }
    expect(whole.readUInt16BE(4)).toBe(whole.length);
    expect(whole.subarray(8).equals(big)).toBe(true);
    expect(naiveChecksum(IPV6.pseudoHeader('fd00::2', GUEST, 17, whole.length), whole)).toBe(0);
  });
});

class FakeEchoSocket implements HostIcmpSocket {
  readonly sent: { message: Buffer; address: string }[] = [];
  closed = false;
  constructor(
    readonly events: HostIcmpSocketEvents,
    readonly family: 4 | 6 | undefined,
  ) {}
  send(message: Uint8Array, address: string): void {
    this.sent.push({ message: Buffer.from(message), address });
  }
  close(): void {
    this.closed = true;
  }
}

class FakeEchoPort implements HostIcmpPort {
  readonly sockets: FakeEchoSocket[] = [];
  open(events: HostIcmpSocketEvents, family?: 4 | 6): HostIcmpSocket | string {
    const s = new FakeEchoSocket(events, family);
    this.sockets.push(s);
    return s;
  }
}

describe('ICMPv6 echo beyond our addresses', () => {
  it('goes out through an ICMPv6 ping socket; the reply comes back with the guest\'s identifier and a fresh checksum', async () => {
    const ctx = createStackContext({ config: { ipv6: true } });
    ctx.link.take();
    const port = new FakeEchoPort();
    const forwarder = installIcmpForward(ctx.stack, { hostPort: port, addressMap: new HostAddressMap(ctx.stack.config, undefined, ctx.stack.addresses) });
    const request = Buffer.from([128, 0, 0, 0, 0x12, 0x34, 0, 1, 9, 8, 7, 6]);
    request.writeUInt16BE(naiveChecksum(IPV6.pseudoHeader(GUEST, 'fd5e:7e57:1::2', 58, request.length), request), 2);
    expect(ctx.exchange(IPV6.frame(GUEST, 'fd5e:7e57:1::2', 58, request))).toEqual([]);
    expect(port.sockets).toHaveLength(1);
    expect(port.sockets[0].family).toBe(6);
    expect(port.sockets[0].sent[0]).toMatchObject({ address: 'fd5e:7e57:1::2' });
    expect(port.sockets[0].sent[0].message.equals(request)).toBe(true);
    // The host kernel's reply: its own identifier, its own checksum (not checked by us).
    const reply = Buffer.from([129, 0, 0xde, 0xad, 0xbe, 0xef, 0, 1, 9, 8, 7, 6]);
    port.sockets[0].events.onMessage(reply, 'fd5e:7e57:1::2');
    await Promise.resolve();
    const [frame] = ctx.link.take();
    const d = IPV6.decode(frame);
    expect(d).toMatchObject({ source: 'fd5e:7e57:1::2', destination: GUEST, protocol: 58 });
    expect(IPV6.icmpChecksumValid(d)).toBe(true);
    expect([...d.payload.subarray(4)]).toEqual([0x12, 0x34, 0, 1, 9, 8, 7, 6]);
    expect(d.payload[0]).toBe(129);
    ctx.clock.advance(61_000);
    expect(forwarder.sessionCount).toBe(0);
    expect(ctx.stack.addresses.ipv6.size).toBe(HELD_AT_REST);
  });

  it('is not forwarded to multicast, fd00::/64 or, under --disable-host-loopback, to ::1', () => {
    const ctx = createStackContext({ config: { ipv6: true, disableHostLoopback: true } });
    ctx.link.take();
    const port = new FakeEchoPort();
    installIcmpForward(ctx.stack, { hostPort: port, addressMap: new HostAddressMap(ctx.stack.config, undefined, ctx.stack.addresses) });
    for (const dst of ['ff02::1', 'fd00::4', '::1']) {
      const request = Buffer.from([128, 0, 0, 0, 0, 1, 0, 1]);
      request.writeUInt16BE(naiveChecksum(IPV6.pseudoHeader(GUEST, dst, 58, request.length), request), 2);
      expect(ctx.exchange(IPV6.frame(GUEST, dst, 58, request)), dst).toEqual([]);
    }
    expect(port.sockets).toHaveLength(0);
  });
});
