/**
 * Memory per container: RSS of tslirp beside the real slirp4netns (and pasta, idle only), same
 * namespace setup, interleaved per run, medians:
 * `npx tsx bench/memory.ts [--runs=3] [--only=idle,bulk,conns,storm] [--conns=1000] [--storm=20000] [--tslirp=PATH] [--node-flags='…'] [--map] [--tslirp-only]`.
 *
 * Moments (RSS = VmRSS of /proc/PID/status, sampled every 50 ms where a peak is asked for):
 * - idle: 3 s after the ready fd (slirp4netns/pasta: after the guest has its address), MTU 65520.
 * - bulk: peak RSS (VmHWM) over 100 MB guest→host then 100 MB host→guest (iperf3 -n 100M, -R) at
 *   MTU 65520 with tslirp's default (offloads on) and with --disable-offloads, and at MTU 1500 with
 *   --enable-offloads (slirp4netns has none: plain 1500), with the
 *   throughput of each direction (sanity only; bench/tcp-iperf.ts is the throughput benchmark).
 * - conns: marginal RSS per idle TCP connection: the guest opens N connections to a host server on
 *   127.0.0.1 (via 10.0.2.2) that stay open, without data, and (second row) after 100 bytes each
 *   way; (RSS after - RSS before) / N, 2 s after the last one settled.
 * - storm: from the guest, 20k SYNs to closed host ports (900 outstanding at a time), one datagram
 *   from each of 20k fresh sockets to as many closed host ports, and 20k hostile frames on a packet
 *   socket (garbage, bogus first fragments, bad-checksum SYNs and UDP from spoofed neighbours),
 *   from idle: RSS growth at the peak (sampled from its start until 10 s after the guest is done:
 *   tslirp may still be draining what the guest queued) over the idle RSS just before, RSS 10 s after it ended (minus
 *   idle); then an iperf3 guest→host alone and beside a second storm on the same instance (the
 *   throughput an existing flow keeps).
 *
 * "Closed host ports" skips every port someone listens on (/proc/net/tcp, /proc/net/udp): the storm
 * must not reach other programs. Needs root (namespaces), iperf3, python3, /usr/bin/slirp4netns,
 * pasta (optional) and a built tree (npm run build, build:native). Runs bin/tslirp (the launcher,
 * with its Node flags) when it exists, else node bin/tslirp.js; --tslirp=PATH runs another build
 * (a launcher, or a .js run with node), e.g. a copy of an earlier tree to compare against;
 * --node-flags='--a --b' runs tslirp's script with node and those flags instead of the launcher's
 * own list (native/node_flags.h), to measure a flag before putting it there. --map prints (and
 * records) where tslirp's RSS goes at each moment: /proc/PID/smaps by kind (node binary, libraries,
 * main malloc heap, anonymous mappings, the largest of them) and V8's heap spaces, from
 * bench/memory-probe.cjs loaded with NODE_OPTIONS, and which pages of the node binary are resident
 * (a list per moment, and the storm's idle moment before it, for bench/resident-code.ts, which names
 * the code a moment made resident). --tslirp-only skips the reference programs (quick
 * A/B of a setting; not for the table). Traffic stays on loopback and in
 * the namespaces it creates; every process it starts is ended by PID. Prints a markdown table and
 * writes it to bench/results/memory-DATE.md.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { apiRequest } from '../test/support/api-client.js';
import { createNamespace, ProcessTracker, REPO_ROOT, stopProcess, type TestNamespace } from '../test/support/netns.js';
import { freePort, SLIRP4NETNS } from '../test/support/published-guest.js';
import { numberArg, rejectUnknownArgs } from './bench-args.js';

const execFileAsync = promisify(execFile);
const LAUNCHER = join(REPO_ROOT, 'bin/tslirp');
const SCRIPT = join(REPO_ROOT, 'bin/tslirp.js');
const PASTA = '/usr/bin/pasta';

const USAGE = "usage: npx tsx bench/memory.ts [--runs=N] [--only=idle,bulk,conns,storm] [--conns=N] [--storm=N] [--tslirp=PATH] [--node-flags='--a --b'] [--map] [--tslirp-only] [--storm-parts=syn,udp,frames]";
const argv = process.argv.slice(2);
rejectUnknownArgs(argv, /^--(runs=\d+|only=[a-z,]+|conns=\d+|storm=\d+|tslirp=\S+|node-flags=.*|map|tslirp-only|storm-parts=[a-z,]+)$/, USAGE);
const RUNS = numberArg(argv, 'runs', 3);
const CONNS = numberArg(argv, 'conns', 1000);
const STORM = numberArg(argv, 'storm', 20_000);
/** --storm-parts=syn,udp,frames: which of the storm's three parts run (all by default), to see what each costs. */
const STORM_PARTS = argv.find((a) => a.startsWith('--storm-parts='))?.slice('--storm-parts='.length) ?? 'syn,udp,frames';
const NODE_FLAGS = argv.find((a) => a.startsWith('--node-flags='))?.slice('--node-flags='.length).split(/\s+/).filter(Boolean);
const CHOSEN = argv.find((a) => a.startsWith('--tslirp='))?.slice('--tslirp='.length) ?? (existsSync(LAUNCHER) ? LAUNCHER : SCRIPT);
/** With --node-flags, the launcher's script (bin/tslirp.js beside it) run by node with those flags. */
const TSLIRP = NODE_FLAGS !== undefined && !CHOSEN.endsWith('.js') ? `${CHOSEN}.js` : CHOSEN;
/** --map: where tslirp's RSS goes at each moment (smaps by mapping kind, V8 heap spaces), to stderr. */
const MAP = argv.includes('--map');
const PROBE_DIR = join(tmpdir(), `tslirp-memory-probe-${process.pid}`);
const ONLY = new Set((argv.find((a) => a.startsWith('--only='))?.split('=')[1] ?? 'idle,bulk,conns,storm').split(','));

