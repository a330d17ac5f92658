/**
 * The test bench of bench/latency.ts and bench/latency-stages.ts: relays with a guest behind them
 * (tslirp, a baseline tslirp build, slirp4netns 1.2.0, RootlessKit's builtin port driver, pasta),
 * the C peers of bench/latency-peer.c (compiled here with cc), and the process bookkeeping (every
 * process started is ended by PID; nothing is left behind).
 *
 * Each guest is a network namespace owned by its own user namespace (`unshare -rn`, as rootless use
 * has it) running an echo server (port 7000) and an iperf3 server (5201), both published on
 * 127.0.0.1. Traffic stays on loopback and in these namespaces: pasta's namespace gets no address or
 * route (only its loopback splice is used); RootlessKit's child is its own.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { apiRequest } from '../test/support/api-client.js';
import { asUser, createNamespace, OutputLog, ProcessTracker, REPO_ROOT, stopProcess, waitFor, type TestNamespace } from '../test/support/netns.js';
import { freePort, SLIRP4NETNS } from '../test/support/published-guest.js';
import { rootlessUser } from '../test/support/rootless-user.js';

export const GUEST_ECHO_PORT = 7000;
export const GUEST_IPERF_PORT = 5201;
const CLK_TCK = 100;

export type Impl = 'tslirp' | 'baseline' | 'slirp4netns' | 'rootlesskit' | 'pasta';

/** A running relay with a guest behind it: an echo server and an iperf3 server in the guest, both published. */
export interface Instance {
  readonly impl: Impl;
  /** The process whose CPU and wakeups are measured (the relay). */
  readonly relayPid: number;
  /** The guest's namespace holder (for nsenter); undefined where we do not drive the guest. */
  readonly guest: TestNamespace | undefined;
  readonly echoHostPort: number;
  readonly iperfHostPort: number;
  stop(): Promise<void>;
}

/** How to run a tslirp build. */
export interface TslirpBuild {
  /** Its launcher (bin/tslirp: what podman and RootlessKit run, with its Node flags), or its bin/tslirp.js run by node. */
  readonly bin: string;
  /** Node options before a bin/tslirp.js (e.g. --cpu-prof, --import a preload); none for a launcher. */
  readonly nodeArgs?: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
}

/** What clients run in a checkout: its launcher (bin/tslirp, with its Node flags) when built and no Node options are asked for, else node with them on its bin/tslirp.js. */
export function clientBuild(root: string, nodeArgs: readonly string[] = []): TslirpBuild {
  const launcher = join(root, 'bin/tslirp');
  return nodeArgs.length === 0 && existsSync(launcher) ? { bin: launcher } : { bin: join(root, 'bin/tslirp.js'), nodeArgs };
}

/** The command line of a build: its launcher as clients run it, or node with its options on bin/tslirp.js. */
export function tslirpCommand(build: TslirpBuild, args: readonly string[]): [string, string[]] {
  if (build.bin.endsWith('.js')) return [process.execPath, [...(build.nodeArgs ?? []), build.bin, ...args]];
  if ((build.nodeArgs ?? []).length > 0) throw new Error(`${build.bin} is a launcher: Node options go to its bin/tslirp.js`);
  return [build.bin, [...args]];
}

/** utime + stime of pid so far, in seconds. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

/** Context switches of every thread of pid so far (each one is a wakeup of that thread). */
export function contextSwitches(pid: number): number {
  let total = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let status: string;
    try {
      status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
    } catch {
      continue; // the thread ended meanwhile
    }
    for (const match of status.matchAll(/^(?:non)?voluntary_ctxt_switches:\s+(\d+)$/gm)) total += Number(match[1]);
  }
  return total;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Reads and drops a long-running child's output (a full pipe would stop it). */
export function drained(child: ChildProcess): ChildProcess {
  child.stdout?.resume();
  child.stderr?.resume();
  return child;
}

async function waitForLine(child: ChildProcess, pattern: RegExp, what: string): Promise<void> {
  const log = new OutputLog(child);
  await log.waitFor(pattern, child, 10_000).catch((error: Error) => {
    throw new Error(`${what}: ${error.message}`);
  });
}

