/**
 * End to end with a real client: rootless podman 4.3 (Debian: `podman runc uidmap`) running containers
 * with tslirp as its slirp4netns binary, following ../shared/CLIENTS.md's recipe: a non-root user with
 * subuid/subgid ranges, containers.conf with `network_cmd_path` = a tslirp executable, runtime runc,
 * cgroupfs; an image built here from the host's busybox (+ the libraries it links, so a dynamic
 * busybox works as well as busybox-static) and `podman import`; no registry.
 *
 * Scenarios: the container's network is up (tap0 10.0.2.100, ping 10.0.2.2) and tslirp is gone after
 * it; `-p HOSTPORT:80` to busybox httpd reached from the host loopback (seen inside as 10.0.2.2) and
 * from a client in a test namespace joined by a veth (198.18.0.2 → 198.18.0.1, seen as 198.18.0.2);
 * a host loopback server reached from inside via 10.0.2.2 with allow_host_loopback=true.
 *
 * Every scenario also runs with the real slirp4netns in tslirp's place (CONTAINERS_CONF swaps the
 * configuration), as the reference that proves the test itself right.
 *
 * Network rule: traffic only to 127.0.0.1, the veth pair and namespace this test creates, and the
 * container's namespace. Cleanup by PID: tslirp processes (their PIDs are logged by the wrapper),
 * podman's pause process (pause.pid); containers are removed with podman itself.
 */
import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  createNamespace,
  ensureTestUser,
  IS_ROOT,
  namespacePrerequisite,
  openTunToAll,
  ProcessTracker,
  REPO_ROOT,
  requireOrSkip,
  type RunAs,
  type TestNamespace,
} from '../support/netns.js';
import { ipv6Checked, SLIRP4NETNS_IPV6 } from '../support/ipv6-guest.js';

const execFileAsync = promisify(execFile);
const IMAGE = 'localhost/bb:latest';
const VETH_HOST = 'tslpm-veth0';
const VETH_PEER = 'tslpm-veth1';
const SLIRP4NETNS = '/usr/bin/slirp4netns';

const tracker = new ProcessTracker();
let missing: string | undefined;
let user: RunAs;
let dir: string;
let runDir: string;
let restoreTun: (() => void) | undefined;
const servers: Server[] = [];

function command(name: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore', env: { PATH: '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin' } });
    return true;
  } catch {
    return false;
  }
}

function prerequisite(): string | undefined {
  if (!IS_ROOT) return 'needs root (to make the podman test user and open /dev/net/tun to it)';
  const ns = namespacePrerequisite({ root: true });
  if (ns) return ns;
  for (const tool of ['podman', 'runc', 'newuidmap', 'newgidmap', 'busybox', 'slirp4netns']) {
    if (!command(tool)) return `needs ${tool} (apt-get install podman runc uidmap busybox slirp4netns)`;
  }
  if (!existsSync(join(REPO_ROOT, 'dist/cli/main.js'))) return 'needs dist/ (npm run build): podman runs bin/tslirp.js';
  return undefined;
}

/** Adds subordinate id ranges for the user when it has none (podman needs 65536 of each). */
function ensureSubIds(name: string): void {
  for (const file of ['/etc/subuid', '/etc/subgid']) {
    const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
    if (text.split('\n').some((line) => line.startsWith(`${name}:`))) continue;
    writeFileSync(file, `${text}${text === '' || text.endsWith('\n') ? '' : '\n'}${name}:200000:65536\n`);
  }
}

/** Which binary podman runs as its slirp4netns: ours (the recipe), or the real one as the reference. */
type NetworkBinary = 'tslirp' | 'slirp4netns';
let binary: NetworkBinary = 'tslirp';

function podmanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    PATH: '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin',
    HOME: join(dir, 'home'),
    XDG_RUNTIME_DIR: runDir,
    XDG_CONFIG_HOME: join(dir, 'home/.config'),
  };
  // The reference run swaps the whole configuration for one naming the real slirp4netns.
  if (binary === 'slirp4netns') env.CONTAINERS_CONF = join(dir, 'containers-reference.conf');
  return env;
}

