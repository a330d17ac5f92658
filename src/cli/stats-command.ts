/**
 * `tslirp stats --api-socket PATH [--json]`: asks a running tslirp for its counters (`get_stats` on
 * the API socket) and prints them for a person, or the raw report with --json.
 *
 * A client only: no engine, no namespace. Errors end as one line on stderr and exit status 1.
 */
import { connect } from 'node:net';
import type { StatsReport } from '../api/stats-request.js';

export const STATS_USAGE = `Usage: tslirp stats --api-socket PATH [--json]
Print the counters of a running tslirp (started with --api-socket PATH).
  -a, --api-socket=PATH  the API socket of the running tslirp
      --json             print the raw get_stats report as JSON
  -h, --help             show this help
`;

export interface StatsArgs {
  readonly help: boolean;
  readonly apiSocket: string | undefined;
  readonly json: boolean;
}

export function parseStatsArgs(argv: readonly string[]): StatsArgs {
  let apiSocket: string | undefined;
  let json = false;
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '-h' || arg === '--help') help = true;
    else if (arg === '--json') json = true;
    else if (arg === '-a' || arg === '--api-socket') {
      if (i + 1 >= argv.length) throw new Error(`option ${arg} needs a path`);
      apiSocket = argv[++i];
    } else if (arg.startsWith('--api-socket=')) apiSocket = arg.slice('--api-socket='.length);
    else if (arg.startsWith('-a') && arg.length > 2) apiSocket = arg.slice(2);
    else throw new Error(`stats: unexpected argument "${arg}" (see tslirp stats --help)`);
  }
  if (!help && (apiSocket === undefined || apiSocket === '')) throw new Error('stats: --api-socket PATH is required');
  return { help, apiSocket, json };
}

/** One request on the API socket, the slirp4netns way: write, shut down, read to EOF. */
export function apiCall(path: string, request: string, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer from ${path} within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('connect', () => socket.end(request));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`cannot reach API socket ${path}: ${error.message}`));
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
  });
}

function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${n} B` : `${value.toFixed(1)} ${units[unit]}`;
}

function duration(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return h > 0 ? `${h}h ${m}m ${s}s` : m > 0 ? `${m}m ${s}s` : `${s}s`;
}

/** The report as aligned lines for a terminal. */
export function formatStats(report: StatsReport): string {
  const rows: [string, string][] = [
    ['frames from guest', `${report.frames_in} (${bytes(report.bytes_in)})`],
    ['frames to guest', `${report.frames_out} (${bytes(report.bytes_out)})`],
  ];
  if (report.ipv6 !== undefined) rows.push(['of them IPv6', `${report.ipv6.frames_in} from guest, ${report.ipv6.frames_out} to guest`]);
  if (report.icmp_errors !== undefined) {
    const e = report.icmp_errors;
    rows.push(['icmp errors sent', `${e.sent}${e.rate_limited > 0 ? ` (${e.rate_limited} more held back by the rate limit)` : ''}`]);
  }
  const reasons = Object.entries(report.drops).sort((a, b) => b[1] - a[1]);
  rows.push(['dropped', reasons.length === 0 ? '0' : `${report.drops_total} (${reasons.map(([r, n]) => `${r} ${n}`).join(', ')})`]);
  if (report.faults > 0) rows.push(['internal errors', `${report.faults} (contained; see the log)`]);
  if (report.tcp_flows !== undefined) rows.push(['tcp flows', String(report.tcp_flows)]);
  if (report.udp_bindings !== undefined) rows.push(['udp bindings', String(report.udp_bindings)]);
  if (report.forwards !== undefined) rows.push(['forwarded ports', String(report.forwards)]);
  if (report.pcap !== undefined) {
    const p = report.pcap;
    const lost = p.records_dropped_queue_full + p.records_dropped_stopped;
    rows.push(['pcap', `${p.records_written} records (${bytes(p.bytes_written)})${lost > 0 ? `, ${lost} not captured` : ''}`]);
  }
  if (report.uptime_seconds !== undefined) rows.push(['uptime', duration(report.uptime_seconds)]);
  if (report.memory !== undefined) {
    const m = report.memory;
    rows.push(['memory', `${bytes(m.rss)} resident (JS heap ${bytes(m.heap_used)} of ${bytes(m.heap_total)}, buffers ${bytes(m.external)})`]);
  }
  if (report.busy_poll !== undefined && report.busy_poll.max_ns > 0) {
    const b = report.busy_poll;
    const caught = b.waits > 0 ? Math.round((100 * b.hits) / b.waits) : 0;
    rows.push([
      'busy polling',
      `${caught}% of ${b.waits} waits caught without sleeping, ${(b.spin_ns / 1e9).toFixed(2)} s polled (up to ${Math.round(b.max_ns / 1000)} µs, ${b.backoffs} back-offs for a busy CPU)`,
    ]);
  }
  const width = Math.max(...rows.map(([name]) => name.length));
  return rows.map(([name, value]) => `${name.padEnd(width)}  ${value}\n`).join('');
}

export interface StatsIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
}

const processIo: StatsIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};

/** Runs `tslirp stats ARGS`; resolves with the exit status. */
export async function statsMain(argv: readonly string[], io: StatsIo = processIo): Promise<number> {
  let args: StatsArgs;
  try {
    args = parseStatsArgs(argv);
  } catch (error) {
    io.stderr(`tslirp: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
  if (args.help) {
    io.stdout(STATS_USAGE);
    return 0;
  }
  try {
    const answer = await apiCall(args.apiSocket!, '{"execute":"get_stats"}\n');
    let parsed: { return?: StatsReport; error?: { desc?: string } };
    try {
      parsed = JSON.parse(answer) as typeof parsed;
    } catch {
      throw new Error(`unexpected answer from ${args.apiSocket}: ${answer.slice(0, 200) || '(nothing)'}`);
    }
    if (parsed.return === undefined) throw new Error(`${args.apiSocket}: ${parsed.error?.desc ?? answer.slice(0, 200)}`);
    io.stdout(args.json ? `${JSON.stringify(parsed.return)}\n` : formatStats(parsed.return));
    return 0;
  } catch (error) {
    io.stderr(`tslirp: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}
