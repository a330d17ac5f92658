/**
 * Assembles the engine on an open Link for `tslirp run`: the Stack and whatever transports,
 * services and published-port table exist, plus the counters get_stats reads.
 *
 * This is the one place `run` learns which engine parts exist. The TCP engine (src/stack/tcp), the
 * UDP engine (src/stack/udp), the DNS forwarder and the hostfwd table are plugged in here as they
 * land; until the TCP engine exists, `hostfwd` is undefined and run refuses `-p`. The
 * slirp4netns-compatible CLI (src/cli/main.ts) needs the same assembly: the two should share it.
 */
import type { HostfwdControl } from '../hostfwd/hostfwd-control.js';
import type { Link } from '../link/link.js';
import type { StatsSource } from '../api/stats-request.js';
import { SystemClock } from '../stack/clock.js';
import type { Logger } from '../stack/logger.js';
import { Stack } from '../stack/stack.js';

export interface EngineOptions {
  readonly mtu: number;
  readonly disableHostLoopback: boolean;
  /** "ADDR[:PORT]" the DNS forwarder at 10.0.2.3 uses; undefined: the host's resolv.conf. */
  readonly dnsUpstream: string | undefined;
  readonly logger: Logger;
}

export interface RunningEngine {
  readonly stack: Stack;
  /** The published-port table; undefined while no TCP engine is plugged in. */
  readonly hostfwd: HostfwdControl | undefined;
  readonly stats: StatsSource;
  /** Closes published ports, host sockets and the link. */
  close(): Promise<void>;
}

export async function startEngine(link: Link, options: EngineOptions): Promise<RunningEngine> {
  const stack = new Stack(link, {
    config: { mtu: options.mtu, disableHostLoopback: options.disableHostLoopback },
    clock: new SystemClock(),
    logger: options.logger,
  });
  stack.start();
  const startedAtMs = Date.now();
  const stats: StatsSource = { engine: () => stack.stats.snapshot(), startedAtMs };
  return {
    stack,
    hostfwd: undefined,
    stats,
    close: async () => {
      stack.close();
    },
  };
}
