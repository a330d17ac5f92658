/**
 * TSLIRP_PCAP_RING: keeps the last frames to and from the guest in memory (PcapRingLink) so that
 * the `debug_pcap` API request can write them to a file when something went wrong, e.g. a flow that
 * stopped making progress (issue 17's soak harness). An environment variable, not a flag, like
 * TSLIRP_INJECT_FAULTS: `--help` lists only what slirp4netns clients expect.
 *
 * Spec: `1` / `on` for the defaults, or comma-separated `key=value`:
 * - `dir`: where debug_pcap writes its files (default: the OS temporary directory); files are named
 *   `tslirp-ring-PID-N.pcap`, mode 0600; the API client never chooses a path;
 * - `mb`: memory for the ring in MiB (1 … 1024, default 32);
 * - `seconds`: a dump leaves out frames older than this (1 … 3600, default 30);
 * - `snaplen`: bytes kept per frame (64 … 65535, default 160: every header, no payload).
 * A bad spec is a PcapRingSpecError with a one-line message; the CLI reports it and exits 1.
 */
import { tmpdir } from 'node:os';

export const PCAP_RING_ENVIRONMENT_VARIABLE = 'TSLIRP_PCAP_RING';

/** Defaults (main.ts imports this file statically: no link code here, --help stays fast). */
const DEFAULT_MB = 32;
const DEFAULT_SECONDS = 30;
const DEFAULT_SNAPLEN = 160;

export class PcapRingSpecError extends Error {}

export interface PcapRingSpec {
  readonly dir: string;
  readonly maxBytes: number;
  readonly maxSeconds: number;
  readonly snaplen: number;
}

function integer(key: string, text: string, min: number, max: number): number {
  const value = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!(value >= min && value <= max)) throw new PcapRingSpecError(`${PCAP_RING_ENVIRONMENT_VARIABLE}: ${key}: "${text}" is not an integer in ${min} … ${max}`);
  return value;
}

/** The spec in the environment; undefined when the variable is unset or empty. */
export function pcapRingSpecFromEnvironment(env: NodeJS.ProcessEnv): PcapRingSpec | undefined {
  const text = env[PCAP_RING_ENVIRONMENT_VARIABLE]?.trim();
  if (text === undefined || text === '') return undefined;
  let dir = tmpdir();
  let maxBytes = DEFAULT_MB * 1024 * 1024;
  let maxSeconds = DEFAULT_SECONDS;
  let snaplen = DEFAULT_SNAPLEN;
  if (text !== '1' && text !== 'on') {
    for (const item of text.split(',')) {
      const eq = item.indexOf('=');
      if (eq < 0) throw new PcapRingSpecError(`${PCAP_RING_ENVIRONMENT_VARIABLE}: "${item}" is not key=value`);
      const key = item.slice(0, eq).trim();
      const value = item.slice(eq + 1).trim();
      if (key === 'dir') {
        if (!value.startsWith('/')) throw new PcapRingSpecError(`${PCAP_RING_ENVIRONMENT_VARIABLE}: dir must be an absolute path`);
        dir = value;
      } else if (key === 'mb') maxBytes = integer(key, value, 1, 1024) * 1024 * 1024;
      else if (key === 'seconds') maxSeconds = integer(key, value, 1, 3600);
      else if (key === 'snaplen') snaplen = integer(key, value, 64, 65535);
      else throw new PcapRingSpecError(`${PCAP_RING_ENVIRONMENT_VARIABLE}: unknown key "${key}" (known: dir, mb, seconds, snaplen)`);
    }
  }
  return { dir, maxBytes, maxSeconds, snaplen };
}
