import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import type { FrameBatch } from '../../src/link/link.js';
import { MemoryLink } from '../../src/link/memory-link.js';
import { PCAP_SNAPLEN, PcapLink } from '../../src/link/pcap-link.js';
import { FakeClock } from '../../src/stack/clock.js';
import { Stack } from '../../src/stack/stack.js';
import { ArpOperation, writeArp } from '../../src/wire/arp.js';
import { BROADCAST_MAC } from '../../src/wire/bytes.js';
import { ETHERNET_HEADER_LENGTH, EtherType, writeEthernetHeader } from '../../src/wire/ethernet.js';
import { Icmpv4Type, writeIcmpv4Echo } from '../../src/wire/icmpv4.js';
import { IpProtocol } from '../../src/wire/ipv4.js';
import { IN_CI } from '../support/netns.js';
import { GATEWAY_IP, GUEST_IP, GUEST_MAC, ipv4Frame } from '../support/stack-context.js';

interface PcapRecord {
  seconds: number;
  micros: number;
  capturedLength: number;
  originalLength: number;
  data: Buffer;
}

/** A tiny independent reader of classic pcap (little-endian, microseconds), for the assertions. */
function readPcap(file: Buffer): { snaplen: number; linktype: number; records: PcapRecord[] } {
  expect(file.length).toBeGreaterThanOrEqual(24);
  expect(file.readUInt32LE(0)).toBe(0xa1b2c3d4);
  expect(file.readUInt16LE(4)).toBe(2);
  expect(file.readUInt16LE(6)).toBe(4);
  const snaplen = file.readUInt32LE(16);
  const linktype = file.readUInt32LE(20);
  const records: PcapRecord[] = [];
  let at = 24;
  while (at < file.length) {
    expect(at + 16).toBeLessThanOrEqual(file.length);
    const capturedLength = file.readUInt32LE(at + 8);
    const record: PcapRecord = {
      seconds: file.readUInt32LE(at),
      micros: file.readUInt32LE(at + 4),
      capturedLength,
      originalLength: file.readUInt32LE(at + 12),
      data: file.subarray(at + 16, at + 16 + capturedLength),
    };
    expect(record.micros).toBeLessThan(1_000_000);
    expect(record.data.length).toBe(capturedLength);
    records.push(record);
    at += 16 + capturedLength;
  }
  return { snaplen, linktype, records };
}

function arpRequest(target: number): Uint8Array {
  const frame = new Uint8Array(60);
  writeEthernetHeader(frame, 0, BROADCAST_MAC, GUEST_MAC, EtherType.Arp);
  writeArp(frame, ETHERNET_HEADER_LENGTH, ArpOperation.Request, GUEST_MAC, GUEST_IP, 0, target);
  return frame;
}

function echoRequest(sequence: number): Uint8Array {
  const data = new TextEncoder().encode('pcap tee test');
  const icmp = new Uint8Array(8 + data.length);
  writeIcmpv4Echo(icmp, 0, Icmpv4Type.EchoRequest, 0x1234, sequence, data);
  icmp.set(data, 8);
  return ipv4Frame(GUEST_IP, GATEWAY_IP, IpProtocol.Icmp, icmp);
}

