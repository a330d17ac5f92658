/**
 * The engine's cost per short connection without a kernel: `npx tsx bench/connection-path.bench.ts`
 * (under the machine lock, like every benchmark). bench/latency.ts's connection-rate workload
 * (guest connects to 10.0.2.2, 1 byte each way, the guest closes first) played frame by frame on a
 * Stack with the TCP engine on a MemoryLink (frames not kept) and a fake host port that behaves as
 * NativeTcpPort does on loopback: connected inside connect() (the engine hears it after its turn),
 * the host's answer and its end arriving as later events. Each connection: SYN → SYN-ACK, ACK and
 * the 1-byte request, the host's 1-byte answer, the guest's ACK and FIN (the host socket ended, the
 * host closes), our FIN, the guest's ACK. Real clock (the timer queue arms Node timers as in
 * production; none fires within a round).
 *
 * Prints ns per connection, frames sent and link flushes (TAP writes) per connection, the flows
 * left in the table (lingering) after a round (medians of ROUNDS rounds), and young-generation
 * collections per 1000 connections (what a connection allocates; steadier than the time on a busy
 * machine). A/B in one
 * process: `--baseline=DIR` loads the engine a second time from another checkout's src/ and runs
 * the rounds of both alternately (after one uncounted warm-up round each), as engine-path.bench.ts.
 */
import { constants as perfConstants, PerformanceObserver, performance, type PerformanceEntry } from 'node:perf_hooks';
import type { HostStream, HostStreamEvents, HostTcpPort } from '../src/stack/tcp/host-tcp-port.js';
import { ETHERNET_HEADER_LENGTH, EtherType, writeEthernetHeader } from '../src/wire/ethernet.js';
import { IPV4_HEADER_LENGTH, IpProtocol, writeIpv4Header } from '../src/wire/ipv4.js';
import { TCP_ACK, TCP_FIN, TCP_HEADER_LENGTH, TCP_PSH, TCP_SYN, TcpSegment, writeMssOption, writeWindowScaleOption, writeTcpHeader } from '../src/wire/tcp.js';
import { baselineArgument, median, GATEWAY, GATEWAY_MAC, GUEST, GUEST_MAC, IP_OFFSET } from './engine-fixtures.js';
import { loadEngineBuild, type EngineBuild } from './engine-build.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const CONNECTIONS_PER_ROUND = Number(process.env.BENCH_CONNECTIONS ?? 20_000);
const SERVER_PORT = 7000;

const USAGE = 'usage: npx tsx bench/connection-path.bench.ts [--baseline=DIR]';
const BASELINE = baselineArgument(USAGE);

/** A guest segment to 10.0.2.2:SERVER_PORT (a SYN with MSS and window scale, as Linux sends). */
function frame(port: number, seq: number, ack: number, flags: number, payloadLength: number): Uint8Array {
  const optionsLength = flags & TCP_SYN ? 8 : 0;
  const tcpLength = TCP_HEADER_LENGTH + optionsLength + payloadLength;
  const f = new Uint8Array(ETHERNET_HEADER_LENGTH + IPV4_HEADER_LENGTH + tcpLength);
  const ip = writeEthernetHeader(f, 0, GATEWAY_MAC, GUEST_MAC, EtherType.Ipv4);
  const tcp = writeIpv4Header(f, ip, GUEST, GATEWAY, IpProtocol.Tcp, tcpLength);
  const at = writeTcpHeader(f, tcp, port, SERVER_PORT, seq >>> 0, ack >>> 0, flags, 0xffff, optionsLength);
  if (flags & TCP_SYN) writeWindowScaleOption(f, writeMssOption(f, at, 65480), 7);
  return f;
}

/** Lets the engine's microtasks run (the host's connect outcome, the end-of-tick flush): no event-loop turn per step. */
async function tick(): Promise<void> {
  for (let i = 0; i < 4; i++) await null;
}

