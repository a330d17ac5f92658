/**
 * `get_stats`, our API request beyond slirp4netns: `{"execute":"get_stats"}` answers
 * `{"return":{"frames_in":…,"bytes_in":…,"frames_out":…,"bytes_out":…,"drops":{"bad_checksum":3,…},
 * "drops_total":…,"faults":…,"tcp_flows":…,"udp_bindings":…,"forwards":…,"uptime_seconds":…,
 * "memory":{"rss":…,"heap_total":…,"heap_used":…,"external":…,"array_buffers":…}}}` (plus "busy_poll":{…}
 * while the event loop busy-polls, "pcap":{…}
 * while capturing, "ipv6":{"frames_in","frames_out","mld_in"} with IPv6 on, "icmp_errors":{"sent",
 * "rate_limited"} once one was sent, "igmp_in" once the guest sent IGMP; memory in bytes, as process.memoryUsage() sees it: where the RSS goes). Keys are snake_case as in the rest of the slirp4netns API; a counter the running
 * engine does not have yet (no TCP engine plugged in) is absent rather than a made-up 0.
 *
 * Knows no sockets and no packets: it reads counters through a StatsSource that the assembled engine
 * (src/engine/engine.ts) fills in. Must never throw: a failing source is answered with an error object.
 */
import type { StatsSnapshot } from '../stack/stats.js';

/** What the engine and its parts report; each optional part is left out when absent. */
export interface StatsSource {
  /** The stack's frame/byte/drop counters (Stack.stats.snapshot()). */
  readonly engine: () => StatsSnapshot;
  /** Open TCP flows (the TCP engine's table size). */
  readonly tcpFlows?: () => number;
  /** Open UDP bindings. */
  readonly udpBindings?: () => number;
  /** Published ports (HostfwdControl.list().length). */
  readonly forwards?: () => number;
  /** The pcap tee's counters, while `--pcap` is on. */
  readonly pcap?: () => { recordsWritten: number; bytesWritten: number; recordsDroppedQueueFull: number; recordsDroppedStopped: number };
  /** Milliseconds since the engine started (wall clock), for the uptime line. */
  readonly startedAtMs?: number;
  /** The process's memory (process.memoryUsage()). */
  readonly memory?: () => { rss: number; heapTotal: number; heapUsed: number; external: number; arrayBuffers: number };
  /** The event loop's busy-polling, while it is on (the CLIs: the addon's counters). */
  readonly busyPoll?: () => BusyPollCounters;
}

/** What busy-polling of the event loop did so far (native/busy_poll.h). */
export interface BusyPollCounters {
  readonly windowNs: number;
  readonly maxNs: number;
  readonly waits: number;
  readonly hits: number;
  readonly blocks: number;
  readonly spinNs: number;
  readonly backoffs: number;
  readonly unmeasured: number;
}

/** The `return` object of a get_stats answer. */
export interface StatsReport {
  frames_in: number;
  bytes_in: number;
  frames_out: number;
  bytes_out: number;
  drops: Record<string, number>;
  drops_total: number;
  faults: number;
  tcp_flows?: number;
  udp_bindings?: number;
  forwards?: number;
  uptime_seconds?: number;
  pcap?: { records_written: number; bytes_written: number; records_dropped_queue_full: number; records_dropped_stopped: number };
  /** With IPv6 on: the IPv6 frames among frames_in and frames_out. */
  ipv6?: { frames_in: number; frames_out: number; mld_in?: number };
  /** IGMP messages from the guest (taken and ignored), once there was one. */
  igmp_in?: number;
  /** ICMP errors sent to the guest and held back by the rate limit, once there was one. */
  icmp_errors?: { sent: number; rate_limited: number };
  memory?: { rss: number; heap_total: number; heap_used: number; external: number; array_buffers: number };
  /**
   * While busy-polling is on: waits, how many polling caught (sleeps avoided), time spent polling,
   * back-offs for a busy CPU, waits left to libuv (a socket not yet registered with epoll).
   */
  busy_poll?: { max_ns: number; window_ns: number; waits: number; hits: number; blocks: number; spin_ns: number; backoffs: number; unmeasured: number };
}

export const GET_STATS_UNAVAILABLE = 'bad request: get_stats: not available';

export function collectStats(source: StatsSource, nowMs: number = Date.now()): StatsReport {
  const engine = source.engine();
  let dropsTotal = 0;
  for (const count of Object.values(engine.drops)) dropsTotal += count;
  const report: StatsReport = {
    frames_in: engine.framesIn,
    bytes_in: engine.bytesIn,
    frames_out: engine.framesOut,
    bytes_out: engine.bytesOut,
    drops: { ...engine.drops },
    drops_total: dropsTotal,
    faults: engine.faults,
  };
  if (engine.ipv6FramesIn !== undefined && engine.ipv6FramesOut !== undefined) {
    report.ipv6 = { frames_in: engine.ipv6FramesIn, frames_out: engine.ipv6FramesOut };
    if (engine.mldIn !== undefined) report.ipv6.mld_in = engine.mldIn;
  }
  if (engine.igmpIn !== undefined) report.igmp_in = engine.igmpIn;
  if (engine.icmpErrorsSent !== undefined && engine.icmpErrorsRateLimited !== undefined) {
    report.icmp_errors = { sent: engine.icmpErrorsSent, rate_limited: engine.icmpErrorsRateLimited };
  }
  if (source.tcpFlows) report.tcp_flows = source.tcpFlows();
  if (source.udpBindings) report.udp_bindings = source.udpBindings();
  if (source.forwards) report.forwards = source.forwards();
  if (source.startedAtMs !== undefined) report.uptime_seconds = Math.max(0, Math.floor((nowMs - source.startedAtMs) / 1000));
  if (source.pcap) {
    const p = source.pcap();
    report.pcap = {
      records_written: p.recordsWritten,
      bytes_written: p.bytesWritten,
      records_dropped_queue_full: p.recordsDroppedQueueFull,
      records_dropped_stopped: p.recordsDroppedStopped,
    };
  }
  if (source.memory) {
    const m = source.memory();
    report.memory = { rss: m.rss, heap_total: m.heapTotal, heap_used: m.heapUsed, external: m.external, array_buffers: m.arrayBuffers };
  }
  if (source.busyPoll) {
    const b = source.busyPoll();
    report.busy_poll = { max_ns: b.maxNs, window_ns: b.windowNs, waits: b.waits, hits: b.hits, blocks: b.blocks, spin_ns: b.spinNs, backoffs: b.backoffs, unmeasured: b.unmeasured };
  }
  return report;
}

/** The whole answer to `{"execute":"get_stats"}` (one compact JSON line, as every API answer). */
export function getStatsResponse(source: StatsSource | undefined): string {
  if (source === undefined) return JSON.stringify({ error: { desc: GET_STATS_UNAVAILABLE } });
  try {
    return JSON.stringify({ return: collectStats(source) });
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    return JSON.stringify({ error: { desc: `${GET_STATS_UNAVAILABLE}: ${why}` } });
  }
}
