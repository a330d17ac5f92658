/**
 * --outbound-addr: which destinations a host socket binds for, and the real Node ports doing it.
 * The socket tests stay on loopback: 127.0.0.2 stands for the outbound address (every 127/8 address
 * is local on Linux), so a peer on 127.0.0.1 seeing 127.0.0.2 proves the bind, as slirp4netns's own
 * outbound-addr test proves it with a connection to 10.0.2.2 (host loopback). --outbound-addr6 is
 * proved the same way in a namespace of its own (below).
 */
import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { NodeTcpPort } from '../../src/host/node-tcp-port.js';
import { NodeUdpPort } from '../../src/host/node-udp-port.js';
import { NO_OUTBOUND_BIND, outboundLocalAddress } from '../../src/host/outbound-bind.js';
import type { HostConnectError } from '../../src/stack/tcp/host-tcp-port.js';
import { namespacePrerequisite, REPO_ROOT, requireOrSkip } from '../support/netns.js';

describe('outboundLocalAddress', () => {
  const bind = { ipv4: '192.0.2.7', ipv6: '2001:db8::7' };
  it('binds by destination family', () => {
    expect(outboundLocalAddress(bind, '198.51.100.1')).toBe('192.0.2.7');
    expect(outboundLocalAddress(bind, '2001:db8::1')).toBe('2001:db8::7');
    expect(outboundLocalAddress({ ipv4: '192.0.2.7', ipv6: undefined }, '2001:db8::1')).toBeUndefined();
  });
  it('binds loopback destinations too (the gateway alias, a resolver on 127.0.0.53), as slirp4netns does', () => {
    for (const d of ['127.0.0.1', '127.0.0.53']) expect(outboundLocalAddress(bind, d)).toBe('192.0.2.7');
    expect(outboundLocalAddress(bind, '::1')).toBe('2001:db8::7');
    expect(outboundLocalAddress(bind, '::ffff:127.0.0.1')).toBeUndefined(); // an IPv6 address cannot reach it
  });
  it('leaves everything unbound without the option', () => {
    for (const d of ['198.51.100.1', '127.0.0.1', '::1']) expect(outboundLocalAddress(NO_OUTBOUND_BIND, d)).toBeUndefined();
  });
});

describe('the host ports bind to the outbound address, loopback destinations included', { timeout: 5000 }, () => {
  const OUTBOUND = { ipv4: '127.0.0.2', ipv6: undefined };

  it('TCP: a listener on 127.0.0.1 sees the connection come from the outbound address', async () => {
    const peers: string[] = [];
    const server = createServer((socket) => {
      peers.push(socket.remoteAddress ?? '');
      socket.destroy();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    try {
      const connected = new Promise<void>((resolve, reject) => {
        new NodeTcpPort(OUTBOUND).connect(
          { address: '127.0.0.1', port },
          {
            onConnect: resolve,
            onData: () => undefined,
            onEnd: () => undefined,
            onError: (error: HostConnectError, code: string) => reject(new Error(`connect failed: ${error} ${code}`)),
            onDrain: () => undefined,
            onClose: () => undefined,
          },
        );
      });
      await connected;
      while (peers.length === 0) await new Promise((r) => setTimeout(r, 5));
      expect(peers).toEqual(['127.0.0.2']);
    } finally {
      server.close();
    }
  });

  it('UDP: a server on 127.0.0.1 sees the datagram come from the outbound address', async () => {
    const server = createSocket('udp4');
    const peers: string[] = [];
    server.on('message', (_msg, rinfo) => peers.push(rinfo.address));
    await new Promise<void>((resolve) => server.bind(0, '127.0.0.1', resolve));
    const socket = new NodeUdpPort(OUTBOUND).open({ onMessage: () => undefined, onError: () => undefined });
    try {
      socket.send(Buffer.from('x'), { address: '127.0.0.1', port: server.address().port });
      while (peers.length === 0) await new Promise((r) => setTimeout(r, 5));
      expect(peers).toEqual(['127.0.0.2']);
    } finally {
      socket.close();
      server.close();
    }
  });
});

/**
 * --outbound-addr6 with real sockets: loopback has one IPv6 address, so this runs in a network
 * namespace of its own (`unshare -n`) where lo also gets fd5e:7e57:9::7 (the outbound address); the
 * peer on [::1] must see the TCP connection and the UDP datagrams (dgram's and the addon's) come from it.
 */
const OUTBOUND6_PROBE = `
import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';
import { NodeTcpPort } from './src/host/node-tcp-port.ts';
import { NodeUdpPort } from './src/host/node-udp-port.ts';
import { NativeUdpPort } from './src/host/native-udp-port.ts';
const bind = { ipv4: undefined, ipv6: 'fd5e:7e57:9::7' };
const peers = {};
const server = createServer((socket) => { peers.tcp = socket.remoteAddress; socket.destroy(); });
await new Promise((resolve) => server.listen(0, '::1', resolve));
const udp = createSocket('udp6');
udp.on('message', (_m, remote) => { peers.udp = remote.address; });
await new Promise((resolve) => udp.bind(0, '::1', resolve));
const udpNative = createSocket('udp6');
udpNative.on('message', (_m, remote) => { peers.udpNative = remote.address; });
await new Promise((resolve) => udpNative.bind(0, '::1', resolve));
const none = () => undefined;
new NodeTcpPort(bind).connect({ address: '::1', port: server.address().port }, { onConnect: none, onData: none, onEnd: none, onError: (e, code) => { peers.tcpError = code; }, onDrain: none, onClose: none });
new NodeUdpPort(bind).open({ onMessage: none, onError: (code) => { peers.udpError = code; } }).send(Buffer.from('x'), { address: '::1', port: udp.address().port });
new NativeUdpPort(bind).open({ onMessage: none, onError: (code) => { peers.udpNativeError = code; } }).send(Buffer.from('x'), { address: '::1', port: udpNative.address().port });
const deadline = Date.now() + 3000;
while ((peers.tcp === undefined || peers.udp === undefined || peers.udpNative === undefined) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
console.log(JSON.stringify(peers));
process.exit(0);
`;

describe('--outbound-addr6: the host ports bind IPv6 sockets to it', () => {
  it('a peer on [::1] sees the TCP connection and the UDP datagram come from the outbound address', async (ctx) => {
    requireOrSkip(ctx, namespacePrerequisite({ root: true }));
    const script = `ip link set lo up && ip -6 addr add fd5e:7e57:9::7/128 dev lo nodad && exec node --import tsx --input-type=module -e "$PROBE"`;
    const { stdout } = await promisify(execFile)('unshare', ['-n', 'sh', '-c', script], { cwd: REPO_ROOT, env: { ...process.env, PROBE: OUTBOUND6_PROBE }, timeout: 30_000 });
    expect(JSON.parse(stdout.trim().split('\n').pop() as string)).toEqual({ tcp: 'fd5e:7e57:9::7', udp: 'fd5e:7e57:9::7', udpNative: 'fd5e:7e57:9::7' });
  });
});
