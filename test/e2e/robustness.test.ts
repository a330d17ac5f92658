/**
 * Staying whole under storms and bugs, with the real kernel as the guest (a namespace this test
 * made, --configure at MTU 1500), tslirp and the real slirp4netns side by side where both apply:
 *
 * - a flood of IPv4 first fragments that never complete (raw socket in the guest), then a fresh
 *   3000-byte UDP datagram the guest's kernel fragments: it is echoed by a host server right away
 *   (the reassembly table evicts the stale datagrams instead of refusing newcomers for 30 s);
 * - `--cidr=10.0.0.0/8`: accepted and working (guest 10.0.0.100/8, TCP and ping to 10.0.0.2), as
 *   slirp4netns 1.2 does with every prefix from 1 to 25;
 * - tslirp only: fault containment. TSLIRP_INJECT_FAULTS=host-write-throw-port=P makes every host
 *   write of flows to P throw (a stand-in for a bug in one flow, raised inside the batch the native
 *   reader hands over): that flow is reset, a 20 MB transfer running beside it completes intact,
 *   and the process lives on.
 *
 * Traffic stays on loopback and in the test's namespace. Every process is ended by PID.
 */
import { createHash } from 'node:crypto';
import { createSocket, type Socket as DgramSocket } from 'node:dgram';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createNamespace, namespacePrerequisite, OutputLog, ProcessTracker, requireOrSkip, type TestNamespace } from '../support/netns.js';
import { SLIRP4NETNS, type Implementation } from '../support/published-guest.js';
import { builtCliPrerequisite, startTslirp, stopAllTslirp, type TslirpProcess } from '../support/tslirp-process.js';

const GUEST = String.raw`
import hashlib, json, os, socket, struct, sys, threading, time
mode = sys.argv[1]
if mode == 'fragment-flood':
    src, dst, port, count = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    body = bytes(1480)  # a UDP header of zeros and padding: only ever a first fragment
    for i in range(count):
        header = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(body), 0x1000 + i, 0x2000, 64, 17, 0, socket.inet_aton(src), socket.inet_aton(dst))
        raw.sendto(header + body, (dst, 0))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(5)
    payload = os.urandom(3000)
    t0 = time.monotonic()
    s.sendto(payload, (dst, port))
    try:
        data, peer = s.recvfrom(65536)
        print(json.dumps({'answered': data == payload, 'seconds': time.monotonic() - t0}))
    except socket.timeout:
        print(json.dumps({'answered': False, 'seconds': time.monotonic() - t0}))
elif mode == 'tcp':
    host, port = sys.argv[2], int(sys.argv[3])
    s = socket.create_connection((host, port), timeout=5)
    s.sendall(b'hello over a wide network'); s.shutdown(socket.SHUT_WR)
    got = b''
    while True:
        chunk = s.recv(1000)
        if not chunk: break
        got += chunk
    print(got.decode())
elif mode == 'containment':
    host, good, bad = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    data = os.urandom(20 << 20)
    result = {}
    def bulk():
        s = socket.create_connection((host, good), timeout=30)
        s.sendall(data); s.shutdown(socket.SHUT_WR)
        got = b''
        while True:
            chunk = s.recv(100)
            if not chunk: break
            got += chunk
        result['bulk'] = got.decode() == hashlib.sha256(data).hexdigest()
    worker = threading.Thread(target=bulk); worker.start()
    time.sleep(0.2)
    try:
        b = socket.create_connection((host, bad), timeout=10)
        b.sendall(b'x' * 1000)
        result['bad'] = 'eof' if b.recv(100) == b'' else 'data'
    except ConnectionResetError:
        result['bad'] = 'reset'
    except socket.timeout:
        result['bad'] = 'timeout'
    worker.join()
    print(json.dumps(result))
`;

function prerequisites(impl: Implementation): string | undefined {
  return (
    namespacePrerequisite({ root: true }) ??
    (impl === 'tslirp' ? builtCliPrerequisite() : existsSync(SLIRP4NETNS) ? undefined : `needs ${SLIRP4NETNS} (apt-get install slirp4netns)`)
  );
}

