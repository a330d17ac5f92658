/**
 * Debug requests, ours beyond slirp4netns, for looking inside a running engine (issue 17's soak
 * harness, or a person chasing a stuck container):
 * - `{"execute":"debug_flows"}` answers `{"return":{"flows":[…]}}`, every TCP flow's whole state
 *   (src/stack/tcp/flow-debug.ts: sequence space, windows, cwnd, RTO, SACK scoreboard, timers, host
 *   socket side);
 * - `{"execute":"debug_pcap"}` writes the last frames the in-memory pcap ring holds to a new file in
 *   the ring's directory and answers `{"return":{"path":…,"records":…,"seconds":…,"bytes":…}}`. The
 *   ring exists only when the process was started with TSLIRP_PCAP_RING (src/cli/pcap-ring-option.ts);
 *   the client chooses no path.
 *
 * Knows no sockets and no packets: it calls a DebugSource the process wiring fills in. Must never
 * throw: a failing source is answered with an error object.
 */
import type { FlowDebug } from '../stack/tcp/flow-debug.js';

export interface PcapRingDump {
  readonly path: string;
  readonly records: number;
  readonly seconds: number;
  readonly bytes: number;
}

export interface DebugSource {
  /** Every TCP flow's state (TcpEngine.debugFlows). */
  readonly flows: () => FlowDebug[];
  /** Writes the pcap ring to a new file; absent when no ring runs. */
  readonly dumpPcapRing?: () => Promise<PcapRingDump>;
}

export const DEBUG_FLOWS_UNAVAILABLE = 'bad request: debug_flows: not available';
export const DEBUG_PCAP_UNAVAILABLE = 'bad request: debug_pcap: no pcap ring (start with TSLIRP_PCAP_RING)';

function failure(desc: string, error: unknown): string {
  return JSON.stringify({ error: { desc: `${desc}: ${error instanceof Error ? error.message : String(error)}` } });
}

export function debugFlowsResponse(source: DebugSource | undefined): string {
  if (source === undefined) return JSON.stringify({ error: { desc: DEBUG_FLOWS_UNAVAILABLE } });
  try {
    return JSON.stringify({ return: { flows: source.flows() } });
  } catch (error) {
    return failure(DEBUG_FLOWS_UNAVAILABLE, error);
  }
}

export async function debugPcapResponse(source: DebugSource | undefined): Promise<string> {
  if (source?.dumpPcapRing === undefined) return JSON.stringify({ error: { desc: DEBUG_PCAP_UNAVAILABLE } });
  try {
    const dump = await source.dumpPcapRing();
    return JSON.stringify({ return: { path: dump.path, records: dump.records, seconds: dump.seconds, bytes: dump.bytes } });
  } catch (error) {
    return failure('bad request: debug_pcap: cannot write the capture', error);
  }
}
