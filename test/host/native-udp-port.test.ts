/**
 * NativeUdpPort against real loopback sockets (127.0.0.1 and ::1): datagrams out and replies back,
 * replies heard from a peer the socket never sent to (full cone, one unconnected socket), ICMP port
 * unreachable reported as ECONNREFUSED with the destination it concerns (a second destination's
 * too, and one the kernel handed to the next send), --outbound-addr binding, the other family
 * refused, close idempotent and final, an exception of ours closing only that socket, and no
 * descriptor left behind by many sockets. Each case runs for both families where both apply.
 */
import type { Socket } from 'node:dgram';
import { readdirSync } from 'node:fs';
import { afterEach, describe, expect, test } from 'vitest';
import { NativeUdpPort } from '../../src/host/native-udp-port.js';
import type { OutboundBind } from '../../src/host/outbound-bind.js';
import type { HostEndpoint } from '../../src/stack/host-address-map.js';
import type { HostUdpSocket, HostUdpSocketEvents } from '../../src/stack/udp/host-udp-port.js';
import { closedUdpPort as closedPort, udpLoopbackServer, until, type UdpLoopbackServer } from '../support/udp-loopback.js';

const open: (Socket | HostUdpSocket)[] = [];
afterEach(() => {
  for (const s of open.splice(0)) s.close();
});

/** A loopback echo server (or, with echo false, a sink), closed after the test. */
async function server(host: string, echo = true): Promise<UdpLoopbackServer> {
  const peer = await udpLoopbackServer(host, echo);
  open.push(peer.socket);
  return peer;
}

function client(bind?: OutboundBind, overrides: Partial<HostUdpSocketEvents> = {}) {
  const messages: { text: string; from: string }[] = [];
  const errors: { code: string; destination?: HostEndpoint }[] = [];
  const socket = new NativeUdpPort(bind).open({
    onMessage: (payload, address, port) => messages.push({ text: Buffer.from(payload).toString(), from: `${address}:${port}` }),
    onError: (code, destination) => errors.push({ code, destination }),
    ...overrides,
  });
  open.push(socket);
  return { socket, messages, errors };
}

const settle = (ms = 50) => new Promise((r) => setTimeout(r, ms));

describe.each(['127.0.0.1', '::1'])('NativeUdpPort to %s', (LOOPBACK) => {
  test('sends the caller’s view (reusable after the call) and receives replies from the peer’s address', async () => {
    const echo = await server(LOOPBACK);
    const { socket, messages } = client();
    const scratch = Buffer.from('one');
    socket.send(scratch, { address: LOOPBACK, port: echo.port });
    scratch.write('XXX'); // lent only during the call
    socket.send(Buffer.from('two'), { address: LOOPBACK, port: echo.port });
    await until(() => messages.length === 2);
    expect(messages.map((m) => m.text)).toEqual(['one', 'two']);
    expect(messages[0].from).toBe(`${LOOPBACK}:${echo.port}`);
  });

  test('a peer it never sent to is heard at once (full cone), on the one host port of the binding', async () => {
    const first = await server(LOOPBACK, false);
    const second = await server(LOOPBACK, false);
    const { socket, messages } = client();
    socket.send(Buffer.from('hello'), { address: LOOPBACK, port: first.port });
    await until(() => first.peers.length === 1);
    const ourPort = Number(first.peers[0].slice(first.peers[0].lastIndexOf(':') + 1));
    second.socket.send(Buffer.from('from a stranger'), ourPort, LOOPBACK);
    await until(() => messages.length === 1);
    expect(messages[0]).toEqual({ text: 'from a stranger', from: `${LOOPBACK}:${second.port}` });
    socket.send(Buffer.from('to the second'), { address: LOOPBACK, port: second.port });
    await until(() => second.peers.length === 1);
    expect(second.peers[0]).toBe(first.peers[0]); // one host port whatever the binding talks to
  });

  test('a closed port is reported as ECONNREFUSED with its endpoint, once', async () => {
    const port = await closedPort(LOOPBACK);
    const { socket, errors } = client();
    socket.send(Buffer.from('x'), { address: LOOPBACK, port });
    await until(() => errors.length > 0);
    await settle();
    expect(errors).toEqual([{ code: 'ECONNREFUSED', destination: { address: LOOPBACK, port } }]);
  });

  test('a refusal names the refused destination, not the latest one, and replies keep coming', async () => {
    const echo = await server(LOOPBACK);
    const port = await closedPort(LOOPBACK);
    const { socket, messages, errors } = client();
    socket.send(Buffer.from('a'), { address: LOOPBACK, port: echo.port });
    await until(() => messages.length === 1);
    socket.send(Buffer.from('b'), { address: LOOPBACK, port });
    await until(() => errors.length > 0);
    socket.send(Buffer.from('c'), { address: LOOPBACK, port: echo.port });
    await until(() => messages.length === 2);
    expect(errors).toEqual([{ code: 'ECONNREFUSED', destination: { address: LOOPBACK, port } }]);
    expect(messages.map((m) => m.text)).toEqual(['a', 'c']);
  });

  test('an earlier datagram’s error handed to the next send is reported with its own destination, and that send still goes', async () => {
    const echo = await server(LOOPBACK);
    const port = await closedPort(LOOPBACK);
    const { socket, messages, errors } = client();
    // On loopback the port unreachable is queued inside the first sendto: the second returns it.
    socket.send(Buffer.from('refused'), { address: LOOPBACK, port });
    socket.send(Buffer.from('answered'), { address: LOOPBACK, port: echo.port });
    await until(() => messages.length === 1);
    await settle();
    expect(messages[0].text).toBe('answered');
    expect(errors).toEqual([{ code: 'ECONNREFUSED', destination: { address: LOOPBACK, port } }]);
  });

  test('a destination of the other family is refused with EAFNOSUPPORT, the socket kept', async () => {
    const echo = await server(LOOPBACK);
    const { socket, messages, errors } = client();
    socket.send(Buffer.from('first'), { address: LOOPBACK, port: echo.port });
    const other = LOOPBACK.includes(':') ? { address: '127.0.0.1', port: 9 } : { address: '::1', port: 9 };
    socket.send(Buffer.from('other'), other);
    expect(errors).toEqual([{ code: 'EAFNOSUPPORT', destination: other }]);
    socket.send(Buffer.from('again'), { address: LOOPBACK, port: echo.port });
    await until(() => messages.length === 2);
    expect(messages.map((m) => m.text)).toEqual(['first', 'again']);
  });

  test('close is idempotent and nothing is emitted after it', async () => {
    const echo = await server(LOOPBACK);
    const port = await closedPort(LOOPBACK);
    const { socket, messages, errors } = client();
    socket.send(Buffer.from('z'), { address: LOOPBACK, port: echo.port });
    socket.send(Buffer.from('y'), { address: LOOPBACK, port });
    socket.close();
    socket.close();
    socket.send(Buffer.from('after'), { address: LOOPBACK, port: echo.port });
    await until(() => echo.peers.length === 1);
    await settle(100);
    expect(echo.peers).toHaveLength(1);
    expect(messages).toHaveLength(0);
    expect(errors).toHaveLength(0);
  });

  test('an exception of ours in an event closes that socket only (EIO); the next send opens another', async () => {
    const echo = await server(LOOPBACK);
    let throwOnce = true;
    const texts: string[] = [];
    const { socket, errors } = client(undefined, {
      onMessage: (payload) => {
        if (throwOnce) {
          throwOnce = false;
          throw new Error('injected');
        }
        texts.push(Buffer.from(payload).toString());
      },
    });
    socket.send(Buffer.from('boom'), { address: LOOPBACK, port: echo.port });
    await until(() => errors.length === 1);
    expect(errors[0]).toEqual({ code: 'EIO', destination: undefined });
    socket.send(Buffer.from('fine'), { address: LOOPBACK, port: echo.port });
    await until(() => texts.length === 1);
    expect(texts).toEqual(['fine']);
    expect(new Set(echo.peers).size).toBe(2); // a new socket, a new port
  });
});

