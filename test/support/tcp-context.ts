/**
 * Packet-level TCP test context (gVisor's tcp/testing/context in small): a Stack with the TCP engine
 * on a MemoryLink and a FakeClock, a fake host-socket port the test drives by hand, a builder for
 * guest segments and a decoder for the segments the engine emits. Tests inject hand-made segments
 * and assert on the exact segments that come back.
 *
 * Parameterised by address family (ip-family.ts; IPv4 by default): segments are framed and their
 * checksums computed by the family's test builder, emitted frames decoded by its independent oracle
 * (ip-packet for IPv4), the TCP checksum verified in full by a naive sum; the TCP header is read with
 * our own view (src/wire/tcp.ts). Addresses are numbers (IPv4, as the engine keys them) or text.
 */
import { expect } from 'vitest';
import type { LinkOffloads } from '../../src/link/link.js';
import { HostAddressMap } from '../../src/stack/host-address-map.js';
import {
  HostConnectError,
  type HostStream,
  type HostStreamEvents,
  type HostTcpPort,
} from '../../src/stack/tcp/host-tcp-port.js';
import { installTcp, type TcpEngine } from '../../src/stack/tcp/tcp-engine.js';
import type { HostEndpoint } from '../../src/stack/host-address-map.js';
import type { Limits, NetworkConfigInput } from '../../src/stack/config.js';
import { formatIpv4, parseIpv4 } from '../../src/wire/ip-address.js';
import { IpProtocol } from '../../src/wire/ipv4.js';
import { sumBytes } from '../../src/wire/checksum.js';
import {
  parseTcpOptions,
  TCP_ACK,
  TCP_FIN,
  TCP_PSH,
  TCP_RST,
  TCP_SYN,
  TcpOptions,
  TcpSegment,
  writeMssOption,
  writeSackOption,
  writeSackPermittedOption,
  writeTcpHeader,
  writeTimestampOption,
  writeWindowScaleOption,
} from '../../src/wire/tcp.js';
import { IPV4, l4ChecksumFor, l4ChecksumValidFor, type TestFamily } from './ip-family.js';
import { addressText, createStackContext, GATEWAY_IP, GUEST_IP, type StackContext, type TestAddress } from './stack-context.js';

export { TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN };

/** One host connection the engine asked for; the test plays the host socket. */
export class FakeHostStream implements HostStream {
  readonly written: Uint8Array[] = [];
  ended = false;
  wasReset = false;
  destroyed = false;
  paused = true;
  pendingWriteBytes = 0;
  /** As NativeTcpPort's on loopback: up when connect() returns, and no onConnect follows. */
  connectedInConnect = false;
  /** As NativeTcpPort's to a closed loopback port: failed when connect() returns, no event follows. */
  failedInConnect: HostConnectError | undefined = undefined;
  events!: HostStreamEvents;

  constructor(readonly endpoint: HostEndpoint) {}

  /** Keeps a copy; reports the write done a microtask later (Node never calls back synchronously). */
  write(data: Uint8Array, onWritten?: () => void): void {
    this.written.push(new Uint8Array(data));
    if (onWritten) queueMicrotask(onWritten);
  }
  end(): void {
    this.ended = true;
  }
  reset(): void {
    this.wasReset = true;
  }
  destroy(): void {
    this.destroyed = true;
  }
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
  }
  /** Everything the engine wrote to the host, as one string (tests use ASCII payloads). */
  text(): string {
    return Buffer.concat(this.written).toString('latin1');
  }
  bytes(): Buffer {
    return Buffer.concat(this.written);
  }
}

export class FakeHostPort implements HostTcpPort {
  readonly streams: FakeHostStream[] = [];
  /** Streams from now on say connectedInConnect (a loopback connect done inside the call). */
  connectsAtOnce = false;
  /** Streams from now on say failedInConnect with this (a loopback connect refused inside the call). */
  failsAtOnce: HostConnectError | undefined = undefined;
  connect(endpoint: HostEndpoint, events: HostStreamEvents): HostStream {
    const stream = new FakeHostStream(endpoint);
    stream.connectedInConnect = this.connectsAtOnce;
    stream.failedInConnect = this.failsAtOnce;
    stream.events = events;
    this.streams.push(stream);
    return stream;
  }
  get last(): FakeHostStream {
    const s = this.streams[this.streams.length - 1];
    if (!s) throw new Error('no host connection was opened');
    return s;
  }
}

export interface SegmentSpec {
  srcPort?: number;
  dstPort?: number;
  dst?: TestAddress;
  src?: TestAddress;
  seq: number;
  ack?: number;
  flags: number;
  window?: number;
  mss?: number;
  wscale?: number;
  sackPermitted?: boolean;
  /** [value, echo] */
  ts?: [number, number];
  sack?: [number, number][];
  payload?: Uint8Array | string;
  /** Corrupt the checksum. */
  badChecksum?: boolean;
}