function tcpdumpAvailable(): boolean {
  try {
    execFileSync('sh', ['-c', 'command -v tcpdump'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const dirs: string[] = [];
function tempFile(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'tslirp-pcap-'));
  dirs.push(dir);
  return join(dir, name);
}

afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('PcapLink', () => {
  test('tees frames both ways through a stack into a pcap file that tcpdump reads', async (ctx) => {
    const path = tempFile('capture.pcap');
    const memory = new MemoryLink();
    let wallMs = 1_700_000_000_123.456;
    const pcap = new PcapLink(memory, { path, now: () => wallMs });
    const stack = new Stack(pcap, { clock: new FakeClock() });
    stack.start();
    memory.inject(arpRequest(GATEWAY_IP));
    wallMs += 1.5;
    memory.inject([echoRequest(1), echoRequest(2)]);
    const sent = memory.take();
    expect(sent).toHaveLength(3); // ARP reply and two echo replies, all still reaching the inner link
    stack.close();
    await pcap.whenClosed();

    const { snaplen, linktype, records } = readPcap(readFileSync(path));
    expect(snaplen).toBe(PCAP_SNAPLEN);
    expect(linktype).toBe(1);
    expect(records).toHaveLength(6);
    // In order: request, reply; echo 1, echo 2 (the received batch), then their replies.
    expect(records[0].data.equals(Buffer.from(arpRequest(GATEWAY_IP)))).toBe(true);
    expect(records[1].data.equals(Buffer.from(sent[0]))).toBe(true);
    expect(records[2].data.equals(Buffer.from(echoRequest(1)))).toBe(true);
    expect(records[4].data.equals(Buffer.from(sent[1]))).toBe(true);
    expect(records[0].seconds).toBe(1_700_000_000);
    expect(records[0].micros).toBe(123_456);
    expect(records[2].micros).toBe(124_956);
    for (const r of records) expect(r.capturedLength).toBe(r.originalLength);
    expect(pcap.stats()).toMatchObject({ recordsWritten: 6, recordsDroppedQueueFull: 0, recordsDroppedStopped: 0 });
    expect(pcap.stats().bytesWritten).toBe(statSync(path).size);

    if (!tcpdumpAvailable()) {
      if (IN_CI) throw new Error('prerequisite missing in CI: tcpdump (apt-get install tcpdump)');
      ctx.skip('needs tcpdump');
    }
    const text = execFileSync('tcpdump', ['-r', path, '-nn'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const lines = text.trim().split('\n');
    expect(lines).toHaveLength(6);
    expect(lines[0]).toMatch(/ARP, Request who-has 10\.0\.2\.2 tell 10\.0\.2\.100/);
    expect(lines[1]).toMatch(/ARP, Reply 10\.0\.2\.2 is-at 52:55:0a:00:02:02/);
    expect(lines[2]).toMatch(/IP 10\.0\.2\.100 > 10\.0\.2\.2: ICMP echo request, id 4660, seq 1/);
    expect(lines[4]).toMatch(/IP 10\.0\.2\.2 > 10\.0\.2\.100: ICMP echo reply, id 4660, seq 1/);
  });

  test('transmitted head and body are captured as one frame; a frame above the snaplen is truncated', async () => {
    const path = tempFile('big.pcap');
    const memory = new MemoryLink();
    const pcap = new PcapLink(memory, { path });
    pcap.start({ receiveBatch: () => undefined });
    const head = Uint8Array.from([1, 2, 3]);
    const body = Uint8Array.from([4, 5]);
    pcap.transmit(head, body);
    const huge = new Uint8Array(PCAP_SNAPLEN + 100).fill(7);
    pcap.transmit(huge.subarray(0, 54), huge.subarray(54));
    pcap.flush();
    expect(memory.take().map((f) => f.length)).toEqual([5, PCAP_SNAPLEN + 100]);
    pcap.close();
    await pcap.whenClosed();
    const { records } = readPcap(readFileSync(path));
    expect([...records[0].data]).toEqual([1, 2, 3, 4, 5]);
    expect(records[1].capturedLength).toBe(PCAP_SNAPLEN);
    expect(records[1].originalLength).toBe(PCAP_SNAPLEN + 100);
  });

  test('stops at the size cap with one notice, keeping every record that fit', async () => {
    const path = tempFile('capped.pcap');
    const memory = new MemoryLink();
    const notices: string[] = [];
    const pcap = new PcapLink(memory, { path, maxFileBytes: 24 + 3 * (16 + 60), onStop: (reason) => notices.push(reason) });
    pcap.start({ receiveBatch: () => undefined });
    for (let i = 0; i < 10; i++) memory.inject(arpRequest(GATEWAY_IP));
    for (let i = 0; i < 5; i++) pcap.transmit(new Uint8Array(60), null);
    pcap.flush();
    expect(memory.take()).toHaveLength(5); // the data path is untouched by the cap
    pcap.close();
    await pcap.whenClosed();
    expect(notices).toHaveLength(1);
    expect(notices[0]).toMatch(/size cap/);
    expect(readPcap(readFileSync(path)).records).toHaveLength(3);
    expect(statSync(path).size).toBe(24 + 3 * 76);
    expect(pcap.stats()).toMatchObject({ recordsWritten: 3, recordsDroppedStopped: 12 });
  });

  test('drops and counts records, never frames, when the write queue is full', async () => {
    const path = tempFile('queue.pcap');
    const memory = new MemoryLink();
    const pcap = new PcapLink(memory, { path, maxQueuedBytes: 4 * (16 + 1000) });
    const received: number[] = [];
    pcap.start({ receiveBatch: (batch: FrameBatch) => received.push(batch.count) });
    // One synchronous burst: the stream cannot drain in between, so the bound must hold.
    const frames = Array.from({ length: 10 }, () => new Uint8Array(1000));
    memory.inject(frames);
    for (let i = 0; i < 10; i++) pcap.transmit(new Uint8Array(1000), null);
    pcap.flush();
    expect(received).toEqual([10]);
    expect(memory.take()).toHaveLength(10);
    pcap.close();
    await pcap.whenClosed();
    const stats = pcap.stats();
    expect(stats.recordsWritten).toBe(4);
    expect(stats.recordsDroppedQueueFull).toBe(16);
    expect(readPcap(readFileSync(path)).records).toHaveLength(4);
  });

  test('a light trickle reaches the file within a few tens of ms, without close()', async () => {
    const path = tempFile('trickle.pcap');
    const memory = new MemoryLink();
    const pcap = new PcapLink(memory, { path });
    pcap.start({ receiveBatch: () => undefined });
    memory.inject(arpRequest(GATEWAY_IP));
    expect(statSync(path).size).toBe(24); // gathered, not yet written
    expect(pcap.stats().recordsWritten).toBe(1); // but counted
    const deadline = Date.now() + 2000;
    while (statSync(path).size < 24 + 16 + 60 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(readPcap(readFileSync(path)).records).toHaveLength(1);
    pcap.close();
    await pcap.whenClosed();
  });

  test('a path that cannot be created fails at construction', () => {
    expect(() => new PcapLink(new MemoryLink(), { path: '/nonexistent-dir/x.pcap' })).toThrow(/ENOENT/);
  });
});
