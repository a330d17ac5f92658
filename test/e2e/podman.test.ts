/**
 * End to end with a real client: rootless podman 4.3 (Debian: `podman runc uidmap`) running containers
 * with tslirp (bin/tslirp) as its slirp4netns binary, set up by ../support/podman-env.ts following
 * ../shared/CLIENTS.md's recipe (podman passes --enable-sandbox and --enable-seccomp by default).
 *
 * Scenarios: the container's network is up (tap0 10.0.2.100, ping 10.0.2.2) and tslirp is gone after
 * it; `-p HOSTPORT:80` to busybox httpd reached from the host loopback (seen inside as 10.0.2.2) and
 * from a client in a test namespace joined by a veth (198.18.0.2 → 198.18.0.1, seen as 198.18.0.2);
 * a host loopback server reached from inside via 10.0.2.2 with allow_host_loopback=true.
 *
 * Every scenario also runs with the real slirp4netns in tslirp's place (CONTAINERS_CONF swaps the
 * configuration), as the reference that proves the test itself right.
 *
 * Network rule: traffic only to 127.0.0.1, the veth pair and namespace this test creates, and the
 * container's namespace. Cleanup by PID: tslirp processes (their PIDs are logged by the wrapper),
 * podman's pause process (pause.pid); containers are removed with podman itself.
 */
import { execFileSync } from 'node:child_process';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createNamespace, ProcessTracker, requireOrSkip, type TestNamespace } from '../support/netns.js';
import { ipv6Checked, SLIRP4NETNS_IPV6 } from '../support/ipv6-guest.js';
import { PODMAN_IMAGE as IMAGE, PodmanEnv, podmanPrerequisite, type NetworkBinary } from '../support/podman-env.js';

const VETH_HOST = 'tslpm-veth0';
const VETH_PEER = 'tslpm-veth1';

const tracker = new ProcessTracker();
let missing: string | undefined;
let env: PodmanEnv | undefined;
const servers: Server[] = [];
let binary: NetworkBinary = 'tslirp';

function podman(args: readonly string[], timeoutMs = 60_000, withStderr = false): Promise<string> {
  return env!.podman(args, binary, timeoutMs, withStderr);
}
const tslirpLog = (): string => env!.networkLog();
const tslirpPids = (): number[] => env!.networkPids();
const waitGone = (pids: readonly number[]): Promise<number[]> => env!.waitGone(pids);

beforeAll(async () => {
  missing = podmanPrerequisite();
  if (missing) return;
  env = await PodmanEnv.create();
}, 180_000);

afterAll(async () => {
  try {
    await env?.destroy();
  } finally {
    deleteVeth();
    await tracker.killAll();
    for (const server of servers) server.close();
  }
}, 60_000);

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function httpGet(url: string, timeoutMs = 5000): Promise<string> {
  const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  return response.text();
}

/** Removes the host end of the test veth (its peer goes with it), if present. */
function deleteVeth(): void {
  try {
    execFileSync('ip', ['link', 'del', VETH_HOST], { stdio: 'ignore' });
  } catch {
    // not there
  }
}

/** A client namespace joined to the host by a veth: 198.18.0.2 (inside) ↔ 198.18.0.1 (host). */
async function vethClient(): Promise<TestNamespace> {
  const ns = await createNamespace(tracker);
  execFileSync('ip', ['link', 'add', VETH_HOST, 'type', 'veth', 'peer', 'name', VETH_PEER]);
  execFileSync('ip', ['addr', 'add', '198.18.0.1/30', 'dev', VETH_HOST]);
  execFileSync('ip', ['link', 'set', VETH_HOST, 'up']);
  execFileSync('ip', ['link', 'set', VETH_PEER, 'netns', String(ns.pid)]);
  await ns.exec('ip', ['addr', 'add', '198.18.0.2/30', 'dev', VETH_PEER]);
  await ns.exec('ip', ['link', 'set', VETH_PEER, 'up']);
  await ns.exec('ip', ['link', 'set', 'lo', 'up']);
  return ns;
}

