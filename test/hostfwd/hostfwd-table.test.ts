/**
 * The published-port table on real loopback sockets, with a fake engine behind the GuestConnector:
 * the fake "guest" records each flow's guest-visible source and echoes TCP bytes back.
 */
import { createSocket } from 'node:dgram';
import { connect, createServer, type Socket } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/stack/clock.js';
import { resolveNetworkConfig } from '../../src/stack/config.js';
import type { GuestConnector, GuestTcpOpen, UdpService } from '../../src/hostfwd/guest-connector.js';
import { guestVisibleSource, HostfwdTable } from '../../src/hostfwd/hostfwd-table.js';

const config = resolveNetworkConfig();
const GATEWAY = config.ipv4.gateway;
const GUEST = config.ipv4.guest;
const ip = (text: string): number => text.split('.').reduce((a, b) => a * 256 + Number(b), 0);

class FakeEngine implements GuestConnector {
  opens: GuestTcpOpen[] = [];
  datagrams: { source: number; sourcePort: number; destination: number; destinationPort: number; payload: Buffer }[] = [];
  services: UdpService[] = [];
  tcp = {
    openToGuest: (open: GuestTcpOpen): void => {
      this.opens.push(open);
      // The "guest" answers the SYN: resume and echo, tagging the first bytes with the source it saw.
      open.socket.write(`from ${open.source}:${open.sourcePort}\n`);
      open.socket.on('data', (d) => open.socket.write(d));
      open.socket.on('end', () => open.socket.end());
      open.socket.on('error', () => undefined);
      open.socket.resume();
    },
  };
  udp = {
    sendToGuest: (source: number, sourcePort: number, destination: number, destinationPort: number, payload: Uint8Array): void => {
      this.datagrams.push({ source, sourcePort, destination, destinationPort, payload: Buffer.from(payload) });
    },
    addUdpService: (service: UdpService): (() => void) => {
      this.services.push(service);
      return () => (this.services = this.services.filter((s) => s !== service));
    },
  };
  /** A guest datagram offered to the services, as the UDP engine would. */
  fromGuest(sourcePort: number, destination: number, destinationPort: number, payload: string): boolean {
    return this.services.some((s) => s.receiveUdp(GUEST, sourcePort, destination, destinationPort, Buffer.from(payload)));
  }
}

async function freePort(host = '127.0.0.1'): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function tcpClient(host: string, port: number): Promise<{ socket: Socket; lines: string[]; next: () => Promise<string> }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    const lines: string[] = [];
    let buffered = '';
    let waiter: (() => void) | undefined;
    socket.on('data', (d: Buffer) => {
      buffered += d.toString();
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        lines.push(buffered.slice(0, nl));
        buffered = buffered.slice(nl + 1);
      }
      waiter?.();
    });
    const next = async (): Promise<string> => {
      while (lines.length === 0) await new Promise<void>((r) => (waiter = r));
      return lines.shift() as string;
    };
    socket.once('connect', () => resolve({ socket, lines, next }));
    socket.once('error', reject);
  });
}

let engine: FakeEngine;
let clock: FakeClock;
let table: HostfwdTable;

beforeEach(() => {
  engine = new FakeEngine();
  clock = new FakeClock();
  table = new HostfwdTable({ config, connector: engine, clock, udpIdleMs: 60_000 });
});
afterEach(async () => {
  for (const open of engine.opens) open.socket.destroy();
  await table.close();
});

describe('guestVisibleSource', () => {
  it('keeps real addresses, maps loopback/unspecified/IPv6/virtual-network clients to the gateway', () => {
    expect(guestVisibleSource(config, '198.18.0.2')).toBe(ip('198.18.0.2'));
    expect(guestVisibleSource(config, '::ffff:198.18.0.2')).toBe(ip('198.18.0.2'));
    for (const a of ['127.0.0.1', '127.0.0.2', '127.255.255.254', '0.0.0.0', '::1', '::ffff:127.0.0.1', '2001:db8::1', '10.0.2.77', undefined]) {
      expect(guestVisibleSource(config, a)).toBe(GATEWAY);
    }
  });
});

