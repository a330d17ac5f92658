/**
 * ARP for Ethernet/IPv4 (RFC 826): a checked view and a writer. Anything but Ethernet hardware and
 * IPv4 protocol addresses is UnsupportedArp. Never throws on guest input.
 */
import { DropReason } from './drop-reason.js';
import { EMPTY_BYTES, readMac, readUint16, readUint32, writeMac, writeUint16, writeUint32 } from './bytes.js';

export const ARP_LENGTH = 28;

export enum ArpOperation {
  Request = 1,
  Reply = 2,
}

const HARDWARE_TYPE = 0;
const PROTOCOL_TYPE = 2;
const HARDWARE_LENGTH = 4;
const PROTOCOL_LENGTH = 5;
const OPERATION = 6;
const SENDER_MAC = 8;
const SENDER_IP = 14;
const TARGET_MAC = 18;
const TARGET_IP = 24;

const HARDWARE_ETHERNET = 1;
const PROTOCOL_IPV4 = 0x0800;

export class ArpPacket {
  bytes: Uint8Array = EMPTY_BYTES;
  offset = 0;
  length = 0;

  wrap(bytes: Uint8Array, offset: number, length: number): DropReason {
    this.bytes = bytes;
    this.offset = offset;
    this.length = length;
    if (length < ARP_LENGTH || offset + length > bytes.length) return DropReason.Truncated;
    if (
      readUint16(bytes, offset + HARDWARE_TYPE) !== HARDWARE_ETHERNET ||
      readUint16(bytes, offset + PROTOCOL_TYPE) !== PROTOCOL_IPV4 ||
      bytes[offset + HARDWARE_LENGTH] !== 6 ||
      bytes[offset + PROTOCOL_LENGTH] !== 4
    ) {
      return DropReason.UnsupportedArp;
    }
    const op = readUint16(bytes, offset + OPERATION);
    if (op !== ArpOperation.Request && op !== ArpOperation.Reply) return DropReason.UnsupportedArp;
    return DropReason.None;
  }

  get operation(): number {
    return readUint16(this.bytes, this.offset + OPERATION);
  }
  get senderMac(): number {
    return readMac(this.bytes, this.offset + SENDER_MAC);
  }
  get senderIp(): number {
    return readUint32(this.bytes, this.offset + SENDER_IP);
  }
  get targetMac(): number {
    return readMac(this.bytes, this.offset + TARGET_MAC);
  }
  get targetIp(): number {
    return readUint32(this.bytes, this.offset + TARGET_IP);
  }
}

/** Writes a 28-byte ARP packet for Ethernet/IPv4 at offset; returns the offset after it. */
export function writeArp(
  buf: Uint8Array,
  offset: number,
  operation: number,
  senderMac: number,
  senderIp: number,
  targetMac: number,
  targetIp: number,
): number {
  writeUint16(buf, offset + HARDWARE_TYPE, HARDWARE_ETHERNET);
  writeUint16(buf, offset + PROTOCOL_TYPE, PROTOCOL_IPV4);
  buf[offset + HARDWARE_LENGTH] = 6;
  buf[offset + PROTOCOL_LENGTH] = 4;
  writeUint16(buf, offset + OPERATION, operation);
  writeMac(buf, offset + SENDER_MAC, senderMac);
  writeUint32(buf, offset + SENDER_IP, senderIp);
  writeMac(buf, offset + TARGET_MAC, targetMac);
  writeUint32(buf, offset + TARGET_IP, targetIp);
  return offset + ARP_LENGTH;
}
