/**
 * A Link decorator that tees every frame to and from the guest into a pcap file (`--pcap FILE`):
 * classic libpcap format, LINKTYPE_ETHERNET, microsecond timestamps, readable by tcpdump/tshark.
 *
 * Capture records are gathered in one buffer per wakeup (a received batch, or everything transmitted
 * up to a flush; one timestamp per wakeup) and handed to a write stream in writes of 64 KiB, or 20 ms
 * after the first record when traffic is light; close() writes what is left. The data path
 * never waits for the disk: when the stream's queue is already holding maxQueuedBytes, records are
 * dropped and counted instead (a capture with holes beats a stalled guest). At maxFileBytes the
 * capture stops for good, with one log line.
 *
 * Must never: block or throw on the data path (a disk error ends the capture, not the engine), delay
 * or alter frames, or keep a reference to a received batch after receiveBatch returns.
 * Frames offloaded as TSO super-frames are captured as one record, as tcpdump on the TAP would show
 * them (with their checksum left partial when the engine used checksum offload).
 */
import { closeSync, createWriteStream, openSync, writeSync, type WriteStream } from 'node:fs';
import type { FrameBatch, FrameSink, Link, LinkOffloads, TxInfo } from './link.js';

/** libpcap magic for microsecond timestamps, written in our byte order (readers detect it). */
const PCAP_MAGIC_MICROS = 0xa1b2c3d4;
const LINKTYPE_ETHERNET = 1;
const GLOBAL_HEADER_LENGTH = 24;
const RECORD_HEADER_LENGTH = 16;
/** tcpdump's default snaplen: room for any TSO super-frame (64 KiB + headers). */
export const PCAP_SNAPLEN = 262_144;

export const DEFAULT_PCAP_MAX_FILE_BYTES = 1 << 30;
/** Gathered records are written once they reach this many bytes… */
const WRITE_BYTES = 64 * 1024;
/** …or this long after the first of them, whichever comes first. */
const WRITE_DELAY_MS = 20;
/** Initial size of the gathering buffer (grows for super-frames). */
const PENDING_BYTES = 128 * 1024;
export const DEFAULT_PCAP_MAX_QUEUED_BYTES = 8 << 20;

export interface PcapLinkOptions {
  /** The capture file; created (mode 0600) or truncated. */
  readonly path: string;
  /** Stop capturing once the file would grow past this (default 1 GiB). */
  readonly maxFileBytes?: number;
  /** Drop records while the write stream holds this much unwritten (default 8 MiB). */
  readonly maxQueuedBytes?: number;
  /** Wall-clock milliseconds since the epoch for timestamps (default Date.now; tests pass a fake). */
  readonly now?: () => number;
  /** Told once when the cap is reached or the file cannot be written (the CLI logs it). */
  readonly onStop?: (reason: string) => void;
}

export interface PcapStats {
  /** Records handed to the file (including any still queued). */
  recordsWritten: number;
  /** Bytes of the file so far, global header included. */
  bytesWritten: number;
  /** Records dropped because the write stream was full (the disk is slower than the link). */
  recordsDroppedQueueFull: number;
  /** Records not written because the size cap was reached or the file failed. */
  recordsDroppedStopped: number;
}

/** The 24-byte pcap global header, host byte order (as libpcap writes it). */
export function pcapGlobalHeader(snaplen = PCAP_SNAPLEN): Buffer {
  const header = Buffer.alloc(GLOBAL_HEADER_LENGTH);
  header.writeUInt32LE(PCAP_MAGIC_MICROS, 0);
  header.writeUInt16LE(2, 4); // version 2.4
  header.writeUInt16LE(4, 6);
  header.writeInt32LE(0, 8); // thiszone
  header.writeUInt32LE(0, 12); // sigfigs
  header.writeUInt32LE(snaplen, 16);
  header.writeUInt32LE(LINKTYPE_ETHERNET, 20);
  return header;
}

export class PcapLink implements Link {
  readonly mtu: number;
  readonly offloads: LinkOffloads;
  private readonly stream: WriteStream;
  private readonly maxFileBytes: number;
  private readonly maxQueuedBytes: number;
  private readonly now: () => number;
  private readonly onStop: ((reason: string) => void) | undefined;
  private readonly statsValue: PcapStats;
  /** Records not yet handed to the stream (gathered over wakeups up to WRITE_BYTES or WRITE_DELAY_MS). */
  private pending: Buffer = Buffer.allocUnsafe(PENDING_BYTES);
  private pendingLength = 0;
  private pendingRecords = 0;
  private writeTimer: NodeJS.Timeout | undefined;
  /** Timestamp of the current wakeup (one per batch, as the frames arrived together); -1: not taken. */
  private stampSeconds = -1;
  private stampMicros = 0;
  /** No more records: the size cap was reached or the file failed. */
  private stopped = false;
  /** The file failed: even records already gathered are dropped. */
  private failed = false;
  private closed = false;
  private readonly finished: Promise<void>;

  constructor(
    private readonly inner: Link,
    options: PcapLinkOptions,
  ) {
    this.mtu = inner.mtu;
    this.offloads = inner.offloads;
    this.maxFileBytes = options.maxFileBytes ?? DEFAULT_PCAP_MAX_FILE_BYTES;
    this.maxQueuedBytes = options.maxQueuedBytes ?? DEFAULT_PCAP_MAX_QUEUED_BYTES;
    // performance.timeOrigin + now(): wall time with sub-millisecond resolution for the µs field.
    this.now = options.now ?? (() => performance.timeOrigin + performance.now());
    this.onStop = options.onStop;
    // Opened synchronously so a bad path fails at start-up, with the header already in place.
    const fd = openSync(options.path, 'w', 0o600);
    try {
      writeSync(fd, pcapGlobalHeader());
    } catch (error) {
      closeSync(fd);
      throw error;
    }
    this.statsValue = { recordsWritten: 0, bytesWritten: GLOBAL_HEADER_LENGTH, recordsDroppedQueueFull: 0, recordsDroppedStopped: 0 };
    this.stream = createWriteStream('', { fd, autoClose: true });
    this.finished = new Promise((resolve) => this.stream.once('close', () => resolve()));
    this.stream.on('error', (error) => {
      this.failed = true;
      this.stop(`pcap: cannot write capture file: ${error.message}; capture stopped`);
    });
  }

