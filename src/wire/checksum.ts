/**
 * The internet checksum (RFC 1071) and the pseudo-header sums of TCP and UDP.
 *
 * Sums are kept as unfolded 32-bit-safe numbers so a checksum over several pieces (pseudo-header,
 * header, payload) is one pass per piece with no copying. Never allocates per call; ranges of
 * 128 bytes or more go through a Uint32Array view of their ArrayBuffer, created once per distinct
 * buffer (the last one is cached, so pooled frame buffers cost nothing).
 */

/** Little-endian hosts (x86, arm64) can sum aligned 32-bit loads and byte-swap once (RFC 1071 §2(B)). */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const WIDE_MIN_LENGTH = 128;
/** 2^20 words per block keeps the double accumulators below 2^53, so they stay exact. */
const WIDE_BLOCK_WORDS = 1 << 20;
/**
 * Below this a call into native code costs more than the JavaScript loop (a call is ~130 ns; at 1448
 * bytes native is 2.4x faster, at 64 KiB 3x: 4.9 µs against 15 µs, Node 20 on x86-64).
 */
const NATIVE_MIN_LENGTH = 128;
let wideBuffer: ArrayBufferLike | null = null;
let wideWords: Uint32Array<ArrayBufferLike> = new Uint32Array(0);

/** Folded big-endian one's-complement sum of bytes[offset, offset+length), computed natively. */
export type NativeSum = (bytes: Uint8Array, offset: number, length: number) => number;
let nativeSum: NativeSum | null = null;

/**
 * Lets long ranges be summed by native code (the TAP link installs the addon's checksumSum when it
 * loads the addon). This module stays pure: without it, or in tests, the JavaScript loops below run.
 */
export function useNativeSum(sum: NativeSum | null): void {
  nativeSum = sum;
}

/**
 * Adds bytes[offset, offset+length) to a running one's-complement sum (not folded).
 * An odd length is padded with a zero byte, so only the last piece of a message may be odd.
 */
export function sumBytes(bytes: Uint8Array, offset: number, length: number, initial = 0): number {
  if (length >= NATIVE_MIN_LENGTH && nativeSum !== null) return initial + nativeSum(bytes, offset, length);
  if (length >= WIDE_MIN_LENGTH && LITTLE_ENDIAN && ((bytes.byteOffset + offset) & 1) === 0) {
    return sumBytesWide(bytes, offset, length, initial);
  }
  return sumBytesNarrow(bytes, offset, length, initial);
}

/** Byte-pair loop: any alignment, any length. */
function sumBytesNarrow(bytes: Uint8Array, offset: number, length: number, initial: number): number {
  let sum = initial;
  const end = offset + length;
  const evenEnd = end - (length & 1);
  let i = offset;
  // Unrolled by 8 bytes: the loop is the hot path of every frame we emit without offload.
  const unrolledEnd = evenEnd - ((evenEnd - i) & 7);
  for (; i < unrolledEnd; i += 8) {
    sum +=
      ((bytes[i] << 8) | bytes[i + 1]) +
      ((bytes[i + 2] << 8) | bytes[i + 3]) +
      ((bytes[i + 4] << 8) | bytes[i + 5]) +
      ((bytes[i + 6] << 8) | bytes[i + 7]);
    // Fold well before 2^53 loses precision; 2^31 keeps the additions in small-integer range.
    if (sum > 0x7fffffff) sum = (sum & 0xffff) + (sum >>> 16);
  }
  for (; i < evenEnd; i += 2) sum += (bytes[i] << 8) | bytes[i + 1];
  if (length & 1) sum += bytes[end - 1] << 8;
  return sum;
}

/**
 * Even-aligned ranges: 32-bit little-endian loads summed whole into double accumulators (exact
 * below 2^53), folded to 16 bits and byte-swapped, which equals the big-endian 16-bit sum
 * (RFC 1071 §2(B)). About 4x the byte-pair loop at 1500 bytes, 5x at 64 KiB (bench/wire.bench.ts).
 */
function sumBytesWide(bytes: Uint8Array, offset: number, length: number, initial: number): number {
  let sum = initial;
  let i = offset;
  const end = offset + length;
  if (((bytes.byteOffset + i) & 3) !== 0) {
    sum += (bytes[i] << 8) | bytes[i + 1];
    i += 2;
  }
  let w = (bytes.byteOffset + i) >>> 2;
  const wordsEnd = w + ((end - i) >>> 2);
  const buffer = bytes.buffer;
  if (buffer !== wideBuffer || wordsEnd > wideWords.length) {
    wideBuffer = buffer;
    wideWords = new Uint32Array(buffer, 0, buffer.byteLength >>> 2);
  }
  const words = wideWords;
  i += (wordsEnd - w) << 2;
  let swapped = 0;
  while (w < wordsEnd) {
    const blockEnd = Math.min(wordsEnd, w + WIDE_BLOCK_WORDS);
    const unrolledEnd = blockEnd - ((blockEnd - w) & 3);
    let s0 = 0;
    let s1 = 0;
    for (; w < unrolledEnd; w += 4) {
      s0 += words[w] + words[w + 2];
      s1 += words[w + 1] + words[w + 3];
    }
    for (; w < blockEnd; w++) s0 += words[w];
    // Fold the (up to 53-bit) block sum with end-around carries: to 32 bits, then to 16.
    let t = s0 + s1;
    t = (t % 0x1_0000_0000) + Math.floor(t / 0x1_0000_0000);
    t = (t % 0x1_0000_0000) + Math.floor(t / 0x1_0000_0000);
    t = (t & 0xffff) + Math.floor(t / 0x10000);
    swapped += t;
  }
  while (swapped > 0xffff) swapped = (swapped & 0xffff) + (swapped >>> 16);
  sum += ((swapped & 0xff) << 8) | (swapped >>> 8);
  return sumBytesNarrow(bytes, i, end - i, sum);
}

/** Folds a running sum to 16 bits and complements it: the value to store in a checksum field. */
export function finishChecksum(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return ~sum & 0xffff;
}

/** Checksum of one contiguous range (e.g. an IPv4 header with its checksum field zeroed). */
export function internetChecksum(bytes: Uint8Array, offset: number, length: number): number {
  return finishChecksum(sumBytes(bytes, offset, length));
}

/** Adds a 32-bit value (e.g. an IPv4 address) to a running sum as two 16-bit words. */
export function sumUint32(value: number, initial = 0): number {
  return initial + (value >>> 16) + (value & 0xffff);
}

/** Running sum of the IPv4 pseudo-header for TCP/UDP (RFC 793 / RFC 768). */
export function ipv4PseudoHeaderSum(src: number, dst: number, protocol: number, l4Length: number): number {
  return sumUint32(src, sumUint32(dst)) + protocol + l4Length;
}

/**
 * Running sum of the IPv6 pseudo-header (RFC 8200 §8.1). Addresses are 16-byte views.
 */
export function ipv6PseudoHeaderSum(
  src: Uint8Array,
  srcOffset: number,
  dst: Uint8Array,
  dstOffset: number,
  nextHeader: number,
  l4Length: number,
): number {
  let sum = sumBytes(src, srcOffset, 16);
  sum = sumBytes(dst, dstOffset, 16, sum);
  return sumUint32(l4Length >>> 0, sum) + nextHeader;
}
