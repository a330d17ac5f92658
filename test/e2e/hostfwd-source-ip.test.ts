/**
 * Published ports keep the client's source address (libslirp's rule, CLIENTS.md): a client in a
 * namespace joined to ours by a veth (198.18.0.2) reaching a published port on 198.18.0.1 is seen
 * by the guest's server as 198.18.0.2, for TCP and UDP; a host loopback client appears as 10.0.2.2.
 * Also: removing a forward closes its listener while a connection through it continues. Run against
 * the real slirp4netns too, as the reference that proves each scenario itself (one quirk of it noted
 * below: it answers a non-loopback UDP client from the wrong port).
 */
import { execFile } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { apiRequest } from '../support/api-client.js';
import { requireOrSkip } from '../support/netns.js';
import { createVethClient, freePort, implementationPrerequisite, startPublishedGuest, testResources, type Implementation } from '../support/published-guest.js';

const execFileAsync = promisify(execFile);
const { tracker, cleanups, release } = testResources();
afterEach(release);

/** Runs socat as a client (in a namespace when pid is given); returns what the server answered. */
async function socatClient(pid: number | undefined, target: string, input = ''): Promise<string> {
  const socat = ['socat', '-T', '3', '-', target];
  const [command, args] = pid === undefined ? [socat[0], socat.slice(1)] : ['nsenter', ['-t', String(pid), '-n', ...socat]];
  const child = execFileAsync(command, args, { encoding: 'utf8', timeout: 15_000 });
  child.child.stdin?.end(input);
  return (await child).stdout;
}

/** A line-oriented TCP client: next() resolves with each line the server sends. */
function lineClient(port: number): Promise<{ socket: Socket; next: () => Promise<string> }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    const lines: string[] = [];
    let buffered = '';
    let wake: (() => void) | undefined;
    socket.on('data', (d: Buffer) => {
      buffered += d.toString();
      for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
        lines.push(buffered.slice(0, nl));
        buffered = buffered.slice(nl + 1);
      }
      wake?.();
    });
    const next = async (): Promise<string> => {
      const deadline = Date.now() + 10_000;
      while (lines.length === 0) {
        if (Date.now() > deadline || socket.destroyed) throw new Error(`no line from port ${port}`);
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, 100);
        });
      }
      return lines.shift() as string;
    };
    socket.once('connect', () => resolve({ socket, next }));
    socket.once('error', reject);
  });
}

/** Retries a UDP exchange (the first datagram may race the server's start). */
async function udpExchange(pid: number | undefined, target: string): Promise<string> {
  let answer = '';
  for (let i = 0; i < 5 && answer === ''; i++) answer = await socatClient(pid, target, 'who am i\n').catch(() => '');
  return answer;
}

const impls: Implementation[] = ['slirp4netns', 'tslirp'];
for (const impl of impls) {
  describe(`source address through published ports: ${impl}`, () => {
    it('TCP and UDP from the veth client keep 198.18.0.2; loopback clients appear as 10.0.2.2', async (ctx) => {
      requireOrSkip(ctx, implementationPrerequisite(impl));
      const guest = await startPublishedGuest(impl, tracker, cleanups);
      guest.spawnInGuest('socat', ['TCP-LISTEN:8080,reuseaddr,fork', 'SYSTEM:echo $SOCAT_PEERADDR']);
      guest.spawnInGuest('socat', ['UDP-RECVFROM:8081,fork', 'SYSTEM:echo $SOCAT_PEERADDR']);
      // A second server: slirp4netns mixes up two UDP forwards to the same guest port.
      guest.spawnInGuest('socat', ['UDP-RECVFROM:8082,fork', 'SYSTEM:echo $SOCAT_PEERADDR']);
      await guest.waitListening('tcp', 8080);
      await guest.waitListening('udp', 8081);
      await guest.waitListening('udp', 8082);
      const client = await createVethClient(tracker, cleanups);
      const [tcpPort, udpPort, udpLoopPort] = [await freePort('0.0.0.0'), await freePort('0.0.0.0'), await freePort('0.0.0.0')];
      expect(await guest.publish('tcp', '0.0.0.0', tcpPort, 8080)).toBe('{"return":{"id":1}}');
      expect(await guest.publish('udp', '198.18.0.1', udpPort, 8081)).toBe('{"return":{"id":2}}');
      expect(await guest.publish('udp', '127.0.0.1', udpLoopPort, 8082)).toBe('{"return":{"id":3}}');

      let tcpFromVeth = '';
      for (let i = 0; i < 20 && tcpFromVeth === ''; i++) {
        tcpFromVeth = await socatClient(client.pid, `TCP:198.18.0.1:${tcpPort}`).catch(() => '');
        if (tcpFromVeth === '') await new Promise((r) => setTimeout(r, 250));
      }
      expect(tcpFromVeth, guest.log.text).toBe('198.18.0.2\n');
      expect(await socatClient(undefined, `TCP:127.0.0.1:${tcpPort}`)).toBe('10.0.2.2\n');
      // UDP-DATAGRAM takes the answer from any source port: slirp4netns 1.2 answers a non-loopback
      // client from the guest's port (8081) instead of the published one, which a connected client drops.
      expect(await udpExchange(client.pid, `UDP-DATAGRAM:198.18.0.1:${udpPort}`)).toBe('198.18.0.2\n');
      expect(await udpExchange(undefined, `UDP:127.0.0.1:${udpLoopPort}`)).toBe('10.0.2.2\n');
      if (impl === 'tslirp') {
        // Ours answers from the published port, so a connected UDP client works too.
        expect(await udpExchange(client.pid, `UDP:198.18.0.1:${udpPort}`)).toBe('198.18.0.2\n');
      }
    });

    it('removing a forward closes its listener; a connection already open continues', async (ctx) => {
      requireOrSkip(ctx, implementationPrerequisite(impl));
      const guest = await startPublishedGuest(impl, tracker, cleanups);
      guest.spawnInGuest('socat', ['TCP-LISTEN:8083,reuseaddr,fork', 'EXEC:cat']);
      await guest.waitListening('tcp', 8083);
      const port = await freePort('0.0.0.0');
      expect(await guest.publish('tcp', '127.0.0.1', port, 8083)).toBe('{"return":{"id":1}}');
      const open = await lineClient(port);
      cleanups.push(() => void open.socket.destroy());
      open.socket.write('before\n');
      expect(await open.next()).toBe('before');

      expect((await apiRequest(guest.apiSocket, '{"execute":"remove_hostfwd","arguments":{"id":1}}')).text).toBe('{"return":{}}');
      expect((await apiRequest(guest.apiSocket, '{"execute":"list_hostfwd"}')).text).toBe('{"entries":[]}');
      await expect(lineClient(port)).rejects.toThrow(/ECONNREFUSED/);
      open.socket.write('after\n');
      expect(await open.next()).toBe('after');
    });
  });
}
