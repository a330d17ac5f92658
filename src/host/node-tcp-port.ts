/**
 * The TCP engine's host-socket port on Node's net.Socket: outbound connections for guest flows, and
 * adoption of sockets a published port accepted. Sockets are half-open capable (allowHalfOpen), have
 * Nagle off (we forward what we read, already coalesced per wakeup), and start paused: the engine
 * resumes them once the guest completed its handshake.
 *
 * Data from the host arrives as the Buffers Node reads into; the engine keeps them as they are until
 * the guest acknowledges them (no copy).
 */
import { Socket } from 'node:net';
import {
  HostConnectError,
  type HostStream,
  type HostStreamEvents,
  type HostTcpPort,
} from '../stack/tcp/host-tcp-port.js';
import type { HostEndpoint } from '../stack/host-address-map.js';
import { NO_OUTBOUND_BIND, outboundLocalAddress, type OutboundBind } from './outbound-bind.js';

class NodeHostStream implements HostStream {
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
    this.socket.pause();
  }
  resume(): void {
    this.socket.resume();
  }
}

function classify(error: NodeJS.ErrnoException): HostConnectError {
  return error.code === 'ECONNREFUSED' ? HostConnectError.Refused : HostConnectError.Unreachable;
}

/** Wires socket events to a flow. Errors before the connection is up are connect failures. */
export function adoptSocket(socket: Socket, events: HostStreamEvents): HostStream {
  socket.setNoDelay(true);
  socket.pause();
  socket.on('connect', () => events.onConnect());
  socket.on('data', (chunk: Buffer) => events.onData(chunk));
  socket.on('end', () => events.onEnd());
  socket.on('drain', () => events.onDrain());
  socket.on('error', (error: NodeJS.ErrnoException) => events.onError(classify(error), error.code ?? 'EIO'));
  socket.on('close', () => events.onClose());
  return new NodeHostStream(socket);
}

export class NodeTcpPort implements HostTcpPort {
  constructor(private readonly bind: OutboundBind = NO_OUTBOUND_BIND) {}

  connect(endpoint: HostEndpoint, events: HostStreamEvents): HostStream {
    const socket = new Socket({ allowHalfOpen: true });
    const stream = adoptSocket(socket, events);
    const localAddress = outboundLocalAddress(this.bind, endpoint.address);
    socket.connect({ host: endpoint.address, port: endpoint.port, ...(localAddress ? { localAddress } : {}) });
    return stream;
  }
}