type Impl = 'tslirp' | 'slirp4netns' | 'pasta';

interface Instance {
  readonly impl: Impl;
  readonly ns: TestNamespace;
  readonly child: ChildProcess;
  readonly pid: number;
  /** tslirp's API socket, for get_stats (where its memory goes). */
  readonly apiSocket?: string;
}

/** tslirp's own view of its memory (get_stats "memory", bytes); undefined for a build without it. */
interface JsMemory {
  rss: number;
  heap_total: number;
  heap_used: number;
  external: number;
}

async function jsMemory(instance: Instance): Promise<JsMemory | undefined> {
  if (instance.apiSocket === undefined) return undefined;
  try {
    const answer = JSON.parse((await apiRequest(instance.apiSocket, '{"execute":"get_stats"}\n')).text) as { return?: { memory?: JsMemory } };
    return answer.return?.memory;
  } catch {
    return undefined;
  }
}

/** Largest JS heap and external (buffer) sizes seen while sampling, in KiB. */
interface JsPeak {
  heap: number;
  external: number;
}

/** Polls get_stats every 250 ms until stopped; stop() gives the largest heap and external seen. */
function sampleJs(instance: Instance): { stop(): Promise<JsPeak | undefined> } {
  let peak: JsPeak | undefined;
  let busy = false;
  const poll = async (): Promise<void> => {
    if (busy) return;
    busy = true;
    const m = await jsMemory(instance);
    busy = false;
    if (m === undefined) return;
    peak = { heap: Math.max(peak?.heap ?? 0, m.heap_total / 1024), external: Math.max(peak?.external ?? 0, m.external / 1024) };
  };
  const timer = setInterval(() => void poll(), 250);
  return {
    async stop() {
      clearInterval(timer);
      await poll();
      return peak;
    },
  };
}

const tracker = new ProcessTracker();
const engines = new Set<ChildProcess>();
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * VmRSS, VmHWM and RssAnon of pid, in KiB. RssAnon is the process's own memory; the rest of RSS is
 * mostly file pages (the node binary's code and data), which the page cache holds once for every
 * process running the same node.
 */
function rss(pid: number): { rss: number; hwm: number; anon: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string): number => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)?.[1] ?? NaN);
  return { rss: field('VmRSS'), hwm: field('VmHWM'), anon: field('RssAnon') };
}

/** Samples VmRSS every 50 ms until stopped; stop() gives the highest seen. */
function sampleRss(pid: number): { stop(): number } {
  let peak = rss(pid).rss;
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, rss(pid).rss);
    } catch {
      // the process is gone: keep what we saw
    }
  }, 50);
  return {
    stop() {
      clearInterval(timer);
      try {
        peak = Math.max(peak, rss(pid).rss);
      } catch {
        // gone
      }
      return peak;
    },
  };
}

/** One mapping of /proc/PID/smaps: its size and resident KiB, permissions and what backs it. */
interface Mapping {
  size: number;
  rss: number;
  perms: string;
  path: string;
}

function smaps(pid: number): Mapping[] {
  const maps: Mapping[] = [];
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ (\S+) \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      maps.push({ size: 0, rss: 0, perms: head[1], path: head[2] });
      continue;
    }
    const field = /^(Size|Rss):\s+(\d+) kB/.exec(line);
    if (field && maps.length > 0) maps[maps.length - 1][field[1] === 'Size' ? 'size' : 'rss'] = Number(field[2]);
  }
  return maps;
}

