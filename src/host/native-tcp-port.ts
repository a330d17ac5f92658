/**
 * The TCP engine's host-socket port on the addon's non-blocking sockets (native/tcp_socket.c), for
 * the guest's flows: the default wherever the addon loads (install-engines.ts chooses).
 * Node's net.Socket cost ~181 µs of CPU per connection in its life cycle alone, as much as
 * slirp4netns spends on a whole connection; here a connection is a descriptor in the addon's epoll
 * set, and the sockets ready in a loop turn are one call into JS: onEvents(count) → each socket's
 * stream, which calls recv/send/shutdown/close itself.
 *
 * Published ports' clients are polled the same way: accepted natively (native-tcp-listener.ts), their
 * descriptors adopted (adoptDescriptorNatively); or, where a server's socket was handed over,
 * adoptSocketNatively (its descriptor duplicated, Node's socket let go).
 *
 * Same behaviour as NodeTcpPort (the engine cannot tell them apart): sockets bind for --outbound-addr
 * as outbound-bind.ts says, have Nagle off, start paused (not polled for readable) until the engine
 * resumes them; reads land in a ReadSlab (no allocation per read, views the engine keeps until it
 * releases them); writes go to the kernel at once (send of the engine's own view; what the kernel
 * does not take waits, polled for writable, and onWritten runs when it is gone); end() is
 * shutdown(SHUT_WR) once the queue is empty; reset() closes with SO_LINGER 0 (RST); failures arrive
 * as onError with the errno's name, then onClose, never from inside a call the engine made, except
 * a connect that failed inside tcpOpen (a closed loopback port): said by failedInConnect, no event;
 * and one done inside tcpOpen (loopback) is said by connectedInConnect, no onConnect following.
 * onClose also follows once both directions have ended (the socket is closed then, as Node does).
 * Nothing here is emitted after the engine's destroy() or reset().
 */
import { constants as osConstants } from 'node:os';
import {
  TCP_EVENT_BATCH,
  TCP_EVENT_CONNECTED,
  TCP_EVENT_ERROR,
  TCP_EVENT_READABLE,
  TCP_EVENT_WRITABLE,
  loadNativeAddon,
  type NativeAddon,
} from '../native/native-addon.js';
import type { HostEndpoint } from '../stack/host-address-map.js';
import { HostConnectError, type HostEventWakeup, type HostStream, type HostStreamEvents, type HostTcpPort } from '../stack/tcp/host-tcp-port.js';
import type { Socket } from 'node:net';
import { errnoName } from './errno-name.js';
import { adoptSocket, takeOverDescriptor } from './node-tcp-port.js';
import { NO_OUTBOUND_BIND, outboundLocalAddress, type OutboundBind } from './outbound-bind.js';
import { ReadSlab } from './read-slab.js';

const ERRNO = osConstants.errno;
const EAGAIN = ERRNO.EAGAIN;
const ENOTCONN = ERRNO.ENOTCONN;
/** What a failed connect means to the guest: RST for a refusal, ICMP host unreachable for the rest. */
const connectError = (errno: number): HostConnectError => (errno === ERRNO.ECONNREFUSED ? HostConnectError.Refused : HostConnectError.Unreachable);

/**
 * Reads per readable event at most, while each fills its whole region (a fast host): bounded so one
 * busy socket cannot hold the loop, as libuv bounds Node's reads.
 */
const READS_PER_EVENT = 8;

/** The addon's socket table of this process: ids (reused most recently freed first) → streams. */
class NativeSockets {
  private readonly streams: (NativeHostStream | undefined)[] = [];
  private readonly freeIds: number[] = [];
  /** Where the addon puts each call's events: id, TCP_EVENT_* bits, errno. */
  private readonly events = new Int32Array(TCP_EVENT_BATCH * 3);
  private dispatching = false;
  /** Ids freed during a dispatch: reused only after it, so a later event of the same call cannot reach a new stream. */
  private readonly freedInDispatch: number[] = [];

