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
 * flow costs little) and doubles up to SLAB_MAX while a flow keeps reading; a slab is garbage once
 * the guest acknowledged every byte in it.
 *
 * Sockets handed to us by a net.Server (published ports) cannot take onread; there we keep the
 * Buffer each 'data' event gives. Either way the engine gets the same HostStream.
 */
import { Socket, type OnReadOpts, type SocketConstructorOpts } from 'node:net';
import {
  HostConnectError,
  type HostStream,
  type HostStreamEvents,
  type HostTcpPort,
} from '../stack/tcp/host-tcp-port.js';
import type { HostEndpoint } from '../stack/host-address-map.js';
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

class NodeHostStream implements HostStream {
  /** Whether the engine asked us to stop reading (returned from the onread callback). */
  paused = true;

  constructor(private readonly socket: Socket) {}

  write(data: Uint8Array): void {
    if (!this.socket.destroyed) this.socket.write(data);
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
  }
  destroy(): void {
    this.socket.destroy();
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

/** Where one outbound socket's reads land: a run of slabs, each read right after the last. */
class ReadSlab {
  private slab: Buffer = Buffer.allocUnsafe(0);
  private used = 0;
  private nextSize = SLAB_MIN;

  /** The region for the next read (called by Node before each read). */
  region = (): Uint8Array => {
    if (this.slab.length - this.used < MIN_READ) {
      this.slab = Buffer.allocUnsafe(this.nextSize);
      this.used = 0;
      this.nextSize = Math.min(this.nextSize * 2, SLAB_MAX);
    }
    return this.slab.subarray(this.used, this.used + READ_MAX);
  };

  /** Claims the n bytes just read and returns them as a view the engine may keep. */
  take(n: number): Uint8Array {
    const chunk = this.slab.subarray(this.used, this.used + n);
    this.used += n;
    return chunk;
  }
}

function classify(error: NodeJS.ErrnoException): HostConnectError {
  return error.code === 'ECONNREFUSED' ? HostConnectError.Refused : HostConnectError.Unreachable;
}

/** Everything but the data path: connect, end, drain, errors, close. */
function wireEvents(socket: Socket, events: HostStreamEvents): void {
  socket.setNoDelay(true);
  socket.on('connect', () => events.onConnect());
  socket.on('end', () => events.onEnd());
  socket.on('drain', () => events.onDrain());
  socket.on('error', (error: NodeJS.ErrnoException) => events.onError(classify(error), error.code ?? 'EIO'));
  socket.on('close', () => events.onClose());
}

/**
 * Wires an accepted socket (published port: no onread possible) to a flow: data arrives as the
 * Buffers Node allocates, kept as they are until the guest acknowledges them.
 */
export function adoptSocket(socket: Socket, events: HostStreamEvents): HostStream {
  const stream = new NodeHostStream(socket);
  socket.pause();
  wireEvents(socket, events);
  socket.on('data', (chunk: Buffer) => events.onData(chunk));
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
    stream = new NodeHostStream(socket);
    socket.pause();
    wireEvents(socket, events);
    const localAddress = outboundLocalAddress(this.bind, endpoint.address);
    socket.connect({ host: endpoint.address, port: endpoint.port, ...(localAddress ? { localAddress } : {}) });
    return stream;
  }
}
