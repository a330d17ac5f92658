/**
 * Fault containment, packet level: an exception of the engine's own (injected here through a
 * throwing receiver, host stream or address map) costs the frame, the flow or the binding it hit,
 * never the batch, the other flows or the process; it is counted and logged once per cause, then
 * summed per minute.
 */
import { describe, expect, test } from 'vitest';
import { JsonLogger } from '../../src/cli/json-logger.js';
import { FAULT_LOG_INTERVAL_MS } from '../../src/stack/fault-log.js';
import { HostAddressMap } from '../../src/stack/host-address-map.js';
import type { IpDatagram, IpReceiver } from '../../src/stack/ip-datagram.js';
import type { HostStreamEvents } from '../../src/stack/tcp/host-tcp-port.js';
import { installUdp } from '../../src/stack/udp/udp-engine.js';
import { ArpOperation, ArpPacket, writeArp } from '../../src/wire/arp.js';
import { DropReason } from '../../src/wire/drop-reason.js';
import { BROADCAST_MAC } from '../../src/wire/bytes.js';
import { ETHERNET_HEADER_LENGTH, EtherType, writeEthernetHeader } from '../../src/wire/ethernet.js';
import { MemoryLink } from '../../src/link/memory-link.js';
import { FakeClock } from '../../src/stack/clock.js';
import { Stack } from '../../src/stack/stack.js';
import { createStackContext, GATEWAY_IP, GUEST_IP, GUEST_MAC, ipv4Frame } from '../support/stack-context.js';
import { FakeHostStream, flagNames, TCP_ACK, TCP_RST, TcpContext } from '../support/tcp-context.js';
import { decodeUdp, FakeUdpPort, guestUdpFrame, ip } from '../support/udp-context.js';

const PROTOCOL = 253;

/** A logger whose lines land in an array. */
function capturingLogger() {
  const lines: { level: number; msg: string; times?: number }[] = [];
  const logger = new JsonLogger({ level: 'info', destination: (line: string) => lines.push(JSON.parse(line) as { level: number; msg: string }) });
  return { logger, lines };
}

function arpRequestForGateway(): Uint8Array {
  const frame = new Uint8Array(60);
  writeEthernetHeader(frame, 0, BROADCAST_MAC, GUEST_MAC, EtherType.Arp);
  writeArp(frame, ETHERNET_HEADER_LENGTH, ArpOperation.Request, GUEST_MAC, GUEST_IP, 0, GATEWAY_IP);
  return frame;
}

