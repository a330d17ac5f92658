/**
 * DNS for end-to-end tests without the machine's resolver: a stub resolver on a loopback address
 * (IPv4 127.0.0.1 or 127.53.X.Y, IPv6 ::1), a resolv.conf that names it, a way to run a slirp
 * implementation with that file as its /etc/resolv.conf (a bind mount in a private mount namespace,
 * seen by nobody else), and a python3 DNS client to run inside a guest namespace.
 *
 * Network rule: the stubs listen on loopback only and answer from a fixed table; nothing here ever
 * asks a real resolver. Used by test/e2e/dhcp-dns.test.ts and test/e2e/ipv6-dns.test.ts.
 */
import { type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { writeFileSync } from 'node:fs';
import { createServer, isIPv6, type Server } from 'node:net';
import type { ProcessTracker, TestNamespace } from './netns.js';

/** The name every stub knows; A and AAAA queries for it are answered, anything else gets NXDOMAIN. */
export const STUB_NAME = 'tslirp.test';
export const STUB_A = '192.0.2.55';
export const STUB_AAAA = '2001:db8::55';

/** A stub resolver's address and what it was asked ("udp:NAME/QTYPE", in arrival order), and by whom. */
export interface StubResolver {
  readonly address: string;
  readonly port: number;
  readonly queries: string[];
  /** The source address of each query, in the same order ("::1", "127.0.0.1", …). */
  readonly peers: string[];
}

type Cleanups = (() => void | Promise<void>)[];

function ipv6Bytes(text: string): Buffer {
  // Only the literal forms tests use: full groups with at most one "::".
  const [head, tail = ''] = text.includes('::') ? text.split('::') : [text, undefined];
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = text.includes('::') ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right] : left;
  const bytes = Buffer.alloc(16);
  groups.forEach((g, i) => bytes.writeUInt16BE(parseInt(g, 16), i * 2));
  return bytes;
}

/**
 * One stub resolver on address:port (UDP and TCP on the same port): A for STUB_NAME → answerA, AAAA
 * → answerAaaa, NXDOMAIN for other names. Resolves undefined when the port is taken for either.
 */
export async function listenStub(cleanups: Cleanups, address: string, port: number, answerA = STUB_A, answerAaaa = STUB_AAAA): Promise<StubResolver | undefined> {
  const queries: string[] = [];
  const peers: string[] = [];
  const answer = (query: Buffer, transport: string, peer: string): Buffer | undefined => {
    if (query.length < 17) return undefined;
    const labels: string[] = [];
    let at = 12;
    while (at < query.length && query[at] !== 0) {
      labels.push(query.subarray(at + 1, at + 1 + query[at]).toString('ascii'));
      at += 1 + query[at];
    }
    if (at + 5 > query.length) return undefined;
    const qtype = query.readUInt16BE(at + 1);
    const asked = labels.join('.').toLowerCase();
    queries.push(`${transport}:${asked}/${qtype}`);
    peers.push(peer);
    const rdata = asked !== STUB_NAME ? undefined : qtype === 1 ? Buffer.from(answerA.split('.').map(Number)) : qtype === 28 ? ipv6Bytes(answerAaaa) : undefined;
    const header = Buffer.alloc(12);
    query.copy(header, 0, 0, 2);
    header.writeUInt16BE(0x8180 | (asked === STUB_NAME ? 0 : 3), 2);
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(rdata ? 1 : 0, 6);
    const rr = rdata ? Buffer.concat([Buffer.from([0xc0, 0x0c, 0, qtype, 0, 1, 0, 0, 0, 60, 0, rdata.length]), rdata]) : Buffer.alloc(0);
    return Buffer.concat([header, query.subarray(12, at + 5), rr]);
  };
  const udp = createSocket(isIPv6(address) ? 'udp6' : 'udp4');
  udp.on('message', (query, peer) => {
    const reply = answer(query, 'udp', peer.address);
    if (reply) udp.send(reply, peer.port, peer.address);
  });
  const bound = await new Promise<boolean>((resolve) => {
    udp.once('error', () => resolve(false));
    udp.bind(port, address, () => resolve(true));
  });
  if (!bound) {
    udp.close();
    return undefined;
  }
  const boundPort = udp.address().port;
  const tcp: Server = createServer((socket) => {
    let buffered = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
        const query = buffered.subarray(2, 2 + buffered.readUInt16BE(0));
        buffered = buffered.subarray(2 + query.length);
        const reply = answer(query, 'tcp', socket.remoteAddress ?? '?');
        if (reply) {
          const length = Buffer.alloc(2);
          length.writeUInt16BE(reply.length);
          socket.write(Buffer.concat([length, reply]));
        }
      }
    });
    socket.on('error', () => undefined);
  });
  const listening = await new Promise<boolean>((resolve) => {
    tcp.once('error', () => resolve(false));
    tcp.listen({ port: boundPort, host: address, ipv6Only: isIPv6(address) }, () => resolve(true));
  });
  if (!listening) {
    udp.close();
    return undefined;
  }
  cleanups.push(() => new Promise<void>((resolve) => udp.close(() => resolve())));
  cleanups.push(() => new Promise<void>((resolve) => tcp.close(() => resolve())));
  return { address, port: boundPort, queries, peers };
}

/** A stub resolver on 127.0.0.1, any free port (UDP and TCP, same port): for --dns-upstream. */
export async function stubResolver(cleanups: Cleanups): Promise<StubResolver> {
  for (let attempt = 0; attempt <= 10; attempt++) {
    const stub = await listenStub(cleanups, '127.0.0.1', 0);
    if (stub) return stub;
  }
  throw new Error('no port free for both UDP and TCP');
}

