/**
 * NativeUdpPort and a send's own errors: a datagram the host's firewall refuses (EPERM) or its
 * queueing discipline drops (ENOBUFS, which IP_RECVERR makes sendto return) failed itself; neither
 * is an earlier datagram's error handed over (ICMP never yields them), so it is reported with its
 * destination and not sent again. Runs in a network namespace of its own whose nftables output
 * chain drops (and counts) UDP to port 9.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { namespacePrerequisite, REPO_ROOT, requireOrSkip } from '../support/netns.js';

const REFUSED_PROBE = `
import { NativeUdpPort } from './src/host/native-udp-port.ts';
const errors = [];
const socket = new NativeUdpPort().open({
  onMessage: () => {},
  onError: (code, destination) => errors.push(code + ' ' + destination?.address + ':' + destination?.port),
});
for (let i = 0; i < 10; i++) socket.send(Buffer.from('x'), { address: '127.0.0.1', port: 9 });
await new Promise((r) => setTimeout(r, 50));
socket.close();
console.log(JSON.stringify(errors));
`;

describe('NativeUdpPort: a send refused by the host itself', () => {
  it('is reported once with its destination and attempted once (EPERM from nftables)', async (ctx) => {
    requireOrSkip(ctx, namespacePrerequisite({ root: true }));
    const rules = `nft add table inet t && nft add chain inet t out '{ type filter hook output priority 0; }' && nft add rule inet t out udp dport 9 counter drop`;
    const script = `ip link set lo up && ${rules} && node --import tsx --input-type=module -e "$PROBE" && nft list chain inet t out`;
    const { stdout } = await promisify(execFile)('unshare', ['-n', 'sh', '-c', script], { cwd: REPO_ROOT, env: { ...process.env, PROBE: REFUSED_PROBE }, timeout: 30_000 });
    const errors = JSON.parse(stdout.split('\n').find((line) => line.startsWith('[')) as string) as string[];
    expect(errors).toEqual(Array.from({ length: 10 }, () => 'EPERM 127.0.0.1:9'));
    expect(stdout).toMatch(/counter packets 10 /); // not 20: no datagram tried twice
  });
});
