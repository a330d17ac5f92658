/**
 * The Link on a real TAP device inside the guest's network namespace (slirp4netns's job).
 *
 * openTap() joins the namespace and opens (and with `configure`, sets up) the TAP through the native
 * addon; TapLink then moves frames. Received frames come as batches in one of two native areas,
 * presented as FrameBatches whose typed arrays are created once and reused: under light traffic the
 * event loop reads the TAP itself (no thread switch between a guest frame and the engine), under a
 * heavy stream a native reader thread fills one area while the engine works on the other (see
 * native/tap_io.c for when it switches). transmit() copies each frame into a preallocated tx area
 * and flush() writes them all natively. When a heavy stream is over (onBatch count 0) and nothing is queued,
 * the transmit area's extra pages go back to the kernel (tapIoReleaseTx).
 *
 * Must never: allocate per received frame, hand the sink a batch after close(), or keep the batch
 * after receiveBatch returns (the native thread refills it). Knows frames, never protocols.
 */
import { constants } from 'node:os';
import {
  FRAME_CHECKSUM_PARTIAL,
  FRAME_CHECKSUM_VALID,
  NO_OFFLOADS,
  type FrameBatch,
  type FrameSink,
  type Link,
  type LinkOffloads,
  type TxInfo,
} from './link.js';
import {
  loadNativeAddon,
  NATIVE_OFFLOAD_CSUM,
  NATIVE_OFFLOAD_TSO4,
  NATIVE_OFFLOAD_TSO6,
  TX_CSUM_OFFSET,
  TX_CSUM_START,
  TX_DESC_WORDS,
  TX_GSO_IPV6,
  TX_GSO_SIZE,
  TX_HDR_LEN,
  TX_LENGTH,
  TX_OFFSET,
  type NativeAddon,
  type NativeAttachResult,
  type NativeTapIo,
  type NativeTapStats,
} from '../native/native-addon.js';
import { DEFAULT_TAP_MTU, resolveAttachRequest, type OpenTapOptions } from './tap-options.js';

export type { OpenTapOptions, TapConfigureOptions, TapTarget } from './tap-options.js';

// Keep the two flag sets in step with native/tap_io.c, which writes them.
const NATIVE_FRAME_PARTIAL = 1;
const NATIVE_FRAME_VALID = 2;
if (NATIVE_FRAME_PARTIAL !== FRAME_CHECKSUM_PARTIAL || NATIVE_FRAME_VALID !== FRAME_CHECKSUM_VALID) {
  throw new Error('FRAME_CHECKSUM_* differ from the native flags');
}

/**
 * Sizes of the shared areas; the defaults hold ~15 max-size super-frames per receive batch or ~1000
 * small frames, and ~15 super-frames queued to send (a flush comes earlier when it is full). RSS
 * follows the most any batch or flush ever used (pages are backed once written, and given back when
 * a stream ends: native/tap_io.c). 1 MiB areas instead of 2 MiB (rx) and 4 MiB (tx): the bulk peak
 * of bench/memory.ts ~4 MiB lower, throughput equal within noise (tcp-iperf A/B against the larger
 * areas, bench/results/tcp-iperf-2026-12-06.md, 22:35).
 */
export interface TapBufferOptions {
  /** Bytes per receive batch area (two areas exist). */
  readonly batchBytes?: number;
  /** Frames per receive batch. */
  readonly maxFrames?: number;
  /** Bytes of the transmit area (flushed early when full). */
  readonly txBytes?: number;
  /** Frames per flush (flushed early when reached). */
  readonly txMaxFrames?: number;
}

export interface TapLinkOptions extends OpenTapOptions, TapBufferOptions {
  /** The reader stopped on a device error (e.g. the namespace is gone). Default: throw it. */
  readonly onError?: (error: Error) => void;
}

export interface TapLinkStats extends NativeTapStats {
  /** Frames refused by transmit() because they do not fit the tx area at all. */
  txOversize: number;
}

const DEFAULT_BATCH_BYTES = 1 << 20;
const DEFAULT_MAX_FRAMES = 1024;
const DEFAULT_TX_BYTES = 1 << 20;
const DEFAULT_TX_MAX_FRAMES = 2048;

