/**
 * What `--enable-sandbox` and `--enable-seccomp` do in tslirp (podman passes both by default), applied
 * once the TAP is attached and the API socket listens (slirp4netns binds it before its sandbox too:
 * the socket's path may lie outside the sandbox's root), before the TAP reader starts.
 *
 * `--enable-sandbox`, started through the launcher (bin/tslirp, the executable clients run): the
 * launcher already did what needs a single-threaded process (native/launcher_sandbox.c): not root,
 * it joined the target's user namespace as its root (as slirp4netns); it made a private mount
 * namespace; it dropped every capability but CAP_NET_BIND_SERVICE and set no_new_privs before exec,
 * so no thread of Node ever held more. Here, with every module loaded, the launcher's pivot helper
 * builds a root holding only /etc and /run and pivots the whole namespace into it: from then on this
 * process can open nothing else, so nothing may be imported after this point. Same sandbox as
 * slirp4netns 1.2.1.
 *
 * `--enable-sandbox` without the launcher (`node bin/tslirp.js …`): no_new_privs on every thread;
 * when running as root, every capability dropped except CAP_NET_BIND_SERVICE, from the bounding set
 * too (native/sandbox.c, thread by thread). No private mount namespace: a multi-threaded process
 * cannot make one for all its threads (said on stderr). Node's inspector signal thread blocks every
 * signal and so keeps its capabilities; it only waits on a semaphore and runs no JS.
 *
 * `--enable-seccomp`: no_new_privs and a seccomp deny-list (EPERM) of the system calls a relay never
 * needs after attach: mount/namespace/module/kexec/ptrace/bpf/keyring/clock-setting calls and every
 * foreign-ABI call, on all threads. slirp4netns uses an allow-list; a deny-list is what is safe under
 * V8 and libuv, whose exact system calls change with Node releases.
 *
 * Throws when a requested restriction cannot be applied (starting unsandboxed when the caller asked
 * for a sandbox would be worse than not starting).
 */
import { closeSync } from 'node:fs';
import { loadNativeAddon, type NativeAddon } from '../native/native-addon.js';

/** The part of the addon the sandbox uses (tests pass a fake). */
export type SandboxAddon = Pick<NativeAddon, 'sandboxApply' | 'sandboxPivot' | 'sandboxRemoveApiSocket'>;

/** What the launcher prepared (launcher-handoff.ts). */
export interface LauncherSandbox {
  readonly helperFd: number;
  readonly userns: 'kept' | 'joined' | 'created';
}

export interface SandboxRequest {
  readonly sandbox: boolean;
  readonly seccomp: boolean;
  /** Set when the launcher prepared the sandbox (only with `sandbox`). */
  readonly launcher?: LauncherSandbox;
}

const USERNS_WORDS: Record<LauncherSandbox['userns'], string> = {
  kept: 'in its own user namespace',
  joined: "in the target's user namespace",
  created: 'in a user namespace of its own making',
};

function seccompLine(installed: boolean): string {
  return installed ? 'seccomp: deny-list filter installed on all threads' : 'WARNING: seccomp: no filter for this architecture (no_new_privs only)';
}

/** The launcher's sandbox: enter the minimal root (this process's working directory becomes "/"), then seccomp. */
function enterLauncherSandbox(request: SandboxRequest, launcher: LauncherSandbox, addon: SandboxAddon): string[] {
  // pivot_root moves the root and working directory of the tasks that use the old root: "/" both.
  process.chdir('/');
  const notes = addon.sandboxPivot(launcher.helperFd);
  const lines = [
    `sandbox: ${USERNS_WORDS[launcher.userns]}, in a private mount namespace whose root holds only /etc and /run (read-only); ` +
      'capabilities: CAP_NET_BIND_SERVICE only; no_new_privs',
    ...notes.split('\n').filter((line) => line !== ''),
  ];
  // no_new_privs is set on every thread already (the launcher set it before exec); the filter syncs itself.
  if (request.seccomp) lines.push(seccompLine(addon.sandboxApply({ noNewPrivs: false, dropCapabilities: false, seccomp: true }).seccomp));
  return lines;
}

export function applySandbox(request: SandboxRequest, addon: SandboxAddon = loadNativeAddon()): string[] {
  if (!request.sandbox && !request.seccomp) return [];
  if (request.sandbox && request.launcher !== undefined) return enterLauncherSandbox(request, request.launcher, addon);
  const root = process.geteuid?.() === 0;
  const result = addon.sandboxApply({ noNewPrivs: true, dropCapabilities: request.sandbox && root, seccomp: request.seccomp });
  const lines: string[] = [];
  if (request.sandbox) {
    lines.push(
      `sandbox: no_new_privs set on ${result.threads} threads${root ? '; capabilities dropped except CAP_NET_BIND_SERVICE' : ''}` +
        ' (no private mount namespace: start tslirp as bin/tslirp for the whole sandbox)',
    );
    if (result.unreachable > 0) {
      lines.push(`sandbox: ${result.unreachable} thread(s) block every signal (Node's inspector signal thread; it runs no JS) and keep their capabilities`);
    }
  }
  if (request.seccomp) lines.push(seccompLine(result.seccomp));
  return lines;
}

/**
 * At exit, after the API server closed: an orderly exit asks the launcher's helper to remove the API
 * socket file (the sandbox's root does not show it); any exit lets the helper go. Never throws.
 */
export function releaseLauncherSandbox(launcher: LauncherSandbox, removeApiSocket: boolean, addon: SandboxAddon = loadNativeAddon()): void {
  try {
    if (removeApiSocket) addon.sandboxRemoveApiSocket(launcher.helperFd);
    else closeSync(launcher.helperFd);
  } catch {
    // the helper is gone already: nothing left to release
  }
}