/** One round: ns per connection, frames and link flushes (TAP writes) per connection, flows still in the table at its end (lingering in TIME-WAIT). */
type Round = () => Promise<{ ns: number; frames: number; flushes: number; flowsLeft: number }>;

async function session(build: EngineBuild): Promise<Round> {
  const { FRAME_CHECKSUM_PARTIAL, MemoryLink, SystemClock, HostAddressMap, Stack, installTcp } = build;
  const flags = [FRAME_CHECKSUM_PARTIAL];
  let sent = 0;
  let flushes = 0;
  let lastSeq = 0;
  const seg = new TcpSegment();
  const link = new MemoryLink({
    keep: false,
    offloads: { rxChecksumPartial: true, tso: false, txChecksumOffload: true },
    onTransmit: (frames) => {
      flushes++;
      sent += frames.length;
      for (const f of frames) {
        seg.wrap(f, IP_OFFSET, f.length - IP_OFFSET);
        if (seg.flags & TCP_SYN) lastSeq = seg.sequence;
      }
    },
  });
  const stack = new Stack(link, { clock: new SystemClock() });
  let events: HostStreamEvents | undefined;
  let ended = false;
  const stream: HostStream = {
    write() {},
    pendingWriteBytes: 0,
    connectedInConnect: true, // builds that know it answer the SYN in its batch; onConnect follows anyway
    end() {
      ended = true;
    },
    reset() {},
    destroy() {},
    pause() {},
    resume() {},
  };
  const hostPort: HostTcpPort = {
    connect(_endpoint, e) {
      events = e;
      queueMicrotask(() => e.onConnect()); // connected inside connect(), told after the engine's turn
      return stream;
    },
  };
  const engine = installTcp(stack, { hostPort, addressMap: new HostAddressMap(stack.config) });
  stack.start();
  const answer = new Uint8Array([0x78]);
  let port = 10000;
  let guestIsn = 1;
  /** The connection whose close is still to come: the guest's ACK and FIN ride with the next SYN. */
  let previous: { port: number; guestIsn: number; ourIsn: number; host: HostStreamEvents } | null = null;
  /** The guest's ACK of the answer and its FIN for the previous connection (then our FIN follows). */
  const closeOfPrevious = (): Uint8Array[] =>
    previous === null ? [] : [frame(previous.port, previous.guestIsn + 2, previous.ourIsn + 2, TCP_ACK, 0), frame(previous.port, previous.guestIsn + 2, previous.ourIsn + 2, TCP_ACK | TCP_FIN, 0)];
  /** The host's end after our shutdown (the server closes), then the guest's ACK of our FIN (with more, in one batch). */
  const hostClosesPrevious = async (more: Uint8Array[]): Promise<void> => {
    const before = previous;
    if (before !== null) {
      if (!ended) throw new Error(`${build.name}: the guest's FIN did not end the host socket`);
      ended = false;
      before.host.onEnd();
      before.host.onClose();
      await tick();
      more = [frame(before.port, before.guestIsn + 3, before.ourIsn + 3, TCP_ACK, 0), ...more];
    }
    if (more.length > 0) link.inject(more, more.map(() => FRAME_CHECKSUM_PARTIAL));
  };
  // As on the TAP under the cr workload (strace): the guest's close of connection N reaches us in one
  // batch with the SYN of N + 1, and its ACK of our FIN with its ACK of the next SYN-ACK.
  const connection = async (): Promise<void> => {
    port = port >= 60000 ? 10000 : port + 1;
    guestIsn = (guestIsn + 0x10000) >>> 0;
    const g = guestIsn;
    const batch = [...closeOfPrevious(), frame(port, g, 0, TCP_SYN, 0)];
    link.inject(batch, batch.map(() => FRAME_CHECKSUM_PARTIAL));
    await tick(); // the connect's event, its flush
    const ours = lastSeq;
    const host = events!;
    await hostClosesPrevious([frame(port, g + 1, ours + 1, TCP_ACK, 0)]);
    link.inject(frame(port, g + 1, ours + 1, TCP_ACK | TCP_PSH, 1), flags);
    await tick();
    host.onData(answer);
    await tick();
    previous = { port, guestIsn: g, ourIsn: ours, host };
  };
  /** Closes the last connection of a round (so every round leaves the table as it found it). */
  const closeLast = async (): Promise<void> => {
    const batch = closeOfPrevious();
    link.inject(batch, batch.map(() => FRAME_CHECKSUM_PARTIAL));
    await tick();
    await hostClosesPrevious([]);
    await tick();
    previous = null;
  };
  return async () => {
    const sentBefore = sent;
    const flushesBefore = flushes;
    const start = process.hrtime.bigint();
    for (let i = 0; i < CONNECTIONS_PER_ROUND; i++) await connection();
    await closeLast();
    const elapsed = Number(process.hrtime.bigint() - start);
    return { ns: elapsed / CONNECTIONS_PER_ROUND, frames: (sent - sentBefore) / CONNECTIONS_PER_ROUND, flushes: (flushes - flushesBefore) / CONNECTIONS_PER_ROUND, flowsLeft: engine.size };
  };
}

