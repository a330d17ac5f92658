/**
 * iperf3 through tslirp and through the real slirp4netns, same namespace setup, interleaved
 * (A B, B A, A B …), several runs, medians:
 * `npx tsx bench/tcp-iperf.ts [--runs=3] [--seconds=5] [--quick (no published port)] [--only=1500|65520|offloads[,…]] [--family=4|6|both]`.
 *
 * Configurations: MTU 65520, MTU 1500, and MTU 1500 with tslirp's --enable-offloads (slirp4netns has
 * no offloads: plain 1500 there). Directions: guest→host (`iperf3 -c 10.0.2.2` inside, server
 * `iperf3 -s -B 127.0.0.1` on the host), host→guest (`-R`), and through a published port
 * (add_hostfwd over each one's --api-socket; host `iperf3 -c 127.0.0.1 -p HOSTPORT` → guest server,
 * both ways). Prints Gbit/s of both, the ratio tslirp/slirp4netns (of the medians, and run by run),
 * CPU seconds per GB of each process (utime+stime from /proc/PID/stat over the run) and of its main
 * thread alone (/proc/PID/task/PID/stat: for tslirp the JavaScript, without the TAP thread), and
 * tslirp's peak RSS (VmHWM). CPU per GB moves much less with other load on the machine than Gbit/s.
 *
 * IPv6 rows (issue 15; --family=both, the default, puts each beside its IPv4 row): both started with
 * `-6`, the guest configured by SLAAC; guest→host is `iperf3 -c fd00::2` to a host server on `-B ::1`,
 * published is add_hostfwd host_addr "::1" to the guest's SLAAC address, `iperf3 -c ::1`. The v6/v4
 * columns divide each one's IPv6 median by its IPv4 median (issue 15 wants tslirp's within 10%).
 * slirp4netns has no IPv6 published ports (its add_hostfwd takes IPv4 only): "n/a". tslirp's IPv6
 * cells stay "-" until 'tcp' is in TSLIRP_IPV6 (test/support/ipv6-guest.ts); before that it runs
 * without `-6`, as before.
 *
 * --cpus=LIST (taskset's list, e.g. 1): this process and everything it starts (namespaces, both
 * implementations and their threads, iperf3 on both ends) run on those CPUs only. On a machine others
 * load, one CPU makes the figure the whole path's CPU cost per byte, which their load barely moves
 * (the spread of an A/A run of one build against itself shows how much it does); unpinned, a 2-CPU
 * machine with other work varies by ±30 % run to run. Not what a client sees: a comparison of builds.
 *
 * --baseline=DIR: an A/B of two tslirp builds instead: the reference column is the tslirp of another
 * checkout (DIR, built: its launcher bin/tslirp, else bin/tslirp.js), started with the same options (offloads
 * included), interleaved with this one's run by run; the ratio is this build / the baseline.
 *
 * The table is printed and appended to bench/results/tcp-iperf-DATE.md with the command and commit.
 *
 * Needs root (namespaces), /usr/bin/slirp4netns, iperf3 and a built dist/ (npm run build). Traffic
 * stays on loopback and in the namespaces it creates; every process it starts is ended by PID.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { apiRequest } from '../test/support/api-client.js';
import { ipv6Implementations, waitForSlaac } from '../test/support/ipv6-guest.js';
import { createNamespace, ProcessTracker, REPO_ROOT, stopProcess, type TestNamespace } from '../test/support/netns.js';
import { freePort, SLIRP4NETNS } from '../test/support/published-guest.js';
import { rssKiB } from '../test/support/tcp-bulk-peers.js';
import { numberArg, rejectUnknownArgs } from './bench-args.js';
import { clientBuild, tslirpCommand } from './relay-harness.js';

const execFileAsync = promisify(execFile);
const CLK_TCK = 100;

const USAGE = 'usage: npx tsx bench/tcp-iperf.ts [--runs=N] [--seconds=S] [--quick] [--only=1500|65520|offloads[,…]] [--family=4|6|both] [--cpus=LIST] [--baseline=DIR]';
const argv = process.argv.slice(2);
// An unknown word must not start a 10-minute run.
rejectUnknownArgs(argv, /^--(runs=\d+|seconds=\d+|quick|only=\S+|family=(4|6|both)|cpus=[0-9,-]+|baseline=\S+)$/, USAGE);
const arg = (name: string, fallback: number): number => numberArg(argv, name, fallback);
const RUNS = arg('runs', 3);
const SECONDS = arg('seconds', 5);
const QUICK = argv.includes('--quick');
/** --only=1500 (or 65520, offloads, or a list: 65520,offloads): the configurations whose name contains one of the words. */
const ONLY = argv.find((a) => a.startsWith('--only='))?.split('=')[1].split(',').filter(Boolean);
/** --family=4 (or 6): only those rows; both by default. */
const FAMILY = argv.find((a) => a.startsWith('--family='))?.split('=')[1] ?? 'both';
const FAMILIES: Family[] = FAMILY === '4' ? [4] : FAMILY === '6' ? [6] : [4, 6];
/** --baseline=DIR: the reference is DIR's tslirp build instead of slirp4netns (an A/B of two builds). */
const BASELINE = argv.find((a) => a.startsWith('--baseline='))?.slice('--baseline='.length);
if (BASELINE !== undefined && !existsSync(join(BASELINE, 'bin/tslirp.js'))) {
  console.error(`--baseline: no ${join(BASELINE, 'bin/tslirp.js')}`);
  process.exit(2);
}
/** --cpus=LIST: pin this process (and so all it spawns from now on) to those CPUs. */
const CPUS = argv.find((a) => a.startsWith('--cpus='))?.slice('--cpus='.length);
if (CPUS !== undefined) execFileSync('taskset', ['-a', '-p', '-c', CPUS, String(process.pid)], { stdio: 'ignore' });
/** The reference's name in the table. */
const REFERENCE = BASELINE === undefined ? 'slirp4netns' : 'baseline';

