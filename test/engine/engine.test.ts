/**
 * createEngine (src/engine/engine.ts), the one assembly both command lines and embedders use, on a
 * MemoryLink and a FakeClock: it does not read frames before start(), answers once started, reports
 * its counters (the capture's too), and close() leaves the link closed and the capture written out;
 * a failed assembly closes the link it was given.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { createEngine } from '../../src/engine/engine.js';
import { MemoryLink } from '../../src/link/memory-link.js';
import { FakeClock } from '../../src/stack/clock.js';
import { ArpOperation, writeArp } from '../../src/wire/arp.js';
import { BROADCAST_MAC } from '../../src/wire/bytes.js';
import { ETHERNET_HEADER_LENGTH, EtherType, writeEthernetHeader } from '../../src/wire/ethernet.js';
import { GATEWAY_IP, GUEST_IP, GUEST_MAC } from '../support/stack-context.js';

const scratch: string[] = [];
afterEach(() => {
  for (const dir of scratch.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function arpRequestForGateway(): Uint8Array {
  const request = new Uint8Array(60);
  writeEthernetHeader(request, 0, BROADCAST_MAC, GUEST_MAC, EtherType.Arp);
  writeArp(request, ETHERNET_HEADER_LENGTH, ArpOperation.Request, GUEST_MAC, GUEST_IP, 0, GATEWAY_IP);
  return request;
}

class CountingLink extends MemoryLink {
  closes = 0;
  override close(): void {
    this.closes++;
    super.close();
  }
}

test('reads nothing before start(), answers after, counts, and close() writes the capture out', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tslirp-engine-'));
  scratch.push(dir);
  const link = new CountingLink();
  const engine = await createEngine(link, {
    clock: new FakeClock(),
    dnsUpstream: { address: '127.0.0.1', port: 9 },
    pcap: { path: join(dir, 'capture.pcap') },
  });
  expect(engine.parts).toEqual(['tcp', 'udp', 'dhcp', 'dns', 'icmp']);
  link.inject(arpRequestForGateway()); // not started: no sink yet
  expect(link.take()).toEqual([]);

  engine.start();
  link.inject(arpRequestForGateway());
  expect(link.take()).toHaveLength(1);
  expect(engine.stats.engine().framesIn).toBe(1);
  expect(engine.stats.forwards?.()).toBe(0);
  expect(engine.stats.pcap?.().recordsWritten).toBe(2);

  // Enough records that the file is still being written when the link closes.
  const more = 4000;
  link.inject(Array.from({ length: more }, arpRequestForGateway));
  expect(link.take()).toHaveLength(more);
  await engine.close();
  expect(link.closes).toBe(1);
  // 24-byte global header, then records of 16 + 60 bytes (requests and padded replies).
  expect(readFileSync(join(dir, 'capture.pcap')).length).toBe(24 + (2 + 2 * more) * (16 + 60));
});

test('a configuration it cannot use is an error, and the link it was given is closed', async () => {
  const link = new CountingLink();
  await expect(createEngine(link, { config: { cidr: '10.0.2.0/33' } })).rejects.toThrow(/cidr|prefix/i);
  expect(link.closes).toBe(1);
});
