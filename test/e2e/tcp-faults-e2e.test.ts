/**
 * TCP with the real kernel as the guest over a bad link (issue 4): every frame between tap0 and our
 * engine passes through FaultLink (TSLIRP_INJECT_FAULTS, src/cli/fault-injection.ts), which drops,
 * reorders, duplicates and flips one bit of frames in both directions, from a seed. A python3 client
 * in a namespace this test made sends and fetches bulk data to and from servers on host 127.0.0.1
 * (reached as 10.0.2.2); both ends hash what they saw: no corruption, no stall (each transfer has a
 * deadline), no lost bytes; the same with 8 connections each way at once. Then it checks that the
 * faults really happened: the engine counted bad checksums, the guest kernel counted checksum
 * errors, and tslirp's exit line shows every kind of fault injected in both directions.
 *
 * Offloads are off (--disable-offloads): with virtio-net checksum offload our frames to the guest
 * carry partial checksums that the kernel completes after the bit was flipped, so corruption would
 * go undetected; the CLI refuses that combination.
 *
 * Traffic stays on loopback and in the test's namespace. Every process is ended by PID.
 * TSLIRP_FAULTS_E2E_MB sets the size each way (default 100, as issue 4 asks), TSLIRP_FAULTS_E2E_SPEC
 * the faults (a TSLIRP_INJECT_FAULTS spec) to explore other seeds and rates.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FaultCounters } from '../../src/link/fault-link.js';
import { apiRequest } from '../support/api-client.js';
import { createNamespace, namespacePrerequisite, ProcessTracker, requireOrSkip, stopProcess, type TestNamespace } from '../support/netns.js';
import { guestGet, guestGetMany, guestPut, MB, startBulkServers, throughput, type BulkServers } from '../support/tcp-bulk-peers.js';
import { reportOnFailure } from '../support/transfer-report.js';
import { builtCliPrerequisite, startTslirp, stopAllTslirp, type TslirpProcess } from '../support/tslirp-process.js';

/**
 * About one frame in 20 is hit by something, in each direction; a reordered frame waits for 2 more
 * or 10 ms (the default hold). TSLIRP_FAULTS_E2E_SPEC to explore: e.g. seed=11 with 5% of each and
 * distance=5 stalled guest → host for good before the SACK block order fix (reorder-queue.ts).
 */
const FAULTS = process.env.TSLIRP_FAULTS_E2E_SPEC ?? 'seed=7,drop=0.01,reorder=0.02,duplicate=0.01,corrupt=0.01,distance=2';
const SIZE = Number(process.env.TSLIRP_FAULTS_E2E_MB ?? 100) * MB;
/** Connections each way in the concurrent test, and bytes each. */
const CONCURRENT = 8;
const CONCURRENT_SIZE = 4 * MB;
/** Generous: a healthy run takes a few seconds; a stalled flow would wait forever. */
const TRANSFER_DEADLINE_MS = 50_000;
/** slirp4netns's (and our) default gateway MAC, pinned in the guest (see beforeAll). */
const GATEWAY_MAC = '52:55:0a:00:02:02';

interface Setup {
  ns: TestNamespace;
  tslirp: TslirpProcess;
  servers: BulkServers;
  apiSocket: string;
}

async function prerequisites(): Promise<string | undefined> {
  return namespacePrerequisite({ root: true }) ?? builtCliPrerequisite();
}

/** it() that skips (or fails in CI) when the namespace prerequisites are missing. */
function e2e(title: string, timeout: number, fn: () => Promise<void>): void {
  it(title, { timeout }, async (ctx) => {
    requireOrSkip(ctx, await prerequisites());
    await fn();
  });
}


/** Named counters of one /proc/net/snmp section ("Ip", "Tcp", …) of the namespace. */
async function snmp(ns: TestNamespace, section: string): Promise<Record<string, number>> {
  const lines = (await ns.exec('cat', ['/proc/net/snmp'])).split('\n').filter((l) => l.startsWith(`${section}: `));
  if (lines.length < 2) throw new Error(`no ${section} section in /proc/net/snmp`);
  const names = lines[0].split(' ').slice(1);
  const values = lines[1].split(' ').slice(1).map(Number);
  return Object.fromEntries(names.map((n, i) => [n, values[i]]));
}

async function engineDrops(apiSocket: string): Promise<Record<string, number>> {
  const answer = JSON.parse((await apiRequest(apiSocket, '{"execute":"get_stats"}')).text) as { return?: { drops?: Record<string, number> } };
  const drops = answer.return?.drops;
  if (drops === undefined) throw new Error(`get_stats has no drops: ${JSON.stringify(answer)}`);
  return drops;
}

