/**
 * A guest namespace with a slirp implementation attached (`-c --mtu 65520 --api-socket`), for the
 * published-port e2e tests: either the real slirp4netns (the reference: it proves the test itself
 * right) or tslirp. Also a client namespace joined to ours by a veth the test creates
 * (198.18.0.1/30 here, 198.18.0.2 there), a free host port to publish, and the per-test cleanup
 * these tests share. Traffic stays on loopback and on these veths.
 */
import { type ChildProcess, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { apiRequest } from './api-client.js';
import { withResolvConf } from './dns-stub.js';
import { createNamespace, namespacePrerequisite, OutputLog, ProcessTracker, waitFor, type TestNamespace } from './netns.js';
import { builtCliPrerequisite, startTslirp, stopAllTslirp } from './tslirp-process.js';

export type Implementation = 'slirp4netns' | 'tslirp';
export const SLIRP4NETNS = '/usr/bin/slirp4netns';

export type Cleanup = () => void | Promise<void>;

/**
 * A test file's process tracker and cleanup list; release() (for afterEach) stops every tslirp
 * started by startTslirp, ends the tracker's processes by PID (SIGKILL after graceMs), then runs the
 * cleanups, newest first.
 */
export function testResources(graceMs?: number): { tracker: ProcessTracker; cleanups: Cleanup[]; release(): Promise<void> } {
  const tracker = new ProcessTracker();
  const cleanups: Cleanup[] = [];
  return {
    tracker,
    cleanups,
    release: async () => {
      await stopAllTslirp();
      await tracker.killAll(graceMs);
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    },
  };
}

/** Why this machine cannot run a published-port test against impl, or undefined when it can. */
export function implementationPrerequisite(impl: Implementation): string | undefined {
  return namespacePrerequisite({ root: true }) ?? (impl === 'slirp4netns' ? (existsSync(SLIRP4NETNS) ? undefined : 'needs slirp4netns') : builtCliPrerequisite());
}

/** A TCP port free on host just now (bound, then released), to publish. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * Resolves once a slirp4netns we started answers on its API socket (its stdout is block-buffered
 * into a pipe, so the socket itself is asked); rejects when it exits first. One probe at a time, and
 * none left behind: slirp4netns's listen backlog is tiny, and a connection still queued there makes
 * the caller's next connect fail with EAGAIN.
 */
export async function waitForSlirp4netnsApi(child: ChildProcess, log: OutputLog, apiSocket: string, stepMs = 50): Promise<void> {
  let serving = false;
  let probing = false;
  await waitFor(
    'slirp4netns API',
    () => {
      if (child.exitCode !== null) throw new Error(`slirp4netns exited: ${log.text}`);
      if (serving) return true;
      if (!probing && existsSync(apiSocket)) {
        probing = true;
        apiRequest(apiSocket, '{"execute":"list_hostfwd"}')
          .then((a) => (serving ||= a.text.startsWith('{')), () => undefined)
          .finally(() => (probing = false));
      }
      return false;
    },
    10_000,
    stepMs,
  );
}

export interface PublishedGuest {
  readonly ns: TestNamespace;
  readonly apiSocket: string;
  readonly dir: string;
  /** add_hostfwd (guest_addr 10.0.2.100 unless given: '' for "the default", an IPv6 address); returns the raw answer. */
  publish(proto: 'tcp' | 'udp', hostAddr: string, hostPort: number, guestPort: number, guestAddr?: string): Promise<string>;
  /** Starts a long-running command inside the guest namespace (ended by the tracker). */
  spawnInGuest(command: string, args: readonly string[]): void;
  readonly log: OutputLog;
  /** Resolves once a server in the guest listens on port (TCP) or is bound to it (UDP). */
  waitListening(proto: 'tcp' | 'udp', port: number): Promise<void>;
}

/** How startPublishedGuest runs the implementation; every field optional (defaults: MTU 65520, IPv4 only). */
export interface GuestOptions {
  readonly mtu?: number;
  /** Adds -6 (--enable-ipv6). */
  readonly ipv6?: boolean;
  /** Further options before PID and tap0 (e.g. --disable-host-loopback, --enable-offloads). */
  readonly extraArgs?: readonly string[];
  /** Runs the implementation with this file as its /etc/resolv.conf (private mount namespace, dns-stub.ts). */
  readonly resolvConf?: string;
}

export async function startPublishedGuest(impl: Implementation, tracker: ProcessTracker, cleanups: Cleanup[], options: GuestOptions = {}): Promise<PublishedGuest> {
  const ns = await createNamespace(tracker);
  const dir = mkdtempSync(join(tmpdir(), `tslirp-pub-${impl}-`));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const apiSocket = join(dir, 'api.sock');
  const args = [
    '-c',
    '--mtu',
    String(options.mtu ?? 65520),
    ...(options.ipv6 ? ['-6'] : []),
    ...(options.extraArgs ?? []),
    '--api-socket',
    apiSocket,
    String(ns.pid),
    'tap0',
  ];
  const prefix = options.resolvConf === undefined ? [] : withResolvConf(options.resolvConf);
  let log: OutputLog;
  if (impl === 'slirp4netns') {
    const [command, ...argv] = [...prefix, SLIRP4NETNS, ...args];
    const child = tracker.spawn(command, argv);
    log = new OutputLog(child);
    await waitForSlirp4netnsApi(child, log, apiSocket);
  } else {
    const tslirp = startTslirp(['-r', '3', ...args], { prefix });
    log = tslirp.log;
    const ready = await tslirp.ready;
    if (ready !== '1') throw new Error(`tslirp did not become ready: ${log.text}`);
  }
  return {
    ns,
    apiSocket,
    dir,
    log,
    publish: async (proto, hostAddr, hostPort, guestPort, guestAddr = '10.0.2.100') =>
      (await apiRequest(apiSocket, JSON.stringify({ execute: 'add_hostfwd', arguments: { proto, host_addr: hostAddr, host_port: hostPort, guest_addr: guestAddr, guest_port: guestPort } }))).text,
    spawnInGuest: (command, args) => {
      tracker.spawn('nsenter', ['-t', String(ns.pid), '-n', command, ...args]);
    },
    waitListening: async (proto, port) => {
      const deadline = Date.now() + 10_000;
      for (;;) {
        const out = await ns.exec('ss', [proto === 'tcp' ? '-ltnH' : '-lunH', `sport = :${port}`]).catch(() => '');
        if (out.trim() !== '') return;
        if (Date.now() > deadline) throw new Error(`nothing listens on ${proto} port ${port} in the guest`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
  };
}

/**
 * The IPv6 addresses of the veth test host made by createVethClient({ ipv6: true }): a ULA /64
 * of our own (fd5e:7e57:1::/64), the host end ::1 and the client ::2.
 */
export const VETH_HOST_IPV6 = 'fd5e:7e57:1::1';
export const VETH_CLIENT_IPV6 = 'fd5e:7e57:1::2';

let vethCounter = 0;

/**
 * A client namespace with 198.18.0.2/30 on a veth whose host end has 198.18.0.1/30; with ipv6,
 * also VETH_CLIENT_IPV6/64 there and VETH_HOST_IPV6/64 here (no duplicate address detection, so
 * both are usable at once).
 */
export async function createVethClient(tracker: ProcessTracker, cleanups: Cleanup[], options: { ipv6?: boolean } = {}): Promise<TestNamespace> {
  const client = await createNamespace(tracker);
  // Unique among live processes and within this one (a random part once collided in CI: two veths
  // of one test file alive at once); interface names hold 15 bytes: tsh + pid (≤5) + - + counter.
  const suffix = `${process.pid.toString(36)}-${(vethCounter++).toString(36)}`;
  const hostEnd = `tsh${suffix}`;
  const clientEnd = `tsc${suffix}`;
  execFileSync('ip', ['link', 'add', hostEnd, 'type', 'veth', 'peer', 'name', clientEnd]);
  cleanups.push(() => {
    try {
      execFileSync('ip', ['link', 'del', hostEnd], { stdio: 'ignore' });
    } catch {
      // gone with the client namespace already
    }
  });
  execFileSync('ip', ['link', 'set', clientEnd, 'netns', String(client.pid)]);
  execFileSync('ip', ['addr', 'add', '198.18.0.1/30', 'dev', hostEnd]);
  if (options.ipv6) execFileSync('ip', ['-6', 'addr', 'add', `${VETH_HOST_IPV6}/64`, 'dev', hostEnd, 'nodad']);
  execFileSync('ip', ['link', 'set', hostEnd, 'up']);
  await client.exec('ip', ['link', 'set', 'lo', 'up']);
  await client.exec('ip', ['addr', 'add', '198.18.0.2/30', 'dev', clientEnd]);
  if (options.ipv6) await client.exec('ip', ['-6', 'addr', 'add', `${VETH_CLIENT_IPV6}/64`, 'dev', clientEnd, 'nodad']);
  await client.exec('ip', ['link', 'set', clientEnd, 'up']);
  const reachable = (address: string): boolean => {
    try {
      execFileSync('ping', ['-c', '1', '-W', '1', address], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  };
  await waitFor('the veth to come up', () => reachable('198.18.0.2') && (!options.ipv6 || reachable(VETH_CLIENT_IPV6)), 10_000, 100);
  return client;
}
