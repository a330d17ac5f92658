/**
 * 100 MB through a published TCP port in each direction, sha256-verified: host client → guest server
 * and guest server → host client, over loopback (127.0.0.1) into a guest namespace the test created.
 * Run against the real slirp4netns as the reference and against tslirp; each direction's time is
 * reported (not asserted).
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { requireOrSkip, waitFor } from '../support/netns.js';
import { freePort, implementationPrerequisite, startPublishedGuest, testResources, type Implementation } from '../support/published-guest.js';

const SIZE = 100 * 1024 * 1024;
const { tracker, cleanups, release } = testResources();
afterEach(release);

/** Connects, retrying while the guest server starts (a reset or refusal before any data). */
async function connectWithRetry(port: number, onSocket: (socket: import('node:net').Socket) => Promise<void>): Promise<void> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 40; attempt++) {
    try {
      await onSocket(connect({ host: '127.0.0.1', port }));
      return;
    } catch (error) {
      lastError = error;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  throw lastError;
}

/** Sends data to the published port; resolves once the guest closed its side. */
function sendAll(socket: import('node:net').Socket, data: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    let wrote = false;
    socket.once('connect', () => {
      wrote = true;
      socket.end(data);
    });
    socket.on('data', () => undefined);
    socket.once('error', (error) => (wrote ? resolve() : reject(error)));
    socket.once('close', () => (wrote ? resolve() : reject(new Error('closed before connect'))));
  });
}

/** Reads until EOF; resolves with sha256 and length; rejects when nothing at all arrived. */
function receiveAll(socket: import('node:net').Socket): Promise<{ sha256: string; length: number }> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    let length = 0;
    socket.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      length += chunk.length;
    });
    socket.once('error', (error) => (length === 0 ? reject(error) : undefined));
    socket.once('close', () => (length === 0 ? reject(new Error('no data')) : resolve({ sha256: hash.digest('hex'), length })));
  });
}

const impls: Implementation[] = ['slirp4netns', 'tslirp'];
for (const impl of impls) {
  describe(`100 MB through a published port: ${impl}`, () => {
    it('host → guest and guest → host, sha256 verified', { timeout: 240_000 }, async (ctx) => {
      requireOrSkip(ctx, implementationPrerequisite(impl));
      const guest = await startPublishedGuest(impl, tracker, cleanups);
      const data = randomBytes(SIZE);
      const expected = createHash('sha256').update(data).digest('hex');
      const outgoing = join(guest.dir, 'g2h.bin');
      writeFileSync(outgoing, data);
      const receivedHash = join(guest.dir, 'h2g.sha256');
      // Guest servers: one hashes what it receives, one sends the file to whoever connects.
      guest.spawnInGuest('sh', ['-c', `socat -u TCP-LISTEN:9000,reuseaddr - | sha256sum > ${receivedHash}.part && mv ${receivedHash}.part ${receivedHash}`]);
      guest.spawnInGuest('socat', ['-u', `FILE:${outgoing}`, 'TCP-LISTEN:9001,reuseaddr']);
      await guest.waitListening('tcp', 9000);
      await guest.waitListening('tcp', 9001);
      const [inPort, outPort] = [await freePort(), await freePort()];
      expect(await guest.publish('tcp', '127.0.0.1', inPort, 9000)).toBe('{"return":{"id":1}}');
      expect(await guest.publish('tcp', '127.0.0.1', outPort, 9001)).toBe('{"return":{"id":2}}');

      let start = performance.now();
      await connectWithRetry(inPort, (socket) => sendAll(socket, data));
      await waitFor('the guest to hash what it received', () => existsSync(receivedHash), 120_000, 50);
      const hostToGuestMs = performance.now() - start;
      expect(readFileSync(receivedHash, 'utf8').split(/\s/)[0]).toBe(expected);

      start = performance.now();
      let received = { sha256: '', length: 0 };
      await connectWithRetry(outPort, async (socket) => {
        received = await receiveAll(socket);
      });
      const guestToHostMs = performance.now() - start;
      expect(received.length).toBe(SIZE);
      expect(received.sha256).toBe(expected);

      const mbps = (ms: number): string => `${((SIZE * 8) / (ms / 1000) / 1e6).toFixed(0)} Mbit/s`;
      const report = `${impl}: host→guest ${hostToGuestMs.toFixed(0)} ms (${mbps(hostToGuestMs)}), guest→host ${guestToHostMs.toFixed(0)} ms (${mbps(guestToHostMs)})`;
      console.log(report);
      ctx.annotate?.(report);
    });
  });
}