/** A TCP segment the engine emitted, decoded. */
export interface Emitted {
  /** Numeric addresses of an IPv4 frame (-1 for IPv6: see source/destination). */
  src: number;
  dst: number;
  /** The addresses as text, either family. */
  source: string;
  destination: string;
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  mss: number;
  wscale: number;
  sackPermitted: boolean;
  ts: [number, number] | null;
  sack: [number, number][];
  payload: Buffer;
  /** The ICMP type when the frame was ICMP rather than TCP. */
  icmpType?: number;
  icmpCode?: number;
}

export const GUEST_PORT = 40000;
export const REMOTE_PORT = 80;
/** The guest's initial sequence number in tests. */
export const GUEST_ISN = 1_000_000;

/** Builds an Ethernet/IPv4/TCP frame as the guest would send it (see guestSegmentOf). */
export function guestSegment(spec: SegmentSpec): Uint8Array {
  return guestSegmentOf(IPV4, spec);
}

/** Builds an Ethernet/IP/TCP frame of the family as the guest would send it. */
export function guestSegmentOf(family: TestFamily, spec: SegmentSpec): Uint8Array {
  const payload = typeof spec.payload === 'string' ? Buffer.from(spec.payload, 'latin1') : spec.payload ?? new Uint8Array(0);
  let optionsLength = 0;
  if (spec.mss !== undefined) optionsLength += 4;
  if (spec.wscale !== undefined) optionsLength += 4;
  if (spec.sackPermitted) optionsLength += 4;
  if (spec.ts) optionsLength += 12;
  if (spec.sack && spec.sack.length > 0) optionsLength += 4 + 8 * spec.sack.length;
  const tcp = new Uint8Array(20 + optionsLength + payload.length);
  let at = writeTcpHeader(tcp, 0, spec.srcPort ?? GUEST_PORT, spec.dstPort ?? REMOTE_PORT, spec.seq >>> 0, (spec.ack ?? 0) >>> 0, spec.flags, spec.window ?? 65535, optionsLength);
  if (spec.mss !== undefined) at = writeMssOption(tcp, at, spec.mss);
  if (spec.wscale !== undefined) at = writeWindowScaleOption(tcp, at, spec.wscale);
  if (spec.sackPermitted) at = writeSackPermittedOption(tcp, at);
  if (spec.ts) at = writeTimestampOption(tcp, at, spec.ts[0], spec.ts[1]);
  if (spec.sack && spec.sack.length > 0) {
    const edges = new Uint32Array(spec.sack.flat().map((n) => n >>> 0));
    at = writeSackOption(tcp, at, edges, spec.sack.length);
  }
  tcp.set(payload, at);
  const src = addressText(spec.src ?? (family === IPV4 ? GUEST_IP : family.guest));
  const dst = addressText(spec.dst ?? (family === IPV4 ? GATEWAY_IP : family.gateway));
  const checksum = l4ChecksumFor(family, src, dst, IpProtocol.Tcp, tcp);
  tcp[16] = checksum >> 8;
  tcp[17] = checksum & 0xff;
  if (spec.badChecksum) tcp[16] ^= 0x55;
  return family.frame(src, dst, IpProtocol.Tcp, tcp);
}

const seg = new TcpSegment();
const opts = new TcpOptions();

/**
 * Decodes a frame the engine sent: the IP header by the family's oracle, the TCP checksum by a naive
 * sum and by our codec, the TCP header and options by our view.
 */
