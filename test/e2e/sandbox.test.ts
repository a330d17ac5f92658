/**
 * `--enable-sandbox` end to end, as slirp4netns's own tests/sandbox.sh checks it and more: once the
 * ready fd says "1", the process holds only cap_net_bind_service (every thread), lives in the
 * target's user namespace when it is not root, in a mount namespace of its own whose root shows
 * /etc and /run and nothing else (no /home, /root, /var), and resolv.conf is still readable there,
 * also through symlinks that lead outside /etc and /run (slirp4netns 1.2.1's fix). The network still
 * works after the pivot, the API still answers (errors are logged: nothing is loaded late), the API
 * socket is removed on an orderly exit and left after SIGKILL (as without the sandbox), and none of
 * the sandbox's unmounts reaches the host's mounts (upstream's sandbox-no-unmount).
 *
 * The same checks run against the real slirp4netns (1.2.0) as the reference, except the resolv.conf
 * symlinks (its fix came in 1.2.1) and the API socket's removal (slirp4netns leaves it behind).
 *
 * Traffic: ping to the gateway and connections on 127.0.0.1 only; no DNS query is sent anywhere.
 * Every process is ended by PID.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { apiRequest } from '../support/api-client.js';
import {
  createNamespace,
  ensureTestUser,
  exitOf,
  IS_ROOT,
  namespacePrerequisite,
  openTunToAll,
  ProcessTracker,
  requireOrSkip,
  stopProcess,
  type RunAs,
  type TestNamespace,
} from '../support/netns.js';
import { guestDnsQuery, stubResolverOnPort53, writeResolvConf } from '../support/dns-stub.js';
import { builtCliPrerequisite, startTslirp, stopAllTslirp, TSLIRP_BIN, type TslirpProcess } from '../support/tslirp-process.js';

const SLIRP4NETNS = '/usr/bin/slirp4netns';
const CAP_NET_BIND_SERVICE_ONLY = '0000000000000400';
const IMPLEMENTATIONS = { tslirp: TSLIRP_BIN, slirp4netns: SLIRP4NETNS } as const;
type Implementation = keyof typeof IMPLEMENTATIONS;

const tracker = new ProcessTracker();
const dirs: string[] = [];
let user: RunAs | undefined;
let restoreTun: (() => void) | undefined;

beforeAll(() => {
  if (!IS_ROOT) return;
  user = ensureTestUser();
  restoreTun = openTunToAll();
});
afterEach(async () => {
  await stopAllTslirp();
  await tracker.killAll();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
afterAll(() => restoreTun?.());

function prerequisites(ctx: { skip: (note?: string) => void }): void {
  requireOrSkip(ctx, namespacePrerequisite({ root: true }) ?? builtCliPrerequisite() ?? (existsSync(SLIRP4NETNS) ? undefined : `needs ${SLIRP4NETNS}`));
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tslirp-sandbox-'));
  chmodSync(dir, 0o755);
  dirs.push(dir);
  return dir;
}

async function expectReady(net: TslirpProcess): Promise<number> {
  const ready = await Promise.race([net.ready, exitOf(net.child).then((code) => `exited ${code}`)]);
  expect(ready, net.log.text).toBe('1');
  return net.child.pid as number;
}

function statusField(status: string, name: string): string {
  return new RegExp(`^${name}:\\s*(\\S+)`, 'm').exec(status)?.[1] ?? '';
}

/** Every thread's /proc status (slirp4netns has one; tslirp's Node several). */
function threadStatuses(pid: number): string[] {
  return readdirSync(`/proc/${pid}/task`).map((tid) => readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8'));
}

/** What upstream's sandbox.sh checks, and what it means: capabilities, namespaces, the root's contents. */
function expectSandboxed(pid: number, userns: string, extraRootEntries: readonly string[] = []): void {
  for (const status of threadStatuses(pid)) {
    expect(statusField(status, 'CapEff')).toBe(CAP_NET_BIND_SERVICE_ONLY);
    expect(statusField(status, 'CapPrm')).toBe(CAP_NET_BIND_SERVICE_ONLY);
    expect(statusField(status, 'CapBnd')).toBe(CAP_NET_BIND_SERVICE_ONLY);
    expect(statusField(status, 'NoNewPrivs')).toBe('1');
  }
  expect(readlinkSync(`/proc/${pid}/ns/user`)).toBe(userns);
  expect(readlinkSync(`/proc/${pid}/ns/mnt`)).not.toBe(readlinkSync('/proc/self/ns/mnt'));
  expect(readdirSync(`/proc/${pid}/root`).sort()).toEqual(['etc', 'run', ...extraRootEntries].sort());
  for (const absent of ['home', 'root', 'var', 'usr', 'tmp', 'proc']) {
    if (!extraRootEntries.includes(absent)) expect(existsSync(`/proc/${pid}/root/${absent}`), absent).toBe(false);
  }
}

/** PIDs of the launcher's pivot helpers (comm "tslirp-sandbox") in pid's mount namespace. */
function sandboxHelpers(pid: number): number[] {
  const mnt = readlinkSync(`/proc/${pid}/ns/mnt`);
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((entry) => {
      try {
        return readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === 'tslirp-sandbox' && readlinkSync(`/proc/${entry}/ns/mnt`) === mnt;
      } catch {
        return false; // gone meanwhile
      }
    })
    .map(Number);
}

/**
 * Reads path as the sandboxed process resolves it: openat2(RESOLVE_IN_ROOT) from its root, so
 * absolute symlinks stay inside that root (a plain open of /proc/PID/root/... would follow them
 * into ours). python3's ctypes, since Node has no openat2.
 */
function readInRoot(pid: number, path: string): string {
  const script = `
import ctypes, os, sys
class OpenHow(ctypes.Structure):
    _fields_ = [('flags', ctypes.c_uint64), ('mode', ctypes.c_uint64), ('resolve', ctypes.c_uint64)]
libc = ctypes.CDLL(None, use_errno=True)
root = os.open('/proc/%s/root' % sys.argv[1], os.O_PATH | os.O_DIRECTORY)
how = OpenHow(os.O_RDONLY, 0, 0x10)  # RESOLVE_IN_ROOT
fd = libc.syscall(437, root, sys.argv[2].encode(), ctypes.byref(how), ctypes.c_size_t(ctypes.sizeof(how)))
if fd < 0:
    print('error', os.strerror(ctypes.get_errno()))
    sys.exit(0)
sys.stdout.write(os.read(fd, 65536).decode())
`;
  return execFileSync('python3', ['-c', script, String(pid), path.replace(/^\//, '')], { encoding: 'utf8' });
}

describe.each(Object.keys(IMPLEMENTATIONS) as Implementation[])('%s --enable-sandbox', (impl) => {
  it("as an unprivileged user (upstream's sandbox.sh): in the target's user namespace, cap_net_bind_service only, a root of /etc and /run", async (ctx) => {
    prerequisites(ctx);
    const ns = await createNamespace(tracker, user);
    const net = startTslirp(['--ready-fd=3', '--enable-sandbox', String(ns.pid), 'tap11'], { as: user, executable: IMPLEMENTATIONS[impl] });
    const pid = await expectReady(net);
    expectSandboxed(pid, readlinkSync(`/proc/${ns.pid}/ns/user`));
    expect(readInRoot(pid, '/etc/resolv.conf')).toBe(readFileSync('/etc/resolv.conf', 'utf8'));
    expect(await ns.exec('ip', ['-a', 'netconf'])).toMatch(/tap11/);
    expect(await ns.exec('ip', ['addr', 'show', 'tap11'])).not.toMatch(/inet /);
  });

  it('as root (podman runs it as root of its user namespace): the network and the API still work inside', async (ctx) => {
    prerequisites(ctx);
    const ns = await createNamespace(tracker);
    const socket = join(tempDir(), 'api.sock');
    const net = startTslirp(['-c', '-r', '3', '--enable-sandbox', '--api-socket', socket, String(ns.pid), 'tap0'], { executable: IMPLEMENTATIONS[impl] });
    const pid = await expectReady(net);
    expectSandboxed(pid, readlinkSync('/proc/self/ns/user'));
    if (impl === 'tslirp') {
      // The launcher's pivot helper, once the root is entered, holds no capability at all.
      const helpers = sandboxHelpers(pid);
      expect(helpers.length).toBe(1);
      expect(statusField(readFileSync(`/proc/${helpers[0]}/status`, 'utf8'), 'CapEff')).toBe('0000000000000000');
      expect(statusField(readFileSync(`/proc/${helpers[0]}/status`, 'utf8'), 'CapBnd')).toBe('0000000000000000');
    }
    expect(await ns.exec('ping', ['-c', '1', '-W', '3', '10.0.2.2'])).toMatch(/1 received/);
    // A port taken by someone else: the failure is answered (and logged) from inside the sandbox.
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as { port: number }).port;
    try {
      const refused = await apiRequest(socket, `{"execute":"add_hostfwd","arguments":{"proto":"tcp","host_addr":"127.0.0.1","host_port":${port},"guest_addr":"10.0.2.100","guest_port":80}}`);
      expect(refused.text).toMatch(/^\{"error":/);
    } finally {
      taken.close();
    }
    expect((await apiRequest(socket, '{"execute":"list_hostfwd"}')).text).toBe('{"entries":[]}');
    expect(net.child.exitCode).toBeNull();
    if (impl === 'tslirp') {
      expect(await stopProcess(net.child, 3000)).toBe(0);
      expect(existsSync(socket)).toBe(false); // removed by the launcher's helper: the root does not show it
    }
  });
});

describe('tslirp --enable-sandbox, the API socket', () => {
  it('stays after SIGKILL, as without the sandbox (RootlessKit kills with SIGKILL and reuses it)', async (ctx) => {
    prerequisites(ctx);
    const ns = await createNamespace(tracker);
    const socket = join(tempDir(), 'api.sock');
    const net = startTslirp(['-c', '-r', '3', '--enable-sandbox', '--api-socket', socket, String(ns.pid)]);
    await expectReady(net);
    expect(await stopProcess(net.child, 1000, 'SIGKILL')).toBe('SIGKILL');
    expect(existsSync(socket)).toBe(true);
  });
});

/**
 * Runs tslirp in a mount namespace of its own where /etc/resolv.conf is a symlink (an overlay on
 * /etc holds it): the launcher's sandbox must make the file it leads to readable inside its root.
 */
async function startWithResolvConfLink(linkTarget: string, ns?: TestNamespace, extraArgs = ''): Promise<TslirpProcess> {
  const dir = tempDir();
  ns ??= await createNamespace(tracker);
  const script = [
    'set -e',
    `mount -t tmpfs tmpfs ${dir}/overlay`,
    `mkdir ${dir}/overlay/upper ${dir}/overlay/work`,
    `ln -s ${linkTarget} ${dir}/overlay/upper/resolv.conf`,
    `mount -t overlay overlay -o lowerdir=/etc,upperdir=${dir}/overlay/upper,workdir=${dir}/overlay/work /etc`,
    `exec ${TSLIRP_BIN} -r 3 --enable-sandbox ${extraArgs} ${ns.pid} tap0`,
  ].join('\n');
  mkdirSync(join(dir, 'overlay'));
  writeFileSync(join(dir, 'start.sh'), script);
  // unshare -m --propagation private: the /etc overlay stays in that namespace; sh execs bin/tslirp
  // there, so fd 3 and the PID are tslirp's.
  return startTslirp(['-m', '--propagation', 'private', 'sh', join(dir, 'start.sh')], { executable: 'unshare' });
}

describe('tslirp --enable-sandbox, /etc/resolv.conf as a symlink (slirp4netns 1.2.1 fixed the first case)', () => {
  const marker = (name: string): string => `nameserver 127.53.0.1\n# ${name}\n`;

  it('to a file outside /etc and /run: that file is bound into the root', async (ctx) => {
    prerequisites(ctx);
    const files = tempDir();
    writeFileSync(join(files, 'resolv.conf'), marker('outside'));
    const net = await startWithResolvConfLink(join(files, 'resolv.conf'));
    const pid = await expectReady(net);
    expect(readInRoot(pid, '/etc/resolv.conf')).toBe(marker('outside'));
    expect(readdirSync(`/proc/${pid}/root`).sort()).toEqual(['etc', 'run', 'tmp']);
    expect(net.log.text).toMatch(/resolv\.conf leads to .*outside \/etc and \/run: bound it read-only/);
  });

  it('DNS works through that symlink, and a rewrite of the file it leads to is followed inside the root', async (ctx) => {
    prerequisites(ctx);
    const stubs: (() => void | Promise<void>)[] = [];
    try {
      const first = await stubResolverOnPort53(stubs, '192.0.2.61');
      const second = await stubResolverOnPort53(stubs, '192.0.2.62');
      const files = tempDir();
      const target = join(files, 'resolv.conf');
      writeResolvConf(target, first.address);
      const ns = await createNamespace(tracker);
      const net = await startWithResolvConfLink(target, ns, '-c');
      const pid = await expectReady(net);
      expect(readdirSync(`/proc/${pid}/root`)).not.toContain('home');
      expect(await guestDnsQuery(ns, '10.0.2.3', 'udp')).toBe('answer 0 192.0.2.61');
      // Same inode (bound read-only into the root): the forwarder's stat sees the change from inside.
      writeResolvConf(target, second.address);
      expect(await guestDnsQuery(ns, '10.0.2.3', 'tcp')).toBe('answer 0 192.0.2.62');
      expect(first.queries.length).toBe(1);
      expect(second.queries.length).toBe(1);
    } finally {
      for (const cleanup of stubs.reverse()) await cleanup();
    }
  });

  it('through a relative symlink and a symlinked directory outside /etc and /run: the links are recreated', async (ctx) => {
    prerequisites(ctx);
    const files = tempDir();
    mkdirSync(join(files, 'real'));
    writeFileSync(join(files, 'real/resolv.conf'), marker('chain'));
    symlinkSync('real', join(files, 'link'));
    const net = await startWithResolvConfLink(`..${files}/link/resolv.conf`);
    const pid = await expectReady(net);
    expect(readInRoot(pid, '/etc/resolv.conf')).toBe(marker('chain'));
  });

  it('into /var/run (a symlink to /run on Debian): resolved inside', async (ctx) => {
    prerequisites(ctx);
    if (readlinkSync('/var/run') !== '/run') ctx.skip('/var/run is not a symlink to /run here');
    const runDir = mkdtempSync('/run/tslirp-sandbox-');
    dirs.push(runDir);
    writeFileSync(join(runDir, 'resolv.conf'), marker('var-run'));
    const net = await startWithResolvConfLink(`/var${runDir}/resolv.conf`);
    const pid = await expectReady(net);
    expect(readInRoot(pid, '/etc/resolv.conf')).toBe(marker('var-run'));
    expect(readdirSync(`/proc/${pid}/root`).sort()).toEqual(['etc', 'run', 'var']);
  });
});

describe.each(Object.keys(IMPLEMENTATIONS) as Implementation[])("%s --enable-sandbox leaves the host's mounts alone (upstream's sandbox-no-unmount)", (impl) => {
  it('a shared submount of /run is still mounted outside once the sandbox is up', async (ctx) => {
    prerequisites(ctx);
    const dir = tempDir();
    const ns = await createNamespace(tracker);
    // Like upstream: in a mount namespace of the test's, /run is a tmpfs with a submount, rshared.
    const script = [
      'set -e',
      'mount -t tmpfs tmpfs /run',
      'mkdir /run/foo',
      'mount -t tmpfs tmpfs /run/foo',
      'mount --make-rshared /run',
      `${IMPLEMENTATIONS[impl]} -r 3 --enable-sandbox --netns-type=path /proc/${ns.pid}/ns/net tap11 >${dir}/log 2>&1 &`,
      'net=$!',
      `while [ ! -s ${dir}/ready ]; do sleep 0.05; done`,
      'findmnt /run/foo >/dev/null && echo still-mounted',
      'kill $net',
    ].join('\n');
    writeFileSync(join(dir, 'no-unmount.sh'), script);
    // fd 3 of the network process is the shell's fd 3: a file the script waits on.
    const out = execFileSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', `sh ${dir}/no-unmount.sh 3>${dir}/ready`], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(out.trim()).toBe('still-mounted');
    expect(readFileSync(join(dir, 'ready'), 'utf8')).toBe('1');
  });
});
