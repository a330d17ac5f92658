/**
 * The engine's JS per 64-byte request/response round trip without a kernel:
 * `npx tsx bench/rr-path.bench.ts [--baseline=DIR]` (under the machine lock, like every benchmark).
 * bench/latency.ts's rr workload (guest→host) played on a Stack with the TCP engine on a MemoryLink
 * (frames not kept), the production clock (SystemClock: its cost per read is part of what is
 * measured) and a fake host socket. One established flow with timestamps, window scaling and SACK
 * (as a Linux guest negotiates), then per round trip: the guest's 64-byte request (acknowledging
 * our last answer, timestamped), the end-of-tick flush, the host's 64-byte answer read, the flush.
 *
 * Prints ns per round trip (median of ROUNDS rounds) and the clock reads per round trip. A/B in one
 * process as engine-path.bench.ts: `--baseline=DIR` loads the engine a second time from another
 * checkout's src/ and alternates the builds' rounds (after one uncounted warm-up round each).
 */
import { mkdirSync, appendFileSync } from 'node:fs';
import { readUint32, writeUint32 } from '../src/wire/bytes.js';
import { EtherType, writeEthernetHeader } from '../src/wire/ethernet.js';
import { IpProtocol, writeIpv4Header } from '../src/wire/ipv4.js';
import {
  TCP_ACK,
  TCP_HEADER_LENGTH,
  TCP_PSH,
  TCP_SYN,
  TcpSegment,
  writeMssOption,
  writeSackPermittedOption,
  writeTcpHeader,
  writeTimestampOption,
  writeWindowScaleOption,
} from '../src/wire/tcp.js';
import { baselineArgument, median, countingHostPort, GATEWAY, GATEWAY_MAC, GUEST, GUEST_MAC, IP_OFFSET } from './engine-fixtures.js';
import { loadEngineBuild, type EngineBuild } from './engine-build.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 9);
const TRIPS_PER_ROUND = Number(process.env.BENCH_TRIPS ?? 100_000);
const MSS = 1448;
const MESSAGE = 64;

const USAGE = 'usage: npx tsx bench/rr-path.bench.ts [--baseline=DIR]';
const BASELINE = baselineArgument(USAGE);

/** A guest frame with the timestamp option (and on the SYN: MSS, SACK permitted, window scale). */
function frame(seq: number, ack: number, flags: number, payloadLength: number, syn: boolean): Uint8Array {
  const optionsLength = syn ? 24 : 12;
  const tcpLength = TCP_HEADER_LENGTH + optionsLength + payloadLength;
  const f = new Uint8Array(IP_OFFSET + tcpLength);
  const ip = writeEthernetHeader(f, 0, GATEWAY_MAC, GUEST_MAC, EtherType.Ipv4);
  const tcp = writeIpv4Header(f, ip, GUEST, GATEWAY, IpProtocol.Tcp, tcpLength);
  let at = writeTcpHeader(f, tcp, 40000, 7000, seq >>> 0, ack >>> 0, flags, 0xffff, optionsLength);
  if (syn) {
    at = writeMssOption(f, at, MSS);
    at = writeSackPermittedOption(f, at);
    at = writeWindowScaleOption(f, at, 7);
  }
  writeTimestampOption(f, at, 1, 0);
  return f;
}

/** ns per round trip and clock reads per round trip. */
type Round = () => Promise<{ ns: number; clockReads: number }>;