/** Attaches impl with --configure (MTU 1500, extra args); resolves once the guest has guestAddress. */
async function attach(impl: Implementation, tracker: ProcessTracker, ns: TestNamespace, extra: string[], guestAddress: string, env?: NodeJS.ProcessEnv): Promise<TslirpProcess | undefined> {
  const args = ['--configure', '--mtu', '1500', ...extra, String(ns.pid), 'tap0'];
  if (impl === 'tslirp') {
    const tslirp = startTslirp(['-r', '3', ...args], { env });
    expect(await tslirp.ready, tslirp.log.text).toBe('1');
    return tslirp;
  }
  const child = tracker.spawn(SLIRP4NETNS, args);
  const log = new OutputLog(child);
  const deadline = Date.now() + 10_000;
  while (!(await ns.exec('ip', ['-4', 'addr', 'show', 'tap0']).catch(() => '')).includes(guestAddress)) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`slirp4netns did not configure tap0: ${log.text}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return undefined;
}

async function udpEcho(): Promise<{ port: number; socket: DgramSocket }> {
  const socket = createSocket('udp4');
  socket.on('message', (message, remote) => socket.send(message, remote.port, remote.address));
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return { port: socket.address().port, socket };
}

/** A TCP server on 127.0.0.1 that answers each connection with `answer(bytes received)` once the client ends. */
async function tcpServer(answer: (received: Buffer) => string): Promise<{ port: number; server: Server }> {
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => socket.end(answer(Buffer.concat(chunks))));
    socket.on('error', () => socket.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP port');
  return { port: address.port, server };
}

const tracker = new ProcessTracker();
const closers: (() => void)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) close();
  await stopAllTslirp();
  await tracker.killAll();
});

describe.each(['tslirp', 'slirp4netns'] as const)('%s under storms and odd settings', (impl) => {
  it('a flood of first fragments that never complete does not lock out a fresh fragmented datagram', { timeout: 60_000 }, async (ctx) => {
    requireOrSkip(ctx, prerequisites(impl));
    const ns = await createNamespace(tracker);
    await attach(impl, tracker, ns, [], '10.0.2.100');
    const echo = await udpEcho();
    closers.push(() => echo.socket.close());
    const result = JSON.parse(await ns.exec('python3', ['-c', GUEST, 'fragment-flood', '10.0.2.100', '10.0.2.2', String(echo.port), '500'], 30_000)) as {
      answered: boolean;
      seconds: number;
    };
    console.log(`${impl}: 3000-byte datagram after 500 bogus first fragments answered=${result.answered} in ${result.seconds.toFixed(3)} s`);
    expect(result.answered).toBe(true);
  });

  it('--cidr=10.0.0.0/8 works: guest 10.0.0.100/8, TCP and ping to 10.0.0.2', { timeout: 60_000 }, async (ctx) => {
    requireOrSkip(ctx, prerequisites(impl));
    const ns = await createNamespace(tracker);
    await attach(impl, tracker, ns, ['--cidr=10.0.0.0/8'], '10.0.0.100/8');
    const server = await tcpServer((received) => `got: ${received.toString()}`);
    closers.push(() => server.server.close());
    expect((await ns.exec('python3', ['-c', GUEST, 'tcp', '10.0.0.2', String(server.port)], 20_000)).trim()).toBe('got: hello over a wide network');
    expect(await ns.exec('ping', ['-c', '1', '-W', '2', '10.0.0.2'], 10_000)).toMatch(/1 received/);
  });
});

describe('tslirp: fault containment', () => {
  it('an exception in one flow resets that flow; a 20 MB transfer beside it completes and the process lives on', { timeout: 120_000 }, async (ctx) => {
    requireOrSkip(ctx, prerequisites('tslirp'));
    const ns = await createNamespace(tracker);
    const sink = await tcpServer(() => 'never seen');
    const hasher = await tcpServer((received) => createHash('sha256').update(received).digest('hex'));
    closers.push(() => sink.server.close(), () => hasher.server.close());
    const tslirp = (await attach('tslirp', tracker, ns, [], '10.0.2.100', {
      ...process.env,
      TSLIRP_INJECT_FAULTS: `host-write-throw-port=${sink.port}`,
    }))!;
    const result = JSON.parse(await ns.exec('python3', ['-c', GUEST, 'containment', '10.0.2.2', String(hasher.port), String(sink.port)], 100_000)) as {
      bulk: boolean;
      bad: string;
    };
    expect(result).toEqual({ bulk: true, bad: 'reset' });
    expect(tslirp.child.exitCode).toBeNull();
    expect(tslirp.log.text).toMatch(/internal error \(contained: flow reset\)/);
    expect(tslirp.log.text).toMatch(/injected fault: host write to port/);
    // Still serving new flows afterwards.
    const echo = await tcpServer((received) => `again: ${received.toString()}`);
    closers.push(() => echo.server.close());
    expect((await ns.exec('python3', ['-c', GUEST, 'tcp', '10.0.2.2', String(echo.port)], 20_000)).trim()).toBe('again: hello over a wide network');
  });
});
