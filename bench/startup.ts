/**
 * Start-up of tslirp against the real slirp4netns, interleaved (A B A B …), medians:
 * `npx tsx bench/startup.ts [--runs=N] [--podman-runs=N] [--no-podman] [--only=help,tap,ready,podman]
 * [--baseline=PATH/bin/tslirp]` (--only: those rows alone, to split a run into shorter holds of the machine
 * lock; --baseline: another build's launcher as one more contender, interleaved, for a before/after).
 *
 * Rows (wall time from the spawn of the executable, as a client sees it):
 * - `--help`, `--version` until the process exits (podman runs `--help` before every start,
 *   RootlessKit twice), with the harness's own floor beside them (spawnSync of /bin/true: forking
 *   this Node process is most of what these rows measure);
 * - tap0 created, for `BINARY PID tap0` (upstream's dhcp test brings tap0 up right after starting
 *   the binary): an `ip monitor link` already running in the target namespace reports it;
 * - ready fd: "1" on fd 3, with podman's own arguments (CLIENTS.md: -c, --mtu=65520,
 *   --disable-host-loopback, --enable-sandbox, --enable-seccomp, --enable-ipv6, an API socket,
 *   --netns-type=path), and with RootlessKit's (no sandbox, existing tap0 without -c);
 * - `podman run --rm IMAGE true` with `--network slirp4netns` (and with port_handler=slirp4netns and
 *   a published port), podman 4.3 rootless as in test/e2e/podman.test.ts.
 *
 * tslirp is measured as clients run it (bin/tslirp, the launcher) and, for reference, as
 * `node bin/tslirp.js` (no launcher). Also prints tslirp's own stage times (its debug log line
 * "start-up": TAP attached, Node's main module running, modules loaded, ready; ms since the
 * launcher started). Writes the table to bench/results/startup-DATE.md.
 *
 * Needs root, /usr/bin/slirp4netns, a built tree (npm install; npm run build), podman for the last
 * rows. No traffic leaves the machine: the namespaces are the benchmark's own, nothing is sent.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { createNamespace, ProcessTracker, REPO_ROOT, stopProcess, type TestNamespace } from '../test/support/netns.js';
import { PODMAN_IMAGE, PodmanEnv, podmanPrerequisite, SLIRP4NETNS, type NetworkBinary } from '../test/support/podman-env.js';
import { builtCliPrerequisite, TSLIRP_BIN, TSLIRP_NODE_ENTRY } from '../test/support/tslirp-process.js';
import { numberArg, rejectUnknownArgs } from './bench-args.js';

const USAGE = 'usage: npx tsx bench/startup.ts [--runs=N] [--podman-runs=N] [--no-podman] [--only=help,tap,ready,podman] [--baseline=PATH/bin/tslirp]';
const argv = process.argv.slice(2);
rejectUnknownArgs(argv, /^--(runs=\d+|podman-runs=\d+|no-podman|baseline=\S+|only=(help|tap|ready|podman)(,(help|tap|ready|podman))*)$/, USAGE);
const arg = (name: string, fallback: number): number => numberArg(argv, name, fallback);
const RUNS = arg('runs', 10);
const PODMAN_RUNS = arg('podman-runs', 8);
const ONLY = argv.find((a) => a.startsWith('--only='))?.slice('--only='.length).split(',');
const wanted = (rows: string): boolean => ONLY === undefined || ONLY.includes(rows);
const WITH_PODMAN = !argv.includes('--no-podman') && wanted('podman');

/** How each contender is started: the executable and the arguments before the slirp4netns ones. */
const BASELINE = argv.find((a) => a.startsWith('--baseline='))?.slice('--baseline='.length);
type Contender = 'tslirp' | 'tslirp (node bin/tslirp.js)' | 'slirp4netns' | 'baseline';
const COMMANDS: Partial<Record<Contender, [string, string[]]>> = {
  tslirp: [TSLIRP_BIN, []],
  'tslirp (node bin/tslirp.js)': [process.execPath, [TSLIRP_NODE_ENTRY]],
  slirp4netns: [SLIRP4NETNS, []],
};
if (BASELINE !== undefined) COMMANDS.baseline = [BASELINE, []];
const CONTENDERS = Object.keys(COMMANDS) as Contender[];

