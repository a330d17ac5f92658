/**
 * Where a bulk transfer's CPU goes in each of several tslirp builds, the builds' rounds alternating
 * (A B, then B A) so that all see one machine load:
 * `npx tsx bench/tcp-threads.ts [--rounds=8] [--seconds=2] [--mtu=65520] [--offloads] [--reverse] [--profile] [BUILD ...]`.
 *
 * BUILD is a built checkout (default: this one), started as a client would (its launcher bin/tslirp);
 * `DIR#node` starts it as `node DIR/bin/tslirp.js` instead (the start path of builds before the
 * launcher attached the TAP), so one build can be compared with itself started both ways. Each build
 * gets its own namespace; the guest runs `iperf3 -c 10.0.2.2` (guest→host; --reverse: host→guest)
 * to one host server on 127.0.0.1.
 *
 * Prints per build: Gbit/s (median, runs), ACK/data frames written to the guest per GB, and CPU
 * seconds per GB of the whole process and of each thread (main = the JavaScript, the TAP thread,
 * V8's helpers) over all rounds. CPU per GB of a thread moves far less with other load on the
 * machine than Gbit/s. --profile runs each build's Node with --cpu-prof (through TSLIRP_NODE, a
 * wrapper this script writes) and adds the main thread's time per GB by part: the host socket write,
 * the TAP flush, the checksum, the receiver's copy, the rest of tslirp's JavaScript, Node's internals.
 *
 * The table is printed and appended to bench/results/tcp-threads-DATE.md. Needs root, iperf3 and
 * built checkouts. Traffic stays on loopback and in the namespaces it creates; every process it
 * starts is ended by PID.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { createNamespace, ProcessTracker, REPO_ROOT, stopProcess, type TestNamespace } from '../test/support/netns.js';
import { freePort } from '../test/support/published-guest.js';

const execFileAsync = promisify(execFile);
const CLK_TCK = 100;
const USAGE = 'usage: npx tsx bench/tcp-threads.ts [--rounds=N] [--seconds=S] [--mtu=M] [--offloads] [--reverse] [--profile] [DIR[#node] ...]';
const argv = process.argv.slice(2);
const flags = argv.filter((a) => a.startsWith('--'));
const unknown = flags.find((a) => !/^--(rounds=\d+|seconds=\d+|mtu=\d+|offloads|reverse|profile)$/.test(a));
if (unknown !== undefined) {
  console.error(unknown === '--help' || unknown === '-h' ? USAGE : `unknown argument "${unknown}"\n${USAGE}`);
  process.exit(unknown === '--help' || unknown === '-h' ? 0 : 2);
}
const numberArg = (name: string, fallback: number): number => Number(flags.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback);
const ROUNDS = numberArg('rounds', 8);
const SECONDS = numberArg('seconds', 2);
const MTU = numberArg('mtu', 65520);
const OFFLOADS = flags.includes('--offloads');
const REVERSE = flags.includes('--reverse');
const PROFILE = flags.includes('--profile');
const specs = argv.filter((a) => !a.startsWith('--'));
if (specs.length === 0) specs.push(REPO_ROOT);
for (const spec of specs) {
  if (!existsSync(join(spec.split('#')[0], 'bin/tslirp.js'))) {
    console.error(`${spec}: no bin/tslirp.js there`);
    process.exit(2);
  }
}

interface Build {
  readonly spec: string;
  readonly ns: TestNamespace;
  readonly child: ChildProcess;
  readonly profile: string | undefined;
  readonly gbps: number[];
  bytes: number;
  framesToGuest: number;
  processTicks: number;
  readonly threadTicks: Map<string, number>;
}

const tracker = new ProcessTracker();
const builds: Build[] = [];
const dir = mkdtempSync(join(tmpdir(), 'tslirp-threads-'));

function ticksOf(statPath: string): number {
  const stat = readFileSync(statPath, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime, stime
}

/** utime+stime per thread, by name: 'main' for the process's own thread, else its comm. */
function threadTicks(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = tid === String(pid) ? 'main' : stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')).trim();
      out.set(name, (out.get(name) ?? 0) + ticksOf(`/proc/${pid}/task/${tid}/stat`));
    } catch {
      // the thread ended meanwhile
    }
  }
  return out;
}

/** Frames the guest received on tap0 (what tslirp wrote), from the namespace's /proc/net/dev. */
function framesToGuest(ns: TestNamespace): number {
  const line = readFileSync(`/proc/${ns.pid}/net/dev`, 'utf8')
    .split('\n')
    .find((l) => l.trim().startsWith('tap0:'));
  return line === undefined ? 0 : Number(line.split(':')[1].trim().split(/\s+/)[1]);
}

