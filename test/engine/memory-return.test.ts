/**
 * The engine gives memory back (releaseMemory: malloc_trim in the CLIs) once after a burst of
 * traffic, only when the burst is over, and never for light traffic or an idle engine
 * (src/engine/memory-return.ts), on a MemoryLink and a FakeClock.
 */
import { expect, test } from 'vitest';
import { createEngine } from '../../src/engine/engine.js';
import { BURST_FRAMES, QUIET_FRAMES, QUIET_MS } from '../../src/engine/memory-return.js';
import { MemoryLink } from '../../src/link/memory-link.js';
import { FakeClock } from '../../src/stack/clock.js';
import { ArpOperation, writeArp } from '../../src/wire/arp.js';
import { BROADCAST_MAC } from '../../src/wire/bytes.js';
import { ETHERNET_HEADER_LENGTH, EtherType, writeEthernetHeader } from '../../src/wire/ethernet.js';
import { GATEWAY_IP, GUEST_IP, GUEST_MAC } from '../support/stack-context.js';

const arpRequest = new Uint8Array(60);
writeEthernetHeader(arpRequest, 0, BROADCAST_MAC, GUEST_MAC, EtherType.Arp);
writeArp(arpRequest, ETHERNET_HEADER_LENGTH, ArpOperation.Request, GUEST_MAC, GUEST_IP, 0, GATEWAY_IP);

/** Each ARP request is a frame in and its reply a frame out. */
function frames(link: MemoryLink, exchanges: number): void {
  for (let i = 0; i < exchanges; i++) link.inject(arpRequest);
  link.take();
}

test('after a burst, memory is released once the traffic has been quiet for a window, not before', async () => {
  const clock = new FakeClock();
  const link = new MemoryLink();
  let releases = 0;
  const engine = await createEngine(link, { clock, dnsUpstream: { address: '127.0.0.1', port: 9 }, releaseMemory: () => releases++ });
  engine.start();

  // Light traffic: nothing, however long it runs, and no timer while idle.
  frames(link, 100);
  clock.advance(10 * QUIET_MS);
  expect(releases).toBe(0);
  expect(clock.pendingTimers).toBe(0);

  // A burst that keeps going: no release while each window still carries traffic.
  frames(link, BURST_FRAMES / 2);
  for (let window = 0; window < 5; window++) {
    clock.advance(QUIET_MS);
    frames(link, QUIET_FRAMES);
  }
  expect(releases).toBe(0);

  // It ends: the window it ended in still counts as busy, the next one is quiet: one release.
  clock.advance(QUIET_MS);
  expect(releases).toBe(0);
  clock.advance(QUIET_MS);
  expect(releases).toBe(1);
  clock.advance(10 * QUIET_MS);
  expect(releases).toBe(1);
  expect(clock.pendingTimers).toBe(0);

  // A second burst: a second release.
  frames(link, BURST_FRAMES / 2);
  clock.advance(2 * QUIET_MS);
  expect(releases).toBe(2);
  await engine.close();
});

test('no release without the option, and none after close', async () => {
  const clock = new FakeClock();
  const link = new MemoryLink();
  let releases = 0;
  const engine = await createEngine(link, { clock, dnsUpstream: { address: '127.0.0.1', port: 9 }, releaseMemory: () => releases++ });
  engine.start();
  frames(link, BURST_FRAMES);
  await engine.close();
  clock.advance(10 * QUIET_MS);
  expect(releases).toBe(0);
});
