/**
 * IPv6 addresses (RFC 4291): text forms in and out, comparison, prefixes, the classes the engine
 * branches on, and the addresses derived from others (solicited-node multicast, EUI-64 link-local,
 * the 33:33 multicast MAC).
 *
 * Representation: an address is 16 bytes in network order at an offset in any Uint8Array: the
 * packet it arrived in, a scratch frame, or a table's arena of 16-byte slots. Every function takes
 * (bytes, offset) pairs, so reading an address out of a packet, comparing it with a table entry and
 * writing it into a reply allocate nothing. Tables that prefer numbers get the four big-endian
 * 32-bit words (readIpv6Words) and a seeded hash (ipv6Hash) for bucketing.
 *
 * Never throws: text that is not an address parses to undefined/false. Only parseIpv6 and
 * formatIpv6 allocate (configuration and logging, never the per-packet path).
 */
import { readUint32, writeUint32 } from './bytes.js';

export const IPV6_ADDRESS_LENGTH = 16;

/** Well-known addresses. Shared constants: never write into them. */
export const IPV6_UNSPECIFIED = new Uint8Array(16);
export const IPV6_LOOPBACK = addressOf([0, 0, 0, 0, 0, 0, 0, 1]);
/** ff02::1, every node on the link (unsolicited router advertisements go here). */
export const IPV6_ALL_NODES = addressOf([0xff02, 0, 0, 0, 0, 0, 0, 1]);
/** ff02::2, every router on the link (router solicitations go here). */
export const IPV6_ALL_ROUTERS = addressOf([0xff02, 0, 0, 0, 0, 0, 0, 2]);

function addressOf(groups: number[]): Uint8Array {
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    out[i * 2] = groups[i] >>> 8;
    out[i * 2 + 1] = groups[i] & 0xff;
  }
  return out;
}

// ---- Raw form: bytes, words, comparison ----

/** Copies the address at src[srcOffset] to dst[dstOffset] (16 bytes; the ranges must not partly overlap). */
export function copyIpv6(src: Uint8Array, srcOffset: number, dst: Uint8Array, dstOffset: number): void {
  for (let i = 0; i < 16; i++) dst[dstOffset + i] = src[srcOffset + i];
}

/** Reads the address at bytes[offset] as four big-endian words into out[index, index+4). */
export function readIpv6Words(bytes: Uint8Array, offset: number, out: Uint32Array, index = 0): void {
  out[index] = readUint32(bytes, offset);
  out[index + 1] = readUint32(bytes, offset + 4);
  out[index + 2] = readUint32(bytes, offset + 8);
  out[index + 3] = readUint32(bytes, offset + 12);
}

/** Writes the address held as four words at words[index] into bytes[offset, +16). */
export function writeIpv6Words(bytes: Uint8Array, offset: number, words: Uint32Array, index = 0): void {
  writeUint32(bytes, offset, words[index]);
  writeUint32(bytes, offset + 4, words[index + 1]);
  writeUint32(bytes, offset + 8, words[index + 2]);
  writeUint32(bytes, offset + 12, words[index + 3]);
}

export function ipv6Equal(a: Uint8Array, aOffset: number, b: Uint8Array, bOffset: number): boolean {
  for (let i = 0; i < 16; i++) if (a[aOffset + i] !== b[bOffset + i]) return false;
  return true;
}

/** True when the address at bytes[offset] equals the four words at words[index]. */
export function ipv6EqualWords(bytes: Uint8Array, offset: number, words: Uint32Array, index = 0): boolean {
  return (
    readUint32(bytes, offset) === words[index] &&
    readUint32(bytes, offset + 4) === words[index + 1] &&
    readUint32(bytes, offset + 8) === words[index + 2] &&
    readUint32(bytes, offset + 12) === words[index + 3]
  );
}

/** Numeric order of two addresses: negative, zero or positive. */
export function compareIpv6(a: Uint8Array, aOffset: number, b: Uint8Array, bOffset: number): number {
  for (let i = 0; i < 16; i++) {
    const d = a[aOffset + i] - b[bOffset + i];
    if (d !== 0) return d;
  }
  return 0;
}

/**
 * A 32-bit hash of the address for bucketing in a bounded table. Guests choose their addresses, so
 * a table should pass a per-process random seed and still compare full addresses on lookup.
 */
