/**
 * A fault-injecting Link decorator: wraps any Link and, in both directions, drops, reorders,
 * duplicates and corrupts frames with given probabilities, from a seeded PRNG so a failing run can be
 * replayed. Used by tests (and by the e2e loss runs) to prove the engine survives a bad network.
 *
 * - drop: the frame is lost.
 * - reorder: the frame is held back and released after the next `reorderDistance` frames in the same
 *   direction, possibly in a later batch / flush (releaseHeld() lets everything held go at once).
 * - duplicate: the frame is delivered twice.
 * - corrupt: one byte past the Ethernet header is flipped (a checksum must catch it).
 *
 * Receive side: faults apply per frame of each batch; the surviving frames are delivered as one batch
 * (copied: the inner link's batch is only valid during the call). Transmit side: frames are copied on
 * transmit() (the engine's head/body buffers change after flush) and faults apply at flush().
 * Offload metadata (TxInfo) is kept with each transmitted frame.
 */
import type { FrameBatch, FrameSink, Link, LinkOffloads, TxInfo } from './link.js';

const ETHERNET_HEADER_LENGTH = 14;

export interface FaultProbabilities {
  drop?: number;
  reorder?: number;
  duplicate?: number;
  corrupt?: number;
}

export interface FaultLinkOptions {
  /** Seed of the PRNG (mulberry32). */
  seed: number;
  /** Faults on frames from the guest to the engine. */
  receive?: FaultProbabilities;
  /** Faults on frames from the engine to the guest. */
  transmit?: FaultProbabilities;
  /** Frames a reordered frame waits behind (default 1). */
  reorderDistance?: number;
}

export interface FaultCounters {
  frames: number;
  dropped: number;
  reordered: number;
  duplicated: number;
  corrupted: number;
}

function newCounters(): FaultCounters {
  return { frames: 0, dropped: 0, reordered: 0, duplicated: 0, corrupted: 0 };
}

/** mulberry32: small, fast, good enough for fault injection. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Held {
  frame: Uint8Array;
  info: TxInfo | null;
  flags: number;
  gsoSize: number;
  /** Frames still to pass before it is released. */
  wait: number;
}

/** Applies faults to a sequence of frames of one direction; keeps reordered frames across calls. */
class FaultPipe {
  readonly counters = newCounters();
  private held: Held[] = [];

  constructor(
    private readonly random: () => number,
    private readonly p: Required<FaultProbabilities>,
    private readonly distance: number,
  ) {}

  /** Runs frames through the faults; returns what comes out, in order. */
  run(frames: Held[]): Held[] {
    const out: Held[] = [];
    for (const f of frames) {
      this.counters.frames++;
      const r = this.random;
      if (this.p.drop > 0 && r() < this.p.drop) {
        this.counters.dropped++;
        this.tick(out);
        continue;
      }
      if (this.p.corrupt > 0 && r() < this.p.corrupt && f.frame.length > ETHERNET_HEADER_LENGTH) {
        const at = ETHERNET_HEADER_LENGTH + Math.floor(r() * (f.frame.length - ETHERNET_HEADER_LENGTH));
        f.frame = new Uint8Array(f.frame); // never touch the caller's bytes
        f.frame[at] ^= 1 << Math.floor(r() * 8);
        f.flags = 0; // a corrupted frame must not claim a verified (or partial) checksum
        this.counters.corrupted++;
      }
      const duplicate = this.p.duplicate > 0 && r() < this.p.duplicate;
      if (this.p.reorder > 0 && r() < this.p.reorder) {
        this.counters.reordered++;
        this.tick(out);
        this.held.push({ ...f, wait: this.distance });
      } else {
        out.push(f);
        this.tick(out);
      }
      if (duplicate) {
        this.counters.duplicated++;
        out.push({ ...f, frame: new Uint8Array(f.frame) });
      }
    }
    return out;
  }

  /** One frame passed: release held frames whose wait is over. */
  private tick(out: Held[]): void {
    if (this.held.length === 0) return;
    const still: Held[] = [];
    for (const h of this.held) {
      if (--h.wait <= 0) out.push(h);
      else still.push(h);
    }
    this.held = still;
  }

