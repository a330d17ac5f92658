/**
 * debug_flows and debug_pcap (ours, beyond slirp4netns; issue 17): a flow's whole state from a real
 * engine on a fake clock, the pcap ring's dump, and errors where the parts are missing.
 */
import { describe, expect, test } from 'vitest';
import { handleApiRequest, type ApiContext } from '../../src/api/api-protocol.js';
import { DEBUG_FLOWS_UNAVAILABLE, DEBUG_PCAP_UNAVAILABLE } from '../../src/api/debug-request.js';
import type { HostfwdControl } from '../../src/hostfwd/hostfwd-control.js';
import type { FlowDebug } from '../../src/stack/tcp/flow-debug.js';
import { TCP_ACK, TcpContext } from '../support/tcp-context.js';

const noHostfwd: HostfwdControl = { add: async () => 1, remove: async () => false, list: () => [] };

function ask(request: string, context: Partial<ApiContext>): Promise<unknown> {
  return handleApiRequest(Buffer.from(request), { hostfwd: noHostfwd, defaultGuestAddress: '10.0.2.100', ...context }).then((text) => JSON.parse(text));
}

describe('debug_flows', () => {
  test('describes each flow: sequence space, windows, congestion, SACK scoreboard, reorder queue, timers, host side', async () => {
    const t = new TcpContext();
    const c = await t.open({ mss: 1000, wscale: 7, sackPermitted: true, window: 100 }); // 12,800 bytes
    const sent = await t.hostData(c, 'a'.repeat(20_000));
    expect(sent).toHaveLength(10);
    const una = c.remoteFirst;
    // Segment 0 lost: the guest SACKs 1000…3000. It also sends bytes beyond a hole of its own.
    t.inject(t.spec(c, { flags: TCP_ACK, ack: una, window: 100, sack: [[una + 1000, una + 3000]] }));
    t.inject(t.spec(c, { flags: TCP_ACK, ack: una, window: 100, seq: c.guestNext + 10, payload: 'later', sack: [[una + 1000, una + 3000]] }));
    c.stream.pendingWriteBytes = 5000;
    t.clock.advance(30);
    const answer = (await ask('{"execute":"debug_flows"}', { debug: { flows: () => t.engine.debugFlows() } })) as { return: { flows: FlowDebug[] } };
    expect(answer.return.flows).toHaveLength(1);
    const flow = answer.return.flows[0];
    expect(flow.state).toBe('Established');
    expect(flow.guest).toBe('10.0.2.100:40000');
    expect(flow.remote).toBe('10.0.2.2:80');
    expect(flow.send).toMatchObject({
      una,
      max: una + 12_000, // SACKed bytes left the pipe: two more segments went out
      queue_end: una + 20_000,
      queued_bytes: 20_000,
      in_flight: 12_000,
      window: 12_800,
      sacked: [[una + 1000, una + 3000]],
      duplicate_acks: 1, // the second carries data and SACKs nothing new
      in_recovery: false,
      rto_ms: 1000,
      host_paused: false,
    });
    expect(flow.receive).toMatchObject({ next: c.guestNext, reorder_bytes: 5, reorder_ranges: [[c.guestNext + 10, c.guestNext + 15]], fin_received: false });
    expect(flow.receive.room_now).toBe(4 * 1024 * 1024 - 5000 - 5);
    expect(flow.timers.retransmit_in_ms).toBe(970);
    expect(flow.timers.life_in_ms).toBeNull();
    expect(flow.host).toEqual({ attached: true, pending_write_bytes: 5000 });
  });

  test('answers an error without a debug source, and when the source throws', async () => {
    expect(await ask('{"execute":"debug_flows"}', {})).toEqual({ error: { desc: DEBUG_FLOWS_UNAVAILABLE } });
    const throwing = { flows: (): FlowDebug[] => { throw new Error('boom'); } };
    expect(await ask('{"execute":"debug_flows"}', { debug: throwing })).toEqual({ error: { desc: `${DEBUG_FLOWS_UNAVAILABLE}: boom` } });
  });
});

describe('debug_pcap', () => {
  test('answers where the ring was written', async () => {
    const dump = { path: '/tmp/x/tslirp-ring-1-1.pcap', records: 12, seconds: 1.5, bytes: 2048 };
    expect(await ask('{"execute":"debug_pcap"}', { debug: { flows: () => [], dumpPcapRing: async () => dump } })).toEqual({ return: dump });
  });

  test('answers an error without a ring, and when the file cannot be written', async () => {
    expect(await ask('{"execute":"debug_pcap"}', { debug: { flows: () => [] } })).toEqual({ error: { desc: DEBUG_PCAP_UNAVAILABLE } });
    const failing = { flows: () => [], dumpPcapRing: async () => Promise.reject(new Error('EACCES')) };
    expect(await ask('{"execute":"debug_pcap"}', { debug: failing })).toEqual({ error: { desc: 'bad request: debug_pcap: cannot write the capture: EACCES' } });
  });
});
