/**
 * End to end through the UDP engine with the real kernel as the guest: a namespace this test made,
 * tslirp (and, as the reference, the real slirp4netns) attached with --configure (MTU 1500), a UDP echo server on host 127.0.0.1 (in this process,
 * random port) reached from inside as 10.0.2.2, guest clients in python3 via nsenter.
 *
 * - 10,000 datagrams echoed, none lost. The client keeps at most 32 datagrams in flight (a window,
 *   not a rate): the test is about our correctness, not about the kernel's socket buffers, which
 *   drop whatever overflows them on either side by design of UDP;
 * - 8000-byte datagrams both ways at MTU 1500: the guest's kernel fragments the request (we
 *   reassemble), we fragment the echo (its kernel reassembles); bytes compared on both ends;
 * - a datagram to a closed host port: the guest's connected socket gets ECONNREFUSED (ICMP port
 *   unreachable from us);
 * - one guest port talks to the host's loopback, then to a peer in a veth namespace of ours
 *   (198.18.0.2): both answer, through the same binding;
 * - ping -c 3 10.0.2.2 (answered by the engine itself).
 *
 * Traffic stays on loopback and in the namespaces this test made. Every process is ended by PID.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { createNamespace, namespacePrerequisite, OutputLog, ProcessTracker, requireOrSkip, waitFor, type TestNamespace } from '../support/netns.js';
import { type Cleanup, createVethClient, type Implementation, SLIRP4NETNS } from '../support/published-guest.js';
import { builtCliPrerequisite, startTslirp, stopAllTslirp } from '../support/tslirp-process.js';
import { closedPort, GUEST_CLIENT, startEchoServer, type EchoServer } from '../support/udp-echo-peers.js';

/** A UDP echo on port 7007 of a client namespace; prints "listening" once bound. */
const PEER_ECHO = String.raw`
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('0.0.0.0', 7007))
print('listening', flush=True)
while True:
    data, peer = s.recvfrom(100)
    s.sendto(data, peer)
`;

function prerequisites(impl: Implementation): string | undefined {
  return (
    namespacePrerequisite({ root: true }) ??
    (impl === 'tslirp' ? builtCliPrerequisite() : existsSync(SLIRP4NETNS) ? undefined : `needs ${SLIRP4NETNS} (apt-get install slirp4netns)`)
  );
}

/** Attaches impl to tap0 with --configure at MTU 1500; resolves once the guest has its address. */
async function attach(impl: Implementation, tracker: ProcessTracker, ns: TestNamespace): Promise<void> {
  const args = ['--configure', '--mtu', '1500', String(ns.pid), 'tap0'];
  if (impl === 'tslirp') {
    const tslirp = startTslirp(['-r', '3', ...args]);
    expect(await tslirp.ready).toBe('1');
    return;
  }
  // slirp4netns's ready fd needs an extra pipe; polling the address it configures is enough here.
  const child = tracker.spawn(SLIRP4NETNS, args);
  const log = new OutputLog(child);
  const deadline = Date.now() + 10_000;
  while (!(await ns.exec('ip', ['-4', 'addr', 'show', 'tap0']).catch(() => '')).includes('10.0.2.100')) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`slirp4netns did not configure tap0: ${log.text}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe.each(['tslirp', 'slirp4netns'] as const)('UDP through %s (MTU 1500)', (impl) => {
  const tracker = new ProcessTracker();
  let ns: TestNamespace | undefined;
  let echo: EchoServer | undefined;
  let missing: string | undefined;

  beforeAll(async () => {
    missing = prerequisites(impl);
    if (missing !== undefined) return;
    ns = await createNamespace(tracker);
    await attach(impl, tracker, ns);
    echo = await startEchoServer();
  });

  afterAll(async () => {
    await echo?.close();
    await stopAllTslirp();
    await tracker.killAll();
  });

  const guest = (args: string[], timeoutMs: number): Promise<string> => ns!.exec('python3', ['-c', GUEST_CLIENT, ...args], timeoutMs);

  it('10,000 datagrams echoed from a host 127.0.0.1 server via 10.0.2.2: none lost', { timeout: 120_000 }, async (ctx) => {
    requireOrSkip(ctx, missing);
    const before = echo!.received;
    const result = JSON.parse(await guest(['echo', '10.0.2.2', String(echo!.port), '10000', '200', '32'], 110_000));
    console.log(`UDP echo through ${impl}: ${result.got}/10000 in ${result.seconds.toFixed(2)} s`);
    expect(result).toMatchObject({ sent: 10000, got: 10000, bad: 0, lost: 0 });
    expect(echo!.received - before).toBe(10000);
  });

  it('an 8000-byte datagram both ways at MTU 1500 (fragmented by the guest, reassembled; fragmented by us)', { timeout: 30_000 }, async (ctx) => {
    requireOrSkip(ctx, missing);
    for (const size of [8000, 1473, 65507]) {
      const result = JSON.parse(await guest(['large', '10.0.2.2', String(echo!.port), String(size)], 20_000));
      expect(echo!.lastLength).toBe(size);
      expect(echo!.lastHash).toBe(result.sha256);
      expect(result).toMatchObject({ same: true, length: size, peer: ['10.0.2.2', echo!.port] });
    }
  });

  // A deliberate difference: slirp4netns drops the host's ECONNREFUSED (the guest waits for its
  // timeout); we answer ICMP port unreachable, as a router would, so the guest fails at once.
  it(`a datagram to a closed host port: the guest sees ${impl === 'tslirp' ? 'ECONNREFUSED' : 'nothing (times out)'}`, { timeout: 30_000 }, async (ctx) => {
    requireOrSkip(ctx, missing);
    const outcome = (await guest(['refused', '10.0.2.2', String(await closedPort())], 20_000)).trim();
    expect(outcome).toBe(impl === 'tslirp' ? 'refused' : 'timeout');
  });

  it('one guest port talks to the host loopback first, then to a peer on another network (same binding)', { timeout: 60_000 }, async (ctx) => {
    requireOrSkip(ctx, missing);
    // The peer: a UDP echo in a client namespace of ours behind a veth (198.18.0.2).
    const cleanups: Cleanup[] = [];
    try {
      const client = await createVethClient(tracker, cleanups);
      const peer = tracker.spawn('nsenter', ['-t', String(client.pid), '-n', 'python3', '-c', PEER_ECHO]);
      const peerLog = new OutputLog(peer);
      await waitFor('the peer echo to listen', () => peerLog.text.includes('listening'), 10_000);
      const answers = JSON.parse(await guest(['two-peers', '10.0.2.2', String(echo!.port), '198.18.0.2', '7007'], 20_000));
      expect(answers).toEqual([
        ['to 10.0.2.2', '10.0.2.2'],
        ['to 198.18.0.2', '198.18.0.2'],
      ]);
    } finally {
      for (const cleanup of cleanups.reverse()) await cleanup();
    }
  });

  it('ping -c 3 10.0.2.2', { timeout: 30_000 }, async (ctx) => {
    requireOrSkip(ctx, missing);
    const out = await ns!.exec('ping', ['-c', '3', '-i', '0.2', '-W', '2', '10.0.2.2'], 20_000);
    expect(out).toMatch(/3 packets transmitted, 3 received/);
  });
});