  /** Releases every held frame (end of a batch or flush: nothing may be held forever). */
  release(out: Held[]): void {
    for (const h of this.held) out.push(h);
    this.held = [];
  }
}

function probabilities(p: FaultProbabilities | undefined): Required<FaultProbabilities> {
  return { drop: p?.drop ?? 0, reorder: p?.reorder ?? 0, duplicate: p?.duplicate ?? 0, corrupt: p?.corrupt ?? 0 };
}

export class FaultLink implements Link {
  readonly mtu: number;
  readonly offloads: LinkOffloads;
  private readonly rx: FaultPipe;
  private readonly tx: FaultPipe;
  private pending: Held[] = [];
  private sink: FrameSink | null = null;

  constructor(
    private readonly inner: Link,
    options: FaultLinkOptions,
  ) {
    this.mtu = inner.mtu;
    this.offloads = inner.offloads;
    const random = mulberry32(options.seed);
    const distance = Math.max(1, options.reorderDistance ?? 1);
    this.rx = new FaultPipe(random, probabilities(options.receive), distance);
    this.tx = new FaultPipe(random, probabilities(options.transmit), distance);
  }

  /** Counters of the guest → engine direction. */
  get receiveCounters(): Readonly<FaultCounters> {
    return this.rx.counters;
  }

  /** Counters of the engine → guest direction. */
  get transmitCounters(): Readonly<FaultCounters> {
    return this.tx.counters;
  }

  start(sink: FrameSink): void {
    if (this.sink) throw new Error('FaultLink already started');
    this.sink = sink;
    this.inner.start({
      receiveBatch: (batch) => {
        const frames: Held[] = [];
        for (let i = 0; i < batch.count; i++) {
          const at = batch.offsets[i];
          frames.push({
            frame: batch.data.slice(at, at + batch.lengths[i]),
            info: null,
            flags: batch.flags[i],
            gsoSize: batch.gsoSizes?.[i] ?? 0,
            wait: 0,
          });
        }
        const out = this.rx.run(frames);
        if (out.length > 0) sink.receiveBatch(toBatch(out));
      },
    });
  }

  transmit(head: Uint8Array, body: Uint8Array | null, info?: TxInfo): void {
    const frame = new Uint8Array(head.length + (body?.length ?? 0));
    frame.set(head, 0);
    if (body) frame.set(body, head.length);
    this.pending.push({ frame, info: info ? { ...info } : null, flags: 0, gsoSize: 0, wait: 0 });
  }

  flush(): void {
    if (this.pending.length === 0) return;
    const frames = this.pending;
    this.pending = [];
    this.sendOut(this.tx.run(frames));
  }

  private sendOut(out: Held[]): void {
    if (out.length === 0) return;
    for (const f of out) this.inner.transmit(f.frame, null, f.info ?? undefined);
    this.inner.flush();
  }

  /** Lets every held (reordered) frame go now, in both directions. */
  releaseHeld(): void {
    const tx: Held[] = [];
    this.tx.release(tx);
    this.sendOut(tx);
    const rx: Held[] = [];
    this.rx.release(rx);
    if (rx.length > 0 && this.sink) this.sink.receiveBatch(toBatch(rx));
  }

  close(): void {
    this.pending = [];
    this.inner.close();
  }
}

function toBatch(frames: Held[]): FrameBatch {
  let total = 0;
  for (const f of frames) total += f.frame.length;
  const data = new Uint8Array(total);
  const offsets = new Uint32Array(frames.length);
  const lengths = new Uint32Array(frames.length);
  const flags = new Uint8Array(frames.length);
  const gsoSizes = new Uint16Array(frames.length);
  let at = 0;
  frames.forEach((f, i) => {
    data.set(f.frame, at);
    offsets[i] = at;
    lengths[i] = f.frame.length;
    flags[i] = f.flags;
    gsoSizes[i] = f.gsoSize;
    at += f.frame.length;
  });
  return { data, offsets, lengths, flags, count: frames.length, gsoSizes };
}