export function decode(frame: Uint8Array, partialChecksum = false, family: TestFamily = IPV4): Emitted {
  const ip = family.decode(frame);
  expect(ip.headerValid).toBe(true);
  const src = family.version === 4 ? parseIpv4(ip.source)! : -1;
  const dst = family.version === 4 ? parseIpv4(ip.destination)! : -1;
  const l4 = family.l4Offset;
  expect(frame.length).toBe(l4 + ip.payload.length);
  if (ip.protocol === family.icmpProtocol) {
    return {
      src, dst, source: ip.source, destination: ip.destination, srcPort: 0, dstPort: 0, seq: 0, ack: 0, flags: 0, window: 0, mss: 0,
      wscale: -1, sackPermitted: false, ts: null, sack: [], payload: Buffer.from(frame.subarray(l4 + 8)), icmpType: frame[l4], icmpCode: frame[l4 + 1],
    };
  }
  expect(ip.protocol).toBe(IpProtocol.Tcp);
  expect(seg.wrap(frame, l4, frame.length - l4)).toBe(0);
  // With checksum offload the engine leaves a partial (pseudo-header) sum for the device to finish.
  if (!partialChecksum) {
    if (!(frame.length > 4000)) expect(l4ChecksumValidFor(family, ip), 'TCP checksum (independent sum)').toBe(true);
    const pseudo = family.pseudoHeader(ip.source, ip.destination, IpProtocol.Tcp, ip.payload.length);
    expect(seg.verifyChecksum(sumBytes(pseudo, 0, pseudo.length)), 'TCP checksum of an emitted segment').toBe(true);
  }
  expect(parseTcpOptions(seg, opts)).toBe(0);
  const sack: [number, number][] = [];
  for (let i = 0; i < opts.sackBlockCount; i++) sack.push([opts.sackBlocks[i * 2], opts.sackBlocks[i * 2 + 1]]);
  return {
    src,
    dst,
    source: ip.source,
    destination: ip.destination,
    srcPort: seg.sourcePort,
    dstPort: seg.destinationPort,
    seq: seg.sequence,
    ack: seg.acknowledgment,
    flags: seg.flags,
    window: seg.window,
    mss: opts.mss,
    wscale: opts.windowScale,
    sackPermitted: opts.sackPermitted,
    ts: opts.hasTimestamp ? [opts.timestampValue, opts.timestampEcho] : null,
    sack,
    payload: Buffer.from(frame.subarray(seg.payloadOffset, seg.offset + seg.length)),
  };
}

export function flagNames(flags: number): string {
  const names: string[] = [];
  if (flags & TCP_SYN) names.push('SYN');
  if (flags & TCP_RST) names.push('RST');
  if (flags & TCP_FIN) names.push('FIN');
  if (flags & TCP_PSH) names.push('PSH');
  if (flags & TCP_ACK) names.push('ACK');
  return names.join('|');
}

export interface TcpContextOptions {
  /** The address family of the guest's segments (default IPv4). */
  family?: TestFamily;
  mtu?: number;
  offloads?: LinkOffloads;
  limits?: Partial<Limits>;
  config?: NetworkConfigInput;
  /** Where 10.0.2.3:53 leads (none by default). */
  dnsUpstream?: HostEndpoint;
  /** Seed of the stack's RandomSource (initial sequence numbers); default 1. */
  seed?: number;
}

/** What the guest's SYN offers in the default handshake. */
export interface HandshakeOptions {
  mss?: number;
  wscale?: number;
  sackPermitted?: boolean;
  ts?: boolean;
  window?: number;
  srcPort?: number;
  dstPort?: number;
  dst?: TestAddress;
}

/** An established connection as the guest sees it: its next sequence number and ours. */
export interface Connection {
  stream: FakeHostStream;
  /** Guest's next sequence number to send. */
  guestNext: number;
  /** The engine's first data sequence number (ISS + 1). */
  remoteFirst: number;
  srcPort: number;
  dstPort: number;
  dst: TestAddress;
  /** Guest timestamps on (echo the engine's last TSval). */
  ts: boolean;
  lastRemoteTs: number;
}

export class TcpContext {
  readonly base: StackContext;
  readonly port = new FakeHostPort();
  readonly engine: TcpEngine;
  readonly family: TestFamily;
  private guestTs = 100;
  private readonly partial: boolean;
  /** With checksum offload, TCP segments other than resets carry a partial checksum. */
  private readonly decodeFrame = (frame: Uint8Array): Emitted => {
    const family = this.family;
    const protocol = frame[14 + (family.version === 4 ? 9 : 6)];
    return decode(frame, this.partial && protocol === IpProtocol.Tcp && (frame[family.l4Offset + 13] & TCP_RST) === 0, family);
  };

  constructor(options: TcpContextOptions = {}) {
    this.family = options.family ?? IPV4;
    this.base = createStackContext({
      link: { mtu: options.mtu ?? 1500, offloads: options.offloads },
      // IPv6 tests run with -6 (config.ipv6).
      config: { ipv6: this.family.version === 6, ...options.config, limits: options.limits },
      seed: options.seed,
    });
    if (this.family.version === 6) this.base.link.take(); // the router advertisement sent at start
    this.partial = options.offloads?.txChecksumOffload ?? false;
    this.engine = installTcp(this.base.stack, {
      hostPort: this.port,
      addressMap: new HostAddressMap(this.base.stack.config, () => options.dnsUpstream, this.base.stack.addresses),
    });
  }

  get clock() {
    return this.base.clock;
  }
  get stack() {
    return this.base.stack;
  }

  /** Injects guest segments as one batch; returns the decoded segments emitted in response. */
  inject(...specs: SegmentSpec[]): Emitted[] {
    return this.base.exchange(specs.map((spec) => guestSegmentOf(this.family, spec))).map(this.decodeFrame);
  }

