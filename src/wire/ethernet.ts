/**
 * Ethernet II frames: a checked view and a header writer. No 802.1Q (a tagged frame is simply an
 * unsupported EtherType to the engine). Never throws on guest input.
 */
import { DropReason } from './drop-reason.js';
import { EMPTY_BYTES, readMac, readUint16, writeMac, writeUint16 } from './bytes.js';

export const ETHERNET_HEADER_LENGTH = 14;

export enum EtherType {
  Ipv4 = 0x0800,
  Arp = 0x0806,
  Ipv6 = 0x86dd,
}

const DESTINATION = 0;
const SOURCE = 6;
const ETHER_TYPE = 12;

/** A reusable view over one frame; wrap() it again for the next frame. */
export class EthernetFrame {
  bytes: Uint8Array = EMPTY_BYTES;
  offset = 0;
  length = 0;

  /** Points the view at bytes[offset, offset + length). Returns DropReason.None when usable. */
  wrap(bytes: Uint8Array, offset: number, length: number): DropReason {
    this.bytes = bytes;
    this.offset = offset;
    this.length = length;
    if (length < ETHERNET_HEADER_LENGTH || offset + length > bytes.length) return DropReason.Truncated;
    return DropReason.None;
  }

  get destination(): number {
    return readMac(this.bytes, this.offset + DESTINATION);
  }
  get source(): number {
    return readMac(this.bytes, this.offset + SOURCE);
  }
  get etherType(): number {
    return readUint16(this.bytes, this.offset + ETHER_TYPE);
  }
  /** Absolute index of the payload in bytes. */
  get payloadOffset(): number {
    return this.offset + ETHERNET_HEADER_LENGTH;
  }
  get payloadLength(): number {
    return this.length - ETHERNET_HEADER_LENGTH;
  }
}

/** Writes a 14-byte Ethernet II header at offset; returns the offset just after it. */
export function writeEthernetHeader(
  buf: Uint8Array,
  offset: number,
  destination: number,
  source: number,
  etherType: number,
): number {
  writeMac(buf, offset + DESTINATION, destination);
  writeMac(buf, offset + SOURCE, source);
  writeUint16(buf, offset + ETHER_TYPE, etherType);
  return offset + ETHERNET_HEADER_LENGTH;
}
