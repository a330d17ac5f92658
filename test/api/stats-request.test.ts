/**
 * get_stats (ours, beyond slirp4netns) over a real API socket, and `tslirp stats` printing it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { handleApiRequest } from '../../src/api/api-protocol.js';
import { ApiServer } from '../../src/api/api-server.js';
import { collectStats, getStatsResponse, type StatsSource } from '../../src/api/stats-request.js';
import { formatStats, parseStatsArgs, statsMain } from '../../src/cli/stats-command.js';
import type { HostfwdControl } from '../../src/hostfwd/hostfwd-control.js';
import { MemoryLink } from '../../src/link/memory-link.js';
import { FakeClock } from '../../src/stack/clock.js';
import { Stack } from '../../src/stack/stack.js';
import { apiRequest } from '../support/api-client.js';

const noHostfwd: HostfwdControl = {
  add: async () => 1,
  remove: async () => false,
  list: () => [{ id: 1, proto: 'tcp', hostAddr: '127.0.0.1', hostPort: 8080, guestAddr: '10.0.2.100', guestPort: 80 }],
};

function stackWithTraffic(): Stack {
  const link = new MemoryLink({ keep: false });
  const stack = new Stack(link, { clock: new FakeClock() });
  stack.start();
  link.inject([new Uint8Array(60), new Uint8Array(10)]); // unsupported EtherType 0, and a runt
  return stack;
}

const dirs: string[] = [];
const servers: ApiServer[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('get_stats', () => {
  test('reports the engine counters, drops by reason and the parts plugged in', () => {
    const stack = stackWithTraffic();
    const source: StatsSource = {
      engine: () => stack.stats.snapshot(),
      tcpFlows: () => 2,
      udpBindings: () => 1,
      forwards: () => noHostfwd.list().length,
      startedAtMs: 1_000,
      memory: () => ({ rss: 50 << 20, heapTotal: 9 << 20, heapUsed: 6 << 20, external: 3 << 20, arrayBuffers: 2 << 20 }),
      busyPoll: () => ({ windowNs: 25_000, maxNs: 50_000, waits: 1000, hits: 950, blocks: 50, spinNs: 7_000_000, backoffs: 1, unmeasured: 4 }),
    };
    const report = collectStats(source, 62_500);
    expect(report).toEqual({
      frames_in: 2,
      bytes_in: 70,
      frames_out: 0,
      bytes_out: 0,
      drops: { unsupported_ether_type: 1, truncated: 1 },
      drops_total: 2,
      faults: 0,
      tcp_flows: 2,
      udp_bindings: 1,
      forwards: 1,
      uptime_seconds: 61,
      memory: { rss: 50 << 20, heap_total: 9 << 20, heap_used: 6 << 20, external: 3 << 20, array_buffers: 2 << 20 },
      busy_poll: { max_ns: 50_000, window_ns: 25_000, waits: 1000, hits: 950, blocks: 50, spin_ns: 7_000_000, backoffs: 1, unmeasured: 4 },
    });
    expect(formatStats(report)).toContain('busy polling       95% of 1000 waits caught without sleeping, 0.01 s polled (up to 50 µs, 1 back-offs for a busy CPU)');
    expect(formatStats({ ...report, busy_poll: { ...report.busy_poll!, max_ns: 0 } })).not.toContain('busy polling');
  });

  test('ICMP errors sent and held back, IGMP taken, once there are any; MLD taken with IPv6 on', () => {
    const stack = stackWithTraffic();
    stack.stats.ipv6Enabled = true;
    stack.stats.mldIn = 3;
    expect(collectStats({ engine: () => stack.stats.snapshot() }).icmp_errors).toBeUndefined();
    stack.stats.icmpErrorsSent = 50;
    stack.stats.icmpErrorsRateLimited = 7;
    stack.stats.igmpIn = 2;
    const report = collectStats({ engine: () => stack.stats.snapshot() });
    expect(report).toMatchObject({ ipv6: { frames_in: 0, frames_out: 0, mld_in: 3 }, icmp_errors: { sent: 50, rate_limited: 7 }, igmp_in: 2 });
    expect(formatStats(report)).toContain('icmp errors sent   50 (7 more held back by the rate limit)');
  });

  test('leaves out what the engine does not have, and answers an error without a source', async () => {
    const stack = stackWithTraffic();
    const answer = JSON.parse(getStatsResponse({ engine: () => stack.stats.snapshot() })) as { return: Record<string, unknown> };
    expect(Object.keys(answer.return).sort()).toEqual(['bytes_in', 'bytes_out', 'drops', 'drops_total', 'faults', 'frames_in', 'frames_out']);
    expect(getStatsResponse(undefined)).toBe('{"error":{"desc":"bad request: get_stats: not available"}}');
    const throwing = getStatsResponse({
      engine: () => {
        throw new Error('boom');
      },
    });
    expect(throwing).toBe('{"error":{"desc":"bad request: get_stats: not available: boom"}}');
    const request = new TextEncoder().encode('{"execute":"get_stats"}\n');
    expect(await handleApiRequest(request, { hostfwd: noHostfwd, defaultGuestAddress: '10.0.2.100' })).toBe(
      '{"error":{"desc":"bad request: get_stats: not available"}}',
    );
  });

  test('over the API socket, and `tslirp stats` prints it for a person and as JSON', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tslirp-stats-'));
    dirs.push(dir);
    const path = join(dir, 'api.sock');
    const stack = stackWithTraffic();
    const stats: StatsSource = {
      engine: () => stack.stats.snapshot(),
      forwards: () => noHostfwd.list().length,
      pcap: () => ({ recordsWritten: 5, bytesWritten: 2048, recordsDroppedQueueFull: 1, recordsDroppedStopped: 0 }),
    };
    servers.push(await ApiServer.listen({ path, hostfwd: noHostfwd, defaultGuestAddress: '10.0.2.100', stats }));

    const raw = JSON.parse((await apiRequest(path, '{"execute":"get_stats"}\n')).text) as { return: { frames_in: number; forwards: number } };
    expect(raw.return.frames_in).toBe(2);
    expect(raw.return.forwards).toBe(1);

    let out = '';
    let err = '';
    const io = { stdout: (t: string) => (out += t), stderr: (t: string) => (err += t) };
    expect(await statsMain(['--api-socket', path], io)).toBe(0);
    expect(err).toBe('');
    expect(out).toBe(
      [
        'frames from guest  2 (70 B)',
        'frames to guest    0 (0 B)',
        'dropped            2 (truncated 1, unsupported_ether_type 1)',
        'forwarded ports    1',
        'pcap               5 records (2.0 KiB), 1 not captured',
        '',
      ].join('\n'),
    );
    out = '';
    expect(await statsMain([`--api-socket=${path}`, '--json'], io)).toBe(0);
    expect(JSON.parse(out)).toMatchObject({ frames_in: 2, drops_total: 2, pcap: { records_written: 5 } });
  });

  test('`tslirp stats` reports a missing socket or option in one line, exit 1', async () => {
    let err = '';
    const io = { stdout: () => undefined, stderr: (t: string) => (err += t) };
    expect(await statsMain(['--api-socket', '/nonexistent/api.sock'], io)).toBe(1);
    expect(err).toMatch(/^tslirp: cannot reach API socket \/nonexistent\/api\.sock: .*ENOENT.*\n$/);
    err = '';
    expect(await statsMain([], io)).toBe(1);
    expect(err).toBe('tslirp: stats: --api-socket PATH is required\n');
    expect(parseStatsArgs(['-a/x.sock']).apiSocket).toBe('/x.sock');
    expect(parseStatsArgs(['--help']).help).toBe(true);
  });

  test('formats uptime and an empty drop list', () => {
    const text = formatStats({
      frames_in: 0, bytes_in: 0, frames_out: 3, bytes_out: 3 * 1024 * 1024, drops: {}, drops_total: 0, faults: 2, tcp_flows: 0, uptime_seconds: 3723,
      memory: { rss: 44 << 20, heap_total: 8 << 20, heap_used: 5 << 20, external: 2 << 20, array_buffers: 1 << 20 },
    });
    expect(text).toContain('internal errors    2 (contained; see the log)');
    expect(text).toContain('memory             44.0 MiB resident (JS heap 5.0 MiB of 8.0 MiB, buffers 2.0 MiB)');
    expect(text).toContain('frames to guest    3 (3.0 MiB)');
    expect(text).toContain('dropped            0');
    expect(text).toContain('tcp flows          0');
    expect(text).toContain('uptime             1h 2m 3s');
  });
});
