/**
 * TCP soak (issue 17): many bulk transfers through tslirp under loss, looking for the rare state
 * from which a flow neither recovers nor gives up. Not in CI; it runs for minutes:
 * `npx tsx bench/tcp-soak.ts [--transfers=200] [--instances=3] [--seed=1] [--max-mb=16]
 *  [--stall-seconds=5] [--deadline-seconds=120] [--slow-readers=30] [--loss-permille=N] [--cpu-hogs=0]` (under the machine lock:
 * `flock /tmp/tslirp-e2e.lock npx tsx bench/tcp-soak.ts …`).
 *
 * `--instances` workers run side by side, each a loop of rounds. A round is a fresh namespace and a
 * fresh tslirp (`--configure`, MTU 1500 or 65520, offloads on or off, chosen from the seed) with
 * 1–3 concurrent transfers each way or one way (python3 in the guest, servers of
 * test/support/tcp-bulk-peers.ts on host 127.0.0.1 seen as 10.0.2.2, sha256 checked), sizes 1 MB …
 * --max-mb, under faults:
 * - iptables `statistic` random loss on tap0 both ways inside the namespace (0–3%);
 * - FaultLink (TSLIRP_INJECT_FAULTS) with its own seed per round: drop, reorder, duplicate, and
 *   corrupt (only without offloads: the CLI refuses it with them);
 * - sometimes a slow host reader (the sink stops reading for up to 1.5 s after every 4 MiB) or a
 *   slow guest reader (the same in the guest): windows close and reopen (the socket buffers on the
 *   way are a few MiB), the receive side's and the sender's zero-window paths run;
 * - several tslirp processes and their peers on a 2-core machine: timing varies like a busy host's;
 *   --cpu-hogs=N adds N busy loops beside them for the whole run (a host whose cores are taken).
 *
 * A watchdog polls each tslirp's `debug_flows` every 500 ms. When a flow's progress (state, SND.UNA,
 * RCV.NXT, FINs) has not moved for --stall-seconds, it records the flow's whole state, the guest
 * kernel's view of its sockets (`ss -tinem`), and the last 30 s of frames (`debug_pcap`, from the
 * in-memory ring of TSLIRP_PCAP_RING), then lets the transfer go on to see whether it recovers
 * (until --deadline-seconds). After the transfers, every flow must be gone within 10 s (TIME_WAIT is
 * 2 s); one still open is recorded too.
 *
 * Prints transfers done, failures, stalls with their dumps, the worst completion time; appends the
 * summary to bench/results/tcp-soak-DATE.md. Dumps (JSON, pcap) go to a directory under /tmp named
 * in the output. Needs root and a built dist/ (npm run build). Traffic stays on loopback and in the
 * namespaces it creates; every process it starts is ended by PID.
 */
import { execFileSync, spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mulberry32 } from '../src/link/fault-link.js';
import { apiRequest } from '../test/support/api-client.js';
import { createNamespace, ProcessTracker, REPO_ROOT, stopProcess, type TestNamespace } from '../test/support/netns.js';
import { guestGetSettled, guestPut, MB, startBulkServers, type BulkServers } from '../test/support/tcp-bulk-peers.js';
import { startTslirp, type TslirpProcess } from '../test/support/tslirp-process.js';
import { numberArg, rejectUnknownArgs } from './bench-args.js';

const USAGE =
  'usage: npx tsx bench/tcp-soak.ts [--transfers=N] [--instances=N] [--seed=N] [--max-mb=N] [--stall-seconds=S] [--deadline-seconds=S] [--slow-readers=PERCENT] [--loss-permille=N] [--cpu-hogs=N]';
const argv = process.argv.slice(2);
rejectUnknownArgs(argv, /^--(transfers|instances|seed|max-mb|stall-seconds|deadline-seconds|slow-readers|loss-permille|cpu-hogs)=\d+$/, USAGE);
const arg = (name: string, fallback: number): number => numberArg(argv, name, fallback);
const TRANSFERS = arg('transfers', 200);
const INSTANCES = arg('instances', 3);
const SEED = arg('seed', 1);
const MAX_MB = arg('max-mb', 16);
const STALL_MS = arg('stall-seconds', 5) * 1000;
const DEADLINE_MS = arg('deadline-seconds', 120) * 1000;
/** Share of readers (host sink, guest client) that are slow, in percent. */
const SLOW_READERS = arg('slow-readers', 30) / 100;
/** iptables loss for every round, per mille; absent: chosen per round among 0, 0, 1%, 2%, 3%. */
const LOSS = argv.some((a) => a.startsWith('--loss-permille=')) ? arg('loss-permille', 0) / 1000 : undefined;
/** Busy loops beside the run, so timers and reads come late the way they do on a loaded host. */
const CPU_HOGS = arg('cpu-hogs', 0);
const POLL_MS = 500;
/** A slow reader (either side) stops for a while after this many bytes. */
const PAUSE_EVERY = 4 * MB;
const DRAIN_MS = 10_000;
/** slirp4netns's (and our) default gateway MAC, pinned in the guest: ARP has no checksum to catch corruption. */
const GATEWAY_MAC = '52:55:0a:00:02:02';

