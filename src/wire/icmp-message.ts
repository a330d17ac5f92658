/**
 * What ICMPv4 (RFC 792) and ICMPv6 (RFC 4443) share on the wire: the 8-byte header (type, code,
 * checksum, one 32-bit field that echo splits into identifier and sequence and errors use for an
 * MTU, a pointer or nothing), the view over it, and the header writer and checksum filler both
 * families' writers are built on. The checksum differs only in its start: 0 for ICMPv4, the IPv6
 * pseudo-header's sum for ICMPv6. Never allocates.
 */
import { EMPTY_BYTES, readUint16, readUint32, writeUint16, writeUint32 } from './bytes.js';
import { finishChecksum, sumBytes } from './checksum.js';

export const ICMP_HEADER_LENGTH = 8;

const TYPE = 0;
const CODE = 1;
const CHECKSUM = 2;
const IDENTIFIER = 4;
const SEQUENCE = 6;
/** The 32-bit field after the checksum ("rest of header"). */
const REST = 4;

/** A view of one ICMP message; the family's subclass checks it in its own wrap(). */
export class IcmpMessageView {
  bytes: Uint8Array = EMPTY_BYTES;
  offset = 0;
  length = 0;

  get type(): number {
    return this.bytes[this.offset + TYPE];
  }
  get code(): number {
    return this.bytes[this.offset + CODE];
  }
  get checksum(): number {
    return readUint16(this.bytes, this.offset + CHECKSUM);
  }
  /** Echo identifier (echo request/reply). */
  get identifier(): number {
    return readUint16(this.bytes, this.offset + IDENTIFIER);
  }
  get sequence(): number {
    return readUint16(this.bytes, this.offset + SEQUENCE);
  }
  /** The whole 32-bit field after the checksum (an MTU or a pointer, per type). */
  protected get rest(): number {
    return readUint32(this.bytes, this.offset + REST);
  }
  /** Absolute index of what follows the 8-byte header (echo data, the quoted packet). */
  get dataOffset(): number {
    return this.offset + ICMP_HEADER_LENGTH;
  }
  get dataLength(): number {
    return this.length - ICMP_HEADER_LENGTH;
  }
}

/** Writes type, code, a zero checksum and the 32-bit rest of the header at offset. */
export function writeIcmpHeader(buf: Uint8Array, offset: number, type: number, code: number, rest: number): void {
  buf[offset + TYPE] = type;
  buf[offset + CODE] = code;
  writeUint16(buf, offset + CHECKSUM, 0);
  writeUint32(buf, offset + REST, rest);
}

/** The rest-of-header field of an echo request or reply. */
export function icmpEchoRest(identifier: number, sequence: number): number {
  return ((identifier & 0xffff) * 0x10000 + (sequence & 0xffff)) >>> 0;
}

/**
 * Computes and stores the checksum of the message at buf[offset, +length) followed by data (which
 * may live in another buffer; null when the message is whole in buf), starting from initialSum.
 */
export function fillIcmpChecksum(buf: Uint8Array, offset: number, length: number, initialSum: number, data: Uint8Array | null): void {
  writeUint16(buf, offset + CHECKSUM, 0);
  let sum = sumBytes(buf, offset, length, initialSum);
  if (data) sum = sumBytes(data, 0, data.length, sum);
  writeUint16(buf, offset + CHECKSUM, finishChecksum(sum));
}

/**
 * Copies the quoted packet of an error into place without allocating a subarray view; safe when
 * source and target overlap (an error built in place of the packet it quotes).
 */
export function copyQuote(src: Uint8Array, srcOffset: number, dst: Uint8Array, dstOffset: number, length: number): void {
  // With the target after the source in the same memory, copy from the end backwards.
  if (src.buffer === dst.buffer && dst.byteOffset + dstOffset > src.byteOffset + srcOffset) {
    for (let k = length - 1; k >= 0; k--) dst[dstOffset + k] = src[srcOffset + k];
  } else {
    for (let k = 0; k < length; k++) dst[dstOffset + k] = src[srcOffset + k];
  }
}
