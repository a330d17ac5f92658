/**
 * End to end: `tslirp run -- sh -c '…'` as root and as an unprivileged user. CMD gets its own
 * namespaces with tap0 10.0.2.100/24 and a private resolv.conf; it reaches a server on the host's
 * loopback via 10.0.2.2, resolves a name through a stub resolver on the host's loopback
 * (--dns-upstream), serves a published port the host reaches; tslirp passes CMD's exit status on
 * (128+N for a signal) and leaves no process or namespace behind; the pcap file opens in tcpdump.
 *
 * Network rule: traffic only to 127.0.0.1 and the namespaces tslirp run creates. Every process is
 * ended by PID (tslirp by the tracker; what CMD left behind by tslirp itself, which is under test).
 */
import { execFileSync } from 'node:child_process';
import { createSocket, type Socket as DgramSocket } from 'node:dgram';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  ensureTestUser,
  exitOf,
  IN_CI,
  IS_ROOT,
  namespacePrerequisite,
  openTunToAll,
  OutputLog,
  ProcessTracker,
  REPO_ROOT,
  requireOrSkip,
  type RunAs,
} from '../support/netns.js';

const RUN = ['--import', 'tsx', join(REPO_ROOT, 'src/cli/subcommand-main.ts'), 'run'];
const tracker = new ProcessTracker();
const cleanups: (() => void | Promise<void>)[] = [];
let restoreTun: (() => void) | undefined;

afterEach(async () => {
  await tracker.killAll();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

afterAll(() => {
  restoreTun?.();
});

function toolsMissing(): string | undefined {
  const missing = namespacePrerequisite();
  if (missing) return missing;
  for (const tool of ['tcpdump', 'busybox', 'socat', 'getent']) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    } catch {
      return `needs ${tool} (apt-get install tcpdump busybox socat libc-bin)`;
    }
  }
  return undefined;
}

/** Who runs tslirp: as root (the test runner), or the unprivileged test user. */
function who(ctx: { skip: (note?: string) => void }, mode: 'root' | 'user'): RunAs | undefined {
  requireOrSkip(ctx, toolsMissing());
  if (mode === 'root') {
    requireOrSkip(ctx, IS_ROOT ? undefined : 'needs root');
    return undefined;
  }
  if (!IS_ROOT) return undefined; // already unprivileged: run as ourselves
  restoreTun ??= openTunToAll();
  return ensureTestUser();
}

/** A folder the runner of tslirp may write (captures); removed after the test. */
function scratchDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tslirp-run-e2e-'));
  chmodSync(dir, 0o777);
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

interface RunResult {
  status: number | string;
  output: string;
}

function startRun(args: readonly string[], as: RunAs | undefined): { child: ReturnType<ProcessTracker['spawn']>; log: OutputLog } {
  const child = tracker.spawn(process.execPath, [...RUN, ...args], as);
  return { child, log: new OutputLog(child) };
}

async function tslirpRun(args: readonly string[], as: RunAs | undefined, timeoutMs = 30_000): Promise<RunResult> {
  const { child, log } = startRun(args, as);
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const status = await exitOf(child);
  clearTimeout(timer);
  return { status, output: log.text };
}

/** Every PID whose network namespace is `netns` (e.g. "net:[4026532281]"). */
function processesIn(netns: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readlinkSync(`/proc/${entry}/ns/net`) === netns) pids.push(Number(entry));
    } catch {
      // gone
    }
  }
  return pids;
}

function expectNothingLeft(output: string): void {
  const netns = /netns=(net:\[\d+\])/.exec(output)?.[1];
  const pid = /cmdpid=(\d+)/.exec(output)?.[1];
  expect(netns, output).toBeDefined();
  expect(pid, output).toBeDefined();
  expect(existsSync(`/proc/${pid}`)).toBe(false);
  expect(processesIn(netns!)).toEqual([]);
}

