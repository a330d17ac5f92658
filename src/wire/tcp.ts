/**
 * TCP segments (RFC 9293) and their options (MSS, window scale, SACK-permitted, SACK blocks,
 * timestamps: RFC 7323, RFC 2018): a checked view, an allocation-free options parser into a reusable
 * TcpOptions, header/option writers and the checksum over IPv4 or IPv6 pseudo-headers.
 *
 * Never throws on guest input (returns a DropReason) and never allocates on the read path: the
 * engine reuses one TcpSegment and one TcpOptions for every frame of a batch.
 */
import { DropReason } from './drop-reason.js';
import { EMPTY_BYTES, readUint16, readUint32, writeUint16, writeUint32 } from './bytes.js';
import { finishChecksum, ipv4PseudoHeaderSum, ipv6PseudoHeaderSum, sumBytes } from './checksum.js';
import { IpProtocol } from './ipv4.js';

export const TCP_HEADER_LENGTH = 20;
/** The longest TCP header: data offset 15 (60 bytes, 40 of options). */
export const TCP_MAX_HEADER_LENGTH = 60;

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;
export const TCP_URG = 0x20;
export const TCP_ECE = 0x40;
export const TCP_CWR = 0x80;

const SOURCE_PORT = 0;
const DESTINATION_PORT = 2;
const SEQUENCE = 4;
const ACKNOWLEDGMENT = 8;
const DATA_OFFSET = 12;
const FLAGS = 13;
const WINDOW = 14;
const CHECKSUM = 16;
const URGENT = 18;

export const TCP_OPTION_END = 0;
export const TCP_OPTION_NOP = 1;
export const TCP_OPTION_MSS = 2;
export const TCP_OPTION_WINDOW_SCALE = 3;
export const TCP_OPTION_SACK_PERMITTED = 4;
export const TCP_OPTION_SACK = 5;
export const TCP_OPTION_TIMESTAMP = 8;

/** Most SACK blocks that fit in 40 bytes of options. */
export const TCP_MAX_SACK_BLOCKS = 4;

export class TcpSegment {
  bytes: Uint8Array = EMPTY_BYTES;
  offset = 0;
  length = 0;

  /** Wraps a segment of exactly `length` bytes (the IP payload). Checks the data offset. */
  wrap(bytes: Uint8Array, offset: number, length: number): DropReason {
    this.bytes = bytes;
    this.offset = offset;
    this.length = length;
    if (length < TCP_HEADER_LENGTH || offset + length > bytes.length) return DropReason.Truncated;
    const headerLength = (bytes[offset + DATA_OFFSET] >>> 4) * 4;
    if (headerLength < TCP_HEADER_LENGTH) return DropReason.BadHeaderLength;
    if (headerLength > length) return DropReason.Truncated;
    return DropReason.None;
  }

  get sourcePort(): number {
    return readUint16(this.bytes, this.offset + SOURCE_PORT);
  }
  get destinationPort(): number {
    return readUint16(this.bytes, this.offset + DESTINATION_PORT);
  }
  get sequence(): number {
    return readUint32(this.bytes, this.offset + SEQUENCE);
  }
  get acknowledgment(): number {
    return readUint32(this.bytes, this.offset + ACKNOWLEDGMENT);
  }
  get headerLength(): number {
    return (this.bytes[this.offset + DATA_OFFSET] >>> 4) * 4;
  }
  get flags(): number {
    return this.bytes[this.offset + FLAGS];
  }
  get window(): number {
    return readUint16(this.bytes, this.offset + WINDOW);
  }
  get checksum(): number {
    return readUint16(this.bytes, this.offset + CHECKSUM);
  }
  get urgentPointer(): number {
    return readUint16(this.bytes, this.offset + URGENT);
  }
  get optionsOffset(): number {
    return this.offset + TCP_HEADER_LENGTH;
  }
  get optionsLength(): number {
    return this.headerLength - TCP_HEADER_LENGTH;
  }
  get payloadOffset(): number {
    return this.offset + this.headerLength;
  }
  get payloadLength(): number {
    return this.length - this.headerLength;
  }

