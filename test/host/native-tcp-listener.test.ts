/**
 * acceptClientsNatively (native/tcp_listener.c): a listening net.Server's accepting taken over by
 * the addon. Each client arrives as (descriptor, address, port) with no 'connection' event, the
 * descriptor carries the connection both ways once adopted, IPv6 clients come with their address
 * text, a burst of clients is accepted whole, running out of descriptors pauses accepting instead of
 * spinning, and stopping closes the socket (connects refused).
 * Loopback only.
 */
import { execFileSync } from 'node:child_process';
import { closeSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { acceptClientsNatively } from '../../src/host/native-tcp-listener.js';
import { adoptDescriptorNatively } from '../../src/host/native-tcp-port.js';
import { recordHostStream } from '../support/host-stream-recorder.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

interface Accepted {
  readonly fd: number;
  readonly address: string;
  readonly port: number;
}

/** A server listening on host, taken over; its clients queue up in `accepted`. */
async function takenOver(host: string): Promise<{ server: Server; port: number; accepted: Accepted[]; stop: () => void; nodeConnections: () => number }> {
  const server = createServer({ pauseOnConnect: true });
  let nodeConnections = 0;
  server.on('connection', (socket) => {
    nodeConnections++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen({ host, port: 0 }, resolve));
  const port = (server.address() as { port: number }).port;
  const accepted: Accepted[] = [];
  const stop = acceptClientsNatively(server, (fd, address, clientPort) => accepted.push({ fd, address, port: clientPort }));
  if (stop === undefined) throw new Error('no descriptor to take over');
  let stopped = false;
  const stopOnce = (): void => {
    if (!stopped) stop();
    stopped = true;
  };
  cleanups.push(stopOnce);
  return { server, port, accepted, stop: stopOnce, nodeConnections: () => nodeConnections };
}

function client(host: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    cleanups.push(() => socket.destroy());
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 2000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

describe('acceptClientsNatively', { timeout: 10_000 }, () => {
  it('hands each client over as its descriptor, address and port; the server is closed and sees none', async () => {
    const { server, port, accepted, nodeConnections } = await takenOver('127.0.0.1');
    expect(server.listening).toBe(false);
    const socket = await client('127.0.0.1', port);
    await until(() => accepted.length === 1, 'the client');
    expect(accepted[0]).toMatchObject({ address: '127.0.0.1', port: socket.localPort });
    expect(accepted[0].fd).toBeGreaterThan(2);
    expect(nodeConnections()).toBe(0);

    // The descriptor is the connection: adopted as a published port's client is, bytes go both ways.
    const events = recordHostStream();
    const stream = adoptDescriptorNatively(accepted[0].fd, events);
    cleanups.push(() => stream.destroy());
    stream.resume();
    socket.write('ping');
    await until(() => Buffer.concat(events.chunks).toString() === 'ping', 'the client bytes');
    const reply = new Promise<string>((resolve) => socket.once('data', (d: Buffer) => resolve(d.toString())));
    stream.write(new TextEncoder().encode('pong'), () => undefined);
    expect(await reply).toBe('pong');
  });

  it('takes IPv6 clients with their address text, and a burst of clients whole', async () => {
    const { port, accepted } = await takenOver('::1');
    const sockets = await Promise.all(Array.from({ length: 50 }, () => client('::1', port)));
    await until(() => accepted.length === 50, 'every client');
    expect(new Set(accepted.map((a) => a.address))).toEqual(new Set(['::1']));
    expect(accepted.map((a) => a.port).sort()).toEqual(sockets.map((s) => s.localPort).sort());
    expect(new Set(accepted.map((a) => a.fd)).size).toBe(50);
    for (const a of accepted) adoptDescriptorNatively(a.fd, recordHostStream()).destroy();
  });

  it('out of descriptors, waits for one instead of spinning, then accepts the client that waited', () => {
    const child = join(dirname(fileURLToPath(import.meta.url)), '../support/accept-out-of-descriptors.ts');
    const output = execFileSync('bash', ['-c', `ulimit -n 64 && exec "${process.execPath}" --import tsx "${child}"`], { encoding: 'utf8', timeout: 20_000 });
    const { accepted, cpuMs } = JSON.parse(output) as { accepted: number; cpuMs: number };
    expect(accepted).toBe(2);
    expect(cpuMs).toBeLessThan(100); // a poll reporting the waiting client over and over: ~500 ms of 500
  });

  it('stops accepting and closes the socket when stopped (a second stop does nothing)', async () => {
    const { port, stop } = await takenOver('127.0.0.1');
    stop();
    stop();
    await expect(client('127.0.0.1', port)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});

it('calls onClient with itself as `this` (no lookup of the global object per client)', async () => {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
  const port = (server.address() as { port: number }).port;
  const receivers: unknown[] = [];
  const fds: number[] = [];
  function onClient(this: unknown, fd: number): void {
    receivers.push(this);
    fds.push(fd);
  }
  const stop = acceptClientsNatively(server, onClient);
  if (stop === undefined) throw new Error('no descriptor to take over');
  cleanups.push(stop);
  const client = connect(port, '127.0.0.1');
  cleanups.push(() => client.destroy());
  const end = Date.now() + 3000;
  while (fds.length === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
  for (const fd of fds) cleanups.push(() => closeSync(fd));
  expect(receivers).toEqual([onClient]);
});
