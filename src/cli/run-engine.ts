/**
 * Assembles the engine on an open Link for `tslirp run`, the same way the slirp4netns-compatible CLI
 * (main.ts) does: the Stack, the transports and services from engines.ts (installEngines: TCP, UDP,
 * DHCP, DNS relay, ICMP echo), the published-port table, and the counters get_stats reads.
 */
import type { StatsSource } from '../api/stats-request.js';
import type { HostfwdControl } from '../hostfwd/hostfwd-control.js';
import { HostfwdTable } from '../hostfwd/hostfwd-table.js';
import type { Link } from '../link/link.js';
import { SystemClock } from '../stack/clock.js';
import type { HostEndpoint } from '../stack/host-address-map.js';
import type { Logger } from '../stack/logger.js';
import { Stack } from '../stack/stack.js';
import { installEngines } from './engines.js';

export interface EngineOptions {
  readonly mtu: number;
  readonly disableHostLoopback: boolean;
  /** The resolver 10.0.2.3 forwards to; undefined: the host's resolv.conf. */
  readonly dnsUpstream: HostEndpoint | undefined;
  readonly logger: Logger;
}

export interface RunningEngine {
  readonly stack: Stack;
  readonly hostfwd: HostfwdControl;
  readonly stats: StatsSource;
  /** Names of the engine parts running (engines.ts). */
  readonly parts: readonly string[];
  /** Closes published ports, host sockets and the link. */
  close(): Promise<void>;
}

export async function startEngine(link: Link, options: EngineOptions): Promise<RunningEngine> {
  const { logger } = options;
  const stack = new Stack(link, {
    config: { mtu: options.mtu, disableHostLoopback: options.disableHostLoopback },
    clock: new SystemClock(),
    logger,
  });
  try {
    const engines = await installEngines(stack, { outboundAddr: undefined, outboundAddr6: undefined, dnsUpstream: options.dnsUpstream, logger });
    const hostfwd = new HostfwdTable({ config: stack.config, connector: engines.connector, clock: stack.clock, logger });
    stack.start();
    const stats: StatsSource = {
      engine: () => stack.stats.snapshot(),
      tcpFlows: engines.tcpFlows,
      udpBindings: engines.udpBindings,
      forwards: () => hostfwd.list().length,
      startedAtMs: Date.now(),
    };
    return {
      stack,
      hostfwd,
      stats,
      parts: engines.parts,
      close: async () => {
        try {
          await hostfwd.close();
        } finally {
          stack.close();
        }
      },
    };
  } catch (error) {
    stack.close();
    throw error;
  }
}
