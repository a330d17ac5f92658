/**
 * TSLIRP_INJECT_FAULTS: lets tests run the real CLI with its TAP link wrapped in a FaultLink
 * (seeded drop, reorder, duplicate, one-bit corruption), to prove the engine against the real kernel
 * on a bad network. An environment variable, not a flag: `--help` must list only what slirp4netns
 * clients expect, and this is for tests only.
 *
 * Spec: comma-separated `key=value`, e.g. `seed=7,drop=0.01,reorder=0.02,duplicate=0.01,corrupt=0.01`.
 * - `drop`, `reorder`, `duplicate`, `corrupt`: probability per frame in [0, 1], both directions;
 * - `receive.KIND` / `transmit.KIND`: the same for one direction only (guest → engine / engine →
 *   guest), overriding the two-way value whatever the order;
 * - `seed`: integer 0 … 2^32−1 of the PRNG (default 1), so a failing run can be replayed;
 * - `distance`: frames a reordered frame waits behind (integer 1 … 1000, default 1);
 * - `hold`: milliseconds after which held (reordered) frames go anyway (integer 0 … 60000, default
 *   10; 0: no bound). FaultLink releases a held frame only when `distance` more frames pass; once
 *   traffic thins out (a peer in RTO backoff sends one segment per timeout) that is no reordering
 *   any more but a delay of seconds that grows with each backoff, and the run stalls for the
 *   link's sake, not the stack's.
 * - `host-write-throw-port`: host TCP port (1 … 65535) whose flows' host sockets throw on every
 *   write, standing in for a bug in one flow's handling: the engine must reset that flow and keep
 *   every other one (fault containment, test/e2e/robustness.test.ts).
 *
 * A bad spec is a FaultSpecError with a one-line message; the CLI reports it and exits 1 before it
 * touches any namespace. Corruption with offloads is refused: with virtio-net checksum offload the
 * checksums of our frames to the guest are left partial and filled in by the kernel after the bit was
 * flipped, so the corruption would reach the guest's sockets undetected (no real link does that).
 */
import type { FaultLinkOptions, FaultProbabilities } from '../link/fault-link.js';
import type { HostStream, HostTcpPort } from '../stack/tcp/host-tcp-port.js';

export const FAULTS_ENVIRONMENT_VARIABLE = 'TSLIRP_INJECT_FAULTS';

const KINDS = ['drop', 'reorder', 'duplicate', 'corrupt'] as const;
type FaultKind = (typeof KINDS)[number];
const DIRECTIONS = ['receive', 'transmit'] as const;
type Direction = (typeof DIRECTIONS)[number];

const DEFAULT_SEED = 1;
const MAX_DISTANCE = 1000;
const DEFAULT_HOLD_MS = 10;
const MAX_HOLD_MS = 60_000;

export class FaultSpecError extends Error {}

/** What FaultLink is built from; every probability filled in, so logs show the whole picture. */
export interface FaultSpec {
  readonly seed: number;
  readonly reorderDistance: number;
  /** Held frames are released after at most this long; 0: only by `reorderDistance`. */
  readonly holdMs: number;
  readonly receive: Readonly<Required<FaultProbabilities>>;
  readonly transmit: Readonly<Required<FaultProbabilities>>;
  /** Host TCP port whose flows' host writes throw; 0: none. */
  readonly hostWriteThrowPort: number;
}

function isKind(word: string): word is FaultKind {
  return (KINDS as readonly string[]).includes(word);
}

function isDirection(word: string): word is Direction {
  return (DIRECTIONS as readonly string[]).includes(word);
}