  /** Injects raw frames as one batch (with link flags). */
  injectFrames(frames: Uint8Array[], flags?: number[]): Emitted[] {
    this.base.link.inject(frames, flags);
    return this.base.link.take().map(this.decodeFrame);
  }

  /** Lets frames sent outside a batch (host socket events, timers) be flushed at the end of the tick; returns what was emitted. */
  async drain(): Promise<Emitted[]> {
    await Promise.resolve();
    await Promise.resolve();
    return this.base.link.take().map(this.decodeFrame);
  }

  /** Moves fake time forward; returns what timers emitted. */
  async advance(ms: number): Promise<Emitted[]> {
    this.clock.advance(ms);
    return this.drain();
  }

  /**
   * Nothing is left to run once the flows are gone: the timer queue's clock timer, which it leaves
   * armed when its last deadline goes (timer-queue.ts), fires once at most, sends nothing and stays off.
   */
  async expectNoTimerLeft(): Promise<void> {
    const fired = this.clock.fired;
    expect(await this.advance(10 * 60_000)).toEqual([]);
    expect(this.clock.fired - fired).toBeLessThanOrEqual(1);
    expect(this.clock.pendingTimers).toBe(0);
  }

  nextTs(): number {
    return (this.guestTs += 1);
  }

  /**
   * Full guest active open: SYN (with options), host connect, SYN-ACK checked, ACK. Returns the
   * connection, with the host stream resumed.
   */
  async open(options: HandshakeOptions = {}): Promise<Connection> {
    const srcPort = options.srcPort ?? GUEST_PORT;
    const dstPort = options.dstPort ?? REMOTE_PORT;
    const dst = options.dst ?? (this.family === IPV4 ? GATEWAY_IP : this.family.gateway);
    const ts = options.ts ?? false;
    const wscale = options.wscale;
    const syn = this.inject({
      srcPort, dstPort, dst, seq: GUEST_ISN, flags: TCP_SYN, window: options.window ?? 65535,
      mss: options.mss ?? 1460, wscale, sackPermitted: options.sackPermitted, ts: ts ? [this.nextTs(), 0] : undefined,
    });
    expect(syn, 'nothing is answered before the host socket connects').toEqual([]);
    const stream = this.port.last;
    stream.events.onConnect();
    const out = await this.drain();
    expect(out.length).toBe(1);
    const synAck = out[0];
    expect(flagNames(synAck.flags)).toBe('SYN|ACK');
    expect(synAck.ack).toBe(GUEST_ISN + 1);
    const conn: Connection = {
      stream, guestNext: GUEST_ISN + 1, remoteFirst: (synAck.seq + 1) >>> 0, srcPort, dstPort, dst, ts,
      lastRemoteTs: synAck.ts ? synAck.ts[0] : 0,
    };
    const ack = this.inject(this.spec(conn, { flags: TCP_ACK, ack: conn.remoteFirst, window: options.window }));
    expect(ack).toEqual([]);
    expect(stream.paused).toBe(false);
    return conn;
  }

  /** A segment spec from the guest on conn; seq defaults to guestNext, ack to remoteFirst. */
  spec(conn: Connection, s: Partial<SegmentSpec> & { flags: number }): SegmentSpec {
    return {
      srcPort: conn.srcPort,
      dstPort: conn.dstPort,
      dst: conn.dst,
      seq: conn.guestNext,
      ack: conn.remoteFirst,
      ts: conn.ts ? [this.nextTs(), conn.lastRemoteTs] : undefined,
      ...s,
    };
  }

  /** Guest sends payload in order (advancing guestNext) acknowledging `ack`. */
  guestData(conn: Connection, payload: string | Uint8Array, ack: number, extra: Partial<SegmentSpec> = {}): Emitted[] {
    const length = typeof payload === 'string' ? payload.length : payload.length;
    const out = this.inject(this.spec(conn, { flags: TCP_ACK | TCP_PSH, payload, ack, ...extra }));
    conn.guestNext = (conn.guestNext + length) >>> 0;
    return out;
  }

  /** Host sends bytes on conn's stream; returns the segments that went out. */
  async hostData(conn: Connection, data: string | Uint8Array): Promise<Emitted[]> {
    conn.stream.events.onData(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
    return this.drain();
  }

  /** Primes ARP for the guest (the engine learns its MAC from any frame). */
  learnGuest(): void {
    this.inject({ seq: 1, flags: TCP_RST, srcPort: 1, dstPort: 1 });
  }
}

export { GATEWAY_IP, GUEST_IP, HostConnectError, formatIpv4 };
