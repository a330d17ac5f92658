/**
 * The two ends of a bulk TCP transfer checked by sha256, for end-to-end tests with the kernel as the
 * guest: host servers on 127.0.0.1 in the test process (random ports; the guest reaches them as
 * 10.0.2.2), or on ::1 (reached as fd00::2) for IPv6, and a python3 client run inside the test's
 * namespace. Used by test/e2e/tcp-transfer.test.ts, tcp-faults-e2e.test.ts and ipv6-tcp.test.ts.
 *
 * - sink: reads everything, answers the sha256 hex of what it read, then ends;
 * - source: writes `sourceSize` random bytes and ends; the hash of what it sent is recorded;
 * - echo: echoes until the peer half-closes, then ends; counts its connections.
 *
 * Only loopback servers; the caller closes them (every socket destroyed) in its cleanup.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import type { TestNamespace } from './netns.js';

export const MB = 1024 * 1024;

/**
 * Guest side, one JSON line: `put HOST PORT SIZE` sends SIZE random bytes, `get HOST PORT [PAUSE_MS [EVERY]]`
 * reads to EOF (pausing up to PAUSE_MS after each EVERY bytes, default 1 MiB, when given: a slow
 * reader closes the window),
 * `many HOST PORT COUNT SIZE HOLD` opens COUNT connections at once to an echo server, holds
 * them HOLD seconds, then exchanges SIZE random bytes on each and closes. Ended by a signal (the
 * caller's timeout), put and get say on stderr how far they got.
 */
const GUEST_CLIENT = String.raw`
import asyncio, hashlib, json, os, random, resource, signal, socket, sys, time
mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
progress = {'mode': mode, 'bytes': 0, 'started': time.monotonic(), 'connected': False}
def on_signal(number, frame):
    sys.stderr.write('stopped by signal %d after %.1f s: %s %d bytes, connected %s\n' % (number, time.monotonic() - progress['started'], mode, progress['bytes'], progress['connected']))
    sys.stderr.flush()
    os._exit(128 + number)
signal.signal(signal.SIGTERM, on_signal)
def connect():
    s = socket.create_connection((host, port), timeout=30)
    s.settimeout(None)
    progress['connected'] = True
    return s
if mode == 'put':
    h = hashlib.sha256()
    t0 = time.monotonic()
    s = connect()
    left = int(sys.argv[4])
    while left > 0:
        chunk = os.urandom(min(left, 1 << 20))
        h.update(chunk)
        s.sendall(chunk)
        left -= len(chunk)
        progress['bytes'] += len(chunk)
    s.shutdown(socket.SHUT_WR)
    reply = b''
    while True:
        d = s.recv(4096)
        if not d: break
        reply += d
    s.close()
    print(json.dumps({'sha256': h.hexdigest(), 'reply': reply.decode().strip(), 'seconds': time.monotonic() - t0}))
elif mode == 'get':
    h = hashlib.sha256()
    t0 = time.monotonic()
    s = connect()
    connected = time.monotonic() - t0
    n = 0
    pause = float(sys.argv[4]) / 1000 if len(sys.argv) > 4 else 0
    every = int(sys.argv[5]) if len(sys.argv) > 5 else 1 << 20
    next_pause = every
    buf = bytearray(1 << 20)
    while True:
        k = s.recv_into(buf)
        if k == 0: break
        h.update(memoryview(buf)[:k])
        n += k
        progress['bytes'] = n
        if pause > 0 and n >= next_pause:
            next_pause += every
            time.sleep(random.uniform(0, pause))
    s.close()
    print(json.dumps({'sha256': h.hexdigest(), 'length': n, 'seconds': time.monotonic() - t0, 'connect_seconds': connected}))
elif mode == 'many':
    count, size, hold = int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    async def open_one(i):
        for attempt in range(5):
            try:
                return await asyncio.wait_for(asyncio.open_connection(host, port), 20)
            except (ConnectionError, asyncio.TimeoutError, OSError):
                await asyncio.sleep(0.2 * (attempt + 1))
        raise RuntimeError('cannot connect %d' % i)
    async def exchange(rw):
        r, w = rw
        data = os.urandom(size)
        w.write(data)
        await w.drain()
        got = await asyncio.wait_for(r.readexactly(size), 30)
        w.write_eof()
        rest = await asyncio.wait_for(r.read(), 30)
        w.close()
        await w.wait_closed()
        return got == data and rest == b''
    async def main():
        t0 = time.monotonic()
        conns = await asyncio.gather(*(open_one(i) for i in range(count)))
        opened = time.monotonic() - t0
        await asyncio.sleep(hold)
        results = await asyncio.gather(*(exchange(c) for c in conns), return_exceptions=True)
        ok = sum(1 for x in results if x is True)
        errors = [repr(x) for x in results if x is not True][:5]
        print(json.dumps({'opened': len(conns), 'ok': ok, 'errors': errors, 'open_seconds': opened, 'seconds': time.monotonic() - t0}))
    asyncio.run(main())
`;