async function start(spec: string, index: number): Promise<Build> {
  const [root, how] = spec.split('#');
  const ns = await createNamespace(tracker);
  const profile = PROFILE ? join(dir, `build-${index}.cpuprofile`) : undefined;
  const profileFlags = profile === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${dir}`, `--cpu-prof-name=build-${index}.cpuprofile`];
  const env: NodeJS.ProcessEnv = { ...process.env, TSLIRP_LOG_LEVEL: 'warn' };
  const launcher = join(resolve(root), 'bin/tslirp');
  let command: string[];
  if (how === 'node' || !existsSync(launcher)) {
    command = [process.execPath, ...profileFlags, join(resolve(root), 'bin/tslirp.js')];
  } else {
    command = [launcher];
    if (profile !== undefined) {
      // The launcher execs TSLIRP_NODE with its own flags: a wrapper adds --cpu-prof before them.
      const wrapper = join(dir, `node-${index}.sh`);
      writeFileSync(wrapper, `#!/bin/sh\nexec ${process.execPath} ${profileFlags.join(' ')} "$@"\n`);
      chmodSync(wrapper, 0o755);
      env.TSLIRP_NODE = wrapper;
    }
  }
  const args = ['--configure', `--mtu=${MTU}`, ...(OFFLOADS ? ['--enable-offloads'] : ['--disable-offloads']), '-r', '3', String(ns.pid), 'tap0'];
  const child = spawn(command[0], [...command.slice(1), ...args], { stdio: ['ignore', 'ignore', 'pipe', 'pipe'], env });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  await new Promise<void>((resolveReady, reject) => {
    (child.stdio[3] as NodeJS.ReadableStream).once('data', () => resolveReady());
    child.once('exit', (code) => reject(new Error(`${spec} exited ${code}: ${stderr}`)));
  });
  return { spec, ns, child, profile, gbps: [], bytes: 0, framesToGuest: 0, processTicks: 0, threadTicks: new Map() };
}

