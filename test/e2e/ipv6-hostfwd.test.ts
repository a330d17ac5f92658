/**
 * Published ports over IPv6 (issue 15; slirp4netns issue #253, open since 2021): add_hostfwd with an
 * IPv6 host_addr ("::", "::1") and the guest's IPv6 address as guest_addr, reached by an IPv6 client
 * in a test namespace joined by a veth (fd5e:7e57:1::2 → the host end fd5e:7e57:1::1) and by a client
 * on the host's [::1]; the guest's server must see the veth client's own address, the loopback
 * client as fd00::2.
 *
 * slirp4netns cannot do any of it: its answers to such requests are pinned here. The tslirp checks
 * are written and run once 'hostfwd' is in TSLIRP_IPV6 (test/support/ipv6-guest.ts). Traffic stays on
 * loopback, in fd00::/64 and on the test's veth; every process is ended by PID.
 */
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { apiRequest } from '../support/api-client.js';
import { guestExchange, ipv6Implementations, requireIpv6, SLIRP4NETNS_IPV6 as S, startIpv6Guest, startPeerServer, tslirpIpv6 } from '../support/ipv6-guest.js';
import { createVethClient, freePort, testResources, VETH_CLIENT_IPV6, VETH_HOST_IPV6 } from '../support/published-guest.js';

const { tracker, cleanups, release } = testResources();
afterEach(release);

/** A TCP client on the host: sends `payload`, half-closes, resolves with everything answered. */
function hostTcpExchange(host: string, port: number, payload: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    let answer = '';
    const timer = setTimeout(() => socket.destroy(new Error(`no answer from [${host}]:${port}`)), 10_000);
    socket.on('connect', () => socket.end(payload));
    socket.on('data', (d: Buffer) => (answer += d.toString()));
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(answer);
    });
  });
}

