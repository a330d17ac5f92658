/**
 * NodeUdpPort against real loopback sockets (127.0.0.1 and ::1): datagrams out and replies back,
 * ECONNREFUSED reported for a closed port (the socket is connected while it has one destination),
 * and a second destination keeps the same local port and hears both peers. Each case runs for both
 * families: an IPv6 destination gets a udp6 socket (and an IPv4-mapped one reaches an IPv4 peer).
 */
import type { Socket } from 'node:dgram';
import { afterEach, describe, expect, test } from 'vitest';
import { NodeUdpPort } from '../../src/host/node-udp-port.js';
import type { HostEndpoint } from '../../src/stack/host-address-map.js';
import type { HostUdpSocket } from '../../src/stack/udp/host-udp-port.js';
import { closedUdpPort as closedPort, udpLoopbackServer, until, type UdpLoopbackServer } from '../support/udp-loopback.js';

const open: (Socket | HostUdpSocket)[] = [];
afterEach(() => {
  for (const s of open.splice(0)) s.close();
});

/** A loopback echo server, closed after the test. */
async function echoServer(host = '127.0.0.1'): Promise<UdpLoopbackServer> {
  const peer = await udpLoopbackServer(host);
  open.push(peer.socket);
  return peer;
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

describe.each(['127.0.0.1', '::1'])('NodeUdpPort to %s', (LOOPBACK) => {
  test('sends (payload copied: the caller may reuse its buffer) and receives replies', async () => {
    const server = await echoServer(LOOPBACK);
    const { socket, messages } = client();
    const scratch = Buffer.from('one');
    socket.send(scratch, { address: LOOPBACK, port: server.port });
    scratch.write('XXX'); // lent only during the call
    socket.send(Buffer.from('two'), { address: LOOPBACK, port: server.port });
    await until(() => messages.length === 2);
    expect(messages.map((m) => m.text)).toEqual(['one', 'two']);
    expect(messages[0].from).toBe(`${LOOPBACK}:${server.port}`);
  });

  test('a closed port is reported as ECONNREFUSED with its endpoint', async () => {
    const port = await closedPort(LOOPBACK);
    const { socket, errors } = client();
    socket.send(Buffer.from('x'), { address: LOOPBACK, port });
    await until(() => errors.length > 0);
    expect(errors[0].code).toBe('ECONNREFUSED');
    expect(errors[0].destination).toEqual({ address: LOOPBACK, port });
  });

  test('a second destination keeps the local port and hears both peers', async () => {
    const a = await echoServer(LOOPBACK);
    const b = await echoServer(LOOPBACK);
    const { socket, messages } = client();
    socket.send(Buffer.from('a1'), { address: LOOPBACK, port: a.port });
    await until(() => messages.length === 1);
    socket.send(Buffer.from('b1'), { address: LOOPBACK, port: b.port });
    socket.send(Buffer.from('a2'), { address: LOOPBACK, port: a.port });
    await until(() => messages.length === 3);
    expect(messages.map((m) => m.text).sort()).toEqual(['a1', 'a2', 'b1']);
    expect(new Set([...a.peers, ...b.peers]).size).toBe(1);
  });

  test('close is idempotent and silences events', async () => {
    const server = await echoServer(LOOPBACK);
    const { socket, messages } = client();
    socket.send(Buffer.from('z'), { address: LOOPBACK, port: server.port });
    socket.close();
    socket.close();
    await new Promise((r) => setTimeout(r, 50));
    expect(messages).toHaveLength(0);
  });
});

test('an IPv4-mapped destination (::ffff:127.0.0.1) reaches an IPv4 peer through a udp6 socket', async () => {
  const server = await echoServer('127.0.0.1');
  const { socket, messages } = client();
  socket.send(Buffer.from('mapped'), { address: '::ffff:127.0.0.1', port: server.port });
  await until(() => messages.length === 1);
  expect(messages[0]).toEqual({ text: 'mapped', from: `::ffff:127.0.0.1:${server.port}` });
  expect(server.peers[0]).toMatch(/^127\.0\.0\.1:/);
});
