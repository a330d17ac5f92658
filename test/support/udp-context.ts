/**
 * Packet-level UDP test context: a Stack with the UDP engine on a MemoryLink and a FakeClock, a fake
 * host datagram port the test plays by hand, a builder for guest UDP frames (and IPv4 fragments of
 * them) and a decoder for what the engine emits that is checked by the family's independent decoder
 * and a naive checksum (test/support/ip-family.ts), never by our own codecs. Parameterised by address
 * family (IPv4 by default); addresses are numbers (IPv4) or text.
 */
import { expect } from 'vitest';
import type { NetworkConfigInput } from '../../src/stack/config.js';
import { HostAddressMap, type HostEndpoint } from '../../src/stack/host-address-map.js';
import type { HostUdpPort, HostUdpSocket, HostUdpSocketEvents } from '../../src/stack/udp/host-udp-port.js';
import { installUdp, type UdpEngine } from '../../src/stack/udp/udp-engine.js';
import type { UdpService } from '../../src/stack/udp/udp-service.js';
import { formatIpv4, parseIpv4 } from '../../src/wire/ip-address.js';
import { IPV4, l4ChecksumFor, l4ChecksumValidFor, type TestFamily } from './ip-family.js';
import { addressText, createStackContext, GUEST_IP, ipv4Frame, type StackContext, type TestAddress } from './stack-context.js';

export const ip = (text: string): number => parseIpv4(text)!;

/** One host socket the engine opened; the test plays its peers. */
export class FakeUdpSocket implements HostUdpSocket {
  readonly sent: { payload: Uint8Array; destination: HostEndpoint }[] = [];
  closed = false;
  constructor(readonly events: HostUdpSocketEvents) {}
  send(payload: Uint8Array, destination: HostEndpoint): void {
    if (this.closed) throw new Error('send on a closed fake socket');
    this.sent.push({ payload: payload.slice(), destination });
  }
  close(): void {
    this.closed = true;
  }
  /** A datagram from a host peer arrives on this socket. */
  deliver(payload: Uint8Array | string, address: string, port: number): void {
    this.events.onMessage(typeof payload === 'string' ? Buffer.from(payload) : payload, address, port);
  }
}

export class FakeUdpPort implements HostUdpPort {
  readonly sockets: FakeUdpSocket[] = [];
  open(events: HostUdpSocketEvents): HostUdpSocket {
    const socket = new FakeUdpSocket(events);
    this.sockets.push(socket);
    return socket;
  }
  get last(): FakeUdpSocket {
    const s = this.sockets[this.sockets.length - 1];
    if (!s) throw new Error('no host socket was opened');
    return s;
  }
  get open_(): FakeUdpSocket[] {
    return this.sockets.filter((s) => !s.closed);
  }
}

export interface GuestDatagram {
  src?: TestAddress;
  srcPort?: number;
  dst: TestAddress;
  dstPort: number;
  payload?: Uint8Array | string;
  /** Checksum field: 'good' (default), 'zero' (none), 'bad'. */
  checksum?: 'good' | 'zero' | 'bad';
  /** Override the UDP length field. */
  udpLength?: number;
  identification?: number;
}

/** The UDP datagram (header + payload) as the guest builds it, checksum per spec. */
export function udpDatagram(d: GuestDatagram, family: TestFamily = IPV4): Uint8Array {
  const payload = typeof d.payload === 'string' ? Buffer.from(d.payload) : (d.payload ?? new Uint8Array(0));
  const src = addressText(d.src ?? (family === IPV4 ? GUEST_IP : family.guest));
  const udp = new Uint8Array(8 + payload.length);
  const srcPort = d.srcPort ?? 40000;
  udp[0] = srcPort >> 8;
  udp[1] = srcPort & 0xff;
  udp[2] = d.dstPort >> 8;
  udp[3] = d.dstPort & 0xff;
  const length = udp.length;
  udp[4] = length >> 8;
  udp[5] = length & 0xff;
  udp.set(payload, 8);
  if ((d.checksum ?? 'good') !== 'zero') {
    let sum = l4ChecksumFor(family, src, addressText(d.dst), 17, udp) || 0xffff;
    if (d.checksum === 'bad') sum = sum ^ 0x5a5a;
    udp[6] = sum >> 8;
    udp[7] = sum & 0xff;
  }
  if (d.udpLength !== undefined) {
    udp[4] = d.udpLength >> 8;
    udp[5] = d.udpLength & 0xff;
  }
  return udp;
}

/** An Ethernet frame carrying the guest's datagram (IPv4). */
export function guestUdpFrame(d: GuestDatagram): Uint8Array {
  return guestUdpFrameOf(IPV4, d);
}

/** An Ethernet frame of the family carrying the guest's datagram. */
export function guestUdpFrameOf(family: TestFamily, d: GuestDatagram): Uint8Array {
  const src = addressText(d.src ?? (family === IPV4 ? GUEST_IP : family.guest));
  return family.frame(src, addressText(d.dst), 17, udpDatagram(d, family), { identification: d.identification ?? 1 });
}

/**
 * Cuts an IP payload into fragment frames of at most `chunk` payload bytes each (a multiple of 8),
 * as RFC 791 does; returns them in order (tests shuffle or drop them).
 */
