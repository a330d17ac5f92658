/**
 * What the launcher (native/launcher.c, bin/tslirp) hands to the Node process it execs: the TAP it
 * already attached, the attach request it attached with (to be compared with ours), the API socket
 * it bound (listening before the TAP existed, as slirp4netns's tests expect), the sandbox's
 * pivot helper, and when it started (start-up stages are logged at debug level from there).
 *
 * Read once, from TSLIRP_LAUNCHER_HANDOFF (JSON), and removed from the environment at once so that
 * nothing this process starts inherits it. The launcher never passes on a value it did not set
 * itself; the TAP fd is checked with the kernel all the same before it is used (tap-link.ts adoptTap).
 *
 * Pure (no addon, no engine): main.ts reads it before parsing, on the path `--help` also takes.
 */
import type { OpenTapOptions } from '../link/tap-options.js';
import type { NativeAttachRequest } from '../native/native-addon.js';
import type { CliOptions } from './options.js';

export const HANDOFF_VARIABLE = 'TSLIRP_LAUNCHER_HANDOFF';
const HANDOFF_VERSION = 2;

export interface LauncherHandoff {
  readonly tap: { readonly fd: number; readonly ifname: string; readonly vnetHdrSize: number; readonly offloads: number };
  /** attachRequestKey() of the request the launcher attached with. */
  readonly request: string;
  /** Set with --enable-sandbox: the launcher made the mount namespace and dropped the capabilities. */
  readonly sandbox: { readonly helperFd: number; readonly userns: 'kept' | 'joined' | 'created' } | undefined;
  /** With --api-socket: the socket the launcher bound and listens on (before the TAP existed). */
  readonly apiFd: number | undefined;
  /** CLOCK_MONOTONIC (process.hrtime.bigint()) when the launcher started, and when the TAP was attached. */
  readonly startedNs: bigint;
  readonly attachedNs: bigint;
}

/** A handoff that does not parse: a launcher of another version, or a bug; never guessed at. */
export class HandoffError extends Error {}

function isFd(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value < 2 ** 31;
}

function nanoseconds(value: unknown): bigint {
  if (typeof value !== 'string' || !/^\d{1,20}$/.test(value)) throw new HandoffError(`bad time "${String(value)}"`);
  return BigInt(value);
}

export function parseHandoff(text: string): LauncherHandoff {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new HandoffError('not JSON');
  }
  const value = raw as Record<string, unknown> | null;
  if (typeof value !== 'object' || value === null || value.v !== HANDOFF_VERSION) throw new HandoffError(`not version ${HANDOFF_VERSION}`);
  const tap = value.tap as Record<string, unknown> | null;
  if (
    typeof tap !== 'object' ||
    tap === null ||
    !isFd(tap.fd) ||
    typeof tap.ifname !== 'string' ||
    !isFd(tap.vnetHdrSize) ||
    !isFd(tap.offloads) ||
    typeof value.request !== 'string'
  ) {
    throw new HandoffError('bad tap or request');
  }
  let sandbox: LauncherHandoff['sandbox'];
  if (value.sandbox !== null) {
    const s = value.sandbox as Record<string, unknown> | undefined;
    if (typeof s !== 'object' || !isFd(s.helperFd) || (s.userns !== 'kept' && s.userns !== 'joined' && s.userns !== 'created')) {
      throw new HandoffError('bad sandbox');
    }
    sandbox = { helperFd: s.helperFd, userns: s.userns };
  }
  if (value.apiFd !== null && !isFd(value.apiFd)) throw new HandoffError('bad apiFd');
  return {
    tap: { fd: tap.fd, ifname: tap.ifname, vnetHdrSize: tap.vnetHdrSize, offloads: tap.offloads },
    request: value.request,
    sandbox,
    apiFd: value.apiFd === null ? undefined : (value.apiFd as number),
    startedNs: nanoseconds(value.startedNs),
    attachedNs: nanoseconds(value.attachedNs),
  };
}

/** Takes the handoff out of env (deleting it there); undefined when Node was not started by the launcher. */
export function takeHandoff(env: NodeJS.ProcessEnv): LauncherHandoff | undefined {
  const text = env[HANDOFF_VARIABLE];
  delete env[HANDOFF_VARIABLE];
  if (text === undefined) return undefined;
  try {
    return parseHandoff(text);
  } catch (error) {
    throw new HandoffError(`${HANDOFF_VARIABLE}: ${(error as Error).message} (is bin/tslirp from another build? run "npm run build:native")`);
  }
}

/** One line naming an attach request completely; native/launcher_args.c launcher_request_key() writes the same. */
export function attachRequestKey(request: NativeAttachRequest): string {
  const userns = `${request.usernsMode}:${request.usernsMode === 0 /* UsernsMode.None */ ? '' : (request.usernsPath ?? '')}`;
  const head = `netns=${request.netnsPath};userns=${userns};tap=${request.tapName};vnet=${request.vnetHdr ? 1 : 0}`;
  const c = request.configure;
  if (c === undefined) return `${head};configure=-`;
  const mac = c.mac === undefined ? '-' : [...c.mac].map((b) => b.toString(16).padStart(2, '0')).join('');
  return `${head};configure=${c.mtu},${c.address},${c.netmask},${c.gateway},${mac}`;
}

/** The TAP the command line asks for (what the launcher attached, if it did). */
export function tapOptionsFromCli(options: CliOptions): OpenTapOptions {
  return {
    target: options.netnsType === 'pid' ? { pid: Number(options.target) } : { path: options.target },
    usernsPath: options.usernsPath,
    tapName: options.tapName,
    configure: options.configure ? { mtu: options.mtu, macAddress: options.macAddress, cidr: options.cidr } : undefined,
    offloads: options.offloads,
    mtu: options.mtu,
  };
}
