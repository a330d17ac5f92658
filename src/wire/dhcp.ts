/**
 * BOOTP/DHCP messages (RFC 2131, options RFC 2132): a checked view with an allocation-free option
 * walker, and reply writers. Option overload (52) is ignored: the options field alone is read, the
 * sname/file fields are never parsed as options.
 *
 * Never throws on guest input (returns a DropReason); never allocates. Writers zero every byte they
 * do not set (sname, file, chaddr padding, the padding to 300 bytes), so a reused frame buffer never
 * leaks an earlier frame's bytes to the guest.
 */
import { DropReason } from './drop-reason.js';
import { EMPTY_BYTES, readMac, readUint16, readUint32, writeMac, writeUint16, writeUint32 } from './bytes.js';

/** op .. file: the fixed BOOTP part before the magic cookie. */
export const BOOTP_FIXED_LENGTH = 236;
export const DHCP_MAGIC_COOKIE = 0x63825363;
export const DHCP_OPTIONS_OFFSET = BOOTP_FIXED_LENGTH + 4;
/** RFC 1542: BOOTP messages are at least 300 bytes; some clients drop shorter replies. */
export const BOOTP_MIN_LENGTH = 300;

export const BOOTP_REQUEST = 1;
export const BOOTP_REPLY = 2;
export const BOOTP_FLAG_BROADCAST = 0x8000;

export enum DhcpMessageType {
  Discover = 1,
  Offer = 2,
  Request = 3,
  Decline = 4,
  Ack = 5,
  Nak = 6,
  Release = 7,
  Inform = 8,
}

export enum DhcpOption {
  Pad = 0,
  SubnetMask = 1,
  Router = 3,
  DomainNameServer = 6,
  HostName = 12,
  InterfaceMtu = 26,
  BroadcastAddress = 28,
  RequestedIpAddress = 50,
  LeaseTime = 51,
  Overload = 52,
  MessageType = 53,
  ServerIdentifier = 54,
  ParameterRequestList = 55,
  Message = 56,
  RenewalTime = 58,
  RebindingTime = 59,
  ClientIdentifier = 61,
  End = 255,
}

const OP = 0;
const HTYPE = 1;
const HLEN = 2;
const HOPS = 3;
const XID = 4;
const SECS = 8;
const FLAGS = 10;
const CIADDR = 12;
const YIADDR = 16;
const SIADDR = 20;
const GIADDR = 24;
const CHADDR = 28;
const COOKIE = BOOTP_FIXED_LENGTH;

export class DhcpMessage {
  bytes: Uint8Array = EMPTY_BYTES;
  offset = 0;
  length = 0;
  /** Where option lookups found the last option's data (absolute index); set by findOption. */
  optionDataOffset = 0;

  /**
   * Wraps a DHCP message (a UDP payload). Checks the magic cookie, Ethernet hardware, and that the
   * options are well formed up to End (or the end of the message), so lookups can trust lengths.
   */
  wrap(bytes: Uint8Array, offset: number, length: number): DropReason {
    this.bytes = bytes;
    this.offset = offset;
    this.length = length;
    if (length < DHCP_OPTIONS_OFFSET || offset + length > bytes.length) return DropReason.Truncated;
    if (readUint32(bytes, offset + COOKIE) !== DHCP_MAGIC_COOKIE) return DropReason.Malformed;
    if (bytes[offset + HTYPE] !== 1 || bytes[offset + HLEN] !== 6) return DropReason.Malformed;
    let i = offset + DHCP_OPTIONS_OFFSET;
    const end = offset + length;
    while (i < end) {
      const code = bytes[i];
      if (code === DhcpOption.End) return DropReason.None;
      if (code === DhcpOption.Pad) {
        i++;
        continue;
      }
      if (i + 1 >= end || i + 2 + bytes[i + 1] > end) return DropReason.BadOption;
      i += 2 + bytes[i + 1];
    }
    return DropReason.None;
  }

  get op(): number {
    return this.bytes[this.offset + OP];
  }
  get hops(): number {
    return this.bytes[this.offset + HOPS];
  }
  get xid(): number {
    return readUint32(this.bytes, this.offset + XID);
  }
  get secs(): number {
    return readUint16(this.bytes, this.offset + SECS);
  }
  get flags(): number {
    return readUint16(this.bytes, this.offset + FLAGS);
  }
  get ciaddr(): number {
    return readUint32(this.bytes, this.offset + CIADDR);
  }
  get yiaddr(): number {
    return readUint32(this.bytes, this.offset + YIADDR);
  }
  get siaddr(): number {
    return readUint32(this.bytes, this.offset + SIADDR);
  }
  get giaddr(): number {
    return readUint32(this.bytes, this.offset + GIADDR);
  }
  /** Client hardware address (Ethernet) as a 48-bit number. */
  get chaddr(): number {
    return readMac(this.bytes, this.offset + CHADDR);
  }