  constructor(readonly addon: NativeAddon) {
    addon.tcpInit(this.dispatch, this.events);
  }

  /**
   * The engines' wakeups begun in this dispatch (HostStreamEvents.wakeup), each once: their frames
   * leave in one flush as the dispatch ends, not in a microtask after it (a promise reaction and a
   * microtask run per host event in a request/response).
   */
  private readonly woken: HostEventWakeup[] = [];

  private readonly dispatch = (count: number): void => {
    const events = this.events;
    const woken = this.woken;
    this.dispatching = true;
    try {
      for (let i = 0; i < 3 * count; i += 3) {
        const stream = this.streams[events[i]];
        if (stream === undefined) continue;
        const wakeup = stream.wakeup;
        if (wakeup !== undefined && !woken.includes(wakeup)) {
          wakeup.beginWakeup();
          woken.push(wakeup);
        }
        stream.handle(events[i + 1], events[i + 2]);
      }
    } finally {
      // endWakeup never throws (it reports a failed flush), so every wakeup begun is ended.
      while (woken.length > 0) woken.pop()!.endWakeup();
      this.dispatching = false;
      // pop, not length = 0: the length setter is a runtime call (Runtime_StoreCallbackProperty, in
      // every dispatch's profile of a 64 B request/response, and once per short connection, whose
      // socket closes in a dispatch) and frees the backing store the next close grows again.
      const freed = this.freedInDispatch;
      for (let i = 0; i < freed.length; i++) this.freeIds.push(freed[i]);
      while (freed.length > 0) freed.pop();
    }
  };

  claim(stream: NativeHostStream): number {
    const id = this.freeIds.pop() ?? this.streams.length;
    this.streams[id] = stream;
    return id;
  }

  release(id: number): void {
    this.streams[id] = undefined;
    (this.dispatching ? this.freedInDispatch : this.freeIds).push(id);
  }
}

/**
 * Stream events said after the caller's turn (the close after both ends, a failure found inside an
 * engine's call), in order: one microtask per turn drains them all. Node's queueMicrotask per event
 * cost an AsyncResource, a bind and a closure each. DEFER_CLOSED, else the errno of a failure.
 */
const DEFER_CLOSED = -1;
const deferredStreams: NativeHostStream[] = [];
const deferredWhat: number[] = [];
let deferredAt = 0;
let drainQueued = false;
const RESOLVED = Promise.resolve();

function defer(stream: NativeHostStream, what: number): void {
  deferredStreams.push(stream);
  deferredWhat.push(what);
  if (!drainQueued) {
    drainQueued = true;
    RESOLVED.then(drainDeferred);
  }
}

function drainDeferred(): void {
  // Events deferred while draining join this drain.
  while (deferredAt < deferredStreams.length) {
    const i = deferredAt++;
    try {
      deferredStreams[i].deferred(deferredWhat[i]);
    } catch (error) {
      // Uncaught, as it was from a queueMicrotask of its own; the events after it still go.
      queueMicrotask(() => {
        throw error;
      });
    }
  }
  // pop, not length = 0: that frees the arrays' backing stores, allocated again next turn.
  while (deferredStreams.length > 0) deferredStreams.pop();
  while (deferredWhat.length > 0) deferredWhat.pop();
  deferredAt = 0;
  drainQueued = false;
}

let sockets: NativeSockets | null | undefined;

/** The process's socket table, or null where the addon cannot be loaded (not built, another version). */
function nativeSockets(): NativeSockets | null {
  if (sockets === undefined) {
    try {
      sockets = new NativeSockets(loadNativeAddon());
    } catch {
      sockets = null;
    }
  }
  return sockets;
}

const NO_CALLBACK = (): void => undefined;