const tracker = new ProcessTracker();
const dir = mkdtempSync(join(tmpdir(), 'tslirp-startup-'));

function median(xs: readonly number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function summary(xs: readonly number[]): string {
  if (xs.length === 0) return '-';
  const sorted = [...xs].sort((a, b) => a - b);
  return `${median(xs).toFixed(1)} (${sorted[0].toFixed(1)}–${sorted[sorted.length - 1].toFixed(1)})`;
}

/** ms until the process exits. */
function commandOf(contender: Contender): [string, string[]] {
  const command = COMMANDS[contender];
  if (command === undefined) throw new Error(`no command for ${contender}`);
  return command;
}

function timeToExit(contender: Contender, args: readonly string[]): number {
  const [command, prefix] = commandOf(contender);
  const start = performance.now();
  const result = spawnSync(command, [...prefix, ...args], { stdio: 'ignore' });
  const ms = performance.now() - start;
  if (result.status !== 0) throw new Error(`${contender} ${args.join(' ')} exited ${result.status}`);
  return ms;
}

interface Started {
  readonly child: ChildProcess;
  readonly startedAt: number;
  readonly stderr: () => string;
}

function start(contender: Contender, args: readonly string[], env: NodeJS.ProcessEnv = process.env): Started {
  const [command, prefix] = commandOf(contender);
  let stderr = '';
  const startedAt = performance.now();
  const child = spawn(command, [...prefix, ...args], { stdio: ['ignore', 'ignore', 'pipe', 'pipe'], env });
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return { child, startedAt, stderr: () => stderr };
}

/** ms from spawn until `ip monitor link` in the namespace reports tap0. */
async function timeToTap(contender: Contender, ns: TestNamespace): Promise<number> {
  const monitor = tracker.spawn('nsenter', ['-t', String(ns.pid), '-n', 'ip', '-o', 'monitor', 'link']);
  await new Promise((resolve) => setTimeout(resolve, 150)); // subscribed to link events by then
  let seen: number | undefined;
  const appeared = new Promise<void>((resolve) => {
    monitor.stdout?.on('data', (chunk: Buffer) => {
      if (seen === undefined && /\btap0\b/.test(chunk.toString())) {
        seen = performance.now();
        resolve();
      }
    });
  });
  const started = start(contender, [String(ns.pid), 'tap0']);
  try {
    await Promise.race([appeared, new Promise((_, reject) => setTimeout(() => reject(new Error(`no tap0 from ${contender}: ${started.stderr()}`)), 10_000))]);
    return (seen as number) - started.startedAt;
  } finally {
    await stopProcess(started.child, 3000);
    await stopProcess(monitor, 1000);
  }
}

interface ReadyResult {
  readonly ms: number;
  /** tslirp's "start-up" debug line, when it printed one. */
  readonly stages: Record<string, number> | undefined;
}

/** ms from spawn until the ready fd (fd 3) says "1". */
async function timeToReady(contender: Contender, args: readonly string[]): Promise<ReadyResult> {
  const started = start(contender, ['-r', '3', ...args], { ...process.env, TSLIRP_LOG_LEVEL: 'debug' });
  const ready = started.child.stdio[3] as Readable;
  try {
    const ms = await new Promise<number>((resolve, reject) => {
      let text = '';
      const timer = setTimeout(() => reject(new Error(`${contender} not ready: ${started.stderr()}`)), 15_000);
      ready.on('data', (chunk: Buffer) => {
        text += chunk.toString();
        if (text.includes('1')) {
          clearTimeout(timer);
          resolve(performance.now() - started.startedAt);
        }
      });
      ready.on('close', () => reject(new Error(`${contender} closed the ready fd without "1": ${started.stderr()}`)));
    });
    // The stage line is logged right after the ready fd.
    await new Promise((resolve) => setTimeout(resolve, 100));
    const line = started.stderr().split('\n').find((l) => l.includes('"start-up'));
    const stages = line ? (JSON.parse(line) as Record<string, number>) : undefined;
    return { ms, stages };
  } finally {
    await stopProcess(started.child, 3000);
  }
}

const rows: string[][] = [];
const stageRows: string[][] = [];

function addRow(what: string, results: Map<Contender, number[]>): void {
  const tslirp = results.get('tslirp') ?? [];
  const reference = results.get('slirp4netns') ?? [];
  const ratio = tslirp.length && reference.length ? (median(tslirp) / median(reference)).toFixed(2) : '-';
  const difference = tslirp.length && reference.length ? `${(median(tslirp) - median(reference)).toFixed(1)}` : '-';
  const baseline = results.get('baseline') ?? [];
  const versusBaseline = tslirp.length && baseline.length ? (median(tslirp) / median(baseline)).toFixed(2) : '-';
  rows.push([what, ...CONTENDERS.map((c) => summary(results.get(c) ?? [])), difference, ratio, ...(BASELINE === undefined ? [] : [versusBaseline])]);
  console.log(`${what}: ${CONTENDERS.map((c) => `${c} ${summary(results.get(c) ?? [])}`).join(', ')}`);
}

/** The harness's own share of an exit row: spawnSync of /bin/true (which does nothing), timed alike. */
const spawnFloor: number[] = [];

function timeFloor(): number {
  const start = performance.now();
  spawnSync('/bin/true', [], { stdio: 'ignore' });
  return performance.now() - start;
}

async function measure(what: string, contenders: readonly Contender[], once: (c: Contender) => Promise<number> | number, floor?: () => number): Promise<void> {
  const results = new Map<Contender, number[]>(contenders.map((c) => [c, []]));
  for (const c of contenders) await once(c); // warm-up: page cache, first exec
  for (let i = 0; i < RUNS; i++) {
    for (const c of contenders) results.get(c)!.push(await once(c));
    if (floor !== undefined) spawnFloor.push(floor());
  }
  addRow(what, results);
}

async function measureReady(what: string, args: (ns: TestNamespace) => Promise<string[]>): Promise<void> {
  const results = new Map<Contender, number[]>(CONTENDERS.map((c) => [c, []]));
  const stages: Record<string, number>[] = [];
  const once = async (c: Contender, keep: boolean): Promise<void> => {
    const ns = await createNamespace(tracker);
    try {
      const result = await timeToReady(c, await args(ns));
      if (!keep) return;
      results.get(c)!.push(result.ms);
      if (c === 'tslirp' && result.stages) stages.push(result.stages);
    } finally {
      await stopProcess(ns.process, 1000);
    }
  };
  for (const c of CONTENDERS) await once(c, false);
  for (let i = 0; i < RUNS; i++) for (const c of CONTENDERS) await once(c, true);
  addRow(what, results);
  if (stages.length > 0) {
    const stage = (key: string): string => median(stages.map((s) => s[key] ?? NaN)).toFixed(1);
    stageRows.push([what, stage('attachedMs'), stage('nodeStartedMs'), stage('modulesLoadedMs'), stage('readyMs')]);
  }
}

async function measurePodman(): Promise<void> {
  const missing = podmanPrerequisite();
  if (missing) {
    rows.push(['podman run --rm (skipped)', missing, '', '', '', '']);
    return;
  }
  const env = await PodmanEnv.create();
  try {
    const scenarios: [string, (port: number) => string[]][] = [
      ['podman run --rm IMAGE true, --network slirp4netns', () => ['run', '--rm', '--network', 'slirp4netns', PODMAN_IMAGE, 'true']],
      [
        'podman run --rm -p PORT:80 IMAGE true, --network slirp4netns:port_handler=slirp4netns',
        (port) => ['run', '--rm', '--network', 'slirp4netns:port_handler=slirp4netns', '-p', `${port}:80`, PODMAN_IMAGE, 'true'],
      ],
    ];
    const binaries: NetworkBinary[] = ['tslirp', 'slirp4netns'];
    for (const [what, args] of scenarios) {
      const results = new Map<Contender, number[]>([
        ['tslirp', []],
        ['slirp4netns', []],
      ]);
      let port = 17300 + Math.floor(Math.random() * 500);
      const once = async (binary: NetworkBinary): Promise<number> => {
        const t0 = performance.now();
        await env.podman(args(port++), binary, 120_000);
        return performance.now() - t0;
      };
      for (const b of binaries) await once(b); // warm-up (the first run starts podman's pause process)
      for (let i = 0; i < PODMAN_RUNS; i++) for (const b of binaries) results.get(b)!.push(await once(b));
      addRow(what, results);
    }
  } finally {
    await env.destroy();
  }
}

function table(header: string[], body: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => (c ?? '').padEnd(widths[i])).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)].join('\n');
}

