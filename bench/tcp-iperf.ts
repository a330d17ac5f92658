/**
 * iperf3 through tslirp and through the real slirp4netns, same namespace setup, interleaved
 * (A B A B …), several runs, medians:
 * `npx tsx bench/tcp-iperf.ts [--runs=3] [--seconds=5] [--quick (no published port)] [--only=1500|65520|offloads]`.
 *
 * Configurations: MTU 65520, MTU 1500, and MTU 1500 with tslirp's --enable-offloads (slirp4netns has
 * no offloads: plain 1500 there). Directions: guest→host (`iperf3 -c 10.0.2.2` inside, server
 * `iperf3 -s -B 127.0.0.1` on the host), host→guest (`-R`), and through a published port
 * (add_hostfwd over each one's --api-socket; host `iperf3 -c 127.0.0.1 -p HOSTPORT` → guest server,
 * both ways). Prints Gbit/s of both, the ratio tslirp/slirp4netns, CPU seconds per GB of each
 * process (utime+stime from /proc/PID/stat over the run) and tslirp's peak RSS (VmHWM).
 *
 * Needs root (namespaces), /usr/bin/slirp4netns, iperf3 and a built dist/ (npm run build). Traffic
 * stays on loopback and in the namespaces it creates; every process it starts is ended by PID.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { apiRequest } from '../test/support/api-client.js';
import { createNamespace, ProcessTracker, REPO_ROOT, stopProcess, type TestNamespace } from '../test/support/netns.js';
import { freePort, SLIRP4NETNS } from '../test/support/published-guest.js';
import { rssKiB } from '../test/support/tcp-bulk-peers.js';

const execFileAsync = promisify(execFile);
const TSLIRP = join(REPO_ROOT, 'bin/tslirp.js');
const CLK_TCK = 100;

const USAGE = 'usage: npx tsx bench/tcp-iperf.ts [--runs=N] [--seconds=S] [--quick] [--only=1500|65520|offloads]';
const argv = process.argv.slice(2);
// An unknown word must not start a 10-minute run.
const unknown = argv.find((a) => !/^--(runs=\d+|seconds=\d+|quick|only=\S+)$/.test(a));
if (unknown !== undefined) {
  console.error(unknown === '--help' || unknown === '-h' ? USAGE : `unknown argument "${unknown}"\n${USAGE}`);
  process.exit(unknown === '--help' || unknown === '-h' ? 0 : 2);
}
const arg = (name: string, fallback: number): number => {
  const found = argv.find((a) => a.startsWith(`--${name}=`));
  return found ? Number(found.split('=')[1]) : fallback;
};
const RUNS = arg('runs', 3);
const SECONDS = arg('seconds', 5);
const QUICK = argv.includes('--quick');
/** --only=1500 (or 65520, offloads): just the configurations whose name contains it. */
const ONLY = argv.find((a) => a.startsWith('--only='))?.split('=')[1];

type Impl = 'tslirp' | 'slirp4netns';
interface Config {
  readonly name: string;
  readonly mtu: number;
  readonly offloads: boolean;
}
type Direction = 'guest→host' | 'host→guest' | 'pub host→guest' | 'pub guest→host';

interface Instance {
  readonly impl: Impl;
  readonly ns: TestNamespace;
  readonly child: ChildProcess;
  readonly apiSocket: string;
  hostPort: number;
  guestServer?: ChildProcess;
}

interface Sample {
  gbps: number;
  cpuPerGB: number;
}

const tracker = new ProcessTracker();
/** tslirp and slirp4netns processes (spawned here for their fd 3, so not through the tracker). */
const engines = new Set<ChildProcess>();
const stopEverything = async (): Promise<void> => {
  await Promise.all([...engines].map((child) => stopProcess(child, 3000)));
  await tracker.killAll();
};
const dir = mkdtempSync(join(tmpdir(), 'tslirp-iperf-'));

function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
}

async function start(impl: Impl, config: Config): Promise<Instance> {
  const ns = await createNamespace(tracker);
  const apiSocket = join(dir, `${impl}-${config.mtu}-${config.offloads ? 'o' : 'p'}-${ns.pid}.sock`);
  const args =
    impl === 'tslirp'
      ? [TSLIRP, '--configure', `--mtu=${config.mtu}`, '-r', '3', `--api-socket=${apiSocket}`, ...(config.offloads ? ['--enable-offloads'] : []), String(ns.pid), 'tap0']
      : ['--configure', `--mtu=${config.mtu}`, '-r', '3', `--api-socket=${apiSocket}`, String(ns.pid), 'tap0'];
  const command = impl === 'tslirp' ? process.execPath : SLIRP4NETNS;
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
  // Guest iperf3 server for the published-port runs, and the forward to it.
  const guestServer = tracker.spawn('nsenter', ['-t', String(ns.pid), '-n', 'iperf3', '-s', '-p', '5201']);
  const hostPort = await freePort();
  const answer = await apiRequest(
    apiSocket,
    JSON.stringify({ execute: 'add_hostfwd', arguments: { proto: 'tcp', host_addr: '127.0.0.1', host_port: hostPort, guest_port: 5201 } }),
  );
  if (!/"return"/.test(answer.text)) throw new Error(`${impl} add_hostfwd failed: ${answer.text}`);
  return { impl, ns, child, apiSocket, hostPort, guestServer };
}