if (process.getuid?.() !== 0) {
  console.error('tcp-soak needs root (namespaces, iptables inside them)');
  process.exit(1);
}
if (!existsSync(join(REPO_ROOT, 'dist/cli/main.js'))) {
  console.error('dist/ is not built: npm run build');
  process.exit(1);
}

interface RoundConfig {
  readonly id: string;
  readonly mtu: number;
  readonly offloads: boolean;
  /** TSLIRP_INJECT_FAULTS, or '' for none. */
  readonly faults: string;
  /** iptables statistic drop probability on tap0, each way. */
  readonly loss: number;
  readonly puts: number;
  readonly gets: number;
  readonly putBytes: number;
  readonly getBytes: number;
  readonly sinkPauseMs: number;
  readonly guestReadPauseMs: number;
}

interface TransferResult {
  readonly round: string;
  readonly direction: 'guest→host' | 'host→guest';
  readonly bytes: number;
  readonly ok: boolean;
  readonly seconds: number;
  /** host→guest: how long the guest's connect took (part of seconds). */
  readonly connectSeconds?: number;
  readonly error?: string;
}

interface Stall {
  readonly round: RoundConfig;
  readonly kind: 'no progress' | 'lingering';
  readonly flow: string;
  readonly detectedAfterMs: number;
  /** How long it went without progress in all (until it moved again, or the end of the round). */
  stalledMs: number;
  recovered: boolean;
  readonly dump: unknown;
  readonly guestSockets: string;
  readonly pcap: string;
  readonly file: string;
}

const random = mulberry32(SEED);
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];
const between = (low: number, high: number): number => low + random() * (high - low);
const round3 = (x: number): number => Math.round(x * 1000) / 1000;

let roundsStarted = 0;
let transfersPlanned = 0;
let lastReported = 0;

function nextRound(): RoundConfig | undefined {
  if (transfersPlanned >= TRANSFERS) return undefined;
  const mtu = pick([1500, 65520]);
  const offloads = random() < 0.4;
  const useFaults = random() < 0.8;
  const parts = [`seed=${Math.floor(random() * 0xffffffff)}`, `drop=${round3(between(0, 0.02))}`, `reorder=${round3(between(0, 0.03))}`, `duplicate=${round3(between(0, 0.01))}`];
  if (!offloads) parts.push(`corrupt=${round3(between(0, 0.01))}`);
  parts.push(`distance=${1 + Math.floor(random() * 4)}`);
  const shape = pick(['put', 'get', 'both', 'both'] as const);
  const left = TRANSFERS - transfersPlanned;
  let puts = shape === 'get' ? 0 : 1 + Math.floor(random() * 3);
  let gets = shape === 'put' ? 0 : 1 + Math.floor(random() * 3);
  puts = Math.min(puts, left);
  gets = Math.min(gets, left - puts);
  transfersPlanned += puts + gets;
  // Log-uniform sizes: many small transfers (handshakes, tails), some large ones.
  const size = (): number => Math.round(MB * Math.exp(between(0, Math.log(MAX_MB))));
  const throttle = (): number => (random() < SLOW_READERS ? Math.round(between(200, 1500)) : 0);
  return {
    id: `r${++roundsStarted}`,
    mtu,
    offloads,
    faults: useFaults ? parts.join(',') : '',
    loss: LOSS ?? pick([0, 0, 0.01, 0.02, 0.03]),
    puts,
    gets,
    putBytes: size(),
    getBytes: size(),
    sinkPauseMs: throttle(),
    guestReadPauseMs: throttle(),
  };
}

function describeRound(r: RoundConfig): string {
  return (
    `${r.id}: MTU ${r.mtu}${r.offloads ? ' +offloads' : ''}, iptables loss ${r.loss}, faults ${r.faults || 'none'}, ` +
    `${r.puts}×${(r.putBytes / MB).toFixed(1)} MB guest→host (sink pause ≤ ${r.sinkPauseMs} ms / 4 MiB), ` +
    `${r.gets}×${(r.getBytes / MB).toFixed(1)} MB host→guest (guest read pause ≤ ${r.guestReadPauseMs} ms / 4 MiB)`
  );
}