async function session(build: EngineBuild): Promise<Round> {
  const { FRAME_CHECKSUM_PARTIAL, MemoryLink, SystemClock, HostAddressMap, Stack, installTcp } = build;
  const clock = new SystemClock();
  let clockReads = 0;
  const read = clock.now.bind(clock);
  clock.now = () => {
    clockReads++;
    return read();
  };
  const link = new MemoryLink({ keep: false, offloads: { rxChecksumPartial: true, tso: false, txChecksumOffload: true } });
  const stack = new Stack(link, { clock });
  const host = countingHostPort();
  installTcp(stack, { hostPort: host.hostPort, addressMap: new HostAddressMap(stack.config) });
  stack.start();
  const seg = new TcpSegment();
  let ourNext = 0;
  let answers = 0;
  let ourTimestamp = 0;
  link.onTransmit = (frames) => {
    for (const f of frames) {
      seg.wrap(f, IP_OFFSET, f.length - IP_OFFSET);
      const end = (seg.sequence + seg.payloadLength + (seg.flags & TCP_SYN ? 1 : 0)) >>> 0;
      if (((end - ourNext) | 0) > 0 || ourNext === 0) ourNext = end;
      if (seg.payloadLength > 0) {
        answers++;
        // Our data segments' only option is the timestamp (NOP NOP kind length value echo).
        ourTimestamp = readUint32(f, IP_OFFSET + TCP_HEADER_LENGTH + 4);
      }
    }
  };
  const flags = [FRAME_CHECKSUM_PARTIAL];
  link.inject(frame(1000, 0, TCP_SYN, 0, true), flags);
  host.events().onConnect();
  await Promise.resolve();
  let guestSeq = 1001;
  link.inject(frame(guestSeq, ourNext, TCP_ACK, 0, false), flags);
  const request = frame(guestSeq, ourNext, TCP_ACK | TCP_PSH, MESSAGE, false);
  const seqAt = IP_OFFSET + 4;
  const tsEchoAt = IP_OFFSET + TCP_HEADER_LENGTH + 8;
  const answer = new Uint8Array(MESSAGE);
  const hostEvents = host.events();
  return async () => {
    const readsBefore = clockReads;
    const answersBefore = answers;
    const hostBefore = host.hostBytes();
    const start = process.hrtime.bigint();
    for (let i = 0; i < TRIPS_PER_ROUND; i++) {
      writeUint32(request, seqAt, guestSeq);
      writeUint32(request, seqAt + 4, ourNext);
      writeUint32(request, tsEchoAt, ourTimestamp); // echoed, as a Linux guest does: an RTT sample per answer
      guestSeq = (guestSeq + MESSAGE) >>> 0;
      link.inject([request], flags);
      await Promise.resolve(); // the end-of-tick flush (a bare ACK, if any)
      hostEvents.onData(answer);
      await Promise.resolve();
    }
    const elapsed = Number(process.hrtime.bigint() - start);
    if (host.hostBytes() - hostBefore !== TRIPS_PER_ROUND * MESSAGE) throw new Error(`${build.name}: the host did not get every request`);
    if (answers - answersBefore !== TRIPS_PER_ROUND) throw new Error(`${build.name}: ${answers - answersBefore} answers for ${TRIPS_PER_ROUND} requests`);
    return { ns: elapsed / TRIPS_PER_ROUND, clockReads: (clockReads - readsBefore) / TRIPS_PER_ROUND };
  };
}

const builds = [await loadEngineBuild('this build', '.')];
if (BASELINE !== undefined) builds.push(await loadEngineBuild(`baseline (${BASELINE})`, BASELINE));
const rounds: Round[] = [];
for (const build of builds) rounds.push(await session(build));
for (const round of rounds) await round(); // warm-up, not counted
const ns = builds.map((): number[] => []);
const reads = builds.map((): number[] => []);
for (let r = 0; r < ROUNDS; r++) {
  const order = r % 2 === 0 ? builds.map((_, i) => i) : builds.map((_, i) => builds.length - 1 - i);
  for (const i of order) {
    const result = await rounds[i]();
    ns[i].push(result.ns);
    reads[i].push(result.clockReads);
  }
}
const nsMedians = ns.map(median);
const lines = [
  `rr path, Node ${process.version}, ${ROUNDS} rounds of ${TRIPS_PER_ROUND} round trips${BASELINE === undefined ? '' : ', rounds of the two builds alternating'}, median, ${new Date().toISOString()}`,
  '',
  '| build | ns per round trip | clock reads per round trip |',
  '|---|---:|---:|',
  ...builds.map((b, i) => `| ${b.name} | ${nsMedians[i].toFixed(0)} | ${median(reads[i]).toFixed(2)} |`),
  ...(BASELINE === undefined ? [] : [`| ratio this / baseline | ${(nsMedians[0] / nsMedians[1]).toFixed(3)} | |`]),
  '',
].join('\n');
console.log(lines);
const dir = new URL('./results/', import.meta.url);
mkdirSync(dir, { recursive: true });
appendFileSync(new URL(`rr-path-${new Date().toISOString().slice(0, 10)}.md`, dir), lines + '\n');
