/**
 * Small-message latency, connection rate, published-port throughput and idle wakeups: tslirp and
 * the real slirp4netns 1.2.0 side by side in one run (interleaved, medians of --runs), at MTU 65520
 * and 1500, the guest a network namespace owned by its own user namespace (`unshare -rn`, as
 * rootless use has it). The published-port rows also run RootlessKit's builtin port driver (it
 * loses the client's source address) and pasta (its loopback "splice" path), where installed; the
 * guest→host rows run pasta too (its guest addressed as tslirp's, the gateway mapped to the host's
 * loopback): a relay of the same kind (terminate, re-originate) written in C.
 *
 *   npx tsx bench/latency.ts [--runs=3] [--seconds=3] [--warmup=0.5] [--mtu=65520,1500]
 *                            [--only=rr,cr,pub,iperf,idle,urr] [--no-rootlesskit] [--no-pasta]
 *                            [--ipv6] [--baseline=DIR] [--label=TEXT]
 *
 * tslirp runs as clients run it: each tree's launcher (bin/tslirp, with native/node_flags.h's Node
 * flags). TSLIRP_NODE_FLAGS='--cpu-prof …' runs node with those options on bin/tslirp.js instead
 * (both builds).
 *
 * Every implementation runs with its own defaults, as a user gets them: tslirp with virtio-net
 * offloads on the TAP (the default since issue 12; a --baseline build older than that runs without).
 *
 * --baseline=DIR adds another tslirp build (a checkout with dist/ and the addon built, e.g. main
 * before a change) as one more implementation in the same interleaved runs: before/after figures
 * taken side by side, on a machine whose load drifts between runs.
 *
 * Workloads (each run: every implementation once, in turn):
 * - rr: 64-byte request, 64-byte answer, one connection, guest→host (server on 127.0.0.1, reached
 *   as 10.0.2.2) and host→guest through a published port; round trips/s, p50, p99.
 * - cr: connect, 1 byte each way, close; guest→host and host→guest through a published port. The
 *   guest client closes first and its ports wait in TIME_WAIT: every guest has the widest port range
 *   and tcp_tw_reuse=1 (RelayLab.prepareGuest), so that its connect() does not search ever longer for
 *   a free port, a cost of the guest's kernel the same behind any relay.
 * - urr (only when asked for): a 64-byte UDP datagram and its 64-byte echo, one guest socket,
 *   guest→host (a UDP echo server on 127.0.0.1, reached as 10.0.2.2): a DNS-like exchange through
 *   the guest's UDP binding; round trips/s, p50, p99 (a round trip without an answer within 1 s
 *   counts as lost and is left out).
 * - pub: iperf3 through the published port, host client → guest server, and -R.
 * - iperf: the existing iperf3 rows (guest→host, host→guest) of bench/tcp-iperf.ts.
 * - --ipv6: the guest→host rr, cr and urr asked for once more over IPv6 (the guest's fd00::/64
 *   address, the server on ::1 reached as fd00::2), tslirp and slirp4netns started with
 *   --enable-ipv6 for the whole run; pasta left out of those rows (this passt, 2023-03, left the
 *   guest's connections to its IPv6 gateway unanswered when tried).
 * - idle: wakeups per second (context switches of every thread of the relay process, from
 *   /proc/PID/task/TID/status) with no traffic, holding one half-closed flow, and one idle
 *   established flow (data acknowledged).
 * CPU: utime+stime of the relay process over each measurement, per 1000 round trips / connections
 * and per GB.
 *
 * The request/response and connection clients and servers are bench/latency-peer.c (compiled here
 * with cc): a few microseconds per message, far below what a relay costs (loopback alone: ~35k
 * round trips/s on this kind of machine). Prints one markdown table and appends it to
 * bench/results/latency-DATE.md.
 *
 * Needs root (namespaces), slirp4netns, iperf3, cc, a built dist/ (npm run build); RootlessKit
 * (rootlesskit, rootlessctl, uidmap) and pasta (passt) optional. Traffic stays on loopback and in
 * the namespaces it creates (every guest, pasta's too, reaches only 10.0.2.2, the host's loopback);
 * every process it starts is ended by PID.
 */