/** Runs podman as the test user; resolves with stdout, rejects with the output and the network binary's log. */
async function podman(args: readonly string[], timeoutMs = 60_000, withStderr = false): Promise<string> {
  const argv = [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--clear-groups', '--', 'podman', ...args];
  try {
    const { stdout, stderr } = await execFileAsync('setpriv', argv, { cwd: dir, env: podmanEnv(), timeout: timeoutMs, encoding: 'utf8' });
    return withStderr ? stdout + stderr : stdout;
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(`podman ${args.join(' ')} failed: ${e.stderr || e.message}\n${e.stdout ?? ''}\n${binary} log:\n${tslirpLog()}`);
  }
}

function tslirpLog(): string {
  const path = join(dir, 'tslirp.log');
  return existsSync(path) ? readFileSync(path, 'utf8').slice(-4000) : '(none)';
}

/** PIDs of every tslirp podman started (the wrapper records its PID before exec). */
function tslirpPids(): number[] {
  const path = join(dir, 'tslirp.pids');
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8').split('\n').filter(Boolean).map(Number);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitGone(pids: readonly number[], timeoutMs = 10_000): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = pids.filter(alive);
    if (left.length === 0 || Date.now() > deadline) return left;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The rootfs: busybox, its libraries (none if static), applet links, a page for httpd. */
function buildImageTar(): string {
  const rootfs = join(dir, 'rootfs');
  const busybox = execFileSync('sh', ['-c', 'command -v busybox'], { encoding: 'utf8' }).trim();
  mkdirSync(join(rootfs, 'bin'), { recursive: true });
  copyFileSync(busybox, join(rootfs, 'bin/busybox'));
  chmodSync(join(rootfs, 'bin/busybox'), 0o755);
  let libraries: string[] = [];
  try {
    libraries = [...execFileSync('ldd', [busybox], { encoding: 'utf8' }).matchAll(/(\/\S+)/g)].map((m) => m[1]);
  } catch {
    // static: ldd says "not a dynamic executable" and fails
  }
  for (const library of libraries) {
    mkdirSync(join(rootfs, dirname(library)), { recursive: true });
    copyFileSync(library, join(rootfs, library));
  }
  for (const applet of ['sh', 'httpd', 'nc', 'wget', 'ping', 'ip', 'cat', 'echo', 'sleep', 'grep']) symlinkSync('busybox', join(rootfs, 'bin', applet));
  mkdirSync(join(rootfs, 'www'));
  writeFileSync(join(rootfs, 'www/index.html'), 'hello from the container\n');
  const tar = join(dir, 'bb.tar');
  execFileSync('tar', ['-C', rootfs, '-cf', tar, '.']);
  chmodSync(tar, 0o644);
  return tar;
}

beforeAll(async () => {
  missing = prerequisite();
  if (missing) return;
  user = ensureTestUser();
  ensureSubIds('tslirp-test');
  restoreTun = openTunToAll();
  dir = mkdtempSync(join(tmpdir(), 'tslirp-podman-'));
  chmodSync(dir, 0o755);
  mkdirSync(join(dir, 'home/.config/containers'), { recursive: true });
  // Under /run like a real /run/user/UID: slirp4netns's sandbox keeps /run (and so the API socket
  // podman puts in the runtime dir) but not /tmp.
  runDir = mkdtempSync('/run/tslirp-podman-');
  chmodSync(runDir, 0o700);
  // The executables podman runs (network_cmd_path takes one path): each records its PID, then execs.
  const wrapper = join(dir, 'tslirp');
  const reference = join(dir, 'slirp4netns-reference');
  for (const [path, target] of [
    [wrapper, `${process.execPath} ${join(REPO_ROOT, 'bin/tslirp.js')}`],
    [reference, SLIRP4NETNS],
  ]) {
    writeFileSync(path, `#!/bin/sh\necho $$ >> ${dir}/tslirp.pids\nexec ${target} "$@" 2>>${dir}/tslirp.log\n`, { mode: 0o755 });
  }
  const conf = (cmd: string): string => `[engine]\nnetwork_cmd_path = "${cmd}"\nruntime = "runc"\ncgroup_manager = "cgroupfs"\n`;
  writeFileSync(join(dir, 'home/.config/containers/containers.conf'), conf(wrapper));
  writeFileSync(join(dir, 'containers-reference.conf'), conf(reference), { mode: 0o644 });
  const tar = buildImageTar();
  for (const path of [join(dir, 'home'), join(dir, 'home/.config'), join(dir, 'home/.config/containers'), join(dir, 'home/.config/containers/containers.conf'), runDir, tar]) {
    chownSync(path, user.uid, user.gid);
  }
  writeFileSync(join(dir, 'tslirp.pids'), '', { mode: 0o666 });
  writeFileSync(join(dir, 'tslirp.log'), '', { mode: 0o666 });
  chmodSync(join(dir, 'tslirp.pids'), 0o666);
  chmodSync(join(dir, 'tslirp.log'), 0o666);
  await podman(['import', tar, IMAGE], 120_000);
}, 180_000);

afterAll(async () => {
  try {
    if (dir !== undefined) {
      binary = 'tslirp';
      await podman(['rm', '-af', '-t', '1']).catch(() => undefined);
      for (const pid of tslirpPids().filter(alive)) process.kill(pid, 'SIGKILL');
      const pausePid = join(runDir, 'libpod/tmp/pause.pid');
      if (existsSync(pausePid)) {
        const pid = Number(readFileSync(pausePid, 'utf8'));
        if (pid > 0 && alive(pid)) process.kill(pid, 'SIGKILL');
      }
    }
  } finally {
    deleteVeth();
    await tracker.killAll();
    for (const server of servers) server.close();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    if (runDir !== undefined) rmSync(runDir, { recursive: true, force: true });
    restoreTun?.();
  }
}, 60_000);

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function httpGet(url: string, timeoutMs = 5000): Promise<string> {
  const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  return response.text();
}

/** Removes the host end of the test veth (its peer goes with it), if present. */
function deleteVeth(): void {
  try {
    execFileSync('ip', ['link', 'del', VETH_HOST], { stdio: 'ignore' });
  } catch {
    // not there
  }
}

/** A client namespace joined to the host by a veth: 198.18.0.2 (inside) ↔ 198.18.0.1 (host). */
async function vethClient(): Promise<TestNamespace> {
  const ns = await createNamespace(tracker);
  execFileSync('ip', ['link', 'add', VETH_HOST, 'type', 'veth', 'peer', 'name', VETH_PEER]);
  execFileSync('ip', ['addr', 'add', '198.18.0.1/30', 'dev', VETH_HOST]);
  execFileSync('ip', ['link', 'set', VETH_HOST, 'up']);
  execFileSync('ip', ['link', 'set', VETH_PEER, 'netns', String(ns.pid)]);
  await ns.exec('ip', ['addr', 'add', '198.18.0.2/30', 'dev', VETH_PEER]);
  await ns.exec('ip', ['link', 'set', VETH_PEER, 'up']);
  await ns.exec('ip', ['link', 'set', 'lo', 'up']);
  return ns;
}

describe.each(['tslirp', 'slirp4netns'] as const)('podman with %s as its slirp4netns', (network) => {
  beforeEach(() => {
    binary = network;
  });

  it('runs a container on it: tap0 10.0.2.100, ping 10.0.2.2; the network process exits with the container', async (ctx) => {
    requireOrSkip(ctx, missing);
    const before = tslirpPids().length;
    const out = await podman(['run', '--rm', '--cap-add', 'NET_RAW', '--network', 'slirp4netns', IMAGE, 'sh', '-c', 'ip addr show tap0 && ping -c1 -W3 10.0.2.2']);
    expect(out).toMatch(/inet 10\.0\.2\.100\/24/);
    expect(out).toMatch(/1 packets received/);
    const started = tslirpPids().slice(before);
    expect(started.length, tslirpLog()).toBeGreaterThanOrEqual(1);
    // podman ran tslirp with its usual flags (CLIENTS.md), and tslirp answered ready and exited.
    if (network === 'tslirp') expect(tslirpLog()).toMatch(/attached to tap0/);
    expect(await waitGone(started)).toEqual([]);
  });

  it('publishes -p HOSTPORT:80 to httpd: host loopback client seen as 10.0.2.2, veth client as 198.18.0.2', async (ctx) => {
    requireOrSkip(ctx, missing);
    const hostPort = await freePort();
    const before = tslirpPids().length;
    const id = (
      await podman(['run', '--rm', '-d', '--network', 'slirp4netns:port_handler=slirp4netns', '-p', `${hostPort}:80`, IMAGE, 'httpd', '-f', '-v', '-p', '80', '-h', '/www'])
    ).trim();
    try {
      let body = '';
      const deadline = Date.now() + 15_000;
      while (body === '') {
        body = await httpGet(`http://127.0.0.1:${hostPort}/`).catch(() => '');
        if (body === '' && Date.now() > deadline) throw new Error(`no answer on 127.0.0.1:${hostPort}\n${tslirpLog()}`);
        if (body === '') await new Promise((resolve) => setTimeout(resolve, 200));
      }
      expect(body).toBe('hello from the container\n');

      const client = await vethClient();
      const remote = await client.exec('busybox', ['wget', '-q', '-O', '-', `http://198.18.0.1:${hostPort}/`]);
      expect(remote).toBe('hello from the container\n');

      // httpd -v logs each request's peer; the log reaches podman a moment after the answer.
      let logs = '';
      for (const deadline = Date.now() + 10_000; Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 200))) {
        logs = await podman(['logs', id], 60_000, true); // the container's stderr comes out on podman's
        if (/198\.18\.0\.2/.test(logs)) break;
      }
      expect(logs).toMatch(/10\.0\.2\.2/); // the loopback client, as the gateway
      expect(logs).toMatch(/198\.18\.0\.2/); // the real client address
    } finally {
      await podman(['stop', '-t', '1', id]).catch(() => undefined);
      deleteVeth();
      await tracker.killAll();
    }
    expect(await waitGone(tslirpPids().slice(before))).toEqual([]);
  });

  it('reaches a host loopback server via 10.0.2.2 with allow_host_loopback=true', async (ctx) => {
    requireOrSkip(ctx, missing);
    const server = createServer((socket) => socket.end('HTTP/1.0 200 OK\r\nContent-Length: 15\r\n\r\nhello from host'));
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const out = await podman(['run', '--rm', '--network', 'slirp4netns:allow_host_loopback=true', IMAGE, 'wget', '-q', '-O', '-', `http://10.0.2.2:${port}/`]);
    expect(out).toBe('hello from host');
  });
});

