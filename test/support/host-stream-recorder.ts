/**
 * What the host TCP port tests (node-tcp-port, native-tcp-port) share: loopback servers closed after
 * each test, a recorder standing in for the engine's HostStreamEvents, and a patterned payload whose
 * every byte can be checked against its offset in the stream. Loopback only.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach } from 'vitest';
import { HostConnectError, type HostStreamEvents } from '../../src/stack/tcp/host-tcp-port.js';

export interface ListenOptions {
  host?: string;
  pauseOnConnect?: boolean;
}

/**
 * Returns listen(): a half-open-capable server on an ephemeral loopback port handing each accepted
 * socket to onSocket. Servers and their sockets are closed after every test of the calling file.
 */
export function loopbackServers(): (onSocket: (s: Socket) => void, options?: ListenOptions) => Promise<number> {
  const servers: Server[] = [];
  const accepted = new Set<Socket>();
  afterEach(async () => {
    for (const s of accepted) s.destroy();
    accepted.clear();
    for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
  });
  return async (onSocket, options = {}) => {
    const server = createServer({ allowHalfOpen: true, pauseOnConnect: options.pauseOnConnect ?? false }, (s) => {
      accepted.add(s);
      onSocket(s);
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, options.host ?? '127.0.0.1', r));
    return (server.address() as { port: number }).port;
  };
}

/** The engine's side of one host stream, written down: events in order, data chunks, drains. */
export interface HostStreamRecorder extends HostStreamEvents {
  log: string[];
  chunks: Uint8Array[];
  drains: number;
  connected: Promise<void>;
  closed: Promise<void>;
  ended: Promise<void>;
}

export function recordHostStream(onData?: (chunk: Uint8Array) => void): HostStreamRecorder {
  let connected!: () => void;
  let closed!: () => void;
  let ended!: () => void;
  const r: HostStreamRecorder = {
    log: [],
    chunks: [],
    drains: 0,
    connected: new Promise((res) => (connected = res)),
    closed: new Promise((res) => (closed = res)),
    ended: new Promise((res) => (ended = res)),
    onConnect: () => {
      r.log.push('connect');
      connected();
    },
    onData: (chunk) => {
      r.chunks.push(chunk);
      onData?.(chunk);
    },
    onEnd: () => {
      r.log.push('end');
      ended();
    },
    onError: (error, code) => r.log.push(`error ${HostConnectError[error]} ${code}`),
    onDrain: () => {
      r.drains++;
    },
    onClose: () => {
      r.log.push('close');
      closed();
    },
  };
  return r;
}

export const totalLength = (chunks: Uint8Array[]): number => chunks.reduce((n, c) => n + c.length, 0);

/** Byte i of a bulk test payload: any chunk can be checked against its offset in the stream. */
export const byteAt = (i: number): number => (i * 7 + (i >>> 13)) & 0xff;

export function patternedPayload(size: number): Buffer {
  const payload = Buffer.alloc(size);
  for (let i = 0; i < size; i++) payload[i] = byteAt(i);
  return payload;
}

/** A chunk the engine held, and its offset in the stream. */
export interface HeldChunk {
  chunk: Uint8Array;
  at: number;
}

/** Whether a held chunk still has the bytes it was read with (memory read into again too early would not). */
export const intact = (c: HeldChunk): boolean => c.chunk.every((b, i) => b === byteAt(c.at + i));

/** A loopback port nothing listens on any more (a server bound it, then closed): connects are refused. */
export async function closedLoopbackPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise((r) => server.close(r));
  return port;
}
