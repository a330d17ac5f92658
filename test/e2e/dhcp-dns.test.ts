/**
 * End to end, DHCP and DNS with a real kernel as the guest: a namespace made by this test, tslirp
 * (src/cli/main.ts, the slirp4netns-compatible CLI) attached WITHOUT --configure, tap0 brought up
 * by hand, then
 *  - busybox `udhcpc` and ISC `dhclient` obtain 10.0.2.15 with router 10.0.2.2 and DNS 10.0.2.3
 *    (their scripts print what the server sent);
 *  - a name resolves through 10.0.2.3 over UDP and over TCP, answered by a stub resolver on the
 *    host's loopback (--dns-upstream 127.0.0.1:PORT), queries sent from the guest by python3;
 *  - with --disable-dns, 10.0.2.3 answers nothing.
 * The DHCP scenarios also run against the real slirp4netns as the reference (no DNS there: it would
 * forward to this machine's resolver, which tests never use).
 *
 * Network rule: traffic only to 127.0.0.1 and the namespaces this test creates. Every process (tslirp,
 * slirp4netns, the DHCP clients, unshare) is ended by PID, even on failure; the namespaces end with
 * their `unshare` process. In CI a missing privilege or tool fails instead of skipping.
 */
import { execFileSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createNamespace,
  namespacePrerequisite,
  OutputLog,
  ProcessTracker,
  REPO_ROOT,
  requireOrSkip,
  type TestNamespace,
} from '../support/netns.js';

const TSLIRP = [process.execPath, '--import', 'tsx', join(REPO_ROOT, 'src/cli/main.ts')];
const SLIRP4NETNS = '/usr/bin/slirp4netns';
const NAME = 'tslirp.test';
const ANSWER = '192.0.2.55';

const tracker = new ProcessTracker();
const cleanups: (() => void | Promise<void>)[] = [];

afterEach(async () => {
  await tracker.killAll();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function toolsMissing(extra: readonly string[] = []): string | undefined {
  const missing = namespacePrerequisite({ root: true });
  if (missing) return missing;
  for (const tool of ['busybox', 'python3', ...extra]) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    } catch {
      return `needs ${tool}`;
    }
  }
  return undefined;
}


function scratchDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tslirp-dhcp-e2e-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function script(dir: string, name: string, body: string): string {
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}