type Impl = 'tslirp' | 'slirp4netns';
interface Config {
  readonly name: string;
  readonly mtu: number;
  readonly offloads: boolean;
}
type Direction = 'guest→host' | 'host→guest' | 'pub host→guest' | 'pub guest→host';
type Family = 4 | 6;
/** Where the guest reaches the host server, and where a published port is bound, per family. */
const GATEWAY: Record<Family, string> = { 4: '10.0.2.2', 6: 'fd00::2' };
const LOOPBACK: Record<Family, string> = { 4: '127.0.0.1', 6: '::1' };

interface Instance {
  readonly impl: Impl;
  readonly ns: TestNamespace;
  readonly child: ChildProcess;
  readonly apiSocket: string;
  /** Started with -6 (and the guest configured by SLAAC). */
  readonly ipv6: boolean;
  /** The published port on 127.0.0.1 and, when the implementation accepted it, on ::1. */
  readonly hostPort: Record<Family, number | undefined>;
  guestServer?: ChildProcess;
}

interface Sample {
  gbps: number;
  cpuPerGB: number;
  /** The same for the process's main thread alone (tslirp's JavaScript; the TAP thread and V8's helpers excluded). */
  mainThreadCpuPerGB: number;
}

const tracker = new ProcessTracker();
/** tslirp and slirp4netns processes (spawned here for their fd 3, so not through the tracker). */
const engines = new Set<ChildProcess>();
const stopEverything = async (): Promise<void> => {
  await Promise.all([...engines].map((child) => stopProcess(child, 3000)));
  await tracker.killAll();
};
const dir = mkdtempSync(join(tmpdir(), 'tslirp-iperf-'));

