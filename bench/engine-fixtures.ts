/**
 * What the engine-alone benchmarks (engine-path, connection-path, rr-path) share: the guest's and
 * the gateway's addresses, the `--baseline=DIR` argument, the median of rounds, and a host port that takes one flow's
 * writes and counts their bytes (no kernel behind it).
 */
import type { HostStream, HostStreamEvents, HostTcpPort } from '../src/stack/tcp/host-tcp-port.js';
import { ETHERNET_HEADER_LENGTH } from '../src/wire/ethernet.js';
import { IPV4_HEADER_LENGTH } from '../src/wire/ipv4.js';
import { rejectUnknownArgs } from './bench-args.js';

export const GUEST_MAC = 0x0200_0000_0100;
export const GATEWAY_MAC = 0x5255_0a00_0202;
/** 10.0.2.100 and 10.0.2.2, slirp4netns's guest and gateway. */
export const GUEST = 0x0a000264;
export const GATEWAY = 0x0a000202;
/** Where the TCP header starts in a guest frame (Ethernet + an IPv4 header without options). */
export const IP_OFFSET = ETHERNET_HEADER_LENGTH + IPV4_HEADER_LENGTH;

/** The benchmark's only argument, `--baseline=DIR` (another checkout to run beside this one); anything else exits with usage. */
export function baselineArgument(usage: string): string | undefined {
  const argv = process.argv.slice(2);
  rejectUnknownArgs(argv, /^--baseline=\S+$/, usage);
  return argv.find((a) => a.startsWith('--baseline='))?.slice('--baseline='.length);
}

/** A host port for one flow: connect() hands back a stream that counts the bytes written to the host. */
export interface CountingHostPort {
  readonly hostPort: HostTcpPort;
  /** The flow's host events, once the engine has connected. */
  events(): HostStreamEvents;
  /** Bytes the engine has written to the host so far. */
  hostBytes(): number;
}

export function countingHostPort(): CountingHostPort {
  let events: HostStreamEvents | undefined;
  let hostBytes = 0;
  const stream: HostStream = {
    write(data: Uint8Array) {
      hostBytes += data.length;
    },
    pendingWriteBytes: 0,
    end() {},
    reset() {},
    destroy() {},
    pause() {},
    resume() {},
  };
  return {
    hostPort: {
      connect(_endpoint, e) {
        events = e;
        return stream;
      },
    },
    events() {
      if (events === undefined) throw new Error('the engine has not connected to the host yet');
      return events;
    },
    hostBytes: () => hostBytes,
  };
}

/** The middle value (the upper one of an even count). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}
