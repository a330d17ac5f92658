/**
 * The same API requests, in the same order, against the real slirp4netns (attached to a namespace the
 * test creates) and against tslirp's ApiServer + HostfwdTable in-process, on the same host ports one
 * after the other: the answers must be identical bytes, except the documented deliberate differences
 * (each asserted on both sides). Requests that crash slirp4netns 1.2.0 are left to api-protocol.test.ts.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ApiServer } from '../../src/api/api-server.js';
import { endTcpClient, type GuestConnector } from '../../src/hostfwd/guest-connector.js';
import { HostfwdTable } from '../../src/hostfwd/hostfwd-table.js';
import { IpAddresses } from '../../src/stack/address-table.js';
import { FakeClock } from '../../src/stack/clock.js';
import { resolveNetworkConfig } from '../../src/stack/config.js';
import { apiRequest } from '../support/api-client.js';
import { createNamespace, namespacePrerequisite, OutputLog, requireOrSkip } from '../support/netns.js';
import { freePort, SLIRP4NETNS, testResources, waitForSlirp4netnsApi } from '../support/published-guest.js';

interface Step {
  readonly name: string;
  readonly request: string;
  /** Set for a deliberate difference: what each side answers. */
  readonly differs?: { readonly slirp4netns: string | RegExp; readonly tslirp: string };
}