for (const impl of ipv6Implementations('hostfwd')) {
  describe(`published ports over IPv6: ${impl}`, () => {
    it(`add_hostfwd with an IPv6 host_addr or guest_addr: ${impl === 'slirp4netns' ? 'refused, bad arguments' : 'accepted'}`, async (ctx) => {
      requireIpv6(ctx, impl);
      const { guest, slaac } = await startIpv6Guest(impl, tracker, cleanups);
      const request = (args: Record<string, unknown>): Promise<string> =>
        apiRequest(guest.apiSocket, JSON.stringify({ execute: 'add_hostfwd', arguments: args })).then((a) => a.text);
      const answers = [
        await request({ proto: 'tcp', host_addr: '::', host_port: await freePort('::'), guest_port: 80 }),
        await request({ proto: 'tcp', host_addr: '::1', host_port: await freePort('::1'), guest_port: 80 }),
        await request({ proto: 'udp', host_addr: '::', host_port: await freePort('::'), guest_port: 80 }),
        await request({ proto: 'tcp', host_addr: '::1', host_port: await freePort('::1'), guest_addr: slaac.address, guest_port: 80 }),
        await request({ proto: 'tcp', host_addr: '127.0.0.1', host_port: await freePort(), guest_addr: slaac.address, guest_port: 80 }),
      ];
      const listed = (await apiRequest(guest.apiSocket, '{"execute":"list_hostfwd"}')).text;
      if (impl === 'slirp4netns') {
        // PINNED: libslirp's slirp_add_hostfwd takes IPv4 only (inet_pton(AF_INET) on both
        // addresses); podman relays the first answer as "bad arguments.host_addr".
        expect(answers).toEqual([
          S.hostfwdIpv6HostAddrError,
          S.hostfwdIpv6HostAddrError,
          S.hostfwdIpv6HostAddrError,
          S.hostfwdIpv6HostAddrError,
          S.hostfwdIpv6GuestAddrError,
        ]);
        expect(listed).toBe('{"entries":[]}');
      } else {
        // Issue 15: IPv6 host_addr; an IPv6 guest_addr (beyond slirp4netns), from either family.
        expect(answers).toEqual([1, 2, 3, 4, 5].map((id) => `{"return":{"id":${id}}}`));
        const entries = (JSON.parse(listed) as { entries: { id: number; host_addr: string; guest_addr: string }[] }).entries;
        expect(entries.map((e) => [e.id, e.host_addr])).toEqual([
          [1, '::'],
          [2, '::1'],
          [3, '::'],
          [4, '::1'],
          [5, '127.0.0.1'],
        ]);
        expect(entries[3].guest_addr).toBe(slaac.address);
      }
    });

    // Flows into the guest over IPv6 (the engines' TCP and UDP over IPv6 carry them).
    if (impl === 'tslirp' && tslirpIpv6('hostfwd')) {
      it('[::]:P and [::1]:Q to the guest\'s IPv6 address: the veth client is seen as itself, the loopback client as fd00::2 (TCP and UDP)', async (ctx) => {
        requireIpv6(ctx, impl);
        const client = await createVethClient(tracker, cleanups, { ipv6: true });
        const { guest, slaac } = await startIpv6Guest(impl, tracker, cleanups);
        // The guest's server: TCP answers "PEER LENGTH SHA256", UDP echoes and logs the peer.
        const server = await startPeerServer(tracker, '::', guest.ns.pid);
        const [anyPort, loopPort, udpPort] = [await freePort('::'), await freePort('::1'), await freePort('::')];
        expect(await guest.publish('tcp', '::', anyPort, server.tcpPort, slaac.address)).toBe('{"return":{"id":1}}');
        expect(await guest.publish('tcp', '::1', loopPort, server.tcpPort, slaac.address)).toBe('{"return":{"id":2}}');
        expect(await guest.publish('udp', '::', udpPort, server.udpPort, slaac.address)).toBe('{"return":{"id":3}}');

        const fromVeth = await guestExchange(client, 'tcp', VETH_HOST_IPV6, anyPort, 4000);
        expect(fromVeth).toMatchObject({ reply: expect.stringMatching(new RegExp(`^${VETH_CLIENT_IPV6} 4000 [0-9a-f]{64}\\n$`)) });
        expect(await hostTcpExchange('::1', loopPort, 'hello')).toMatch(new RegExp(`^${S.gateway} 5 `));
        expect(await hostTcpExchange('::1', anyPort, 'hello')).toMatch(new RegExp(`^${S.gateway} 5 `));

        expect(await guestExchange(client, 'udp', VETH_HOST_IPV6, udpPort, 700)).toEqual({ same: true, length: 700 });
        expect(server.exchanges().map((e) => `${e.proto} ${e.peer}`)).toEqual([`tcp ${VETH_CLIENT_IPV6}`, `tcp ${S.gateway}`, `tcp ${S.gateway}`, `udp ${VETH_CLIENT_IPV6}`]);
      });
    }

    if (impl === 'tslirp') {
      it('an IPv6 forward to the guest\'s IPv4 address (guest_addr empty): an IPv6 client reaches the guest', async (ctx) => {
        requireIpv6(ctx, impl);
        const client = await createVethClient(tracker, cleanups, { ipv6: true });
        const { guest } = await startIpv6Guest(impl, tracker, cleanups);
        const server = await startPeerServer(tracker, '0.0.0.0', guest.ns.pid);
        const port = await freePort('::');
        // podman's form: guest_addr "" is the guest's IPv4 address, whatever the client's family.
        expect(await guest.publish('tcp', '::', port, server.tcpPort, '')).toBe('{"return":{"id":1}}');
        const answer = await guestExchange(client, 'tcp', VETH_HOST_IPV6, port, 1000);
        expect(answer).toMatchObject({ reply: expect.stringMatching(/^\S+ 1000 [0-9a-f]{64}\n$/) });
        expect(server.exchanges()).toHaveLength(1);
      });
    }
  });
}
