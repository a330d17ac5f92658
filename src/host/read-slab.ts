/**
 * Where a host TCP socket's reads land (DESIGN.md §5), for both host TCP ports (native-tcp-port.ts,
 * node-tcp-port.ts): a run of slabs, each read right after the previous one, so the engine's send
 * queue sees one contiguous run of bytes and cuts 64 KiB segments out of it as views, copying only
 * where a segment straddles two slabs. A slab starts small (an idle flow costs little) and doubles up
 * to SLAB_MAX while a flow keeps reading. No slab at all until the first byte: a socket without a slab
 * is given one LANDING buffer shared by all, and its first read is copied from there into a slab of
 * its own (take() runs right after the read, so nothing else can land in between). A connection that
 * never carries data (a refused connect, a storm of SYNs) never allocates one. The engine tells us
 * (release) as the guest acknowledges bytes: a slab whose bytes are all acknowledged is read into
 * again (the current one from its start, full-size retired ones through a small shared pool), so a
 * bulk flow cycles through a few slabs instead of leaving a megabyte of garbage per megabyte read
 * for the garbage collector to find. When a flow ends, its slabs whose bytes were all released go
 * back to the pools too: a short connection leaves no 64 KiB slab behind (at 2k connections/s that
 * garbage drove major GCs and page faults). An idle flow holds no slab either, where the caller asks
 * for a region only right before each read (`{ regionOnlyWhileReading: true }`, native-tcp-port.ts):
 * once the guest has acknowledged every byte, the slab goes back to its pool (measured: 1000 idle
 * connections after 100 bytes each way kept 1000 first slabs, ~5 KB of touched heap each, a third
 * of their marginal RSS; bench/memory.ts --only=conns). Node's onread holds its region between reads,
 * so there the slab stays and is read into from its start again. Never reads or writes a socket itself.
 */
const SLAB_MIN = 64 * 1024;
const SLAB_MAX = 1024 * 1024;
/**
 * Most bytes one read may take. Smaller than a slab on purpose: a read fills whatever region it is
 * given when the host is fast, so several reads per slab are what makes them contiguous.
 */
const READ_MAX = 128 * 1024;
/** A read region smaller than this is not worth a syscall: start a new slab. */
const MIN_READ = 16 * 1024;
/**
 * Fully acknowledged SLAB_MAX slabs kept for reuse, shared by all flows (an idle flow holds only its
 * current slab). One batch of guest ACKs often releases several megabytes at once and the host
 * refills them just as fast, so a bulk flow cycles through about SEND_BUFFER / SLAB_MAX + 1 slabs:
 * with fewer spare slots it needed a fresh megabyte per megabyte read again. Bounded, so a burst of
 * many flows leaves at most this much behind.
 */
const POOL_SLABS = 8;
const pool: Uint8Array[] = [];
/**
 * Where every socket without a slab of its own reads (see the head comment); its first read is
 * copied out at once. 16 KiB: a first read larger than that continues into the socket's own slab.
 */
const LANDING = unfilled(16 * 1024);
/** SLAB_MIN slabs of finished flows kept for the next flows' first reads (1 MiB at most). */
const FIRST_SLABS = 16;
const firstSlabs: Uint8Array[] = [];

const NO_SLAB = new Uint8Array(0);

/**
 * size bytes, not zeroed (Buffer.allocUnsafe's memory), as a plain Uint8Array: a Buffer's subarray
 * is Node's JavaScript override (a FastBuffer constructed per call), a Uint8Array's V8's builtin;
 * the engine cuts views out of every read.
 */
function unfilled(size: number): Uint8Array {
  const bytes = Buffer.allocUnsafe(size);
  return new Uint8Array(bytes.buffer, bytes.byteOffset, size);
}

/** A slab and how many of the bytes read into it the guest has not acknowledged yet. */
interface SlabUse {
  buffer: Uint8Array;
  unreleased: number;
}

export interface ReadSlabOptions {
  /**
   * Every region() is followed, before anything else can release bytes, by take() or unclaimed():
   * the caller never holds a region between reads. Then a flow whose bytes are all acknowledged
   * gives its slab back and holds none while idle, and its first read after that goes straight into
   * a pooled slab (no landing copy). Not for Node's onread, which keeps a region until data comes.
   */
  readonly regionOnlyWhileReading?: boolean;
}

/**
 * Where one outbound socket's reads land: a run of slabs, each read right after the last. Bytes are
 * released in the order they were read, so the oldest slab in `held` is always the one they
 * belong to.
 */
export class ReadSlab {
  private slab: Uint8Array = NO_SLAB;
  private used = 0;
  /** Where the last region handed to Node starts: take() claims from there. */
  private regionAt = 0;
  /** The last region handed to Node is the shared LANDING buffer (no slab of our own yet). */
  private landing = false;
  private nextSize = SLAB_MIN;
  /** Slabs with bytes the engine may still hold, oldest first; the last is the current slab. */
  private readonly held: SlabUse[] = [];
  /** The record of the last slab given back while idle, reused for the next (none allocated per burst). */
  private spareUse: SlabUse | null = null;
  private readonly regionOnlyWhileReading: boolean;

  constructor(options: ReadSlabOptions = {}) {
    this.regionOnlyWhileReading = options.regionOnlyWhileReading ?? false;
  }

  /** The region for the next read (called by Node when the socket connects and after each read). */
  region = (): Uint8Array => {
    if (this.held.length === 0 && !this.regionOnlyWhileReading) {
      this.landing = true;
      return LANDING;
    }
    return this.ownRegion();
  };

  /**
   * The region last handed out was not read into (the read found nothing, the end, or an error).
   * With regionOnlyWhileReading, a slab that holds nothing then goes back to its pool at once.
   */
  unclaimed(): void {
    if (this.regionOnlyWhileReading) this.giveBackIfIdle();
  }