describe('TCP forwards', () => {
  it('listens on exactly 127.0.0.2 and opens the flow from the gateway with the client port', async () => {
    const port = await freePort('127.0.0.2');
    expect(await table.add({ proto: 'tcp', hostAddr: '127.0.0.2', hostPort: port, guestAddr: '10.0.2.100', guestPort: 8080 })).toBe(1);
    // Not on 127.0.0.1: exactly the address asked for.
    await expect(tcpClient('127.0.0.1', port)).rejects.toThrow(/ECONNREFUSED/);
    const client = await tcpClient('127.0.0.2', port);
    expect(await client.next()).toBe(`from ${GATEWAY}:${client.socket.localPort}`);
    expect(engine.opens[0]).toMatchObject({ destination: GUEST, destinationPort: 8080, source: GATEWAY, sourcePort: client.socket.localPort });
    client.socket.write('ping\n');
    expect(await client.next()).toBe('ping');
    client.socket.destroy();
  });

  it('removing a forward closes its listener; an open connection continues', async () => {
    const port = await freePort();
    const id = await table.add({ proto: 'tcp', hostAddr: '127.0.0.1', hostPort: port, guestAddr: '10.0.2.100', guestPort: 80 });
    const client = await tcpClient('127.0.0.1', port);
    await client.next();
    expect(await table.remove(id)).toBe(true);
    expect(await table.remove(id)).toBe(false);
    await expect(tcpClient('127.0.0.1', port)).rejects.toThrow(/ECONNREFUSED/);
    client.socket.write('still here\n');
    expect(await client.next()).toBe('still here');
    expect(table.list()).toEqual([]);
    client.socket.destroy();
  });

  it('a busy port fails the add and consumes no id; the port can be reused after remove', async () => {
    const port = await freePort();
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(port, '127.0.0.1', resolve));
    await expect(table.add({ proto: 'tcp', hostAddr: '127.0.0.1', hostPort: port, guestAddr: '10.0.2.100', guestPort: 80 })).rejects.toThrow(/EADDRINUSE/);
    await new Promise<void>((resolve) => blocker.close(() => resolve()));
    expect(await table.add({ proto: 'tcp', hostAddr: '127.0.0.1', hostPort: port, guestAddr: '10.0.2.100', guestPort: 80 })).toBe(1);
    await expect(table.add({ proto: 'tcp', hostAddr: '127.0.0.1', hostPort: port, guestAddr: '10.0.2.100', guestPort: 81 })).rejects.toThrow(/EADDRINUSE/);
    await table.remove(1);
    expect(await table.add({ proto: 'tcp', hostAddr: '127.0.0.1', hostPort: port, guestAddr: '10.0.2.100', guestPort: 80 })).toBe(2);
  });

  it('listens on IPv6 ::1 (beyond slirp4netns); the client appears as the gateway', async () => {
    const port = await freePort();
    await table.add({ proto: 'tcp', hostAddr: '::1', hostPort: port, guestAddr: '10.0.2.100', guestPort: 80 });
    const client = await tcpClient('::1', port);
    expect(await client.next()).toBe(`from ${GATEWAY}:${client.socket.localPort}`);
    client.socket.destroy();
  });

  it('TCP and UDP on the same host port are separate forwards', async () => {
    const port = await freePort();
    await table.add({ proto: 'tcp', hostAddr: '127.0.0.1', hostPort: port, guestAddr: '10.0.2.100', guestPort: 80 });
    await table.add({ proto: 'udp', hostAddr: '127.0.0.1', hostPort: port, guestAddr: '10.0.2.100', guestPort: 80 });
    expect(table.list().map((e) => [e.id, e.proto])).toEqual([[1, 'tcp'], [2, 'udp']]);
  });
});

