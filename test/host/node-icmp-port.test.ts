/**
 * NodeIcmpPort against the host kernel: an ICMP and an ICMPv6 echo socket each send an echo request
 * to loopback and hear the reply (the kernel rewrites the identifier and fills the checksum); with
 * ping_group_range excluding us, open() names the refusal. Runs in a network namespace of its own
 * (`unshare -n`: only its loopback, its own ping_group_range), so the machine's setting is untouched.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { namespacePrerequisite, REPO_ROOT, requireOrSkip } from '../support/netns.js';

const execFileAsync = promisify(execFile);

/** Opens one echo socket per family, pings loopback, prints one JSON line per family. */
const PROBE = `
import { NodeIcmpPort } from './src/host/node-icmp-port.ts';
const port = new NodeIcmpPort();
const cases = [[4, '127.0.0.1', 8], [6, '::1', 128]];
const results = {};
await Promise.all(cases.map(([family, address, type]) => new Promise((resolve) => {
  const timer = setTimeout(() => { results[family] = { timeout: true }; resolve(); }, 3000);
  const socket = port.open({ onMessage: (message, from) => {
    clearTimeout(timer);
    results[family] = { from, type: message[0], code: message[1], data: Buffer.from(message.subarray(8)).toString('hex') };
    socket.close();
    resolve();
  } }, family);
  if (typeof socket === 'string') { clearTimeout(timer); results[family] = { refused: socket }; resolve(); return; }
  socket.send(Uint8Array.from([type, 0, 0, 0, 0x12, 0x34, 0, 1, 0xca, 0xfe, 0xba, 0xbe]), address);
})));
console.log(JSON.stringify(results));
process.exit(0);
`;

async function probe(pingGroupRange: string): Promise<Record<string, Record<string, unknown>>> {
  const script = `ip link set lo up && echo '${pingGroupRange}' > /proc/sys/net/ipv4/ping_group_range && exec node --import tsx --input-type=module -e "$PROBE"`;
  const { stdout } = await execFileAsync('unshare', ['-n', 'sh', '-c', script], { cwd: REPO_ROOT, env: { ...process.env, PROBE }, timeout: 30_000 });
  return JSON.parse(stdout.trim().split('\n').pop() as string) as Record<string, Record<string, unknown>>;
}

describe('NodeIcmpPort (unprivileged echo sockets, both families)', () => {
  it('echo to 127.0.0.1 and ::1: ICMP echo reply (0) and ICMPv6 echo reply (129), data intact', async (ctx) => {
    requireOrSkip(ctx, namespacePrerequisite({ root: true }));
    const results = await probe('0 0');
    expect(results[4]).toEqual({ from: '127.0.0.1', type: 0, code: 0, data: 'cafebabe' });
    expect(results[6]).toEqual({ from: '::1', type: 129, code: 0, data: 'cafebabe' });
  });

  it('ping_group_range excluding us: open() returns EACCES for both families', async (ctx) => {
    requireOrSkip(ctx, namespacePrerequisite({ root: true }));
    const results = await probe('1 0');
    expect(results).toEqual({ 4: { refused: 'EACCES' }, 6: { refused: 'EACCES' } });
  });
});
