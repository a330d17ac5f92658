/**
 * The slirp4netns-compatible process as clients drive it (CLIENTS.md): podman's and RootlessKit's
 * exact arguments, the ready fd ("1" only once the API socket listens), the exit fd, SIGTERM/SIGINT
 * (listeners closed, API socket removed, TAP gone), SIGKILL leftovers, and bad options refused before
 * any namespace is touched. Needs no transport engine: ping to the gateway and the API suffice.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { apiRequest } from '../support/api-client.js';
import { createNamespace, exitOf, namespacePrerequisite, ProcessTracker, requireOrSkip, stopProcess, type TestNamespace } from '../support/netns.js';
import { builtCliPrerequisite, startTslirp, stopAllTslirp } from '../support/tslirp-process.js';

const tracker = new ProcessTracker();
const dirs: string[] = [];
afterEach(async () => {
  await stopAllTslirp();
  await tracker.killAll();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tslirp-cli-'));
  dirs.push(dir);
  return dir;
}

async function freePort(host = '127.0.0.1'): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function pingGateway(ns: TestNamespace): Promise<void> {
  expect(await ns.exec('ping', ['-c', '2', '-i', '0.2', '-W', '2', '10.0.2.2'])).toMatch(/2 packets transmitted, 2 received/);
}

async function tapExists(ns: TestNamespace): Promise<boolean> {
  return ns.exec('ip', ['link', 'show', 'tap0']).then(
    () => true,
    () => false,
  );
}

function prerequisites(ctx: { skip: (note?: string) => void }): void {
  requireOrSkip(ctx, namespacePrerequisite({ root: true }) ?? builtCliPrerequisite());
}

describe('podman 4.3.1 invocation', () => {
  it('starts with its exact arguments, writes "1" once the API answers, exits 0 on exit-fd hang-up', async (ctx) => {
    prerequisites(ctx);
    const ns = await createNamespace(tracker);
    const dir = tempDir();
    const socket = join(dir, 'podman.net');
    const tslirp = startTslirp(
      ['--disable-host-loopback', '--mtu=65520', '--enable-sandbox', '--enable-seccomp', '--enable-ipv6', '-c', '-e', '4', '-r', '3',
        '--api-socket', socket, '--netns-type=path', `/proc/${ns.pid}/ns/net`, 'tap0'],
      { withExitFd: true },
    );
    const ready = await Promise.race([tslirp.ready, exitOf(tslirp.child).then((c) => `exited ${c}: ${tslirp.log.text}`)]);
    expect(ready).toBe('1');
    // Ready means the API socket already listens: no retry needed.
    expect((await apiRequest(socket, '{"execute":"list_hostfwd"}\n')).text).toBe('{"entries":[]}');
    expect(statSync(socket).mode & 0o777).toBe(0o600);
    const port = await freePort();
    expect((await apiRequest(socket, `{"execute":"add_hostfwd","arguments":{"proto":"tcp","host_addr":"127.0.0.1","host_port":${port},"guest_addr":"","guest_port":80}}\n`)).text).toBe(
      '{"return":{"id":1}}',
    );
    expect(await canConnect('127.0.0.1', port)).toBe(true);
    await pingGateway(ns);
    expect(tslirp.log.text).toMatch(/starting slirp, MTU=65520/);
    expect(tslirp.log.text).not.toMatch(/IPv6 is not implemented/); // --enable-ipv6 is served now (issue 15)
    expect(tslirp.log.text).toMatch(/sandbox: .*private mount namespace/);
    expect(tslirp.log.text).toMatch(/seccomp: deny-list filter installed/);
    expect(tslirp.log.text).not.toMatch(/accessible as 10\.0\.2\.2/); // --disable-host-loopback
    // The sandbox holds on every thread: no_new_privs, the seccomp filter, only CAP_NET_BIND_SERVICE
    // (the launcher dropped the rest before Node started), a root holding only /etc and /run.
    const threads = readdirSync(`/proc/${tslirp.child.pid}/task`).map((tid) => readFileSync(`/proc/${tslirp.child.pid}/task/${tid}/status`, 'utf8'));
    const field = (status: string, name: string): string => new RegExp(`^${name}:\\s*(\\S+)`, 'm').exec(status)?.[1] ?? '';
    expect(threads.every((t) => field(t, 'NoNewPrivs') === '1')).toBe(true);
    expect(threads.every((t) => field(t, 'Seccomp') === '2')).toBe(true);
    expect(threads.map((t) => field(t, 'CapEff')).filter((caps) => caps !== '0000000000000400')).toEqual([]);
    expect(readdirSync(`/proc/${tslirp.child.pid}/root`).sort()).toEqual(['etc', 'run']);

    tslirp.exitFd?.destroy(); // conmon goes away
    expect(await exitOf(tslirp.child)).toBe(0);
    expect(existsSync(socket)).toBe(false);
    expect(await canConnect('127.0.0.1', port)).toBe(false);
    expect(await tapExists(ns)).toBe(false);
  });
});

describe('RootlessKit 1.1.0 invocation', () => {
  it('attaches to its existing, configured tap0, replaces a stale API socket, survives SIGKILL leftovers', async (ctx) => {
    prerequisites(ctx);
    const ns = await createNamespace(tracker);
    await ns.exec('ip', ['tuntap', 'add', 'name', 'tap0', 'mode', 'tap']);
    await ns.exec('ip', ['link', 'set', 'tap0', 'mtu', '65520', 'up']);
    await ns.exec('ip', ['addr', 'add', '10.0.2.100/24', 'dev', 'tap0']);
    await ns.exec('ip', ['route', 'add', 'default', 'via', '10.0.2.2', 'dev', 'tap0']);
    const dir = tempDir();
    const socket = join(dir, '.s4nn.sock');

    for (let round = 0; round < 2; round++) {
      const tslirp = startTslirp(['--mtu', '65520', '-r', '3', '--disable-host-loopback', '--api-socket', socket, String(ns.pid), 'tap0']);
      expect(await tslirp.ready, tslirp.log.text).toBe('1');
      const port = await freePort();
      expect((await apiRequest(socket, `{"execute":"add_hostfwd","arguments":{"proto":"tcp","host_addr":"127.0.0.1","host_port":${port},"guest_addr":"10.0.2.100","guest_port":8080}}\n`)).text).toBe(
        '{"return":{"id":1}}',
      );
      expect((await apiRequest(socket, '{"execute":"remove_hostfwd","arguments":{"id":1}}\n')).text).toBe('{"return":{}}');
      await pingGateway(ns);
      // The addresses RootlessKit gave tap0 are left alone.
      expect(await ns.exec('ip', ['-4', 'addr', 'show', 'tap0'])).toContain('10.0.2.100/24');
      // RootlessKit stops us with SIGKILL: the socket file stays behind for the next start.
      expect(await stopProcess(tslirp.child, 1000, 'SIGKILL')).toBe('SIGKILL');
      expect(existsSync(socket)).toBe(true);
    }
  });
});

describe('signals', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`${signal}: listeners closed, API socket removed, TAP closed, exit 0`, async (ctx) => {
      prerequisites(ctx);
      const ns = await createNamespace(tracker);
      const socket = join(tempDir(), 'api.sock');
      const tslirp = startTslirp(['-c', '-r', '3', '-a', socket, String(ns.pid)]);
      expect(await tslirp.ready, tslirp.log.text).toBe('1');
      const port = await freePort('127.0.0.2');
      expect((await apiRequest(socket, `{"execute":"add_hostfwd","arguments":{"proto":"udp","host_addr":"127.0.0.2","host_port":${port},"guest_port":53}}`)).text).toBe('{"return":{"id":1}}');
      expect((await apiRequest(socket, `{"execute":"add_hostfwd","arguments":{"proto":"tcp","host_addr":"127.0.0.2","host_port":${port},"guest_port":80}}`)).text).toBe('{"return":{"id":2}}');
      expect(await canConnect('127.0.0.2', port)).toBe(true);
      expect(await canConnect('127.0.0.1', port)).toBe(false); // exactly the address asked for
      expect(await stopProcess(tslirp.child, 3000, signal)).toBe(0);
      expect(existsSync(socket)).toBe(false);
      expect(await canConnect('127.0.0.2', port)).toBe(false);
      expect(await tapExists(ns)).toBe(false);
    });
  }
});

describe('bad options', () => {
  const cases: [string, (pid: number) => string[], RegExp][] = [
    ['MTU 0', (pid) => ['-c', '--mtu=0', String(pid)], /^tslirp: MTU must be an integer from 68 to 65521, got "0"\n$/],
    ['CIDR with host bits', (pid) => ['-c', '--cidr=10.0.2.100/24', String(pid)], /^tslirp: CIDR needs to be a network address/],
    ['MAC without -c', (pid) => ['--macaddress=52:54:00:12:34:56', String(pid)], /^tslirp: --macaddress cannot be specified/],
    ['unknown option', (pid) => ['-c', '--frobnicate', String(pid)], /^tslirp: unrecognized option '--frobnicate'/],
    ['ready fd not passed (one of Node\'s own)', (pid) => ['-c', '-r', '9', String(pid)], /^tslirp: ready-fd 9 is not an open file descriptor passed to tslirp\n$/],
    ['missing userns path', (pid) => ['-c', '--userns-path=/nonexistent/userns', String(pid)], /^tslirp: userns path doesn't exist/],
  ];
  for (const [name, args, message] of cases) {
    it(`${name}: one line, exit 1, the namespace untouched`, async (ctx) => {
      prerequisites(ctx);
      const ns = await createNamespace(tracker);
      const tslirp = startTslirp(args(ns.pid));
      expect(await exitOf(tslirp.child)).toBe(1);
      expect(tslirp.log.text).toMatch(message);
      expect(tslirp.log.text.trim().split('\n')).toHaveLength(1);
      expect(await tapExists(ns)).toBe(false);
    });
  }

  it('an API socket path that cannot be bound fails the start, and the ready fd gets no "1"', async (ctx) => {
    prerequisites(ctx);
    const ns = await createNamespace(tracker);
    const tslirp = startTslirp(['-c', '-r', '3', '-a', '/nonexistent-dir/api.sock', String(ns.pid)]);
    expect(await exitOf(tslirp.child)).toBe(1);
    expect(await tslirp.ready).toBe('');
    expect(tslirp.log.text).toMatch(/cannot listen on API socket/);
  });
});
