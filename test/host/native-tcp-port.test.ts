/**
 * NativeTcpPort (the addon's non-blocking sockets) against real loopback servers: refused and
 * unreachable connects classified as the engine needs them, connect + echo, half-close both ways,
 * reset (the host sees an RST), backpressure both ways (a slow host reader: writes wait, onDrain,
 * every onWritten in order; pause from inside onData), EOF, --outbound-addr binding, many sockets at
 * once, slab reuse, no event after the engine let a stream go, events said after the engine's turn
 * (onClose after our end) in order with a throwing handler's error passed on uncaught; published
 * ports' accepted sockets taken over by descriptor (adoptSocketNatively). Loopback only.
 */
import { spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { describe, expect, it, vi } from 'vitest';
import { NativeTcpPort, adoptSocketNatively } from '../../src/host/native-tcp-port.js';
import { HostConnectError, type HostStream } from '../../src/stack/tcp/host-tcp-port.js';
import type { HostEndpoint } from '../../src/stack/host-address-map.js';
import {
  byteAt,
  closedLoopbackPort,
  intact,
  loopbackServers,
  patternedPayload,
  recordHostStream as recorder,
  totalLength as total,
  type HostStreamRecorder,
} from '../support/host-stream-recorder.js';

const listen = loopbackServers();

const text = (chunks: Uint8Array[]): string => Buffer.concat(chunks).toString();

/**
 * Prints its port, holds one client in a full accept queue (backlog 0) until it reads a line, then
 * accepts both that client and the next, and prints the next one's first two bytes.
 */
const FULL_QUEUE_LISTENER = `
import socket, sys
s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(0)
filler = socket.create_connection(s.getsockname())
print(s.getsockname()[1])
sys.stdin.readline()
s.accept()
c, _ = s.accept()
data = b''
while len(data) < 2: data += c.recv(2 - len(data))
print(data.decode())
`;

/**
 * NativeTcpPort.connect as the engine takes it: a connect done inside the call (connectedInConnect)
 * is the connect, and no onConnect follows it; written down here as one, so that each case reads
 * the same whichever way the kernel finished the handshake.
 */
function connectNative(port: NativeTcpPort, endpoint: HostEndpoint, events: HostStreamRecorder): HostStream {
  const stream = port.connect(endpoint, events);
  if (stream.connectedInConnect === true) events.onConnect();
  return stream;
}
const tick = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
describe('NativeTcpPort', { timeout: 20_000 }, () => {
  it('is available where the addon is built', () => {
    expect(NativeTcpPort.available()).toBe(true);
  });

  it('classifies a refused connect: failedInConnect Refused and no event when refused inside the call, else onError Refused then onClose', async () => {
    const port = await closedLoopbackPort();
    // Usually the RST of the closed port runs inside connect(); a kernel busy with other traffic may
    // defer its softirqs, and that refusal arrives as an event.
    const said: (HostConnectError | undefined)[] = [];
    for (let i = 0; i < 10 && !said.includes(HostConnectError.Refused); i++) {
      const events = recorder();
      const stream = new NativeTcpPort().connect({ address: '127.0.0.1', port }, events);
      expect(stream.connectedInConnect).toBe(false);
      said.push(stream.failedInConnect);
      expect(events.log).toEqual([]); // never from inside connect()
      if (stream.failedInConnect === undefined) {
        await events.closed;
        expect(events.log).toEqual(['error Refused ECONNREFUSED', 'close']);
      } else {
        await tick(20);
        expect(events.log).toEqual([]); // said once, by failedInConnect
      }
    }
    expect(said).toContain(HostConnectError.Refused);
  });

  it('reports a connect that cannot start (bind to an address not ours) as failedInConnect Unreachable, with no event', async () => {
    const port = await listen(() => undefined);
    const events = recorder();
    // 192.0.2.1 (TEST-NET-1) is not an address of this host: bind fails with EADDRNOTAVAIL, nothing is sent.
    const stream = new NativeTcpPort({ ipv4: '192.0.2.1', ipv6: undefined }).connect({ address: '127.0.0.1', port }, events);
    expect(stream.failedInConnect).toBe(HostConnectError.Unreachable);
    await tick(20);
    expect(events.log).toEqual([]);
    stream.destroy(); // idempotent on a failed stream
  });

  it('binds to --outbound-addr: the host sees that source address', async () => {
    let seen = '';
    const port = await listen((s) => {
      seen = s.remoteAddress ?? '';
      s.end();
    });
    const events = recorder();
    const stream = connectNative(new NativeTcpPort({ ipv4: '127.0.0.2', ipv6: undefined }), { address: '127.0.0.1', port }, events);
    await events.connected;
    stream.resume();
    await events.ended;
    expect(seen).toBe('127.0.0.2');
    stream.destroy();
  });

  it('says when a loopback connect finished inside connect(): no onConnect follows, and writes go to the kernel at once', async () => {
    const port = await listen((s) => s.pipe(s));
    // Usually the first try: the kernel runs the loopback handshake inside the syscall. A kernel busy
    // with other traffic may defer its softirqs to ksoftirqd, and that connect finishes later.
    const said: boolean[] = [];
    for (let i = 0; i < 10 && !said.includes(true); i++) {
      const events = recorder();
      const stream = new NativeTcpPort().connect({ address: '127.0.0.1', port }, events);
      said.push(stream.connectedInConnect === true);
      if (stream.connectedInConnect === true) {
        const written: string[] = [];
        stream.write(Buffer.from('x'), () => written.push('x'));
        expect(written).toEqual(['x']); // taken by the kernel inside write(): nothing waited for a connect event
        stream.resume();
        while (text(events.chunks) !== 'x') await tick(5);
        expect(events.log).toEqual([]); // connectedInConnect was the connect
      } else {
        await events.connected;
        expect(events.log).toEqual(['connect']);
      }
      stream.destroy();
    }
    expect(said).toContain(true);
  });

  it('connects paused, then echoes: what we write comes back as onData', async () => {
    const port = await listen((s) => s.pipe(s));
    const events = recorder();
    const stream = connectNative(new NativeTcpPort(), { address: '127.0.0.1', port }, events);
    await events.connected;
    const written: string[] = [];
    stream.write(Buffer.from('ping'), () => written.push('ping'));
    await tick(50);
    expect(events.chunks).toHaveLength(0); // paused: not read until resumed
    expect(written).toEqual(['ping']); // the kernel took it at once
    stream.resume();
    while (text(events.chunks) !== 'ping') await tick(5);
    stream.write(Buffer.from(' pong'));
    while (text(events.chunks) !== 'ping pong') await tick(5);
    expect(events.log).toEqual(['connect']);
    stream.destroy();
  });

  it("begins the engine's wakeup once per call into JS, around its streams' events, and ends it after them", async () => {
    const port = await listen((s) => s.pipe(s));
    let depth = 0;
    let begun = 0;
    const depthAtData: number[] = [];
    const wakeup = {
      beginWakeup: () => {
        depth++;
        begun++;
      },
      endWakeup: () => {
        depth--;
      },
    };
    const a = recorder(() => depthAtData.push(depth));
    const b = recorder(() => depthAtData.push(depth));
    const streams = [a, b].map((events) => connectNative(new NativeTcpPort(), { address: '127.0.0.1', port }, Object.assign(events, { wakeup })));
    await Promise.all([a.connected, b.connected]);
    for (const stream of streams) stream.resume();
    for (let i = 0; i < 20; i++) {
      streams[0].write(Buffer.from('x'));
      streams[1].write(Buffer.from('y'));
      while (total(a.chunks) + total(b.chunks) < 2 * (i + 1)) await tick(1);
    }
    expect([text(a.chunks), text(b.chunks)]).toEqual(['x'.repeat(20), 'y'.repeat(20)]);
    // Every byte arrived inside a wakeup begun once (two streams sharing it in one call: still once), all ended.
    expect(depthAtData.length).toBeGreaterThan(0);
    expect(depthAtData.every((d) => d === 1)).toBe(true);
    expect(depth).toBe(0);
    expect(begun).toBeGreaterThan(0);
    expect(begun).toBeLessThanOrEqual(depthAtData.length + 2); // the connects' events may have had calls of their own
    for (const stream of streams) stream.destroy();
  });

  it('connects over IPv6 loopback', async () => {
    const port = await listen((s) => s.end('six'), { host: '::1' });
    const events = recorder();
    const stream = connectNative(new NativeTcpPort(), { address: '::1', port }, events);
    await events.connected;
    stream.resume();
    await events.ended;
    expect(text(events.chunks)).toBe('six');
    stream.destroy();
  });

  it('writes made while the connect is in progress wait, then go out in order once it completes', async () => {
    // A listener whose accept queue is full (backlog 0, one client waiting, nothing accepted): the
    // kernel drops our SYN, so the connect is still in progress when connect() returns; once the
    // listener accepts, the SYN sent again after ~1 s gets through.
    const listener = spawn('python3', ['-u', '-c', FULL_QUEUE_LISTENER], { stdio: ['pipe', 'pipe', 'inherit'] });
    const lines = createInterface({ input: listener.stdout! })[Symbol.asyncIterator]();
    try {
      const port = Number((await lines.next()).value);
      const events = recorder();
      const stream = new NativeTcpPort().connect({ address: '127.0.0.1', port }, events);
      expect(stream.connectedInConnect).toBe(false);
      expect(stream.failedInConnect).toBeUndefined();
      const done: number[] = [];
      stream.write(Buffer.from('a'), () => done.push(1));
      stream.write(Buffer.from('b'), () => done.push(2));
      expect(stream.pendingWriteBytes).toBe(2);
      listener.stdin!.write('accept\n');
      await events.connected;
      expect((await lines.next()).value).toBe('ab');
      expect(done).toEqual([1, 2]);
      expect(stream.pendingWriteBytes).toBe(0);
      stream.destroy();
    } finally {
      listener.kill();
    }
  });

  it('half-close by us: the host sees our end, answers, ends; onEnd then onClose, in the same call', async () => {
    let received = '';
    const port = await listen((s) => {
      s.on('data', (d: Buffer) => (received += d.toString()));
      s.on('end', () => s.end('bye'));
    });
    const events = recorder();
    const onEnd = events.onEnd;
    // A microtask queued at onEnd runs after the call that delivered it: onClose comes before it.
    events.onEnd = () => {
      onEnd();
      queueMicrotask(() => events.log.push('after the call'));
    };
    const stream = connectNative(new NativeTcpPort(), { address: '127.0.0.1', port }, events);
    await events.connected;
    stream.resume();
    stream.write(Buffer.from('hello'));
    stream.end();
    await events.closed;
    await tick(0);
    expect(received).toBe('hello');
    expect(text(events.chunks)).toBe('bye');
    expect(events.log).toEqual(['connect', 'end', 'close', 'after the call']);
  });

  it('half-close by the host: onEnd, and we can still write until we end too', async () => {
    let received = '';
    let hostClosed!: () => void;
    const closedAtHost = new Promise<void>((r) => (hostClosed = r));
    const port = await listen((s) => {
      s.end('first');
      s.on('data', (d: Buffer) => (received += d.toString()));
      s.on('close', hostClosed);
    });
    const events = recorder();
    const stream = connectNative(new NativeTcpPort(), { address: '127.0.0.1', port }, events);
    await events.connected;
    stream.resume();
    await events.ended;
    expect(events.log).toEqual(['connect', 'end']); // half-open: no close yet
    stream.write(Buffer.from('after your end'));
    await tick(20);
    expect(events.log).toEqual(['connect', 'end']);
    stream.end();
    await events.closed;
    await closedAtHost;
    expect(received).toBe('after your end');
    expect(text(events.chunks)).toBe('first');
  });

  it('onClose after our end from inside an engine call comes after that turn, for each stream in order; a handler that throws is uncaught and the rest still get theirs', async () => {
    const port = await listen((s) => s.end());
    const order: string[] = [];
    const streams: HostStream[] = [];
    const recorders: HostStreamRecorder[] = [];
    for (let i = 0; i < 3; i++) {
      const events = recorder();
      const onClose = events.onClose;
      events.onClose = () => {
        order.push(`close ${i}`);
        onClose();
        if (i === 0) throw new Error('handler 0 failed');
      };
      const stream = connectNative(new NativeTcpPort(), { address: '127.0.0.1', port }, events);
      await events.connected;
      stream.resume();
      await events.ended; // the host's end: our end below finishes the stream
      streams.push(stream);
      recorders.push(events);
    }
    const rethrown: (() => void)[] = [];
    const spy = vi.spyOn(globalThis, 'queueMicrotask').mockImplementation((callback) => void rethrown.push(callback));
    try {
      for (const stream of streams) stream.end();
      expect(order).toEqual([]); // not from inside the engine's call
      await tick(0);
    } finally {
      spy.mockRestore();
    }
    expect(order).toEqual(['close 0', 'close 1', 'close 2']);
    expect(recorders.map((r) => r.log)).toEqual([
      ['connect', 'end', 'close'],
      ['connect', 'end', 'close'],
      ['connect', 'end', 'close'],
    ]);
    // The throw is handed on as uncaught (a microtask that rethrows it), not swallowed.
    expect(rethrown).toHaveLength(1);
    expect(rethrown[0]).toThrow('handler 0 failed');
  });

  it('reset() sends an RST: the host sees ECONNRESET; no event follows', async () => {
    let hostError = '';
    let hostClosed!: () => void;
    const closedAtHost = new Promise<void>((r) => (hostClosed = r));
    const port = await listen((s) => {
      s.on('error', (e: NodeJS.ErrnoException) => (hostError = e.code ?? ''));
      s.on('close', hostClosed);
      s.resume();
    });
    const events = recorder();
    const stream = connectNative(new NativeTcpPort(), { address: '127.0.0.1', port }, events);
    await events.connected;
    stream.resume();
    await tick(20);
    stream.reset();
    await closedAtHost;
    expect(hostError).toBe('ECONNRESET');
    await tick(20);
    expect(events.log).toEqual(['connect']);
  });

  it('a reset from the host arrives as onError (Unreachable ECONNRESET) and onClose', async () => {
    const port = await listen((s) => setTimeout(() => s.resetAndDestroy(), 20));
    const events = recorder();
    const stream = connectNative(new NativeTcpPort(), { address: '127.0.0.1', port }, events);
    await events.connected;
    stream.resume();
    await events.closed;
    expect(events.log).toEqual(['connect', 'error Unreachable ECONNRESET', 'close']);
  });

  it('backpressure towards a slow host reader: writes wait in order, onWritten when taken, onDrain at the end', async () => {
    const size = 16 * 1024 * 1024;
    const payload = patternedPayload(size);
    let hostSocket!: Socket;
    const got: Buffer[] = [];
    let gotBytes = 0;
    let allReceived!: () => void;
    const received = new Promise<void>((r) => (allReceived = r));
    const port = await listen((s) => {
      hostSocket = s;
      s.pause(); // reads nothing until we say
      s.on('data', (d: Buffer) => {
        got.push(d);
        gotBytes += d.length;
        if (gotBytes === size) allReceived();
      });
    });
    const events = recorder();
    const stream = connectNative(new NativeTcpPort(), { address: '127.0.0.1', port }, events);
    await events.connected;
    const done: number[] = [];
    const chunk = 1024 * 1024;
    for (let i = 0; i < size / chunk; i++) stream.write(payload.subarray(i * chunk, (i + 1) * chunk), () => done.push(i));
    await tick(50);
    // The kernel's buffers took some; the rest waits with us, in order, its onWritten not yet called.
    expect(stream.pendingWriteBytes).toBeGreaterThan(0);
    expect(done.length).toBeLessThan(size / chunk);
    expect(done).toEqual(done.map((_, i) => i));
    expect(events.drains).toBe(0);
    hostSocket.resume();
    await received;
    while (events.drains === 0) await tick(5);
    expect(done).toEqual(Array.from({ length: size / chunk }, (_, i) => i));
    expect(stream.pendingWriteBytes).toBe(0);
    expect(Buffer.concat(got).equals(payload)).toBe(true);
    stream.destroy();
  });

  it('pausing from inside onData stops reading until resume; every byte and the EOF arrive', async () => {
    const size = 8 * 1024 * 1024;
    const payload = patternedPayload(size);
    const port = await listen((s) => s.end(payload));
    let stream: HostStream | undefined;
    let seen = 0;
    const events = recorder((chunk) => {
      seen += chunk.length;
      if (seen >= 1024 * 1024) stream?.pause();
    });
    stream = connectNative(new NativeTcpPort(), { address: '127.0.0.1', port }, events);
    await events.connected;
    stream.resume();
    await tick(200);
    const atPause = total(events.chunks);
    expect(atPause).toBeGreaterThanOrEqual(1024 * 1024);
    expect(atPause).toBeLessThan(size);
    await tick(100);
    expect(total(events.chunks)).toBe(atPause);
    seen = -1e12;
    stream.resume();
    await events.ended;
    expect(Buffer.concat(events.chunks).equals(payload)).toBe(true);
    // Reads land one after another in the same slab: the engine's queue can merge them.
    const contiguous = events.chunks.slice(1).filter((c, i) => c.buffer === events.chunks[i].buffer && c.byteOffset === events.chunks[i].byteOffset + events.chunks[i].length);
    expect(contiguous.length).toBeGreaterThan(0);
    stream.destroy();
  });

  it('reads into released memory again, never into bytes the engine still holds', async () => {
    const size = 24 * 1024 * 1024;
    const port = await listen((s) => s.end(patternedPayload(size)));
    const held: { chunk: Uint8Array; at: number }[] = [];
    let heldBytes = 0;
    let offset = 0;
    let corrupt = 0;
    const buffers = new Set<ArrayBufferLike>();
    let stream: HostStream | undefined;
    const events = recorder((chunk) => {
      buffers.add(chunk.buffer);
      held.push({ chunk, at: offset });
      offset += chunk.length;
      heldBytes += chunk.length;
      while (heldBytes > 3 * 1024 * 1024) {
        const oldest = held.shift()!;
        if (!intact(oldest)) corrupt++;
        heldBytes -= oldest.chunk.length;
        stream?.release?.(oldest.chunk.length);
      }
    });
    events.chunks = { push: () => 0 } as unknown as Uint8Array[];
    stream = connectNative(new NativeTcpPort(), { address: '127.0.0.1', port }, events);
    await events.connected;
    stream.resume();
    await events.ended;
    expect(offset).toBe(size);
    expect(corrupt).toBe(0);
    expect(held.every(intact)).toBe(true);
    expect(buffers.size).toBeLessThan(12);
    stream.destroy();
  });

  it('many sockets at once: 300 connections, each its own answer, ids reused after close', async () => {
    const count = 300;
    const port = await listen((s) => s.once('data', (d: Buffer) => s.end(`answer ${d.toString()}`)));
    const run = async (): Promise<void> => {
      const opened = Array.from({ length: count }, (_, i) => {
        const events = recorder();
        const stream = connectNative(new NativeTcpPort(), { address: '127.0.0.1', port }, events);
        stream.write(Buffer.from(String(i)));
        return { stream, events };
      });
      await Promise.all(opened.map((o) => o.events.connected));
      for (const o of opened) o.stream.resume();
      await Promise.all(opened.map((o) => o.events.ended));
      opened.forEach((o, i) => expect(text(o.events.chunks)).toBe(`answer ${i}`));
      for (const o of opened) o.stream.end();
      await Promise.all(opened.map((o) => o.events.closed));
      opened.forEach((o) => expect(o.events.log).toEqual(['connect', 'end', 'close']));
    };
    await run();
    await run(); // the same ids again, after the first round's sockets were closed
  });

  it('destroy() ends a stream quietly: queued writes complete, no event follows', async () => {
    const port = await listen(() => undefined);
    const events = recorder();
    const stream = new NativeTcpPort().connect({ address: '127.0.0.1', port }, events);
    let written = false;
    stream.write(Buffer.from('never sent'), () => (written = true));
    stream.destroy();
    expect(written).toBe(true);
    await tick(50);
    expect(events.log).toEqual([]);
    stream.destroy(); // idempotent
    stream.reset();
  });

  /** A client connected to a published-port-like server (pauseOnConnect, as hostfwd listens), and its accepted socket. */
  async function acceptedPair(): Promise<{ client: Socket; socket: Socket }> {
    let accept!: (s: Socket) => void;
    const acceptedSocket = new Promise<Socket>((r) => (accept = r));
    const port = await listen((s) => accept(s), { pauseOnConnect: true });
    const client = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    return { client, socket: await acceptedSocket };
  }

  it('adopts an accepted socket by its descriptor: paused until resumed, both directions, half-close', async () => {
    const { client, socket } = await acceptedPair();
    const events = recorder();
    const stream = adoptSocketNatively(socket, events);
    expect(socket.destroyed).toBe(true); // Node's socket let go: the connection lives on in our descriptor
    client.end('from client');
    await tick(50);
    expect(events.chunks).toHaveLength(0);
    stream.resume();
    await events.ended;
    expect(text(events.chunks)).toBe('from client');
    let answer = '';
    client.on('data', (d: Buffer) => (answer += d.toString()));
    const closed = new Promise((r) => client.once('close', r));
    stream.write(Buffer.from('from us'));
    stream.end();
    await closed;
    await events.closed;
    expect(answer).toBe('from us');
    expect(events.log).toEqual(['end', 'close']); // no onConnect: it was connected when adopted
  });

  it('falls back to Node\'s adoption when the descriptor cannot be taken over', async () => {
    const { client, socket } = await acceptedPair();
    const events = recorder();
    const stream = adoptSocketNatively(socket, events, () => -1);
    expect(socket.destroyed).toBe(false);
    client.end('copied');
    stream.resume();
    await events.ended;
    expect(text(events.chunks)).toBe('copied');
    stream.destroy();
  });

  it('reads an adopted socket in runs larger than one read, into reused slabs', async () => {
    const size = 24 * 1024 * 1024;
    const payload = patternedPayload(size);
    const { client, socket } = await acceptedPair();
    let largest = 0;
    let offset = 0;
    let corrupt = 0;
    let stream: HostStream | undefined;
    const buffers = new Set<ArrayBufferLike>();
    const events = recorder((chunk) => {
      largest = Math.max(largest, chunk.length);
      buffers.add(chunk.buffer);
      if (!chunk.every((b, i) => b === byteAt(offset + i))) corrupt++;
      offset += chunk.length;
      stream?.release?.(chunk.length); // checked at once: released at once
    });
    events.chunks = { push: () => 0 } as unknown as Uint8Array[];
    stream = adoptSocketNatively(socket, events);
    client.end(payload);
    stream.resume();
    await events.ended;
    expect(offset).toBe(size);
    expect(corrupt).toBe(0);
    expect(largest).toBeGreaterThan(128 * 1024); // several reads of one event as one run
    expect(buffers.size).toBeLessThan(12);
    stream.destroy();
    client.destroy();
  });
});