describe('fault containment', () => {
  test('a frame whose handling throws is dropped and counted; the rest of the batch is handled', () => {
    const { logger, lines } = capturingLogger();
    const ctx = { link: new MemoryLink(), clock: new FakeClock() };
    const stack = new Stack(ctx.link, { clock: ctx.clock, logger });
    const seen: number[] = [];
    const receiver: IpReceiver = {
      receiveIp(datagram: IpDatagram): DropReason {
        const marker = datagram.bytes[datagram.payloadOffset];
        if (marker === 0xee) throw new Error('injected bug');
        seen.push(marker);
        return DropReason.None;
      },
    };
    stack.setIpReceiver(PROTOCOL, receiver);
    stack.start();
    const frame = (marker: number) => ipv4Frame(GUEST_IP, GATEWAY_IP, PROTOCOL, Uint8Array.of(marker, 0, 0, 0));
    ctx.link.inject([frame(1), frame(0xee), arpRequestForGateway(), frame(2)]);
    expect(seen).toEqual([1, 2]);
    const replies = ctx.link.take();
    expect(replies).toHaveLength(1); // the ARP request after the bad frame was answered
    const arp = new ArpPacket();
    expect(arp.wrap(replies[0], ETHERNET_HEADER_LENGTH, replies[0].length - ETHERNET_HEADER_LENGTH)).toBe(DropReason.None);
    expect(arp.operation).toBe(ArpOperation.Reply);
    expect(stack.stats.drops[DropReason.InternalError]).toBe(1);
    expect(stack.stats.faults).toBe(1);
    expect(lines.filter((l) => l.level >= 50)).toHaveLength(1);

    // A flood of the same bug: counted every time, logged once per interval with the sum.
    for (let i = 0; i < 100; i++) ctx.link.inject(Array.from({ length: 10 }, () => frame(0xee)));
    expect(stack.stats.drops[DropReason.InternalError]).toBe(1001);
    expect(lines.filter((l) => l.level >= 50)).toHaveLength(1);
    ctx.clock.advance(FAULT_LOG_INTERVAL_MS);
    ctx.link.inject(frame(0xee));
    const errors = lines.filter((l) => l.level >= 50);
    expect(errors).toHaveLength(2);
    expect(errors[1].times).toBe(1001);
    ctx.link.inject(frame(3));
    expect(seen).toEqual([1, 2, 3]);
    stack.close();
  });

  test('a host write that throws resets that flow only; the other flow keeps its data and goes on', async () => {
    const t = new TcpContext();
    const a = await t.open({ srcPort: 1001 });
    const b = await t.open({ srcPort: 1002 });
    a.stream.write = () => {
      throw new Error('injected bug in a host write');
    };
    // One batch with data on both flows: a's write throws at the end of the batch.
    const out = t.inject(t.spec(a, { flags: TCP_ACK, payload: 'to a' }), t.spec(b, { flags: TCP_ACK, payload: 'to b' }));
    a.guestNext += 4;
    b.guestNext += 4;
    const toA = out.filter((s) => s.dstPort === 1001);
    const toB = out.filter((s) => s.dstPort === 1002);
    expect(toA.map((s) => flagNames(s.flags))).toEqual(['RST|ACK']);
    expect(a.stream.wasReset).toBe(true);
    expect(toB.map((s) => [flagNames(s.flags), s.ack])).toEqual([['ACK', b.guestNext]]);
    expect(b.stream.text()).toBe('to b');
    expect(t.engine.size).toBe(1);
    expect(t.stack.stats.faults).toBe(1);
    // b still works both ways.
    t.guestData(b, ' more', b.remoteFirst);
    await t.drain();
    expect(b.stream.text()).toBe('to b more');
    const fromHost = await t.hostData(b, 'reply');
    expect(fromHost.map((s) => s.payload.toString())).toEqual(['reply']);
    // a's tuple is free again: the guest's next segment there gets a plain reset.
    expect(t.inject(t.spec(a, { flags: TCP_ACK, payload: 'x' })).map((s) => flagNames(s.flags))).toEqual(['RST']);
  });

  test('a host socket event that throws resets that flow only (RST to the guest, host socket destroyed)', async () => {
    const t = new TcpContext();
    const b = await t.open({ srcPort: 1002 });
    // A second guest connection whose host stream throws when the engine pauses it (on connect).
    t.inject({ srcPort: 1003, seq: 5000, flags: 0x02, mss: 1460 });
    const broken = t.port.last;
    broken.pause = () => {
      throw new Error('injected bug in pause');
    };
    broken.events.onConnect(); // must not throw out of the event
    const out = await t.drain();
    expect(out.filter((s) => s.dstPort === 1003).some((s) => (s.flags & TCP_RST) !== 0)).toBe(true);
    expect(broken.destroyed || broken.wasReset).toBe(true);
    expect(t.engine.size).toBe(1);
    const fromHost = await t.hostData(b, 'still here');
    expect(fromHost.map((s) => s.payload.toString())).toEqual(['still here']);
  });

  test('an opening toward the guest whose host stream throws is refused, not fatal', () => {
    const t = new TcpContext();
    t.learnGuest();
    const opened = t.engine.openToGuest({ guestAddress: GUEST_IP, guestPort: 80, remoteAddress: ip('192.0.2.9'), remotePort: 5555 }, (events: HostStreamEvents) => {
      const stream = new FakeHostStream({ address: '192.0.2.9', port: 5555 });
      stream.events = events;
      stream.pause = () => {
        throw new Error('injected bug in an adopted socket');
      };
      return stream;
    });
    expect(opened).toBe(false);
    expect(t.engine.size).toBe(0);
    expect(t.stack.stats.faults).toBe(1);
  });

  test('a UDP host event that throws closes that binding only', async () => {
    const ctx = createStackContext();
    const port = new FakeUdpPort();
    class BrokenMap extends HostAddressMap {
      override toGuest(address: string): number | undefined {
        if (address === '127.0.0.66') throw new Error('injected bug in toGuest');
        return super.toGuest(address);
      }
    }
    installUdp(ctx.stack, { hostPort: port, addressMap: new BrokenMap(ctx.stack.config) });
    ctx.link.inject(guestUdpFrame({ srcPort: 1001, dst: ip('10.0.2.2'), dstPort: 7, payload: 'a' }));
    ctx.link.inject(guestUdpFrame({ srcPort: 1002, dst: ip('10.0.2.2'), dstPort: 7, payload: 'b' }));
    ctx.link.take();
    const [first, second] = port.sockets;
    first.deliver('boom', '127.0.0.66', 7);
    expect(first.closed).toBe(true);
    expect(ctx.stack.stats.faults).toBe(1);
    second.deliver('fine', '127.0.0.1', 7);
    await Promise.resolve();
    const [reply] = ctx.link.take().map(decodeUdp);
    expect(reply).toMatchObject({ dstPort: 1002, payload: Buffer.from('fine') });
  });
});