import { execFile, execFileSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { openTunToAll, REPO_ROOT, stopProcess } from '../test/support/netns.js';
import { freePort } from '../test/support/published-guest.js';
import { rootlesskitPrerequisite } from '../test/support/rootless-user.js';
import { clientBuild, contextSwitches, cpuSeconds, RelayLab, sleep, waitGuestIpv6, type Impl, type Instance } from './relay-harness.js';
import { rejectUnknownArgs, textArg } from './bench-args.js';

const execFileAsync = promisify(execFile);
const MESSAGE_SIZE = 64;

const USAGE =
  'usage: npx tsx bench/latency.ts [--runs=N] [--seconds=S] [--warmup=S] [--mtu=65520,1500] [--only=rr,cr,pub,iperf,idle,urr] [--no-rootlesskit] [--no-pasta] [--ipv6] [--baseline=DIR] [--label=TEXT]';
const argv = process.argv.slice(2);
rejectUnknownArgs(argv, /^--(runs=\d+|seconds=[\d.]+|warmup=[\d.]+|mtu=[\d,]+|only=[a-z,]+|no-rootlesskit|no-pasta|ipv6|baseline=\S+|label=.*)$/, USAGE);
const option = (name: string): string | undefined => textArg(argv, name);
const RUNS = Number(option('runs') ?? 3);
const SECONDS = Number(option('seconds') ?? 3);
const WARMUP = Number(option('warmup') ?? 0.5);
const MTUS = (option('mtu') ?? '65520,1500').split(',').map(Number);
const ONLY = new Set((option('only') ?? 'rr,cr,pub,iperf,idle').split(','));
const LABEL = option('label');
const BASELINE = option('baseline');
const IPV6 = argv.includes('--ipv6');
const IDLE_SECONDS = 5;

/** One measurement: the figures of one client run and the relay's CPU over it. */
interface Sample {
  readonly values: Record<string, number>;
  readonly cpuSeconds: number;
}

const lab = new RelayLab();
const nodeArgs = process.env.TSLIRP_NODE_FLAGS?.split(' ').filter(Boolean) ?? [];
const TSLIRP_BUILD = clientBuild(REPO_ROOT, nodeArgs);
const BASELINE_BUILD = BASELINE ? clientBuild(BASELINE, nodeArgs) : undefined;

// ---- measurements ----

async function measured(instance: Instance, run: () => Promise<Record<string, number>>): Promise<Sample> {
  const before = cpuSeconds(instance.relayPid);
  const values = await run();
  return { values, cpuSeconds: cpuSeconds(instance.relayPid) - before };
}

/** Runs latency-peer on the host, or in the instance's guest; its one JSON line. */
async function peer(instance: Instance | undefined, where: 'guest' | 'host', args: string[]): Promise<Record<string, number>> {
  const [command, full] = where === 'guest' ? ['nsenter', ['-t', String(instance!.guest!.pid), '-n', lab.peer, ...args]] : [lab.peer, args];
  const { stdout } = await execFileAsync(command, full, { timeout: (WARMUP + SECONDS + 30) * 1000 });
  return JSON.parse(stdout) as Record<string, number>;
}

/**
 * Host servers for the guest→host workloads: one echo server for rr, one for urr (when asked for),
 * on 127.0.0.1 and (--ipv6) on ::1 with the same ports; cr gets a fresh one per run.
 */
interface HostServers {
  readonly echoPort: number;
  readonly iperfPort: number;
  readonly udpEchoPort: number;
}

type Family = 4 | 6;
/** The host's loopback, where the guest→host servers listen. */
const hostLoopback = (family: Family): string => (family === 4 ? '127.0.0.1' : '::1');
/** What the guest connects to for the host's loopback: the gateway. */
const gatewayFromGuest = (family: Family): string => (family === 4 ? '10.0.2.2' : 'fd00::2');

async function udpRequestResponse(instance: Instance, host: HostServers, family: Family = 4): Promise<Sample> {
  return measured(instance, () => peer(instance, 'guest', ['urr', gatewayFromGuest(family), String(host.udpEchoPort), String(MESSAGE_SIZE), String(WARMUP), String(SECONDS)]));
}

/** The host's UDP echo server for urr (bench/latency-peer.c userve), once it is bound. */
async function startUdpEchoServer(address: string, port: number): Promise<void> {
  const child = lab.tracker.spawn(lab.peer, ['userve', address, String(port)]);
  await new Promise<void>((resolve, reject) => {
    let seen = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      if (seen.includes('listening')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`UDP echo server exited (${code})`)));
  });
}

