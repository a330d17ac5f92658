/**
 * Raw TAP link throughput and attach latency: `npx tsx bench/link.bench.ts` (root or any user that
 * may run `unshare -rn`, with /dev/net/tun usable).
 *
 * - receive: a sender inside a namespace this bench created floods UDP to 10.0.2.2 over tap0 (a
 *   static neighbour entry stands in for ARP, so no engine is involved); we count frames and bytes.
 * - send: we transmit frames into the TAP as fast as we can (addressed to a MAC the guest drops
 *   after counting); the guest's `ip -s link` RX counters say how many arrived.
 * - attach: time from process start to an attached, configured link (median of N runs).
 *
 * Traffic never leaves the namespace and this process. Every process started is ended by PID.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { FrameBatch, FrameSink } from '../src/link/link.js';
import { openTap, type TapLink } from '../src/link/tap-link.js';
import { packageRoot } from '../src/native/native-addon.js';

const ROOT = packageRoot();
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const started: ChildProcess[] = [];

function stopAll(): void {
  for (const child of started) if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGKILL');
}
process.on('exit', stopAll);

async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

async function makeNamespace(): Promise<number> {
  const child = spawn('unshare', ['-rn', 'sleep', '1000'], { stdio: 'ignore' });
  started.push(child);
  const pid = child.pid;
  if (pid === undefined) throw new Error('cannot spawn unshare');
  const ours = readlinkSync('/proc/self/ns/net');
  for (let i = 0; i < 500; i++) {
    try {
      if (readlinkSync(`/proc/${pid}/ns/net`) !== ours) return pid;
    } catch {
      // not there yet
    }
    await sleep(5);
  }
  throw new Error('unshare did not enter its namespace');
}

function nsenterArgs(pid: number): string[] {
  return process.getuid?.() === 0 ? ['-t', String(pid), '-n'] : ['-t', String(pid), '-U', '-n', '--preserve-credentials'];
}

function nsExec(pid: number, args: string[]): string {
  return execFileSync('nsenter', [...nsenterArgs(pid), ...args], { encoding: 'utf8' });
}

interface LinkCounters {
  packets: number;
  bytes: number;
  dropped: number;
}

function tapCounters(pid: number): { rx: LinkCounters; tx: LinkCounters } {
  const stats = JSON.parse(nsExec(pid, ['ip', '-j', '-s', 'link', 'show', 'tap0'])) as { stats64: { rx: LinkCounters; tx: LinkCounters } }[];
  return stats[0].stats64;
}

function rxCounters(pid: number): LinkCounters {
  return tapCounters(pid).rx;
}

interface Result {
  test: string;
  mtu: number;
  offloads: boolean;
  frames: number;
  bytes: number;
  seconds: number;
  note?: string;
}

const results: Result[] = [];

class CountingSink implements FrameSink {
  frames = 0;
  bytes = 0;
  first = 0;
  last = 0;
  receiveBatch(batch: FrameBatch): void {
    if (this.frames === 0) this.first = performance.now();
    for (let i = 0; i < batch.count; i++) this.bytes += batch.lengths[i];
    this.frames += batch.count;
    this.last = performance.now();
  }
}

// Python is on every test machine; a tight sendto() loop is a fair, simple guest-side load.
const SENDER = `
import socket, sys, time
size, seconds = int(sys.argv[1]), float(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
payload = bytes(size)
end = time.monotonic() + seconds
n = 0
while True:
    for _ in range(256):
        try:
            s.sendto(payload, ("10.0.2.2", 9))
            n += 1
        except OSError:
            pass
    if time.monotonic() >= end:
        break
print(n)
`;

async function withLink<T>(mtu: number, offloads: boolean, body: (pid: number, link: TapLink) => Promise<T>): Promise<T> {
  const pid = await makeNamespace();
  const link = openTap({ target: { pid }, configure: { mtu }, offloads, mtu });
  try {
    return await body(pid, link);
  } finally {
    link.close();
    const ns = started.find((c) => c.pid === pid);
    if (ns?.pid !== undefined) process.kill(ns.pid, 'SIGKILL');
  }
}

async function benchReceive(mtu: number, offloads: boolean, payload: number): Promise<void> {
  await withLink(mtu, offloads, async (pid, link) => {
    nsExec(pid, ['ip', 'neigh', 'replace', '10.0.2.2', 'lladdr', '52:55:0a:00:02:02', 'dev', 'tap0']);
    const sink = new CountingSink();
    link.start(sink);
    const sender = spawn('nsenter', [...nsenterArgs(pid), 'python3', '-c', SENDER, String(payload), String(SECONDS)], { stdio: ['ignore', 'pipe', 'inherit'] });
    started.push(sender);
    let sent = '';
    sender.stdout?.on('data', (d: Buffer) => (sent += d.toString()));
    await new Promise((resolve) => sender.once('exit', resolve));
    await sleep(200);
    // A sender faster than us shows up as drops at the TAP queue ("tap dropped"), not as loss here.
    const seconds = (sink.last - sink.first) / 1000;
    results.push({
      test: 'receive (guest→us, UDP)',
      mtu,
      offloads,
      frames: sink.frames,
      bytes: sink.bytes,
      seconds,
      note: `payload ${payload}, guest sent ${sent.trim()}, tap dropped ${tapCounters(pid).tx.dropped}, native dropped ${link.stats().rxDropped}`,
    });
  });
}

function udpFrame(length: number): Uint8Array {
  const frame = new Uint8Array(length);
  frame.set([0x02, 0, 0, 0, 0, 0x01, 0x52, 0x55, 0x0a, 0, 0x02, 0x02, 0x08, 0x00], 0); // to a MAC the guest does not own
  frame[14] = 0x45;
  frame[16] = (length - 14) >> 8;
  frame[17] = (length - 14) & 0xff;
  frame[22] = 64;
  frame[23] = 17;
  frame.set([10, 0, 2, 2, 10, 0, 2, 100], 26);
  return frame;
}

async function benchSend(mtu: number, offloads: boolean, frameLength: number): Promise<void> {
  await withLink(mtu, offloads, async (pid, link) => {
    link.start({ receiveBatch: () => undefined });
    const frame = udpFrame(frameLength);
    const before = rxCounters(pid);
    const perFlush = 64;
    let sent = 0;
    const t0 = performance.now();
    const end = t0 + SECONDS * 1000;
    while (performance.now() < end) {
      for (let i = 0; i < 32; i++) {
        for (let j = 0; j < perFlush; j++) link.transmit(frame, null);
        link.flush();
        sent += perFlush;
      }
    }
    const seconds = (performance.now() - t0) / 1000;
    const after = rxCounters(pid);
    results.push({
      test: 'send (us→guest)',
      mtu,
      offloads,
      frames: after.packets - before.packets,
      bytes: after.bytes - before.bytes,
      seconds,
      note: `frame ${frameLength}, transmitted ${sent}, tx dropped ${link.stats().txDropped}`,
    });
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** Spawns node on a tiny script that attaches + configures, and times until it says so. */
async function benchAttach(runs: number): Promise<string[]> {
  const lines: string[] = [];
  const built = join(ROOT, 'dist/link/tap-link.js');
  const script = existsSync(built)
    ? `import { openTap } from ${JSON.stringify(built)}; const l = openTap({ target: { pid: Number(process.argv[1]) }, configure: {} }); process.stdout.write('ready\\n'); l.close();`
    : undefined;
  const timeUntil = async (cmd: string, args: string[], pattern: RegExp): Promise<number> => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: ROOT });
    started.push(child);
    let out = '';
    await new Promise<void>((resolve, reject) => {
      child.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
        if (pattern.test(out)) resolve();
      });
      child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
      child.once('exit', () => (pattern.test(out) ? resolve() : reject(new Error(`${cmd} failed: ${out}`))));
    });
    const ms = performance.now() - t0;
    if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGTERM');
    await new Promise((resolve) => (child.exitCode !== null ? resolve(null) : child.once('exit', resolve)));
    return ms;
  };

  // In-process: the native attach alone (fork, setns, TUNSETIFF, configure ioctls).
  const inProcess: number[] = [];
  for (let i = 0; i < runs; i++) {
    const pid = await makeNamespace();
    const t0 = performance.now();
    const link = openTap({ target: { pid }, configure: {} });
    inProcess.push(performance.now() - t0);
    link.close();
  }
  lines.push(`attach in process (fork+setns+tun+configure): median ${median(inProcess).toFixed(2)} ms over ${runs}`);

  if (script) {
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      const pid = await makeNamespace();
      times.push(await timeUntil(process.execPath, ['--input-type=module', '-e', script, String(pid)], /ready/));
    }
    lines.push(`process start → configured link (node + dist/link): median ${median(times).toFixed(1)} ms over ${runs}`);
  } else {
    lines.push('process start → configured link: skipped (run npm run build for dist/)');
  }
  if (existsSync(join(ROOT, 'dist/cli/main.js'))) {
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      const pid = await makeNamespace();
      times.push(await timeUntil(process.execPath, [join(ROOT, 'bin/tslirp.js'), '-c', String(pid)], /starting slirp/));
    }
    lines.push(`process start → "starting slirp" (bin/tslirp.js -c): median ${median(times).toFixed(1)} ms over ${runs}`);
  }
  return lines;
}

