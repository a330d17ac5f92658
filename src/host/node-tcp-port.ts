/**
 * The TCP engine's host-socket port on Node's net.Socket: outbound connections for guest flows, and
 * adoption of sockets a published port accepted. Sockets are half-open capable (allowHalfOpen), have
 * Nagle off (we forward what we read, already coalesced per wakeup), and start paused: the engine
 * resumes them once the guest completed its handshake.
 *
 * Outbound sockets read with `onread: { buffer, callback }` straight into a slab this module owns
 * (DESIGN.md §5): each read lands right after the previous one, so the engine's send queue sees one
 * contiguous run of bytes and cuts 64 KiB segments out of it as views, copying only where a segment
 * straddles two slabs; returning
 * false from the callback stops reading (backpressure without copies). A slab starts small (an idle
 * flow costs little) and doubles up to SLAB_MAX while a flow keeps reading. No slab at all until the
 * first byte: Node wants a read buffer as soon as the socket connects, so a socket without a slab is
 * given one LANDING buffer shared by all, and its first read is copied from there into a slab of its
 * own (libuv runs each read callback right after its read(), so nothing else can land in between).
 * A connection that never carries data (a refused connect, a storm of SYNs) never allocates one. The engine tells us
 * (release) as the guest acknowledges bytes: a slab whose bytes are all acknowledged is read into
 * again (the current one from its start, full-size retired ones through a small shared pool), so a
 * bulk flow cycles through a few slabs instead of leaving a megabyte of garbage per megabyte read
 * for the garbage collector to find (that garbage was most of the peak RSS of a host → guest
 * transfer, and allocating it a visible share of the CPU). When a flow ends, its slabs whose bytes
 * were all released go back to the pools too: a short connection no longer leaves its first 64 KiB
 * slab behind (at 2k connections/s that garbage drove major GCs and page faults: a third of the
 * connection-rate workload's CPU).
 *
 * Sockets handed to us by a net.Server (published ports) cannot take onread. So adoptSocket takes
 * their descriptor over: the addon duplicates it (socketDup), the server's socket is let go, and a
 * net.Socket of our own wraps the copy with onread, reading into slabs like an outbound socket.
 * (Node allocated a 64 KiB Buffer per read there and we copied it into a slab: a published port's
 * host → guest traffic cost twice the CPU per GB of an outbound flow's.) Where that cannot be done
 * (no addon, no descriptor, EMFILE) each 'data' Buffer is copied into the same kind of slab, as
 * before. Either way the reads of one event-loop turn are handed over as one run (TurnCollector).
 */
import { Socket, type OnReadOpts, type SocketConstructorOpts } from 'node:net';
import {
  HostConnectError,
  type HostStream,
  type HostStreamEvents,
  type HostTcpPort,
} from '../stack/tcp/host-tcp-port.js';
import type { HostEndpoint } from '../stack/host-address-map.js';
import { loadNativeAddon } from '../native/native-addon.js';
import { NO_OUTBOUND_BIND, outboundLocalAddress, type OutboundBind } from './outbound-bind.js';

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
const pool: Buffer[] = [];
/**
 * Where every socket without a slab of its own reads (see the head comment); its first read is
 * copied out at once. 16 KiB: a first read larger than that continues into the socket's own slab.
 */
const LANDING = Buffer.allocUnsafe(16 * 1024);
/** SLAB_MIN slabs of finished flows kept for the next flows' first reads (1 MiB at most). */
const FIRST_SLABS = 16;
const firstSlabs: Buffer[] = [];

class NodeHostStream implements HostStream {
  /** Whether the engine asked us to stop reading (returned from the onread callback). */
  paused = true;

  constructor(
    private readonly socket: Socket,
    /** Where reads land (or, for adopted sockets, where their 'data' Buffers are copied). */
    private readonly slab: ReadSlab,
  ) {}

  release(bytes: number): void {
    this.slab.release(bytes);
  }

  write(data: Uint8Array, onWritten?: () => void): void {
    // Node calls the callback once the bytes are with the OS, or with an error when the socket is
    // destroyed first: either way the engine may reuse data's memory then, never before.
    if (this.socket.destroyed) onWritten?.();
    else this.socket.write(data, onWritten);
  }
  get pendingWriteBytes(): number {
    return this.socket.writableLength;
  }
  end(): void {
    if (!this.socket.destroyed) this.socket.end();
  }
  reset(): void {
    if (this.socket.destroyed) return;
    // resetAndDestroy sends RST where the socket is connected; before that it just destroys.
    if (this.socket.readyState === 'open' || this.socket.readyState === 'readOnly' || this.socket.readyState === 'writeOnly') {
      this.socket.resetAndDestroy();
    } else {
      this.socket.destroy();
    }
    this.slab.dispose();
  }
  destroy(): void {
    this.socket.destroy();
    this.slab.dispose();
  }
  pause(): void {
    this.paused = true;
    this.socket.pause();
  }
  resume(): void {
    this.paused = false;
    this.socket.resume();
  }
}