async function requestResponse(instance: Instance, direction: 'g2h' | 'h2g', host: HostServers, family: Family = 4): Promise<Sample> {
  const args = (target: string, port: number): string[] => ['rr', target, String(port), String(MESSAGE_SIZE), String(WARMUP), String(SECONDS)];
  return measured(instance, () => (direction === 'g2h' ? peer(instance, 'guest', args(gatewayFromGuest(family), host.echoPort)) : peer(instance, 'host', args('127.0.0.1', instance.echoHostPort))));
}

async function connectionRate(instance: Instance, direction: 'g2h' | 'h2g', family: Family = 4): Promise<Sample> {
  if (direction === 'h2g') return measured(instance, () => peer(instance, 'host', ['cr', '127.0.0.1', String(instance.echoHostPort), String(WARMUP), String(SECONDS)]));
  // A fresh server port per run: the guest's closed connections wait in TIME_WAIT per 4-tuple.
  const port = await freePort();
  const server = await lab.startEchoServer(hostLoopback(family), port);
  try {
    return await measured(instance, () => peer(instance, 'guest', ['cr', gatewayFromGuest(family), String(port), String(WARMUP), String(SECONDS)]));
  } finally {
    await stopProcess(server);
  }
}

type IperfDirection = 'pub h2g' | 'pub g2h' | 'g2h' | 'h2g';

async function iperf(instance: Instance, direction: IperfDirection, host: HostServers): Promise<Sample> {
  const common = ['-t', String(SECONDS), '-J'];
  const [command, args] =
    direction === 'g2h' || direction === 'h2g'
      ? ['nsenter', ['-t', String(instance.guest!.pid), '-n', 'iperf3', '-c', '10.0.2.2', '-p', String(host.iperfPort), ...common, ...(direction === 'h2g' ? ['-R'] : [])]]
      : ['iperf3', ['-c', '127.0.0.1', '-p', String(instance.iperfHostPort), ...common, ...(direction === 'pub g2h' ? ['-R'] : [])]];
  for (let attempt = 0; ; attempt++) {
    try {
      return await measured(instance, async () => {
        let stdout: string;
        try {
          ({ stdout } = await execFileAsync(command, args, { timeout: (SECONDS + 30) * 1000, maxBuffer: 16 << 20 }));
        } catch (error) {
          stdout = (error as { stdout?: string }).stdout ?? '';
          if (!stdout) throw error;
        }
        const result = JSON.parse(stdout) as { error?: string; end?: { sum_received?: { bytes: number; bits_per_second: number } } };
        if (result.error || !result.end?.sum_received) throw new Error(`iperf3 ${instance.impl} ${direction}: ${result.error ?? 'no result'}`);
        return { gbps: result.end.sum_received.bits_per_second / 1e9, bytes: result.end.sum_received.bytes };
      });
    } catch (error) {
      // The host iperf3 server may still be wrapping up the previous test ("busy"): retry.
      if (attempt >= 4 || !/busy/.test((error as Error).message)) throw error;
      await sleep(500);
    }
  }
}

/** A host server that answers each byte and never ends its side (the held flows of the idle rows). */
async function startHoldServer(): Promise<{ port: number; server: Server; sockets: Set<Socket> }> {
  const sockets = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('data', (d: Buffer) => socket.write(d));
    socket.on('error', () => undefined);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as { port: number }).port, server, sockets };
}

type IdleCase = 'no flows' | 'half-closed flow' | 'idle established flow';