const results: TransferResult[] = [];
const stalls: Stall[] = [];
const startedAt = Date.now();
const dumpDir = mkdtempSync(join(tmpdir(), 'tslirp-soak-'));

interface FlowSnapshot {
  state: string;
  guest: string;
  remote: string;
  send: { una: number; fin_acked: boolean };
  receive: { next: number; fin_received: boolean };
}

async function debugFlows(apiSocket: string): Promise<FlowSnapshot[] | undefined> {
  try {
    const answer = JSON.parse((await apiRequest(apiSocket, '{"execute":"debug_flows"}', { timeoutMs: 5000 })).text) as { return?: { flows: FlowSnapshot[] } };
    return answer.return?.flows;
  } catch {
    return undefined;
  }
}

async function recordStall(round: RoundConfig, ns: TestNamespace, apiSocket: string, flow: FlowSnapshot, kind: Stall['kind'], quietMs: number): Promise<Stall> {
  let pcap = '(debug_pcap failed)';
  try {
    const answer = JSON.parse((await apiRequest(apiSocket, '{"execute":"debug_pcap"}', { timeoutMs: 10_000 })).text) as { return?: { path: string; records: number; seconds: number } };
    if (answer.return) pcap = `${answer.return.path} (${answer.return.records} frames, ${answer.return.seconds.toFixed(1)} s)`;
  } catch (error) {
    pcap = `(debug_pcap failed: ${String(error)})`;
  }
  const guestSockets = await ns.exec('ss', ['-tinemo', 'state', 'all'], 10_000).catch((e: Error) => e.message);
  const file = join(dumpDir, `stall-${stalls.length + 1}-${round.id}.json`);
  const stall: Stall = { round, kind, flow: `${flow.guest} ↔ ${flow.remote}`, detectedAfterMs: quietMs, stalledMs: quietMs, recovered: false, dump: flow, guestSockets, pcap, file };
  stalls.push(stall);
  writeFileSync(file, JSON.stringify({ ...stall, round: describeRound(round) }, null, 2));
  console.log(`STALL (${kind}) in ${describeRound(round)}\n  flow ${stall.flow}, no progress for ${(quietMs / 1000).toFixed(1)} s; dump ${file}; pcap ${pcap}`);
  return stall;
}

