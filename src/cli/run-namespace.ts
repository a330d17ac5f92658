/**
 * The namespaces `tslirp run` gives CMD: `unshare [--user --map-root-user] --net --mount` running a
 * tiny sh that bind-mounts a private /etc/resolv.conf, says "ready" on fd 4, waits on fd 3 until tslirp
 * has attached the network, then execs CMD. No --fork: unshare and sh exec in place, so the PID we
 * spawn is the PID of CMD (signals reach it directly; its exit status is ours to pass on), and the
 * namespaces die with it (nothing else lives in them; the TAP fd we hold goes when the link closes).
 *
 * Without root a user namespace is made first (mapping us to root in it) so that the network and
 * mount namespaces can be. As root no user namespace is made. `unshare --mount` makes the mounts
 * private, so the resolv.conf bind never reaches the host.
 *
 * CMD is exec'd through `setpriv --pdeathsig KILL` when setpriv exists (util-linux), so a tslirp
 * killed outright does not leave CMD running without its network.
 *
 * Must never: leave the child waiting forever (EOF on fd 3 ends it with status 125), or pass fds 3/4
 * on to CMD.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';

/** The status the launcher script exits with when it never ran CMD (as `env`/`timeout` use 125). */
export const LAUNCH_FAILED_STATUS = 125;

// $1: resolv.conf to bind over /etc/resolv.conf ("" for none); $2...: CMD and ARGS.
const LAUNCHER = `resolv="$1"; shift
if [ -n "$resolv" ] && ! mount --bind "$resolv" /etc/resolv.conf 2>/dev/null; then
  echo "tslirp run: warning: cannot bind-mount a private /etc/resolv.conf; CMD sees the host's" >&2
fi
printf r >&4
exec 4>&-
read -r go <&3 || exit ${LAUNCH_FAILED_STATUS}
[ "$go" = go ] || exit ${LAUNCH_FAILED_STATUS}
exec 3<&-
# If tslirp dies without tearing down (SIGKILL), CMD goes too rather than living on without network.
if command -v setpriv >/dev/null 2>&1; then exec setpriv --pdeathsig KILL -- "$@"; fi
exec "$@"
`;

export interface LaunchOptions {
  readonly command: readonly string[];
  /** File bind-mounted over /etc/resolv.conf in CMD's mount namespace. */
  readonly resolvConf: string | undefined;
  /** Make a user namespace (mapping the caller to root) first; default: when not root. */
  readonly userNamespace?: boolean;
}

export interface LaunchedNamespace {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Lets CMD start (tslirp is attached). */
  go(): void;
  /** Makes the launcher give up without running CMD (it exits 125). */
  abort(): void;
}

/**
 * Spawns the launcher with stdin/stdout/stderr inherited and resolves once it is inside its new
 * namespaces, waiting for go(). Rejects (the child gone) if it exits first.
 */
export async function launchNamespace(options: LaunchOptions): Promise<LaunchedNamespace> {
  const user = options.userNamespace ?? process.getuid?.() !== 0;
  const args = [...(user ? ['--user', '--map-root-user'] : []), '--net', '--mount', '--', 'sh', '-c', LAUNCHER, 'tslirp-run', options.resolvConf ?? '', ...options.command];
  const child = spawn('unshare', args, { stdio: ['inherit', 'inherit', 'inherit', 'pipe', 'pipe'] });
  const goPipe = child.stdio[3] as Writable;
  const readyPipe = child.stdio[4] as Readable;
  goPipe.on('error', () => undefined); // the child may be gone: EPIPE is expected then
  readyPipe.on('error', () => undefined);
  const spawnError = new Promise<never>((_, reject) => child.once('error', (error) => reject(new Error(`cannot start unshare: ${error.message}`))));
  const ready = new Promise<void>((resolve, reject) => {
    readyPipe.once('data', () => resolve());
    child.once('exit', (code, signal) => reject(new Error(`could not create the namespaces (unshare exited ${code ?? signal})`)));
  });
  await Promise.race([ready, spawnError]);
  readyPipe.destroy();
  let released = false;
  return {
    child,
    pid: child.pid!,
    go: () => {
      if (released) return;
      released = true;
      goPipe.end('go\n');
    },
    abort: () => {
      if (released) return;
      released = true;
      goPipe.destroy();
    },
  };
}
