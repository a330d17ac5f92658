/**
 * The engine's per-segment cost without a kernel: `npx tsx bench/engine-path.bench.ts` (under the
 * machine lock, like every benchmark). A Stack with the TCP engine on a MemoryLink (frames not kept)
 * and a fake host socket, one established flow, then:
 *
 * - guest → host: batches of 64 data segments of 1448 bytes injected as the guest's TAP would hand
 *   them over (checksums left partial, as with offloads, so the number is the engine's own work, not
 *   the checksum's; MemoryLink copies each batch once, as a TAP read would fill it); the host stream
 *   takes every write;
 * - host → guest: host reads of 64 KiB, each cut into segments of the guest's MSS and sent with a
 *   partial checksum (transmit offload), the guest acknowledging each read in one batch.
 *
 * Prints ns per segment (median of ROUNDS rounds) as a markdown table and writes it to
 * bench/results/engine-path-DATE.md. Compare two builds by running it in each (the same file in
 * both trees): it only uses what every version of the engine exports.
 *
 * A/B in one process: `npx tsx bench/engine-path.bench.ts --baseline=DIR` loads the engine a second
 * time from another checkout's src/ (DIR) and runs the rounds of both alternately (A B, then B A),
 * so both see the same machine load (after one uncounted warm-up round each); the table gives both
 * medians and the ratio this / baseline. BENCH_SEGMENTS must be a multiple of 64.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { writeUint32 } from '../src/wire/bytes.js';
import { ETHERNET_HEADER_LENGTH, EtherType, writeEthernetHeader } from '../src/wire/ethernet.js';
import { IPV4_HEADER_LENGTH, IpProtocol, writeIpv4Header } from '../src/wire/ipv4.js';
import { TCP_ACK, TCP_HEADER_LENGTH, TCP_PSH, TCP_SYN, TcpSegment, writeMssOption, writeTcpHeader, writeWindowScaleOption } from '../src/wire/tcp.js';
import { baselineArgument, median, countingHostPort, GATEWAY, GATEWAY_MAC, GUEST, GUEST_MAC } from './engine-fixtures.js';
import { loadEngineBuild, type EngineBuild } from './engine-build.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const SEGMENTS_PER_ROUND = Number(process.env.BENCH_SEGMENTS ?? 200_000);
const BATCH = 64;
const MSS = 1448;

const USAGE = 'usage: npx tsx bench/engine-path.bench.ts [--baseline=DIR]';
const BASELINE = baselineArgument(USAGE);

function frame(seq: number, ack: number, flags: number, payloadLength: number, options: 'syn' | 'none' = 'none'): Uint8Array {
  const optionsLength = options === 'syn' ? 8 : 0;
  const tcpLength = TCP_HEADER_LENGTH + optionsLength + payloadLength;
  const f = new Uint8Array(ETHERNET_HEADER_LENGTH + IPV4_HEADER_LENGTH + tcpLength);
  const ip = writeEthernetHeader(f, 0, GATEWAY_MAC, GUEST_MAC, EtherType.Ipv4);
  const tcp = writeIpv4Header(f, ip, GUEST, GATEWAY, IpProtocol.Tcp, tcpLength);
  let at = writeTcpHeader(f, tcp, 40000, 5201, seq >>> 0, ack >>> 0, flags, 0xffff, optionsLength);
  if (options === 'syn') at = writeWindowScaleOption(f, writeMssOption(f, at, MSS), 7);
  return f;
}

async function setup(build: EngineBuild) {
  const { FRAME_CHECKSUM_PARTIAL, MemoryLink, FakeClock, HostAddressMap, Stack, installTcp } = build;
  let sent = 0;
  // Checksum offload both ways: the engine's own work is measured, not the internet checksum's.
  const link = new MemoryLink({ keep: false, offloads: { rxChecksumPartial: true, tso: false, txChecksumOffload: true }, onTransmit: (frames) => (sent += frames.length) });
  const stack = new Stack(link, { clock: new FakeClock() });
  const host = countingHostPort();
  installTcp(stack, { hostPort: host.hostPort, addressMap: new HostAddressMap(stack.config) });
  stack.start();
  // Handshake: SYN, the host connects, SYN-ACK (read back from the link), ACK.
  let synAck: Uint8Array | undefined;
  link.onTransmit = (frames) => {
    sent += frames.length;
    synAck ??= frames[0];
  };
  link.inject(frame(1000, 0, TCP_SYN, 0, 'syn'), [FRAME_CHECKSUM_PARTIAL]);
  host.events().onConnect();
  await Promise.resolve();
  const seg = new TcpSegment();
  seg.wrap(synAck!, ETHERNET_HEADER_LENGTH + IPV4_HEADER_LENGTH, synAck!.length - ETHERNET_HEADER_LENGTH - IPV4_HEADER_LENGTH);
  const ourNext = (seg.sequence + 1) >>> 0;
  // From now on remember the end of the highest segment sent, for the guest's ACKs.
  let sentEnd = ourNext;
  const ipOffset = ETHERNET_HEADER_LENGTH + IPV4_HEADER_LENGTH;
  link.onTransmit = (frames) => {
    sent += frames.length;
    for (const f of frames) {
      seg.wrap(f, ipOffset, f.length - ipOffset);
      const end = (seg.sequence + seg.payloadLength) >>> 0;
      if (((end - sentEnd) | 0) > 0) sentEnd = end;
    }
  };
  link.inject(frame(1001, ourNext, TCP_ACK, 0), [FRAME_CHECKSUM_PARTIAL]);
  return { link, events: host.events(), ourNext, sentFrames: () => sent, sentEnd: () => sentEnd, hostBytes: host.hostBytes };
}

/** One round's measurement of a set-up flow: ns per segment. */
type Round = () => Promise<number>;