/** V8's view from bench/memory-probe.cjs (SIGUSR2), or undefined when it did not answer. */
async function probe(pid: number): Promise<{ spaces: { space_name: string; space_size: number; space_used_size: number; physical_space_size: number }[]; heap: Record<string, number>; mem: Record<string, number>; malloc?: Record<string, number> } | undefined> {
  const file = join(PROBE_DIR, `probe-${pid}.json`);
  rmSync(file, { force: true });
  process.kill(pid, 'SIGUSR2');
  for (let i = 0; i < 40 && !existsSync(file); i++) await sleep(25);
  await sleep(25);
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

/** --map: prints where the RSS of pid goes: smaps by kind, the largest anonymous mappings, V8 spaces. */
async function printMap(instance: Instance, moment: string): Promise<void> {
  if (!MAP || instance.impl !== 'tslirp') return;
  // Before the probe, whose JavaScript would touch code pages of its own.
  const pagesFile = saveNodePages(instance.pid, moment);
  const v8 = await probe(instance.pid);
  const maps = smaps(instance.pid);
  const sum = (list: Mapping[]): number => list.reduce((total, m) => total + m.rss, 0);
  const node = maps.filter((m) => m.path.endsWith('/node'));
  const files = maps.filter((m) => m.path.startsWith('/') && !m.path.endsWith('/node'));
  const brk = maps.filter((m) => m.path === '[heap]');
  const anon = maps.filter((m) => m.path === '' || m.path.startsWith('[anon'));
  const other = maps.filter((m) => !node.includes(m) && !files.includes(m) && !brk.includes(m) && !anon.includes(m));
  const kib = (n: number): string => `${(n / 1024).toFixed(1)}M`;
  const lines = [
    `--map ${moment}: RSS ${kib(sum(maps))}: node binary ${kib(sum(node))}, other files ${kib(sum(files))}, [heap] (main malloc arena) ${kib(sum(brk))}, anonymous ${kib(sum(anon))} in ${anon.length} mappings, other ${kib(sum(other))} (${[...new Set(other.map((m) => m.path))].join(' ')})`,
    `  largest anonymous (size → rss, KiB): ${[...anon].sort((a, b) => b.rss - a.rss).slice(0, 14).map((m) => `${m.size}→${m.rss}`).join(', ')}`,
    `  libraries: ${files.filter((m) => m.rss >= 256).map((m) => `${m.path.split('/').pop()} ${m.rss}`).join(', ')}`,
  ];
  if (v8 !== undefined) {
    lines.push(`  V8 spaces (committed / physical / used, KiB): ${v8.spaces.map((s) => `${s.space_name} ${(s.space_size / 1024) | 0}/${(s.physical_space_size / 1024) | 0}/${(s.space_used_size / 1024) | 0}`).join(', ')}`);
    lines.push(`  V8: total physical ${kib(v8.heap.total_physical_size / 1024)}, malloced ${kib(v8.heap.malloced_memory / 1024)} (peak ${kib(v8.heap.peak_malloced_memory / 1024)}), external ${kib(v8.mem.external / 1024)}, array buffers ${kib(v8.mem.arrayBuffers / 1024)}`);
    const m = v8.malloc;
    if (m !== undefined) lines.push(`  glibc malloc: arenas ${kib(m.arena / 1024)} (in use ${kib(m.inUse / 1024)}, free ${kib(m.free / 1024)}, top ${kib(m.releasable / 1024)}), mmapped chunks ${kib(m.mmapped / 1024)}`);
  }
  lines.push(`  node binary's resident pages: ${pagesFile} (npx tsx bench/resident-code.ts BEFORE AFTER: which code)`);
  process.stderr.write(`${lines.join('\n')}\n`);
  mapLines.push(...lines);
}
const mapLines: string[] = [];

/**
 * Writes which pages of the node binary pid has resident (present in its page table, from
 * /proc/PID/pagemap: bit 63 of each page's entry) as JSON {binary, offsets: [file offsets]}, file
 * offsets because V8 maps a copy of its embedded builtins elsewhere; beside it the process's smaps.
 * Returns the JSON file's path. bench/resident-code.ts names the code on the pages one moment added.
 */
function saveNodePages(pid: number, moment: string): string {
  const offsets: number[] = [];
  let binary = '';
  const fd = openSync(`/proc/${pid}/pagemap`, 'r');
  try {
    for (const line of readFileSync(`/proc/${pid}/maps`, 'utf8').split('\n')) {
      const m = /^([0-9a-f]+)-([0-9a-f]+) \S+ ([0-9a-f]+) \S+ \S+\s+(\/\S*\/node)$/.exec(line);
      if (!m) continue;
      binary = m[4];
      const start = parseInt(m[1], 16) / PAGE;
      const count = parseInt(m[2], 16) / PAGE - start;
      const fileOffset = parseInt(m[3], 16);
      const entries = Buffer.alloc(count * 8);
      readSync(fd, entries, 0, entries.length, start * 8);
      for (let i = 0; i < count; i++) if (entries.readBigUInt64LE(i * 8) >> 63n) offsets.push(fileOffset + i * PAGE);
    }
  } finally {
    closeSync(fd);
  }
  const file = join(PROBE_DIR, `pages-${pid}-${moment.replace(/[^a-z0-9]+/gi, '-')}.json`);
  writeFileSync(file, JSON.stringify({ binary, offsets }));
  writeFileSync(file.replace(/\.json$/, '.smaps'), readFileSync(`/proc/${pid}/smaps`));
  return file;
}
const PAGE = 4096;

async function waitForAddress(ns: TestNamespace, child: ChildProcess, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const out = await ns.exec('ip', ['-4', '-o', 'addr']).catch(() => '');
    if (/inet (?!127\.)/.test(out)) return;
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`${what} did not configure the guest`);
    await sleep(50);
  }
}