describe.each(['tslirp', 'slirp4netns'] as const)('podman with %s as its slirp4netns', (network) => {
  beforeEach(() => {
    binary = network;
  });

  it('runs a container on it: tap0 10.0.2.100, ping 10.0.2.2; the network process exits with the container', async (ctx) => {
    requireOrSkip(ctx, missing);
    const before = tslirpPids().length;
    const out = await podman(['run', '--rm', '--cap-add', 'NET_RAW', '--network', 'slirp4netns', IMAGE, 'sh', '-c', 'ip addr show tap0 && ping -c1 -W3 10.0.2.2']);
    expect(out).toMatch(/inet 10\.0\.2\.100\/24/);
    expect(out).toMatch(/1 packets received/);
    const started = tslirpPids().slice(before);
    expect(started.length, tslirpLog()).toBeGreaterThanOrEqual(1);
    // podman ran tslirp with its usual flags (CLIENTS.md), and tslirp answered ready and exited.
    if (network === 'tslirp') expect(tslirpLog()).toMatch(/attached to tap0/);
    expect(await waitGone(started)).toEqual([]);
  });

  it('publishes -p HOSTPORT:80 to httpd: host loopback client seen as 10.0.2.2, veth client as 198.18.0.2', async (ctx) => {
    requireOrSkip(ctx, missing);
    const hostPort = await freePort();
    const before = tslirpPids().length;
    const id = (
      await podman(['run', '--rm', '-d', '--network', 'slirp4netns:port_handler=slirp4netns', '-p', `${hostPort}:80`, IMAGE, 'httpd', '-f', '-v', '-p', '80', '-h', '/www'])
    ).trim();
    try {
      let body = '';
      const deadline = Date.now() + 15_000;
      while (body === '') {
        body = await httpGet(`http://127.0.0.1:${hostPort}/`).catch(() => '');
        if (body === '' && Date.now() > deadline) throw new Error(`no answer on 127.0.0.1:${hostPort}\n${tslirpLog()}`);
        if (body === '') await new Promise((resolve) => setTimeout(resolve, 200));
      }
      expect(body).toBe('hello from the container\n');

      const client = await vethClient();
      const remote = await client.exec('busybox', ['wget', '-q', '-O', '-', `http://198.18.0.1:${hostPort}/`]);
      expect(remote).toBe('hello from the container\n');

      // httpd -v logs each request's peer; the log reaches podman a moment after the answer.
      let logs = '';
      for (const deadline = Date.now() + 10_000; Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 200))) {
        logs = await podman(['logs', id], 60_000, true); // the container's stderr comes out on podman's
        if (/198\.18\.0\.2/.test(logs)) break;
      }
      expect(logs).toMatch(/10\.0\.2\.2/); // the loopback client, as the gateway
      expect(logs).toMatch(/198\.18\.0\.2/); // the real client address
    } finally {
      await podman(['stop', '-t', '1', id]).catch(() => undefined);
      deleteVeth();
      await tracker.killAll();
    }
    expect(await waitGone(tslirpPids().slice(before))).toEqual([]);
  });

  it('reaches a host loopback server via 10.0.2.2 with allow_host_loopback=true', async (ctx) => {
    requireOrSkip(ctx, missing);
    const server = createServer((socket) => socket.end('HTTP/1.0 200 OK\r\nContent-Length: 15\r\n\r\nhello from host'));
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const out = await podman(['run', '--rm', '--network', 'slirp4netns:allow_host_loopback=true', IMAGE, 'wget', '-q', '-O', '-', `http://10.0.2.2:${port}/`]);
    expect(out).toBe('hello from host');
  });
});

/**
 * IPv6 (issue 15): podman passes --enable-ipv6 with enable_ipv6=true; the container configures
 * itself from the router advertisement. Against slirp4netns, and against tslirp once the check's
 * area is in TSLIRP_IPV6: 'podman' for the container's own IPv6, 'hostfwd' for -p [::1] (a
 * published port on an IPv6 host address, to the container's IPv4 address).
 */
const ipv6Networks = (['slirp4netns', 'tslirp'] as const).filter((impl) => ipv6Checked(impl, 'podman') || ipv6Checked(impl, 'hostfwd'));
describe.each(ipv6Networks)('podman with %s as its slirp4netns: IPv6 (enable_ipv6=true)', (network) => {
  beforeEach(() => {
    binary = network;
  });

  // Waits (up to 10 s) until tap0 has a fd00:: address that is no longer tentative.
  const waitForSlaac =
    'i=0; while [ $i -lt 100 ]; do ip addr show tap0 | grep "inet6 fd00" | grep -qv tentative && break; sleep 0.1; i=$((i+1)); done; ';

  if (ipv6Checked(network, 'podman')) it('the container gets a fd00::/64 address by SLAAC and reaches a host [::1] server through [fd00::2]', async (ctx) => {
    requireOrSkip(ctx, missing);
    const server = createServer((socket) => socket.end('HTTP/1.0 200 OK\r\nContent-Length: 23\r\n\r\nhello from host over v6'));
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '::1', resolve));
    const port = (server.address() as AddressInfo).port;
    const out = await podman([
      'run',
      '--rm',
      '--network',
      'slirp4netns:enable_ipv6=true,allow_host_loopback=true',
      IMAGE,
      'sh',
      '-c',
      `${waitForSlaac}ip addr show tap0; ip -6 route; wget -q -O - http://[${SLIRP4NETNS_IPV6.gateway}]:${port}/`,
    ]);
    console.log(`podman IPv6 with ${network}:\n${out}`);
    expect(out).toMatch(/inet6 fd00::[0-9a-f:]+\/64 scope global/);
    expect(out).toMatch(/default via fe80::2 dev tap0/);
    expect(out).toMatch(/hello from host over v6$/);
  });

  if (ipv6Checked(network, 'hostfwd')) it(`-p [::1]:HOSTPORT:80 with port_handler=slirp4netns: ${network === 'slirp4netns' ? 'refused, "bad arguments.host_addr"' : 'served over IPv6'}`, async (ctx) => {
    requireOrSkip(ctx, missing);
    const hostPort = await freePort();
    const run = podman([
      'run',
      '--rm',
      '-d',
      '--network',
      'slirp4netns:port_handler=slirp4netns,enable_ipv6=true',
      '-p',
      `[::1]:${hostPort}:80`,
      IMAGE,
      'httpd',
      '-f',
      '-v',
      '-p',
      '80',
      '-h',
      '/www',
    ]);
    if (network === 'slirp4netns') {
      // PINNED: slirp4netns's add_hostfwd takes IPv4 only; podman gives up starting the container
      // with its answer (slirp4netns issue #253).
      const refusal = await run.then(
        (id) => `started ${id}`,
        (error: Error) => error.message,
      );
      console.log(`podman -p [::1] with slirp4netns: ${refusal.split('\n')[0]}`);
      expect(refusal).toMatch(/bad arguments\.host_addr/);
      return;
    }
    const id = (await run).trim();
    try {
      let body = '';
      for (const deadline = Date.now() + 15_000; body === '' && Date.now() < deadline; ) {
        body = await httpGet(`http://[::1]:${hostPort}/`).catch(() => '');
        if (body === '') await new Promise((resolve) => setTimeout(resolve, 200));
      }
      expect(body, tslirpLog()).toBe('hello from the container\n');
    } finally {
      await podman(['stop', '-t', '1', id]).catch(() => undefined);
    }
  });
});
