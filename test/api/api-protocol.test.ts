/**
 * Every answer of the slirp4netns API (CLIENTS.md, issue 6) from tslirp's ApiServer, over a real unix
 * socket, against a HostfwdControl fake that refuses a busy host address:port as a failed bind would.
 */
import { mkdtempSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { handleApiRequest, API_MAX_REQUEST } from '../../src/api/api-protocol.js';
import { ApiServer } from '../../src/api/api-server.js';
import { HostfwdArgumentError, type HostfwdControl, type HostfwdEntry, type HostfwdRequest } from '../../src/hostfwd/hostfwd-control.js';
import { apiRequest } from '../support/api-client.js';

class FakeHostfwd implements HostfwdControl {
  entries: HostfwdEntry[] = [];
  busy = new Set<string>();
  nextId = 1;
  /** As HostfwdTable: IPv6 guest addresses only with IPv6 on, and only in fd00::/64. */
  ipv6 = false;
  async add(request: HostfwdRequest): Promise<number> {
    if (request.guestAddr.includes(':') && !(this.ipv6 && request.guestAddr.startsWith('fd00::'))) throw new HostfwdArgumentError('guest_addr', 'not a guest address');
    const key = `${request.proto} ${request.hostAddr} ${request.hostPort}`;
    if (this.busy.has(key) || this.entries.some((e) => `${e.proto} ${e.hostAddr} ${e.hostPort}` === key)) throw new Error('EADDRINUSE');
    const id = this.nextId++;
    this.entries.push({ id, ...request });
    return id;
  }
  async remove(id: number): Promise<boolean> {
    const before = this.entries.length;
    this.entries = this.entries.filter((e) => e.id !== id);
    return this.entries.length !== before;
  }
  list(): readonly HostfwdEntry[] {
    return this.entries;
  }
}

let dir: string;
let path: string;
let server: ApiServer;
let hostfwd: FakeHostfwd;
const failures: unknown[] = [];

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tslirp-api-'));
  path = join(dir, 'api.sock');
  hostfwd = new FakeHostfwd();
  server = await ApiServer.listen({ path, hostfwd, defaultGuestAddress: '10.0.2.100', onAddFailure: (e) => failures.push(e) });
});

