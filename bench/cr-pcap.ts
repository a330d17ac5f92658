/**
 * A few connections of the connection-rate workload (connect, 1 byte each way, close, guest→host)
 * through tslirp and slirp4netns, captured on the guest's tap0: prints each implementation's frames
 * of connections 50–52 with times relative to their SYN, and frames per connection. For looking at
 * what a connection costs on the wire (extra frames, where the waits are), not a benchmark.
 *
 *   npx tsx bench/cr-pcap.ts [--mtu=65520] [--perf=FILE]   (TSLIRP_NODE_FLAGS: node options for tslirp)
 *
 * Needs root, slirp4netns, tcpdump, cc, a built dist/. Traffic stays on loopback and in the namespaces it creates.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT, stopProcess } from '../test/support/netns.js';
import { freePort } from '../test/support/published-guest.js';
import { RelayLab, sleep } from './relay-harness.js';

const execFileAsync = promisify(execFile);
const MTU = Number(process.argv.find((a) => a.startsWith('--mtu='))?.slice(6) ?? 65520);
/** --perf=FILE: instead of the capture, `perf record -g` of tslirp over a 2 s run (then perf report). */
const PERF = process.argv.find((a) => a.startsWith('--perf='))?.slice(7);
const lab = new RelayLab();

/** Median µs of each step of a connection, matched by the guest's port: SYN → SYN-ACK, 1-byte request → its ACK, request → reply. */
function stepMedians(lines: string[]): string {
  const steps: Record<string, number[]> = { 'SYN → SYN-ACK': [], 'request → ACK': [], 'request → reply': [] };
  const open = new Map<string, { syn?: number; request?: number; acked?: boolean }>();
  for (const line of lines) {
    const m = /^(\S+) IP 10\.0\.2\.(\d+)\.(\d+) > 10\.0\.2\.(\d+)\.(\d+): Flags \[([^\]]*)\].*length (\d+)/.exec(line);
    if (m === null) continue;
    const t = Number(m[1]) * 1e6;
    const fromGuest = m[2] === '100';
    const key = fromGuest ? m[3] : m[5];
    const flags = m[6];
    const length = Number(m[7]);
    const c = open.get(key) ?? {};
    open.set(key, c);
    if (fromGuest && flags === 'S') Object.assign(c, { syn: t, request: undefined, acked: false });
    else if (!fromGuest && flags === 'S.' && c.syn !== undefined) steps['SYN → SYN-ACK'].push(t - c.syn);
    else if (fromGuest && length === 1 && c.request === undefined) c.request = t;
    else if (!fromGuest && c.request !== undefined && c.request > 0 && length === 0 && !c.acked && flags === '.') {
      c.acked = true;
      steps['request → ACK'].push(t - c.request);
    } else if (!fromGuest && c.request !== undefined && c.request > 0 && length === 1) {
      steps['request → reply'].push(t - c.request);
      c.request = -1;
    }
  }
  const median = (v: number[]): number => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)] ?? NaN;
  return Object.entries(steps).map(([name, v]) => `${name} ${median(v).toFixed(0)} µs (${v.length})`).join(', ');
}
try {
  for (const impl of ['tslirp', 'slirp4netns'] as const) {
    const instance = await lab.startSlirp(impl, MTU, impl === 'tslirp' ? { bin: join(REPO_ROOT, 'bin/tslirp.js'), nodeArgs: [...(PERF ? ['--perf-basic-prof'] : []), ...(process.env.TSLIRP_NODE_FLAGS?.split(' ').filter(Boolean) ?? [])] } : undefined);
    const port = await freePort();
    const server = await lab.startEchoServer('127.0.0.1', port);
    if (PERF !== undefined) {
      await execFileAsync('nsenter', ['-t', String(instance.guest!.pid), '-n', lab.peer, 'cr', '10.0.2.2', String(port), '0', '3']); // JIT warm-up
      const perf = spawn('perf', ['record', '-g', '-o', `${PERF}.${impl}`, '-p', String(instance.relayPid)], { stdio: 'ignore' });
      await sleep(300);
      const { stdout } = await execFileAsync('nsenter', ['-t', String(instance.guest!.pid), '-n', lab.peer, 'cr', '10.0.2.2', String(port), '0', '2']);
      console.log(`## ${impl}: ${stdout.trim()}`);
      perf.kill('SIGINT');
      await new Promise((r) => perf.once('exit', r));
      await stopProcess(server);
      await instance.stop();
      continue;
    }
    const pcap = lab.path(`${impl}.pcap`);
    const dump = spawn('nsenter', ['-t', String(instance.guest!.pid), '-n', 'tcpdump', '-i', 'tap0', '-w', pcap, '-U', 'tcp'], { stdio: 'ignore' });
    await sleep(500);
    const { stdout } = await execFileAsync('nsenter', ['-t', String(instance.guest!.pid), '-n', lab.peer, 'cr', '10.0.2.2', String(port), '0', '0.3']);
    await sleep(300);
    await stopProcess(dump);
    await stopProcess(server);
    await instance.stop();
    const text = execFileSync('tcpdump', ['-r', pcap, '-nn', '-tt', '-S'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 256 << 20 });
    const lines = text.trim().split('\n');
    const syns = lines.map((l, i) => (/ > 10\.0\.2\.2\.\d+: Flags \[S\]/.test(l) ? i : -1)).filter((i) => i >= 0);
    console.log(`## ${impl}: ${stdout.trim()}; ${lines.length} frames, ${syns.length} SYNs: ${(lines.length / syns.length).toFixed(2)} frames per connection`);
    console.log(`medians over all connections: ${stepMedians(lines)}`);
    for (let c = 50; c < 53 && c + 1 < syns.length; c++) {
      const t0 = Number(lines[syns[c]].split(' ')[0]);
      for (const line of lines.slice(syns[c], syns[c + 1])) {
        const t = Number(line.split(' ')[0]);
        console.log(`${((t - t0) * 1e6).toFixed(0).padStart(6)} µs ${line.slice(line.indexOf(' ') + 1).replace(/, options \[.*?\]/, '').slice(0, 110)}`);
      }
      console.log('');
    }
  }
} finally {
  await lab.close();
}
