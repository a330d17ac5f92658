/**
 * End to end, the rules for reaching the host's loopback through 10.0.2.2, against tslirp and the
 * real slirp4netns (the same expectations for both): a namespace made by this test, the
 * implementation attached with --configure, servers on host 127.0.0.1 (this process, random ports),
 * guest clients in python3.
 *
 * - --disable-host-loopback: a TCP connect to 10.0.2.2 fails at once with "Network is unreachable"
 *   (ICMP net unreachable, libslirp's answer; slirp4netns's own test greps for that text), a UDP
 *   datagram never arrives, and ping 10.0.2.2 is still answered;
 * - --outbound-addr=127.0.0.2: connections and datagrams to the host's loopback come from that
 *   address too (slirp4netns binds every outbound socket). 127.0.0.2 stands for an outbound address
 *   here: every 127/8 address is local on Linux, so nothing leaves loopback.
 *
 * Traffic stays on loopback and in the test's namespace. Every process is ended by PID.
 */
import { createSocket } from 'node:dgram';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createNamespace, namespacePrerequisite, OutputLog, ProcessTracker, requireOrSkip, waitFor, type TestNamespace } from '../support/netns.js';
import { type Implementation, SLIRP4NETNS } from '../support/published-guest.js';
import { builtCliPrerequisite, startTslirp, stopAllTslirp } from '../support/tslirp-process.js';

/** `tcp|udp HOST PORT`: prints "connected", "answered", "timeout" or "error ERRNO strerror". */
const GUEST_CLIENT = String.raw`
import errno, os, socket, sys
proto, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
try:
    if proto == 'tcp':
        s = socket.create_connection((host, port), timeout=5)
        s.sendall(b'hello')
        print('connected')
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(2)
        s.connect((host, port))
        s.send(b'hello')
        s.recv(100)
        print('answered')
except socket.timeout:
    print('timeout')
except OSError as e:
    print('error', errno.errorcode.get(e.errno, str(e.errno)), os.strerror(e.errno) if e.errno else '')
`;

const tracker = new ProcessTracker();
const closers: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const close of closers.splice(0)) await close();
  await stopAllTslirp();
  await tracker.killAll();
});

function prerequisites(impl: Implementation): string | undefined {
  return (
    namespacePrerequisite({ root: true }) ??
    (impl === 'tslirp' ? builtCliPrerequisite() : existsSync(SLIRP4NETNS) ? undefined : `needs ${SLIRP4NETNS} (apt-get install slirp4netns)`)
  );
}

/** A namespace with impl attached with --configure plus extra; resolves once the guest has its address. */
async function attached(impl: Implementation, extra: readonly string[]): Promise<TestNamespace> {
  const ns = await createNamespace(tracker);
  const args = [...extra, '--configure', '--mtu', '1500', String(ns.pid), 'tap0'];
  if (impl === 'tslirp') {
    expect(await startTslirp(['-r', '3', ...args]).ready).toBe('1');
    return ns;
  }
  const child = tracker.spawn(SLIRP4NETNS, args);
  const log = new OutputLog(child);
  const deadline = Date.now() + 10_000;
  while (!(await ns.exec('ip', ['-4', 'addr', 'show', 'tap0']).catch(() => '')).includes('10.0.2.100')) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`slirp4netns did not configure tap0: ${log.text}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return ns;
}

/** TCP and UDP servers on 127.0.0.1, one port for both; each records its peers' addresses. */
async function servers(): Promise<{ port: number; tcpPeers: string[]; udpPeers: string[] }> {
  for (let attempt = 0; ; attempt++) {
    const tcpPeers: string[] = [];
    const udpPeers: string[] = [];
    const tcp: Server = createServer((socket) => {
      tcpPeers.push(socket.remoteAddress ?? '?');
      socket.on('error', () => undefined);
      socket.resume();
    });
    await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
    const port = (tcp.address() as { port: number }).port;
    closers.push(() => new Promise<void>((resolve) => tcp.close(() => resolve())));
    const udp = createSocket('udp4');
    udp.on('message', (message, peer) => {
      udpPeers.push(peer.address);
      udp.send(message, peer.port, peer.address);
    });
    const bound = await new Promise<boolean>((resolve) => {
      udp.once('error', () => resolve(false));
      udp.bind(port, '127.0.0.1', () => resolve(true));
    });
    if (bound) {
      closers.push(() => new Promise<void>((resolve) => udp.close(() => resolve())));
      return { port, tcpPeers, udpPeers };
    }
    udp.close();
    if (attempt === 10) throw new Error('no port free for both TCP and UDP');
  }
}

const guest = async (ns: TestNamespace, proto: 'tcp' | 'udp', port: number): Promise<string> =>
  (await ns.exec('python3', ['-c', GUEST_CLIENT, proto, '10.0.2.2', String(port)], 20_000)).trim();

describe.each(['tslirp', 'slirp4netns'] as const)('host loopback through 10.0.2.2 (%s)', (impl) => {
  it('--disable-host-loopback: TCP gets "Network is unreachable", UDP never arrives, ping is still answered', { timeout: 60_000 }, async (ctx) => {
    requireOrSkip(ctx, prerequisites(impl));
    const host = await servers();
    const ns = await attached(impl, ['--disable-host-loopback']);
    expect(await guest(ns, 'tcp', host.port)).toBe('error ENETUNREACH Network is unreachable');
    // ICMP net unreachable is a soft error for UDP on Linux: the client just hears nothing.
    expect(await guest(ns, 'udp', host.port)).toBe('timeout');
    expect(host.tcpPeers).toEqual([]);
    expect(host.udpPeers).toEqual([]);
    expect(await ns.exec('ping', ['-c', '1', '-W', '2', '10.0.2.2'], 10_000)).toMatch(/1 packets transmitted, 1 received/);
  });

  it('--outbound-addr=127.0.0.2: TCP and UDP to the host loopback come from that address', { timeout: 60_000 }, async (ctx) => {
    requireOrSkip(ctx, prerequisites(impl));
    const host = await servers();
    const ns = await attached(impl, ['--outbound-addr=127.0.0.2']);
    expect(await guest(ns, 'tcp', host.port)).toBe('connected');
    expect(await guest(ns, 'udp', host.port)).toBe('answered');
    await waitFor('the TCP server to see the connection', () => host.tcpPeers.length > 0);
    expect(host.tcpPeers).toEqual(['127.0.0.2']);
    expect(host.udpPeers).toEqual(['127.0.0.2']);
  });

  it('without either: the same servers see 127.0.0.1 (the control)', { timeout: 60_000 }, async (ctx) => {
    requireOrSkip(ctx, prerequisites(impl));
    const host = await servers();
    const ns = await attached(impl, []);
    expect(await guest(ns, 'tcp', host.port)).toBe('connected');
    expect(await guest(ns, 'udp', host.port)).toBe('answered');
    await waitFor('the TCP server to see the connection', () => host.tcpPeers.length > 0);
    expect(host.tcpPeers).toEqual(['127.0.0.1']);
    expect(host.udpPeers).toEqual(['127.0.0.1']);
  });
});
