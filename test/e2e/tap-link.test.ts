/**
 * The TapLink on its own, against a real guest kernel in a namespace this test created: frames
 * from the guest arrive in batches (with checksum-offload flags when offloads are on), frames we
 * transmit reach it (a hand-written echo responder makes `ping` succeed), and a TCP super-frame sent
 * with TxInfo (GSO + partial checksum) is taken by the guest as one segment.
 *
 * No engine involved: this pins the link's contract. Traffic stays in the test's namespace.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { FRAME_CHECKSUM_PARTIAL, type FrameBatch, type FrameSink, type TxInfo } from '../../src/link/link.js';
import { openTap, type TapLink } from '../../src/link/tap-link.js';
import { readUint16, readUint32, writeUint16, writeUint32 } from '../../src/wire/bytes.js';
import { finishChecksum, internetChecksum, ipv4PseudoHeaderSum } from '../../src/wire/checksum.js';
import { writeIpv4Header } from '../../src/wire/ipv4.js';
import { createNamespace, namespacePrerequisite, ProcessTracker, requireOrSkip, waitFor, type TestNamespace } from '../support/netns.js';

const GATEWAY_MAC = [0x52, 0x55, 0x0a, 0x00, 0x02, 0x02];
const GUEST_MAC = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
const GATEWAY = 0x0a000202;
const GUEST = 0x0a000264;

const tracker = new ProcessTracker();
let link: TapLink | undefined;

afterEach(async () => {
  link?.close();
  link = undefined;
  await tracker.killAll();
});

interface Received {
  frame: Uint8Array;
  flags: number;
  gsoSize: number;
}

/** Copies every frame (tests only) and answers ICMP echo requests to the gateway by hand. */
class EchoSink implements FrameSink {
  readonly frames: Received[] = [];
  readonly batchData = new Set<ArrayBufferLike>();
  constructor(private readonly tap: () => TapLink) {}

  receiveBatch(batch: FrameBatch): void {
    this.batchData.add(batch.data.buffer);
    for (let i = 0; i < batch.count; i++) {
      const frame = batch.data.slice(batch.offsets[i], batch.offsets[i] + batch.lengths[i]);
      this.frames.push({ frame, flags: batch.flags[i], gsoSize: batch.gsoSizes?.[i] ?? 0 });
      if (isEchoRequestToGateway(frame)) this.tap().transmit(echoReply(frame), null);
    }
    this.tap().flush();
  }
}

function isEchoRequestToGateway(f: Uint8Array): boolean {
  return f.length >= 42 && readUint16(f, 12) === 0x0800 && f[23] === 1 && readUint32(f, 30) === GATEWAY && f[34] === 8;
}

function echoReply(request: Uint8Array): Uint8Array {
  const reply = request.slice();
  reply.set(request.subarray(6, 12), 0);
  reply.set(GATEWAY_MAC, 6);
  reply.set(request.subarray(30, 34), 26); // swapping addresses keeps the IPv4 checksum valid
  reply.set(request.subarray(26, 30), 30);
  reply[34] = 0;
  writeUint16(reply, 36, 0);
  const ipLength = readUint16(reply, 16);
  writeUint16(reply, 36, internetChecksum(reply, 34, ipLength - 20));
  return reply;
}

async function attached(ns: TestNamespace, offloads: boolean, mtu: number): Promise<{ tap: TapLink; sink: EchoSink }> {
  const tap = openTap({ target: { pid: ns.pid }, configure: { mtu, macAddress: '52:54:00:12:34:56' }, offloads, mtu });
  link = tap;
  const sink = new EchoSink(() => tap);
  tap.start(sink);
  return { tap, sink };
}