/**
 * A stub resolver on port 53 (resolv.conf names no port) of a loopback address of its own,
 * 127.53.X.Y: nothing else on the machine uses it, and concurrent runs each draw another one (all
 * of 127.0.0.0/8 is local on Linux, no address needs adding). With `preferred` (systemd-resolved's
 * 127.0.0.53), that address when its port 53 is free.
 */
export async function stubResolverOnPort53(cleanups: Cleanups, answerA = STUB_A, preferred?: string): Promise<StubResolver> {
  if (preferred !== undefined) {
    const stub = await listenStub(cleanups, preferred, 53, answerA);
    if (stub) return stub;
  }
  for (let attempt = 0; attempt <= 20; attempt++) {
    const address = `127.53.${1 + Math.floor(Math.random() * 254)}.${1 + Math.floor(Math.random() * 254)}`;
    const stub = await listenStub(cleanups, address, 53, answerA);
    if (stub) return stub;
  }
  throw new Error('no 127.53.X.Y address free for port 53 (UDP and TCP)');
}

/**
 * A stub resolver on [::1]:53. IPv6 has one loopback address, so unlike 127.53.X.Y there is no
 * spare one to draw: the port must be free (e2e tests run one at a time under the machine lock).
 */
export async function stubResolverOnIpv6Loopback(cleanups: Cleanups): Promise<StubResolver> {
  const stub = await listenStub(cleanups, '::1', 53);
  if (!stub) throw new Error('[::1]:53 is taken (UDP or TCP): a resolver on the machine holds it; this test needs it free');
  return stub;
}

/** Writes a resolv.conf naming nameserver (none when undefined) in place (same inode: a bind mount shows the new text). */
export function writeResolvConf(path: string, nameserver: string | undefined): void {
  const lines = ['# written by a tslirp end-to-end test', 'options edns0'];
  if (nameserver !== undefined) lines.push(`nameserver ${nameserver}`);
  writeFileSync(path, `${lines.join('\n')}\n`);
}

/** The command prefix that runs a command in a private mount namespace where resolvConf is /etc/resolv.conf. */
export function withResolvConf(resolvConf: string): string[] {
  return ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', 'mount --bind -- "$1" /etc/resolv.conf && shift && exec "$@"', 'sh', resolvConf];
}

/**
 * Runs command inside a private mount namespace of its own whose /etc/resolv.conf is resolvConf:
 * how a test gives slirp4netns, which only ever reads the host's /etc/resolv.conf, a nameserver of
 * its choosing. `unshare` (no --fork) and `sh` both exec, so the tracked PID ends up being command's
 * own (callers check /proc/PID/exe). The file is bound by inode: rewrite it in place to change it.
 */
export function spawnWithResolvConf(tracker: ProcessTracker, resolvConf: string, command: string, args: readonly string[]): ChildProcess {
  const [unshare, ...prefix] = withResolvConf(resolvConf);
  return tracker.spawn(unshare, [...prefix, command, ...args]);
}

/**
 * A python3 DNS client run inside a namespace: one query for NAME (type A or AAAA) to SERVER:PORT over
 * `transport`. Prints "answer RCODE ADDR" (ADDR "-" without an answer record) or
 * "no-answer ERROR[:ERRNO]" (e.g. ConnectionRefusedError:ECONNREFUSED, TimeoutError).
 */
const DNS_CLIENT = `
import errno, ipaddress, socket, struct, sys
transport, server, name, qtype, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
family = socket.AF_INET6 if ':' in server else socket.AF_INET
q = struct.pack('>HHHHHH', 0x4242, 0x0100, 1, 0, 0, 0)
for label in name.split('.'):
    q += bytes([len(label)]) + label.encode()
q += b'\\0' + struct.pack('>HH', qtype, 1)
try:
    if transport == 'udp':
        s = socket.socket(family, socket.SOCK_DGRAM)
        s.settimeout(3)
        # Connected, so an ICMP error for the query is reported (recv raises) instead of a timeout.
        s.connect((server, port))
        s.send(q)
        r = s.recv(4096)
    else:
        s = socket.create_connection((server, port), timeout=3)
        s.sendall(struct.pack('>H', len(q)) + q)
        data = b''
        while len(data) < 2 or len(data) < 2 + struct.unpack('>H', data[:2])[0]:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        r = data[2:]
    ident, flags, qd, an = struct.unpack('>HHHH', r[:8])
    assert ident == 0x4242, 'id'
    size = 16 if qtype == 28 else 4
    addr = str(ipaddress.ip_address(r[-size:])) if an else '-'
    print('answer', flags & 15, addr)
except Exception as e:
    code = getattr(e, 'errno', None)
    print('no-answer', type(e).__name__ + (':' + errno.errorcode.get(code, str(code)) if code else ''))
`;

/** One DNS query from inside ns to server:port (53 unless given); see DNS_CLIENT for what it returns. */
export async function guestDnsQuery(ns: TestNamespace, server: string, transport: 'udp' | 'tcp', name = STUB_NAME, qtype: 'A' | 'AAAA' = 'A', port = 53): Promise<string> {
  return (await ns.exec('python3', ['-c', DNS_CLIENT, transport, server, name, qtype === 'A' ? '1' : '28', String(port)], 20_000)).trim();
}