export function fragmentFrames(src: number, dst: number, protocol: number, ipPayload: Uint8Array, chunk: number, identification: number): Uint8Array[] {
  const frames: Uint8Array[] = [];
  for (let at = 0; at < ipPayload.length; at += chunk) {
    const end = Math.min(at + chunk, ipPayload.length);
    const more = end < ipPayload.length ? 0x2000 : 0;
    frames.push(ipv4Frame(src, dst, protocol, ipPayload.subarray(at, end), { identification, fragmentField: more | (at >> 3) }));
  }
  return frames;
}

export interface EmittedUdp {
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  payload: Buffer;
}

/** Decodes one emitted IPv4 frame as a whole UDP datagram (see decodeUdpOf). */
export function decodeUdp(frame: Uint8Array): EmittedUdp {
  return decodeUdpOf(IPV4, frame);
}

/** Decodes one emitted frame of the family as a whole UDP datagram, checking both checksums independently. */
export function decodeUdpOf(family: TestFamily, frame: Uint8Array): EmittedUdp {
  const ip = family.decode(frame);
  expect(ip.headerValid).toBe(true);
  expect(ip.protocol).toBe(17);
  expect(ip.fragmentOffset).toBe(0);
  expect(ip.moreFragments).toBe(false);
  const data = Buffer.from(ip.payload);
  expect(data.readUInt16BE(4)).toBe(data.length);
  expect(l4ChecksumValidFor(family, ip)).toBe(true);
  return { src: ip.source, dst: ip.destination, srcPort: data.readUInt16BE(0), dstPort: data.readUInt16BE(2), payload: data.subarray(8) };
}

export interface EmittedIcmp {
  src: string;
  dst: string;
  type: number;
  code: number;
  /** The message after the 8-byte ICMP header (the quote, for errors). */
  body: Buffer;
  /** The 4 bytes after type/code/checksum (identifier+sequence, or unused/next-hop MTU). */
  rest: number;
}

/** Decodes one emitted IPv4 frame as an ICMPv4 message (see decodeIcmpOf). */
export function decodeIcmp(frame: Uint8Array): EmittedIcmp {
  return decodeIcmpOf(IPV4, frame);
}

/** Decodes one emitted frame as an ICMP message of the family (ICMPv4, or ICMPv6 with its pseudo-header checksum). */
export function decodeIcmpOf(family: TestFamily, frame: Uint8Array): EmittedIcmp {
  const ip = family.decode(frame);
  expect(ip.headerValid).toBe(true);
  expect(ip.protocol).toBe(family.icmpProtocol);
  expect(family.icmpChecksumValid(ip)).toBe(true);
  const data = Buffer.from(ip.payload);
  return { src: ip.source, dst: ip.destination, type: data[0], code: data[1], rest: data.readUInt32BE(4), body: data.subarray(8) };
}

export interface UdpContext extends StackContext {
  /** The family of the guest's datagrams and of the decoders below. */
  family: TestFamily;
  engine: UdpEngine;
  port: FakeUdpPort;
  upstream: HostEndpoint | undefined;
  /** Sends guest datagrams (one batch) and returns the emitted frames. */
  send(...datagrams: GuestDatagram[]): Uint8Array[];
  /** Frames the engine emitted since the last take (after letting the end-of-tick flush run). */
  emitted(): Promise<Uint8Array[]>;
  drops(name: string): number;
  /** decodeUdpOf / decodeIcmpOf with this context's family. */
  decodeUdp(frame: Uint8Array): EmittedUdp;
  decodeIcmp(frame: Uint8Array): EmittedIcmp;
}

export function createUdpContext(
  options: { config?: NetworkConfigInput; services?: UdpService[]; upstream?: HostEndpoint; mtu?: number; seed?: number; family?: TestFamily } = {},
): UdpContext {
  const family = options.family ?? IPV4;
  // IPv6 tests run with -6 (config.ipv6); the router advertisement sent at start is taken out of the way.
  const config = family.version === 6 ? { ipv6: true, ...options.config } : options.config;
  const ctx = createStackContext({ config, link: { mtu: options.mtu ?? 1500 }, seed: options.seed });
  if (family.version === 6) ctx.link.take();
  const port = new FakeUdpPort();
  const holder = { upstream: options.upstream };
  const addressMap = new HostAddressMap(ctx.stack.config, () => holder.upstream, ctx.stack.addresses);
  const engine = installUdp(ctx.stack, { hostPort: port, addressMap, services: options.services });
  const result: UdpContext = {
    ...ctx,
    engine,
    port,
    get upstream() {
      return holder.upstream;
    },
    set upstream(value) {
      holder.upstream = value;
    },
    family,
    send: (...datagrams) => ctx.exchange(datagrams.map((d) => guestUdpFrameOf(family, d))),
    decodeUdp: (frame) => decodeUdpOf(family, frame),
    decodeIcmp: (frame) => decodeIcmpOf(family, frame),
    emitted: async () => {
      await Promise.resolve();
      await Promise.resolve();
      return ctx.link.take();
    },
    drops: (name) => ctx.stack.stats.snapshot().drops[name] ?? 0,
  };
  return result;
}

export { formatIpv4, GUEST_IP };