describe('TapLink against a guest kernel', () => {
  for (const offloads of [false, true]) {
    it(`carries frames both ways (ping answered by hand)${offloads ? ' with offloads' : ''}`, async (ctx) => {
      requireOrSkip(ctx, namespacePrerequisite());
      const ns = await createNamespace(tracker);
      const { tap, sink } = await attached(ns, offloads, 1500);
      expect(tap.name).toBe('tap0');
      expect(tap.offloads.tso).toBe(offloads);
      expect(tap.offloads.rxChecksumPartial).toBe(offloads);
      await ns.exec('ip', ['neigh', 'replace', '10.0.2.2', 'lladdr', '52:55:0a:00:02:02', 'dev', 'tap0']);
      const out = await ns.exec('ping', ['-c', '3', '-i', '0.2', '-W', '2', '10.0.2.2']);
      expect(out).toMatch(/3 packets transmitted, 3 received/);
      const requests = sink.frames.filter((r) => isEchoRequestToGateway(r.frame));
      expect(requests).toHaveLength(3);
      expect([...requests[0].frame.subarray(0, 6)]).toEqual(GATEWAY_MAC);
      expect([...requests[0].frame.subarray(6, 12)]).toEqual(GUEST_MAC);
      // Batches are views over the one shared receive area, never a fresh buffer per batch.
      expect(sink.batchData.size).toBe(1);
      const stats = tap.stats();
      expect(stats.txFrames).toBeGreaterThanOrEqual(3);
      expect(stats.txDropped).toBe(0);
      expect(stats.rxDropped).toBe(0);
    });
  }

  it('flags guest frames with a partial checksum when offloads are on', async (ctx) => {
    requireOrSkip(ctx, namespacePrerequisite());
    const ns = await createNamespace(tracker);
    const { sink } = await attached(ns, true, 1500);
    await ns.exec('ip', ['neigh', 'replace', '10.0.2.2', 'lladdr', '52:55:0a:00:02:02', 'dev', 'tap0']);
    await ns.exec('python3', ['-c', 'import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x" * 100, ("10.0.2.2", 9))']);
    await waitFor('the UDP datagram', () => sink.frames.some((r) => r.frame[23] === 17), 3000);
    const udp = sink.frames.find((r) => r.frame[23] === 17);
    expect((udp?.flags ?? 0) & FRAME_CHECKSUM_PARTIAL).toBe(FRAME_CHECKSUM_PARTIAL);
  });

  it('sends a TCP super-frame with GSO and a partial checksum that the guest takes as one segment', async (ctx) => {
    requireOrSkip(ctx, namespacePrerequisite());
    const ns = await createNamespace(tracker);
    const { tap, sink } = await attached(ns, true, 1500);
    await ns.exec('ip', ['neigh', 'replace', '10.0.2.2', 'lladdr', '52:55:0a:00:02:02', 'dev', 'tap0']);

    const payload = 20_000;
    const seq = 1000;
    const head = new Uint8Array(14 + 20 + 20);
    head.set(GUEST_MAC, 0);
    head.set(GATEWAY_MAC, 6);
    writeUint16(head, 12, 0x0800);
    writeIpv4Header(head, 14, GATEWAY, GUEST, 6, 20 + payload);
    writeUint16(head, 34, 80); // from gateway port 80 to a closed guest port: the guest answers RST
    writeUint16(head, 36, 9);
    writeUint32(head, 38, seq);
    writeUint32(head, 42, 0);
    head[46] = 5 << 4;
    head[47] = 0x08; // PSH without ACK: the RST then acknowledges seq + the whole payload
    writeUint16(head, 48, 65535);
    // Partial checksum: the field holds the folded pseudo-header sum; the device finishes it.
    writeUint16(head, 50, ~finishChecksum(ipv4PseudoHeaderSum(GATEWAY, GUEST, 6, 20 + payload)) & 0xffff);
    const info: TxInfo = { gsoSize: 1460, gsoIpv6: false, headerLength: 54, checksumStart: 34, checksumOffset: 16 };
    tap.transmit(head, new Uint8Array(payload).fill(0x61), info);
    tap.flush();

    const isRst = (r: Received): boolean => r.frame[23] === 6 && (r.frame[47] & 0x04) !== 0;
    await waitFor('the guest RST', () => sink.frames.some(isRst), 3000);
    const rst = sink.frames.find(isRst);
    expect(rst && readUint32(rst.frame, 42)).toBe(seq + payload);
    expect(tap.stats().txDropped).toBe(0);
  });

  it('close() is idempotent and stops delivery', async (ctx) => {
    requireOrSkip(ctx, namespacePrerequisite());
    const ns = await createNamespace(tracker);
    const { tap, sink } = await attached(ns, false, 1500);
    tap.close();
    tap.close();
    expect(tap.isClosed).toBe(true);
    const before = sink.frames.length;
    await expect(ns.exec('ip', ['link', 'show', 'tap0'])).rejects.toThrow(/does not exist/);
    expect(sink.frames.length).toBe(before);
    tap.transmit(new Uint8Array(60), null); // ignored, not thrown
    tap.flush();
  });
});
