/**
 * The IPv6 Fragment header (RFC 8200 §4.5): a checked view and its writer. 8 bytes: Next Header,
 * reserved, 13-bit offset in 8-byte units with the M flag, 32-bit identification.
 *
 * The view knows one header; where it sits and whether the fragment's length is valid is decided by
 * walkIpv6Headers, which stops at it. Never throws on guest input; never allocates.
 */
import { DropReason } from './drop-reason.js';
import { EMPTY_BYTES, readUint16, readUint32, writeUint16, writeUint32 } from './bytes.js';

export const IPV6_FRAGMENT_HEADER_LENGTH = 8;

const NEXT_HEADER = 0;
const RESERVED = 1;
const OFFSET_FLAGS = 2;
const IDENTIFICATION = 4;

const MORE_FRAGMENTS = 0x0001;
const OFFSET_MASK = 0xfff8;

/** Offset of the fragment-offset field within the header (Parameter Problem pointers). */
export const IPV6_FRAGMENT_OFFSET_FIELD = OFFSET_FLAGS;

export class Ipv6FragmentHeader {
  bytes: Uint8Array = EMPTY_BYTES;
  offset = 0;

  wrap(bytes: Uint8Array, offset: number, available: number): DropReason {
    this.bytes = bytes;
    this.offset = offset;
    if (available < IPV6_FRAGMENT_HEADER_LENGTH || offset + available > bytes.length) return DropReason.Truncated;
    return DropReason.None;
  }

  /** Next Header of the fragmentable part (the upper layer or the next extension header). */
  get nextHeader(): number {
    return this.bytes[this.offset + NEXT_HEADER];
  }
  /** Offset of this fragment's data in the original payload, in bytes (a multiple of 8). */
  get fragmentOffset(): number {
    return readUint16(this.bytes, this.offset + OFFSET_FLAGS) & OFFSET_MASK;
  }
  get moreFragments(): boolean {
    return (readUint16(this.bytes, this.offset + OFFSET_FLAGS) & MORE_FRAGMENTS) !== 0;
  }
  get identification(): number {
    return readUint32(this.bytes, this.offset + IDENTIFICATION);
  }
  /** Offset 0 and no more fragments: a whole packet to process alone, not to reassemble (RFC 6946). */
  get isAtomic(): boolean {
    return (readUint16(this.bytes, this.offset + OFFSET_FLAGS) & (OFFSET_MASK | MORE_FRAGMENTS)) === 0;
  }
  /** Absolute index of the fragment's data. */
  get dataOffset(): number {
    return this.offset + IPV6_FRAGMENT_HEADER_LENGTH;
  }
}

/**
 * Writes a Fragment header at offset; fragmentOffset is in bytes (a multiple of 8; the low 3 bits are
 * dropped). Returns the offset of the fragment's data.
 */
export function writeIpv6FragmentHeader(
  buf: Uint8Array,
  offset: number,
  nextHeader: number,
  fragmentOffset: number,
  moreFragments: boolean,
  identification: number,
): number {
  buf[offset + NEXT_HEADER] = nextHeader;
  buf[offset + RESERVED] = 0;
  writeUint16(buf, offset + OFFSET_FLAGS, (fragmentOffset & OFFSET_MASK) | (moreFragments ? MORE_FRAGMENTS : 0));
  writeUint32(buf, offset + IDENTIFICATION, identification);
  return offset + IPV6_FRAGMENT_HEADER_LENGTH;
}