export interface BulkServers {
  /** Where the guest reaches these servers: 10.0.2.2 (servers on 127.0.0.1) or fd00::2 (on ::1). */
  readonly guestTarget: string;
  readonly sinkPort: number;
  /** When > 0, the sink stops reading for up to this many ms after each sinkPauseEvery bytes (a slow host reader). */
  sinkPauseMs: number;
  sinkPauseEvery: number;
  readonly sourcePort: number;
  /** Bytes the source writes to its next connection. */
  sourceSize: number;
  /** One entry per source connection: the sha256 hex of what it wrote, once written. */
  readonly sent: Promise<string>[];
  readonly echoPort: number;
  /** Connections the echo server has accepted so far. */
  readonly echoConnections: number;
  close(): Promise<void>;
}

/** A backlog large enough for the 1,000 connections tcp-transfer opens at once. */
async function listen(server: Server, host: string): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, host, 2048, resolve));
  return (server.address() as { port: number }).port;
}

function writeRandom(socket: Socket, size: number): Promise<string> {
  const hash = createHash('sha256');
  return new Promise((resolve, reject) => {
    let left = size;
    const pump = (): void => {
      while (left > 0) {
        const chunk = randomBytes(Math.min(left, MB));
        hash.update(chunk);
        left -= chunk.length;
        if (!socket.write(chunk)) {
          socket.once('drain', pump);
          return;
        }
      }
      socket.end(() => resolve(hash.digest('hex')));
    };
    socket.once('error', reject);
    pump();
  });
}

/** The servers on 127.0.0.1 (family 4, the default) or on ::1 (family 6). */
export async function startBulkServers(options: { family?: 4 | 6 } = {}): Promise<BulkServers> {
  const host = options.family === 6 ? '::1' : '127.0.0.1';
  const sockets = new Set<Socket>();
  const track = (s: Socket): void => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
    s.on('error', () => undefined);
  };
  const sink = createServer((socket) => {
    track(socket);
    const hash = createHash('sha256');
    let read = 0;
    let nextPause = servers.sinkPauseEvery;
    socket.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      read += chunk.length;
      if (servers.sinkPauseMs > 0 && read >= nextPause) {
        nextPause = read + servers.sinkPauseEvery;
        socket.pause();
        setTimeout(() => socket.resume(), Math.random() * servers.sinkPauseMs);
      }
    });
    socket.once('end', () => socket.end(`${hash.digest('hex')}\n`));
  });
  const sent: Promise<string>[] = [];
  const servers = {
    guestTarget: options.family === 6 ? 'fd00::2' : '10.0.2.2',
    sinkPort: await listen(sink, host),
    sinkPauseMs: 0,
    sinkPauseEvery: MB,
    sourcePort: 0,
    sourceSize: 0,
    sent,
    echoPort: 0,
    echoConnections: 0,
    close: async (): Promise<void> => {
      for (const s of sockets) s.destroy();
      await Promise.all([sink, source, echo].map((srv) => new Promise<void>((resolve) => srv.close(() => resolve()))));
    },
  };
  const source = createServer((socket) => {
    track(socket);
    socket.on('data', () => undefined);
    const written = writeRandom(socket, servers.sourceSize);
    written.catch(() => undefined); // awaited by the test; an early rejection must not be unhandled
    sent.push(written);
  });
  const echo = createServer({ allowHalfOpen: true }, (socket) => {
    track(socket);
    servers.echoConnections++;
    socket.pipe(socket);
  });
  servers.sourcePort = await listen(source, host);
  servers.echoPort = await listen(echo, host);
  return servers;
}

export interface PutResult {
  /** What the guest sent, and what the host sink says it received. */
  readonly sha256: string;
  readonly reply: string;
  readonly seconds: number;
}

export interface GetResult {
  /** What the guest received, and what the host source says it sent. */
  readonly sha256: string;
  readonly sent: string;
  readonly length: number;
  readonly seconds: number;
  /** How long the connection took to open. */
  readonly connect_seconds: number;
}

export interface ManyResult {
  /** Connections opened, and those whose exchange came back intact and closed cleanly. */
  readonly opened: number;
  readonly ok: number;
  /** The first few failures, as python repr()s. */
  readonly errors: string[];
  readonly open_seconds: number;
  readonly seconds: number;
}