test('an IPv4-mapped destination (::ffff:127.0.0.1) reaches an IPv4 peer and is refused by its address', async () => {
  const echo = await server('127.0.0.1');
  const port = await closedPort('127.0.0.1');
  const { socket, messages, errors } = client();
  socket.send(Buffer.from('mapped'), { address: '::ffff:127.0.0.1', port: echo.port });
  await until(() => messages.length === 1);
  expect(messages[0]).toEqual({ text: 'mapped', from: `::ffff:127.0.0.1:${echo.port}` });
  expect(echo.peers[0]).toMatch(/^127\.0\.0\.1:/);
  socket.send(Buffer.from('refused'), { address: '::ffff:127.0.0.1', port });
  await until(() => errors.length === 1);
  expect(errors[0]).toEqual({ code: 'ECONNREFUSED', destination: { address: '::ffff:127.0.0.1', port } });
});

test('--outbound-addr: the socket is bound to it, loopback destinations included', async () => {
  const echo = await server('127.0.0.1');
  const { socket, messages } = client({ ipv4: '127.0.0.2', ipv6: undefined });
  socket.send(Buffer.from('bound'), { address: '127.0.0.1', port: echo.port });
  await until(() => messages.length === 1);
  expect(echo.peers[0]).toMatch(/^127\.0\.0\.2:/);
});

test('an outbound address that cannot be bound is reported with the destination, and nothing is sent', async () => {
  const echo = await server('127.0.0.1');
  const { socket, errors } = client({ ipv4: '192.0.2.1', ipv6: undefined }); // TEST-NET: not ours
  socket.send(Buffer.from('x'), { address: '127.0.0.1', port: echo.port });
  expect(errors).toEqual([{ code: 'EADDRNOTAVAIL', destination: { address: '127.0.0.1', port: echo.port } }]);
  await settle();
  expect(echo.peers).toHaveLength(0);
});

test('many sockets opened, used and closed leave no descriptor behind', async () => {
  const echo = await server('127.0.0.1');
  const port = await closedPort('127.0.0.1');
  const descriptors = () => readdirSync('/proc/self/fd').length;
  const before = descriptors();
  // Waves of 25: the echo server (this process's dgram socket) drops what its receive buffer cannot
  // hold while this process is busy; a wave of 100 lost datagrams on a loaded machine.
  for (let round = 0; round < 40; round++) {
    const clients = Array.from({ length: 25 }, () => client());
    for (const [i, c] of clients.entries()) c.socket.send(Buffer.from('n'), { address: '127.0.0.1', port: i % 2 === 0 ? echo.port : port });
    expect(descriptors()).toBeGreaterThanOrEqual(before + 25);
    await until(() => clients.every((c, i) => i % 2 === 1 || c.messages.length === 1));
    // The refusals are ICMP errors, which the kernel rate-limits for the whole machine (1000/s, bursts
    // of 50: net.ipv4.icmp_msgs_per_sec), a budget the test files running beside this one share: a
    // refusal may never come. Waited for a while, not required (a clean-clone CI run timed out here at 4830571).
    await until(() => clients.every((c, i) => i % 2 === 0 || c.errors.length === 1), 500).catch(() => undefined);
    for (const c of clients) c.socket.close();
  }
  await settle();
  expect(descriptors()).toBe(before);
});
