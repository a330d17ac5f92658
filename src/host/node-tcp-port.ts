/**
 * The TCP engine's host-socket port on Node's net.Socket: adoption of sockets a published port
 * accepted, and outbound connections for guest flows where the addon's sockets (NativeTcpPort, the
 * default) cannot be used. Sockets are half-open capable (allowHalfOpen), have Nagle off (we forward
 * what we read, already coalesced per wakeup), and start paused: the engine resumes them once the
 * guest completed its handshake.
 *
 * Outbound sockets read with `onread: { buffer, callback }` straight into a ReadSlab (read-slab.ts:
 * contiguous reads, slabs reused once the guest acknowledged them); returning false from the
 * callback stops reading (backpressure without copies). Node wants a read buffer as soon as the
 * socket connects: the slab's shared landing buffer serves until the first byte.
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
import { ReadSlab } from './read-slab.js';

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