/** A slab and how many of the bytes read into it the guest has not acknowledged yet. */
interface SlabUse {
  readonly buffer: Buffer;
  unreleased: number;
}

/**
 * Where one outbound socket's reads land: a run of slabs, each read right after the last. Bytes are
 * released in the order they were read, so the oldest slab in `held` is always the one they
 * belong to.
 */
class ReadSlab {
  private slab: Buffer = Buffer.allocUnsafe(0);
  private used = 0;
  /** Where the last region handed to Node starts: take() claims from there. */
  private regionAt = 0;
  /** The last region handed to Node is the shared LANDING buffer (no slab of our own yet). */
  private landing = false;
  private nextSize = SLAB_MIN;
  /** Slabs with bytes the engine may still hold, oldest first; the last is the current slab. */
  private readonly held: SlabUse[] = [];

  /** The region for the next read (called by Node when the socket connects and after each read). */
  region = (): Uint8Array => {
    if (this.held.length === 0) {
      this.landing = true;
      return LANDING;
    }
    return this.ownRegion();
  };

  private ownRegion(): Uint8Array {
    this.landing = false;
    if (this.slab.length - this.used < MIN_READ) this.nextSlab();
    this.regionAt = this.used;
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
        // Nothing held at all: read into the current slab from its start again.
        this.used = 0;
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
    this.held.length = 0;
    this.slab = Buffer.allocUnsafe(0);
    this.used = 0;
    this.regionAt = 0;
  }

  private nextSlab(): void {
    const current = this.held[this.held.length - 1];
    if (current !== undefined && current.unreleased === 0) {
      this.held.pop();
      this.recycle(current.buffer);
    }
    const size = this.nextSize;
    this.slab = (size === SLAB_MAX ? pool.pop() : size === SLAB_MIN ? firstSlabs.pop() : undefined) ?? Buffer.allocUnsafe(size);
    this.used = 0;
    this.held.push({ buffer: this.slab, unreleased: 0 });
    this.nextSize = Math.min(size * 2, SLAB_MAX);
  }

  private recycle(buffer: Buffer): void {
    if (buffer.length === SLAB_MAX && pool.length < POOL_SLABS) pool.push(buffer);
    else if (buffer.length === SLAB_MIN && firstSlabs.length < FIRST_SLABS) firstSlabs.push(buffer);
  }
}

function classify(error: NodeJS.ErrnoException): HostConnectError {
  return error.code === 'ECONNREFUSED' ? HostConnectError.Refused : HostConnectError.Unreachable;
}

/**
 * Everything but the data path: connect, end, drain, errors, close. beforeEnd hands over bytes
 * still collected (adopted sockets) so they come before the end, error or close.
 */
function wireEvents(socket: Socket, events: HostStreamEvents, beforeEnd: () => void = () => undefined): void {
  socket.setNoDelay(true);
  socket.on('connect', () => events.onConnect());
  socket.on('end', () => {
    beforeEnd();
    events.onEnd();
  });
  socket.on('drain', () => events.onDrain());
  socket.on('error', (error: NodeJS.ErrnoException) => {
    beforeEnd();
    events.onError(classify(error), error.code ?? 'EIO');
  });
  socket.on('close', () => {
    beforeEnd();
    events.onClose();
  });
}

/**
 * Hands the reads of one event-loop turn to the engine as one run, after them (setImmediate: the
 * same turn, no timer). Node reads a busy socket several times per wakeup of the event loop;
 * delivered one by one, each read made the engine send a full segment plus the read's short
 * remainder as a tiny segment of its own (half the frames to the guest were tiny at MTU 65520).
 * Pieces that continue each other in one slab merge; a piece in a new slab first sends the run.
 */
class TurnCollector {
  /** Bytes read and not delivered yet: one contiguous run (or none). */
  private run: Uint8Array | null = null;
  private scheduled = false;

  constructor(private readonly events: HostStreamEvents) {}

