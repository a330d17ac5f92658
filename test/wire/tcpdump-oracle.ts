/**
 * An independent decoder for IPv6, ICMPv6 and NDP frames: tcpdump (libpcap/tcpdump 4.99) reading a
 * pcap file that the test writes. tcpdump verifies ICMPv6, TCP and UDP checksums over the IPv6
 * pseudo-header itself ("[icmp6 sum ok]", "cksum 0x… (correct)", "[udp sum ok]") and prints every NDP
 * option it knows, so a frame we build is checked by code that shares nothing with src/wire.
 * Not a test file itself. tcpdump is a CI package (.ci/run); without it the tests skip outside CI.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Why tcpdump cannot be used here, or undefined when it can. */
export function tcpdumpPrerequisite(): string | undefined {
  try {
    execFileSync('tcpdump', ['--version'], { stdio: 'ignore' });
    return undefined;
  } catch {
    return 'needs tcpdump (apt-get install tcpdump)';
  }
}

/** A pcap file (LINKTYPE_ETHERNET) holding frames, in memory. */
export function pcapOf(frames: readonly Uint8Array[]): Buffer {
  const header = Buffer.alloc(24);
  header.writeUInt32LE(0xa1b2c3d4, 0);
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeUInt32LE(262144, 16);
  header.writeUInt32LE(1, 20);
  const parts: Buffer[] = [header];
  frames.forEach((frame, i) => {
    const record = Buffer.alloc(16);
    record.writeUInt32LE(i, 0);
    record.writeUInt32LE(frame.length, 8);
    record.writeUInt32LE(frame.length, 12);
    parts.push(record, Buffer.from(frame));
  });
  return Buffer.concat(parts);
}

/**
 * tcpdump's verbose decoding (-vvv, link-level header, numeric, no timestamps) of each frame: one
 * string per frame, its continuation lines (NDP options) joined with newlines, runs of spaces as one.
 */
export function tcpdumpDecode(frames: readonly Uint8Array[]): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'tslirp-tcpdump-'));
  try {
    const file = join(dir, 'frames.pcap');
    writeFileSync(file, pcapOf(frames));
    const text = execFileSync('tcpdump', ['-r', file, '-nn', '-vvv', '-e', '-t'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const packets: string[] = [];
    for (const raw of text.split('\n')) {
      if (raw === '') continue;
      const line = raw.replace(/(\S) {2,}/g, '$1 ');
      if (/^\s/.test(line) && packets.length > 0) packets[packets.length - 1] += '\n' + line.trim();
      else packets.push(line);
    }
    if (packets.length !== frames.length) throw new Error(`tcpdump printed ${packets.length} packets for ${frames.length} frames:\n${text}`);
    return packets;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