  /** True when the checksum over the whole segment verifies, given the family's pseudo-header sum for its length. */
  verifyChecksum(pseudoHeaderSum: number): boolean {
    return finishChecksum(sumBytes(this.bytes, this.offset, this.length, pseudoHeaderSum)) === 0;
  }

  /** verifyChecksum against the IPv4 pseudo-header. */
  verifyChecksumIpv4(source: number, destination: number): boolean {
    return this.verifyChecksum(ipv4PseudoHeaderSum(source, destination, IpProtocol.Tcp, this.length));
  }

  /** verifyChecksum against the IPv6 pseudo-header (addresses are 16-byte ranges). */
  verifyChecksumIpv6(source: Uint8Array, sourceOffset: number, destination: Uint8Array, destinationOffset: number): boolean {
    return this.verifyChecksum(ipv6PseudoHeaderSum(source, sourceOffset, destination, destinationOffset, IpProtocol.Tcp, this.length));
  }
}

/** Parsed options, reused across segments (reset by parseTcpOptions). */
export class TcpOptions {
  /** 0 when absent. */
  mss = 0;
  /** -1 when absent; else the shift count (values above 14 are clamped to 14 per RFC 7323 §2.3). */
  windowScale = -1;
  sackPermitted = false;
  hasTimestamp = false;
  timestampValue = 0;
  timestampEcho = 0;
  sackBlockCount = 0;
  /** Left/right edge pairs: [left0, right0, left1, right1, ...]. */
  readonly sackBlocks = new Uint32Array(TCP_MAX_SACK_BLOCKS * 2);

  reset(): void {
    this.mss = 0;
    this.windowScale = -1;
    this.sackPermitted = false;
    this.hasTimestamp = false;
    this.timestampValue = 0;
    this.timestampEcho = 0;
    this.sackBlockCount = 0;
  }
}

/**
 * Parses the options of a wrapped segment into out. EOL ends the list, NOP is skipped, unknown
 * options are skipped by their length; a length that is < 2, runs past the header, or does not fit
 * its kind (MSS 4, WS 3, SACK-permitted 2, timestamps 10, SACK 2 + 8n) is BadOption. A SACK option
 * with no blocks is accepted and yields sackBlockCount 0.
 */
export function parseTcpOptions(segment: TcpSegment, out: TcpOptions): DropReason {
  // Written flat (fields reset inline, bounds from the header byte, an if-chain on the kind): this
  // runs for every segment, and the flat form measured about 2.5x faster than reset() + getters +
  // switch (bench/wire.bench.ts, Node 20).
  out.mss = 0;
  out.windowScale = -1;
  out.sackPermitted = false;
  out.hasTimestamp = false;
  out.timestampValue = 0;
  out.timestampEcho = 0;
  out.sackBlockCount = 0;
  const b = segment.bytes;
  const start = segment.offset;
  let i = start + TCP_HEADER_LENGTH;
  const end = start + ((b[start + DATA_OFFSET] >>> 4) << 2);
  while (i < end) {
    const kind = b[i];
    if (kind === TCP_OPTION_END) break;
    if (kind === TCP_OPTION_NOP) {
      i++;
      continue;
    }
    if (i + 1 >= end) return DropReason.BadOption;
    const length = b[i + 1];
    if (length < 2 || i + length > end) return DropReason.BadOption;
    if (kind === TCP_OPTION_TIMESTAMP) {
      if (length !== 10) return DropReason.BadOption;
      out.hasTimestamp = true;
      out.timestampValue = readUint32(b, i + 2);
      out.timestampEcho = readUint32(b, i + 6);
    } else if (kind === TCP_OPTION_SACK) {
      if ((length - 2) % 8 !== 0) return DropReason.BadOption;
      // At most 4 blocks fit in 40 bytes of options, so every block present is kept.
      const blocks = (length - 2) >>> 3;
      const edges = out.sackBlocks;
      for (let k = 0, at = i + 2; k < blocks; k++, at += 8) {
        edges[k * 2] = readUint32(b, at);
        edges[k * 2 + 1] = readUint32(b, at + 4);
      }
      out.sackBlockCount = blocks;
    } else if (kind === TCP_OPTION_MSS) {
      if (length !== 4) return DropReason.BadOption;
      out.mss = (b[i + 2] << 8) | b[i + 3];
    } else if (kind === TCP_OPTION_WINDOW_SCALE) {
      if (length !== 3) return DropReason.BadOption;
      const shift = b[i + 2];
      out.windowScale = shift > 14 ? 14 : shift;
    } else if (kind === TCP_OPTION_SACK_PERMITTED) {
      if (length !== 2) return DropReason.BadOption;
      out.sackPermitted = true;
    }
    i += length;
  }
  return DropReason.None;
}

