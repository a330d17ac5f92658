/**
 * What `--enable-sandbox` and `--enable-seccomp` do in tslirp (podman passes both by default), applied
 * once the TAP is attached, on every thread of the process (native/sandbox.c):
 *
 * - `--enable-sandbox`: no_new_privs (no exec'd program can gain privileges through setuid bits or
 *   file capabilities); when running as root, every capability is dropped except
 *   CAP_NET_BIND_SERVICE (published ports below 1024), from the bounding set too. slirp4netns also
 *   moves into a fresh mount namespace holding only /etc and /run; a multi-threaded process cannot
 *   unshare its mount namespace, so tslirp does not (said on stderr). Node's inspector signal thread
 *   blocks every signal and so keeps its capabilities; it only waits on a semaphore and runs no JS.
 * - `--enable-seccomp`: no_new_privs and a seccomp deny-list (EPERM) of the system calls a relay never
 *   needs after attach: mount/namespace/module/kexec/ptrace/bpf/keyring/clock-setting calls and every
 *   foreign-ABI call. slirp4netns uses an allow-list; a deny-list is what is safe under V8 and libuv,
 *   whose exact system calls change with Node releases.
 *
 * Returns the lines to print on stderr; throws when a requested restriction cannot be applied
 * (starting unsandboxed when the caller asked for a sandbox would be worse than not starting).
 */
import { loadNativeAddon, type NativeAddon } from '../native/native-addon.js';

/** The part of the addon the sandbox uses (tests pass a fake). */
export type SandboxAddon = Pick<NativeAddon, 'sandboxApply'>;

export interface SandboxRequest {
  readonly sandbox: boolean;
  readonly seccomp: boolean;
}

export function applySandbox(request: SandboxRequest, addon: SandboxAddon = loadNativeAddon()): string[] {
  if (!request.sandbox && !request.seccomp) return [];
  const root = process.geteuid?.() === 0;
  const result = addon.sandboxApply({ noNewPrivs: true, dropCapabilities: request.sandbox && root, seccomp: request.seccomp });
  const lines: string[] = [];
  if (request.sandbox) {
    lines.push(
      `sandbox: no_new_privs set on ${result.threads} threads${root ? '; capabilities dropped except CAP_NET_BIND_SERVICE' : ''}` +
        ' (no private mount namespace: not possible in a multi-threaded process)',
    );
    if (result.unreachable > 0) {
      lines.push(`sandbox: ${result.unreachable} thread(s) block every signal (Node's inspector signal thread; it runs no JS) and keep their capabilities`);
    }
  }
  if (request.seccomp) {
    lines.push(result.seccomp ? 'seccomp: deny-list filter installed on all threads' : 'WARNING: seccomp: no filter for this architecture (no_new_privs only)');
  }
  return lines;
}