async function idleWakeups(instance: Instance, idle: IdleCase, holdPort: number): Promise<Sample> {
  let holder: ChildProcess | undefined;
  if (idle !== 'no flows') {
    const mode = idle === 'half-closed flow' ? 'half' : 'open';
    holder = await lab.startInGuest(instance.guest!, [lab.peer, 'hold', '10.0.2.2', String(holdPort), mode], /held/);
  }
  await sleep(1000); // let delayed ACKs, TIME_WAITs of earlier runs and timers settle
  const pid = instance.relayPid;
  const switches = contextSwitches(pid);
  const sample = await measured(instance, async () => {
    await sleep(IDLE_SECONDS * 1000);
    return {};
  });
  const perSecond = (contextSwitches(pid) - switches) / IDLE_SECONDS;
  if (holder) await stopProcess(holder);
  return { values: { wakeups: perSecond }, cpuSeconds: sample.cpuSeconds };
}

/**
 * rr between two host processes over loopback, no relay: what the machine itself does at the moment.
 * On this VM it swings between modes (46k round trips/s one hour, 16k the next, when waking a halted
 * vCPU is dear), and the ratios between relays move with it: a relay that busy-polls never lets its
 * vCPU halt. Printed in each table's title so that a table can be read against its machine.
 */
async function machineFloor(echoPort: number): Promise<string> {
  const result = await peer(undefined, 'host', ['rr', '127.0.0.1', String(echoPort), String(MESSAGE_SIZE), String(WARMUP), String(SECONDS)]);
  return `${formatValue(result.rate, 0)}/s p50 ${result.p50_us.toFixed(0)} µs`;
}

// ---- table ----

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length === 0 ? NaN : sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

interface Metric {
  readonly name: string;
  /** Value of one sample. */
  readonly of: (s: Sample) => number;
  readonly digits: number;
  /** Lower is better (latency, wakeups): the ratio still reads tslirp / slirp4netns. */
  readonly lowerIsBetter?: boolean;
}

interface Row {
  readonly mtu: number;
  readonly workload: string;
  readonly metric: Metric;
  readonly samples: Partial<Record<Impl, Sample[]>>;
  /** CPU per unit of work, as text per implementation (first metric of a workload only). */
  readonly cpu?: (samples: Sample[]) => number;
  readonly cpuUnit?: string;
}

const rows: Row[] = [];

function formatValue(value: number, digits: number): string {
  if (!Number.isFinite(value)) return '–';
  if (digits === 0 && value >= 10_000) return `${(value / 1000).toFixed(1)}k`;
  return value.toFixed(digits);
}

function cell(row: Row, impl: Impl): string {
  const samples = row.samples[impl];
  if (!samples || samples.length === 0) return '–';
  const values = samples.map(row.metric.of);
  return `${formatValue(median(values), row.metric.digits)} (${values.map((v) => formatValue(v, row.metric.digits)).join('/')})`;
}