/**
 * Writes a TCP header (checksum zero) at offset with room for optionsLength bytes of options
 * (a multiple of 4, written by the option writers after it). Returns the offset of the options.
 */
export function writeTcpHeader(
  buf: Uint8Array,
  offset: number,
  sourcePort: number,
  destinationPort: number,
  sequence: number,
  acknowledgment: number,
  flags: number,
  window: number,
  optionsLength = 0,
): number {
  writeUint16(buf, offset + SOURCE_PORT, sourcePort);
  writeUint16(buf, offset + DESTINATION_PORT, destinationPort);
  writeUint32(buf, offset + SEQUENCE, sequence);
  writeUint32(buf, offset + ACKNOWLEDGMENT, acknowledgment);
  buf[offset + DATA_OFFSET] = ((TCP_HEADER_LENGTH + optionsLength) / 4) << 4;
  buf[offset + FLAGS] = flags;
  writeUint16(buf, offset + WINDOW, window);
  writeUint16(buf, offset + CHECKSUM, 0);
  writeUint16(buf, offset + URGENT, 0);
  return offset + TCP_HEADER_LENGTH;
}

/** MSS option (4 bytes). Returns the next offset. */
export function writeMssOption(buf: Uint8Array, offset: number, mss: number): number {
  buf[offset] = TCP_OPTION_MSS;
  buf[offset + 1] = 4;
  writeUint16(buf, offset + 2, mss);
  return offset + 4;
}

/** NOP + window scale (4 bytes, aligned). */
export function writeWindowScaleOption(buf: Uint8Array, offset: number, shift: number): number {
  buf[offset] = TCP_OPTION_NOP;
  buf[offset + 1] = TCP_OPTION_WINDOW_SCALE;
  buf[offset + 2] = 3;
  buf[offset + 3] = shift;
  return offset + 4;
}

/** NOP NOP + SACK-permitted (4 bytes, aligned). */
export function writeSackPermittedOption(buf: Uint8Array, offset: number): number {
  buf[offset] = TCP_OPTION_NOP;
  buf[offset + 1] = TCP_OPTION_NOP;
  buf[offset + 2] = TCP_OPTION_SACK_PERMITTED;
  buf[offset + 3] = 2;
  return offset + 4;
}

/** NOP NOP + timestamps (12 bytes, aligned). */
export function writeTimestampOption(buf: Uint8Array, offset: number, value: number, echo: number): number {
  buf[offset] = TCP_OPTION_NOP;
  buf[offset + 1] = TCP_OPTION_NOP;
  buf[offset + 2] = TCP_OPTION_TIMESTAMP;
  buf[offset + 3] = 10;
  writeUint32(buf, offset + 4, value);
  writeUint32(buf, offset + 8, echo);
  return offset + 12;
}