function printTable(): void {
  const header = ['test', 'MTU', 'offloads', 'frames/s', 'Gbit/s', 'note'];
  const rows = results.map((r) => [
    r.test,
    String(r.mtu),
    r.offloads ? 'on' : 'off',
    r.seconds > 0 ? Math.round(r.frames / r.seconds).toLocaleString('en-US') : '-',
    r.seconds > 0 ? ((r.bytes * 8) / r.seconds / 1e9).toFixed(2) : '-',
    r.note ?? '',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i])).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows) console.log(line(row));
}

async function main(): Promise<void> {
  const only = process.argv[2];
  if (!only || only === 'receive') {
    await benchReceive(1500, false, 1472);
    await benchReceive(1500, true, 1472);
    await benchReceive(65520, false, 65000);
    await benchReceive(65520, true, 65000);
  }
  if (!only || only === 'send') {
    await benchSend(1500, false, 1514);
    await benchSend(1500, true, 1514);
    await benchSend(65520, false, 65534);
    await benchSend(65520, true, 65534);
  }
  printTable();
  if (!only || only === 'attach') for (const line of await benchAttach(10)) console.log(line);
}

main().then(
  () => {
    stopAll();
    process.exit(0);
  },
  (error: unknown) => {
    console.error(error);
    stopAll();
    process.exit(1);
  },
);