function suite(mtu: number): void {
  describe(`TCP through a faulty link (${FAULTS}), MTU ${mtu}, no offloads`, () => {
    const tracker = new ProcessTracker();
    let setup: Setup | undefined;
    let dir: string | undefined;
    const get = (): Setup => {
      if (!setup) throw new Error('setup failed');
      return setup;
    };

    beforeAll(async () => {
      if ((await prerequisites()) !== undefined) return;
      dir = mkdtempSync(join(tmpdir(), 'tslirp-faults-e2e-'));
      const apiSocket = join(dir, 'api.sock');
      const ns = await createNamespace(tracker);
      const args = ['--configure', '--mtu', String(mtu), '--disable-offloads', '-r', '3', '--api-socket', apiSocket, String(ns.pid), 'tap0'];
      const tslirp = startTslirp(args, { env: { ...process.env, TSLIRP_INJECT_FAULTS: FAULTS } });
      expect(await tslirp.ready).toBe('1');
      // ARP has no checksum (on a real link the Ethernet FCS guards it): one corrupted reply could
      // teach the guest a wrong gateway MAC and stall everything for the neighbour timeout, which
      // would test the guest's ARP cache, not our TCP. Pinned, the guest never asks.
      await ns.exec('ip', ['neigh', 'replace', '10.0.2.2', 'lladdr', GATEWAY_MAC, 'dev', 'tap0', 'nud', 'permanent']);
      setup = { ns, tslirp, servers: await startBulkServers(), apiSocket };
    }, 30_000);

    afterAll(async () => {
      await setup?.servers.close();
      await stopAllTslirp();
      await tracker.killAll();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    e2e('says at start that faults are injected', 10_000, async () => {
      expect(get().tslirp.log.text).toMatch(/WARNING: TSLIRP_INJECT_FAULTS: injecting faults \(for tests only\): seed=\d+ distance=\d+ hold=\d+ms; receive/);
    });

    e2e(`${SIZE / MB} MB guest → host arrive intact`, TRANSFER_DEADLINE_MS + 10_000, async () => {
      const { ns, servers } = get();
      const put = await reportOnFailure(get(), () => guestPut(ns, servers, SIZE, TRANSFER_DEADLINE_MS));
      expect(put.reply).toBe(put.sha256);
      console.log(`faults, MTU ${mtu}: guest → host ${throughput(SIZE, put.seconds)}`);
    });

    e2e(`${SIZE / MB} MB host → guest arrive intact`, TRANSFER_DEADLINE_MS + 10_000, async () => {
      const { ns, servers } = get();
      const got = await reportOnFailure(get(), () => guestGet(ns, servers, SIZE, TRANSFER_DEADLINE_MS));
      expect(got.length).toBe(SIZE);
      expect(got.sha256).toBe(got.sent);
      console.log(`faults, MTU ${mtu}: host → guest ${throughput(SIZE, got.seconds)}`);
    });

    e2e(`${CONCURRENT} connections each way at once, ${CONCURRENT_SIZE / MB} MB each, all intact`, TRANSFER_DEADLINE_MS + 10_000, async () => {
      // Many flows in one batch: out-of-order queues, SACK scoreboards and timers of different flows
      // side by side, and every flow's ACKs among the faults.
      const { ns, servers } = get();
      const started = Date.now();
      const [puts, gets] = await reportOnFailure(get(), () =>
        Promise.all([
          Promise.all(Array.from({ length: CONCURRENT }, () => guestPut(ns, servers, CONCURRENT_SIZE, TRANSFER_DEADLINE_MS))),
          guestGetMany(ns, servers, CONCURRENT, CONCURRENT_SIZE, TRANSFER_DEADLINE_MS),
        ]),
      );
      for (const put of puts) expect(put.reply).toBe(put.sha256);
      expect(gets.sent).toHaveLength(CONCURRENT);
      for (const got of gets.got) {
        expect(got.length).toBe(CONCURRENT_SIZE);
        expect(gets.sent).toContain(got.sha256);
      }
      expect(new Set(gets.got.map((g) => g.sha256)).size).toBe(CONCURRENT);
      const slowest = Math.max(...puts.map((p) => p.seconds), ...gets.got.map((g) => g.seconds));
      console.log(`faults, MTU ${mtu}: ${CONCURRENT}+${CONCURRENT} connections of ${CONCURRENT_SIZE / MB} MB in ${((Date.now() - started) / 1000).toFixed(2)} s (slowest ${slowest.toFixed(2)} s)`);
    });

    e2e('the faults really happened: corruption caught on both sides, every kind injected both ways', 20_000, async () => {
      const { ns, tslirp, apiSocket } = get();
      const drops = await engineDrops(apiSocket);
      const tcp = await snmp(ns, 'Tcp');
      const ip = await snmp(ns, 'Ip');
      // The engine rejected corrupted frames from the guest; the guest kernel those from us.
      expect(drops.bad_checksum ?? 0).toBeGreaterThan(0);
      expect(tcp.InCsumErrors + ip.InHdrErrors).toBeGreaterThan(0);

      expect(await stopProcess(tslirp.child, 5000)).toBe(0);
      const line = /fault injection counters: (\{.*\})/.exec(tslirp.log.text);
      if (!line) throw new Error(`no counters line in the log:\n${tslirp.log.text.slice(-2000)}`);
      const counters = JSON.parse(line[1]) as { receive: FaultCounters; transmit: FaultCounters };
      console.log(
        `faults, MTU ${mtu}: guest → engine ${JSON.stringify(counters.receive)}, engine → guest ${JSON.stringify(counters.transmit)}; ` +
          `engine drops ${JSON.stringify(drops)}; guest Tcp InCsumErrors ${tcp.InCsumErrors}, RetransSegs ${tcp.RetransSegs}, Ip InHdrErrors ${ip.InHdrErrors}`,
      );
      for (const side of [counters.receive, counters.transmit]) {
        expect(side.frames).toBeGreaterThan(100);
        expect(side.dropped).toBeGreaterThan(0);
        expect(side.reordered).toBeGreaterThan(0);
        expect(side.duplicated).toBeGreaterThan(0);
        expect(side.corrupted).toBeGreaterThan(0);
      }
    });
  });
}

suite(1500);
suite(65520);
