/**
 * Wire-layer micro-benchmark: `npx tsx bench/wire.bench.ts` (or `npm run bench:wire`).
 *
 * For three frame sizes — 64 B (minimum Ethernet frame: TCP with MSS + SACK-permitted options and
 * 2 payload bytes), 1514 B (IP length 1500, TCP with timestamps) and 65549 B (IP length 65535, the
 * largest super-frame a TAP with TSO hands us) — it measures:
 *
 * - parse:    Ethernet → IPv4 (header checksum verified) → TCP view → options parser, one reused
 *             view per layer as the engine does;
 * - checksum: TCP checksum verification over the whole segment with the IPv4 pseudo-header;
 * - emit:     IPv4 + TCP headers with timestamps written and the TCP checksum filled over a payload
 *             already in place.
 *
 * Prints ops/s and GB/s (frame bytes × ops/s). BENCH_MAX_TIME (seconds per case, default 1) trades
 * precision for time. Pure computation: no I/O, no sockets.
 */
import Benchmark from 'benchmark';
import { DropReason } from '../src/wire/drop-reason.js';
import { ETHERNET_HEADER_LENGTH, EtherType, EthernetFrame, writeEthernetHeader } from '../src/wire/ethernet.js';
import { IPV4_HEADER_LENGTH, IpProtocol, Ipv4Packet, writeIpv4Header } from '../src/wire/ipv4.js';
import {
  fillTcpChecksumIpv4,
  parseTcpOptions,
  TCP_ACK,
  TCP_HEADER_LENGTH,
  TcpOptions,
  TcpSegment,
  writeMssOption,
  writeSackPermittedOption,
  writeTcpHeader,
  writeTimestampOption,
} from '../src/wire/tcp.js';

const MAX_TIME = Number(process.env.BENCH_MAX_TIME ?? 1);
const GUEST_MAC = 0x5254_0012_3456;
const GATEWAY_MAC = 0x5255_0a00_0202;
const SOURCE = 0x0a000264;
const DESTINATION = 0x5db8d822;

interface Case {
  name: string;
  frame: Uint8Array;
  optionsLength: number;
}

/** Builds a valid Ethernet + IPv4 + TCP frame of exactly frameLength bytes (payload is pseudo-random). */
function buildFrame(frameLength: number, withTimestamps: boolean): Case {
  const optionsLength = withTimestamps ? 12 : 8;
  const frame = new Uint8Array(frameLength);
  let seed = frameLength;
  const l4Start = ETHERNET_HEADER_LENGTH + IPV4_HEADER_LENGTH;
  const payloadStart = l4Start + TCP_HEADER_LENGTH + optionsLength;
  for (let i = payloadStart; i < frameLength; i++) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    frame[i] = seed >>> 24;
  }
  writeEthernetHeader(frame, 0, GATEWAY_MAC, GUEST_MAC, EtherType.Ipv4);
  writeIpv4Header(frame, ETHERNET_HEADER_LENGTH, SOURCE, DESTINATION, IpProtocol.Tcp, frameLength - l4Start);
  let at = writeTcpHeader(frame, l4Start, 40000, 443, 0x12345678, 0x9abcdef0, TCP_ACK, 0xffff, optionsLength);
  if (withTimestamps) at = writeTimestampOption(frame, at, 123456789, 987654321);
  else at = writeSackPermittedOption(frame, writeMssOption(frame, at, 1460));
  if (at !== payloadStart) throw new Error('layout');
  fillTcpChecksumIpv4(frame, l4Start, frameLength - l4Start, SOURCE, DESTINATION, null);
  const label = frameLength === 64 ? '64 B' : frameLength === 1514 ? '1514 B (IP 1500)' : `${frameLength} B (IP 64 KiB)`;
  return { name: label, frame, optionsLength };
}

const cases: Case[] = [buildFrame(64, false), buildFrame(1514, true), buildFrame(65549, true)];

