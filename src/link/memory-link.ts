/**
 * A Link in memory, for tests and for embedding the engine in another program: inject() hands the
 * engine a batch of frames as a device would; what the engine transmits is collected per flush and
 * passed to an optional listener (a peer, a capture, a fault injector) and kept for take().
 *
 * Not on a hot path in production: it copies each frame once so tests can keep them.
 */
import { NO_OFFLOADS, type FrameBatch, type FrameSink, type Link, type LinkOffloads, type TxInfo } from './link.js';

export interface MemoryLinkOptions {
  mtu?: number;
  offloads?: LinkOffloads;
  /** Called with the frames of each flush, in order. */
  onTransmit?: (frames: Uint8Array[]) => void;
  /** Keep transmitted frames for take() (default true). Turn off for long-running embedding. */
  keep?: boolean;
}

export class MemoryLink implements Link {
  readonly mtu: number;
  readonly offloads: LinkOffloads;
  private sink: FrameSink | null = null;
  private pending: Uint8Array[] = [];
  private sent: Uint8Array[] = [];
  private readonly keep: boolean;
  private closed = false;
  /** Offload metadata of transmitted frames, parallel to the frames take() returns. */
  private sentInfo: (TxInfo | null)[] = [];
  private pendingInfo: (TxInfo | null)[] = [];
  onTransmit: ((frames: Uint8Array[]) => void) | undefined;

  constructor(options: MemoryLinkOptions = {}) {
    this.mtu = options.mtu ?? 1500;
    this.offloads = options.offloads ?? NO_OFFLOADS;
    this.onTransmit = options.onTransmit;
    this.keep = options.keep ?? true;
  }

  start(sink: FrameSink): void {
    if (this.sink) throw new Error('MemoryLink already started');
    this.sink = sink;
  }

  /** Delivers frames to the engine as one batch. flags[i] may carry FRAME_CHECKSUM_* bits. */
  inject(frames: Uint8Array | readonly Uint8Array[], flags?: readonly number[]): void {
    if (!this.sink || this.closed) return;
    const list = frames instanceof Uint8Array ? [frames] : frames;
    let total = 0;
    for (const f of list) total += f.length;
    const data = new Uint8Array(total);
    const offsets = new Uint32Array(list.length);
    const lengths = new Uint32Array(list.length);
    const frameFlags = new Uint8Array(list.length);
    let at = 0;
    list.forEach((f, i) => {
      data.set(f, at);
      offsets[i] = at;
      lengths[i] = f.length;
      frameFlags[i] = flags?.[i] ?? 0;
      at += f.length;
    });
    const batch: FrameBatch = { data, offsets, lengths, flags: frameFlags, count: list.length };
    this.sink.receiveBatch(batch);
  }

  transmit(head: Uint8Array, body: Uint8Array | null, info?: TxInfo): void {
    if (this.closed) return;
    const frame = new Uint8Array(head.length + (body?.length ?? 0));
    frame.set(head, 0);
    if (body) frame.set(body, head.length);
    this.pending.push(frame);
    this.pendingInfo.push(info && (info.gsoSize > 0 || info.checksumStart > 0) ? { ...info } : null);
  }

  flush(): void {
    if (this.pending.length === 0) return;
    const frames = this.pending;
    const infos = this.pendingInfo;
    this.pending = [];
    this.pendingInfo = [];
    if (this.keep) {
      this.sent.push(...frames);
      this.sentInfo.push(...infos);
    }
    this.onTransmit?.(frames);
  }

  /** Returns and forgets every frame transmitted (and flushed) so far. */
  take(): Uint8Array[] {
    const frames = this.sent;
    this.sent = [];
    this.sentInfo = [];
    return frames;
  }

  /** Like take(), with each frame's offload metadata (null when none). */
  takeWithInfo(): { frame: Uint8Array; info: TxInfo | null }[] {
    const out = this.sent.map((frame, i) => ({ frame, info: this.sentInfo[i] ?? null }));
    this.sent = [];
    this.sentInfo = [];
    return out;
  }

  close(): void {
    this.closed = true;
  }
}
