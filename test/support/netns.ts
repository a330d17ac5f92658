/**
 * Helpers for end-to-end tests that need a real kernel as the guest: a network namespace made by
 * the test itself (`unshare -rn sleep`), commands run inside it, tslirp processes, an unprivileged
 * test user, and cleanup of every process started, by PID.
 *
 * Never sends traffic anywhere but loopback and namespaces the test created; never kills a process
 * it did not start. Skips (with a reason) for missing privileges only outside CI: in CI
 * (CI=true) a missing prerequisite is a failure.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const IN_CI = process.env.CI === 'true';
export const IS_ROOT = process.getuid?.() === 0;

/** Who runs a process: the test runner itself, or a plain user via setpriv (tests run as root). */
export interface RunAs {
  readonly uid: number;
  readonly gid: number;
}

/** Why this machine cannot run namespace tests, or undefined when it can. */
export function namespacePrerequisite(options: { root?: boolean } = {}): string | undefined {
  if (options.root && !IS_ROOT) return 'needs root';
  for (const tool of ['unshare', 'nsenter', 'ip', 'ping', 'setpriv']) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    } catch {
      return `needs ${tool} (apt-get install util-linux iproute2 iputils-ping)`;
    }
  }
  if (!existsSync('/dev/net/tun')) return 'needs /dev/net/tun';
  return undefined;
}

/**
 * Skips the current test with a reason, except in CI where a missing prerequisite must fail.
 * Use as `requireOrSkip(ctx, namespacePrerequisite({ root: true }))` at the start of a test.
 */
export function requireOrSkip(ctx: { skip: (note?: string) => void }, missing: string | undefined): void {
  if (missing === undefined) return;
  if (IN_CI) throw new Error(`prerequisite missing in CI: ${missing}`);
  ctx.skip(missing);
}

/** Prefix that runs a command as `as` (setpriv drops every capability along with uid 0). */
export function asUser(as: RunAs | undefined, command: string, args: readonly string[]): [string, string[]] {
  if (as === undefined) return [command, [...args]];
  return ['setpriv', [`--reuid=${as.uid}`, `--regid=${as.gid}`, '--clear-groups', '--', command, ...args]];
}

/**
 * Records every child started through it; killAll() ends them (use in afterEach). Each child leads a
 * process group of its own, and is ended with that group: a server such as `socat …,fork` leaves its
 * per-connection children behind otherwise, orphaned in the test's namespace for good. When a child
 * exits, what is left of its group is ended too (the group id cannot be anyone else's while members
 * remain).
 */
export class ProcessTracker {
  private readonly children = new Set<ChildProcess>();

  spawn(command: string, args: readonly string[], as?: RunAs, env?: NodeJS.ProcessEnv): ChildProcess {
    const [cmd, argv] = asUser(as, command, args);
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], cwd: REPO_ROOT, env: env ?? process.env, detached: true });
    this.children.add(child);
    child.once('exit', () => {
      this.children.delete(child);
      if (child.pid !== undefined) signalGroup(child.pid, 'SIGTERM');
    });
    return child;
  }

  /** SIGTERM, then SIGKILL after graceMs, for every child still running; waits for their exits. */
  async killAll(graceMs = 2000): Promise<void> {
    await Promise.all([...this.children].map((child) => stopProcess(child, graceMs)));
  }
}

/** Signals the process group led by pid, if it exists (false when it does not). */
function signalGroup(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false;
  }
}

/**
 * Ends one child we started, by its PID (and the process group it leads, when ProcessTracker made it
 * a leader); resolves with its exit code (or signal name).
 */
export async function stopProcess(child: ChildProcess, graceMs = 2000, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | string> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode ?? child.signalCode ?? -1;
  const exited = exitOf(child);
  const send = (sig: NodeJS.Signals): void => {
    if (child.pid !== undefined && !signalGroup(child.pid, sig)) process.kill(child.pid, sig);
  };
  send(signal);
  const timer = setTimeout(() => {
    if (child.exitCode === null && child.signalCode === null) send('SIGKILL');
  }, graceMs);
  try {
    return await exited;
  } finally {
    clearTimeout(timer);
  }
}

export function exitOf(child: ChildProcess): Promise<number | string> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode ?? child.signalCode ?? -1);
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
}

export async function waitFor(what: string, predicate: () => boolean, timeoutMs = 5000, stepMs = 10): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, stepMs));
  }
}

/** Collects a child's stdout+stderr as text, for waiting on progress lines and for failure output. */
export class OutputLog {
  text = '';
  constructor(child: ChildProcess) {
    child.stdout?.on('data', (chunk: Buffer) => (this.text += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (this.text += chunk.toString()));
  }

  /** Resolves when pattern appears; rejects when the child exits first or on timeout. */
  async waitFor(pattern: RegExp, child: ChildProcess, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pattern.test(this.text)) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`process exited (${child.exitCode ?? child.signalCode}) before ${pattern}: ${this.text}`);
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}; output so far: ${this.text}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
}

/** A network namespace (with its own user namespace) that a test created: `unshare -rn sleep`. */
export interface TestNamespace {
  readonly pid: number;
  readonly process: ChildProcess;
  readonly owner: RunAs | undefined;
  /** Runs a command inside the namespace; resolves with stdout, rejects with stderr on failure. */
  exec(command: string, args: readonly string[], timeoutMs?: number): Promise<string>;
}