async function guestToHost(build: EngineBuild): Promise<Round> {
  const s = await setup(build);
  const flags = new Array<number>(BATCH).fill(build.FRAME_CHECKSUM_PARTIAL);
  // One batch of frames, reused: only the sequence numbers change (checksums are partial, as the
  // guest's offload leaves them), so the loop costs the engine's work and MemoryLink's copy.
  const frames = Array.from({ length: BATCH }, () => frame(0, s.ourNext, TCP_ACK | TCP_PSH, MSS));
  const seqAt = ETHERNET_HEADER_LENGTH + IPV4_HEADER_LENGTH + 4;
  let guestSeq = 1001;
  return async () => {
    const before = s.hostBytes();
    const start = process.hrtime.bigint();
    for (let b = 0; b < SEGMENTS_PER_ROUND / BATCH; b++) {
      for (let i = 0; i < BATCH; i++) {
        writeUint32(frames[i], seqAt, guestSeq);
        guestSeq = (guestSeq + MSS) >>> 0;
      }
      s.link.inject(frames, flags);
    }
    const elapsed = Number(process.hrtime.bigint() - start);
    if (s.hostBytes() - before !== SEGMENTS_PER_ROUND * MSS) throw new Error(`${build.name}: the host did not get every byte`);
    return elapsed / SEGMENTS_PER_ROUND;
  };
}

async function hostToGuest(build: EngineBuild): Promise<Round> {
  const s = await setup(build);
  const chunk = new Uint8Array(64 * 1024);
  return async () => {
    const sentBefore = s.sentFrames();
    const start = process.hrtime.bigint();
    while (s.sentFrames() - sentBefore < SEGMENTS_PER_ROUND) {
      s.events.onData(chunk);
      await Promise.resolve(); // the end-of-tick flush
      // The guest acknowledges everything sent so far, in one batch (the ACK is built in the loop: a
      // few hundred nanoseconds, the same for every build).
      s.link.inject(frame(1001, s.sentEnd(), TCP_ACK, 0), [build.FRAME_CHECKSUM_PARTIAL]);
      await Promise.resolve();
    }
    const elapsed = Number(process.hrtime.bigint() - start);
    return elapsed / (s.sentFrames() - sentBefore);
  };
}

/** Medians of ROUNDS rounds per build, the builds' rounds alternating (A B, B A, …). */
async function measure(builds: EngineBuild[], session: (build: EngineBuild) => Promise<Round>): Promise<number[]> {
  const rounds: Round[] = [];
  for (const build of builds) rounds.push(await session(build)); // one at a time: each handshake completes in its own ticks
  for (const round of rounds) await round(); // a warm-up round each (compiled code), not counted
  const results = builds.map((): number[] => []);
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? builds.map((_, i) => i) : builds.map((_, i) => builds.length - 1 - i);
    for (const i of order) results[i].push(await rounds[i]());
  }
  return results.map(median);
}

const builds = [await loadEngineBuild('this build', '.')];
if (BASELINE !== undefined) builds.push(await loadEngineBuild(`baseline (${BASELINE})`, BASELINE));
const g2h = await measure(builds, guestToHost);
const h2g = await measure(builds, hostToGuest);
const cells = (values: number[]): string =>
  [...values.map((v) => v.toFixed(0)), ...(values.length > 1 ? [(values[0] / values[1]).toFixed(2)] : [])].join(' | ');
const table = [
  `engine path, Node ${process.version}, ${ROUNDS} rounds of ${SEGMENTS_PER_ROUND} segments${BASELINE === undefined ? '' : ', rounds of the two builds alternating'}, median, ${new Date().toISOString()}`,
  '',
  BASELINE === undefined ? '| direction | ns per segment |' : `| direction | this build, ns per segment | baseline (${BASELINE}), ns per segment | ratio this / baseline |`,
  BASELINE === undefined ? '|---|---:|' : '|---|---:|---:|---:|',
  `| guest → host (1448-byte segments, batches of ${BATCH}, checksum partial) | ${cells(g2h)} |`,
  `| host → guest (64 KiB reads cut to 1448, one ACK per read) | ${cells(h2g)} |`,
  '',
].join('\n');
console.log(table);
const dir = new URL('./results/', import.meta.url);
mkdirSync(dir, { recursive: true });
writeFileSync(new URL(`engine-path-${new Date().toISOString().slice(0, 10)}.md`, dir), table);