export function ipv6Hash(bytes: Uint8Array, offset: number, seed = 0): number {
  let h = seed ^ 0x811c9dc5;
  for (let i = 0; i < 16; i += 4) {
    h = Math.imul(h ^ readUint32(bytes, offset + i), 0x9e3779b1);
    h ^= h >>> 15;
  }
  // Final avalanche (murmur3's fmix32) so low bits depend on every input bit.
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

// ---- Prefixes ----

/** True when the first prefixLength bits (clamped to 0..128) of address and prefix are equal. */
export function ipv6PrefixMatch(
  address: Uint8Array,
  addressOffset: number,
  prefix: Uint8Array,
  prefixOffset: number,
  prefixLength: number,
): boolean {
  const bits = prefixLength < 0 ? 0 : prefixLength > 128 ? 128 : prefixLength;
  const whole = bits >>> 3;
  for (let i = 0; i < whole; i++) if (address[addressOffset + i] !== prefix[prefixOffset + i]) return false;
  const rest = bits & 7;
  if (rest === 0) return true;
  const mask = (0xff00 >>> rest) & 0xff;
  return ((address[addressOffset + whole] ^ prefix[prefixOffset + whole]) & mask) === 0;
}

/** Writes address with every bit after the first prefixLength (0..128) cleared: the network part. */
export function writeIpv6Prefix(
  out: Uint8Array,
  outOffset: number,
  address: Uint8Array,
  addressOffset: number,
  prefixLength: number,
): void {
  const bits = prefixLength < 0 ? 0 : prefixLength > 128 ? 128 : prefixLength;
  for (let i = 0; i < 16; i++) {
    const keep = bits - i * 8;
    const mask = keep >= 8 ? 0xff : keep <= 0 ? 0 : (0xff00 >>> keep) & 0xff;
    out[outOffset + i] = address[addressOffset + i] & mask;
  }
}

// ---- Classes (RFC 4291 §2.4) ----

export function isIpv6Unspecified(bytes: Uint8Array, offset: number): boolean {
  for (let i = 0; i < 16; i++) if (bytes[offset + i] !== 0) return false;
  return true;
}

export function isIpv6Loopback(bytes: Uint8Array, offset: number): boolean {
  for (let i = 0; i < 15; i++) if (bytes[offset + i] !== 0) return false;
  return bytes[offset + 15] === 1;
}

/** ff00::/8. */
export function isIpv6Multicast(bytes: Uint8Array, offset: number): boolean {
  return bytes[offset] === 0xff;
}

/** Scope field of a multicast address (2 link-local, 5 site-local, 0xe global, RFC 4291 §2.7). */
export function ipv6MulticastScope(bytes: Uint8Array, offset: number): number {
  return bytes[offset + 1] & 0x0f;
}

/** fe80::/10, unicast link-local. */
export function isIpv6LinkLocal(bytes: Uint8Array, offset: number): boolean {
  return bytes[offset] === 0xfe && (bytes[offset + 1] & 0xc0) === 0x80;
}

/** fc00::/7, unique local (RFC 4193); fd00::/64, the slirp network, is one. */
export function isIpv6UniqueLocal(bytes: Uint8Array, offset: number): boolean {
  return (bytes[offset] & 0xfe) === 0xfc;
}

/** ::ffff:0:0/96, an IPv4 address in IPv6 form (RFC 4291 §2.5.5.2). */
export function isIpv4MappedIpv6(bytes: Uint8Array, offset: number): boolean {
  for (let i = 0; i < 10; i++) if (bytes[offset + i] !== 0) return false;
  return bytes[offset + 10] === 0xff && bytes[offset + 11] === 0xff;
}

/** The IPv4 address (uint32) in the last 32 bits, meaningful when isIpv4MappedIpv6. */
export function ipv4OfMappedIpv6(bytes: Uint8Array, offset: number): number {
  return readUint32(bytes, offset + 12);
}

/** Writes ::ffff:a.b.c.d for the IPv4 address ipv4 (uint32). */
export function writeIpv4MappedIpv6(out: Uint8Array, offset: number, ipv4: number): void {
  for (let i = 0; i < 10; i++) out[offset + i] = 0;
  out[offset + 10] = 0xff;
  out[offset + 11] = 0xff;
  writeUint32(out, offset + 12, ipv4);
}

// ---- Derived addresses ----

/** ff02::1:ffXX:XXXX, the solicited-node multicast address of address (RFC 4291 §2.7.1). */
export function writeSolicitedNodeMulticast(out: Uint8Array, outOffset: number, address: Uint8Array, addressOffset: number): void {
  // Read the low 24 bits first: out may be the address itself.
  const b13 = address[addressOffset + 13];
  const b14 = address[addressOffset + 14];
  const b15 = address[addressOffset + 15];
  out[outOffset] = 0xff;
  out[outOffset + 1] = 0x02;
  for (let i = 2; i < 11; i++) out[outOffset + i] = 0;
  out[outOffset + 11] = 0x01;
  out[outOffset + 12] = 0xff;
  out[outOffset + 13] = b13;
  out[outOffset + 14] = b14;
  out[outOffset + 15] = b15;
}

/** True when bytes[offset] is ff02::1:ff00:0/104, any solicited-node multicast address. */
export function isIpv6SolicitedNodeMulticast(bytes: Uint8Array, offset: number): boolean {
  if (bytes[offset] !== 0xff || bytes[offset + 1] !== 0x02) return false;
  for (let i = 2; i < 11; i++) if (bytes[offset + i] !== 0) return false;
  return bytes[offset + 11] === 0x01 && bytes[offset + 12] === 0xff;
}

/**
 * Writes the 64-bit interface identifier made from a 48-bit MAC (modified EUI-64, RFC 4291
 * Appendix A): ff:fe inserted in the middle and the universal/local bit inverted. 8 bytes.
 */
export function writeEui64InterfaceId(out: Uint8Array, offset: number, mac: number): void {
  const high = Math.floor(mac / 0x1_0000_0000); // first two MAC bytes
  const low = mac >>> 0; // last four
  out[offset] = (high >>> 8) ^ 0x02;
  out[offset + 1] = high & 0xff;
  out[offset + 2] = low >>> 24;
  out[offset + 3] = 0xff;
  out[offset + 4] = 0xfe;
  out[offset + 5] = (low >>> 16) & 0xff;
  out[offset + 6] = (low >>> 8) & 0xff;
  out[offset + 7] = low & 0xff;
}

/** fe80::/64 plus the EUI-64 interface identifier of mac: the link-local address a kernel gives itself. */
export function writeLinkLocalFromMac(out: Uint8Array, offset: number, mac: number): void {
  out[offset] = 0xfe;
  out[offset + 1] = 0x80;
  for (let i = 2; i < 8; i++) out[offset + i] = 0;
  writeEui64InterfaceId(out, offset + 8, mac);
}

/** The Ethernet destination of an IPv6 multicast packet: 33:33 and the last 32 bits (RFC 2464 §7), as a 48-bit number. */
export function ipv6MulticastMac(bytes: Uint8Array, offset: number): number {
  return 0x3333 * 0x1_0000_0000 + readUint32(bytes, offset + 12);
}

// ---- Text (RFC 4291 §2.2 in, RFC 5952 out) ----

/**
 * Parses the text forms of RFC 4291 §2.2 (hex groups, one "::", a trailing dotted quad) into
 * out[offset, +16). A zone ("%eth0") is refused unless ignoreZone, in which case it is accepted
 * and dropped (for host-side peer addresses; the guest side has no zones). Returns false for
 * anything else, leaving out in an unspecified state. Dotted quads follow inet_pton: four decimal
 * parts of 0..255 without leading zeros.
 */
export function parseIpv6Into(text: string, out: Uint8Array, offset: number, ignoreZone = false): boolean {
  let end = text.length;
  const percent = text.indexOf('%');
  if (percent >= 0) {
    if (!ignoreZone || percent === end - 1) return false;
    end = percent;
  }
  if (end < 2) return false;
  let group = 0; // groups written so far
  let gap = -1; // group index where "::" stands
  let i = 0;
  if (text.charCodeAt(0) === 0x3a) {
    if (text.charCodeAt(1) !== 0x3a) return false;
    gap = 0;
    i = 2;
  }
  while (i < end) {
    const start = i;
    let value = 0;
    let digits = 0;
    for (; i < end; i++) {
      const d = hexDigit(text.charCodeAt(i));
      if (d < 0) break;
      if (++digits > 4) return false;
      value = (value << 4) | d;
    }
    if (i < end && text.charCodeAt(i) === 0x2e) {
      // Dotted quad: the last 32 bits.
      if (group > 6) return false;
      const ipv4 = parseDottedQuad(text, start, end);
      if (ipv4 < 0) return false;
      writeUint32(out, offset + group * 2, ipv4);
      group += 2;
      i = end;
      break;
    }
    if (digits === 0 || group === 8) return false;
    out[offset + group * 2] = value >>> 8;
    out[offset + group * 2 + 1] = value & 0xff;
    group++;
    if (i === end) break;
    if (text.charCodeAt(i) !== 0x3a) return false;
    i++;
    if (i < end && text.charCodeAt(i) === 0x3a) {
      if (gap >= 0) return false;
      gap = group;
      i++;
    } else if (i === end) {
      return false; // a single trailing colon
    }
  }
  if (gap < 0) return group === 8;
  if (group === 8) return false; // "::" stands for at least one group
  // Move the groups after the gap to the end and zero the gap.
  const after = group - gap;
  for (let k = after - 1; k >= 0; k--) {
    const from = offset + (gap + k) * 2;
    const to = offset + (8 - after + k) * 2;
    out[to] = out[from];
    out[to + 1] = out[from + 1];
  }
  for (let k = gap * 2; k < (8 - after) * 2; k++) out[offset + k] = 0;
  return true;
}

/** As parseIpv6Into, into a new 16-byte array; undefined when text is not an IPv6 address. */
export function parseIpv6(text: string, ignoreZone = false): Uint8Array | undefined {
  const out = new Uint8Array(16);
  return parseIpv6Into(text, out, 0, ignoreZone) ? out : undefined;
}

function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

/** text[start, end) as a dotted quad → uint32, or -1. */
function parseDottedQuad(text: string, start: number, end: number): number {
  let result = 0;
  let parts = 0;
  let i = start;
  while (parts < 4) {
    let value = 0;
    let digits = 0;
    const first = i;
    for (; i < end; i++) {
      const c = text.charCodeAt(i);
      if (c < 0x30 || c > 0x39) break;
      if (++digits > 3) return -1;
      value = value * 10 + (c - 0x30);
    }
    if (digits === 0 || value > 255 || (digits > 1 && text.charCodeAt(first) === 0x30)) return -1;
    result = result * 256 + value;
    parts++;
    if (parts < 4) {
      if (i >= end || text.charCodeAt(i) !== 0x2e) return -1;
      i++;
    }
  }
  return i === end ? result : -1;
}

/**
 * The canonical text form (RFC 5952): lower-case hex without leading zeros, the longest run of two
 * or more zero groups (the first of equal runs) as "::", and IPv4-mapped addresses in mixed
 * notation (§5), e.g. "::ffff:10.0.2.2".
 */
export function formatIpv6(bytes: Uint8Array, offset = 0): string {
  if (isIpv4MappedIpv6(bytes, offset)) {
    return `::ffff:${bytes[offset + 12]}.${bytes[offset + 13]}.${bytes[offset + 14]}.${bytes[offset + 15]}`;
  }
  let bestStart = -1;
  let bestLength = 1; // a single zero group is never compressed (§4.2.2)
  for (let g = 0; g < 8; ) {
    if (groupAt(bytes, offset, g) !== 0) {
      g++;
      continue;
    }
    const start = g;
    while (g < 8 && groupAt(bytes, offset, g) === 0) g++;
    if (g - start > bestLength) {
      bestStart = start;
      bestLength = g - start;
    }
  }
  let text = '';
  for (let g = 0; g < 8; g++) {
    if (g === bestStart) {
      text += '::';
      g += bestLength - 1;
      continue;
    }
    if (text.length > 0 && !text.endsWith(':')) text += ':';
    text += groupAt(bytes, offset, g).toString(16);
  }
  return text;
}

function groupAt(bytes: Uint8Array, offset: number, group: number): number {
  return (bytes[offset + group * 2] << 8) | bytes[offset + group * 2 + 1];
}