  /**
   * Readies the next read's region without making a view of it, for a caller that reads at an
   * offset (the native port: a view per read was a typed array allocated, and a generic `subarray`
   * load in optimized code): the read goes into regionBytes from regionStart, regionLength bytes at
   * most; take() or unclaimed() follow, as after region(). Only with regionOnlyWhileReading.
   */
  prepareRegion(): void {
    this.landing = false;
    if (this.slab.length - this.used < MIN_READ) this.nextSlab();
    this.regionAt = this.used;
  }

  /** The slab prepareRegion() readied (valid until take() or unclaimed()). */
  get regionBytes(): Uint8Array {
    return this.slab;
  }

  get regionStart(): number {
    return this.regionAt;
  }

  get regionLength(): number {
    return Math.min(READ_MAX, this.slab.length - this.regionAt);
  }

  private ownRegion(): Uint8Array {
    this.prepareRegion();
    return this.slab.subarray(this.used, this.used + READ_MAX);
  }

  /**
   * Copies bytes someone else read (an adopted socket's 'data' Buffer) into the slab, right after
   * the previous ones, handing each contiguous piece to deliver: the engine's queue merges them, so
   * its segments stay views. That costs one copy per byte (about 6% of the CPU of a bulk flow at
   * MTU 65520), less than the tiny segments handing over each read separately produced.
   */
  copyIn(bytes: Uint8Array, deliver: (chunk: Uint8Array) => void): void {
    let at = 0;
    while (at < bytes.length) {
      const region = this.ownRegion();
      const n = Math.min(region.length, bytes.length - at);
      region.set(bytes.subarray(at, at + n));
      at += n;
      deliver(this.take(n));
    }
  }

  /** Claims the n bytes just read and returns them as a view the engine may keep. */
  take(n: number): Uint8Array {
    if (this.landing) {
      // The first read went to the shared buffer: move it into a slab of our own before anyone reads again.
      if (n === 0) return LANDING.subarray(0, 0);
      this.ownRegion().set(LANDING.subarray(0, n));
    }
    const chunk = this.slab.subarray(this.regionAt, this.regionAt + n);
    this.used = this.regionAt + n;
    if (n > 0) this.held[this.held.length - 1].unreleased += n;
    return chunk;
  }

  /** The engine no longer holds the oldest `bytes` it was given. */
  release(bytes: number): void {
    while (bytes > 0 && this.held.length > 0) {
      const oldest = this.held[0];
      const n = Math.min(bytes, oldest.unreleased);
      oldest.unreleased -= n;
      bytes -= n;
      if (oldest.unreleased > 0) break;
      if (this.held.length === 1) {
        // Nothing held at all: an idle flow keeps no slab (where no region is out), else it reads
        // into the current slab from its start again.
        this.used = 0;
        if (this.regionOnlyWhileReading) this.giveBackIfIdle();
        break;
      }
      this.held.shift();
      this.recycle(oldest.buffer);
    }
  }

  /**
   * The flow is over (its socket destroyed: no read lands here any more). Slabs whose bytes the
   * engine has all released go back to the pools; one it still holds views into is left to the
   * garbage collector. Idempotent.
   */
  dispose(): void {
    for (const use of this.held) if (use.unreleased === 0) this.recycle(use.buffer);
    // pop, not length = 0: the length setter is a runtime call (once per finished flow).
    while (this.held.length > 0) this.held.pop();
    this.slab = NO_SLAB;
    this.used = 0;
    this.regionAt = 0;
  }

  /**
   * The only slab holds no byte the engine may still read: back to its pool, if it is of a size the
   * pools keep (SLAB_MIN, SLAB_MAX). The next slab is of the same size, from the pool again: a bulk
   * flow pausing between bursts does not grow anew. A slab of a size between them (a flow that read a
   * few hundred KiB) is kept and read from its start again: giving it back would mean allocating
   * the sizes up to it again for the next burst, garbage the pools cannot absorb.
   */
  private giveBackIfIdle(): void {
    if (this.held.length !== 1) return;
    const only = this.held[0];
    const size = only.buffer.length;
    if (only.unreleased !== 0 || this.used !== 0 || (size !== SLAB_MIN && size !== SLAB_MAX)) return;
    // pop, not length = 0: that frees the array's backing store (a runtime call), and the next read's
    // push allocates it again (another): ~0.1 µs per request/response round trip together.
    this.held.pop();
    this.recycle(only.buffer);
    this.nextSize = size;
    only.buffer = NO_SLAB;
    this.spareUse = only;
    this.slab = NO_SLAB;
    this.regionAt = 0;
  }

  private nextSlab(): void {
    // held[-1] of an empty list would be a named-property lookup (a runtime call), not an element load.
    const current = this.held.length > 0 ? this.held[this.held.length - 1] : undefined;
    if (current !== undefined && current.unreleased === 0) {
      this.held.pop();
      this.recycle(current.buffer);
    }
    const size = this.nextSize;
    this.slab = (size === SLAB_MAX ? pool.pop() : size === SLAB_MIN ? firstSlabs.pop() : undefined) ?? unfilled(size);
    this.used = 0;
    const use = this.spareUse ?? { buffer: this.slab, unreleased: 0 };
    this.spareUse = null;
    use.buffer = this.slab;
    use.unreleased = 0;
    this.held.push(use);
    this.nextSize = Math.min(size * 2, SLAB_MAX);
  }

  private recycle(buffer: Uint8Array): void {
    if (buffer.length === SLAB_MAX && pool.length < POOL_SLABS) pool.push(buffer);
    else if (buffer.length === SLAB_MIN && firstSlabs.length < FIRST_SLABS) firstSlabs.push(buffer);
  }
}