const builds = [await loadEngineBuild('this build', '.')];
if (BASELINE !== undefined) builds.push(await loadEngineBuild(`baseline (${BASELINE})`, BASELINE));
const rounds: Round[] = [];
for (const build of builds) rounds.push(await session(build));
for (const round of rounds) await round();
const ns = builds.map((): number[] => []);
const frames = builds.map((): number[] => []);
const flowsLeft = builds.map((): number[] => []);
const flushes = builds.map((): number[] => []);
// Young-generation collections per connection: what a connection allocates, without the timing
// noise (the harness's own frames are the same for every build). Counted by the rounds' time windows.
const windows = builds.map((): [number, number][] => []);
const collections: PerformanceEntry[] = [];
const gcObserver = new PerformanceObserver((list) => collections.push(...list.getEntries()));
gcObserver.observe({ entryTypes: ['gc'] });
for (let r = 0; r < ROUNDS; r++) {
  const order = r % 2 === 0 ? builds.map((_, i) => i) : builds.map((_, i) => builds.length - 1 - i);
  for (const i of order) {
    const from = performance.now();
    const result = await rounds[i]();
    windows[i].push([from, performance.now()]);
    ns[i].push(result.ns);
    frames[i].push(result.frames);
    flowsLeft[i].push(result.flowsLeft);
    flushes[i].push(result.flushes);
  }
}
await new Promise((r) => setTimeout(r, 100)); // the observer's last entries
gcObserver.disconnect();
const scavengesPer1k = windows.map((list) =>
  (1000 * collections.filter((e) => (e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind === perfConstants.NODE_PERFORMANCE_GC_MINOR && list.some(([from, to]) => e.startTime >= from && e.startTime < to)).length) / (ROUNDS * CONNECTIONS_PER_ROUND),
);
console.log(`connection path, Node ${process.version}, ${ROUNDS} rounds of ${CONNECTIONS_PER_ROUND} connections, median, ${new Date().toISOString()}`);
console.log('');
console.log(`| build | ns per connection | frames sent per connection | link flushes per connection | flows in the table after a round | scavenges per 1000 connections |`);
console.log(`|---|---:|---:|---:|---:|---:|`);
builds.forEach((b, i) => console.log(`| ${b.name} | ${median(ns[i]).toFixed(0)} | ${median(frames[i]).toFixed(2)} | ${median(flushes[i]).toFixed(2)} | ${median(flowsLeft[i])} | ${scavengesPer1k[i].toFixed(2)} |`));
if (builds.length > 1) console.log(`\nratio this / baseline: ${(median(ns[0]) / median(ns[1])).toFixed(2)}`);
