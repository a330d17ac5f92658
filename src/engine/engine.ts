/**
 * The one assembly of a running network, used by both command lines (src/cli/main.ts, `tslirp run`)
 * and by embedders (src/index.ts): on a given Link (TAP, memory, anything), an optional pcap tee →
 * the Stack → TCP, UDP, DHCP, DNS relay and ICMP echo forwarding on Node host sockets
 * (install-engines.ts) → the published-port table → the counters `get_stats` reads.
 *
 * Opening the link, the sandbox, the API socket and the process's lifecycle stay with the caller:
 * createEngine does not start reading frames (start() does), so a caller can sandbox itself first.
 * Must never: know about processes, fds or options syntax; leave the link open when it fails.
 */
import type { DebugSource } from '../api/debug-request.js';
import type { BusyPollCounters, StatsSource } from '../api/stats-request.js';
import type { HostfwdControl } from '../hostfwd/hostfwd-control.js';
import { HostfwdTable } from '../hostfwd/hostfwd-table.js';
import type { Link } from '../link/link.js';
import type { PcapLink, PcapLinkOptions } from '../link/pcap-link.js';
import type { Clock } from '../stack/clock.js';
import type { NetworkConfigInput } from '../stack/config.js';
import type { HostEndpoint } from '../stack/host-address-map.js';
import { silentLogger, type Logger } from '../stack/logger.js';
import { Stack } from '../stack/stack.js';
import type { HostTcpPort } from '../stack/tcp/host-tcp-port.js';
import { installEngines } from './install-engines.js';
import { MemoryReturn } from './memory-return.js';

export interface EngineOptions {
  /** The virtual network (slirp4netns defaults: 10.0.2.0/24; the MTU defaults to the link's). */
  readonly config?: NetworkConfigInput;
  /** Real time unless given (a FakeClock in tests). */
  readonly clock?: Clock;
  /** Silent unless given. */
  readonly logger?: Logger;
  /** Local addresses host sockets bind to (--outbound-addr, --outbound-addr6). */
  readonly outboundAddr?: string;
  readonly outboundAddr6?: string;
  /** The resolver 10.0.2.3 relays to; undefined: the first nameserver of /etc/resolv.conf. */
  readonly dnsUpstream?: HostEndpoint;
  /** Tee every frame into this capture (innermost decorators, such as a FaultLink, are the caller's). */
  readonly pcap?: PcapLinkOptions;
  /** Tests only (TSLIRP_INJECT_FAULTS): wraps the host TCP port, e.g. to make one port's writes throw. */
  readonly wrapTcpPort?: (port: HostTcpPort) => HostTcpPort;
  /**
   * Gives the process's free memory back to the kernel (the CLIs: glibc's malloc_trim through the
   * addon); called once after each burst of traffic is over (memory-return.ts). None by default.
   */
  readonly releaseMemory?: () => void;
  /** The event loop's busy-polling counters, for get_stats (the CLIs: the addon's). None by default. */
  readonly busyPoll?: () => BusyPollCounters;
}

export interface Engine {
  readonly stack: Stack;
  /** Published ports (what the API socket's add_hostfwd/list_hostfwd/remove_hostfwd drive). */
  readonly hostfwd: HostfwdControl;
  /** The counters get_stats reports (the capture's too, with the pcap option). */
  readonly stats: StatsSource;
  /** Engine internals for the debug_flows API request (every TCP flow's state). */
  readonly debug: DebugSource;
  /** Names of the engine parts running: tcp, udp, dhcp, dns, icmp. */
  readonly parts: readonly string[];
  /** Starts reading frames from the link. */
  start(): void;
  /** Closes published ports, host sockets and the link, then waits for the capture to reach its file. */
  close(): Promise<void>;
}

export async function createEngine(link: Link, options: EngineOptions = {}): Promise<Engine> {
  const logger = options.logger ?? silentLogger();
  let tapped = link;
  let stack: Stack | undefined;
  try {
    let capture: PcapLink | undefined;
    if (options.pcap !== undefined) {
      const { PcapLink } = await import('../link/pcap-link.js');
      capture = new PcapLink(link, { onStop: (reason) => logger.warn({ reason }, 'pcap capture stopped'), ...options.pcap });
      tapped = capture;
    }
    const running = new Stack(tapped, { config: options.config, clock: options.clock, logger });
    stack = running;
    const engines = await installEngines(running, {
      outboundAddr: options.outboundAddr,
      outboundAddr6: options.outboundAddr6,
      dnsUpstream: options.dnsUpstream,
      logger,
      wrapTcpPort: options.wrapTcpPort,
    });
    if (options.releaseMemory !== undefined) {
      const memoryReturn = new MemoryReturn(running.clock, running.stats, options.releaseMemory);
      running.addBatchObserver(memoryReturn);
      running.onClose(() => memoryReturn.close());
    }
    const hostfwd = new HostfwdTable({ config: running.config, connector: engines.connector, clock: running.clock, logger });
    const pcap = capture;
    const stats: StatsSource = {
      engine: () => running.stats.snapshot(),
      tcpFlows: engines.tcpFlows,
      udpBindings: engines.udpBindings,
      forwards: () => hostfwd.list().length,
      pcap: pcap && (() => pcap.stats()),
      startedAtMs: Date.now(),
      memory: () => process.memoryUsage(),
      busyPoll: options.busyPoll,
    };
    return {
      stack: running,
      hostfwd,
      stats,
      debug: { flows: engines.tcpDebug },
      parts: engines.parts,
      start: () => running.start(),
      close: async () => {
        try {
          await hostfwd.close();
        } finally {
          running.close(); // closes the link (and the capture, which then writes what it holds)
          await pcap?.whenClosed();
        }
      },
    };
  } catch (error) {
    if (stack !== undefined) stack.close();
    else tapped.close();
    throw error;
  }
}