/** NOP NOP + SACK with count blocks from edges [l0, r0, l1, r1, ...] (4 + 8n bytes, aligned). */
export function writeSackOption(buf: Uint8Array, offset: number, edges: Uint32Array, count: number): number {
  buf[offset] = TCP_OPTION_NOP;
  buf[offset + 1] = TCP_OPTION_NOP;
  buf[offset + 2] = TCP_OPTION_SACK;
  buf[offset + 3] = 2 + count * 8;
  let at = offset + 4;
  for (let k = 0; k < count; k++) {
    writeUint32(buf, at, edges[k * 2]);
    writeUint32(buf, at + 4, edges[k * 2 + 1]);
    at += 8;
  }
  return at;
}

/**
 * Fills the TCP checksum of the header at buf[offset, +headerLength) followed by payload (which may
 * live in another buffer), for either address family: pseudoHeaderSum is the family's running sum of
 * the pseudo-header for this segment's length (ipv4PseudoHeaderSum, ipv6PseudoHeaderSum). For a
 * segment already contiguous in buf, pass its whole length as headerLength and null as payload.
 */
export function fillTcpChecksum(buf: Uint8Array, offset: number, headerLength: number, payload: Uint8Array | null, pseudoHeaderSum: number): void {
  writeUint16(buf, offset + CHECKSUM, 0);
  let sum = sumBytes(buf, offset, headerLength, pseudoHeaderSum);
  if (payload) sum = sumBytes(payload, 0, payload.length, sum);
  writeUint16(buf, offset + CHECKSUM, finishChecksum(sum));
}

/**
 * For checksum offload (virtio NEEDS_CSUM), either family: stores the folded pseudo-header sum, not
 * complemented, as the device expects; it adds the rest.
 */
export function fillTcpPseudoChecksum(buf: Uint8Array, offset: number, pseudoHeaderSum: number): void {
  let sum = pseudoHeaderSum;
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  writeUint16(buf, offset + CHECKSUM, sum);
}

/** fillTcpChecksum with the IPv4 pseudo-header. */
export function fillTcpChecksumIpv4(
  buf: Uint8Array,
  offset: number,
  headerLength: number,
  source: number,
  destination: number,
  payload: Uint8Array | null,
): void {
  const length = headerLength + (payload?.length ?? 0);
  fillTcpChecksum(buf, offset, headerLength, payload, ipv4PseudoHeaderSum(source, destination, IpProtocol.Tcp, length));
}

/** fillTcpChecksum with the IPv6 pseudo-header (RFC 8200 §8.1); addresses are 16-byte ranges. */
export function fillTcpChecksumIpv6(
  buf: Uint8Array,
  offset: number,
  headerLength: number,
  source: Uint8Array,
  sourceOffset: number,
  destination: Uint8Array,
  destinationOffset: number,
  payload: Uint8Array | null,
): void {
  const length = headerLength + (payload?.length ?? 0);
  fillTcpChecksum(buf, offset, headerLength, payload, ipv6PseudoHeaderSum(source, sourceOffset, destination, destinationOffset, IpProtocol.Tcp, length));
}

/** fillTcpPseudoChecksum with the IPv4 pseudo-header of a segment of `length` bytes. */
export function fillTcpPseudoChecksumIpv4(buf: Uint8Array, offset: number, source: number, destination: number, length: number): void {
  fillTcpPseudoChecksum(buf, offset, ipv4PseudoHeaderSum(source, destination, IpProtocol.Tcp, length));
}

/** As fillTcpPseudoChecksumIpv4, with the IPv6 pseudo-header (TSO6 / NEEDS_CSUM); addresses are 16-byte ranges. */
export function fillTcpPseudoChecksumIpv6(
  buf: Uint8Array,
  offset: number,
  source: Uint8Array,
  sourceOffset: number,
  destination: Uint8Array,
  destinationOffset: number,
  length: number,
): void {
  let sum = ipv6PseudoHeaderSum(source, sourceOffset, destination, destinationOffset, IpProtocol.Tcp, length);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  writeUint16(buf, offset + CHECKSUM, sum);
}

export const TCP_CHECKSUM_OFFSET = CHECKSUM;