/** One byte through 127.0.0.1:port and its echo back, or false (refused, reset, timed out). */
function echoOnce(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), 2000);
    socket.on('connect', () => socket.write('x'));
    socket.on('data', () => done(true));
    socket.on('error', () => done(false));
    socket.on('close', () => done(false));
  });
}

/** Waits until a published echo port answers (the whole path through the relay works). */
async function waitEchoing(port: number, what: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!(await echoOnce(port))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

export class RelayLab {
  readonly tracker = new ProcessTracker();
  /** The compiled bench/latency-peer.c. */
  readonly peer: string;
  private readonly relays = new Set<ChildProcess>();
  private readonly cleanups: (() => void | Promise<void>)[] = [];
  private readonly dir = mkdtempSync(join(tmpdir(), 'tslirp-lab-'));

  constructor() {
    chmodSync(this.dir, 0o755); // RootlessKit's user runs the peer binary from here
    this.peer = join(this.dir, 'latency-peer');
    execFileSync('cc', ['-O2', '-Wall', '-o', this.peer, join(REPO_ROOT, 'bench/latency-peer.c')], { stdio: 'inherit' });
    chmodSync(this.peer, 0o755);
  }

  /** A path in the lab's private directory. */
  path(name: string): string {
    return join(this.dir, name);
  }

  onCleanup(cleanup: () => void | Promise<void>): void {
    this.cleanups.push(cleanup);
  }

  /** Ends every process started here (relays first), runs the cleanups, removes the directory. */
  async close(): Promise<void> {
    await Promise.all([...this.relays].map((child) => stopProcess(child, 3000)));
    await this.tracker.killAll();
    for (const cleanup of this.cleanups.splice(0).reverse()) await cleanup();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** A latency-peer echo server (rr, cr) on the host or, with ns, in a guest. */
  async startEchoServer(address: string, port: number, ns?: TestNamespace): Promise<ChildProcess> {
    const args = ['serve', address, String(port)];
    const child = ns ? this.tracker.spawn('nsenter', ['-t', String(ns.pid), '-n', this.peer, ...args]) : this.tracker.spawn(this.peer, args);
    await waitForLine(child, /listening/, `echo server ${address}:${port}`);
    return child;
  }

  /** Starts a command in the guest and waits for a line of its output. */
  async startInGuest(ns: TestNamespace, args: readonly string[], ready: RegExp): Promise<ChildProcess> {
    const child = this.tracker.spawn('nsenter', ['-t', String(ns.pid), '-n', ...args]);
    await waitForLine(child, ready, args.join(' '));
    return child;
  }

  /**
   * tslirp (a build) or slirp4netns on a fresh `unshare -rn` namespace, with both guest servers published on 127.0.0.1;
   * with ipv6, --enable-ipv6 (the guest's fd00::/64 address comes by router advertisement: waitGuestIpv6).
   */
  async startSlirp(impl: 'tslirp' | 'baseline' | 'slirp4netns', mtu: number, build?: TslirpBuild, options: { ipv6?: boolean } = {}): Promise<Instance> {
    const ns = await createNamespace(this.tracker);
    await this.prepareGuest(ns);
    const apiSocket = this.path(`${impl}-${mtu}-${ns.pid}.sock`);
    const common = ['--configure', `--mtu=${mtu}`, ...(options.ipv6 ? ['--enable-ipv6'] : []), '-r', '3', `--api-socket=${apiSocket}`, String(ns.pid), 'tap0'];
    if (impl !== 'slirp4netns' && build === undefined) throw new Error(`${impl} needs a build`);
    const [command, args] = impl === 'slirp4netns' ? [SLIRP4NETNS, common] : tslirpCommand(build!, common);
    const env = { ...process.env, TSLIRP_LOG_LEVEL: 'warn', ...build?.env };
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe', 'pipe'], cwd: REPO_ROOT, env });
    this.relays.add(child);
    child.once('exit', () => this.relays.delete(child));
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    await new Promise<void>((resolve, reject) => {
      const ready = child.stdio[3] as NodeJS.ReadableStream;
      ready.on('data', () => resolve());
      ready.on('close', () => resolve());
      child.once('exit', (code) => reject(new Error(`${impl} exited ${code}: ${stderr}`)));
    });
    await this.startGuestServers(ns);
    const publish = async (guestPort: number): Promise<number> => {
      const hostPort = await freePort();
      const request = { execute: 'add_hostfwd', arguments: { proto: 'tcp', host_addr: '127.0.0.1', host_port: hostPort, guest_port: guestPort } };
      const answer = await apiRequest(apiSocket, JSON.stringify(request));
      if (!/"return"/.test(answer.text)) throw new Error(`${impl} add_hostfwd failed: ${answer.text}`);
      return hostPort;
    };
    const echoHostPort = await publish(GUEST_ECHO_PORT);
    const iperfHostPort = await publish(GUEST_IPERF_PORT);
    await waitEchoing(echoHostPort, `${impl} published echo port`);
    return {
      impl,
      relayPid: child.pid!,
      guest: ns,
      echoHostPort,
      iperfHostPort,
      stop: async () => {
        await stopProcess(child, 5000);
        await stopProcess(ns.process);
      },
    };
  }

  /** RootlessKit (real slirp4netns as its network, builtin port driver) with the servers in its child. */
  async startRootlesskit(mtu: number): Promise<Instance> {
    const user = rootlessUser();
    const stateDir = this.path(`rk-${mtu}`);
    execFileSync('install', ['-d', '-o', String(user.uid), '-g', String(user.gid), stateDir]);
    const pidFile = (name: string): string => join(stateDir, `${name}.pid`);
    const script = [
      `${this.peer} serve 0.0.0.0 ${GUEST_ECHO_PORT} > /dev/null & echo $! > ${pidFile('echo')}`,
      `iperf3 -s -p ${GUEST_IPERF_PORT} > /dev/null & echo $! > ${pidFile('iperf3')}`,
      'exec sleep 100000',
    ].join('\n');
    const [command, args] = asUser(user, 'rootlesskit', ['--net=slirp4netns', `--mtu=${mtu}`, '--port-driver=builtin', `--state-dir=${stateDir}`, 'sh', '-c', script]);
    const env = { ...process.env, HOME: this.dir, XDG_RUNTIME_DIR: this.dir, PATH: `${process.env.PATH ?? ''}:/usr/sbin:/usr/bin` };
    const child = this.tracker.spawn(command, args, undefined, env);
    const log = new OutputLog(child);
    const apiSocket = join(stateDir, 'api.sock');
    await waitFor(
      'rootlesskit to start',
      () => {
        if (child.exitCode !== null) throw new Error(`rootlesskit exited ${child.exitCode}: ${log.text}`);
        return existsSync(apiSocket) && existsSync(pidFile('echo')) && existsSync(pidFile('iperf3'));
      },
      20_000,
      50,
    );
    // The child's servers outlive RootlessKit's SIGTERM: end them by PID afterwards.
    const childServers = ['echo', 'iperf3'].map((name) => Number(readFileSync(pidFile(name), 'utf8')));
    const rootlessctl = (...a: string[]): string => {
      const [c, ca] = asUser(user, 'rootlessctl', ['--socket', apiSocket, ...a]);
      return execFileSync(c, ca, { encoding: 'utf8', timeout: 10_000 });
    };
    const echoHostPort = await freePort();
    const iperfHostPort = await freePort();
    rootlessctl('add-ports', `127.0.0.1:${echoHostPort}:${GUEST_ECHO_PORT}/tcp`);
    rootlessctl('add-ports', `127.0.0.1:${iperfHostPort}:${GUEST_IPERF_PORT}/tcp`);
    await waitEchoing(echoHostPort, 'rootlesskit published echo port');
    return {
      impl: 'rootlesskit',
      relayPid: child.pid!,
      guest: undefined,
      echoHostPort,
      iperfHostPort,
      stop: async () => {
        await stopProcess(child, 3000);
        for (const pid of childServers) {
          try {
            process.kill(pid, 'SIGTERM');
          } catch {
            // gone with the child already
          }
        }
      },
    };
  }

  /**
   * pasta attached to a fresh namespace, addressed as tslirp's guest is (tap0 10.0.2.100/24, gateway
   * 10.0.2.2, MTU as given): pasta maps the gateway address to the host's loopback (its default), so the
   * guest→host workloads reach the same host servers through it; host loopback clients of the published
   * ports are spliced to the namespace's loopback.
   */
  async startPasta(mtu: number): Promise<Instance> {
    const ns = await createNamespace(this.tracker);
    await this.prepareGuest(ns);
    await this.startGuestServers(ns);
    const echoHostPort = await freePort();
    const iperfHostPort = await freePort();
    const forward = (host: number, guest: number): string[] => ['-t', `127.0.0.1/${host}:${guest}`];
    const guestNetwork = ['--config-net', '-I', 'tap0', '-m', String(mtu), '-a', '10.0.2.100', '-n', '24', '-g', '10.0.2.2'];
    // --runas 0: as root, pasta would become nobody and could not join the namespace's user namespace.
    const args = ['-f', '-q', '--runas', '0', ...guestNetwork, ...forward(echoHostPort, GUEST_ECHO_PORT), ...forward(iperfHostPort, GUEST_IPERF_PORT), '-u', 'none', '-T', 'none', '-U', 'none', String(ns.pid)];
    const child = drained(this.tracker.spawn('pasta', args));
    await waitFor(
      'pasta to configure the guest',
      () => {
        if (child.exitCode !== null) throw new Error(`pasta exited ${child.exitCode}`);
        return tap0Addresses(ns, 4).includes('10.0.2.100/24');
      },
      10_000,
      50,
    );
    await waitEchoing(echoHostPort, 'pasta published echo port');
    return {
      impl: 'pasta',
      relayPid: child.pid!,
      guest: ns,
      echoHostPort,
      iperfHostPort,
      stop: async () => {
        await stopProcess(child, 3000);
        await stopProcess(ns.process);
      },
    };
  }

  private async prepareGuest(ns: TestNamespace): Promise<void> {
    await ns.exec('ip', ['link', 'set', 'lo', 'up']);
    // Room for the connection-rate runs: the guest closes first, so its ports sit in TIME_WAIT.
    await ns.exec('sysctl', ['-q', '-w', 'net.ipv4.ip_local_port_range=1024 65535']);
    await ns.exec('sysctl', ['-q', '-w', 'net.ipv4.tcp_tw_reuse=1']);
  }

  private async startGuestServers(ns: TestNamespace): Promise<void> {
    await this.startEchoServer('0.0.0.0', GUEST_ECHO_PORT, ns);
    drained(this.tracker.spawn('nsenter', ['-t', String(ns.pid), '-n', 'iperf3', '-s', '-p', String(GUEST_IPERF_PORT)]));
    await waitFor('guest iperf3 server', () => {
      try {
        return execFileSync('nsenter', ['-t', String(ns.pid), '-n', 'ss', '-ltnH', `sport = :${GUEST_IPERF_PORT}`], { encoding: 'utf8' }).trim() !== '';
      } catch {
        return false;
      }
    });
  }
}

/** The guest's tap0 addresses of one family, as `ip -o addr` prints them ('' while there is no tap0 yet). */
function tap0Addresses(ns: TestNamespace, family: 4 | 6): string {
  try {
    return execFileSync('nsenter', ['-t', String(ns.pid), '-n', 'ip', `-${family}`, '-o', 'addr', 'show', 'dev', 'tap0', 'scope', 'global'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return '';
  }
}

/** Waits until the guest has its global IPv6 address (router advertisement, then duplicate address detection). */
export async function waitGuestIpv6(ns: TestNamespace): Promise<void> {
  await waitFor(
    "the guest's IPv6 address",
    () => {
      const addresses = tap0Addresses(ns, 6);
      return addresses.includes('inet6') && !addresses.includes('tentative');
    },
    10_000,
    50,
  );
}
