/**
 * The TCP engine's view of a host socket. The engine declares what it needs; src/host/ implements it
 * with Node's net.Socket. Nothing here knows Node: tests drive the engine with a fake.
 */
import type { HostEndpoint } from '../host-address-map.js';

/** Why a host connection failed, as the engine needs to tell the guest (RST or ICMP). */
export enum HostConnectError {
  Refused, // ECONNREFUSED: the guest gets RST|ACK
  Unreachable, // EHOSTUNREACH, ENETUNREACH, ETIMEDOUT, …: the guest gets ICMP host unreachable
}

/**
 * The engine's flush scope (frame-transmitter.ts): frames sent between begin and end leave in one
 * flush at the end, instead of in a microtask's after the caller's turn.
 */
export interface HostEventWakeup {
  beginWakeup(): void;
  /** Flushes when the outermost wakeup ends; never throws. */
  endWakeup(): void;
}

/** Events from one host connection, delivered to the flow that owns it. */
export interface HostStreamEvents {
  /**
   * Optional: a port that delivers host events from a callback of its own may begin this before
   * the first event of a call and end it after the last (each once per call, however many streams
   * share it), so the frames they send leave at the end of that call.
   */
  readonly wakeup?: HostEventWakeup;
  onConnect(): void;
  /** Bytes read from the host. The engine keeps chunk (no copy) until the guest acknowledges it. */
  onData(chunk: Uint8Array): void;
  /** The host half-closed its side (FIN). */
  onEnd(): void;
  /** The connection failed or was reset; onClose follows. */
  onError(error: HostConnectError, code: string): void;
  /** The write side drained: the engine may advertise a bigger window again. */
  onDrain(): void;
  onClose(): void;
}

export interface HostStream {
  /**
   * Queues bytes to the host. data stays untouched until onWritten is called (once, when the bytes
   * went to the OS or the stream failed): the engine then reuses its memory. An implementation that
   * copies may call it at once.
   */
  write(data: Uint8Array, onWritten?: () => void): void;
  /** Bytes queued to the host and not yet written by the OS: shrinks our advertised window. */
  readonly pendingWriteBytes: number;
  /** Half-close after everything written. */
  end(): void;
  /** Abort (the guest reset the flow): RST to the host where the platform allows. */
  reset(): void;
  /** Close quietly (the flow is over). */
  destroy(): void;
  /** Stop/start reading from the host (the guest's window is closed, or our send buffer is full). */
  pause(): void;
  resume(): void;
  /**
   * True when the connection was up by the time connect() returned (loopback: the handshake runs
   * inside the connect call): the stream takes writes at once, and no onConnect follows (this is the
   * connect). The engine then answers the guest's SYN at once, in the flush of the batch that
   * carried it. Optional (absent or false: wait for onConnect).
   */
  readonly connectedInConnect?: boolean;
  /**
   * Set when the connect failed inside connect() (loopback: the RST of a closed port arrives during
   * the call; or it could not even start): the stream is closed already and no event follows. The
   * engine then answers the guest's SYN at once and keeps no flow. Optional (absent: the failure, if
   * any, comes as onError).
   */
  readonly failedInConnect?: HostConnectError;
  /**
   * The guest acknowledged the next `bytes` of what onData delivered (in order): the engine holds no
   * view of them any more, so their memory may be reused for later reads. Optional.
   */
  release?(bytes: number): void;
}

export interface HostTcpPort {
  /** Opens a connection to endpoint; events arrive on `events`. Never throws: failures come as onError. */
  connect(endpoint: HostEndpoint, events: HostStreamEvents): HostStream;
}

/** Binds a HostStream (e.g. an accepted socket of a published port) to a flow's events, later. */
export type HostStreamFactory = (events: HostStreamEvents) => HostStream;