/** tslirp's TAP offloads: its default (on since issue 12), or the flag named. */
type Offloads = 'default' | 'enabled' | 'disabled';

async function start(impl: Impl, mtu: number, offloads: Offloads): Promise<Instance> {
  const ns = await createNamespace(tracker);
  let command: string;
  let args: string[];
  let apiSocket: string | undefined;
  if (impl === 'tslirp') {
    const script = TSLIRP.endsWith('.js');
    command = script ? process.execPath : TSLIRP;
    apiSocket = join(tmpdir(), `tslirp-memory-${process.pid}-${ns.pid}.sock`);
    args = [...(script ? [...(NODE_FLAGS ?? []), TSLIRP] : []), `--api-socket=${apiSocket}`, '--configure', `--mtu=${mtu}`, '-r', '3', ...(offloads === 'default' ? [] : [`--${offloads === 'enabled' ? 'enable' : 'disable'}-offloads`]), String(ns.pid), 'tap0'];
  } else if (impl === 'slirp4netns') {
    command = SLIRP4NETNS;
    args = ['--configure', `--mtu=${mtu}`, '-r', '3', String(ns.pid), 'tap0'];
  } else {
    command = PASTA;
    args = ['--runas', '0', '-f', '-q', '--config-net', '-t', 'none', '-u', 'none', '-T', 'none', '-U', 'none', '-m', String(mtu), String(ns.pid)];
  }
  const probeEnv = MAP && impl === 'tslirp' ? { NODE_OPTIONS: `--require=${join(REPO_ROOT, 'bench/memory-probe.cjs')}`, TSLIRP_MEMORY_PROBE_DIR: PROBE_DIR, TSLIRP_MEMORY_PROBE_ADDON: join(REPO_ROOT, 'build/Release/tslirp_native.node') } : {};
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe', 'pipe'], cwd: REPO_ROOT, env: { ...process.env, TSLIRP_LOG_LEVEL: 'warn', ...probeEnv } });
  engines.add(child);
  child.once('exit', () => engines.delete(child));
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  if (impl === 'pasta') {
    await waitForAddress(ns, child, `pasta (${stderr})`);
  } else {
    await new Promise<void>((resolve, reject) => {
      const ready = child.stdio[3] as NodeJS.ReadableStream;
      ready.on('data', () => resolve());
      ready.on('close', () => resolve());
      child.once('exit', (code) => reject(new Error(`${impl} exited ${code}: ${stderr}`)));
    });
  }
  if (child.pid === undefined) throw new Error(`${impl} has no pid`);
  return { impl, ns, child, pid: child.pid, apiSocket };
}

async function stop(instance: Instance): Promise<void> {
  await stopProcess(instance.child, 3000);
  await stopProcess(instance.ns.process);
}

// ---- the guest's side: python3 inside the namespace ----