afterEach(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

const ask = async (request: string): Promise<string> => (await apiRequest(path, request)).text;

describe('API answers, byte for byte', () => {
  it('add_hostfwd as RootlessKit sends it (trailing newline), ids from 1', async () => {
    expect(await ask('{"execute":"add_hostfwd","arguments":{"proto":"tcp","host_addr":"127.0.0.1","host_port":17085,"guest_addr":"10.0.2.100","guest_port":8080}}\n')).toBe('{"return":{"id":1}}');
    expect(await ask('{"execute":"add_hostfwd","arguments":{"proto":"udp","host_addr":"0.0.0.0","host_port":17086,"guest_addr":"10.0.2.100","guest_port":8080}}\n')).toBe('{"return":{"id":2}}');
    expect(await ask('{"execute":"remove_hostfwd","arguments":{"id":1}}\n')).toBe('{"return":{}}');
  });

  it('add_hostfwd as podman sends it: guest_addr "" is the default guest address', async () => {
    expect(await ask('{"execute":"add_hostfwd","arguments":{"proto":"tcp","host_addr":"127.0.0.1","host_port":17083,"guest_addr":"","guest_port":80}}\n')).toBe('{"return":{"id":1}}');
    expect(hostfwd.entries[0]).toMatchObject({ guestAddr: '10.0.2.100' });
  });

  it('host_addr defaults to 0.0.0.0 and guest_addr to the configured guest; list is not wrapped in "return"', async () => {
    await ask('{"execute": "add_hostfwd", "arguments": {"proto": "tcp", "host_port": 8080, "guest_port": 80}}');
    await ask('{"execute":"add_hostfwd","arguments":{"proto":"udp","host_addr":"127.0.0.2","host_port":15991,"guest_addr":"10.0.2.100","guest_port":53}}');
    expect(await ask('{"execute":"list_hostfwd"}')).toBe(
      '{"entries":[{"id":1,"proto":"tcp","host_addr":"0.0.0.0","host_port":8080,"guest_addr":"10.0.2.100","guest_port":80},' +
        '{"id":2,"proto":"udp","host_addr":"127.0.0.2","host_port":15991,"guest_addr":"10.0.2.100","guest_port":53}]}',
    );
  });

  it('list_hostfwd with nothing published', async () => {
    expect(await ask('{"execute":"list_hostfwd"}')).toBe('{"entries":[]}');
  });

  it('ids are never reused', async () => {
    await ask('{"execute":"add_hostfwd","arguments":{"proto":"tcp","host_port":1001,"guest_port":80}}');
    await ask('{"execute":"remove_hostfwd","arguments":{"id":1}}');
    expect(await ask('{"execute":"add_hostfwd","arguments":{"proto":"tcp","host_port":1001,"guest_port":80}}')).toBe('{"return":{"id":2}}');
  });

  const errors: [string, string, string][] = [
    ['garbage', 'hello', 'bad request: cannot parse JSON'],
    ['empty request', '', 'bad request: cannot parse JSON'],
    ['truncated JSON', '{"execute":"list_hostfwd"', 'bad request: cannot parse JSON'],
    ['valid JSON, not an object', '[1,2]', 'bad request: json_object() failed'],
    ['a JSON string', '"list_hostfwd"', 'bad request: json_object() failed'],
    ['no execute', '{"arguments":{}}', 'bad request: no execute found'],
    ['execute not a string', '{"execute":1}', 'bad request: no execute found'],
    ['unknown execute', '{"execute":"frob"}', 'bad request: unknown execute'],
    ['add_hostfwd without arguments (slirp4netns segfaults)', '{"execute":"add_hostfwd"}', 'bad request: add_hostfwd: bad arguments.proto'],
    ['bad proto', '{"execute":"add_hostfwd","arguments":{"proto":"sctp","host_port":1,"guest_port":1}}', 'bad request: add_hostfwd: bad arguments.proto'],
    ['proto not a string', '{"execute":"add_hostfwd","arguments":{"proto":6,"host_port":1,"guest_port":1}}', 'bad request: add_hostfwd: bad arguments.proto'],
    ['bad host_addr', '{"execute":"add_hostfwd","arguments":{"proto":"tcp","host_addr":"localhost","host_port":1,"guest_port":1}}', 'bad request: add_hostfwd: bad arguments.host_addr'],
    ['host_addr with leading zero', '{"execute":"add_hostfwd","arguments":{"proto":"tcp","host_addr":"127.0.0.01","host_port":1,"guest_port":1}}', 'bad request: add_hostfwd: bad arguments.host_addr'],
    ['missing host_port', '{"execute":"add_hostfwd","arguments":{"proto":"tcp","guest_port":1}}', 'bad request: add_hostfwd: bad arguments.host_port'],
    ['host_port 70000 (slirp4netns accepts)', '{"execute":"add_hostfwd","arguments":{"proto":"tcp","host_port":70000,"guest_port":1}}', 'bad request: add_hostfwd: bad arguments.host_port'],
    ['host_port negative', '{"execute":"add_hostfwd","arguments":{"proto":"tcp","host_port":-5,"guest_port":1}}', 'bad request: add_hostfwd: bad arguments.host_port'],
    ['host_port as a string', '{"execute":"add_hostfwd","arguments":{"proto":"tcp","host_port":"8080","guest_port":1}}', 'bad request: add_hostfwd: bad arguments.host_port'],
    ['bad guest_addr', '{"execute":"add_hostfwd","arguments":{"proto":"tcp","host_port":1,"guest_addr":"10.0.2","guest_port":1}}', 'bad request: add_hostfwd: bad arguments.guest_addr'],
    ['IPv6 guest_addr with IPv6 off', '{"execute":"add_hostfwd","arguments":{"proto":"tcp","host_port":1,"guest_addr":"fd00::100","guest_port":1}}', 'bad request: add_hostfwd: bad arguments.guest_addr'],
    ['guest_addr not numeric', '{"execute":"add_hostfwd","arguments":{"proto":"tcp","host_port":1,"guest_addr":"guest","guest_port":1}}', 'bad request: add_hostfwd: bad arguments.guest_addr'],
    ['missing guest_port', '{"execute":"add_hostfwd","arguments":{"proto":"tcp","host_port":1}}', 'bad request: add_hostfwd: bad arguments.guest_port'],
    ['guest_port 65536', '{"execute":"add_hostfwd","arguments":{"proto":"tcp","host_port":1,"guest_port":65536}}', 'bad request: add_hostfwd: bad arguments.guest_port'],
    ['remove unknown id', '{"execute":"remove_hostfwd","arguments":{"id":42}}', 'bad request: remove_hostfwd: bad arguments.id'],
    ['remove without id', '{"execute":"remove_hostfwd"}', 'bad request: remove_hostfwd: bad arguments.id'],
  ];
  for (const [name, request, desc] of errors) {
    it(`error: ${name}`, async () => {
      expect(await ask(request)).toBe(`{"error":{"desc":"${desc}"}}`);
    });
  }

  it('error: port in use → slirp_add_hostfwd failed', async () => {
    hostfwd.busy.add('tcp 127.0.0.1 2222');
    expect(await ask('{"execute":"add_hostfwd","arguments":{"proto":"tcp","host_addr":"127.0.0.1","host_port":2222,"guest_port":22}}')).toBe(
      '{"error":{"desc":"bad request: add_hostfwd: slirp_add_hostfwd failed"}}',
    );
    expect(failures.length).toBeGreaterThan(0);
    // A failed add consumes no id.
    expect(await ask('{"execute":"add_hostfwd","arguments":{"proto":"tcp","host_port":2223,"guest_port":22}}')).toBe('{"return":{"id":1}}');
  });

  it('error: a request of 4096 bytes or more is too large; 4095 is not', async () => {
    const pad = (n: number): string => {
      const head = '{"execute":"list_hostfwd","pad":"';
      return head + 'x'.repeat(n - head.length - 2) + '"}';
    };
    expect(await ask(pad(API_MAX_REQUEST))).toBe('{"error":{"desc":"bad request: too large message"}}');
    expect(await ask(pad(API_MAX_REQUEST * 4))).toBe('{"error":{"desc":"bad request: too large message"}}');
    expect(await ask(pad(API_MAX_REQUEST - 1))).toBe('{"entries":[]}');
  });

  it('accepts an IPv6 host_addr (beyond slirp4netns)', async () => {
    expect(await ask('{"execute":"add_hostfwd","arguments":{"proto":"tcp","host_addr":"::1","host_port":8081,"guest_port":80}}')).toBe('{"return":{"id":1}}');
    expect(await ask('{"execute":"list_hostfwd"}')).toContain('"host_addr":"::1"');
  });

  it('with IPv6 on: an IPv6 guest_addr (beyond slirp4netns) is accepted and listed as given; the table\'s refusal is bad arguments.guest_addr', async () => {
    hostfwd.ipv6 = true;
    expect(await ask('{"execute":"add_hostfwd","arguments":{"proto":"tcp","host_addr":"::","host_port":8081,"guest_addr":"fd00::5054:ff:fe12:3456","guest_port":80}}')).toBe('{"return":{"id":1}}');
    expect(await ask('{"execute":"add_hostfwd","arguments":{"proto":"tcp","host_addr":"::","host_port":8082,"guest_addr":"2001:db8::1","guest_port":80}}')).toBe(
      '{"error":{"desc":"bad request: add_hostfwd: bad arguments.guest_addr"}}',
    );
    // Empty: the default (IPv4) guest address, whatever the host address's family.
    expect(await ask('{"execute":"add_hostfwd","arguments":{"proto":"udp","host_addr":"::1","host_port":8083,"guest_addr":"","guest_port":53}}')).toBe('{"return":{"id":2}}');
    expect(await ask('{"execute":"list_hostfwd"}')).toBe(
      '{"entries":[{"id":1,"proto":"tcp","host_addr":"::","host_port":8081,"guest_addr":"fd00::5054:ff:fe12:3456","guest_port":80},{"id":2,"proto":"udp","host_addr":"::1","host_port":8083,"guest_addr":"10.0.2.100","guest_port":53}]}',
    );
  });

  it('parses like parson: BOM, leading whitespace, trailing bytes after the first value, truncated numbers', async () => {
    expect(await ask('\uFEFF  {"execute":"list_hostfwd"} trailing junk')).toBe('{"entries":[]}');
    expect(await ask('{"execute":"add_hostfwd","arguments":{"proto":"tcp","host_port":8082.9,"guest_port":80.2}}')).toBe('{"return":{"id":1}}');
    expect(hostfwd.entries[0]).toMatchObject({ hostPort: 8082, guestPort: 80 });
  });
});

describe('API socket behaviour', () => {
  it('answers in one write (one read for the client) and closes', async () => {
    await ask('{"execute":"add_hostfwd","arguments":{"proto":"tcp","host_port":9000,"guest_port":80}}');
    const exchange = await apiRequest(path, '{"execute":"list_hostfwd"}\n');
    expect(exchange.chunks).toBe(1);
  });

  it('answers a client that never shuts down its write side', async () => {
    expect((await apiRequest(path, '{"execute":"list_hostfwd"}', { shutdown: false })).text).toBe('{"entries":[]}');
  });

  it('keeps serving after every malformed request, and many clients at once', async () => {
    const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => ask(i % 2 ? 'junk' : '{"execute":"list_hostfwd"}')));
    expect(answers.filter((a) => a === '{"entries":[]}')).toHaveLength(25);
    expect(await ask('{"execute":"list_hostfwd"}')).toBe('{"entries":[]}');
  });

  it('creates the socket file mode 0600 and removes it on close', async () => {
    expect(statSync(path).mode & 0o777).toBe(0o600);
    await server.close();
    expect(existsSync(path)).toBe(false);
  });

  it('replaces a stale socket file left by a killed process', async () => {
    await server.close();
    // A process that dies by SIGKILL while listening leaves its socket file behind.
    spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`], { stdio: 'ignore' });
    expect(existsSync(path)).toBe(true);
    server = await ApiServer.listen({ path, hostfwd, defaultGuestAddress: '10.0.2.100' });
    expect(await ask('{"execute":"list_hostfwd"}')).toBe('{"entries":[]}');
  });

  it('refuses to remove a regular file at the path', async () => {
    await server.close();
    writeFileSync(path, 'not a socket');
    await expect(ApiServer.listen({ path, hostfwd, defaultGuestAddress: '10.0.2.100' })).rejects.toThrow(/cannot listen on API socket/);
    rmSync(path);
    server = await ApiServer.listen({ path, hostfwd, defaultGuestAddress: '10.0.2.100' });
  });
});

describe('handleApiRequest (no socket)', () => {
  it('never throws, whatever the bytes', async () => {
    const context = { hostfwd: new FakeHostfwd(), defaultGuestAddress: '10.0.2.100' };
    for (const request of ['{', '}', '[[[[', '{"execute":null}', '{"execute":"add_hostfwd","arguments":[]}', '\0\0', '{"execute":"remove_hostfwd","arguments":{"id":"1"}}']) {
      const answer = await handleApiRequest(Buffer.from(request), context);
      expect(JSON.parse(answer)).toHaveProperty('error');
    }
  });
});