/** The guest sends `size` bytes to the sink (at servers.guestTarget). */
export async function guestPut(ns: TestNamespace, servers: BulkServers, size: number, timeoutMs: number): Promise<PutResult> {
  const out = await ns.exec('python3', ['-c', GUEST_CLIENT, 'put', servers.guestTarget, String(servers.sinkPort), String(size)], timeoutMs);
  return JSON.parse(out) as PutResult;
}

/** The guest reads `size` bytes from the source (at servers.guestTarget), pausing up to readPauseMs per MiB when > 0. */
export async function guestGet(ns: TestNamespace, servers: BulkServers, size: number, timeoutMs: number, readPauseMs = 0): Promise<GetResult> {
  servers.sourceSize = size;
  const before = servers.sent.length;
  const pause = readPauseMs > 0 ? [String(readPauseMs)] : [];
  const out = await ns.exec('python3', ['-c', GUEST_CLIENT, 'get', servers.guestTarget, String(servers.sourcePort), ...pause], timeoutMs);
  const got = JSON.parse(out) as Omit<GetResult, 'sent'>;
  if (servers.sent.length !== before + 1) throw new Error(`expected one source connection, saw ${servers.sent.length - before}`);
  return { ...got, sent: await servers.sent[before] };
}

/**
 * `count` guests read from the source at once, each `size` bytes. Returns what each received and
 * the hashes of what the source sent (in connection order, which need not match the guests').
 */
export async function guestGetMany(
  ns: TestNamespace,
  servers: BulkServers,
  count: number,
  size: number,
  timeoutMs: number,
): Promise<{ got: Omit<GetResult, 'sent'>[]; sent: string[] }> {
  servers.sourceSize = size;
  const before = servers.sent.length;
  const got = await Promise.all(
    Array.from({ length: count }, async () => {
      const out = await ns.exec('python3', ['-c', GUEST_CLIENT, 'get', servers.guestTarget, String(servers.sourcePort)], timeoutMs);
      return JSON.parse(out) as Omit<GetResult, 'sent'>;
    }),
  );
  return { got, sent: await Promise.all(servers.sent.slice(before)) };
}

/**
 * Like guestGetMany, but each guest's outcome is reported on its own (a failed or stalled one does
 * not hide the others), for the soak harness (bench/tcp-soak.ts). Each guest pauses up to
 * readPauseMs after each readPauseEvery bytes when > 0. `sent` holds the hashes of what the source
 * finished writing.
 */
export async function guestGetSettled(
  ns: TestNamespace,
  servers: BulkServers,
  count: number,
  size: number,
  timeoutMs: number,
  readPauseMs = 0,
  readPauseEvery = MB,
): Promise<{ got: PromiseSettledResult<Omit<GetResult, 'sent'>>[]; sent: string[] }> {
  servers.sourceSize = size;
  const before = servers.sent.length;
  const pause = readPauseMs > 0 ? [String(readPauseMs), String(readPauseEvery)] : [];
  const got = await Promise.allSettled(
    Array.from({ length: count }, async () => {
      const out = await ns.exec('python3', ['-c', GUEST_CLIENT, 'get', servers.guestTarget, String(servers.sourcePort), ...pause], timeoutMs);
      return JSON.parse(out) as Omit<GetResult, 'sent'>;
    }),
  );
  const sent = await Promise.allSettled(servers.sent.slice(before));
  return { got, sent: sent.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : [])) };
}

/**
 * `count` connections from the guest to the echo server, all open at once for `holdSeconds`, then
 * each exchanges `size` random bytes and closes.
 */
export async function guestMany(ns: TestNamespace, servers: BulkServers, count: number, size: number, holdSeconds: number, timeoutMs: number): Promise<ManyResult> {
  const args = ['-c', GUEST_CLIENT, 'many', servers.guestTarget, String(servers.echoPort), String(count), String(size), String(holdSeconds)];
  return JSON.parse(await ns.exec('python3', args, timeoutMs)) as ManyResult;
}

/** Resident set size now and its peak (VmRSS, VmHWM), in KiB, of a process of ours. */
export function rssKiB(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string): number => Number(/(\d+) kB/.exec(status.split('\n').find((l) => l.startsWith(name)) ?? '')?.[1] ?? NaN);
  return { rss: field('VmRSS:'), hwm: field('VmHWM:') };
}

/** "20 MB in 1.23 s (0.14 Gbit/s)". */
export function throughput(size: number, seconds: number): string {
  return `${size / MB} MB in ${seconds.toFixed(2)} s (${((size * 8) / seconds / 1e9).toFixed(3)} Gbit/s)`;
}
