/**
 * Runs the built tslirp executable as podman and RootlessKit do: bin/tslirp (the launcher, which
 * execs Node on dist/), extra fds for -r/-e as pipes, output collected, every process stopped by PID
 * in cleanup.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { join } from 'node:path';
import { asUser, IN_CI, OutputLog, REPO_ROOT, stopProcess, type RunAs } from './netns.js';

/** The executable clients run (network_cmd_path, --slirp4netns-binary): built by npm install. */
export const TSLIRP_BIN = join(REPO_ROOT, 'bin/tslirp');
/** The Node entry behind it (`node bin/tslirp.js`, also `tslirp run`). */
export const TSLIRP_NODE_ENTRY = join(REPO_ROOT, 'bin/tslirp.js');
const BUILT = [join(REPO_ROOT, 'dist/cli/main.js'), TSLIRP_BIN];

/** Why the built CLI cannot run, or undefined (CI builds before testing, so there it must exist). */
export function builtCliPrerequisite(): string | undefined {
  const missing = BUILT.filter((path) => !existsSync(path));
  if (missing.length === 0) return undefined;
  if (IN_CI) throw new Error(`${missing.join(', ')} missing: npm install builds bin/tslirp, npm test builds dist/ first`);
  return `not built: ${missing.join(', ')} (npm install; npm run build)`;
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

export interface StartOptions {
  readonly withExitFd?: boolean;
  readonly as?: RunAs;
  readonly env?: NodeJS.ProcessEnv;
  /** Another executable taking the same arguments (the real slirp4netns, as the reference). */
  readonly executable?: string;
  /** A command that execs the rest (e.g. dns-stub.ts's withResolvConf), so the PID stays tslirp's. */
  readonly prefix?: readonly string[];
}

/**
 * Spawns `bin/tslirp ARGS` with fd 3 as a pipe for the ready fd and, when withExitFd, fd 4 for the
 * exit fd. The child gets fds it may not use; that is harmless.
 */
export function startTslirp(args: readonly string[], options: StartOptions = {}): TslirpProcess {
  const stdio: ('ignore' | 'pipe')[] = ['ignore', 'pipe', 'pipe', 'pipe'];
  if (options.withExitFd) stdio.push('pipe');
  const prefixed = [...(options.prefix ?? []), options.executable ?? TSLIRP_BIN, ...args];
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
