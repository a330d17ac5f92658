/**
 * The internet checksum (RFC 1071) and its incremental update (RFC 1624).
 *
 * Sums are kept as unfolded 32-bit-safe numbers so a checksum over several pieces (pseudo-header,
 * header, payload) is one pass per piece with no copying. Never allocates.
 */

/**
 * Adds bytes[offset, offset+length) to a running one's-complement sum (not folded).
 * An odd length is padded with a zero byte, so only the last piece of a message may be odd.
 */
export function sumBytes(bytes: Uint8Array, offset: number, length: number, initial = 0): number {
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

/**
 * Incremental update (RFC 1624 eqn. 3): the new checksum after one 16-bit word changed from oldWord
 * to newWord. Lets NAT-like rewrites (ports, addresses) avoid re-summing a payload.
 */
export function updateChecksum16(checksum: number, oldWord: number, newWord: number): number {
  let sum = (~checksum & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff);
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** Incremental update for a 32-bit field (an IPv4 address). */
export function updateChecksum32(checksum: number, oldValue: number, newValue: number): number {
  const c = updateChecksum16(checksum, oldValue >>> 16, newValue >>> 16);
  return updateChecksum16(c, oldValue & 0xffff, newValue & 0xffff);
}