function render(): string {
  const header = ['MTU', 'workload', 'metric', 'tslirp (runs)', 'slirp4netns (runs)', 'ratio', ...(BASELINE ? ['baseline (runs)', 'ratio to baseline'] : []), 'RootlessKit builtin', 'pasta', 'CPU tslirp', 'CPU slirp4netns', ...(BASELINE ? ['CPU baseline'] : [])];
  const body = rows.map((row) => {
    const t = median((row.samples.tslirp ?? []).map(row.metric.of));
    const s = median((row.samples.slirp4netns ?? []).map(row.metric.of));
    const b = median((row.samples.baseline ?? []).map(row.metric.of));
    const ratio = (x: number, y: number): string => (Number.isFinite(x / y) && y !== 0 ? (x / y).toFixed(2) : '–');
    const cpu = (impl: Impl): string => {
      const samples = row.samples[impl];
      return row.cpu && samples && samples.length > 0 ? `${row.cpu(samples).toFixed(3)} ${row.cpuUnit}` : '';
    };
    return [
      String(row.mtu),
      row.workload,
      row.metric.name + (row.metric.lowerIsBetter ? ' ↓' : ''),
      cell(row, 'tslirp'),
      cell(row, 'slirp4netns'),
      ratio(t, s),
      ...(BASELINE ? [cell(row, 'baseline'), ratio(t, b)] : []),
      row.samples.rootlesskit ? formatValue(median(row.samples.rootlesskit.map(row.metric.of)), row.metric.digits) : '',
      row.samples.pasta ? formatValue(median(row.samples.pasta.map(row.metric.of)), row.metric.digits) : '',
      cpu('tslirp'),
      cpu('slirp4netns'),
      ...(BASELINE ? [cpu('baseline')] : []),
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)].join('\n');
}

const RATE: Metric = { name: 'per s', of: (s) => s.values.rate, digits: 0 };
const P50: Metric = { name: 'p50 µs', of: (s) => s.values.p50_us, digits: 0, lowerIsBetter: true };
const P99: Metric = { name: 'p99 µs', of: (s) => s.values.p99_us, digits: 0, lowerIsBetter: true };
const GBPS: Metric = { name: 'Gbit/s', of: (s) => s.values.gbps, digits: 2 };
const LOST: Metric = { name: 'lost', of: (s) => s.values.lost, digits: 0, lowerIsBetter: true };
const WAKEUPS: Metric = { name: 'wakeups/s', of: (s) => s.values.wakeups, digits: 1, lowerIsBetter: true };
const cpuPerThousand = (samples: Sample[]): number => median(samples.map((s) => s.cpuSeconds / (s.values.count / 1000)));
const cpuPerGB = (samples: Sample[]): number => median(samples.map((s) => s.cpuSeconds / (s.values.bytes / 1e9)));
const cpuPerSecond = (samples: Sample[]): number => median(samples.map((s) => s.cpuSeconds / IDLE_SECONDS));

/** Runs one workload RUNS times over the instances in turn and adds its rows. */
async function workload(
  mtu: number,
  name: string,
  instances: Instance[],
  metrics: Metric[],
  measure: (instance: Instance) => Promise<Sample>,
  cpu?: { of: (samples: Sample[]) => number; unit: string },
): Promise<void> {
  const samples: Partial<Record<Impl, Sample[]>> = {};
  for (let run = 0; run < RUNS; run++) {
    for (const instance of instances) {
      try {
        (samples[instance.impl] ??= []).push(await measure(instance));
      } catch (error) {
        const e = error as Error & { stderr?: string };
        process.stderr.write(`MTU ${mtu} ${name} ${instance.impl} run ${run + 1}: ${e.message.split('\n')[0]} ${e.stderr?.trim() ?? ''}\n`);
      }
      await sleep(200);
    }
  }
  metrics.forEach((metric, i) => {
    const row: Row = { mtu, workload: name, metric, samples, ...(i === 0 && cpu ? { cpu: cpu.of, cpuUnit: cpu.unit } : {}) };
    rows.push(row);
    const others = (['baseline', 'slirp4netns', 'rootlesskit', 'pasta'] as const).filter((impl) => row.samples[impl]).map((impl) => `${impl} ${cell(row, impl)}`);
    process.stderr.write(`${mtu} | ${name} | ${metric.name} | tslirp ${cell(row, 'tslirp')} | ${others.join(' | ')}\n`);
  });
}

async function benchMtu(mtu: number, hostServers: HostServers, holdPort: number, extras: { rootlesskit: boolean; pasta: boolean }): Promise<void> {
  const pair: Instance[] = [
    await lab.startSlirp('tslirp', mtu, TSLIRP_BUILD, { ipv6: IPV6 }),
    ...(BASELINE_BUILD ? [await lab.startSlirp('baseline', mtu, BASELINE_BUILD, { ipv6: IPV6 })] : []),
    await lab.startSlirp('slirp4netns', mtu, undefined, { ipv6: IPV6 }),
  ];
  const published: Instance[] = [...pair];
  /** The guest→host rows: the pair, and pasta when it runs. */
  const guestToHost: Instance[] = [...pair];
  try {
    const wantPublished = ONLY.has('rr') || ONLY.has('cr') || ONLY.has('pub');
    if (extras.rootlesskit && wantPublished) published.push(await lab.startRootlesskit(mtu));
    if (extras.pasta && (wantPublished || ['urr', 'iperf'].some((w) => ONLY.has(w)))) {
      const pasta = await lab.startPasta(mtu);
      published.push(pasta);
      guestToHost.push(pasta);
    }
    if (ONLY.has('idle')) {
      await workload(mtu, 'idle, no flows (fresh)', pair, [WAKEUPS], (i) => idleWakeups(i, 'no flows', holdPort), { of: cpuPerSecond, unit: 'CPU s/s' });
    }
    if (ONLY.has('rr')) {
      const perK = { of: cpuPerThousand, unit: 's/1k' };
      await workload(mtu, `rr ${MESSAGE_SIZE} B guest→host`, guestToHost, [RATE, P50, P99], (i) => requestResponse(i, 'g2h', hostServers), perK);
      await workload(mtu, `rr ${MESSAGE_SIZE} B host→guest (published)`, published, [RATE, P50, P99], (i) => requestResponse(i, 'h2g', hostServers), perK);
    }
    if (ONLY.has('urr')) {
      const perK = { of: cpuPerThousand, unit: 's/1k' };
      await workload(mtu, `UDP rr ${MESSAGE_SIZE} B guest→host`, guestToHost, [RATE, P50, P99, LOST], (i) => udpRequestResponse(i, hostServers), perK);
    }
    if (ONLY.has('cr')) {
      const perK = { of: cpuPerThousand, unit: 's/1k' };
      await workload(mtu, 'connect+1 B+close guest→host', guestToHost, [RATE, P99], (i) => connectionRate(i, 'g2h'), perK);
      await workload(mtu, 'connect+1 B+close host→guest (published)', published, [RATE, P99], (i) => connectionRate(i, 'h2g'), perK);
    }
    if (IPV6 && ['rr', 'urr', 'cr'].some((w) => ONLY.has(w))) {
      for (const instance of pair) await waitGuestIpv6(instance.guest!);
      const perK = { of: cpuPerThousand, unit: 's/1k' };
      if (ONLY.has('rr')) await workload(mtu, `rr ${MESSAGE_SIZE} B guest→host, IPv6`, pair, [RATE, P50, P99], (i) => requestResponse(i, 'g2h', hostServers, 6), perK);
      if (ONLY.has('urr')) await workload(mtu, `UDP rr ${MESSAGE_SIZE} B guest→host, IPv6`, pair, [RATE, P50, P99, LOST], (i) => udpRequestResponse(i, hostServers, 6), perK);
      if (ONLY.has('cr')) await workload(mtu, 'connect+1 B+close guest→host, IPv6', pair, [RATE, P99], (i) => connectionRate(i, 'g2h', 6), perK);
    }
    const perGB = { of: cpuPerGB, unit: 's/GB' };
    if (ONLY.has('pub')) {
      await workload(mtu, 'iperf3 published host→guest', published, [GBPS], (i) => iperf(i, 'pub h2g', hostServers), perGB);
      await workload(mtu, 'iperf3 published guest→host (-R)', published, [GBPS], (i) => iperf(i, 'pub g2h', hostServers), perGB);
    }
    if (ONLY.has('iperf')) {
      await workload(mtu, 'iperf3 guest→host', guestToHost, [GBPS], (i) => iperf(i, 'g2h', hostServers), perGB);
      await workload(mtu, 'iperf3 host→guest (-R)', guestToHost, [GBPS], (i) => iperf(i, 'h2g', hostServers), perGB);
    }
    if (ONLY.has('idle')) {
      const perS = { of: cpuPerSecond, unit: 'CPU s/s' };
      await sleep(2000); // TIME_WAIT flows of the runs above expire
      await workload(mtu, 'idle, no flows (after traffic)', pair, [WAKEUPS], (i) => idleWakeups(i, 'no flows', holdPort), perS);
      await workload(mtu, 'idle, one half-closed flow', pair, [WAKEUPS], (i) => idleWakeups(i, 'half-closed flow', holdPort), perS);
      await workload(mtu, 'idle, one established flow', pair, [WAKEUPS], (i) => idleWakeups(i, 'idle established flow', holdPort), perS);
    }
  } finally {
    for (const instance of published) await instance.stop().catch(() => undefined);
  }
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('needs root (creates namespaces)');
  const extras = {
    rootlesskit: !argv.includes('--no-rootlesskit') && rootlesskitPrerequisite() === undefined,
    pasta: !argv.includes('--no-pasta') && existsSync('/usr/bin/pasta'),
  };
  if (extras.rootlesskit) lab.onCleanup(openTunToAll()); // RootlessKit's slirp4netns opens the TAP as the user
  const echoPort = await freePort();
  await lab.startEchoServer('127.0.0.1', echoPort);
  if (IPV6) await lab.startEchoServer('::1', echoPort);
  const iperfPort = await freePort();
  const iperfServer = lab.tracker.spawn('iperf3', ['-s', '-B', '127.0.0.1', '-p', String(iperfPort)]);
  iperfServer.stdout?.resume();
  await sleep(300);
  if (iperfServer.exitCode !== null) throw new Error('iperf3 server did not start');
  const udpEchoPort = ONLY.has('urr') ? await freePort() : 0;
  if (ONLY.has('urr')) await startUdpEchoServer('127.0.0.1', udpEchoPort);
  if (ONLY.has('urr') && IPV6) await startUdpEchoServer('::1', udpEchoPort);
  const hold = await startHoldServer();
  lab.onCleanup(
    () =>
      new Promise<void>((resolve) => {
        for (const s of hold.sockets) s.destroy();
        hold.server.close(() => resolve());
      }),
  );

  const floorBefore = await machineFloor(echoPort);
  for (const mtu of MTUS) await benchMtu(mtu, { echoPort, iperfPort, udpEchoPort }, hold.port, extras);
  const floorAfter = await machineFloor(echoPort);

  const git = (...args: string[]): string | undefined => {
    try {
      return execFileSync('git', args, { cwd: REPO_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      return undefined; // a copy of the tree outside git
    }
  };
  const commit = git('rev-parse', '--short', 'HEAD') ?? 'a tree outside git';
  const dirty = (git('status', '--porcelain', '--untracked-files=no') ?? '') !== '';
  const title =
    `bench/latency.ts at ${commit}${dirty ? ' (+ uncommitted changes)' : ''}${LABEL ? `, ${LABEL}` : ''}: ${RUNS} runs × ${SECONDS} s (+${WARMUP} s warm-up), ` +
    `interleaved, medians (node ${process.version}, ${new Date().toISOString().slice(0, 16)}Z); ` +
    `the machine's floor, rr ${MESSAGE_SIZE} B on the host's loopback with no relay, before / after: ${floorBefore} / ${floorAfter}`;
  const command = `npx tsx bench/latency.ts ${argv.join(' ')}`.trim();
  const table = render();
  console.log(`${title}\n\n${table}`);
  const resultsDir = join(REPO_ROOT, 'bench/results');
  mkdirSync(resultsDir, { recursive: true });
  const file = join(resultsDir, `latency-${new Date().toISOString().slice(0, 10)}.md`);
  const head = existsSync(file) ? '' : `# bench/latency.ts, ${new Date().toISOString().slice(0, 10)}\n\nCPU columns: relay process utime+stime per 1000 round trips or connections (s/1k), per GB, or per second idle. ↓: lower is better.\n`;
  const ranAs = TSLIRP_BUILD.bin.endsWith('.js') ? `node ${[...(TSLIRP_BUILD.nodeArgs ?? []), 'bin/tslirp.js'].join(' ')}` : 'bin/tslirp (the launcher, as clients run it)';
  appendFileSync(file, `${head}\n## ${title}\n\nCommand: \`${command}\`; tslirp ran as ${ranAs}\n\n${table}\n`);
  process.stderr.write(`written to ${file}\n`);
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void lab.close().finally(() => process.exit(130));
  });
}

main()
  .catch((error: unknown) => {
    process.stderr.write(`latency: ${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = 1;
  })
  .finally(() => lab.close());