async function stop(instance: Instance): Promise<void> {
  if (instance.guestServer) await stopProcess(instance.guestServer);
  await stopProcess(instance.child, 3000);
  await stopProcess(instance.ns.process);
}

async function iperf(instance: Instance, direction: Direction, hostServerPort: number): Promise<Sample> {
  const pid = instance.child.pid!;
  const common = ['-t', String(SECONDS), '-J'];
  let command: string;
  let args: string[];
  if (direction === 'guest→host' || direction === 'host→guest') {
    command = 'nsenter';
    args = ['-t', String(instance.ns.pid), '-n', 'iperf3', '-c', '10.0.2.2', '-p', String(hostServerPort), ...common, ...(direction === 'host→guest' ? ['-R'] : [])];
  } else {
    command = 'iperf3';
    args = ['-c', '127.0.0.1', '-p', String(instance.hostPort), ...common, ...(direction === 'pub guest→host' ? ['-R'] : [])];
  }
  const before = cpuTicks(pid);
  let stdout: string;
  try {
    ({ stdout } = await execFileAsync(command, args, { timeout: (SECONDS + 30) * 1000, maxBuffer: 16 << 20 }));
  } catch (error) {
    const e = error as { stdout?: string; message: string };
    stdout = e.stdout ?? '';
    if (!stdout) throw error;
  }
  const cpu = (cpuTicks(pid) - before) / CLK_TCK;
  const result = JSON.parse(stdout) as { error?: string; end?: { sum_received?: { bytes: number; bits_per_second: number } } };
  if (result.error || !result.end?.sum_received) throw new Error(`iperf3 ${instance.impl} ${direction}: ${result.error ?? 'no result'}`);
  const { bytes, bits_per_second } = result.end.sum_received;
  return { gbps: bits_per_second / 1e9, cpuPerGB: cpu / (bytes / 1e9) };
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
  const selected = ONLY ? configs.filter((c) => c.name.includes(ONLY)) : configs;
  const directions: Direction[] = QUICK ? ['guest→host', 'host→guest'] : ['guest→host', 'host→guest', 'pub host→guest', 'pub guest→host'];
  const hostServerPort = await freePort();
  const hostServer = tracker.spawn('iperf3', ['-s', '-B', '127.0.0.1', '-p', String(hostServerPort)]);
  await new Promise((r) => setTimeout(r, 300));
  if (hostServer.exitCode !== null) throw new Error('iperf3 server did not start');

  const rows: string[][] = [];
  for (const config of selected) {
    const instances: Record<Impl, Instance> = {
      tslirp: await start('tslirp', config),
      slirp4netns: await start('slirp4netns', { ...config, offloads: false }),
    };
    await new Promise((r) => setTimeout(r, 500)); // guest iperf3 servers listening
    try {
      for (const direction of directions) {
        const samples: Record<Impl, Sample[]> = { tslirp: [], slirp4netns: [] };
        for (let run = 0; run < RUNS; run++) {
          for (const impl of ['tslirp', 'slirp4netns'] as const) {
            // The host iperf3 server may still be wrapping up the previous test ("busy"): retry.
            for (let attempt = 0; attempt < 5; attempt++) {
              try {
                samples[impl].push(await iperf(instances[impl], direction, hostServerPort));
                break;
              } catch (error) {
                const message = (error as Error).message.split('\n')[0];
                process.stderr.write(`${config.name} ${direction} ${impl} run ${run + 1}: ${message}\n`);
                if (!/busy/.test(message)) break;
              }
              await new Promise((r) => setTimeout(r, 500));
            }
            await new Promise((r) => setTimeout(r, 200));
          }
        }
        const t = median(samples.tslirp.map((s) => s.gbps));
        const s = median(samples.slirp4netns.map((s) => s.gbps));
        const row = [
          config.name,
          direction,
          `${t.toFixed(2)} (${samples.tslirp.map((x) => x.gbps.toFixed(2)).join('/')})`,
          `${s.toFixed(2)} (${samples.slirp4netns.map((x) => x.gbps.toFixed(2)).join('/')})`,
          (t / s).toFixed(2),
          median(samples.tslirp.map((x) => x.cpuPerGB)).toFixed(2),
          median(samples.slirp4netns.map((x) => x.cpuPerGB)).toFixed(2),
          (rssKiB(instances.tslirp.child.pid!).hwm / 1024).toFixed(0),
        ];
        rows.push(row);
        process.stderr.write(`${row.join(' | ')}\n`);
      }
    } finally {
      await stop(instances.tslirp);
      await stop(instances.slirp4netns);
    }
  }
  const header = ['config', 'direction', 'tslirp Gbit/s (runs)', 'slirp4netns Gbit/s (runs)', 'ratio', 'tslirp CPU s/GB', 'slirp4netns CPU s/GB', 'tslirp VmHWM MiB'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  console.log(`iperf3 ${RUNS} × ${SECONDS} s per cell, interleaved tslirp/slirp4netns, medians (node ${process.version})`);
  console.log(line(header));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const row of rows) console.log(line(row));
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