/** Watches one tslirp's flows until stopped; records stalls (and whether they recover). */
function watchdog(round: RoundConfig, ns: TestNamespace, apiSocket: string): { stop(): Promise<void> } {
  const progress = new Map<string, { signature: string; since: number; stall?: Stall }>();
  let running = true;
  const loop = (async () => {
    while (running) {
      await new Promise((r) => setTimeout(r, POLL_MS));
      const flows = await debugFlows(apiSocket);
      if (flows === undefined) continue;
      const now = Date.now();
      const seen = new Set<string>();
      for (const flow of flows) {
        const key = `${flow.guest}|${flow.remote}`;
        seen.add(key);
        const signature = `${flow.state}|${flow.send.una}|${flow.receive.next}|${flow.send.fin_acked}|${flow.receive.fin_received}`;
        const entry = progress.get(key);
        if (entry === undefined || entry.signature !== signature) {
          if (entry?.stall !== undefined) {
            entry.stall.stalledMs = now - entry.since;
            entry.stall.recovered = true;
            console.log(`  recovered: ${entry.stall.flow} moved again after ${(entry.stall.stalledMs / 1000).toFixed(1)} s`);
          }
          progress.set(key, { signature, since: now });
          continue;
        }
        if (entry.stall === undefined && flow.state !== 'TimeWait' && now - entry.since >= STALL_MS) {
          entry.stall = await recordStall(round, ns, apiSocket, flow, 'no progress', now - entry.since);
        } else if (entry.stall !== undefined) {
          entry.stall.stalledMs = now - entry.since;
        }
      }
      for (const [key, entry] of progress) {
        if (seen.has(key)) continue;
        // Gone (closed or aborted) while stalled: it ended, it did not recover.
        if (entry.stall !== undefined) entry.stall.stalledMs = now - entry.since;
        progress.delete(key);
      }
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
    },
  };
}

async function setLoss(ns: TestNamespace, probability: number): Promise<void> {
  if (probability <= 0) return;
  for (const [chain, dir] of [
    ['OUTPUT', '-o'],
    ['INPUT', '-i'],
  ]) {
    await ns.exec('iptables', ['-A', chain, dir, 'tap0', '-m', 'statistic', '--mode', 'random', '--probability', String(probability), '-j', 'DROP']);
  }
}

async function runRound(round: RoundConfig, servers: BulkServers, tracker: ProcessTracker): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tslirp-soak-api-'));
  const apiSocket = join(dir, 'api.sock');
  let ns: TestNamespace | undefined;
  let tslirp: TslirpProcess | undefined;
  try {
    ns = await createNamespace(tracker);
    const args = ['--configure', '--mtu', String(round.mtu), round.offloads ? '--enable-offloads' : '--disable-offloads', '-r', '3', '--api-socket', apiSocket, String(ns.pid), 'tap0'];
    const env = { ...process.env, TSLIRP_INJECT_FAULTS: round.faults, TSLIRP_PCAP_RING: `dir=${dumpDir},mb=32,seconds=30` };
    tslirp = startTslirp(args, { env });
    if ((await tslirp.ready) !== '1') throw new Error(`tslirp did not start: ${tslirp.log.text.slice(-2000)}`);
    await ns.exec('ip', ['neigh', 'replace', '10.0.2.2', 'lladdr', GATEWAY_MAC, 'dev', 'tap0', 'nud', 'permanent']);
    await setLoss(ns, round.loss);
    servers.sinkPauseMs = round.sinkPauseMs;
    servers.sinkPauseEvery = PAUSE_EVERY;
    const watch = watchdog(round, ns, apiSocket);
    const guest = ns;
    const puts = Array.from({ length: round.puts }, async (): Promise<TransferResult> => {
      const t0 = Date.now();
      try {
        const put = await guestPut(guest, servers, round.putBytes, DEADLINE_MS);
        const ok = put.reply === put.sha256;
        return { round: round.id, direction: 'guest→host', bytes: round.putBytes, ok, seconds: put.seconds, error: ok ? undefined : 'sha256 mismatch' };
      } catch (error) {
        return { round: round.id, direction: 'guest→host', bytes: round.putBytes, ok: false, seconds: (Date.now() - t0) / 1000, error: String(error).slice(0, 2000) };
      }
    });
    const gets = (async (): Promise<TransferResult[]> => {
      if (round.gets === 0) return [];
      const t0 = Date.now();
      const { got, sent } = await guestGetSettled(guest, servers, round.gets, round.getBytes, DEADLINE_MS, round.guestReadPauseMs, PAUSE_EVERY);
      return got.map((g): TransferResult => {
        if (g.status === 'rejected') {
          return { round: round.id, direction: 'host→guest', bytes: round.getBytes, ok: false, seconds: (Date.now() - t0) / 1000, error: String(g.reason).slice(0, 2000) };
        }
        const ok = g.value.length === round.getBytes && sent.includes(g.value.sha256);
        return { round: round.id, direction: 'host→guest', bytes: round.getBytes, ok, seconds: g.value.seconds, connectSeconds: g.value.connect_seconds, error: ok ? undefined : 'length or sha256 mismatch' };
      });
    })();
    const done = [...(await Promise.all(puts)), ...(await gets)];
    // Every flow must be gone soon after (TIME_WAIT is 2 s).
    const drainStart = Date.now();
    let left: FlowSnapshot[] | undefined;
    while ((left = await debugFlows(apiSocket)) !== undefined && left.length > 0 && Date.now() - drainStart < DRAIN_MS) await new Promise((r) => setTimeout(r, 250));
    await watch.stop();
    for (const flow of left ?? []) await recordStall(round, ns, apiSocket, flow, 'lingering', Date.now() - drainStart);
    results.push(...done);
    for (const r of done) if (!r.ok) console.log(`FAILED ${r.direction} ${(r.bytes / MB).toFixed(1)} MB in ${describeRound(round)}: ${r.error}`);
    for (const r of done) if (r.ok && r.seconds * 1000 > STALL_MS) console.log(`slow: ${r.direction} ${(r.bytes / MB).toFixed(1)} MB took ${r.seconds.toFixed(2)} s${r.connectSeconds !== undefined ? ` (connect ${r.connectSeconds.toFixed(2)} s)` : ''} in ${describeRound(round)}`);
  } finally {
    if (tslirp) await stopProcess(tslirp.child, 3000);
    if (ns) await stopProcess(ns.process, 2000);
    rmSync(dir, { recursive: true, force: true });
  }
}

