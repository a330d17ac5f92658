/**
 * DNS messages (RFC 1035): the header, and a bounded walk over the first question's name
 * (compression pointers followed only backwards and with a hop limit, names capped at 255 bytes)
 * to read its type and class. Enough for a forwarder that relays answers unchanged.
 * Never throws on guest input (returns a DropReason or -1); never allocates.
 */
import { DropReason } from './drop-reason.js';
import { EMPTY_BYTES, readUint16, writeUint16 } from './bytes.js';

export const DNS_HEADER_LENGTH = 12;
/** RFC 1035 §2.3.4: names are at most 255 bytes on the wire. */
const MAX_NAME_LENGTH = 255;
const MAX_POINTER_HOPS = 16;

/** Header flag bits (RFC 1035 §4.1.1). */
export const DNS_FLAG_QR = 0x8000;
export const DNS_FLAG_AA = 0x0400;
export const DNS_FLAG_TC = 0x0200;
export const DNS_FLAG_RD = 0x0100;
export const DNS_FLAG_RA = 0x0080;

export enum DnsRcode {
  NoError = 0,
  FormatError = 1,
  ServerFailure = 2,
  NameError = 3,
  NotImplemented = 4,
  Refused = 5,
}

const ID = 0;
const FLAGS = 2;
const QDCOUNT = 4;
const ANCOUNT = 6;
const NSCOUNT = 8;
const ARCOUNT = 10;

export class DnsMessage {
  bytes: Uint8Array = EMPTY_BYTES;
  offset = 0;
  length = 0;
  /** Set by parseFirstQuestion: the question's type and class, and where the question ends. */
  questionType = 0;
  questionClass = 0;
  questionEnd = 0;

  wrap(bytes: Uint8Array, offset: number, length: number): DropReason {
    this.bytes = bytes;
    this.offset = offset;
    this.length = length;
    if (length < DNS_HEADER_LENGTH || offset + length > bytes.length) return DropReason.Truncated;
    return DropReason.None;
  }

  get id(): number {
    return readUint16(this.bytes, this.offset + ID);
  }
  get flags(): number {
    return readUint16(this.bytes, this.offset + FLAGS);
  }
  get isResponse(): boolean {
    return (this.flags & 0x8000) !== 0;
  }
  get opcode(): number {
    return (this.flags >>> 11) & 0x0f;
  }
  get rcode(): number {
    return this.flags & 0x0f;
  }
  get questionCount(): number {
    return readUint16(this.bytes, this.offset + QDCOUNT);
  }
  get answerCount(): number {
    return readUint16(this.bytes, this.offset + ANCOUNT);
  }
  get authorityCount(): number {
    return readUint16(this.bytes, this.offset + NSCOUNT);
  }
  get additionalCount(): number {
    return readUint16(this.bytes, this.offset + ARCOUNT);
  }

  /**
   * Returns the absolute index just after the name starting at `at`, or -1 when the name is
   * malformed (runs past the message, too long, a pointer loop, a reserved label type).
   */
  skipName(at: number): number {
    const b = this.bytes;
    const end = this.offset + this.length;
    let i = at;
    let after = -1; // where the name ends in the message, once a pointer was followed
    let nameLength = 0;
    for (let hops = 0; ; ) {
      if (i >= end) return -1;
      const label = b[i];
      if (label === 0) return after === -1 ? i + 1 : after;
      const kind = label & 0xc0;
      if (kind === 0xc0) {
        if (i + 1 >= end || ++hops > MAX_POINTER_HOPS) return -1;
        if (after === -1) after = i + 2;
        const target = this.offset + (((label & 0x3f) << 8) | b[i + 1]);
        if (target >= i) return -1; // pointers must point backwards: no loops
        i = target;
        continue;
      }
      if (kind !== 0) return -1;
      nameLength += label + 1;
      if (nameLength > MAX_NAME_LENGTH) return -1;
      i += label + 1;
    }
  }

  /**
   * Reads the first question into questionType/questionClass/questionEnd. Truncated when its
   * type/class are cut off; Malformed when there is no question or its name is bad (runs past the
   * message, pointer loop or forward pointer, longer than 255 bytes, reserved label type).
   */
  parseFirstQuestion(): DropReason {
    this.questionType = 0;
    this.questionClass = 0;
    this.questionEnd = 0;
    if (this.questionCount === 0) return DropReason.Malformed;
    const start = this.offset + DNS_HEADER_LENGTH;
    const after = this.skipName(start);
    if (after === -1) return DropReason.Malformed;
    if (after + 4 > this.offset + this.length) return DropReason.Truncated;
    this.questionType = readUint16(this.bytes, after);
    this.questionClass = readUint16(this.bytes, after + 2);
    this.questionEnd = after + 4;
    return DropReason.None;
  }

  /** Class of the first question, or -1 when there is none or it is malformed. */
  get firstQuestionClass(): number {
    if (this.questionCount === 0) return -1;
    const after = this.skipName(this.offset + DNS_HEADER_LENGTH);
    if (after === -1 || after + 4 > this.offset + this.length) return -1;
    return readUint16(this.bytes, after + 2);
  }

  /** Type of the first question, or -1 when there is none or it is malformed. */
  get firstQuestionType(): number {
    if (this.questionCount === 0) return -1;
    const after = this.skipName(this.offset + DNS_HEADER_LENGTH);
    if (after === -1 || after + 4 > this.offset + this.length) return -1;
    return readUint16(this.bytes, after);
  }
}

/** Writes a DNS header at offset; returns the offset after it. */
export function writeDnsHeader(
  buf: Uint8Array,
  offset: number,
  id: number,
  flags: number,
  questionCount: number,
  answerCount = 0,
  authorityCount = 0,
  additionalCount = 0,
): number {
  writeUint16(buf, offset + ID, id);
  writeUint16(buf, offset + FLAGS, flags);
  writeUint16(buf, offset + QDCOUNT, questionCount);
  writeUint16(buf, offset + ANCOUNT, answerCount);
  writeUint16(buf, offset + NSCOUNT, authorityCount);
  writeUint16(buf, offset + ARCOUNT, additionalCount);
  return offset + DNS_HEADER_LENGTH;
}
