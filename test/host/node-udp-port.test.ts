/**
 * NodeUdpPort against real loopback sockets (127.0.0.1 only): datagrams out and replies back,
 * ECONNREFUSED reported for a closed port (the socket is connected while it has one destination),
 * and a second destination keeps the same local port and hears both peers.
 */
import { createSocket, type Socket } from 'node:dgram';
import { afterEach, describe, expect, test } from 'vitest';
import { NodeUdpPort } from '../../src/host/node-udp-port.js';
import type { HostEndpoint } from '../../src/stack/host-address-map.js';
import type { HostUdpSocket } from '../../src/stack/udp/host-udp-port.js';

const open: (Socket | HostUdpSocket)[] = [];
afterEach(() => {
  for (const s of open.splice(0)) s.close();
});

async function echoServer(): Promise<{ port: number; peers: string[] }> {
  const server = createSocket('udp4');
  open.push(server);
  const peers: string[] = [];
  server.on('message', (msg, rinfo) => {
    peers.push(`${rinfo.address}:${rinfo.port}`);
    server.send(msg, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => server.bind(0, '127.0.0.1', resolve));
  return { port: server.address().port, peers };
}

async function closedPort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
  const port = s.address().port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

function client() {
  const messages: { text: string; from: string }[] = [];
  const errors: { code: string; destination?: HostEndpoint }[] = [];
  const socket = new NodeUdpPort().open({
    onMessage: (payload, address, port) => messages.push({ text: Buffer.from(payload).toString(), from: `${address}:${port}` }),
    onError: (code, destination) => errors.push({ code, destination }),
  });
  open.push(socket);
  return { socket, messages, errors };
}

async function until(what: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!what()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('NodeUdpPort', () => {
  test('sends (payload copied: the caller may reuse its buffer) and receives replies', async () => {
    const server = await echoServer();
    const { socket, messages } = client();
    const scratch = Buffer.from('one');
    socket.send(scratch, { address: '127.0.0.1', port: server.port });
    scratch.write('XXX'); // lent only during the call
    socket.send(Buffer.from('two'), { address: '127.0.0.1', port: server.port });
    await until(() => messages.length === 2);
    expect(messages.map((m) => m.text)).toEqual(['one', 'two']);
    expect(messages[0].from).toBe(`127.0.0.1:${server.port}`);
  });

  test('a closed port is reported as ECONNREFUSED with its endpoint', async () => {
    const port = await closedPort();
    const { socket, errors } = client();
    socket.send(Buffer.from('x'), { address: '127.0.0.1', port });
    await until(() => errors.length > 0);
    expect(errors[0].code).toBe('ECONNREFUSED');
    expect(errors[0].destination).toEqual({ address: '127.0.0.1', port });
  });

  test('a second destination keeps the local port and hears both peers', async () => {
    const a = await echoServer();
    const b = await echoServer();
    const { socket, messages } = client();
    socket.send(Buffer.from('a1'), { address: '127.0.0.1', port: a.port });
    await until(() => messages.length === 1);
    socket.send(Buffer.from('b1'), { address: '127.0.0.1', port: b.port });
    socket.send(Buffer.from('a2'), { address: '127.0.0.1', port: a.port });
    await until(() => messages.length === 3);
    expect(messages.map((m) => m.text).sort()).toEqual(['a1', 'a2', 'b1']);
    expect(new Set([...a.peers, ...b.peers]).size).toBe(1);
  });

  test('close is idempotent and silences events', async () => {
    const server = await echoServer();
    const { socket, messages } = client();
    socket.send(Buffer.from('z'), { address: '127.0.0.1', port: server.port });
    socket.close();
    socket.close();
    await new Promise((r) => setTimeout(r, 50));
    expect(messages).toHaveLength(0);
  });
});
