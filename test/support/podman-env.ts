/**
 * Rootless podman 4.3 set up as ../shared/CLIENTS.md's recipe says, for the podman e2e test and the
 * start-up benchmark: a non-root user with subuid/subgid ranges, containers.conf with
 * `network_cmd_path` = tslirp's executable (bin/tslirp) or the real slirp4netns (the reference,
 * swapped in with CONTAINERS_CONF), runtime runc, cgroupfs; an image built here from the host's
 * busybox (+ the libraries it links) with `podman import`; no registry.
 *
 * Each network binary is reached through a wrapper that records its PID and appends its stderr to a
 * log, then execs it (the PID stays the binary's). Cleanup by PID: the network processes podman
 * started and podman's pause process; containers are removed with podman itself.
 */
import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { ensureTestUser, IS_ROOT, namespacePrerequisite, openTunToAll, type RunAs } from './netns.js';
import { builtCliPrerequisite, TSLIRP_BIN } from './tslirp-process.js';

const execFileAsync = promisify(execFile);
export const PODMAN_IMAGE = 'localhost/bb:latest';
export const SLIRP4NETNS = '/usr/bin/slirp4netns';
const PATH = '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin';

/** Which binary podman runs as its slirp4netns: ours (the recipe), or the real one as the reference. */
export type NetworkBinary = 'tslirp' | 'slirp4netns';

function command(name: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore', env: { PATH } });
    return true;
  } catch {
    return false;
  }
}