async function round(build: Build, port: number): Promise<void> {
  const pid = build.child.pid!;
  const processBefore = ticksOf(`/proc/${pid}/stat`);
  const threadsBefore = threadTicks(pid);
  const framesBefore = framesToGuest(build.ns);
  const { stdout } = await execFileAsync(
    'nsenter',
    ['-t', String(build.ns.pid), '-n', 'iperf3', '-c', '10.0.2.2', '-p', String(port), '-t', String(SECONDS), '-J', ...(REVERSE ? ['-R'] : [])],
    { timeout: (SECONDS + 30) * 1000, maxBuffer: 16 << 20 },
  );
  build.processTicks += ticksOf(`/proc/${pid}/stat`) - processBefore;
  for (const [name, ticks] of threadTicks(pid)) build.threadTicks.set(name, (build.threadTicks.get(name) ?? 0) + ticks - (threadsBefore.get(name) ?? 0));
  build.framesToGuest += framesToGuest(build.ns) - framesBefore;
  const result = JSON.parse(stdout) as { end?: { sum_received?: { bytes: number; bits_per_second: number } } };
  const sum = result.end?.sum_received;
  if (sum === undefined) throw new Error(`iperf3 through ${build.spec}: no result`);
  build.gbps.push(sum.bits_per_second / 1e9);
  build.bytes += sum.bytes;
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

/** The main thread's self time per part, in ms per GB, from a .cpuprofile. */
function profileParts(path: string, gigabytes: number): Map<string, number> {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as {
    nodes: { id: number; callFrame: { functionName: string; url: string } }[];
    samples: number[];
    timeDeltas: number[];
  };
  const frames = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
  const parts = new Map<string, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const frame = frames.get(profile.samples[i])!;
    const name = frame.functionName;
    if (name === '(idle)') continue;
    const ours = /dist\/(bundle|cli|stack|link|host|engine|wire)\//.test(frame.url);
    let part: string;
    // Node's socket (writeBuffer, writev) or the addon's (NativeHostStream.write, sendQueued): mostly the kernel's loopback.
    if (name === 'writeBuffer' || name === 'writev' || (ours && (name === 'write' || name === 'sendQueued'))) part = 'host socket write (native, kernel)';
    else if (ours && name === 'flush' && /tap-link|bundle/.test(frame.url)) part = 'TAP flush, frames to the guest (kernel)';
    else if (name === 'sumBytes') part = 'checksum (native)';
    else if (ours && name === 'deliver') part = "receiver's copy into the slab";
    else if (name === '(program)' || name === '(garbage collector)') part = name;
    else if (ours) part = 'other tslirp JavaScript';
    else part = 'Node internals and the rest';
    parts.set(part, (parts.get(part) ?? 0) + profile.timeDeltas[i] / 1000 / gigabytes);
  }
  return parts;
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('needs root (creates namespaces)');
  const port = await freePort();
  const server = tracker.spawn('iperf3', ['-s', '-B', '127.0.0.1', '-p', String(port)]);
  await new Promise((r) => setTimeout(r, 300));
  if (server.exitCode !== null) throw new Error('iperf3 server did not start');
  for (let i = 0; i < specs.length; i++) builds.push(await start(specs[i], i));
  for (let r = 0; r < ROUNDS; r++) {
    const order = r % 2 === 0 ? builds : [...builds].reverse();
    for (const build of order) {
      await round(build, port);
      await new Promise((res) => setTimeout(res, 200));
    }
  }
  for (const build of builds) await stopProcess(build.child, 5000); // the profile is written on exit

  const threadNames = [...new Set(builds.flatMap((b) => [...b.threadTicks].filter(([, t]) => t > 0).map(([n]) => n)))].sort((a, b) =>
    a === 'main' ? -1 : b === 'main' ? 1 : a.localeCompare(b),
  );
  const perGB = (b: Build, ticks: number): string => (ticks / CLK_TCK / (b.bytes / 1e9)).toFixed(3);
  const lines = [
    `iperf3 ${REVERSE ? 'host→guest' : 'guest→host'}, MTU ${MTU}${OFFLOADS ? ' +offloads' : ''}, ${ROUNDS} rounds × ${SECONDS} s per build, alternating (node ${process.version})`,
    '',
    `| build | Gbit/s median (runs) | frames to the guest per GB | process CPU s/GB | ${threadNames.map((n) => `${n} s/GB`).join(' | ')} |`,
    `|---|---|---:|---:|${threadNames.map(() => '---:').join('|')}|`,
    ...builds.map(
      (b) =>
        `| ${b.spec} | ${median(b.gbps).toFixed(2)} (${b.gbps.map((g) => g.toFixed(2)).join('/')}) | ${(b.framesToGuest / (b.bytes / 1e9)).toFixed(0)} | ${perGB(b, b.processTicks)} | ${threadNames
          .map((n) => perGB(b, b.threadTicks.get(n) ?? 0))
          .join(' | ')} |`,
    ),
  ];
  if (PROFILE) {
    const parts = builds.map((b) => (b.profile !== undefined && existsSync(b.profile) ? profileParts(b.profile, b.bytes / 1e9) : new Map<string, number>()));
    const names = [...new Set(parts.flatMap((p) => [...p.keys()]))].sort((a, b) => (parts[0].get(b) ?? 0) - (parts[0].get(a) ?? 0));
    lines.push('', `| main thread, ms per GB (--cpu-prof) | ${builds.map((b) => b.spec).join(' | ')} |`, `|---|${builds.map(() => '---:').join('|')}|`);
    for (const name of names) lines.push(`| ${name} | ${parts.map((p) => (p.get(name) ?? 0).toFixed(0)).join(' | ')} |`);
    lines.push(`| total busy | ${parts.map((p) => [...p.values()].reduce((a, b) => a + b, 0).toFixed(0)).join(' | ')} |`);
  }
  const table = lines.join('\n');
  console.log(table);
  const now = new Date();
  const file = join(REPO_ROOT, 'bench/results', `tcp-threads-${now.toISOString().slice(0, 10)}.md`);
  let commit = 'unknown commit';
  try {
    commit = execFileSync('git', ['-C', REPO_ROOT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    // not a git checkout
  }
  if (!existsSync(file)) writeFileSync(file, `# bench/tcp-threads.ts, ${now.toISOString().slice(0, 10)}\n`);
  appendFileSync(file, `\n## At ${commit} (${now.toISOString().slice(11, 16)} UTC)\n\nCommand: \`npx tsx bench/tcp-threads.ts ${argv.join(' ')}\` (root)\n\n${table}\n`);
  process.stderr.write(`tcp-threads: appended to ${file}\n`);
}

const stopEverything = async (): Promise<void> => {
  for (const build of builds) {
    await stopProcess(build.child, 5000);
    await stopProcess(build.ns.process);
  }
  await tracker.killAll();
  rmSync(dir, { recursive: true, force: true });
};

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void stopEverything().finally(() => process.exit(130));
  });
}

main()
  .catch((error: unknown) => {
    process.stderr.write(`tcp-threads: ${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = 1;
  })
  .finally(stopEverything);
