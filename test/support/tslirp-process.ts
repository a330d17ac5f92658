/**
 * Runs the built tslirp executable (bin/tslirp.js → dist/) as podman and RootlessKit do: extra fds
 * for -r/-e as pipes, output collected, every process stopped by PID in cleanup.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { join } from 'node:path';
import { asUser, IN_CI, OutputLog, REPO_ROOT, stopProcess, type RunAs } from './netns.js';

export const TSLIRP_BIN = join(REPO_ROOT, 'bin/tslirp.js');
const BUILT = join(REPO_ROOT, 'dist/cli/main.js');

/** Why the built CLI cannot run, or undefined (CI builds before testing, so there it must exist). */
export function builtCliPrerequisite(): string | undefined {
  if (existsSync(BUILT)) return undefined;
  if (IN_CI) throw new Error('dist/cli/main.js missing: npm test builds it first');
  return 'dist/ not built (npm run build)';
}

export interface TslirpProcess {
  readonly child: ChildProcess;
  readonly log: OutputLog;
  /** Resolves with what the ready fd (fd 3) received when it was closed. */
  readonly ready: Promise<string>;
  /** The writing end of the exit fd (fd 4); destroy it to hang up. */
  readonly exitFd: Writable | undefined;
}

const started = new Set<ChildProcess>();

/**
 * Spawns `node bin/tslirp.js ARGS` (after `prefix`, when given) with fd 3 as a pipe for the ready fd and, when withExitFd, fd 4
 * for the exit fd. The child gets fds it may not use; that is harmless.
 */
export function startTslirp(
  args: readonly string[],
  options: { withExitFd?: boolean; as?: RunAs; env?: NodeJS.ProcessEnv; prefix?: readonly string[] } = {},
): TslirpProcess {
  const stdio: ('ignore' | 'pipe')[] = ['ignore', 'pipe', 'pipe', 'pipe'];
  if (options.withExitFd) stdio.push('pipe');
  // prefix: a command that execs the rest (e.g. dns-stub.ts's withResolvConf), so the PID stays tslirp's.
  const prefixed = [...(options.prefix ?? []), process.execPath, TSLIRP_BIN, ...args];
  const [command, argv] = asUser(options.as, prefixed[0], prefixed.slice(1));
  const child = spawn(command, argv, { stdio, cwd: REPO_ROOT, env: options.env ?? process.env });
  started.add(child);
  child.once('exit', () => started.delete(child));
  const log = new OutputLog(child);
  const readyStream = child.stdio[3] as Readable;
  const ready = new Promise<string>((resolve) => {
    let text = '';
    readyStream.on('data', (d: Buffer) => (text += d.toString()));
    readyStream.on('error', () => resolve(text));
    readyStream.on('close', () => resolve(text));
  });
  return { child, log, ready, exitFd: options.withExitFd ? (child.stdio[4] as Writable) : undefined };
}

/** Stops every tslirp started by startTslirp (SIGTERM, then SIGKILL). */
export async function stopAllTslirp(): Promise<void> {
  await Promise.all([...started].map((child) => stopProcess(child, 3000)));
}