/** A decimal number, strictly: Number('') is 0 and Number('0x1') is 1, neither is a probability. */
function parseNumber(key: string, text: string): number {
  if (!/^(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/.test(text)) throw new FaultSpecError(`${key}: "${text}" is not a number`);
  return Number(text);
}

function parseProbability(key: string, text: string): number {
  const value = parseNumber(key, text);
  if (!(value >= 0 && value <= 1)) throw new FaultSpecError(`${key}: ${text} is not a probability in [0, 1]`);
  return value;
}

function parseInteger(key: string, text: string, min: number, max: number): number {
  const value = parseNumber(key, text);
  if (!Number.isInteger(value) || value < min || value > max) throw new FaultSpecError(`${key}: ${text} is not an integer in ${min} … ${max}`);
  return value;
}

/** Parses a spec (see the head comment); throws FaultSpecError with a one-line message. */
export function parseFaultSpec(text: string): FaultSpec {
  let seed = DEFAULT_SEED;
  let reorderDistance = 1;
  let holdMs = DEFAULT_HOLD_MS;
  let hostWriteThrowPort = 0;
  const both: Partial<Record<FaultKind, number>> = {};
  const one: Record<Direction, Partial<Record<FaultKind, number>>> = { receive: {}, transmit: {} };
  const seen = new Set<string>();
  const items = text.split(',').map((item) => item.trim());
  if (items.every((item) => item === '')) throw new FaultSpecError('empty spec');
  for (const item of items) {
    if (item === '') throw new FaultSpecError(`empty item in "${text}"`);
    const eq = item.indexOf('=');
    if (eq < 0) throw new FaultSpecError(`"${item}" is not key=value`);
    const key = item.slice(0, eq).trim();
    const value = item.slice(eq + 1).trim();
    if (seen.has(key)) throw new FaultSpecError(`${key} given twice`);
    seen.add(key);
    const dot = key.indexOf('.');
    if (key === 'seed') {
      seed = parseInteger(key, value, 0, 0xffffffff);
    } else if (key === 'distance') {
      reorderDistance = parseInteger(key, value, 1, MAX_DISTANCE);
    } else if (key === 'hold') {
      holdMs = parseInteger(key, value, 0, MAX_HOLD_MS);
    } else if (key === 'host-write-throw-port') {
      hostWriteThrowPort = parseInteger(key, value, 1, 65535);
    } else if (isKind(key)) {
      both[key] = parseProbability(key, value);
    } else if (dot > 0 && isDirection(key.slice(0, dot)) && isKind(key.slice(dot + 1))) {
      one[key.slice(0, dot) as Direction][key.slice(dot + 1) as FaultKind] = parseProbability(key, value);
    } else {
      throw new FaultSpecError(
        `unknown key "${key}" (known: seed, distance, hold, host-write-throw-port, ${KINDS.join(', ')}, and receive.KIND / transmit.KIND for one direction)`,
      );
    }
  }
  const direction = (d: Direction): Required<FaultProbabilities> => ({
    drop: one[d].drop ?? both.drop ?? 0,
    reorder: one[d].reorder ?? both.reorder ?? 0,
    duplicate: one[d].duplicate ?? both.duplicate ?? 0,
    corrupt: one[d].corrupt ?? both.corrupt ?? 0,
  });
  return { seed, reorderDistance, holdMs, receive: direction('receive'), transmit: direction('transmit'), hostWriteThrowPort };
}

/**
 * The spec in the environment, checked against the options it must run with; undefined when the
 * variable is unset or empty (an empty value is how a wrapper script turns it off).
 */
export function faultSpecFromEnvironment(env: NodeJS.ProcessEnv, options: { readonly offloads: boolean }): FaultSpec | undefined {
  const text = env[FAULTS_ENVIRONMENT_VARIABLE];
  if (text === undefined || text.trim() === '') return undefined;
  let spec: FaultSpec;
  try {
    spec = parseFaultSpec(text);
  } catch (error) {
    if (error instanceof FaultSpecError) throw new FaultSpecError(`${FAULTS_ENVIRONMENT_VARIABLE}: ${error.message}`);
    throw error;
  }
  if (options.offloads && (spec.receive.corrupt > 0 || spec.transmit.corrupt > 0)) {
    throw new FaultSpecError(
      `${FAULTS_ENVIRONMENT_VARIABLE}: corrupt needs --disable-offloads (with checksum offload a flipped bit would reach the guest undetected)`,
    );
  }
  return spec;
}

export function faultLinkOptions(spec: FaultSpec): FaultLinkOptions {
  return { seed: spec.seed, reorderDistance: spec.reorderDistance, receive: { ...spec.receive }, transmit: { ...spec.transmit } };
}

/** One line for the start-up warning, e.g. `seed=7 distance=1 hold=10ms; receive (…): drop=0.01 …; transmit …`. */
export function describeFaultSpec(spec: FaultSpec): string {
  const side = (p: Required<FaultProbabilities>): string => KINDS.map((k) => `${k}=${p[k]}`).join(' ');
  const throwing = spec.hostWriteThrowPort > 0 ? `; host writes to port ${spec.hostWriteThrowPort} throw` : '';
  return `seed=${spec.seed} distance=${spec.reorderDistance} hold=${spec.holdMs}ms; receive (guest → engine): ${side(spec.receive)}; transmit (engine → guest): ${side(spec.transmit)}${throwing}`;
}

/** The host TCP port with writes that throw on flows to hostPort (`host-write-throw-port`). */
export function withThrowingHostWrites(port: HostTcpPort, hostPort: number): HostTcpPort {
  return {
    connect(endpoint, events): HostStream {
      const stream = port.connect(endpoint, events);
      if (endpoint.port !== hostPort) return stream;
      stream.write = () => {
        throw new Error(`injected fault: host write to port ${hostPort}`);
      };
      return stream;
    },
  };
}