/** utime+stime of the process (all threads), or with mainThread of its main thread only. */
function cpuTicks(pid: number, mainThread = false): number {
  const stat = readFileSync(mainThread ? `/proc/${pid}/task/${pid}/stat` : `/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
}

/** Whether impl takes part in the IPv6 rows (tslirp only once its IPv6 engine is switched on). */
const ipv6For = (impl: Impl): boolean => FAMILIES.includes(6) && ipv6Implementations('tcp').includes(BASELINE === undefined ? impl : 'tslirp');

async function start(impl: Impl, config: Config): Promise<Instance> {
  const ns = await createNamespace(tracker);
  const apiSocket = join(dir, `${impl}-${config.mtu}-${config.offloads ? 'o' : 'p'}-${ns.pid}.sock`);
  const ipv6 = ipv6For(impl);
  const v6 = ipv6 ? ['-6'] : [];
  // The reference slot runs slirp4netns, or with --baseline the other build's tslirp.
  const build = impl === 'tslirp' ? clientBuild(REPO_ROOT) : BASELINE === undefined ? undefined : clientBuild(BASELINE);
  const common = ['--configure', `--mtu=${config.mtu}`, ...v6, '-r', '3', `--api-socket=${apiSocket}`];
  const [command, args] =
    build !== undefined
      ? tslirpCommand(build, [...common, ...(config.offloads ? ['--enable-offloads'] : ['--disable-offloads']), String(ns.pid), 'tap0'])
      : [SLIRP4NETNS, [...common, String(ns.pid), 'tap0']];
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe', 'pipe'], cwd: REPO_ROOT, env: { ...process.env, TSLIRP_LOG_LEVEL: 'warn' } });
  engines.add(child);
  child.once('exit', () => engines.delete(child));
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  await new Promise<void>((resolve, reject) => {
    const ready = child.stdio[3] as NodeJS.ReadableStream;
    ready.on('data', () => resolve());
    ready.on('close', () => resolve());
    child.once('exit', (code) => reject(new Error(`${impl} exited ${code}: ${stderr}`)));
  });
  // Guest iperf3 server (both families) for the published-port runs, and the forwards to it.
  const guestServer = tracker.spawn('nsenter', ['-t', String(ns.pid), '-n', 'iperf3', '-s', '-p', '5201']);
  const hostPort: Record<Family, number | undefined> = { 4: await freePort(), 6: undefined };
  const answer = await apiRequest(
    apiSocket,
    JSON.stringify({ execute: 'add_hostfwd', arguments: { proto: 'tcp', host_addr: '127.0.0.1', host_port: hostPort[4], guest_port: 5201 } }),
  );
  if (!/"return"/.test(answer.text)) throw new Error(`${impl} add_hostfwd failed: ${answer.text}`);
  if (ipv6) {
    const slaac = await waitForSlaac(ns, { timeoutMs: 20_000 });
    const port = await freePort('::1');
    const v6answer = await apiRequest(
      apiSocket,
      JSON.stringify({ execute: 'add_hostfwd', arguments: { proto: 'tcp', host_addr: '::1', host_port: port, guest_addr: slaac.address, guest_port: 5201 } }),
    );
    // slirp4netns refuses ("bad arguments.host_addr"): its published IPv6 cells say n/a.
    if (/"return"/.test(v6answer.text)) hostPort[6] = port;
    else if (impl === 'tslirp') throw new Error(`tslirp add_hostfwd [::1] failed: ${v6answer.text}`);
  }
  return { impl, ns, child, apiSocket, ipv6, hostPort, guestServer };
}

async function stop(instance: Instance): Promise<void> {
  if (instance.guestServer) await stopProcess(instance.guestServer);
  await stopProcess(instance.child, 3000);
  await stopProcess(instance.ns.process);
}

/** Why impl has no figure for this cell, or undefined when it can be measured. */
function notMeasured(instance: Instance, direction: Direction, family: Family): string | undefined {
  if (family === 4) return undefined;
  if (!instance.ipv6) return '-';
  if (direction.startsWith('pub') && instance.hostPort[6] === undefined) return 'n/a';
  return undefined;
}

async function iperf(instance: Instance, direction: Direction, family: Family, hostServerPort: number): Promise<Sample> {
  const pid = instance.child.pid!;
  const common = ['-t', String(SECONDS), '-J'];
  let command: string;
  let args: string[];
  if (direction === 'guest→host' || direction === 'host→guest') {
    command = 'nsenter';
    args = ['-t', String(instance.ns.pid), '-n', 'iperf3', '-c', GATEWAY[family], '-p', String(hostServerPort), ...common, ...(direction === 'host→guest' ? ['-R'] : [])];
  } else {
    command = 'iperf3';
    args = ['-c', LOOPBACK[family], '-p', String(instance.hostPort[family]), ...common, ...(direction === 'pub guest→host' ? ['-R'] : [])];
  }
  const before = cpuTicks(pid);
  const mainBefore = cpuTicks(pid, true);
  let stdout: string;
  try {
    ({ stdout } = await execFileAsync(command, args, { timeout: (SECONDS + 30) * 1000, maxBuffer: 16 << 20 }));
  } catch (error) {
    const e = error as { stdout?: string; message: string };
    stdout = e.stdout ?? '';
    if (!stdout) throw error;
  }
  const cpu = (cpuTicks(pid) - before) / CLK_TCK;
  const mainCpu = (cpuTicks(pid, true) - mainBefore) / CLK_TCK;
  const result = JSON.parse(stdout) as { error?: string; end?: { sum_received?: { bytes: number; bits_per_second: number } } };
  if (result.error || !result.end?.sum_received) throw new Error(`iperf3 ${instance.impl} IPv${family} ${direction}: ${result.error ?? 'no result'}`);
  const { bytes, bits_per_second } = result.end.sum_received;
  return { gbps: bits_per_second / 1e9, cpuPerGB: cpu / (bytes / 1e9), mainThreadCpuPerGB: mainCpu / (bytes / 1e9) };
}

/** Each run's ratio tslirp / reference (the runs were interleaved in pairs), and their median. */
function pairRatios(ours: Sample[], reference: Sample[]): string {
  const n = Math.min(ours.length, reference.length);
  if (n === 0) return '-';
  const ratios = Array.from({ length: n }, (_, i) => ours[i].gbps / reference[i].gbps);
  return `${median(ratios).toFixed(2)} (${ratios.map((r) => r.toFixed(2)).join('/')})`;
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('needs root (creates namespaces)');
  const configs: Config[] = [
    { name: 'MTU 65520', mtu: 65520, offloads: false },
    { name: 'MTU 1500', mtu: 1500, offloads: false },
    { name: 'MTU 1500 +offloads', mtu: 1500, offloads: true },
  ];
  const selected = ONLY ? configs.filter((c) => ONLY.some((word) => c.name.includes(word))) : configs;
  // A word that names no configuration printed an empty table before (--only=65520,offloads did).
  if (selected.length === 0) throw new Error(`--only=${ONLY?.join(',')} names no configuration (${configs.map((c) => c.name).join(', ')})`);
  const directions: Direction[] = QUICK ? ['guest→host', 'host→guest'] : ['guest→host', 'host→guest', 'pub host→guest', 'pub guest→host'];
  // One host iperf3 server per family: 127.0.0.1 (the guest's 10.0.2.2), ::1 (its fd00::2).
  const hostServerPort: Record<Family, number> = { 4: await freePort(), 6: await freePort('::1') };
  for (const family of FAMILIES) {
    const server = tracker.spawn('iperf3', ['-s', '-B', LOOPBACK[family], '-p', String(hostServerPort[family])]);
    await new Promise((r) => setTimeout(r, 300));
    if (server.exitCode !== null) throw new Error(`iperf3 server on ${LOOPBACK[family]} did not start`);
  }

  const rows: string[][] = [];
  for (const config of selected) {
    const instances: Record<Impl, Instance> = {
      tslirp: await start('tslirp', config),
      slirp4netns: await start('slirp4netns', BASELINE === undefined ? { ...config, offloads: false } : config),
    };
    await new Promise((r) => setTimeout(r, 500)); // guest iperf3 servers listening
    try {
      for (const direction of directions) {
        /** This direction's IPv4 medians, for the v6/v4 columns. */
        const ipv4Median: Partial<Record<Impl, number>> = {};
        for (const family of FAMILIES) {
          const samples: Record<Impl, Sample[]> = { tslirp: [], slirp4netns: [] };
          for (let run = 0; run < RUNS; run++) {
            // A B, then B A: neither goes first every time (a later run may find the host warmer).
            const order = run % 2 === 0 ? (['tslirp', 'slirp4netns'] as const) : (['slirp4netns', 'tslirp'] as const);
            for (const impl of order) {
              if (notMeasured(instances[impl], direction, family) !== undefined) continue;
              // The host iperf3 server may still be wrapping up the previous test ("busy"): retry.
              for (let attempt = 0; attempt < 5; attempt++) {
                try {
                  samples[impl].push(await iperf(instances[impl], direction, family, hostServerPort[family]));
                  break;
                } catch (error) {
                  const message = (error as Error).message.split('\n')[0];
                  process.stderr.write(`${config.name} IPv${family} ${direction} ${impl} run ${run + 1}: ${message}\n`);
                  if (!/busy/.test(message)) break;
                }
                await new Promise((r) => setTimeout(r, 500));
              }
              await new Promise((r) => setTimeout(r, 200));
            }
          }
          const medians: Partial<Record<Impl, number>> = {};
          const cell = (impl: Impl): string => {
            const why = notMeasured(instances[impl], direction, family);
            if (why !== undefined) return why;
            if (samples[impl].length === 0) return 'failed';
            medians[impl] = median(samples[impl].map((x) => x.gbps));
            return `${medians[impl]!.toFixed(2)} (${samples[impl].map((x) => x.gbps.toFixed(2)).join('/')})`;
          };
          const cpu = (impl: Impl): string => (samples[impl].length === 0 ? '-' : median(samples[impl].map((x) => x.cpuPerGB)).toFixed(2));
          const mainCpu = (impl: Impl): string => (samples[impl].length === 0 ? '-' : median(samples[impl].map((x) => x.mainThreadCpuPerGB)).toFixed(2));
          const [t, sl] = [cell('tslirp'), cell('slirp4netns')];
          if (family === 4) Object.assign(ipv4Median, medians);
          const ratio = (a: number | undefined, b: number | undefined): string => (a === undefined || b === undefined ? '-' : (a / b).toFixed(2));
          const row = [
            config.name,
            `IPv${family}`,
            direction,
            t,
            sl,
            ratio(medians.tslirp, medians.slirp4netns),
            pairRatios(samples.tslirp, samples.slirp4netns),
            family === 6 ? ratio(medians.tslirp, ipv4Median.tslirp) : '',
            family === 6 ? ratio(medians.slirp4netns, ipv4Median.slirp4netns) : '',
            cpu('tslirp'),
            cpu('slirp4netns'),
            mainCpu('tslirp'),
            mainCpu('slirp4netns'),
            (rssKiB(instances.tslirp.child.pid!).hwm / 1024).toFixed(0),
          ];
          rows.push(row);
          process.stderr.write(`${row.join(' | ')}\n`);
        }
      }
    } finally {
      await stop(instances.tslirp);
      await stop(instances.slirp4netns);
    }
  }
  const header = [
    'config',
    'IP',
    'direction',
    'tslirp Gbit/s (runs)',
    `${REFERENCE} Gbit/s (runs)`,
    'ratio',
    'run by run',
    'tslirp v6/v4',
    `${REFERENCE} v6/v4`,
    'tslirp CPU s/GB',
    `${REFERENCE} CPU s/GB`,
    'tslirp main thread s/GB',
    `${REFERENCE} main thread s/GB`,
    'tslirp VmHWM MiB',
  ];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  const table = [
    `iperf3 ${RUNS} × ${SECONDS} s per cell, interleaved tslirp/${BASELINE === undefined ? 'slirp4netns' : `baseline (${BASELINE})`}, medians (node ${process.version})${CPUS === undefined ? '' : `, everything on CPU ${CPUS}`}`,
    line(header),
    `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`,
    ...rows.map(line),
  ].join('\n');
  console.log(table);
  writeResults(table);
}

/** Appends the table, with the command and commit, to bench/results/tcp-iperf-DATE.md. */
function writeResults(table: string): void {
  const now = new Date();
  const file = join(REPO_ROOT, 'bench/results', `tcp-iperf-${now.toISOString().slice(0, 10)}.md`);
  let commit = 'unknown commit';
  try {
    commit = gitHead();
  } catch {
    // not a git checkout
  }
  if (!existsSync(file)) writeFileSync(file, `# bench/tcp-iperf.ts, ${now.toISOString().slice(0, 10)}\n`);
  const command = `npx tsx bench/tcp-iperf.ts ${argv.join(' ')}`.trim();
  appendFileSync(file, `\n## At ${commit} (${now.toISOString().slice(11, 16)} UTC)\n\nCommand: \`${command}\` (root, after \`npm run build\`)\n\n${table}\n`);
  process.stderr.write(`tcp-iperf: appended to ${file}\n`);
}

function gitHead(): string {
  return execFileSync('git', ['-C', REPO_ROOT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
}

// Interrupted: end what we started (by PID) before leaving.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void stopEverything().finally(() => {
      rmSync(dir, { recursive: true, force: true });
      process.exit(130);
    });
  });
}

main()
  .catch((error: unknown) => {
    process.stderr.write(`tcp-iperf: ${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = 1;
  })
  .finally(async () => {
    await stopEverything();
    rmSync(dir, { recursive: true, force: true });
  });