/** A TCP server on 127.0.0.1 that greets each client and records what it sent. */
async function hostServer(): Promise<{ port: number; received: string[] }> {
  const received: string[] = [];
  const server: Server = createServer((socket) => {
    let text = '';
    socket.on('data', (chunk) => (text += chunk.toString()));
    socket.on('end', () => {
      received.push(text);
      socket.end();
    });
    socket.on('error', () => undefined);
    socket.write('hello from the host\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { port: (server.address() as AddressInfo).port, received };
}

/** A stub DNS resolver on 127.0.0.1 answering A queries for NAME with ADDRESS, NXDOMAIN otherwise. */
async function stubResolver(name: string, address: string): Promise<{ port: number; queries: string[] }> {
  const queries: string[] = [];
  const socket: DgramSocket = createSocket('udp4');
  socket.on('message', (query, peer) => {
    if (query.length < 12) return;
    // Question name at offset 12: labels up to the zero byte.
    const labels: string[] = [];
    let at = 12;
    while (at < query.length && query[at] !== 0) {
      labels.push(query.subarray(at + 1, at + 1 + query[at]).toString('ascii'));
      at += 1 + query[at];
    }
    const questionEnd = at + 5; // zero byte, QTYPE, QCLASS
    const qtype = query.readUInt16BE(at + 1);
    const asked = labels.join('.').toLowerCase();
    queries.push(`${asked}/${qtype}`);
    const found = asked === name && qtype === 1;
    const header = Buffer.alloc(12);
    query.copy(header, 0, 0, 2); // ID
    header.writeUInt16BE(0x8180 | (asked === name ? 0 : 3), 2); // response, RD, RA; NXDOMAIN if unknown
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(found ? 1 : 0, 6);
    const answer = found
      ? Buffer.concat([Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]), Buffer.from(address.split('.').map(Number))])
      : Buffer.alloc(0);
    socket.send(Buffer.concat([header, query.subarray(12, questionEnd), answer]), peer.port, peer.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => socket.close(() => resolve())));
  return { port: socket.address().port, queries };
}

/** Connects to 127.0.0.1:port until the guest's server answers; resolves with everything it sent. */
async function fetchFromGuest(port: number, send: string, timeoutMs = 15_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = await new Promise<string | undefined>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      let data = '';
      socket.on('connect', () => socket.end(send));
      socket.on('data', (chunk) => (data += chunk.toString()));
      socket.on('error', () => resolve(undefined));
      socket.on('close', () => resolve(data.length > 0 ? data : undefined));
      socket.setTimeout(3000, () => socket.destroy());
    });
    if (text !== undefined) return text;
    if (Date.now() > deadline) throw new Error(`no answer from the published port ${port}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const IDENTIFY = 'echo netns=$(readlink /proc/self/ns/net) cmdpid=$$';

describe.each(['root', 'user'] as const)('tslirp run as %s', (mode) => {
  it('gives CMD tap0, a private resolv.conf and the gateway; passes its status on; leaves nothing behind', async (ctx) => {
    const as = who(ctx, mode);
    const hostResolv = readFileSync('/etc/resolv.conf', 'utf8');
    const script = `${IDENTIFY}; cat /etc/resolv.conf; ip -br addr show tap0; ip route show default; ping -c1 -W3 10.0.2.2 >/dev/null && echo ping-ok; sleep 300 & exit 7`;
    const pcap = join(scratchDir(), 'ping.pcap');
    const { status, output } = await tslirpRun(['--pcap', pcap, '--', 'sh', '-c', script], as);
    expect(status, output).toBe(7);
    expect(output).toMatch(/^nameserver 10\.0\.2\.3\nnameserver fd00::3$/m);
    expect(output).toMatch(/^tap0\s+\S+\s+10\.0\.2\.100\/24/m);
    expect(output).toMatch(/^default via 10\.0\.2\.2 dev tap0/m);
    expect(output).toContain('ping-ok');
    expect(output).toMatch(/^tslirp: network up: tap0 10\.0\.2\.100\/24 gateway 10\.0\.2\.2 dns 10\.0\.2\.3 mtu 1500; IPv6 fd00::\/64 by router advertisement, gateway fd00::2 dns fd00::3; capturing to \S+ping\.pcap$/m);
    const dump = execFileSync('tcpdump', ['-r', pcap, '-nn'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(dump).toMatch(/ARP, Request who-has 10\.0\.2\.2 tell 10\.0\.2\.100/);
    expect(dump).toMatch(/ARP, Reply 10\.0\.2\.2 is-at 52:55:0a:00:02:02/);
    expect(dump).toMatch(/IP 10\.0\.2\.100 > 10\.0\.2\.2: ICMP echo request/);
    expect(dump).toMatch(/IP 10\.0\.2\.2 > 10\.0\.2\.100: ICMP echo reply/);
    // The background sleep was ended with the namespace; the host's resolv.conf is untouched.
    expectNothingLeft(output);
    expect(readFileSync('/etc/resolv.conf', 'utf8')).toBe(hostResolv);
  });

  it('forwards SIGTERM to CMD and exits 128+15; --quiet drops the progress line; a missing CMD is 127', async (ctx) => {
    const as = who(ctx, mode);
    const { child, log } = startRun(['--quiet', '--', 'sh', '-c', `${IDENTIFY}; echo started; sleep 300; echo not-reached`], as);
    await log.waitFor(/started/, child, 20_000);
    process.kill(child.pid!, 'SIGTERM');
    expect(await exitOf(child)).toBe(143);
    expect(log.text).not.toContain('network up');
    expect(log.text).not.toContain('not-reached');
    expectNothingLeft(log.text);

    const missing = await tslirpRun(['-q', '--', '/nonexistent-command'], as);
    expect(missing.status).toBe(127);
    const usage = await tslirpRun(['--mtu', '10', '--', 'true'], as);
    expect(usage.status).toBe(125);
    expect(usage.output).toBe('tslirp: MTU must be an integer from 68 to 65521, got "10"\n');
  });

  it('a tslirp killed outright takes CMD with it (no process left without its network)', async (ctx) => {
    const as = who(ctx, mode);
    const { child, log } = startRun(['-q', '--', 'sh', '-c', `${IDENTIFY}; echo started; exec sleep 300`], as);
    await log.waitFor(/started/, child, 20_000);
    process.kill(child.pid!, 'SIGKILL');
    expect(await exitOf(child)).toBe('SIGKILL');
    const pid = Number(/cmdpid=(\d+)/.exec(log.text)?.[1]);
    const deadline = Date.now() + 5000;
    while (existsSync(`/proc/${pid}`) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    expectNothingLeft(log.text);
  });

  it('serves get_stats on --api-socket while CMD runs; `tslirp stats` prints it; the socket goes with tslirp', async (ctx) => {
    const as = who(ctx, mode);
    const socket = join(scratchDir(), 'api.sock');
    const { child, log } = startRun(['-q', '--api-socket', socket, '--', 'sh', '-c', `${IDENTIFY}; ping -c2 -i0.2 -W3 10.0.2.2 >/dev/null && echo pinged; sleep 300`], as);
    await log.waitFor(/pinged/, child, 20_000);
    const stats = tracker.spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'src/cli/subcommand-main.ts'), 'stats', '--api-socket', socket], as);
    const statsLog = new OutputLog(stats);
    expect(await exitOf(stats), statsLog.text).toBe(0);
    const framesIn = Number(/^frames from guest\s+(\d+)/m.exec(statsLog.text)?.[1]);
    const framesOut = Number(/^frames to guest\s+(\d+)/m.exec(statsLog.text)?.[1]);
    expect(framesIn, statsLog.text).toBeGreaterThanOrEqual(3); // ARP request + 2 echo requests
    expect(framesOut, statsLog.text).toBeGreaterThanOrEqual(3);
    expect(statsLog.text).toMatch(/^forwarded ports\s+0$/m);
    expect(statsLog.text).toMatch(/^uptime\s+\d+s$/m);
    process.kill(child.pid!, 'SIGTERM');
    expect(await exitOf(child)).toBe(143);
    expect(existsSync(socket)).toBe(false);
    expectNothingLeft(log.text);
  });

  it('reaches a host loopback server via 10.0.2.2, and the capture shows the handshake in tcpdump', async (ctx) => {
    const as = who(ctx, mode);
    const server = await hostServer();
    const pcap = join(scratchDir(), 'run.pcap');
    const script = `${IDENTIFY}; echo from-guest | socat -t5 - TCP:10.0.2.2:${server.port},connect-timeout=5`;
    const { status, output } = await tslirpRun(['--pcap', pcap, '--', 'sh', '-c', script], as);
    expect(status, output).toBe(0);
    expect(output).toContain('hello from the host');
    expect(server.received).toEqual(['from-guest\n']);
    expectNothingLeft(output);
    const dump = execFileSync('tcpdump', ['-r', pcap, '-nn', 'tcp'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const to = `10.0.2.2.${server.port}`;
    expect(dump).toMatch(new RegExp(`IP 10\\.0\\.2\\.100\\.\\d+ > ${to.replace(/\./g, '\\.')}: Flags \\[S\\]`));
    expect(dump).toMatch(new RegExp(`IP ${to.replace(/\./g, '\\.')} > 10\\.0\\.2\\.100\\.\\d+: Flags \\[S\\.\\]`));
  });

  it('resolves names through 10.0.2.3 and a stub upstream on the host loopback', async (ctx) => {
    const as = who(ctx, mode);
    const resolver = await stubResolver('tslirp.test', '192.0.2.55');
    const script = `${IDENTIFY}; getent hosts tslirp.test`;
    const { status, output } = await tslirpRun(['--dns-upstream', `127.0.0.1:${resolver.port}`, '--', 'sh', '-c', script], as);
    expect(status, output).toBe(0);
    expect(output).toMatch(/^192\.0\.2\.55\s+tslirp\.test$/m);
    expect(resolver.queries).toContain('tslirp.test/1');
    expectNothingLeft(output);
  });

  it('publishes a guest port on the host loopback (-p 127.0.0.1:HOSTPORT:8080)', async (ctx) => {
    const as = who(ctx, mode);
    const hostPort = await freePort();
    const script = `${IDENTIFY}; echo from-the-guest | busybox nc -l -p 8080`;
    const { child, log } = startRun(['-p', `127.0.0.1:${hostPort}:8080`, '--', 'sh', '-c', script], as);
    await log.waitFor(/network up: .*published 127\.0\.0\.1:\d+->8080\/tcp/, child, 20_000);
    const answer = await fetchFromGuest(hostPort, 'from-the-host\n');
    expect(answer).toBe('from-the-guest\n');
    expect(await exitOf(child)).toBe(0);
    expect(log.text).toContain('from-the-host');
    expectNothingLeft(log.text);
  });
});

describe('bin/tslirp.js', () => {
  it('dispatches `run` to the built CLI', async (ctx) => {
    const as = who(ctx, 'root');
    const built = join(REPO_ROOT, 'dist/cli/subcommand-main.js');
    if (!existsSync(built)) requireOrSkip(ctx, 'dist/ not built (npm run build)');
    const child = tracker.spawn(join(REPO_ROOT, 'bin/tslirp.js'), ['run', '-q', '--', 'sh', '-c', `${IDENTIFY}; exit 3`], as);
    const log = new OutputLog(child);
    expect(await exitOf(child)).toBe(3);
    expectNothingLeft(log.text);
    if (IN_CI) expect(log.text).not.toContain('warning');
  });
});