  start(sink: FrameSink): void {
    const tee: FrameSink = {
      receiveBatch: (batch: FrameBatch) => {
        if (!this.closed) this.recordBatch(batch);
        this.endOfWakeup();
        sink.receiveBatch(batch);
      },
    };
    this.inner.start(tee);
  }

  transmit(head: Uint8Array, body: Uint8Array | null, info?: TxInfo): void {
    if (!this.closed) this.record(head, body);
    this.inner.transmit(head, body, info);
  }

  flush(): void {
    this.inner.flush();
    this.endOfWakeup();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.inner.close();
    this.writeOut();
    this.stream.end();
  }

  /** Resolves once close() was called and everything queued reached the file. */
  whenClosed(): Promise<void> {
    return this.finished;
  }

  stats(): PcapStats {
    const stats = { ...this.statsValue };
    if (!this.failed) {
      stats.recordsWritten += this.pendingRecords;
      stats.bytesWritten += this.pendingLength;
    }
    return stats;
  }

  private recordBatch(batch: FrameBatch): void {
    for (let i = 0; i < batch.count; i++) {
      const offset = batch.offsets[i];
      this.record(batch.data.subarray(offset, offset + batch.lengths[i]), null);
    }
  }

  private record(head: Uint8Array, body: Uint8Array | null): void {
    const stats = this.statsValue;
    if (this.stopped) {
      stats.recordsDroppedStopped++;
      return;
    }
    const length = head.length + (body === null ? 0 : body.length);
    const captured = Math.min(length, PCAP_SNAPLEN);
    const recordLength = RECORD_HEADER_LENGTH + captured;
    if (stats.bytesWritten + this.pendingLength + recordLength > this.maxFileBytes) {
      this.stop(`pcap: capture file reached its size cap of ${this.maxFileBytes} bytes; capture stopped`);
      stats.recordsDroppedStopped++;
      return;
    }
    if (this.stream.writableLength + this.pendingLength + recordLength > this.maxQueuedBytes) {
      stats.recordsDroppedQueueFull++;
      return;
    }
    this.reserve(recordLength);
    const out = this.pending;
    let at = this.pendingLength;
    if (this.stampSeconds < 0) {
      const ms = this.now();
      this.stampSeconds = Math.floor(ms / 1000);
      this.stampMicros = Math.floor((ms - this.stampSeconds * 1000) * 1000) % 1_000_000;
    }
    out.writeUInt32LE(this.stampSeconds >>> 0, at);
    out.writeUInt32LE(this.stampMicros, at + 4);
    out.writeUInt32LE(captured, at + 8);
    out.writeUInt32LE(length, at + 12);
    at += RECORD_HEADER_LENGTH;
    if (captured === length) {
      // The common case: whole frame, no views to make.
      out.set(head, at);
      if (body !== null) out.set(body, at + head.length);
    } else {
      const headPart = Math.min(head.length, captured);
      out.set(headPart === head.length ? head : head.subarray(0, headPart), at);
      if (body !== null && captured > headPart) out.set(body.subarray(0, captured - headPart), at + headPart);
    }
    this.pendingLength += recordLength;
    this.pendingRecords++;
  }

  private reserve(extra: number): void {
    if (this.pendingLength + extra <= this.pending.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.pending.length * 2, this.pendingLength + extra));
    this.pending.copy(grown, 0, 0, this.pendingLength);
    this.pending = grown;
  }

  /**
   * End of a wakeup: the next record gets a new timestamp; the gathered records go to the stream
   * once they fill WRITE_BYTES, else within WRITE_DELAY_MS, so a busy link costs one write per
   * 64 KiB and an idle one still reaches the disk promptly.
   */
  private endOfWakeup(): void {
    this.stampSeconds = -1;
    if (this.pendingLength >= WRITE_BYTES) this.writeOut();
    else if (this.pendingLength > 0 && this.writeTimer === undefined) {
      this.writeTimer = setTimeout(() => {
        this.writeTimer = undefined;
        this.writeOut();
      }, WRITE_DELAY_MS);
      this.writeTimer.unref();
    }
  }

  /** Hands the gathered records to the stream in one write; the stream owns that buffer afterwards. */
  private writeOut(): void {
    if (this.writeTimer !== undefined) {
      clearTimeout(this.writeTimer);
      this.writeTimer = undefined;
    }
    if (this.pendingLength === 0) return;
    const stats = this.statsValue;
    if (this.failed) {
      stats.recordsDroppedStopped += this.pendingRecords;
    } else {
      this.stream.write(this.pending.subarray(0, this.pendingLength));
      stats.recordsWritten += this.pendingRecords;
      stats.bytesWritten += this.pendingLength;
      this.pending = Buffer.allocUnsafe(Math.max(PENDING_BYTES, Math.min(this.pending.length, 1 << 20)));
    }
    this.pendingLength = 0;
    this.pendingRecords = 0;
  }

  private stop(reason: string): void {
    if (this.stopped) return;
    this.stopped = true;
    this.onStop?.(reason);
  }
}
