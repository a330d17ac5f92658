/**
 * The address family as packet-level tests see it, so an IPv6 test is an IPv4 test run with another
 * family: addresses as text, the Ethernet + IP frame builder, the independent decoder of emitted
 * frames, the pseudo-header for L4 checksums, the ICMP protocol and the error quote rule.
 *
 * Independent of src/wire on purpose (the engine's codecs must not check themselves): IPv4 frames are
 * decoded by the `ip-packet` package (oracle.ts), IPv6 ones by the few lines below, written from
 * RFC 8200 and not from the engine's code; addresses are parsed by node:net's rules.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { decodeIpv4Frame, naiveChecksum } from './oracle.js';

export interface IpFrameOptions {
  sourceMac?: number;
  destinationMac?: number;
  /** TTL / hop limit (default 64). */
  hopLimit?: number;
  /** IPv4 only: identification (default 1) and the raw flags + fragment offset word (default DF). */
  identification?: number;
  fragmentField?: number;
}

/** An emitted frame decoded by the family's oracle. */
export interface DecodedIp {
  source: string;
  destination: string;
  /** IPv4 protocol / IPv6 next header (no extension headers are expected from the engine). */
  protocol: number;
  hopLimit: number;
  /** IPv4: header checksum verified by ip-packet; IPv6 has none (always true). */
  headerValid: boolean;
  /** The L4 packet (IP payload), exactly as long as the IP header says. */
  payload: Uint8Array;
  /** IPv4 fragment fields (0 and false for whole packets and for IPv6). */
  fragmentOffset: number;
  moreFragments: boolean;
  destinationMac: string;
  sourceMac: string;
}

export interface TestFamily {
  readonly version: 4 | 6;
  readonly etherType: number;
  /** The IP header the engine emits (no options, no extension headers). */
  readonly ipHeaderLength: number;
  /** Where the L4 header starts in an emitted frame. */
  readonly l4Offset: number;
  /** ICMP of this family: protocol 1 (ICMPv4) or next header 58 (ICMPv6). */
  readonly icmpProtocol: number;
  /** slirp4netns's addresses in its default network (10.0.2.0/24; fd00::/64). */
  readonly guest: string;
  readonly gateway: string;
  readonly dns: string;
  /** An Ethernet + IP frame carrying l4 (the L4 packet, checksums already in it). */
  frame(source: string, destination: string, protocol: number, l4: Uint8Array, options?: IpFrameOptions): Uint8Array;
  /** Decodes a frame the engine emitted; throws when it is not a well-formed packet of this family. */
  decode(frame: Uint8Array): DecodedIp;
  /** The pseudo-header bytes that TCP, UDP (and ICMPv6) checksums cover. */
  pseudoHeader(source: string, destination: string, protocol: number, l4Length: number): Uint8Array;
  /** True when the ICMP message in `decoded` has a valid checksum (ICMPv6's covers a pseudo-header). */
  icmpChecksumValid(decoded: DecodedIp): boolean;
}

const GATEWAY_MAC = 0x5255_0a00_0202;
const GUEST_MAC = 0x0200_0000_0100;

function writeMac(b: Uint8Array, at: number, mac: number): void {
  for (let i = 5; i >= 0; i--, mac = Math.floor(mac / 256)) b[at + i] = mac % 256;
}

function macText(b: Uint8Array, at: number): string {
  return Array.from(b.subarray(at, at + 6), (x) => x.toString(16).padStart(2, '0')).join(':');
}

function ethernet(length: number, etherType: number, options: IpFrameOptions): Uint8Array {
  const frame = new Uint8Array(14 + length);
  writeMac(frame, 0, options.destinationMac ?? GATEWAY_MAC);
  writeMac(frame, 6, options.sourceMac ?? GUEST_MAC);
  frame[12] = etherType >> 8;
  frame[13] = etherType & 0xff;
  return frame;
}

/** "10.0.2.100" → 4 bytes. */
export function ipv4Bytes(text: string): Uint8Array {
  if (!isIPv4(text)) throw new Error(`not an IPv4 address: ${text}`);
  return Uint8Array.from(text.split('.').map(Number));
}

/** "fd00::100" → 16 bytes (with :: expansion and an embedded dotted quad). */
export function ipv6Bytes(text: string): Uint8Array {
  if (!isIPv6(text)) throw new Error(`not an IPv6 address: ${text}`);
  let hex = text;
  const quad = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (quad) {
    const b = ipv4Bytes(quad[1]);
    hex = `${text.slice(0, -quad[1].length)}${((b[0] << 8) | b[1]).toString(16)}:${((b[2] << 8) | b[3]).toString(16)}`;
  }
  const [left, right] = hex.includes('::') ? hex.split('::') : [hex, undefined];
  const leftGroups = left ? left.split(':') : [];
  const rightGroups = right ? right.split(':') : [];
  const groups = [...leftGroups, ...Array<string>(8 - leftGroups.length - rightGroups.length).fill('0'), ...rightGroups];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    const v = parseInt(g, 16);
    out[2 * i] = v >> 8;
    out[2 * i + 1] = v & 0xff;
  });
  return out;
}

/** 16 bytes → RFC 5952 text (lower case, the longest run of zero groups as ::; no dotted quad at the end). */
export function ipv6Text(bytes: Uint8Array): string {
  const groups = Array.from({ length: 8 }, (_, i) => (bytes[2 * i] << 8) | bytes[2 * i + 1]);
  let bestAt = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) [bestAt, bestLength] = [i, j - i];
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestAt < 0) return hex.join(':');
  return `${hex.slice(0, bestAt).join(':')}::${hex.slice(bestAt + bestLength).join(':')}`;
}