async function main(): Promise<void> {
  const built = builtCliPrerequisite();
  if (built) throw new Error(built);
  if (!existsSync(SLIRP4NETNS)) throw new Error(`needs ${SLIRP4NETNS}`);
  try {
    if (wanted('help')) await measure('--help (exit)', CONTENDERS, (c) => timeToExit(c, ['--help']), timeFloor);
    if (wanted('help')) await measure('--version (exit)', CONTENDERS, (c) => timeToExit(c, ['--version']), timeFloor);
    if (wanted('tap')) await measure('tap0 created (`BINARY PID tap0`)', CONTENDERS, async (c) => {
      const ns = await createNamespace(tracker);
      try {
        return await timeToTap(c, ns);
      } finally {
        await stopProcess(ns.process, 1000);
      }
    });
    if (wanted('ready')) await measureReady("ready fd, podman's arguments (sandbox, seccomp, -c, API socket)", async (ns) => [
      '--disable-host-loopback', '--mtu=65520', '--enable-sandbox', '--enable-seccomp', '--enable-ipv6', '-c',
      '--api-socket', join(dir, `api-${ns.pid}.sock`), '--netns-type=path', `/proc/${ns.pid}/ns/net`, 'tap0',
    ]);
    if (wanted('ready')) await measureReady("ready fd, RootlessKit's arguments (existing tap0)", async (ns) => {
      await ns.exec('ip', ['tuntap', 'add', 'name', 'tap0', 'mode', 'tap']);
      return ['--mtu', '65520', '--disable-host-loopback', '--api-socket', join(dir, `api-${ns.pid}.sock`), String(ns.pid), 'tap0'];
    });
    if (WITH_PODMAN) await measurePodman();
  } finally {
    await tracker.killAll();
    rmSync(dir, { recursive: true, force: true });
  }

  const commit = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO_ROOT, encoding: 'utf8' }).stdout.trim();
  const now = new Date();
  const text = [
    `## At ${commit} (${now.toISOString().slice(11, 16)} UTC, node ${process.version}, ${RUNS} runs${WITH_PODMAN ? `, podman ${PODMAN_RUNS}` : ''}${ONLY ? `, --only=${ONLY.join(',')}` : ''})`,
    '',
    'Wall ms from spawn, median (min–max); difference and ratio: tslirp (bin/tslirp) against slirp4netns.',
    '',
    ...(BASELINE === undefined ? [] : [`baseline: ${BASELINE}`, '']),
    table(['what', ...CONTENDERS.map((c) => `${c} ms`), 'tslirp − slirp4netns ms', 'ratio', ...(BASELINE === undefined ? [] : ['tslirp / baseline'])], rows),
    '',
    ...(spawnFloor.length === 0
      ? []
      : [`Spawn floor of the exit rows (this harness's spawnSync of /bin/true, interleaved with them): ${summary(spawnFloor)} ms.`, '']),
    ...(stageRows.length === 0
      ? []
      : [
          "tslirp's own stages (debug log \"start-up\"), ms since the launcher started, medians:",
          '',
          table(['start', 'TAP attached', 'Node main running', 'modules loaded', 'ready'], stageRows),
          '',
        ]),
  ].join('\n');
  console.log(`\n${text}`);
  const resultsDir = join(REPO_ROOT, 'bench/results');
  mkdirSync(resultsDir, { recursive: true });
  const file = join(resultsDir, `startup-${now.toISOString().slice(0, 10)}.md`);
  if (!existsSync(file)) {
    writeFileSync(file, `# bench/startup.ts, ${now.toISOString().slice(0, 10)}\n\nCommand: \`npx tsx bench/startup.ts\` (root, after npm install and npm run build), slirp4netns 1.2.0.\n\n`);
  }
  appendFileSync(file, `${text}\n`);
  console.log(`written to ${file}`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