const GUEST = String.raw`
import json, os, random, select, socket, struct, sys, time
mode = sys.argv[1]

def checksum(data):
    if len(data) % 2: data += b'\0'
    s = sum(struct.unpack('!%dH' % (len(data) // 2), data))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff

if mode == 'conns':
    host, port, count, exchange = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == '1'
    held = []
    for i in range(count):
        s = socket.create_connection((host, port), timeout=10)
        if not exchange:
            held.append(s)
            continue
        s.sendall(b'q' * 100)
        got = b''
        while len(got) < 100:
            chunk = s.recv(100 - len(got))
            if not chunk: raise SystemExit('closed early')
            got += chunk
        held.append(s)
    print('open', flush=True)
    sys.stdin.readline()  # hold them until told

elif mode == 'storm':
    host, count = sys.argv[2], int(sys.argv[3])
    ports = json.load(open(sys.argv[4]))
    tcp_ports, udp_ports = ports['tcp'], ports['udp']
    parts = sys.argv[5].split(',')
    t0 = time.monotonic()
    # 1. SYNs to closed host ports, at most 900 outstanding.
    poller = select.poll(); pending = {}; started = 0 if 'syn' in parts else count; refused = 0; other = 0
    while started < count or pending:
        while started < count and len(pending) < 900:
            s = socket.socket(); s.setblocking(False)
            try: s.connect((host, tcp_ports[started % len(tcp_ports)]))
            except BlockingIOError: pass
            pending[s.fileno()] = s; poller.register(s, select.POLLOUT); started += 1
        events = poller.poll(3000)
        if not events:
            for s in pending.values(): s.close()
            other += len(pending); pending.clear(); poller = select.poll(); continue
        for fd, _ in events:
            s = pending.pop(fd); poller.unregister(fd)
            if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 111: refused += 1
            else: other += 1
            s.close()
    # 2. One datagram from each of count fresh sockets (new source ports) to closed host ports.
    sent = 0 if 'udp' in parts else count
    while sent < count:
        batch = []
        for _ in range(min(900, count - sent)):
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try: u.sendto(b'storm', (host, udp_ports[sent % len(udp_ports)]))
            except OSError: pass
            batch.append(u); sent += 1
        for u in batch: u.close()
    # 3. Hostile frames on a packet socket: garbage, bogus first fragments, bad-checksum SYNs and UDP
    #    from spoofed neighbours (10.0.2.101-250) to closed ports.
    raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    raw.bind(('tap0', 0))
    import fcntl
    ours = fcntl.ioctl(raw.fileno(), 0x8927, struct.pack('256s', b'tap0'))[18:24]  # SIOCGIFHWADDR
    gw = bytes.fromhex('52550a000202')
    rnd = random.Random(7)
    dst = socket.inet_aton(host)
    for i in range(count if 'frames' in parts else 0):
        kind = i % 4
        src = socket.inet_aton('10.0.2.%d' % (101 + i % 150))
        if kind == 0:
            frame = gw + ours + rnd.randbytes(2 + rnd.randrange(46, 1400))
        elif kind == 1:
            body = rnd.randbytes(1480)
            ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(body), i & 0xffff, 0x2000, 64, 17, 0, src, dst)
            ip = ip[:10] + struct.pack('!H', checksum(ip)) + ip[12:]
            frame = gw + ours + b'\x08\x00' + ip + body
        elif kind == 2:
            tcp = struct.pack('!HHIIBBHHH', 1024 + i % 60000, tcp_ports[i % len(tcp_ports)], i, 0, 5 << 4, 0x02, 65535, 0xdead, 0)
            ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 40, i & 0xffff, 0x4000, 64, 6, 0, src, dst)
            ip = ip[:10] + struct.pack('!H', checksum(ip)) + ip[12:]
            frame = gw + ours + b'\x08\x00' + ip + tcp
        else:
            payload = b'hostile'
            sport, dport = 1024 + i % 60000, udp_ports[i % len(udp_ports)]
            udp = struct.pack('!HHHH', sport, dport, 8 + len(payload), 0) + payload
            pseudo = src + dst + struct.pack('!BBH', 0, 17, len(udp))
            udp = udp[:6] + struct.pack('!H', checksum(pseudo + udp) or 0xffff) + udp[8:]
            ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(udp), i & 0xffff, 0x4000, 64, 17, 0, src, dst)
            ip = ip[:10] + struct.pack('!H', checksum(ip)) + ip[12:]
            frame = gw + ours + b'\x08\x00' + ip + udp
        try: raw.send(frame)
        except OSError: time.sleep(0.001)
    print(json.dumps({'refused': refused, 'other': other, 'udp': sent, 'seconds': time.monotonic() - t0}))
`;

/** Ports on 127.0.0.1 nobody listens on (TCP and UDP), from a range, so the storm reaches nobody. */
function closedPorts(count: number): { tcp: number[]; udp: number[] } {
  const listening = (file: string, state: string | null): Set<number> => {
    const ports = new Set<number>();
    for (const line of readFileSync(file, 'utf8').split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length < 4) continue;
      if (state !== null && fields[3] !== state) continue;
      ports.add(parseInt(fields[1].split(':')[1], 16));
    }
    return ports;
  };
  const tcpBusy = new Set([...listening('/proc/net/tcp', '0A'), ...listening('/proc/net/tcp6', '0A')]);
  const udpBusy = new Set([...listening('/proc/net/udp', null), ...listening('/proc/net/udp6', null)]);
  const pick = (busy: Set<number>): number[] => {
    const ports: number[] = [];
    for (let port = 20_000; port < 65_000 && ports.length < count; port++) if (!busy.has(port)) ports.push(port);
    return ports;
  };
  return { tcp: pick(tcpBusy), udp: pick(udpBusy) };
}

// ---- host side ----

interface HeldServer {
  readonly port: number;
  readonly sockets: Set<Socket>;
  close(): void;
}

/** Answers 100 bytes to each connection's first 100 and keeps it open. */
async function holdingServer(): Promise<HeldServer> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    let got = 0;
    socket.on('data', (chunk: Buffer) => {
      got += chunk.length;
      if (got >= 100 && got - chunk.length < 100) socket.write(Buffer.alloc(100, 0x61));
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => sockets.delete(socket));
  });
  server.maxConnections = 100_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return {
    port: address.port,
    sockets,
    close() {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}

async function iperf(ns: TestNamespace, port: number, args: string[]): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    try {
      const { stdout } = await execFileAsync('nsenter', ['-t', String(ns.pid), '-n', 'iperf3', '-c', '10.0.2.2', '-p', String(port), '-J', ...args], {
        timeout: 120_000,
        maxBuffer: 16 << 20,
      });
      const result = JSON.parse(stdout) as { end?: { sum_received?: { bits_per_second: number } }; error?: string };
      const received = result.end?.sum_received;
      // iperf3 -J reports its failures (the server busy, a reset control connection) as "error".
      if (received === undefined) throw Object.assign(new Error(result.error ?? 'no sum_received'), { stdout: result.error ?? stdout });
      return received.bits_per_second / 1e9;
    } catch (error) {
      const text = String((error as { stdout?: string }).stdout ?? (error as Error).message);
      if (attempt < 5 && /busy/.test(text)) {
        await sleep(500);
        continue;
      }
      throw new Error(`iperf3 ${args.join(' ')}: ${text.slice(0, 300)}`);
    }
  }
}

