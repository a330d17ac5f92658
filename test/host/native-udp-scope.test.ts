/**
 * NativeUdpPort and scoped IPv6 peers (a link-local resolver from resolv.conf, "fe80::1%eth0"): a
 * reply's source and a refusal's destination carry the scope as Node's dgram writes it
 * ("fe80::1%lo"), so the engine matches them against the endpoint it sent to (its reverse map: the
 * DNS upstream behind fd00::3 and 10.0.2.3). Loopback has no link-local address, so this runs in a
 * network namespace of its own where lo gets fe80::1.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { namespacePrerequisite, REPO_ROOT, requireOrSkip } from '../support/netns.js';

const SCOPE_PROBE = `
import { createSocket } from 'node:dgram';
import { NativeUdpPort } from './src/host/native-udp-port.ts';
const echo = createSocket('udp6');
echo.on('message', (message, remote) => echo.send(message, remote.port, remote.address));
await new Promise((resolve) => echo.bind(0, 'fe80::1%lo', resolve));
const closed = createSocket('udp6');
await new Promise((resolve) => closed.bind(0, 'fe80::1%lo', resolve));
const closedPort = closed.address().port;
await new Promise((resolve) => closed.close(resolve));
const seen = { replies: [], errors: [] };
const socket = new NativeUdpPort().open({
  onMessage: (_payload, address, port) => seen.replies.push(address + ' ' + (port === echo.address().port)),
  onError: (code, destination) => seen.errors.push(code + ' ' + destination?.address + ' ' + (destination?.port === closedPort)),
});
socket.send(Buffer.from('q'), { address: 'fe80::1%lo', port: echo.address().port });
socket.send(Buffer.from('r'), { address: 'fe80::1%lo', port: closedPort });
const deadline = Date.now() + 3000;
while ((seen.replies.length === 0 || seen.errors.length === 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
socket.send(Buffer.from('q'), { address: '::1', port: 9 }); // an unscoped peer after a scoped one
await new Promise((r) => setTimeout(r, 50));
socket.close();
echo.close();
console.log(JSON.stringify(seen));
`;

describe('NativeUdpPort with a scoped (link-local) peer', () => {
  it('reports replies from, and refusals of, fe80::1%lo with the scope', async (ctx) => {
    requireOrSkip(ctx, namespacePrerequisite({ root: true }));
    const script = `ip link set lo up && ip -6 addr add fe80::1/64 dev lo nodad && exec node --import tsx --input-type=module -e "$PROBE"`;
    const { stdout } = await promisify(execFile)('unshare', ['-n', 'sh', '-c', script], { cwd: REPO_ROOT, env: { ...process.env, PROBE: SCOPE_PROBE }, timeout: 30_000 });
    const seen = JSON.parse(stdout.trim().split('\n').pop() as string) as { replies: string[]; errors: string[] };
    expect(seen.replies).toEqual(['fe80::1%lo true']);
    expect(seen.errors).toEqual(['ECONNREFUSED fe80::1%lo true', 'ECONNREFUSED ::1 false']);
  });
});
