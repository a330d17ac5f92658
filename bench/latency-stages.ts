/**
 * Where a request/response round trip's time goes, stage by stage, through tslirp (and a baseline
 * build), beside the whole round trip through slirp4netns:
 *
 *   npx tsx bench/latency-stages.ts [--mtu=65520] [--seconds=2] [--baseline=DIR] [--label=TEXT]
 *
 * One connection, 64-byte request and answer (bench/latency-peer.c), guest→host (server on the
 * host's 127.0.0.1) and host→guest through a published port. The client stamps each round trip's
 * send and receive with CLOCK_MONOTONIC; tslirp runs with bench/stage-trace.ts preloaded, which
 * stamps with the same clock the moments a message crosses tslirp's stage boundaries:
 *
 *   guest→host: client send → [guest kernel, TAP, TAP read, (reader thread → event loop)] → batch
 *     delivered to the engine → [engine inbound] → host socket write() → [host kernel, server,
 *     event loop wakes] → host bytes into the send queue → [engine outbound, flush] → TAP written →
 *     [guest kernel, client wakes] → client receive.
 *   host→guest: client send → [host kernel, event loop] → accepted socket 'data' → [copy, one
 *     event-loop turn] → host bytes into the send queue → … → TAP written → [guest kernel, server]
 *     → batch delivered → … → host socket write() → [host kernel, client wakes] → client receive.
 *
 * Also per round trip: relay CPU (utime+stime) and wakeups (context switches of all its threads).
 * Medians and p99 over every round trip of the run. Prints markdown and appends it to
 * bench/results/latency-stages-DATE.md. Needs root, slirp4netns, cc, a built dist/.
 */
import { execFile } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../test/support/netns.js';
import { freePort } from '../test/support/published-guest.js';
import { contextSwitches, cpuSeconds, RelayLab, type Instance, type TslirpBuild } from './relay-harness.js';
import { STAGE } from './stage-trace.js';
import { rejectUnknownArgs, textArg } from './bench-args.js';

const execFileAsync = promisify(execFile);
const argv = process.argv.slice(2);
const USAGE = 'usage: npx tsx bench/latency-stages.ts [--mtu=65520] [--seconds=2] [--baseline=DIR] [--label=TEXT]';
rejectUnknownArgs(argv, /^--(mtu=\d+|seconds=[\d.]+|baseline=\S+|label=.*)$/, USAGE);
const option = (name: string): string | undefined => textArg(argv, name);
const MTU = Number(option('mtu') ?? 65520);
const SECONDS = Number(option('seconds') ?? 2);
const BASELINE = option('baseline');
const LABEL = option('label');
const WARMUP = 0.5;

type Direction = 'guest→host' | 'host→guest (published)';
const DIRECTIONS: Direction[] = ['guest→host', 'host→guest (published)'];

/** The stage boundaries of each direction, in the order a round trip crosses them. */
const PATHS: Record<Direction, { codes: number[]; names: string[] }> = {
  'guest→host': {
    codes: [STAGE.batch, STAGE.hostWrite, STAGE.hostBytes, STAGE.tapFlush],
    names: ['client send → batch to engine (guest kernel, TAP read, thread hop)', 'batch → host write() (engine in)', 'host write → host bytes to engine (host kernel, server, loop wakeup)', 'host bytes → TAP written (engine out, flush)', 'TAP written → client receive (guest kernel)'],
  },
  'host→guest (published)': {
    codes: [STAGE.hostData, STAGE.hostBytes, STAGE.tapFlush, STAGE.batch, STAGE.hostWrite],
    names: ['client send → socket data event (host kernel, loop wakeup)', 'data event → host bytes to engine (copy, loop turn)', 'host bytes → TAP written (engine out, flush)', 'TAP written → batch to engine (guest kernel, server, TAP read, thread hop)', 'batch → host write() (engine in)', 'host write → client receive (host kernel)'],
  },
};

interface Run {
  readonly roundTrips: [bigint, bigint][];
  readonly cpuSeconds: number;
  readonly wakeups: number;
}

const lab = new RelayLab();

async function roundTrips(instance: Instance, direction: Direction, hostEchoPort: number): Promise<Run> {
  const times = lab.path(`times-${instance.impl}-${direction === 'guest→host' ? 'g2h' : 'h2g'}.txt`);
  const args = (host: string, port: number): string[] => ['rr', host, String(port), '64', String(WARMUP), String(SECONDS), times];
  const [command, full] =
    direction === 'guest→host' ? ['nsenter', ['-t', String(instance.guest!.pid), '-n', lab.peer, ...args('10.0.2.2', hostEchoPort)]] : [lab.peer, args('127.0.0.1', instance.echoHostPort)];
  const cpu = cpuSeconds(instance.relayPid);
  const switches = contextSwitches(instance.relayPid);
  await execFileAsync(command, full, { timeout: (SECONDS + 30) * 1000 });
  const cpuUsed = cpuSeconds(instance.relayPid) - cpu;
  const wakeups = contextSwitches(instance.relayPid) - switches;
  const roundTrips = readFileSync(times, 'utf8')
    .trim()
    .split('\n')
    .map((line) => line.split(' ').map(BigInt) as [bigint, bigint]);
  // The warm-up's round trips are not in the file: scale the relay's figures to the measured part.
  const share = SECONDS / (SECONDS + WARMUP);
  return { roundTrips, cpuSeconds: cpuUsed * share, wakeups: wakeups * share };
}

function readStamps(file: string): { codes: Uint8Array; times: BigInt64Array } {
  const lines = readFileSync(file, 'utf8').trim().split('\n');
  const codes = new Uint8Array(lines.length);
  const times = new BigInt64Array(lines.length);
  lines.forEach((line, i) => {
    const [code, time] = line.split(' ');
    codes[i] = Number(code);
    times[i] = BigInt(time);
  });
  return { codes, times };
}