/**
 * IPv6 (issue 15): podman passes --enable-ipv6 with enable_ipv6=true; the container configures
 * itself from the router advertisement. Against slirp4netns, and against tslirp once the check's
 * area is in TSLIRP_IPV6: 'podman' for the container's own IPv6, 'hostfwd' for -p [::1] (a
 * published port on an IPv6 host address, to the container's IPv4 address).
 */
const ipv6Networks = (['slirp4netns', 'tslirp'] as const).filter((impl) => ipv6Checked(impl, 'podman') || ipv6Checked(impl, 'hostfwd'));
describe.each(ipv6Networks)('podman with %s as its slirp4netns: IPv6 (enable_ipv6=true)', (network) => {
  beforeEach(() => {
    binary = network;
  });

  // Waits (up to 10 s) until tap0 has a fd00:: address that is no longer tentative.
  const waitForSlaac =
    'i=0; while [ $i -lt 100 ]; do ip addr show tap0 | grep "inet6 fd00" | grep -qv tentative && break; sleep 0.1; i=$((i+1)); done; ';

  if (ipv6Checked(network, 'podman')) it('the container gets a fd00::/64 address by SLAAC and reaches a host [::1] server through [fd00::2]', async (ctx) => {
    requireOrSkip(ctx, missing);
    const server = createServer((socket) => socket.end('HTTP/1.0 200 OK\r\nContent-Length: 23\r\n\r\nhello from host over v6'));
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '::1', resolve));
    const port = (server.address() as AddressInfo).port;
    const out = await podman([
      'run',
      '--rm',
      '--network',
      'slirp4netns:enable_ipv6=true,allow_host_loopback=true',
      IMAGE,
      'sh',
      '-c',
      `${waitForSlaac}ip addr show tap0; ip -6 route; wget -q -O - http://[${SLIRP4NETNS_IPV6.gateway}]:${port}/`,
    ]);
    console.log(`podman IPv6 with ${network}:\n${out}`);
    expect(out).toMatch(/inet6 fd00::[0-9a-f:]+\/64 scope global/);
    expect(out).toMatch(/default via fe80::2 dev tap0/);
    expect(out).toMatch(/hello from host over v6$/);
  });

  if (ipv6Checked(network, 'hostfwd')) it(`-p [::1]:HOSTPORT:80 with port_handler=slirp4netns: ${network === 'slirp4netns' ? 'refused, "bad arguments.host_addr"' : 'served over IPv6'}`, async (ctx) => {
    requireOrSkip(ctx, missing);
    const hostPort = await freePort();
    const run = podman([
      'run',
      '--rm',
      '-d',
      '--network',
      'slirp4netns:port_handler=slirp4netns,enable_ipv6=true',
      '-p',
      `[::1]:${hostPort}:80`,
      IMAGE,
      'httpd',
      '-f',
      '-v',
      '-p',
      '80',
      '-h',
      '/www',
    ]);
    if (network === 'slirp4netns') {
      // PINNED: slirp4netns's add_hostfwd takes IPv4 only; podman gives up starting the container
      // with its answer (slirp4netns issue #253).
      const refusal = await run.then(
        (id) => `started ${id}`,
        (error: Error) => error.message,
      );
      console.log(`podman -p [::1] with slirp4netns: ${refusal.split('\n')[0]}`);
      expect(refusal).toMatch(/bad arguments\.host_addr/);
      return;
    }
    const id = (await run).trim();
    try {
      let body = '';
      for (const deadline = Date.now() + 15_000; body === '' && Date.now() < deadline; ) {
        body = await httpGet(`http://[::1]:${hostPort}/`).catch(() => '');
        if (body === '') await new Promise((resolve) => setTimeout(resolve, 200));
      }
      expect(body, tslirpLog()).toBe('hello from the container\n');
    } finally {
      await podman(['stop', '-t', '1', id]).catch(() => undefined);
    }
  });
});