  collect = (piece: Uint8Array): void => {
    const run = this.run;
    if (run !== null && run.buffer === piece.buffer && run.byteOffset + run.length === piece.byteOffset) {
      this.run = new Uint8Array(run.buffer, run.byteOffset, run.length + piece.length);
      return;
    }
    this.deliver(); // a new slab: what the old one holds goes first
    this.run = piece;
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.deliver);
    }
  };

  /** Hands over what was collected (also before an end, error or close: bytes come first). */
  deliver = (): void => {
    this.scheduled = false;
    const chunk = this.run;
    this.run = null;
    if (chunk !== null) this.events.onData(chunk);
  };
}

type SocketDup = (fd: number) => number;
let nativeSocketDup: SocketDup | null | undefined;

/** The addon's socketDup, or null where the addon cannot be loaded (not built, or for another version). */
function socketDup(): SocketDup | null {
  if (nativeSocketDup === undefined) {
    try {
      const addon = loadNativeAddon();
      nativeSocketDup = (fd) => addon.socketDup(fd);
    } catch {
      nativeSocketDup = null;
    }
  }
  return nativeSocketDup;
}

/**
 * A descriptor of our own for an accepted, still paused socket, which is let go; or -1 (the
 * socket is left as it was). Node keeps the descriptor on the socket's handle (`_handle.fd`): not
 * in its typings, but what libuv polls; a missing or odd one just means the copying path.
 */
export function takeOverDescriptor(socket: Socket, dup: SocketDup | null = socketDup()): number {
  // Only before Node read anything from it (a server's pauseOnConnect socket): bytes it holds would be lost.
  if (socket.bytesRead !== 0 || socket.readableLength !== 0) return -1;
  const fd = (socket as unknown as { _handle?: { fd?: unknown } | null })._handle?.fd;
  if (dup === null || typeof fd !== 'number' || fd < 0) return -1;
  const own = dup(fd);
  if (own < 0) return -1;
  socket.destroy(); // closes its descriptor only: the connection lives on in ours
  return own;
}

/**
 * Wires an accepted socket (published port) to a flow: by its descriptor, read with onread into
 * slabs (no copy), or failing that by copying its 'data' Buffers into slabs. takeOver is for tests.
 */
export function adoptSocket(socket: Socket, events: HostStreamEvents, takeOver: (socket: Socket) => number = takeOverDescriptor): HostStream {
  const fd = takeOver(socket);
  return fd >= 0 ? adoptDescriptor(fd, events) : adoptByCopy(socket, events);
}

function adoptDescriptor(fd: number, events: HostStreamEvents): HostStream {
  const slab = new ReadSlab();
  const turn = new TurnCollector(events);
  let stream: NodeHostStream | null = null;
  const options: SocketConstructorOpts & { onread: OnReadOpts } = {
    fd,
    readable: true,
    writable: true,
    allowHalfOpen: true,
    onread: {
      buffer: slab.region,
      callback: (n: number): boolean => {
        turn.collect(slab.take(n));
        return stream === null || !stream.paused;
      },
    },
  };
  const socket = new Socket(options);
  stream = new NodeHostStream(socket, slab);
  socket.pause();
  wireEvents(socket, events, turn.deliver);
  return stream;
}

/** The fallback: Node reads into Buffers of its own, copied into our slabs. */
function adoptByCopy(socket: Socket, events: HostStreamEvents): HostStream {
  const slab = new ReadSlab();
  const stream = new NodeHostStream(socket, slab);
  const turn = new TurnCollector(events);
  socket.pause();
  wireEvents(socket, events, turn.deliver);
  socket.on('data', (chunk: Buffer) => slab.copyIn(chunk, turn.collect));
  return stream;
}

export class NodeTcpPort implements HostTcpPort {
  constructor(private readonly bind: OutboundBind = NO_OUTBOUND_BIND) {}

  connect(endpoint: HostEndpoint, events: HostStreamEvents): HostStream {
    const slab = new ReadSlab();
    let stream: NodeHostStream | null = null;
    // onread is a constructor option of net.Socket that @types/node only lists for net.connect().
    const options: SocketConstructorOpts & { onread: OnReadOpts } = {
      allowHalfOpen: true,
      onread: {
        buffer: slab.region,
        callback: (n: number): boolean => {
          events.onData(slab.take(n));
          // The engine pauses us (from inside onData) when its send buffer is full.
          return stream === null || !stream.paused;
        },
      },
    };
    const socket = new Socket(options);
    stream = new NodeHostStream(socket, slab);
    socket.pause();
    wireEvents(socket, events);
    const localAddress = outboundLocalAddress(this.bind, endpoint.address);
    socket.connect({ host: endpoint.address, port: endpoint.port, ...(localAddress ? { localAddress } : {}) });
    return stream;
  }
}