export const IPV4: TestFamily = {
  version: 4,
  etherType: 0x0800,
  ipHeaderLength: 20,
  l4Offset: 34,
  icmpProtocol: 1,
  guest: '10.0.2.100',
  gateway: '10.0.2.2',
  dns: '10.0.2.3',
  frame(source, destination, protocol, l4, options = {}) {
    const frame = ethernet(20 + l4.length, 0x0800, options);
    const ip = frame.subarray(14);
    const total = 20 + l4.length;
    const id = options.identification ?? 1;
    const fragmentField = options.fragmentField ?? 0x4000;
    ip.set([0x45, 0, total >> 8, total & 0xff, id >> 8, id & 0xff, fragmentField >> 8, fragmentField & 0xff, options.hopLimit ?? 64, protocol, 0, 0]);
    ip.set(ipv4Bytes(source), 12);
    ip.set(ipv4Bytes(destination), 16);
    const sum = naiveChecksum(ip.subarray(0, 20));
    ip[10] = sum >> 8;
    ip[11] = sum & 0xff;
    ip.set(l4, 20);
    return frame;
  },
  decode(frame) {
    const o = decodeIpv4Frame(frame);
    return {
      source: o.ip.sourceIp,
      destination: o.ip.destinationIp,
      protocol: o.ip.protocol,
      hopLimit: o.ip.ttl,
      headerValid: o.ipChecksumValid,
      payload: o.ip.data,
      fragmentOffset: o.ip.fragmentOffset * 8,
      moreFragments: (o.ip.flags & 1) !== 0,
      destinationMac: o.destinationMac,
      sourceMac: o.sourceMac,
    };
  },
  pseudoHeader(source, destination, protocol, l4Length) {
    const pseudo = new Uint8Array(12);
    pseudo.set(ipv4Bytes(source), 0);
    pseudo.set(ipv4Bytes(destination), 4);
    pseudo[9] = protocol;
    pseudo[10] = l4Length >> 8;
    pseudo[11] = l4Length & 0xff;
    return pseudo;
  },
  icmpChecksumValid(decoded) {
    return naiveChecksum(decoded.payload) === 0;
  },
};

export const IPV6: TestFamily = {
  version: 6,
  etherType: 0x86dd,
  ipHeaderLength: 40,
  l4Offset: 54,
  icmpProtocol: 58,
  guest: 'fd00::100',
  gateway: 'fd00::2',
  dns: 'fd00::3',
  frame(source, destination, protocol, l4, options = {}) {
    const frame = ethernet(40 + l4.length, 0x86dd, options);
    const ip = frame.subarray(14);
    ip[0] = 0x60; // version 6, traffic class 0, flow label 0
    ip[4] = l4.length >> 8;
    ip[5] = l4.length & 0xff;
    ip[6] = protocol;
    ip[7] = options.hopLimit ?? 64;
    ip.set(ipv6Bytes(source), 8);
    ip.set(ipv6Bytes(destination), 24);
    ip.set(l4, 40);
    return frame;
  },
  decode(frame) {
    const etherType = (frame[12] << 8) | frame[13];
    if (etherType !== 0x86dd) throw new Error(`not IPv6: ethertype 0x${etherType.toString(16)}`);
    const ip = frame.subarray(14);
    if (ip.length < 40 || ip[0] >> 4 !== 6) throw new Error('not an IPv6 header');
    const payloadLength = (ip[4] << 8) | ip[5];
    if (40 + payloadLength > ip.length) throw new Error(`IPv6 payload length ${payloadLength} beyond the frame`);
    return {
      source: ipv6Text(ip.subarray(8, 24)),
      destination: ipv6Text(ip.subarray(24, 40)),
      protocol: ip[6],
      hopLimit: ip[7],
      headerValid: true,
      payload: ip.slice(40, 40 + payloadLength),
      fragmentOffset: 0,
      moreFragments: false,
      destinationMac: macText(frame, 0),
      sourceMac: macText(frame, 6),
    };
  },
  pseudoHeader(source, destination, protocol, l4Length) {
    // RFC 8200 §8.1: source, destination, 32-bit upper-layer length, 3 zero bytes, next header.
    const pseudo = new Uint8Array(40);
    pseudo.set(ipv6Bytes(source), 0);
    pseudo.set(ipv6Bytes(destination), 16);
    pseudo[34] = l4Length >> 8;
    pseudo[35] = l4Length & 0xff;
    pseudo[39] = protocol;
    return pseudo;
  },
  icmpChecksumValid(decoded) {
    return naiveChecksum(this.pseudoHeader(decoded.source, decoded.destination, 58, decoded.payload.length), decoded.payload) === 0;
  },
};

/** True when the TCP or UDP checksum of a decoded packet verifies (naive sum over pseudo-header + L4). */
export function l4ChecksumValidFor(family: TestFamily, decoded: DecodedIp): boolean {
  return naiveChecksum(family.pseudoHeader(decoded.source, decoded.destination, decoded.protocol, decoded.payload.length), decoded.payload) === 0;
}

/** The naive L4 checksum (TCP/UDP over this family's pseudo-header) to store in a packet under construction. */
export function l4ChecksumFor(family: TestFamily, source: string, destination: string, protocol: number, l4: Uint8Array): number {
  return naiveChecksum(family.pseudoHeader(source, destination, protocol, l4.length), l4);
}