/** One reusable FrameBatch over one of the two native batch areas. */
class TapFrameBatch implements FrameBatch {
  count = 0;
  constructor(
    readonly data: Uint8Array,
    readonly offsets: Uint32Array,
    readonly lengths: Uint32Array,
    readonly flags: Uint8Array,
    readonly gsoSizes: Uint16Array,
  ) {}
}

function makeBatches(io: NativeTapIo, batchBytes: number, maxFrames: number): [TapFrameBatch, TapFrameBatch] {
  const batch = (b: number): TapFrameBatch =>
    new TapFrameBatch(
      new Uint8Array(io.rxData, b * batchBytes, batchBytes),
      new Uint32Array(io.rxOffsets, b * maxFrames * 4, maxFrames),
      new Uint32Array(io.rxLengths, b * maxFrames * 4, maxFrames),
      new Uint8Array(io.rxFlags, b * maxFrames, maxFrames),
      new Uint16Array(io.rxGso, b * maxFrames * 2, maxFrames),
    );
  return [batch(0), batch(1)];
}

function offloadsFrom(vnetHdrSize: number, bits: number): LinkOffloads {
  if (vnetHdrSize === 0) return NO_OFFLOADS;
  return Object.freeze({
    // Partial checksums only arrive when the kernel was told we can take them (TUN_F_CSUM).
    rxChecksumPartial: (bits & NATIVE_OFFLOAD_CSUM) !== 0,
    // Writing GSO/NEEDS_CSUM frames needs only the vnet header: the guest kernel finishes them.
    tso: true,
    txChecksumOffload: true,
  });
}

function errnoError(errno: number): Error {
  const name = Object.entries(constants.errno).find(([, value]) => value === errno)?.[0] ?? `errno ${errno}`;
  return new Error(`tap read failed: ${name} (the device or its namespace is gone?)`);
}

export class TapLink implements Link {
  readonly mtu: number;
  readonly offloads: LinkOffloads;
  /** The device name the kernel gave (the requested one, or tapN for a "tap%d" pattern). */
  readonly name: string;
  /** True when the kernel agreed to hand us TSO super-frames (TUN_F_TSO4|TSO6). */
  readonly rxTso: boolean;
  private readonly handle: object;
  private readonly batches: [TapFrameBatch, TapFrameBatch];
  private readonly txData: Uint8Array;
  private readonly txDesc: Uint32Array;
  private readonly txMaxFrames: number;
  private readonly vnet: boolean;
  private readonly onError: ((error: Error) => void) | undefined;
  private txCount = 0;
  private txPos = 0;
  private txOversize = 0;
  private sink: FrameSink | null = null;
  private closed = false;

  /** Prefer openTap(); this takes over an fd the addon's attach() returned. */
  constructor(
    private readonly addon: NativeAddon,
    fd: number,
    attached: { ifname: string; vnetHdrSize: number; offloads: number },
    mtu: number,
    options: TapBufferOptions & { onError?: (error: Error) => void } = {},
  ) {
    const batchBytes = options.batchBytes ?? DEFAULT_BATCH_BYTES;
    const maxFrames = options.maxFrames ?? DEFAULT_MAX_FRAMES;
    this.txMaxFrames = options.txMaxFrames ?? DEFAULT_TX_MAX_FRAMES;
    const io = addon.tapIoCreate(
      fd,
      attached.vnetHdrSize,
      batchBytes,
      maxFrames,
      options.txBytes ?? DEFAULT_TX_BYTES,
      this.txMaxFrames,
    );
    this.handle = io.handle;
    this.batches = makeBatches(io, batchBytes, maxFrames);
    this.txData = new Uint8Array(io.txData);
    this.txDesc = new Uint32Array(io.txDesc);
    this.mtu = mtu;
    this.name = attached.ifname;
    this.vnet = attached.vnetHdrSize > 0;
    this.offloads = offloadsFrom(attached.vnetHdrSize, attached.offloads);
    this.rxTso = (attached.offloads & (NATIVE_OFFLOAD_TSO4 | NATIVE_OFFLOAD_TSO6)) !== 0;
    this.onError = options.onError;
  }