describe('UDP forwards', () => {
  it('maps each client to a guest-visible source, replies leave from the published port, idle mappings expire', async () => {
    const port = await freePort();
    await table.add({ proto: 'udp', hostAddr: '127.0.0.1', hostPort: port, guestAddr: '10.0.2.100', guestPort: 53 });
    const client = createSocket('udp4');
    await new Promise<void>((resolve) => client.bind(0, '127.0.0.1', resolve));
    const clientPort = client.address().port;
    const received: { text: string; from: number }[] = [];
    client.on('message', (m, r) => received.push({ text: m.toString(), from: r.port }));
    client.send('query', port, '127.0.0.1');
    await waitUntil(() => engine.datagrams.length === 1);
    expect(engine.datagrams[0]).toMatchObject({ source: GATEWAY, sourcePort: clientPort, destination: GUEST, destinationPort: 53 });
    expect(engine.datagrams[0].payload.toString()).toBe('query');

    // The guest answers the gateway:clientPort source; it goes back out of the published socket.
    expect(engine.fromGuest(53, GATEWAY, clientPort, 'answer')).toBe(true);
    await waitUntil(() => received.length === 1);
    expect(received[0]).toEqual({ text: 'answer', from: port });
    // Not ours: a different guest port, or an unknown destination, is left to the UDP engine.
    expect(engine.fromGuest(54, GATEWAY, clientPort, 'x')).toBe(false);
    expect(engine.fromGuest(53, GATEWAY, clientPort + 1, 'x')).toBe(false);

    clock.advance(61_000);
    expect(engine.fromGuest(53, GATEWAY, clientPort, 'late')).toBe(false);
    client.close();
  });

  it('two loopback clients sharing a port number get distinct guest-visible sources', async () => {
    const port = await freePort();
    await table.add({ proto: 'udp', hostAddr: '0.0.0.0', hostPort: port, guestAddr: '10.0.2.100', guestPort: 53 });
    const a = createSocket('udp4');
    const b = createSocket('udp4');
    await new Promise<void>((resolve) => a.bind(0, '127.0.0.1', resolve));
    const shared = a.address().port;
    await new Promise<void>((resolve) => b.bind(shared, '127.0.0.2', resolve));
    a.send('a', port, '127.0.0.1');
    await waitUntil(() => engine.datagrams.length === 1);
    b.send('b', port, '127.0.0.1');
    await waitUntil(() => engine.datagrams.length === 2);
    expect(engine.datagrams[0].sourcePort).toBe(shared);
    expect(engine.datagrams[1].source).toBe(GATEWAY);
    expect(engine.datagrams[1].sourcePort).not.toBe(shared);
    a.close();
    b.close();
  });

  it('remove closes the UDP socket and the service stops claiming replies', async () => {
    const port = await freePort();
    const id = await table.add({ proto: 'udp', hostAddr: '127.0.0.1', hostPort: port, guestAddr: '10.0.2.100', guestPort: 53 });
    const client = createSocket('udp4');
    await new Promise<void>((resolve) => client.bind(0, '127.0.0.1', resolve));
    client.send('q', port, '127.0.0.1');
    await waitUntil(() => engine.datagrams.length === 1);
    await table.remove(id);
    expect(engine.fromGuest(53, GATEWAY, client.address().port, 'r')).toBe(false);
    // The port is free again.
    expect(await table.add({ proto: 'udp', hostAddr: '127.0.0.1', hostPort: port, guestAddr: '10.0.2.100', guestPort: 53 })).toBe(2);
    client.close();
  });
});

describe('close', () => {
  it('closes every listener and unregisters the UDP service', async () => {
    const port = await freePort();
    await table.add({ proto: 'tcp', hostAddr: '127.0.0.1', hostPort: port, guestAddr: '10.0.2.100', guestPort: 80 });
    await table.close();
    expect(engine.services).toEqual([]);
    await expect(tcpClient('127.0.0.1', port)).rejects.toThrow(/ECONNREFUSED/);
    await expect(table.add({ proto: 'tcp', hostAddr: '127.0.0.1', hostPort: port, guestAddr: '10.0.2.100', guestPort: 80 })).rejects.toThrow(/closed/);
  });
});

async function waitUntil(predicate: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}