/** Starts `unshare -rn sleep 1000` (as `owner` if given) and waits until it is in its namespace. */
export async function createNamespace(tracker: ProcessTracker, owner?: RunAs): Promise<TestNamespace> {
  const child = tracker.spawn('unshare', ['-rn', 'sleep', '1000'], owner);
  const pid = child.pid;
  if (pid === undefined) throw new Error('cannot spawn unshare');
  const ours = readlinkSync('/proc/self/ns/net');
  const log = new OutputLog(child);
  // setpriv and unshare exec in place, so the PID stays; the namespace changes once unshare ran.
  await waitFor(
    'unshare to enter its namespace',
    () => {
      if (child.exitCode !== null) throw new Error(`unshare exited ${child.exitCode}: ${log.text}`);
      try {
        return readlinkSync(`/proc/${pid}/ns/net`) !== ours && readlinkSync(`/proc/${pid}/exe`).endsWith('sleep');
      } catch {
        return false;
      }
    },
    5000,
  );
  return {
    pid,
    process: child,
    owner,
    exec: (command, args, timeoutMs = 15_000) => nsExec(pid, command, args, timeoutMs),
  };
}

/** The last `max` characters of a command's output, for an error message. */
function outputTail(text: string, max = 4000): string {
  if (text === '') return '(empty)';
  return text.length > max ? `…${text.slice(-max)}` : text.trimEnd();
}

/**
 * Runs a command in the network namespace of pid (root joins it directly; others via its userns).
 * On failure the error says why (exit status, or the timeout and how the command ended) and carries
 * its stderr and stdout. The timeout is ours, not execFile's: execFile closes the pipes before it
 * signals, so whatever the command says on its way out (the python3 clients say how far they got)
 * was lost, and a timeout said only "Command failed". Here SIGTERM, 2 s to finish, then SIGKILL.
 */
export function nsExec(pid: number, command: string, args: readonly string[], timeoutMs = 15_000): Promise<string> {
  const enter = IS_ROOT ? ['-t', String(pid), '-n'] : ['-t', String(pid), '-U', '-n', '--preserve-credentials'];
  // Arguments shortened in messages: a python3 -c script would fill them.
  const shown = [command, ...args].map((a) => (a.length > 80 ? `${a.slice(0, 40).replace(/\s+/g, ' ')}…` : a)).join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn('nsenter', [...enter, command, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    let timedOut = false;
    let killTimer: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
      killTimer = setTimeout(() => child.kill('SIGKILL'), 2000);
    }, timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      clearTimeout(killTimer);
      reject(new Error(`${shown} failed in namespace ${pid}: ${error.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      clearTimeout(killTimer);
      if (code === 0 && !timedOut) {
        resolve(stdout);
        return;
      }
      const ended = signal !== null ? `killed by ${signal}` : `exit status ${code}`;
      const why = timedOut ? `timed out after ${timeoutMs} ms (then ${ended})` : ended;
      reject(new Error(`${shown} failed in namespace ${pid}: ${why}\n--- stderr ---\n${outputTail(stderr)}\n--- stdout ---\n${outputTail(stdout)}`));
    });
  });
}

export const TEST_USER = 'tslirp-test';

/** Creates the unprivileged test user when missing (root only) and returns its ids. */
export function ensureTestUser(name = TEST_USER): RunAs {
  const lookup = (): RunAs | undefined => {
    try {
      const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
      const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
      return { uid, gid };
    } catch {
      return undefined;
    }
  };
  const found = lookup();
  if (found) return found;
  execFileSync('useradd', ['-M', '-s', '/usr/sbin/nologin', name], { stdio: 'ignore' });
  const created = lookup();
  if (!created) throw new Error(`cannot create user ${name}`);
  return created;
}

/** Makes /dev/net/tun usable by everyone (as RootlessKit's docs ask); returns a function restoring its mode. */
export function openTunToAll(): () => void {
  const before = statSync('/dev/net/tun').mode & 0o7777;
  if ((before & 0o666) === 0o666) return () => undefined;
  chmodSync('/dev/net/tun', 0o666);
  return () => chmodSync('/dev/net/tun', before);
}

/**
 * Sets net.ipv4.ping_group_range of the test process's network namespace (which groups may open the
 * unprivileged ping sockets echo forwarding uses); returns a function restoring what it was.
 */
export function setPingGroupRange(range: string): () => void {
  const before = readFileSync(PING_GROUP_RANGE, 'utf8').trim();
  writeFileSync(PING_GROUP_RANGE, range);
  return () => writeFileSync(PING_GROUP_RANGE, before);
}

const PING_GROUP_RANGE = '/proc/sys/net/ipv4/ping_group_range';

/** `ip -j addr show DEV` inside the namespace, reduced to what tests assert on. */
export async function interfaceInfo(ns: TestNamespace, dev: string): Promise<{ mtu: number; up: boolean; ipv4: string[]; mac: string }> {
  const parsed = JSON.parse(await ns.exec('ip', ['-j', 'addr', 'show', 'dev', dev])) as {
    mtu: number;
    flags: string[];
    address: string;
    addr_info: { family: string; local: string; prefixlen: number }[];
  }[];
  const link = parsed[0];
  return {
    mtu: link.mtu,
    up: link.flags.includes('UP'),
    mac: link.address,
    ipv4: link.addr_info.filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`),
  };
}

/** The default route's gateway inside the namespace, if any. */
export async function defaultGateway(ns: TestNamespace): Promise<string | undefined> {
  const routes = JSON.parse(await ns.exec('ip', ['-j', 'route'])) as { dst: string; gateway?: string }[];
  return routes.find((r) => r.dst === 'default')?.gateway;
}