/** Per round trip, the µs spent between consecutive boundaries (the client's send and receive included). */
function stages(run: Run, stamps: { codes: Uint8Array; times: BigInt64Array }, codes: number[]): number[][] {
  const out: number[][] = codes.map(() => []).concat([[]]);
  let at = 0;
  for (const [sent, received] of run.roundTrips) {
    while (at < stamps.times.length && stamps.times[at] <= sent) at++;
    const marks: bigint[] = [sent];
    let i = at;
    for (const code of codes) {
      while (i < stamps.times.length && stamps.times[i] < received && stamps.codes[i] !== code) i++;
      if (i >= stamps.times.length || stamps.times[i] >= received) break;
      marks.push(stamps.times[i]);
    }
    if (marks.length !== codes.length + 1) continue; // a boundary was not crossed in order: skip
    marks.push(received);
    for (let s = 0; s < marks.length - 1; s++) out[s].push(Number(marks[s + 1] - marks[s]) / 1000);
  }
  return out;
}

function quantile(values: number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.round(q * (sorted.length - 1)))];
}

const fmt = (values: number[]): string => (values.length === 0 ? '–' : `${quantile(values, 0.5).toFixed(1)} / ${quantile(values, 0.99).toFixed(1)}`);

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('needs root (creates namespaces)');
  const preload = (dist: string, name: string): TslirpBuild['env'] => ({ TSLIRP_STAGE_DIST: dist, TSLIRP_STAGE_FILE: lab.path(`stages-${name}.txt`) });
  const nodeArgs = ['--import', 'tsx', '--import', join(REPO_ROOT, 'bench/stage-trace.ts')];
  const builds: { name: 'tslirp' | 'baseline'; build: TslirpBuild }[] = [
    // dist/cli/main.js, not the bundle bin/tslirp.js prefers: the preload wraps the dist modules' classes.
    { name: 'tslirp', build: { bin: join(REPO_ROOT, 'dist/cli/main.js'), nodeArgs, env: preload(join(REPO_ROOT, 'dist'), 'tslirp') } },
  ];
  if (BASELINE) builds.push({ name: 'baseline', build: { bin: join(BASELINE, 'dist/cli/main.js'), nodeArgs, env: preload(join(BASELINE, 'dist'), 'baseline') } });
  const hostEchoPort = await freePort();
  await lab.startEchoServer('127.0.0.1', hostEchoPort);

  const instances: Instance[] = [];
  for (const { name, build } of builds) instances.push(await lab.startSlirp(name, MTU, build));
  instances.push(await lab.startSlirp('slirp4netns', MTU));
  const runs = new Map<string, Run>();
  for (const direction of DIRECTIONS) {
    for (const instance of instances) runs.set(`${instance.impl} ${direction}`, await roundTrips(instance, direction, hostEchoPort));
  }
  for (const instance of instances) await instance.stop();

  const lines: string[] = [];
  const names = instances.map((i) => i.impl);
  for (const direction of DIRECTIONS) {
    lines.push('', `### ${direction}, MTU ${MTU}: µs, median / p99`, '');
    lines.push(`| stage | ${names.join(' | ')} |`, `|---|${names.map(() => '---').join('|')}|`);
    const path = PATHS[direction];
    const perImpl = new Map<string, number[][]>();
    for (const { name } of builds) {
      const file = lab.path(`stages-${name}.txt`);
      if (!existsSync(file)) throw new Error(`${name} wrote no stage file`);
      perImpl.set(name, stages(runs.get(`${name} ${direction}`)!, readStamps(file), path.codes));
    }
    path.names.forEach((stage, s) => lines.push(`| ${stage} | ${names.map((n) => (perImpl.has(n) ? fmt(perImpl.get(n)![s]) : '')).join(' | ')} |`));
    const total = (n: string): number[] => runs.get(`${n} ${direction}`)!.roundTrips.map(([a, b]) => Number(b - a) / 1000);
    lines.push(`| **round trip (client)** | ${names.map((n) => fmt(total(n))).join(' | ')} |`);
    lines.push(`| round trips matched to stages | ${names.map((n) => (perImpl.has(n) ? `${perImpl.get(n)![0].length} of ${total(n).length}` : '')).join(' | ')} |`);
    const per = (n: string, f: (r: Run) => number): number => f(runs.get(`${n} ${direction}`)!) / runs.get(`${n} ${direction}`)!.roundTrips.length;
    lines.push(`| relay CPU per round trip (µs) | ${names.map((n) => (per(n, (r) => r.cpuSeconds) * 1e6).toFixed(1)).join(' | ')} |`);
    lines.push(`| relay wakeups per round trip | ${names.map((n) => per(n, (r) => r.wakeups).toFixed(2)).join(' | ')} |`);
  }
  const title = `bench/latency-stages.ts${LABEL ? `, ${LABEL}` : ''}: ${SECONDS} s per direction (+${WARMUP} s warm-up), node ${process.version}, ${new Date().toISOString().slice(0, 16)}Z`;
  const text = `## ${title}\n\nCommand: \`npx tsx bench/latency-stages.ts ${argv.join(' ')}\`\n${lines.join('\n')}\n`;
  console.log(text);
  const resultsDir = join(REPO_ROOT, 'bench/results');
  mkdirSync(resultsDir, { recursive: true });
  appendFileSync(join(resultsDir, `latency-stages-${new Date().toISOString().slice(0, 10)}.md`), `\n${text}`);
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void lab.close().finally(() => process.exit(130));
  });
}

main()
  .catch((error: unknown) => {
    process.stderr.write(`latency-stages: ${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = 1;
  })
  .finally(() => lab.close());
