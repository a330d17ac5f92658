/**
 * The published-port table on real loopback sockets, with a fake engine behind the GuestConnector:
 * the fake "guest" records each flow's guest-visible source and echoes TCP bytes back. Engine
 * addresses come from a real IpAddresses, so IPv6 forwards (guest fd00::/64 addresses, clients on
 * [::1]) are checked with the handles the engine would see, and every handle is let go in the end.
 */
import { createSocket } from 'node:dgram';
import { connect, createServer, type Socket } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/stack/clock.js';
import { resolveNetworkConfig } from '../../src/stack/config.js';
import type { GuestConnector, GuestTcpOpen, UdpService } from '../../src/hostfwd/guest-connector.js';
import { heldGuestSource, ipv4GuestSource } from '../../src/hostfwd/guest-source.js';
import { HostfwdArgumentError } from '../../src/hostfwd/hostfwd-control.js';
import { HostfwdTable } from '../../src/hostfwd/hostfwd-table.js';
import { IpAddresses } from '../../src/stack/address-table.js';

const config = resolveNetworkConfig();
const config6 = resolveNetworkConfig({ ipv6: true });
const GATEWAY = config.ipv4.gateway;
const GUEST = config.ipv4.guest;
const ip = (text: string): number => text.split('.').reduce((a, b) => a * 256 + Number(b), 0);

/** The fake engine has no acceptClients: the table hands it the server's sockets. */
function socketOf(open: GuestTcpOpen): Socket {
  if (typeof open.client === 'number') throw new Error('a descriptor reached an engine without acceptClients');
  return open.client;
}