// ---- the moments ----

async function idle(impl: Impl): Promise<{ rss: number; anon: number; js: JsMemory | undefined }> {
  const instance = await start(impl, 65520, 'default');
  try {
    await sleep(3000);
    const now = rss(instance.pid);
    const result = { rss: now.rss, anon: now.anon, js: await jsMemory(instance) };
    await printMap(instance, 'idle');
    return result;
  } finally {
    await stop(instance);
  }
}

interface BulkResult {
  peak: number;
  up: number;
  down: number;
  js: JsPeak | undefined;
}

async function bulk(impl: Impl, mtu: number, offloads: Offloads, iperfPort: number): Promise<BulkResult> {
  const instance = await start(impl, mtu, offloads);
  try {
    await sleep(500);
    const sampler = sampleJs(instance);
    const up = await iperf(instance.ns, iperfPort, ['-n', '100M']);
    await printMap(instance, `bulk MTU ${mtu}: after 100 MB guest→host`);
    const down = await iperf(instance.ns, iperfPort, ['-n', '100M', '-R']);
    const result = { peak: rss(instance.pid).hwm, up, down, js: await sampler.stop() };
    await printMap(instance, `bulk MTU ${mtu}: after 100 MB host→guest`);
    return result;
  } finally {
    await stop(instance);
  }
}

async function conns(impl: Impl, exchange: boolean): Promise<number> {
  const instance = await start(impl, 65520, 'default');
  const server = await holdingServer();
  try {
    // Warm up: whatever loads on the first connection is not a per-connection cost.
    await runGuestConns(instance, server.port, 10, true);
    await sleep(1000);
    const before = rss(instance.pid).rss;
    const holder = await runGuestConns(instance, server.port, CONNS, exchange, true);
    await sleep(2000);
    const after = rss(instance.pid).rss;
    await printMap(instance, `${CONNS} connections open${exchange ? ', after data' : ''}`);
    holder?.stdin?.end();
    return ((after - before) * 1024) / CONNS / 1000; // KB (10^3) per connection
  } finally {
    server.close();
    await stop(instance);
  }
}

/** Opens count connections from the guest; with hold, returns the process holding them open. */
async function runGuestConns(instance: Instance, port: number, count: number, exchange: boolean, hold = false): Promise<ChildProcess | undefined> {
  const child = spawn('nsenter', ['-t', String(instance.ns.pid), '-n', 'python3', '-c', GUEST, 'conns', '10.0.2.2', String(port), String(count), exchange ? '1' : '0'], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  engines.add(child);
  child.once('exit', () => engines.delete(child));
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const deadline = Date.now() + 120_000;
  while (!out.includes('open')) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`guest connections failed: ${out}`);
    await sleep(20);
  }
  if (hold) return child;
  child.stdin.end();
  await new Promise((resolve) => child.once('exit', resolve));
  return undefined;
}

interface StormResult {
  idle: number;
  /** RssAnon 10 s after minus RssAnon at idle. */
  anonAfter10s: number;
  peakGrowth: number;
  after10s: number;
  baselineGbps: number;
  stormGbps: number;
  js: JsPeak | undefined;
  jsAfter: JsMemory | undefined;
}

async function storm(impl: Impl, iperfPort: number): Promise<StormResult> {
  const instance = await start(impl, 65520, 'default');
  const portsFile = join(tmpdir(), `tslirp-memory-ports-${process.pid}.json`);
  writeFileSync(portsFile, JSON.stringify(closedPorts(2000)));
  const runStorm = async (): Promise<void> => {
    const result = await instance.ns.exec('python3', ['-c', GUEST, 'storm', '10.0.2.2', String(STORM), portsFile, STORM_PARTS], 300_000);
    process.stderr.write(`  ${impl} storm: ${result.trim()}\n`);
  };
  try {
    // Memory: the storm alone, from idle (a bulk transfer beside it would measure the transfer).
    if (MAP) await probe(instance.pid); // its own code paths, run once before the idle snapshot
    await sleep(3000);
    const idleRss = rss(instance.pid).rss;
    const idleAnon = rss(instance.pid).anon;
    await printMap(instance, 'storm: idle before it');
    const sampler = sampleRss(instance.pid);
    const jsSampler = sampleJs(instance);
    await runStorm();
    await printMap(instance, 'storm: at its end');
    await sleep(10_000);
    // The peak is sampled until now: tslirp may still be working through the frames the guest
    // queued when the guest's sender is done (after a UDP storm, RSS went on growing past its end).
    const peak = sampler.stop();
    const js = await jsSampler.stop();
    const after10s = rss(instance.pid).rss - idleRss;
    const anonAfter10s = rss(instance.pid).anon - idleAnon;
    await printMap(instance, 'storm: 10 s after');
    const jsAfter = await jsMemory(instance);
    // Throughput of an existing flow: iperf3 alone, then beside a second storm.
    const baselineGbps = await iperf(instance.ns, iperfPort, ['-t', '6']);
    await sleep(1000);
    const during = iperf(instance.ns, iperfPort, ['-t', '6']).catch((error: unknown) => {
      process.stderr.write(`  ${impl}: iperf3 during the storm failed: ${(error as Error).message}\n`);
      return NaN;
    });
    await sleep(300);
    await runStorm();
    const stormGbps = await during;
    return { idle: idleRss, anonAfter10s, peakGrowth: peak - idleRss, after10s, baselineGbps, stormGbps, js, jsAfter };
  } finally {
    rmSync(portsFile, { force: true });
    await stop(instance);
  }
}