class NativeHostStream implements HostStream {
  /** The addon's id for our socket, or -1 once it is closed (or never opened). */
  private id = -1;
  private connected = false;
  /** The connect was done inside tcpOpen (HostStream.connectedInConnect): no onConnect follows. */
  connectedInConnect = false;
  /** The connect failed inside tcpOpen (HostStream.failedInConnect): closed, and no event follows. */
  failedInConnect: HostConnectError | undefined = undefined;
  private paused = true;
  private readEnded = false;
  /** end() was asked for; shutdown follows once the queue is empty. */
  private endRequested = false;
  private writeEnded = false;
  /** No event reaches the engine any more (closed, failed, destroyed). */
  private over = false;
  /** What the addon polls for (TCP_EVENT_READABLE | TCP_EVENT_WRITABLE), once connected. */
  private watching = 0;
  /** Bytes the kernel has not taken yet, in order, each with the engine's onWritten. */
  private readonly queue: Uint8Array[] = [];
  private readonly written: (() => void)[] = [];
  private queuedBytes = 0;
  /** Where reads land; made at the first read, so a connect refused inside tcpOpen (a SYN storm to closed ports) builds none. */
  private slab: ReadSlab | null = null;

  constructor(
    private readonly table: NativeSockets,
    private readonly events: HostStreamEvents,
  ) {}

  /** The engine's flush scope for this stream's events (NativeSockets.dispatch begins and ends it). */
  get wakeup(): HostEventWakeup | undefined {
    return this.events.wakeup;
  }

  /**
   * Starts the connect. One that failed inside the call (refused on loopback, or unable to start) is
   * said in failedInConnect, and no event follows: the engine answers the guest without a flow.
   */
  open(endpoint: HostEndpoint, bindAddress: string | undefined): void {
    const id = this.table.claim(this);
    let result: number;
    try {
      result = this.table.addon.tcpOpen(id, endpoint.address, endpoint.port, bindAddress);
    } catch {
      result = -ERRNO.EINVAL;
    }
    if (result < 0) {
      this.table.release(id);
      this.over = true;
      this.failedInConnect = connectError(-result);
      return;
    }
    this.id = id;
    // Connected inside the call (loopback): said by connectedInConnect alone, which the engine takes
    // as the connect. Also as an event after the caller's turn, it cost a promise reaction, a
    // microtask and a call into the stream per short connection, for an event the engine ignored.
    if (result === 1) {
      this.connectedInConnect = true;
      this.connected = true;
    }
  }

  /** Takes over a connected socket's descriptor (a published port's client); a failure arrives as onError. */
  adopt(fd: number): void {
    const id = this.table.claim(this);
    const result = this.table.addon.tcpAdopt(id, fd);
    if (result < 0) {
      this.table.release(id);
      this.failLater(-result);
      return;
    }
    this.id = id;
    this.connected = true;
  }

  /** What defer() put off: DEFER_CLOSED, or a failure's errno. */
  deferred(what: number): void {
    if (what === DEFER_CLOSED) this.events.onClose();
    else this.fail(what);
  }

  /** One poll event of our socket (from NativeSockets.dispatch). */
  handle(events: number, errno: number): void {
    if (events & TCP_EVENT_ERROR) {
      this.fail(errno);
      return;
    }
    if (events & TCP_EVENT_CONNECTED) {
      this.connectedNow();
    } else if (events & TCP_EVENT_WRITABLE) {
      this.sendQueued();
    }
    if ((events & TCP_EVENT_READABLE) !== 0 && !this.over) this.readSome();
    this.updateWatch();
  }

  /** The connect succeeded: what waited is written, the engine told, the socket polled as wanted. */
  private connectedNow(): void {
    if (this.over) return;
    this.connected = true;
    this.sendQueued();
    if (this.over) return;
    this.events.onConnect();
    this.updateWatch();
  }

  write(data: Uint8Array, onWritten: () => void = NO_CALLBACK): void {
    if (this.over || this.endRequested) {
      onWritten();
      return;
    }
    if (!this.connected || this.queue.length > 0) {
      this.enqueue(data, onWritten);
      return;
    }
    const n = this.table.addon.tcpSend(this.id, data);
    if (n === data.length) {
      onWritten();
    } else if (n >= 0 || n === -EAGAIN) {
      this.enqueue(n > 0 ? data.subarray(n) : data, onWritten);
      this.updateWatch();
    } else {
      onWritten();
      this.failLater(-n);
    }
  }