class FakeEngine implements GuestConnector {
  readonly addresses = new IpAddresses(64, 7);
  /** Held for the engine's life, as the Stack pins it. */
  readonly ipv6Gateway = this.addresses.parse('fd00::2');
  opens: GuestTcpOpen[] = [];
  /** Each open's source and destination as text (read during the call, while the table holds them). */
  openedFrom: string[] = [];
  datagrams: { source: number; sourcePort: number; destination: number; destinationPort: number; payload: Buffer }[] = [];
  services: UdpService[] = [];
  tcp = {
    openToGuest: (open: GuestTcpOpen): void => {
      this.opens.push(open);
      this.openedFrom.push(`${this.addresses.format(open.source)} -> ${this.addresses.format(open.destination)}`);
      // The "guest" answers the SYN: resume and echo, tagging the first bytes with the source it saw.
      const socket = socketOf(open);
      socket.write(`from ${open.source}:${open.sourcePort}\n`);
      socket.on('data', (d) => socket.write(d));
      socket.on('end', () => socket.end());
      socket.on('error', () => undefined);
      socket.resume();
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
  fromGuest(sourcePort: number, destination: number, destinationPort: number, payload: string, guest = GUEST): boolean {
    return this.services.some((s) => s.receiveUdp(guest, sourcePort, destination, destinationPort, Buffer.from(payload)));
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
  for (const open of engine.opens) socketOf(open).destroy();
  await table.close();
});

describe('guest-visible source of a client', () => {
  it('IPv4 guest: keeps real addresses (IPv4-mapped too), maps loopback/unspecified/IPv6/virtual-network clients to 10.0.2.2', () => {
    expect(ipv4GuestSource(config, '198.18.0.2')).toBe(ip('198.18.0.2'));
    expect(ipv4GuestSource(config, '::ffff:198.18.0.2')).toBe(ip('198.18.0.2'));
    for (const a of ['127.0.0.1', '127.0.0.2', '127.255.255.254', '0.0.0.0', '::1', '::ffff:127.0.0.1', '2001:db8::1', '10.0.2.77', undefined]) {
      expect(ipv4GuestSource(config, a)).toBe(GATEWAY);
    }
  });

  it('IPv6 guest: keeps real IPv6 addresses, maps loopback/unspecified/link-local/multicast/guest-prefix/IPv4 clients to fd00::2; each answer held once', () => {
    const fake = new FakeEngine();
    const context = { config: config6, addresses: fake.addresses, ipv6Gateway: fake.ipv6Gateway };
    const held: number[] = [];
    const source = (client: string | undefined): string => {
      const address = heldGuestSource(context, true, client);
      held.push(address);
      return fake.addresses.format(address);
    };
    expect(source('2001:db8::5')).toBe('2001:db8::5');
    expect(source('FD5E:7E57:1::2')).toBe('fd5e:7e57:1::2');
    for (const a of ['::1', '::', '::ffff:127.0.0.1', '::ffff:198.18.0.2', '198.18.0.2', '127.0.0.1', 'fe80::1', 'fe80::1%eth0', 'ff02::1', 'fd00::77', undefined]) {
      expect(source(a), String(a)).toBe('fd00::2');
    }
    expect(fake.addresses.ipv6.size).toBe(3); // fd00::2 and the two clients
    for (const address of held) fake.addresses.release(address);
    expect(fake.addresses.ipv6.size).toBe(1); // the pinned gateway only
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

describe('IPv6 (issue 15)', () => {
  let table6: HostfwdTable;
  beforeEach(() => {
    table6 = new HostfwdTable({ config: config6, connector: engine, clock, udpIdleMs: 60_000 });
  });
  afterEach(async () => {
    await table6.close();
    // Every handle the tables held is let go: only the pinned gateway is left.
    expect(engine.addresses.ipv6.size).toBe(1);
  });

  it('[::1]:P to the guest\'s IPv6 address: the loopback client appears as fd00::2; listed as given', async () => {
    const port = await freePort('::1');
    expect(await table6.add({ proto: 'tcp', hostAddr: '::1', hostPort: port, guestAddr: 'fd00::5054:ff:fe12:3456', guestPort: 80 })).toBe(1);
    const client = await tcpClient('::1', port);
    await client.next();
    expect(engine.openedFrom).toEqual(['fd00::2 -> fd00::5054:ff:fe12:3456']);
    expect(engine.opens[0]).toMatchObject({ sourcePort: client.socket.localPort, destinationPort: 80 });
    expect(table6.list()).toEqual([{ id: 1, proto: 'tcp', hostAddr: '::1', hostPort: port, guestAddr: 'fd00::5054:ff:fe12:3456', guestPort: 80 }]);
    client.socket.destroy();
  });

  it('[::1]:P to the guest\'s IPv4 address (guest_addr as podman gives it): the IPv6 client appears as 10.0.2.2', async () => {
    const port = await freePort('::1');
    await table6.add({ proto: 'tcp', hostAddr: '::1', hostPort: port, guestAddr: '10.0.2.100', guestPort: 80 });
    const client = await tcpClient('::1', port);
    expect(await client.next()).toBe(`from ${GATEWAY}:${client.socket.localPort}`);
    expect(engine.openedFrom).toEqual(['10.0.2.2 -> 10.0.2.100']);
    client.socket.destroy();
  });

  it('UDP on [::1] to the guest\'s IPv6 address: fd00::2 with the client\'s port, the reply leaves from the published port, the mapping expires', async () => {
    const guest = 'fd00::5054:ff:fe12:3456';
    const port = await freePort('::1');
    await table6.add({ proto: 'udp', hostAddr: '::1', hostPort: port, guestAddr: guest, guestPort: 53 });
    const client = createSocket('udp6');
    await new Promise<void>((resolve) => client.bind(0, '::1', resolve));
    const clientPort = client.address().port;
    const received: { text: string; from: number }[] = [];
    client.on('message', (m, r) => received.push({ text: m.toString(), from: r.port }));
    client.send('query', port, '::1');
    await waitUntil(() => engine.datagrams.length === 1);
    const datagram = engine.datagrams[0];
    expect([engine.addresses.format(datagram.source), datagram.sourcePort, engine.addresses.format(datagram.destination), datagram.destinationPort]).toEqual([
      'fd00::2',
      clientPort,
      guest,
      53,
    ]);
    expect(engine.fromGuest(53, engine.ipv6Gateway, clientPort, 'answer', datagram.destination)).toBe(true);
    await waitUntil(() => received.length === 1);
    expect(received[0]).toEqual({ text: 'answer', from: port });
    clock.advance(61_000);
    expect(engine.fromGuest(53, engine.ipv6Gateway, clientPort, 'late', datagram.destination)).toBe(false);
    client.close();
  });

  it('refuses guest addresses it cannot reach, as argument errors, consuming no id', async () => {
    const port = await freePort('::1');
    const add = (guestAddr: string, hostAddr = '::1', on = table6): Promise<number> => on.add({ proto: 'tcp', hostAddr, hostPort: port, guestAddr, guestPort: 80 });
    const field = async (attempt: Promise<number>): Promise<string> => {
      try {
        await attempt;
        return 'accepted';
      } catch (error) {
        return error instanceof HostfwdArgumentError ? `${error.field}: ${error.message}` : `other: ${String(error)}`;
      }
    };
    expect(await field(add('fd00::5', '::1', table))).toMatch(/^guest_addr: .*IPv6 is off/); // IPv4-only table
    expect(await field(add('fd00::2'))).toMatch(/^guest_addr: .*not a guest address in fd00::\/64/); // ours
    expect(await field(add('fd00::3'))).toMatch(/^guest_addr: /);
    expect(await field(add('2001:db8::1'))).toMatch(/^guest_addr: /);
    expect(await field(add('fd00::5%eth0'))).toMatch(/^guest_addr: /);
    expect(await field(add('guest'))).toMatch(/^guest_addr: /);
    expect(await field(add('fd00::5', 'localhost'))).toMatch(/^host_addr: /);
    expect(await add('fd00::5')).toBe(1);
    expect(engine.addresses.ipv6.size).toBe(2);
    await table6.remove(1);
    expect(engine.addresses.ipv6.size).toBe(1);
  });

  it('a failed listen lets go of the guest address', async () => {
    const port = await freePort('::1');
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(port, '::1', resolve));
    await expect(table6.add({ proto: 'tcp', hostAddr: '::1', hostPort: port, guestAddr: 'fd00::5', guestPort: 80 })).rejects.toThrow(/EADDRINUSE/);
    await new Promise<void>((resolve) => blocker.close(() => resolve()));
    expect(engine.addresses.ipv6.size).toBe(1);
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