// ---- report ----

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
const mib = (kib: number): string => (kib / 1024).toFixed(1);
const cell = (values: number[], format: (n: number) => string): string =>
  values.length === 0 ? '—' : `${format(median(values))} (${values.map(format).join('/')})`;

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('needs root (creates namespaces)');
  if (MAP) mkdirSync(PROBE_DIR, { recursive: true });
  // --tslirp-only: no reference runs (quicker A/B of tslirp builds or settings; not for the table).
  const tslirpOnly = argv.includes('--tslirp-only');
  const impls: Impl[] = tslirpOnly ? ['tslirp'] : ['tslirp', 'slirp4netns'];
  const withPasta = !tslirpOnly && existsSync(PASTA);
  const rows: string[][] = [];
  const row = (moment: string, tslirp: string, slirp: string, pasta = ''): void => {
    rows.push([moment, tslirp, slirp, pasta]);
    process.stderr.write(`${moment}: ${tslirp} | ${slirp} | ${pasta}\n`);
  };
  const iperfPort = await freePort();
  const server = tracker.spawn('iperf3', ['-s', '-B', '127.0.0.1', '-p', String(iperfPort)]);
  await sleep(300);
  if (server.exitCode !== null) throw new Error('iperf3 server did not start');

  if (ONLY.has('idle')) {
    const samples: Record<Impl, number[]> = { tslirp: [], slirp4netns: [], pasta: [] };
    const anon: Record<Impl, number[]> = { tslirp: [], slirp4netns: [], pasta: [] };
    const js: JsMemory[] = [];
    for (let run = 0; run < RUNS; run++) {
      for (const impl of withPasta ? [...impls, 'pasta' as const] : impls) {
        const result = await idle(impl);
        samples[impl].push(result.rss);
        anon[impl].push(result.anon);
        if (result.js) js.push(result.js);
      }
    }
    row('idle RSS, 3 s after start (MiB)', cell(samples.tslirp, mib), cell(samples.slirp4netns, mib), withPasta ? cell(samples.pasta, mib) : '');
    row('  of it anonymous (RssAnon: not file pages) (MiB)', cell(anon.tslirp, mib), cell(anon.slirp4netns, mib), withPasta ? cell(anon.pasta, mib) : '');
    if (js.length > 0) row('  tslirp: JS heap used / total, external (MiB)', `${cell(js.map((m) => m.heap_used / 1024), mib)} / ${cell(js.map((m) => m.heap_total / 1024), mib)}, ${cell(js.map((m) => m.external / 1024), mib)}`, '');
  }
  if (ONLY.has('bulk')) {
    for (const config of [
      { name: 'MTU 65520 (tslirp default: offloads)', mtu: 65520, offloads: 'default' as const },
      { name: 'MTU 65520, --disable-offloads', mtu: 65520, offloads: 'disabled' as const },
      { name: 'MTU 1500 + offloads (slirp4netns: plain 1500)', mtu: 1500, offloads: 'enabled' as const },
    ]) {
      const samples: Record<Impl, BulkResult[]> = { tslirp: [], slirp4netns: [], pasta: [] };
      for (let run = 0; run < RUNS; run++) {
        for (const impl of impls) samples[impl].push(await bulk(impl, config.mtu, config.offloads, iperfPort));
      }
      row(`peak RSS over 100 MB each way, ${config.name} (MiB)`, cell(samples.tslirp.map((s) => s.peak), mib), cell(samples.slirp4netns.map((s) => s.peak), mib));
      const gbps = (n: number): string => n.toFixed(2);
      row(`  its throughput guest→host (Gbit/s)`, cell(samples.tslirp.map((s) => s.up), gbps), cell(samples.slirp4netns.map((s) => s.up), gbps));
      row(`  its throughput host→guest (Gbit/s)`, cell(samples.tslirp.map((s) => s.down), gbps), cell(samples.slirp4netns.map((s) => s.down), gbps));
      const js = samples.tslirp.flatMap((s) => (s.js ? [s.js] : []));
      if (js.length > 0) row('  tslirp: largest JS heap, external seen (MiB)', `${cell(js.map((m) => m.heap), mib)}, ${cell(js.map((m) => m.external), mib)}`, '');
    }
  }
  if (ONLY.has('conns')) {
    const kb = (n: number): string => n.toFixed(1);
    for (const exchange of [false, true]) {
      const samples: Record<Impl, number[]> = { tslirp: [], slirp4netns: [], pasta: [] };
      for (let run = 0; run < RUNS; run++) for (const impl of impls) samples[impl].push(await conns(impl, exchange));
      const what = exchange ? 'after 100 bytes each way' : 'no data';
      row(`marginal RSS per idle TCP connection, ${CONNS} open, ${what} (KB)`, cell(samples.tslirp, kb), cell(samples.slirp4netns, kb));
    }
  }
  if (ONLY.has('storm')) {
    const samples: Record<Impl, StormResult[]> = { tslirp: [], slirp4netns: [], pasta: [] };
    for (let run = 0; run < RUNS; run++) for (const impl of impls) samples[impl].push(await storm(impl, iperfPort));
    const pick = (impl: Impl, f: (s: StormResult) => number, format: (n: number) => string): string => cell(samples[impl].map(f), format);
    const gbps = (n: number): string => n.toFixed(2);
    row('storm: idle RSS before it (MiB)', pick('tslirp', (s) => s.idle, mib), pick('slirp4netns', (s) => s.idle, mib));
    row('storm: RSS growth at its peak (MiB)', pick('tslirp', (s) => s.peakGrowth, mib), pick('slirp4netns', (s) => s.peakGrowth, mib));
    row('storm: RSS above idle 10 s after it (MiB)', pick('tslirp', (s) => s.after10s, mib), pick('slirp4netns', (s) => s.after10s, mib));
    row('  of it anonymous (RssAnon above idle) (MiB)', pick('tslirp', (s) => s.anonAfter10s, mib), pick('slirp4netns', (s) => s.anonAfter10s, mib));
    const js = samples.tslirp.flatMap((s) => (s.js ? [s.js] : []));
    if (js.length > 0) row('storm: tslirp largest JS heap, external seen (MiB)', `${cell(js.map((m) => m.heap), mib)}, ${cell(js.map((m) => m.external), mib)}`, '');
    const after = samples.tslirp.flatMap((s) => (s.jsAfter ? [s.jsAfter] : []));
    if (after.length > 0) row('storm: tslirp JS heap total, external 10 s after (MiB)', `${cell(after.map((m) => m.heap_total / 1024), mib)}, ${cell(after.map((m) => m.external / 1024), mib)}`, '');
    row('storm: iperf3 guest→host without / during it (Gbit/s)', `${pick('tslirp', (s) => s.baselineGbps, gbps)} / ${pick('tslirp', (s) => s.stormGbps, gbps)}`, `${pick('slirp4netns', (s) => s.baselineGbps, gbps)} / ${pick('slirp4netns', (s) => s.stormGbps, gbps)}`);
  }

  const header = ['moment', 'tslirp (median, runs)', 'slirp4netns (median, runs)', withPasta ? 'pasta' : ''];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  const launcher = TSLIRP.endsWith('.js') ? `node ${NODE_FLAGS?.join(' ') ?? ''} ${TSLIRP}`.replace(/\s+/g, ' ') : TSLIRP;
  // The tree of the build measured (--tslirp= may name another checkout's launcher), not the bench's own.
  const measuredTree = dirname(realpathSync(TSLIRP));
  const commit = await execFileAsync('git', ['rev-parse', '--short', 'HEAD'], { cwd: measuredTree }).then((r) => r.stdout.trim(), () => '?');
  const dirty = await execFileAsync('git', ['status', '--porcelain', '--untracked-files=no', '--', 'src', 'native'], { cwd: measuredTree }).then((r) => (r.stdout.trim() === '' ? '' : ' + uncommitted changes'), () => '');
  const table = [
    `Memory (RSS of /proc/PID/status), ${RUNS} interleaved runs, medians; tslirp: ${launcher} (tree at ${commit}${dirty}; node ${process.version}); ${CONNS} connections; storm of ${STORM}${STORM_PARTS === 'syn,udp,frames' ? '' : ` (${STORM_PARTS} only)`}`,
    '',
    line(header),
    `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`,
    ...rows.map(line),
  ].join('\n');
  console.log(table);
  const date = new Date().toISOString().slice(0, 10);
  mkdirSync(join(REPO_ROOT, 'bench/results'), { recursive: true });
  const file = join(REPO_ROOT, `bench/results/memory-${date}.md`);
  const before = existsSync(file) ? readFileSync(file, 'utf8') : `# bench/memory.ts, ${date}\n\nCommand: \`npx tsx bench/memory.ts ${argv.join(' ')}\` (root, after \`npm run build\`).\n`;
  const map = mapLines.length > 0 ? `\nWhere tslirp's RSS went (--map):\n\n\`\`\`\n${mapLines.join('\n')}\n\`\`\`\n` : '';
  writeFileSync(file, `${before}\n## ${new Date().toISOString().slice(11, 16)} UTC: \`npx tsx bench/memory.ts ${argv.join(' ')}\`\n\n${table}\n${map}`);
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void Promise.all([...engines].map((child) => stopProcess(child, 3000)))
      .then(() => tracker.killAll())
      .finally(() => process.exit(130));
  });
}

main()
  .catch((error: unknown) => {
    process.stderr.write(`memory: ${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = 1;
  })
  .finally(async () => {
    await Promise.all([...engines].map((child) => stopProcess(child, 3000)));
    await tracker.killAll();
  });
