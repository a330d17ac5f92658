/**
 * A Link decorator that keeps the last frames to and from the guest in memory, as pcap records, and
 * hands them out as a pcap file on demand (snapshot()): a flight recorder for a stall that shows up
 * once in a thousand transfers, where a full capture of all of them would be gigabytes.
 *
 * Records are cut to `snaplen` bytes (headers are what a stall is read from) and stored in two
 * halves of `maxBytes / 2`: records go into the current half; when it is full the older half is
 * dropped and becomes the current one. So between maxBytes / 2 and maxBytes of the latest records
 * are held, with no per-record bookkeeping; snapshot() leaves out records older than `maxSeconds`.
 * One timestamp per wakeup (a received batch, or what is transmitted up to a flush).
 *
 * Must never: block or throw on the data path, allocate per frame, delay or alter frames, or keep a
 * reference to a received batch after receiveBatch returns.
 */
import type { FrameBatch, FrameSink, Link, LinkOffloads, TxInfo } from './link.js';
import { pcapGlobalHeader } from './pcap-link.js';

const RECORD_HEADER_LENGTH = 16;
const copyBytes = Buffer.prototype.copy as (this: Uint8Array, target: Uint8Array, targetStart: number, sourceStart: number, sourceEnd: number) => number;
/** Enough for Ethernet + IPv4 (60) + TCP (60) headers with every option. */
export const DEFAULT_RING_SNAPLEN = 160;
export const DEFAULT_RING_MAX_BYTES = 32 * 1024 * 1024;
export const DEFAULT_RING_MAX_SECONDS = 30;

export interface PcapRingOptions {
  /** Memory for records, both halves together (at least 2 × (16 + snaplen)). */
  readonly maxBytes?: number;
  /** snapshot() leaves out records older than this. */
  readonly maxSeconds?: number;
  /** Bytes kept of each frame. */
  readonly snaplen?: number;
  /** Wall-clock milliseconds since the epoch (default: performance.timeOrigin + performance.now()). */
  readonly now?: () => number;
}

export interface PcapRingSnapshot {
  /** A complete pcap file: global header and the records, oldest first. */
  readonly file: Buffer;
  readonly records: number;
  /** Seconds between the first and the last record (0 when fewer than two). */
  readonly seconds: number;
}

export class PcapRingLink implements Link {
  readonly mtu: number;
  readonly offloads: LinkOffloads;
  private readonly halfBytes: number;
  private readonly snaplen: number;
  private readonly maxSeconds: number;
  private readonly now: () => number;
  private current: Buffer;
  private currentLength = 0;
  private older: Buffer;
  private olderLength = 0;
  /** Timestamp of the current wakeup; -1 until a record takes one. */
  private stampSeconds = -1;
  private stampMicros = 0;

  constructor(
    private readonly inner: Link,
    options: PcapRingOptions = {},
  ) {
    this.mtu = inner.mtu;
    this.offloads = inner.offloads;
    this.snaplen = options.snaplen ?? DEFAULT_RING_SNAPLEN;
    if (!(this.snaplen >= 64)) throw new Error(`pcap ring: snaplen ${this.snaplen} is below 64`);
    const maxBytes = options.maxBytes ?? DEFAULT_RING_MAX_BYTES;
    this.halfBytes = Math.floor(maxBytes / 2);
    if (this.halfBytes < RECORD_HEADER_LENGTH + this.snaplen) throw new Error(`pcap ring: ${maxBytes} bytes hold no record`);
    this.maxSeconds = options.maxSeconds ?? DEFAULT_RING_MAX_SECONDS;
    this.now = options.now ?? (() => performance.timeOrigin + performance.now());
    this.current = Buffer.alloc(this.halfBytes);
    this.older = Buffer.alloc(this.halfBytes);
  }

  start(sink: FrameSink): void {
    this.inner.start({
      receiveBatch: (batch: FrameBatch) => {
        for (let i = 0; i < batch.count; i++) {
          const offset = batch.offsets[i];
          this.record(batch.data.subarray(offset, offset + batch.lengths[i]), null);
        }
        this.stampSeconds = -1;
        sink.receiveBatch(batch);
      },
    });
  }

  transmit(head: Uint8Array, body: Uint8Array | null, info?: TxInfo): void {
    this.record(head, body);
    this.inner.transmit(head, body, info);
  }

  flush(): void {
    this.inner.flush();
    this.stampSeconds = -1;
  }

  close(): void {
    this.inner.close();
  }

  /** The records held, newest last, without those older than maxSeconds; a pcap file. */
  snapshot(): PcapRingSnapshot {
    const cutoffMs = this.now() - this.maxSeconds * 1000;
    const parts: Buffer[] = [pcapGlobalHeader(this.snaplen)];
    let records = 0;
    let first = -1;
    let last = -1;
    for (const [buffer, length] of [
      [this.older, this.olderLength],
      [this.current, this.currentLength],
    ] as const) {
      let at = 0;
      let keepFrom = -1;
      while (at + RECORD_HEADER_LENGTH <= length) {
        const ms = buffer.readUInt32LE(at) * 1000 + buffer.readUInt32LE(at + 4) / 1000;
        if (keepFrom < 0 && ms >= cutoffMs) keepFrom = at;
        if (keepFrom >= 0) {
          records++;
          if (first < 0) first = ms;
          last = ms;
        }
        at += RECORD_HEADER_LENGTH + buffer.readUInt32LE(at + 8);
      }
      if (keepFrom >= 0) parts.push(Buffer.from(buffer.subarray(keepFrom, length)));
    }
    return { file: Buffer.concat(parts), records, seconds: records > 1 ? (last - first) / 1000 : 0 };
  }

  private record(head: Uint8Array, body: Uint8Array | null): void {
    const length = head.length + (body === null ? 0 : body.length);
    const captured = Math.min(length, this.snaplen);
    const recordLength = RECORD_HEADER_LENGTH + captured;
    if (this.currentLength + recordLength > this.halfBytes) {
      const full = this.current;
      this.current = this.older;
      this.older = full;
      this.olderLength = this.currentLength;
      this.currentLength = 0;
    }
    if (this.stampSeconds < 0) {
      const ms = this.now();
      this.stampSeconds = Math.floor(ms / 1000);
      this.stampMicros = Math.floor((ms - this.stampSeconds * 1000) * 1000) % 1_000_000;
    }
    const out = this.current;
    let at = this.currentLength;
    out.writeUInt32LE(this.stampSeconds >>> 0, at);
    out.writeUInt32LE(this.stampMicros, at + 4);
    out.writeUInt32LE(captured, at + 8);
    out.writeUInt32LE(length, at + 12);
    at += RECORD_HEADER_LENGTH;
    // Buffer's copy takes any Uint8Array as its source and a range: no view made per frame.
    const fromHead = Math.min(head.length, captured);
    copyBytes.call(head, out, at, 0, fromHead);
    if (body !== null && captured > fromHead) copyBytes.call(body, out, at + fromHead, 0, captured - fromHead);
    this.currentLength += recordLength;
  }
}