  get pendingWriteBytes(): number {
    return this.queuedBytes;
  }

  end(): void {
    if (this.over || this.endRequested) return;
    this.endRequested = true;
    if (this.connected && this.queue.length === 0) this.shutdown();
  }

  reset(): void {
    if (this.over) return;
    this.over = true;
    this.close(this.connected);
  }

  destroy(): void {
    if (this.over) return;
    this.over = true;
    this.close(false);
  }

  pause(): void {
    this.paused = true;
    this.updateWatch();
  }

  resume(): void {
    this.paused = false;
    this.updateWatch();
  }

  release(bytes: number): void {
    this.slab?.release(bytes);
  }

  private enqueue(data: Uint8Array, onWritten: () => void): void {
    this.queue.push(data);
    this.written.push(onWritten);
    this.queuedBytes += data.length;
  }

  /** Hands the kernel what is queued; on an empty queue: onDrain, and the shutdown end() asked for. */
  private sendQueued(): void {
    const queue = this.queue;
    if (queue.length === 0) {
      if (this.endRequested && !this.writeEnded) this.shutdown();
      return;
    }
    while (queue.length > 0) {
      const head = queue[0];
      const n = this.table.addon.tcpSend(this.id, head);
      if (n === head.length) {
        queue.shift();
        this.queuedBytes -= n;
        this.written.shift()!();
        continue;
      }
      if (n >= 0) {
        queue[0] = head.subarray(n);
        this.queuedBytes -= n;
      } else if (n !== -EAGAIN) {
        this.fail(-n);
      }
      return; // the rest when the socket is writable again
    }
    if (this.endRequested && !this.writeEnded) this.shutdown();
    if (!this.over) this.events.onDrain();
  }

  private shutdown(): void {
    this.writeEnded = true;
    const result = this.table.addon.tcpShutdown(this.id);
    if (result < 0 && result !== -ENOTCONN) this.failLater(-result);
    else this.finishIfEnded(false);
  }

  /**
   * Reads while the socket has bytes (up to READS_PER_EVENT reads), handing the engine each run of
   * contiguous bytes once: reads delivered one by one made it send a full segment plus each read's
   * short remainder as a tiny segment of its own. Then the end or the error, after the bytes.
   */
  private readSome(): void {
    const slab = this.slab ?? (this.slab = new ReadSlab({ regionOnlyWhileReading: true }));
    let run: Uint8Array | null = null;
    let outcome = 1; // > 0: more may come; 0: the host's end; < 0: -errno
    for (let i = 0; i < READS_PER_EVENT; i++) {
      slab.prepareRegion();
      const room = slab.regionLength;
      const n = this.table.addon.tcpRecv(this.id, slab.regionBytes, slab.regionStart, room);
      if (n <= 0) {
        slab.unclaimed();
        outcome = n === -EAGAIN ? 1 : n;
        break;
      }
      const piece = slab.take(n);
      if (run !== null && run.buffer === piece.buffer && run.byteOffset + run.length === piece.byteOffset) {
        run = new Uint8Array(run.buffer, run.byteOffset, run.length + n);
      } else {
        if (run !== null) this.events.onData(run); // a new slab: what the old one holds goes first
        if (this.over) return;
        run = piece;
      }
      if (n < room) break;
    }
    if (run !== null) this.events.onData(run);
    if (this.over || outcome > 0) return;
    if (outcome < 0) {
      this.fail(-outcome);
      return;
    }
    this.readEnded = true;
    // Our side ended already (the guest closed first, the usual short connection): the close below
    // takes the socket out of the poll set; stopping the poll first cost an epoll_ctl of its own.
    if (!this.writeEnded) this.updateWatch();
    this.events.onEnd();
    this.finishIfEnded(true);
  }