function scenario(p: { tcp: number; udp: number; podman: number; busy: number; lo2: number; v6: number }): Step[] {
  const add = (args: string): string => `{"execute":"add_hostfwd","arguments":{${args}}}\n`;
  return [
    { name: 'rootlesskit tcp add', request: add(`"proto":"tcp","host_addr":"127.0.0.1","host_port":${p.tcp},"guest_addr":"10.0.2.100","guest_port":8080`) },
    { name: 'rootlesskit udp add', request: add(`"proto":"udp","host_addr":"0.0.0.0","host_port":${p.udp},"guest_addr":"10.0.2.100","guest_port":8080`) },
    { name: 'podman add, guest_addr ""', request: add(`"proto":"tcp","host_addr":"127.0.0.1","host_port":${p.podman},"guest_addr":"","guest_port":80`) },
    { name: 'udp on 127.0.0.2', request: add(`"proto":"udp","host_addr":"127.0.0.2","host_port":${p.lo2},"guest_addr":"10.0.2.100","guest_port":53`) },
    { name: 'host_addr and guest_addr omitted', request: add(`"proto":"tcp","host_port":${p.lo2},"guest_port":81`) },
    { name: 'list', request: '{"execute":"list_hostfwd"}' },
    { name: 'port in use', request: add(`"proto":"tcp","host_addr":"127.0.0.1","host_port":${p.busy},"guest_port":80`) },
    { name: 'same port twice', request: add(`"proto":"tcp","host_addr":"127.0.0.1","host_port":${p.tcp},"guest_port":80`) },
    { name: 'remove', request: '{"execute":"remove_hostfwd","arguments":{"id":1}}\n' },
    { name: 'remove again', request: '{"execute":"remove_hostfwd","arguments":{"id":1}}' },
    { name: 'remove unknown', request: '{"execute":"remove_hostfwd","arguments":{"id":99}}' },
    { name: 're-add after remove gets a new id', request: add(`"proto":"tcp","host_addr":"127.0.0.1","host_port":${p.tcp},"guest_port":8080`) },
    { name: 'list after changes', request: '{"execute":"list_hostfwd"}\n' },
    { name: 'garbage', request: 'hello' },
    { name: 'empty', request: '' },
    { name: 'array', request: '[1,2,3]' },
    { name: 'no execute', request: '{"arguments":{}}' },
    { name: 'unknown execute', request: '{"execute":"frobnicate"}' },
    { name: 'bad proto', request: add(`"proto":"sctp","host_port":1,"guest_port":1`) },
    { name: 'bad host_addr', request: add(`"proto":"tcp","host_addr":"localhost","host_port":1,"guest_port":1`) },
    { name: 'host_port missing', request: add(`"proto":"tcp","guest_port":1`) },
    { name: 'bad guest_addr', request: add(`"proto":"tcp","host_port":${p.v6},"guest_addr":"10.0.2","guest_port":1`) },
    { name: 'guest_port missing', request: add(`"proto":"tcp","host_port":${p.v6}`) },
    { name: 'too large', request: `{"execute":"list_hostfwd","pad":"${'x'.repeat(5000)}"}` },
    { name: 'trailing bytes after the object', request: '{"execute":"list_hostfwd"}garbage' },
    {
      name: 'IPv6 host_addr (tslirp goes beyond)',
      request: add(`"proto":"tcp","host_addr":"::1","host_port":${p.v6},"guest_port":80`),
      differs: { slirp4netns: '{"error":{"desc":"bad request: add_hostfwd: bad arguments.host_addr"}}', tslirp: '{"return":{"id":7}}' },
    },
    {
      name: 'host_port 70000 (slirp4netns takes it, modulo 65536)',
      request: add(`"proto":"udp","host_addr":"127.0.0.1","host_port":70000,"guest_port":80`),
      differs: { slirp4netns: /^\{"(return":\{"id":\d+\}|error":\{"desc":"bad request: add_hostfwd: slirp_add_hostfwd failed"\})\}$/, tslirp: '{"error":{"desc":"bad request: add_hostfwd: bad arguments.host_port"}}' },
    },
  ];
}

const { tracker, cleanups, release } = testResources();
afterEach(release);
afterAll(() => tracker.killAll());

async function runSteps(socketPath: string, steps: Step[]): Promise<string[]> {
  const answers: string[] = [];
  for (const step of steps) answers.push((await apiRequest(socketPath, step.request)).text);
  return answers;
}

describe('API compatibility with slirp4netns 1.2', () => {
  it('gives identical answers, except the documented differences', async (ctx) => {
    requireOrSkip(ctx, existsSync(SLIRP4NETNS) ? namespacePrerequisite({ root: true }) : 'needs slirp4netns (apt-get install slirp4netns)');
    const dir = mkdtempSync(join(tmpdir(), 'tslirp-compat-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const free = (): Promise<number> => freePort('0.0.0.0');
    const ports = { tcp: await free(), udp: await free(), podman: await free(), busy: await free(), lo2: await free(), v6: await free() };
    const steps = scenario(ports);
    // Both sides find the same port busy.
    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen(ports.busy, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => blocker.close(() => resolve())));

    // The real one, on a namespace of our own.
    const ns = await createNamespace(tracker);
    const realSocket = join(dir, 'slirp4netns.sock');
    const slirp = tracker.spawn(SLIRP4NETNS, ['--api-socket', realSocket, String(ns.pid), 'tap0']);
    const slirpLog = new OutputLog(slirp);
    await waitForSlirp4netnsApi(slirp, slirpLog, realSocket, 100);
    const real = await runSteps(realSocket, steps);
    expect(slirp.exitCode, `slirp4netns crashed: ${slirpLog.text}`).toBeNull();
    await tracker.killAll();

    // Ours, in-process, on the same ports now that slirp4netns has released them.
    const connector: GuestConnector = {
      tcp: { openToGuest: (open) => endTcpClient(open.client) },
      udp: { sendToGuest: () => undefined, addUdpService: () => () => undefined },
      addresses: new IpAddresses(16, 0),
      ipv6Gateway: -1,
    };
    const table = new HostfwdTable({ config: resolveNetworkConfig(), connector, clock: new FakeClock() });
    const oursSocket = join(dir, 'tslirp.sock');
    const api = await ApiServer.listen({ path: oursSocket, hostfwd: table, defaultGuestAddress: '10.0.2.100' });
    cleanups.push(async () => {
      await api.close();
      await table.close();
    });
    const ours = await runSteps(oursSocket, steps);

    ctx.annotate?.(`slirp4netns answers: ${JSON.stringify(real)}`);
    for (let i = 0; i < steps.length; i++) {
      const step = steps[i];
      if (step.differs) {
        if (typeof step.differs.slirp4netns === 'string') expect(real[i], step.name).toBe(step.differs.slirp4netns);
        else expect(real[i], step.name).toMatch(step.differs.slirp4netns);
        expect(ours[i], step.name).toBe(step.differs.tslirp);
      } else {
        expect(ours[i], `${step.name}: ${step.request}`).toBe(real[i]);
      }
    }
  });
});