/** A namespace with tap0 attached by `impl` (no --configure) and brought up by hand. */
async function attached(impl: 'tslirp' | 'slirp4netns', args: readonly string[] = []): Promise<{ ns: TestNamespace; log: OutputLog }> {
  const ns = await createNamespace(tracker);
  const child =
    impl === 'tslirp'
      ? tracker.spawn(TSLIRP[0], [...TSLIRP.slice(1), ...args, String(ns.pid), 'tap0'])
      : tracker.spawn(SLIRP4NETNS, [...args, String(ns.pid), 'tap0']);
  const log = new OutputLog(child);
  if (impl === 'tslirp') {
    await log.waitFor(/starting slirp/, child, 20_000);
  } else {
    // slirp4netns block-buffers its stdout into a pipe; its stderr line says the TAP is handed over,
    // and the event loop starts right after.
    await log.waitFor(/received tapfd=/, child, 20_000);
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  await ns.exec('ip', ['link', 'set', 'lo', 'up']);
  await ns.exec('ip', ['link', 'set', 'tap0', 'up']);
  return { ns, log };
}

/** `KEY=VALUE` pairs from the last line of output starting with prefix. */
function fields(output: string, prefix: string): Record<string, string> {
  const line = output
    .split('\n')
    .filter((l) => l.startsWith(prefix))
    .pop();
  if (line === undefined) throw new Error(`no "${prefix}" line in: ${output}`);
  return Object.fromEntries(line.slice(prefix.length).trim().split(/\s+/).map((kv) => kv.split('=', 2) as [string, string]));
}

async function runUdhcpc(ns: TestNamespace): Promise<Record<string, string>> {
  const dir = scratchDir();
  const s = script(dir, 'udhcpc.sh', 'echo "udhcpc-event $1 ip=$ip subnet=$subnet router=$router dns=$dns serverid=$serverid lease=$lease mtu=${mtu:-none}"');
  const out = await ns.exec('busybox', ['udhcpc', '-i', 'tap0', '-f', '-n', '-q', '-t', '5', '-T', '1', '-s', s], 20_000);
  expect(out).toMatch(/^udhcpc-event bound /m);
  return fields(out, 'udhcpc-event bound');
}

async function runDhclient(ns: TestNamespace): Promise<Record<string, string>> {
  const dir = scratchDir();
  const env = 'echo "dhclient-event reason=$reason ip=$new_ip_address subnet=$new_subnet_mask router=$new_routers dns=$(echo $new_domain_name_servers | tr " " ,) serverid=$new_dhcp_server_identifier lease=$new_dhcp_lease_time mtu=${new_interface_mtu:-none}"';
  const s = script(dir, 'dhclient.sh', env);
  // -d: stays in the foreground (we end it by PID); nsenter execs dhclient in place.
  const child = tracker.spawn('nsenter', ['-t', String(ns.pid), '-n', 'dhclient', '-d', '-1', '-v', '-sf', s, '-lf', join(dir, 'leases'), '-pf', join(dir, 'pid'), 'tap0']);
  const log = new OutputLog(child);
  await log.waitFor(/^dhclient-event reason=BOUND /m, child, 30_000);
  return fields(log.text, 'dhclient-event reason=BOUND');
}

/** A stub resolver on 127.0.0.1 (UDP and TCP, same port): A for NAME → ANSWER, NXDOMAIN otherwise. */
async function stubResolver(): Promise<{ port: number; queries: string[] }> {
  const queries: string[] = [];
  const answer = (query: Buffer, transport: string): Buffer | undefined => {
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
    const found = asked === NAME && qtype === 1;
    const header = Buffer.alloc(12);
    query.copy(header, 0, 0, 2);
    header.writeUInt16BE(0x8180 | (asked === NAME ? 0 : 3), 2);
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(found ? 1 : 0, 6);
    const rr = found ? Buffer.concat([Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]), Buffer.from(ANSWER.split('.').map(Number))]) : Buffer.alloc(0);
    return Buffer.concat([header, query.subarray(12, at + 5), rr]);
  };
  for (let attempt = 0; ; attempt++) {
    const udp = createSocket('udp4');
    udp.on('message', (query, peer) => {
      const reply = answer(query, 'udp');
      if (reply) udp.send(reply, peer.port, peer.address);
    });
    await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
    const port = udp.address().port;
    const tcp: Server = createServer((socket) => {
      let buffered = Buffer.alloc(0);
      socket.on('data', (chunk) => {
        buffered = Buffer.concat([buffered, chunk]);
        while (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
          const query = buffered.subarray(2, 2 + buffered.readUInt16BE(0));
          buffered = buffered.subarray(2 + query.length);
          const reply = answer(query, 'tcp');
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
      tcp.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (!listening) {
      udp.close();
      if (attempt > 10) throw new Error('no port free for both UDP and TCP');
      continue;
    }
    cleanups.push(() => new Promise<void>((resolve) => udp.close(() => resolve())));
    cleanups.push(() => new Promise<void>((resolve) => tcp.close(() => resolve())));
    return { port, queries };
  }
}

/**
 * A python3 DNS client run inside the namespace: one A query for NAME to 10.0.2.3:53 over `transport`.
 * Prints "answer RCODE ADDR" or "no-answer ERROR".
 */
const DNS_CLIENT = `
import socket, struct, sys
transport, name = sys.argv[1], sys.argv[2]
q = struct.pack('>HHHHHH', 0x4242, 0x0100, 1, 0, 0, 0)
for label in name.split('.'):
    q += bytes([len(label)]) + label.encode()
q += b'\\0' + struct.pack('>HH', 1, 1)
try:
    if transport == 'udp':
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(3)
        s.sendto(q, ('10.0.2.3', 53))
        r = s.recv(4096)
    else:
        s = socket.create_connection(('10.0.2.3', 53), timeout=3)
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
    addr = '.'.join(str(b) for b in r[-4:]) if an else '-'
    print('answer', flags & 15, addr)
except Exception as e:
    print('no-answer', type(e).__name__)
`;

async function dnsQuery(ns: TestNamespace, transport: 'udp' | 'tcp', name = NAME): Promise<string> {
  return (await ns.exec('python3', ['-c', DNS_CLIENT, transport, name], 20_000)).trim();
}

describe.each(['tslirp', 'slirp4netns'] as const)('DHCP from %s (tap0 attached without --configure)', (impl) => {
  it('busybox udhcpc obtains 10.0.2.15, router 10.0.2.2, DNS 10.0.2.3, lease 86400', async (ctx) => {
    requireOrSkip(ctx, toolsMissing(impl === 'slirp4netns' ? [SLIRP4NETNS] : []));
    const { ns } = await attached(impl);
    const got = await runUdhcpc(ns);
    console.log(`${impl} udhcpc:`, JSON.stringify(got));
    expect(got).toMatchObject({ ip: '10.0.2.15', subnet: '255.255.255.0', router: '10.0.2.2', dns: '10.0.2.3', serverid: '10.0.2.2', lease: '86400' });
    if (impl === 'tslirp') expect(got.mtu).toBe('1500');
    // Asking again (udhcpc restarted) gives the same address.
    expect((await runUdhcpc(ns)).ip).toBe('10.0.2.15');
  });

  it('ISC dhclient obtains 10.0.2.15, router 10.0.2.2, DNS 10.0.2.3, lease 86400', async (ctx) => {
    requireOrSkip(ctx, toolsMissing(['dhclient', ...(impl === 'slirp4netns' ? [SLIRP4NETNS] : [])]));
    const { ns } = await attached(impl, ['--mtu', '65520']);
    const got = await runDhclient(ns);
    console.log(`${impl} dhclient:`, JSON.stringify(got));
    expect(got).toMatchObject({ ip: '10.0.2.15', subnet: '255.255.255.0', router: '10.0.2.2', dns: '10.0.2.3', serverid: '10.0.2.2', lease: '86400' });
    if (impl === 'tslirp') expect(got.mtu).toBe('65520');
  });
});

describe('DNS through 10.0.2.3 with a stub upstream on the host loopback (tslirp)', () => {
  it('a DHCP-configured guest resolves a name over UDP and over TCP', async (ctx) => {
    requireOrSkip(ctx, toolsMissing());
    const resolver = await stubResolver();
    const { ns } = await attached('tslirp', ['--dns-upstream', `127.0.0.1:${resolver.port}`]);
    const got = await runUdhcpc(ns);
    await ns.exec('ip', ['addr', 'add', `${got.ip}/24`, 'dev', 'tap0']);
    await ns.exec('ip', ['route', 'add', 'default', 'via', got.router]);
    expect(await dnsQuery(ns, 'udp')).toBe(`answer 0 ${ANSWER}`);
    expect(await dnsQuery(ns, 'tcp')).toBe(`answer 0 ${ANSWER}`);
    // Answers are relayed unchanged: NXDOMAIN comes through as it is.
    expect(await dnsQuery(ns, 'udp', 'unknown.test')).toBe('answer 3 -');
    expect(resolver.queries).toEqual([`udp:${NAME}/1`, `tcp:${NAME}/1`, 'udp:unknown.test/1']);
  });

  it('over TCP with a static address (needs only the TCP engine)', async (ctx) => {
    requireOrSkip(ctx, toolsMissing());
    const resolver = await stubResolver();
    const { ns } = await attached('tslirp', ['--dns-upstream', `127.0.0.1:${resolver.port}`]);
    await ns.exec('ip', ['addr', 'add', '10.0.2.100/24', 'dev', 'tap0']);
    expect(await dnsQuery(ns, 'tcp')).toBe(`answer 0 ${ANSWER}`);
    expect(resolver.queries).toEqual([`tcp:${NAME}/1`]);
  });

  it('--disable-dns: 10.0.2.3 answers nothing, DHCP leaves out the DNS server', async (ctx) => {
    requireOrSkip(ctx, toolsMissing());
    const resolver = await stubResolver();
    // --dns-upstream conflicts with --disable-dns; the stub only proves nothing reaches the host.
    const { ns } = await attached('tslirp', ['--disable-dns']);
    await ns.exec('ip', ['addr', 'add', '10.0.2.100/24', 'dev', 'tap0']);
    expect(await dnsQuery(ns, 'tcp')).toMatch(/^no-answer /);
    expect(await dnsQuery(ns, 'udp')).toMatch(/^no-answer /);
    await ns.exec('ip', ['addr', 'flush', 'dev', 'tap0']);
    const got = await runUdhcpc(ns);
    expect(got.ip).toBe('10.0.2.15');
    expect(got.dns).toBe('');
    expect(resolver.queries).toEqual([]);
  });
});
