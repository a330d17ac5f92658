/**
 * Guest active open, packet by packet: SYN-ACK only once the host socket connected, options agreed,
 * refusal → RST, unreachable → ICMP, duplicate SYNs, blocked destinations, table limit.
 */
import { describe, expect, it } from 'vitest';
import { FRAME_CHECKSUM_PARTIAL } from '../../src/link/link.js';
import { parseIpv4 } from '../../src/wire/ip-address.js';
import { GUEST_IP } from '../support/stack-context.js';
import {
  flagNames,
  GATEWAY_IP,
  guestSegment,
  GUEST_ISN,
  GUEST_PORT,
  HostConnectError,
  TCP_ACK,
  TCP_RST,
  TCP_SYN,
  TcpContext,
} from '../support/tcp-context.js';

const DNS_IP = parseIpv4('10.0.2.3')!;

describe('TCP handshake (guest opens)', () => {
  it('connects the host socket first, then answers SYN-ACK with the agreed options', async () => {
    const t = new TcpContext({ mtu: 1500 });
    expect(t.inject({ seq: GUEST_ISN, flags: TCP_SYN, mss: 1460, wscale: 7, sackPermitted: true, ts: [555, 0] })).toEqual([]);
    expect(t.port.streams).toHaveLength(1);
    expect(t.port.last.endpoint).toEqual({ address: '127.0.0.1', port: 80 });
    t.port.last.events.onConnect();
    const [synAck] = await t.drain();
    expect(flagNames(synAck.flags)).toBe('SYN|ACK');
    expect(synAck.ack).toBe(GUEST_ISN + 1);
    expect(synAck.src).toBe(GATEWAY_IP);
    expect(synAck.srcPort).toBe(80);
    expect(synAck.dstPort).toBe(GUEST_PORT);
    expect(synAck.mss).toBe(1460); // MTU 1500 - 40
    expect(synAck.wscale).toBe(7);
    expect(synAck.sackPermitted).toBe(true);
    expect(synAck.ts?.[1]).toBe(555); // echoes the guest's TSval
    expect(t.port.last.paused).toBe(true);
    expect(t.inject({ seq: GUEST_ISN + 1, ack: synAck.seq + 1, flags: TCP_ACK })).toEqual([]);
    expect(t.port.last.paused).toBe(false);
    expect(t.engine.size).toBe(1);
  });

  it('a host socket connected inside connect() (loopback): the SYN-ACK leaves with the batch that carried the SYN, once', async () => {
    const t = new TcpContext({ mtu: 1500 });
    t.port.connectsAtOnce = true;
    // In one batch: the SYN and a segment for no connection (answered by RST): one flush carries both.
    const out = t.inject({ seq: GUEST_ISN, flags: TCP_SYN, mss: 1460 }, { seq: 5, ack: 9, flags: TCP_ACK, srcPort: 4444 });
    expect(out.map((s) => flagNames(s.flags))).toEqual(['SYN|ACK', 'RST']);
    expect(out[0].ack).toBe(GUEST_ISN + 1);
    expect(t.port.last.paused).toBe(true); // until the guest completes the handshake
    // No port sends onConnect after connectedInConnect; one that did would change nothing.
    t.port.last.events.onConnect();
    expect(await t.drain()).toEqual([]);
    // The handshake completes as usual.
    expect(t.inject({ seq: GUEST_ISN + 1, ack: (out[0].seq + 1) >>> 0, flags: TCP_ACK })).toEqual([]);
    expect(t.port.last.paused).toBe(false);
    expect(t.engine.debugFlows()[0].state).toBe('Established');
  });

  it('offers only what the guest offered (no wscale/SACK/timestamps in the SYN-ACK)', async () => {
    const t = new TcpContext({ mtu: 65520 });
    t.inject({ seq: GUEST_ISN, flags: TCP_SYN, mss: 65480 });
    t.port.last.events.onConnect();
    const [synAck] = await t.drain();
    expect(synAck.mss).toBe(65480);
    expect(synAck.wscale).toBe(-1);
    expect(synAck.sackPermitted).toBe(false);
    expect(synAck.ts).toBeNull();
    expect(synAck.window).toBeLessThanOrEqual(0xffff);
  });

  it('answers a refused connect with RST|ACK acknowledging the SYN', async () => {
    const t = new TcpContext();
    t.inject({ seq: GUEST_ISN, flags: TCP_SYN, mss: 1460 });
    t.port.last.events.onError(HostConnectError.Refused, 'ECONNREFUSED');
    const out = await t.drain();
    expect(out).toHaveLength(1);
    expect(flagNames(out[0].flags)).toBe('RST|ACK');
    expect(out[0].seq).toBe(0);
    expect(out[0].ack).toBe(GUEST_ISN + 1);
    expect(t.engine.size).toBe(0);
  });

  it('answers an unreachable host with ICMP host unreachable quoting the SYN', async () => {
    const t = new TcpContext();
    t.inject({ seq: GUEST_ISN, flags: TCP_SYN, mss: 1460, dst: parseIpv4('192.0.2.1')! });
    expect(t.port.last.endpoint.address).toBe('192.0.2.1');
    t.port.last.events.onError(HostConnectError.Unreachable, 'EHOSTUNREACH');
    const out = await t.drain();
    expect(out).toHaveLength(1);
    expect(out[0].icmpType).toBe(3);
    expect(out[0].icmpCode).toBe(1);
    expect(out[0].src).toBe(parseIpv4('192.0.2.1'));
    expect(t.engine.size).toBe(0);
  });

  it('a connect refused inside connect() (closed loopback port): RST|ACK in the same batch, no flow kept', async () => {
    const t = new TcpContext();
    t.port.failsAtOnce = HostConnectError.Refused;
    const out = t.inject({ seq: GUEST_ISN, flags: TCP_SYN, mss: 1460 });
    expect(out.map((s) => [flagNames(s.flags), s.seq, s.ack])).toEqual([['RST|ACK', 0, GUEST_ISN + 1]]);
    expect(t.port.streams).toHaveLength(1);
    expect(t.engine.size).toBe(0);
    expect(t.engine.debugFlows()).toEqual([]);
    expect(await t.drain()).toEqual([]);
  });

  it('a connect unreachable inside connect(): ICMP host unreachable quoting the SYN at once, no flow kept', () => {
    const t = new TcpContext();
    t.port.failsAtOnce = HostConnectError.Unreachable;
    const out = t.inject({ seq: GUEST_ISN, flags: TCP_SYN, mss: 1460, dst: parseIpv4('192.0.2.1')! });
    expect(out.map((s) => [s.icmpType, s.icmpCode, s.src])).toEqual([[3, 1, parseIpv4('192.0.2.1')]]);
    expect(t.engine.size).toBe(0);
  });

  it('a full table: a SYN refused inside connect() evicts no handshake in progress', async () => {
    const t = new TcpContext({ limits: { tcpFlows: 2 } });
    expect(t.inject({ srcPort: 1001, seq: GUEST_ISN, flags: TCP_SYN, mss: 1460 })).toEqual([]);
    expect(t.inject({ srcPort: 1002, seq: GUEST_ISN, flags: TCP_SYN, mss: 1460 })).toEqual([]);
    t.port.failsAtOnce = HostConnectError.Refused;
    const out = t.inject({ srcPort: 1003, seq: GUEST_ISN, flags: TCP_SYN, mss: 1460 });
    expect(out.map((s) => [s.dstPort, flagNames(s.flags)])).toEqual([[1003, 'RST|ACK']]);
    expect(t.engine.size).toBe(2);
    expect(t.port.streams.map((stream) => stream.destroyed)).toEqual([false, false, false]);
    // The two handshakes still complete.
    t.port.streams[0].events.onConnect();
    t.port.streams[1].events.onConnect();
    expect((await t.drain()).map((s) => [s.dstPort, flagNames(s.flags)])).toEqual([
      [1001, 'SYN|ACK'],
      [1002, 'SYN|ACK'],
    ]);
  });

  it('gives up a host connect that never completes, and frees the flow', async () => {
    const t = new TcpContext();
    t.inject({ seq: GUEST_ISN, flags: TCP_SYN, mss: 1460 });
    await t.advance(76_000);
    expect(t.engine.size).toBe(0);
    expect(t.port.last.destroyed).toBe(true);
  });

  it('does not open twice for duplicate SYNs while connecting', async () => {
    const t = new TcpContext();
    t.inject({ seq: GUEST_ISN, flags: TCP_SYN, mss: 1460 });
    expect(t.inject({ seq: GUEST_ISN, flags: TCP_SYN, mss: 1460 })).toEqual([]);
    expect(t.port.streams).toHaveLength(1);
    t.port.last.events.onConnect();
    expect(await t.drain()).toHaveLength(1);
    // A SYN retransmitted after our SYN-ACK gets the SYN-ACK again, no new connect.
    const again = t.inject({ seq: GUEST_ISN, flags: TCP_SYN, mss: 1460 });
    expect(again.map((s) => flagNames(s.flags))).toEqual(['SYN|ACK']);
    expect(t.port.streams).toHaveLength(1);
  });

  it('retransmits a lost SYN-ACK with backoff, then gives up with RST', async () => {
    const t = new TcpContext();
    t.inject({ seq: GUEST_ISN, flags: TCP_SYN, mss: 1460 });
    t.port.last.events.onConnect();
    const [first] = await t.drain();
    expect(await t.advance(999)).toEqual([]);
    const [second] = await t.advance(10);
    expect(second.seq).toBe(first.seq);
    expect(flagNames(second.flags)).toBe('SYN|ACK');
    expect(await t.advance(1900)).toEqual([]);
    expect(await t.advance(120)).toHaveLength(1);
    const rest = await t.advance(120_000);
    expect(rest.map((s) => flagNames(s.flags))).toEqual(['SYN|ACK', 'SYN|ACK', 'SYN|ACK', 'RST|ACK']);
    expect(t.engine.size).toBe(0);
    expect(t.port.last.wasReset || t.port.last.destroyed).toBe(true);
  });

  it('--disable-host-loopback: ICMP net unreachable from the gateway quoting the SYN (libslirp), no RST, no connect', () => {
    const t = new TcpContext({ config: { disableHostLoopback: true } });
    for (const dst of ['10.0.2.2', '127.0.0.1', '127.1.2.3', '0.0.0.0']) {
      const out = t.inject({ seq: GUEST_ISN, flags: TCP_SYN, mss: 1460, dst: parseIpv4(dst)!, dstPort: 12121 });
      expect(out, dst).toHaveLength(1);
      expect(out[0]).toMatchObject({ icmpType: 3, icmpCode: 0, src: GATEWAY_IP, dst: GUEST_IP });
      // The quote: the SYN's IP header (destination as the guest sent it) and its first 8 bytes.
      expect(out[0].payload.readUInt32BE(16)).toBe(parseIpv4(dst));
      expect(out[0].payload.readUInt16BE(20)).toBe(GUEST_PORT);
      expect(out[0].payload.readUInt16BE(22)).toBe(12121);
      expect(out[0].payload.readUInt32BE(24)).toBe(GUEST_ISN);
    }
    expect(t.port.streams).toHaveLength(0);
    expect(t.engine.size).toBe(0);
    expect(t.stack.stats.snapshot().drops.blocked).toBe(4);
  });

  it('--disable-host-loopback still relays DNS over TCP to a resolver on loopback, and only 10.0.2.3:53 reaches it', async () => {
    const t = new TcpContext({ config: { disableHostLoopback: true }, dnsUpstream: { address: '127.0.0.53', port: 53 } });
    expect(t.inject({ seq: GUEST_ISN, flags: TCP_SYN, mss: 1460, dst: DNS_IP, dstPort: 53 })).toEqual([]);
    expect(t.port.streams.map((s) => s.endpoint)).toEqual([{ address: '127.0.0.53', port: 53 }]);
    t.port.last.events.onConnect();
    const [synAck] = await t.drain();
    expect(flagNames(synAck.flags)).toBe('SYN|ACK');
    expect(synAck.src).toBe(DNS_IP);
    // The resolver's own address, another port of 10.0.2.3, and the gateway stay closed.
    expect(t.inject({ srcPort: 40001, seq: GUEST_ISN, flags: TCP_SYN, dst: parseIpv4('127.0.0.53')!, dstPort: 53 })[0]).toMatchObject({ icmpType: 3, icmpCode: 0 });
    expect(t.inject({ srcPort: 40002, seq: GUEST_ISN, flags: TCP_SYN, dst: GATEWAY_IP, dstPort: 53 })[0]).toMatchObject({ icmpType: 3, icmpCode: 0 });
    expect(flagNames(t.inject({ srcPort: 40003, seq: GUEST_ISN, flags: TCP_SYN, dst: DNS_IP, dstPort: 80 })[0].flags)).toBe('RST|ACK');
    expect(t.port.streams).toHaveLength(1);
  });

  it('--disable-dns: a SYN to 10.0.2.3 gets no answer at all and goes nowhere (the guest times out)', async () => {
    const t = new TcpContext({ config: { disableDns: true }, dnsUpstream: { address: '127.0.0.53', port: 53 } });
    for (const dstPort of [53, 80]) {
      expect(t.inject({ seq: GUEST_ISN, flags: TCP_SYN, mss: 1460, dst: DNS_IP, dstPort })).toEqual([]);
    }
    expect(await t.advance(120_000)).toEqual([]);
    expect(t.port.streams).toHaveLength(0);
    expect(t.stack.stats.snapshot().drops.blocked).toBe(2);
  });

  it('10.0.2.3 off port 53, or without a resolver: RST (nothing listens there)', () => {
    const t = new TcpContext();
    for (const dstPort of [53, 80]) {
      expect(t.inject({ seq: GUEST_ISN, flags: TCP_SYN, mss: 1460, dst: DNS_IP, dstPort }).map((s) => flagNames(s.flags))).toEqual(['RST|ACK']);
    }
    expect(t.port.streams).toHaveLength(0);
  });

  it('a full table evicts the oldest handshake in progress for a newcomer, and never an established flow', async () => {
    const t = new TcpContext({ limits: { tcpFlows: 3 } });
    await t.open({ srcPort: 1001 });
    // Two SYNs whose host connects never finish (a host that does not answer).
    expect(t.inject({ srcPort: 1002, seq: GUEST_ISN, flags: TCP_SYN, mss: 1460 })).toEqual([]);
    expect(t.inject({ srcPort: 1003, seq: GUEST_ISN, flags: TCP_SYN, mss: 1460 })).toEqual([]);
    const [established, first, second] = t.port.streams;
    // The table is full: a newcomer takes the place of 1002 (silently: the guest retransmits its SYN).
    expect(t.inject({ srcPort: 1004, seq: GUEST_ISN, flags: TCP_SYN, mss: 1460 })).toEqual([]);
    expect(t.engine.size).toBe(3);
    expect([established.destroyed, first.destroyed, second.destroyed]).toEqual([false, true, false]);
    // The newcomer's host connects: it gets its SYN-ACK.
    t.port.last.events.onConnect();
    const out = await t.drain();
    expect(out.map((s) => [s.dstPort, flagNames(s.flags)])).toEqual([[1004, 'SYN|ACK']]);
    expect(t.stack.stats.snapshot().drops.table_full).toBeUndefined();
  });

  it('works in every network slirp4netns accepts: in a /8, guests whose host numbers share their low 21 bits stay apart', async () => {
    const t = new TcpContext({ config: { cidr: '10.0.0.0/8' } });
    const gateway = parseIpv4('10.0.0.2')!;
    // 10.0.2.100 and 10.32.2.100 differ only above bit 21 of their host numbers.
    const guests = [parseIpv4('10.0.2.100')!, parseIpv4('10.32.2.100')!, parseIpv4('10.255.2.100')!];
    for (const src of guests) {
      expect(t.inject({ src, dst: gateway, srcPort: 40000, seq: GUEST_ISN, flags: TCP_SYN, mss: 1460 })).toEqual([]);
      t.port.last.events.onConnect();
      const [synAck] = await t.drain();
      expect([synAck.dst, flagNames(synAck.flags)]).toEqual([src, 'SYN|ACK']);
      expect(t.inject({ src, dst: gateway, srcPort: 40000, seq: GUEST_ISN + 1, ack: synAck.seq + 1, flags: TCP_ACK })).toEqual([]);
    }
    expect(t.engine.size).toBe(3);
    expect(t.port.streams.map((stream) => stream.paused)).toEqual([false, false, false]);
    t.port.streams[1].events.onData(Buffer.from('to the second guest'));
    const out = await t.drain();
    expect(out.map((segment) => [segment.dst, segment.payload.toString()])).toEqual([[guests[1], 'to the second guest']]);
  });

  it('resets a newcomer when the flow table is full of established flows, keeping them', async () => {
    const t = new TcpContext({ limits: { tcpFlows: 2 } });
    await t.open({ srcPort: 1001 });
    await t.open({ srcPort: 1002 });
    const out = t.inject({ srcPort: 1003, seq: GUEST_ISN, flags: TCP_SYN, mss: 1460 });
    expect(out.map((s) => flagNames(s.flags))).toEqual(['RST|ACK']);
    expect(t.engine.size).toBe(2);
    expect(t.port.streams).toHaveLength(2);
  });

  it('answers RST to segments for no connection, and nothing to a stray RST', () => {
    const t = new TcpContext();
    const out = t.inject({ seq: 5000, ack: 777, flags: TCP_ACK, payload: 'x' });
    expect(out).toHaveLength(1);
    expect(flagNames(out[0].flags)).toBe('RST');
    expect(out[0].seq).toBe(777);
    expect(t.inject({ seq: 5000, flags: TCP_RST })).toEqual([]);
  });

  it('verifies checksums, except on frames the link marks checksum-partial', () => {
    const t = new TcpContext();
    expect(t.inject({ seq: GUEST_ISN, flags: TCP_SYN, mss: 1460, badChecksum: true })).toEqual([]);
    expect(t.port.streams).toHaveLength(0);
    expect(t.stack.stats.snapshot().drops.bad_checksum).toBe(1);
    t.injectFrames([guestSegment({ seq: GUEST_ISN, flags: TCP_SYN, mss: 1460, badChecksum: true })], [FRAME_CHECKSUM_PARTIAL]);
    expect(t.port.streams).toHaveLength(1);
  });

  it('guest RST while the host connects abandons the connect', () => {
    const t = new TcpContext();
    t.inject({ seq: GUEST_ISN, flags: TCP_SYN, mss: 1460 });
    t.inject({ seq: GUEST_ISN + 1, flags: TCP_RST });
    expect(t.engine.size).toBe(0);
    expect(t.port.last.destroyed).toBe(true);
  });
});