/** Why podman cannot run here, or undefined. */
export function podmanPrerequisite(): string | undefined {
  if (!IS_ROOT) return 'needs root (to make the podman test user and open /dev/net/tun to it)';
  const ns = namespacePrerequisite({ root: true });
  if (ns) return ns;
  for (const tool of ['podman', 'runc', 'newuidmap', 'newgidmap', 'busybox', 'slirp4netns']) {
    if (!command(tool)) return `needs ${tool} (apt-get install podman runc uidmap busybox slirp4netns)`;
  }
  const built = builtCliPrerequisite();
  if (built) return `${built}: podman runs bin/tslirp`;
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

/** The rootfs: busybox, its libraries (none if static), applet links, a page for httpd. */
function buildImageTar(dir: string): string {
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
  for (const applet of ['sh', 'httpd', 'nc', 'wget', 'ping', 'ip', 'cat', 'echo', 'sleep', 'true', 'grep']) symlinkSync('busybox', join(rootfs, 'bin', applet));
  mkdirSync(join(rootfs, 'www'));
  writeFileSync(join(rootfs, 'www/index.html'), 'hello from the container\n');
  const tar = join(dir, 'bb.tar');
  execFileSync('tar', ['-C', rootfs, '-cf', tar, '.']);
  chmodSync(tar, 0o644);
  return tar;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export class PodmanEnv {
  private restoreTun: (() => void) | undefined;

  private constructor(
    readonly user: RunAs,
    /** The scratch directory (home, wrappers, logs, image tar). */
    readonly dir: string,
    /** The test user's XDG_RUNTIME_DIR, under /run as a real /run/user/UID (slirp4netns's sandbox keeps /run, not /tmp). */
    readonly runDir: string,
  ) {}

  /** Makes the user, configuration and image (check podmanPrerequisite() first). */
  static async create(): Promise<PodmanEnv> {
    const user = ensureTestUser();
    ensureSubIds('tslirp-test');
    const restoreTun = openTunToAll();
    const dir = mkdtempSync(join(tmpdir(), 'tslirp-podman-'));
    chmodSync(dir, 0o755);
    mkdirSync(join(dir, 'home/.config/containers'), { recursive: true });
    const runDir = mkdtempSync('/run/tslirp-podman-');
    chmodSync(runDir, 0o700);
    const env = new PodmanEnv(user, dir, runDir);
    env.restoreTun = restoreTun;
    // The executables podman runs (network_cmd_path takes one path): each records its PID, then execs.
    const wrapper = join(dir, 'tslirp');
    const reference = join(dir, 'slirp4netns-reference');
    for (const [path, target] of [
      [wrapper, TSLIRP_BIN],
      [reference, SLIRP4NETNS],
    ]) {
      writeFileSync(path, `#!/bin/sh\necho $$ >> ${dir}/tslirp.pids\nexec ${target} "$@" 2>>${dir}/tslirp.log\n`, { mode: 0o755 });
    }
    const conf = (cmd: string): string => `[engine]\nnetwork_cmd_path = "${cmd}"\nruntime = "runc"\ncgroup_manager = "cgroupfs"\n`;
    writeFileSync(join(dir, 'home/.config/containers/containers.conf'), conf(wrapper));
    writeFileSync(join(dir, 'containers-reference.conf'), conf(reference), { mode: 0o644 });
    const tar = buildImageTar(dir);
    for (const path of [join(dir, 'home'), join(dir, 'home/.config'), join(dir, 'home/.config/containers'), join(dir, 'home/.config/containers/containers.conf'), runDir, tar]) {
      chownSync(path, user.uid, user.gid);
    }
    for (const file of ['tslirp.pids', 'tslirp.log']) {
      writeFileSync(join(dir, file), '', { mode: 0o666 });
      chmodSync(join(dir, file), 0o666);
    }
    await env.podman(['import', tar, PODMAN_IMAGE], 'tslirp', 120_000);
    return env;
  }

  private env(binary: NetworkBinary): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { PATH, HOME: join(this.dir, 'home'), XDG_RUNTIME_DIR: this.runDir, XDG_CONFIG_HOME: join(this.dir, 'home/.config') };
    // The reference run swaps the whole configuration for one naming the real slirp4netns.
    if (binary === 'slirp4netns') env.CONTAINERS_CONF = join(this.dir, 'containers-reference.conf');
    return env;
  }

  /** Runs podman as the test user; resolves with stdout (+stderr), rejects with the output and the network binary's log. */
  async podman(args: readonly string[], binary: NetworkBinary, timeoutMs = 60_000, withStderr = false): Promise<string> {
    const argv = [`--reuid=${this.user.uid}`, `--regid=${this.user.gid}`, '--clear-groups', '--', 'podman', ...args];
    try {
      const { stdout, stderr } = await execFileAsync('setpriv', argv, { cwd: this.dir, env: this.env(binary), timeout: timeoutMs, encoding: 'utf8' });
      return withStderr ? stdout + stderr : stdout;
    } catch (error) {
      const e = error as { stdout?: string; stderr?: string; message: string };
      throw new Error(`podman ${args.join(' ')} failed: ${e.stderr || e.message}\n${e.stdout ?? ''}\n${binary} log:\n${this.networkLog()}`);
    }
  }

  /** The tail of what the network binaries podman started wrote on stderr. */
  networkLog(): string {
    const path = join(this.dir, 'tslirp.log');
    return existsSync(path) ? readFileSync(path, 'utf8').slice(-4000) : '(none)';
  }

  /** PIDs of every network binary podman started (the wrapper records its PID before exec). */
  networkPids(): number[] {
    const path = join(this.dir, 'tslirp.pids');
    if (!existsSync(path)) return [];
    return readFileSync(path, 'utf8').split('\n').filter(Boolean).map(Number);
  }

  async waitGone(pids: readonly number[], timeoutMs = 10_000): Promise<number[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const left = pids.filter(alive);
      if (left.length === 0 || Date.now() > deadline) return left;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Removes containers, ends what podman left running (by PID), deletes the scratch directories. */
  async destroy(): Promise<void> {
    try {
      await this.podman(['rm', '-af', '-t', '1'], 'tslirp').catch(() => undefined);
      for (const pid of this.networkPids().filter(alive)) process.kill(pid, 'SIGKILL');
      const pausePid = join(this.runDir, 'libpod/tmp/pause.pid');
      if (existsSync(pausePid)) {
        const pid = Number(readFileSync(pausePid, 'utf8'));
        if (pid > 0 && alive(pid)) process.kill(pid, 'SIGKILL');
      }
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
      rmSync(this.runDir, { recursive: true, force: true });
      this.restoreTun?.();
    }
  }
}