  /**
   * Finds option `code`: returns its data length and sets optionDataOffset, or returns -1 when absent.
   * Safe after wrap() succeeded.
   */
  findOption(code: number): number {
    const b = this.bytes;
    let i = this.offset + DHCP_OPTIONS_OFFSET;
    const end = this.offset + this.length;
    while (i < end) {
      const c = b[i];
      if (c === DhcpOption.End) return -1;
      if (c === DhcpOption.Pad) {
        i++;
        continue;
      }
      const length = b[i + 1];
      if (c === code) {
        this.optionDataOffset = i + 2;
        return length;
      }
      i += 2 + length;
    }
    return -1;
  }

  /** Message type (option 53), or 0 when absent or malformed (then it is plain BOOTP). */
  get messageType(): number {
    return this.findOption(DhcpOption.MessageType) === 1 ? this.bytes[this.optionDataOffset] : 0;
  }

  /** A 4-byte address option (50 requested IP, 54 server id), or 0 when absent or malformed. */
  addressOption(code: number): number {
    return this.findOption(code) === 4 ? readUint32(this.bytes, this.optionDataOffset) : 0;
  }

  /** Requested IP address (option 50), or 0. */
  get requestedIp(): number {
    return this.addressOption(DhcpOption.RequestedIpAddress);
  }
  /** Server identifier (option 54), or 0. */
  get serverIdentifier(): number {
    return this.addressOption(DhcpOption.ServerIdentifier);
  }
  /** Parameter request list (55): its length, data at optionDataOffset; -1 when absent. */
  findParameterRequestList(): number {
    return this.findOption(DhcpOption.ParameterRequestList);
  }
  /** Client identifier (61): its length, data at optionDataOffset; -1 when absent. */
  findClientIdentifier(): number {
    return this.findOption(DhcpOption.ClientIdentifier);
  }
  /** Host name (12): its length, data at optionDataOffset; -1 when absent. */
  findHostName(): number {
    return this.findOption(DhcpOption.HostName);
  }
  /** True when the parameter request list (55) asks for option `code`. */
  requestsParameter(code: number): boolean {
    const length = this.findOption(DhcpOption.ParameterRequestList);
    for (let k = 0; k < length; k++) if (this.bytes[this.optionDataOffset + k] === code) return true;
    return false;
  }
}

/**
 * Writes the fixed part of a reply (op 2) echoing the request's xid, flags, giaddr and chaddr, plus
 * the magic cookie; sname, file and the chaddr padding are zeroed. Returns the offset where options
 * start.
 */
export function writeDhcpReplyHeader(
  buf: Uint8Array,
  offset: number,
  xid: number,
  flags: number,
  ciaddr: number,
  yiaddr: number,
  siaddr: number,
  giaddr: number,
  chaddr: number,
): number {
  buf[offset + OP] = BOOTP_REPLY;
  buf[offset + HTYPE] = 1;
  buf[offset + HLEN] = 6;
  buf[offset + HOPS] = 0;
  writeUint32(buf, offset + XID, xid);
  writeUint16(buf, offset + SECS, 0);
  writeUint16(buf, offset + FLAGS, flags);
  writeUint32(buf, offset + CIADDR, ciaddr);
  writeUint32(buf, offset + YIADDR, yiaddr);
  writeUint32(buf, offset + SIADDR, siaddr);
  writeUint32(buf, offset + GIADDR, giaddr);
  writeMac(buf, offset + CHADDR, chaddr);
  buf.fill(0, offset + CHADDR + 6, offset + COOKIE); // chaddr padding (10), sname (64), file (128)
  writeUint32(buf, offset + COOKIE, DHCP_MAGIC_COOKIE);
  return offset + DHCP_OPTIONS_OFFSET;
}

/** Writes option code with one byte of data. */
export function writeDhcpByteOption(buf: Uint8Array, offset: number, code: number, value: number): number {
  buf[offset] = code;
  buf[offset + 1] = 1;
  buf[offset + 2] = value;
  return offset + 3;
}

/** Writes option code with a 16-bit value (e.g. 26 interface MTU). */
export function writeDhcpUint16Option(buf: Uint8Array, offset: number, code: number, value: number): number {
  buf[offset] = code;
  buf[offset + 1] = 2;
  writeUint16(buf, offset + 2, value);
  return offset + 4;
}

/** Writes option code with a 32-bit value (addresses, lease times). */
export function writeDhcpUint32Option(buf: Uint8Array, offset: number, code: number, value: number): number {
  buf[offset] = code;
  buf[offset + 1] = 4;
  writeUint32(buf, offset + 2, value);
  return offset + 6;
}

/**
 * Writes the End option and zero-pads up to BOOTP's 300-byte minimum (buf must have room for it);
 * returns the message length from `start`.
 */
export function writeDhcpEnd(buf: Uint8Array, offset: number, start: number): number {
  buf[offset] = DhcpOption.End;
  const length = Math.max(offset + 1 - start, BOOTP_MIN_LENGTH);
  buf.fill(0, offset + 1, start + length);
  return length;
}