  start(sink: FrameSink): void {
    if (this.closed) throw new Error('tap link is closed');
    if (this.sink) throw new Error('tap link already started');
    this.sink = sink;
    this.addon.tapIoStart(this.handle, (batch, count) => this.deliver(batch, count));
  }

  transmit(head: Uint8Array, body: Uint8Array | null, info?: TxInfo): void {
    if (this.closed) return;
    const length = head.length + (body === null ? 0 : body.length);
    if (length > this.txData.length) {
      this.txOversize++;
      return;
    }
    if (this.txCount === this.txMaxFrames || this.txPos + length > this.txData.length) this.flush();
    const at = this.txPos;
    this.txData.set(head, at);
    if (body !== null) this.txData.set(body, at + head.length);
    const d = this.txCount * TX_DESC_WORDS;
    const desc = this.txDesc;
    desc[d + TX_OFFSET] = at;
    desc[d + TX_LENGTH] = length;
    if (info !== undefined && this.vnet) {
      desc[d + TX_GSO_SIZE] = info.gsoSize;
      desc[d + TX_GSO_IPV6] = info.gsoIpv6 ? 1 : 0;
      desc[d + TX_HDR_LEN] = info.headerLength;
      desc[d + TX_CSUM_START] = info.checksumStart;
      desc[d + TX_CSUM_OFFSET] = info.checksumOffset;
    } else {
      desc[d + TX_GSO_SIZE] = 0;
      desc[d + TX_CSUM_START] = 0;
    }
    // 8-byte aligned starts: the next frame's copy begins on a word boundary.
    this.txPos = (at + length + 7) & ~7;
    this.txCount++;
  }

  flush(): void {
    if (this.txCount === 0) return;
    const count = this.txCount;
    this.txCount = 0;
    this.txPos = 0;
    if (!this.closed) this.addon.tapIoFlush(this.handle, count);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.txCount = 0;
    this.addon.tapIoClose(this.handle);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  stats(): TapLinkStats {
    return { ...this.addon.tapIoStats(this.handle), txOversize: this.txOversize };
  }

  private deliver(batchIndex: number, count: number): void {
    if (this.closed || this.sink === null) return;
    if (count === 0) {
      // A heavy stream is over: the transmit area's peak goes back too, unless frames wait in it.
      if (this.txCount === 0) this.addon.tapIoReleaseTx(this.handle);
      return;
    }
    if (count < 0) {
      const error = errnoError(-count);
      if (this.onError) this.onError(error);
      else throw error;
      return;
    }
    const batch = this.batches[batchIndex];
    batch.count = count;
    this.sink.receiveBatch(batch);
  }
}

/**
 * Takes over a TAP that was attached before this process started (the launcher, bin/tslirp, attaches
 * while single-threaded and passes the fd on): checks with the kernel that fd is the TAP attached
 * says, with the same virtio header, then works as openTap()'s link. Throws a one-line Error.
 */
export function adoptTap(fd: number, attached: NativeAttachResult, options: TapLinkOptions): TapLink {
  const addon = loadNativeAddon();
  const actual = addon.tapInfo(fd);
  if (actual.ifname !== attached.ifname || actual.vnetHdrSize !== attached.vnetHdrSize) {
    throw new Error(`fd ${fd} is TAP ${actual.ifname} (vnet header ${actual.vnetHdrSize}), not ${attached.ifname} (${attached.vnetHdrSize})`);
  }
  return new TapLink(addon, fd, attached, options.mtu ?? options.configure?.mtu ?? DEFAULT_TAP_MTU, options);
}

/**
 * Joins the target's namespaces, opens the TAP (creating and configuring it when asked) and returns
 * the link, not yet started. Throws an Error with a one-line message when anything fails.
 */
export function openTap(options: TapLinkOptions): TapLink {
  const request = resolveAttachRequest(options);
  const addon = loadNativeAddon();
  const attached = addon.attach(request);
  const mtu = options.mtu ?? options.configure?.mtu ?? DEFAULT_TAP_MTU;
  return new TapLink(addon, attached.fd, attached, mtu, options);
}