// One view per layer, reused for every frame (the engine's pattern).
const ethernet = new EthernetFrame();
const ip = new Ipv4Packet();
const tcp = new TcpSegment();
const options = new TcpOptions();
let sink = 0;

function parse(frame: Uint8Array): void {
  if (ethernet.wrap(frame, 0, frame.length) !== DropReason.None || ethernet.etherType !== EtherType.Ipv4) throw new Error('eth');
  if (ip.wrap(frame, ethernet.payloadOffset, ethernet.payloadLength) !== DropReason.None || ip.protocol !== IpProtocol.Tcp) throw new Error('ip');
  if (tcp.wrap(frame, ip.payloadOffset, ip.payloadLength) !== DropReason.None) throw new Error('tcp');
  if (parseTcpOptions(tcp, options) !== DropReason.None) throw new Error('options');
  sink += tcp.sourcePort + tcp.sequence + tcp.flags + tcp.window + tcp.payloadLength + options.mss + options.timestampValue + ip.source;
}

function verify(frame: Uint8Array): void {
  const l4 = ETHERNET_HEADER_LENGTH + IPV4_HEADER_LENGTH;
  tcp.wrap(frame, l4, frame.length - l4);
  if (!tcp.verifyChecksumIpv4(SOURCE, DESTINATION)) throw new Error('checksum');
}

function emit(c: Case): void {
  const frame = c.frame;
  const l4 = ETHERNET_HEADER_LENGTH + IPV4_HEADER_LENGTH;
  writeEthernetHeader(frame, 0, GATEWAY_MAC, GUEST_MAC, EtherType.Ipv4);
  writeIpv4Header(frame, ETHERNET_HEADER_LENGTH, SOURCE, DESTINATION, IpProtocol.Tcp, frame.length - l4);
  let at = writeTcpHeader(frame, l4, 40000, 443, 0x12345678, 0x9abcdef0, TCP_ACK, 0xffff, c.optionsLength);
  if (c.optionsLength === 12) writeTimestampOption(frame, at, 123456789, 987654321);
  else at = writeSackPermittedOption(frame, writeMssOption(frame, at, 1460));
  fillTcpChecksumIpv4(frame, l4, frame.length - l4, SOURCE, DESTINATION, null);
}

interface Row {
  benchmark: string;
  frame: string;
  'ops/s': string;
  'GB/s': string;
  'ns/op': string;
  '±%': string;
}
const rows: Row[] = [];

const suite = new Benchmark.Suite('wire');
for (const c of cases) {
  suite.add(`parse|${c.name}`, () => parse(c.frame), { maxTime: MAX_TIME });
  suite.add(`checksum|${c.name}`, () => verify(c.frame), { maxTime: MAX_TIME });
  suite.add(`emit|${c.name}`, () => emit(c), { maxTime: MAX_TIME });
}

suite.on('cycle', (event: Benchmark.Event) => {
  const bench = event.target as unknown as Benchmark & { name: string };
  const [what, frameName] = bench.name.split('|');
  const frame = cases.find((c) => c.name === frameName);
  const hz = bench.hz ?? 0;
  const bytes = frame ? frame.frame.length : 0;
  rows.push({
    benchmark: what,
    frame: frameName,
    'ops/s': Math.round(hz).toLocaleString('en-US'),
    'GB/s': ((hz * bytes) / 1e9).toFixed(3),
    'ns/op': (1e9 / hz).toFixed(1),
    '±%': (bench.stats?.rme ?? 0).toFixed(2),
  });
  process.stderr.write(`  ${String(event.target)}\n`);
});

suite.on('complete', () => {
  console.log(`\nwire codecs, Node ${process.version}, ${MAX_TIME}s per case`);
  console.table(rows);
  if (sink === 0.5) console.log(sink); // keep the parse results observable
});

// The three frames must be valid before timing anything.
for (const c of cases) {
  parse(c.frame);
  verify(c.frame);
}
suite.run({ async: false });