async function worker(index: number): Promise<void> {
  const tracker = new ProcessTracker();
  const servers = await startBulkServers();
  try {
    for (let round = nextRound(); round !== undefined; round = nextRound()) {
      try {
        await runRound(round, servers, tracker);
      } catch (error) {
        console.log(`worker ${index}: round ${round.id} could not run: ${String(error)}`);
        results.push({ round: round.id, direction: 'guest→host', bytes: 0, ok: false, seconds: 0, error: `round failed: ${String(error).slice(0, 500)}` });
      }
      if (results.length >= lastReported + 25) {
        lastReported = results.length - (results.length % 25);
        const ok = results.filter((r) => r.ok).length;
        console.log(`[${results.length}/${TRANSFERS}] ok ${ok}, stalls ${stalls.length}, worst ${worst()?.seconds.toFixed(2) ?? '-'} s, ${((Date.now() - startedAt) / 1000).toFixed(0)} s`);
      }
    }
  } finally {
    await servers.close();
    await tracker.killAll();
  }
}

function worst(): TransferResult | undefined {
  return results.reduce<TransferResult | undefined>((w, r) => (w === undefined || r.seconds > w.seconds ? r : w), undefined);
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;
}

const commit = ((): string => {
  try {
    return execFileSync('git', ['-C', REPO_ROOT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
})();

const hogs = Array.from({ length: CPU_HOGS }, () => spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
// Ended by PID whatever happens to the run.
const endHogs = (): void => {
  for (const hog of hogs) hog.kill('SIGKILL');
};
process.on('exit', endHogs);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    endHogs();
    process.exit(130);
  });
}
try {
  await Promise.all(Array.from({ length: INSTANCES }, (_, i) => worker(i)));
} finally {
  endHogs();
}

const seconds = results.map((r) => r.seconds);
const w = worst();
const failed = results.filter((r) => !r.ok);
const longStalls = stalls.filter((s) => s.kind === 'lingering' || s.stalledMs > STALL_MS);
const lines = [
  `## TCP soak, ${new Date().toISOString()}, commit ${commit}`,
  '',
  `Command: \`npx tsx bench/tcp-soak.ts ${argv.join(' ')}\` (${TRANSFERS} transfers, ${INSTANCES} instances, seed ${SEED}, up to ${MAX_MB} MB, stall ${STALL_MS / 1000} s, deadline ${DEADLINE_MS / 1000} s, slow readers ${SLOW_READERS * 100}%, iptables loss ${LOSS === undefined ? 'per round' : LOSS}, CPU hogs ${CPU_HOGS})`,
  '',
  '| transfers | ok | failed | stalls > ' + STALL_MS / 1000 + ' s | lingering flows | median s | p99 s | worst s | wall s |',
  '|---|---|---|---|---|---|---|---|---|',
  `| ${results.length} | ${results.length - failed.length} | ${failed.length} | ${stalls.filter((s) => s.kind === 'no progress').length} | ${stalls.filter((s) => s.kind === 'lingering').length} | ${percentile(seconds, 0.5).toFixed(2)} | ${percentile(seconds, 0.99).toFixed(2)} | ${w?.seconds.toFixed(2) ?? '-'} | ${((Date.now() - startedAt) / 1000).toFixed(0)} |`,
  '',
  `Worst: ${w ? `${w.direction} ${(w.bytes / MB).toFixed(1)} MB in round ${w.round}` : '-'}. Rounds: ${roundsStarted}; MB moved: ${(results.reduce((a, r) => a + (r.ok ? r.bytes : 0), 0) / MB).toFixed(0)}.`,
];
for (const s of stalls) {
  lines.push('', `- ${s.kind}: ${s.flow}, ${(s.stalledMs / 1000).toFixed(1)} s${s.recovered ? ' (then recovered)' : ''}; ${describeRound(s.round)}; dump ${s.file}; pcap ${s.pcap}`);
}
for (const f of failed) lines.push('', `- failed: ${f.direction} ${(f.bytes / MB).toFixed(1)} MB, round ${f.round}: ${(f.error ?? '').split('\n')[0]}`);
const summary = lines.join('\n');
console.log(`\n${summary}\n\ndumps in ${dumpDir}`);
const resultsDir = join(REPO_ROOT, 'bench/results');
mkdirSync(resultsDir, { recursive: true });
appendFileSync(join(resultsDir, `tcp-soak-${new Date().toISOString().slice(0, 10)}.md`), `${summary}\n\n`);
process.exit(longStalls.length > 0 || failed.length > 0 ? 1 : 0);
