/**
 * UDP (RFC 768): a checked view and header/checksum writers. The length field is checked against the
 * bytes present (bytes after it, e.g. Ethernet padding, are not part of the datagram); a zero
 * checksum means "none" over IPv4 but is invalid over IPv6 (RFC 8200 §8.1).
 * Never throws on guest input (returns a DropReason); never allocates.
 */
import { DropReason } from './drop-reason.js';
import { EMPTY_BYTES, readUint16, writeUint16 } from './bytes.js';
import { finishChecksum, ipv4PseudoHeaderSum, ipv6PseudoHeaderSum, sumBytes } from './checksum.js';
import { IpProtocol } from './ipv4.js';

export const UDP_HEADER_LENGTH = 8;

const SOURCE_PORT = 0;
const DESTINATION_PORT = 2;
const LENGTH = 4;
const CHECKSUM = 6;

export class UdpPacket {
  bytes: Uint8Array = EMPTY_BYTES;
  offset = 0;
  /** From the length field (bytes after it are not part of the datagram). */
  length = 0;

  /** Wraps a datagram of at most `available` bytes (the IP payload length). */
  wrap(bytes: Uint8Array, offset: number, available: number): DropReason {
    this.bytes = bytes;
    this.offset = offset;
    this.length = 0;
    if (available < UDP_HEADER_LENGTH || offset + available > bytes.length) return DropReason.Truncated;
    const length = readUint16(bytes, offset + LENGTH);
    if (length < UDP_HEADER_LENGTH) return DropReason.BadLength;
    if (length > available) return DropReason.Truncated;
    this.length = length;
    return DropReason.None;
  }

  get sourcePort(): number {
    return readUint16(this.bytes, this.offset + SOURCE_PORT);
  }
  get destinationPort(): number {
    return readUint16(this.bytes, this.offset + DESTINATION_PORT);
  }
  get checksum(): number {
    return readUint16(this.bytes, this.offset + CHECKSUM);
  }
  get payloadOffset(): number {
    return this.offset + UDP_HEADER_LENGTH;
  }
  get payloadLength(): number {
    return this.length - UDP_HEADER_LENGTH;
  }

  /**
   * True when the checksum verifies, given the family's pseudo-header sum for this datagram's length.
   * A zero checksum means "none": accepted where zeroIsNone (IPv4), invalid otherwise (IPv6, RFC 8200 §8.1).
   */
  verifyChecksum(pseudoHeaderSum: number, zeroIsNone: boolean): boolean {
    if (this.checksum === 0) return zeroIsNone;
    return finishChecksum(sumBytes(this.bytes, this.offset, this.length, pseudoHeaderSum)) === 0;
  }

  /** True when the checksum is absent (0) or verifies against the IPv4 pseudo-header. */
  verifyChecksumIpv4(source: number, destination: number): boolean {
    return this.verifyChecksum(ipv4PseudoHeaderSum(source, destination, IpProtocol.Udp, this.length), true);
  }

  /** True when the checksum verifies against the IPv6 pseudo-header (zero is invalid over IPv6). */
  verifyChecksumIpv6(source: Uint8Array, sourceOffset: number, destination: Uint8Array, destinationOffset: number): boolean {
    return this.verifyChecksum(ipv6PseudoHeaderSum(source, sourceOffset, destination, destinationOffset, IpProtocol.Udp, this.length), false);
  }
}

/**
 * Writes a UDP header at offset with a zero checksum (fill it afterwards, or leave 0 = none over
 * IPv4). Returns the offset after the header, where the payload goes.
 */
export function writeUdpHeader(
  buf: Uint8Array,
  offset: number,
  sourcePort: number,
  destinationPort: number,
  payloadLength: number,
): number {
  writeUint16(buf, offset + SOURCE_PORT, sourcePort);
  writeUint16(buf, offset + DESTINATION_PORT, destinationPort);
  writeUint16(buf, offset + LENGTH, UDP_HEADER_LENGTH + payloadLength);
  writeUint16(buf, offset + CHECKSUM, 0);
  return offset + UDP_HEADER_LENGTH;
}

/**
 * Fills the checksum of the UDP header at buf[offset, +8), for either address family: pseudoHeaderSum
 * is the family's running pseudo-header sum for the datagram's length (the header's length field).
 * With payload null the payload follows the header in buf; otherwise it is `payload` (which may live
 * in another buffer; its length must match the field).
 */
export function fillUdpChecksum(buf: Uint8Array, offset: number, pseudoHeaderSum: number, payload: Uint8Array | null = null): void {
  const length = readUint16(buf, offset + LENGTH);
  writeUint16(buf, offset + CHECKSUM, 0);
  // RFC 768 (and RFC 8200 §8.1): a computed zero is sent as all ones, since zero means "no checksum".
  writeUint16(buf, offset + CHECKSUM, finishChecksum(sumDatagram(buf, offset, length, payload, pseudoHeaderSum)) || 0xffff);
}

/** fillUdpChecksum with the IPv4 pseudo-header. */
export function fillUdpChecksumIpv4(
  buf: Uint8Array,
  offset: number,
  source: number,
  destination: number,
  payload: Uint8Array | null = null,
): void {
  const length = readUint16(buf, offset + LENGTH);
  fillUdpChecksum(buf, offset, ipv4PseudoHeaderSum(source, destination, IpProtocol.Udp, length), payload);
}

/** fillUdpChecksum with the IPv6 pseudo-header (addresses are 16-byte ranges). */
export function fillUdpChecksumIpv6(
  buf: Uint8Array,
  offset: number,
  source: Uint8Array,
  sourceOffset: number,
  destination: Uint8Array,
  destinationOffset: number,
  payload: Uint8Array | null = null,
): void {
  const length = readUint16(buf, offset + LENGTH);
  fillUdpChecksum(buf, offset, ipv6PseudoHeaderSum(source, sourceOffset, destination, destinationOffset, IpProtocol.Udp, length), payload);
}

/**
 * Writes a UDP header at offset with its IPv4 checksum over header + payload (payload may live in
 * another buffer; null means no payload). Returns the offset after the header.
 */
export function writeUdpHeaderIpv4(
  buf: Uint8Array,
  offset: number,
  source: number,
  sourcePort: number,
  destination: number,
  destinationPort: number,
  payload: Uint8Array | null,
): number {
  const next = writeUdpHeader(buf, offset, sourcePort, destinationPort, payload?.length ?? 0);
  fillUdpChecksumIpv4(buf, offset, source, destination, payload ?? EMPTY_BYTES);
  return next;
}

/** As writeUdpHeaderIpv4, with the IPv6 pseudo-header (addresses are 16-byte ranges). */
export function writeUdpHeaderIpv6(
  buf: Uint8Array,
  offset: number,
  source: Uint8Array,
  sourceOffset: number,
  sourcePort: number,
  destination: Uint8Array,
  destinationOffset: number,
  destinationPort: number,
  payload: Uint8Array | null,
): number {
  const next = writeUdpHeader(buf, offset, sourcePort, destinationPort, payload?.length ?? 0);
  fillUdpChecksumIpv6(buf, offset, source, sourceOffset, destination, destinationOffset, payload ?? EMPTY_BYTES);
  return next;
}

function sumDatagram(buf: Uint8Array, offset: number, length: number, payload: Uint8Array | null, initial: number): number {
  if (payload === null) return sumBytes(buf, offset, length, initial);
  return sumBytes(payload, 0, payload.length, sumBytes(buf, offset, UDP_HEADER_LENGTH, initial));
}