  /**
   * Both directions ended: the socket is closed and onClose follows: at once when the host's end
   * (one of our events) finished it, the usual end of a short connection (deferred, it cost a
   * promise reaction and a microtask per connection); after the turn when our end did, from inside
   * an engine's call (end()), as Node's 'close'.
   */
  private finishIfEnded(inOurEvent: boolean): void {
    if (!this.readEnded || !this.writeEnded || this.over) return;
    this.over = true;
    this.close(false);
    if (inOurEvent) this.events.onClose();
    else defer(this, DEFER_CLOSED);
  }

  private updateWatch(): void {
    if (this.id < 0 || !this.connected) return; // while connecting the addon polls for the outcome
    const want = (this.paused || this.readEnded ? 0 : TCP_EVENT_READABLE) | (this.queue.length > 0 ? TCP_EVENT_WRITABLE : 0);
    if (want === this.watching) return;
    this.watching = want;
    this.table.addon.tcpWatch(this.id, want);
  }

  /** The socket failed: closed, then onError and onClose (synchronously: we are in an event). */
  private fail(errno: number): void {
    if (this.over) return;
    this.over = true;
    this.close(false);
    this.events.onError(connectError(errno), errnoName(errno));
    this.events.onClose();
  }

  /** A failure found inside a call of the engine's: reported after its turn, the socket idle meanwhile. */
  private failLater(errno: number): void {
    if (this.id >= 0) {
      this.watching = 0;
      this.table.addon.tcpWatch(this.id, 0);
    }
    defer(this, errno);
  }

  /** Closes the socket (if open), completes every queued write, lets the slab's free memory go. */
  private close(reset: boolean): void {
    if (this.id >= 0) {
      this.table.addon.tcpClose(this.id, reset);
      this.table.release(this.id);
      this.id = -1;
    }
    if (this.queue.length > 0) this.queue.length = 0; // the length setter is a runtime call: not when empty
    this.queuedBytes = 0;
    if (this.written.length > 0) {
      const written = this.written.splice(0); // callbacks may write again: they see an empty queue
      for (const onWritten of written) onWritten();
    }
    this.slab?.dispose();
  }
}

export class NativeTcpPort implements HostTcpPort {
  /** Whether this process can use it (the addon loads); install-engines.ts falls back to NodeTcpPort. */
  static available(): boolean {
    return nativeSockets() !== null;
  }

  private readonly table: NativeSockets;

  constructor(private readonly bind: OutboundBind = NO_OUTBOUND_BIND) {
    const table = nativeSockets();
    if (table === null) throw new Error('NativeTcpPort needs the native addon (npm run build:native)');
    this.table = table;
  }

  connect(endpoint: HostEndpoint, events: HostStreamEvents): HostStream {
    const stream = new NativeHostStream(this.table, events);
    stream.open(endpoint, outboundLocalAddress(this.bind, endpoint.address));
    return stream;
  }
}

/**
 * Wires a socket a published port accepted (still paused, nothing read) to a flow on the addon's
 * sockets: its descriptor is duplicated and the server's socket let go (takeOverDescriptor), then
 * polled like an outbound socket. Where that cannot be done (no addon, no descriptor, EMFILE), Node's
 * own adoption (adoptSocket). takeOver is for tests.
 */
export function adoptSocketNatively(
  socket: Socket,
  events: HostStreamEvents,
  takeOver: (socket: Socket) => number = takeOverDescriptor,
): HostStream {
  const table = nativeSockets();
  const fd = table === null ? -1 : takeOver(socket);
  if (table === null || fd < 0) return adoptSocket(socket, events, () => -1);
  const stream = new NativeHostStream(table, events);
  stream.adopt(fd);
  return stream;
}

/**
 * Wires the descriptor of a client a published port accepted natively (native-tcp-listener.ts;
 * ours, nothing read from it) to a flow on the addon's sockets.
 */
export function adoptDescriptorNatively(fd: number, events: HostStreamEvents): HostStream {
  const table = nativeSockets();
  if (table === null) throw new Error('a natively accepted client needs the native addon');
  const stream = new NativeHostStream(table, events);
  stream.adopt(fd);
  return stream;
}
