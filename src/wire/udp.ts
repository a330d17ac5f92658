/**
 * UDP (RFC 768): a checked view and header/checksum writers. The length field is checked against the
 * bytes present; a zero checksum means "none" over IPv4. Never throws on guest input.
 */
import { DropReason } from './drop-reason.js';
import { EMPTY_BYTES, readUint16, writeUint16 } from './bytes.js';
import { finishChecksum, ipv4PseudoHeaderSum, sumBytes } from './checksum.js';
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

  /** True when the checksum is absent (0) or verifies against the IPv4 pseudo-header. */
  verifyChecksumIpv4(source: number, destination: number): boolean {
    if (this.checksum === 0) return true;
    const sum = sumBytes(this.bytes, this.offset, this.length, ipv4PseudoHeaderSum(source, destination, IpProtocol.Udp, this.length));
    return finishChecksum(sum) === 0;
  }
}

/**
 * Writes a UDP header at offset with its IPv4 checksum over header + payload (payload may live in
 * another buffer). Returns the offset after the header.
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
  const length = UDP_HEADER_LENGTH + (payload?.length ?? 0);
  writeUint16(buf, offset + SOURCE_PORT, sourcePort);
  writeUint16(buf, offset + DESTINATION_PORT, destinationPort);
  writeUint16(buf, offset + LENGTH, length);
  writeUint16(buf, offset + CHECKSUM, 0);
  let sum = sumBytes(buf, offset, UDP_HEADER_LENGTH, ipv4PseudoHeaderSum(source, destination, IpProtocol.Udp, length));
  if (payload) sum = sumBytes(payload, 0, payload.length, sum);
  // RFC 768: a computed zero is sent as all ones, since zero means "no checksum".
  writeUint16(buf, offset + CHECKSUM, finishChecksum(sum) || 0xffff);
  return offset + UDP_HEADER_LENGTH;
}
