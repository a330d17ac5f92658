/**
 * native/tcp_socket.c at the addon's own surface (src/host/native-tcp-port.ts is tested against it
 * in test/host): sockets ready in one loop turn reach JS in one call; a socket polled for nothing
 * is not reported, not even for an error or a hangup (epoll reports those unasked), until it is
 * watched again; a failed socket is reported once (as an error, or as readable where the set's only
 * socket is reported without epoll_wait); hung-up sockets come after the others; the set keeps the process alive exactly while a
 * socket is polled; onEvents is called with itself as `this`. Its own file: tcpInit is once per process, and NativeTcpPort would take it.
 * Loopback only.
 */
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import {
  TCP_EVENT_BATCH,
  TCP_EVENT_CONNECTED,
  TCP_EVENT_ERROR,
  TCP_EVENT_READABLE,
  loadNativeAddon,
} from '../../src/native/native-addon.js';
import { loopbackServers } from '../support/host-stream-recorder.js';

const listen = loopbackServers();
const tick = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const ECONNRESET = 104;
const EAGAIN = 11;

const addon = loadNativeAddon();
const events = new Int32Array(TCP_EVENT_BATCH * 3);
/** Every onEvents call, as its (id, events, errno) triples. */
const calls: [number, number, number][][] = [];
const scratch = new Uint8Array(64);
/** What recv said when it read no bytes (the end, or -errno). */
const recvResults: number[] = [];
/** The `this` of every onEvents call. */
const receivers: unknown[] = [];
function onEvents(this: unknown, count: number): void {
  receivers.push(this);
  const call: [number, number, number][] = [];
  for (let i = 0; i < count; i++) {
    const id = events[3 * i];
    call.push([id, events[3 * i + 1], events[3 * i + 2]]);
    // As the port does: what is reported is acted on (polling is level-triggered), an error or
    // the end stops the polling.
    const received = events[3 * i + 1] & TCP_EVENT_READABLE ? addon.tcpRecv(id, scratch) : 1;
    if (received <= 0) recvResults.push(received);
    if (events[3 * i + 1] & TCP_EVENT_ERROR || received <= 0) addon.tcpWatch(id, 0);
  }
  calls.push(call);
}
addon.tcpInit(onEvents, events);

/** Connects socket id to the server on port (loopback: connected inside tcpOpen) and gives the server's side. */
async function open(id: number, port: number, accepted: Promise<Socket>): Promise<Socket> {
  const result = addon.tcpOpen(id, '127.0.0.1', port, undefined);
  if (result === 0) {
    // A kernel busy elsewhere may finish the loopback handshake later: the outcome is an event.
    while (!calls.some((call) => call.some(([i, e]) => i === id && e === TCP_EVENT_CONNECTED))) await tick(5);
  } else {
    expect(result).toBe(1);
  }
  return accepted;
}

/** A fresh loopback server with socket id connected to it; its side of the connection. */
async function openToNewServer(id: number): Promise<Socket> {
  let server: Socket | undefined;
  const port = await listen((s) => (server = s.on('error', () => undefined)));
  const accepted = async (): Promise<Socket> => {
    while (server === undefined) await tick(5);
    return server;
  };
  return open(id, port, accepted());
}

/** Sockets first and second connected to one fresh server, in that order; the server's sides. */
async function openPair(first: number, second: number): Promise<Socket[]> {
  const accepted: Socket[] = [];
  const port = await listen((s) => accepted.push(s.on('error', () => undefined)));
  const waitFor = async (n: number): Promise<Socket> => {
    while (accepted.length < n) await tick(5);
    return accepted[n - 1];
  };
  await open(first, port, waitFor(1));
  await open(second, port, waitFor(2));
  return accepted;
}

describe('tcp_socket.c', { timeout: 20_000 }, () => {
  it('reports the sockets ready in one loop turn in one call into JS', async () => {
    const accepted = await openPair(0, 1);
    addon.tcpWatch(0, TCP_EVENT_READABLE);
    addon.tcpWatch(1, TCP_EVENT_READABLE);
    await tick(20);
    calls.length = 0;
    // Both written in one JS turn: both sockets are readable when the loop polls next.
    accepted[0].write('a');
    accepted[1].write('b');
    while (calls.length === 0) await tick(5);
    await tick(20);
    expect(calls.map((call) => call.sort((x, y) => x[0] - y[0]))).toEqual([
      [
        [0, TCP_EVENT_READABLE, 0],
        [1, TCP_EVENT_READABLE, 0],
      ],
    ]);
    addon.tcpClose(0, false);
    addon.tcpClose(1, false);
    // onEvents is its own `this` (native-addon.ts): no lookup of the global object per event.
    expect(receivers.length).toBeGreaterThan(0);
    expect(receivers.every((r) => r === onEvents)).toBe(true);
  });

  it('reports the sockets with bytes first and hung-up sockets last, whatever order epoll has them in', async () => {
    const accepted = await openPair(4, 5);
    addon.tcpWatch(4, 0);
    addon.tcpWatch(5, 0);
    // 4: over both ways (our FIN, then the peer's): EPOLLIN | EPOLLHUP. 5: one byte to read.
    expect(addon.tcpShutdown(4)).toBe(0);
    accepted[0].end();
    accepted[1].write('b');
    await tick(50);
    calls.length = 0;
    recvResults.length = 0;
    // Watched in one JS turn, the hung-up socket first: epoll's ready list has them in that order.
    addon.tcpWatch(4, TCP_EVENT_READABLE);
    addon.tcpWatch(5, TCP_EVENT_READABLE);
    while (calls.length === 0) await tick(5);
    await tick(20);
    expect(calls).toEqual([
      [
        [5, TCP_EVENT_READABLE, 0],
        [4, TCP_EVENT_READABLE, 0],
      ],
    ]);
    expect(recvResults).toEqual([0]); // 4's end
    addon.tcpClose(4, false);
    addon.tcpClose(5, false);
  });

  it('does not report a socket polled for nothing, even once its peer reset it; watched again: the error, once', async () => {
    const server = await openToNewServer(2);
    addon.tcpWatch(2, TCP_EVENT_READABLE);
    await tick(20);
    addon.tcpWatch(2, 0); // in the set, then out of it
    server.resetAndDestroy();
    await tick(50);
    calls.length = 0;
    recvResults.length = 0;
    await tick(50);
    expect(calls).toEqual([]); // an unwatched socket's error would be reported on every turn otherwise
    addon.tcpWatch(2, TCP_EVENT_READABLE);
    while (calls.length === 0) await tick(5);
    await tick(50);
    // Said once: as an error event (SO_ERROR), or, the set's only socket being reported without
    // asking epoll which events, as readable with recv failing with the error.
    expect(calls.length).toBe(1);
    if (calls[0][0][1] === TCP_EVENT_ERROR) expect(calls).toEqual([[[2, TCP_EVENT_ERROR, ECONNRESET]]]);
    else expect([calls, recvResults]).toEqual([[[[2, TCP_EVENT_READABLE, 0]]], [-ECONNRESET]]);
    addon.tcpClose(2, false);
  });

  it('tcpRecv with an offset and a length reads into that part of the buffer, no further; out of range throws', async () => {
    const server = await openToNewServer(3);
    server.write('abcdef');
    await tick(50);
    const into = new Uint8Array(10).fill(0x2e);
    expect(addon.tcpRecv(3, into, 2, 4)).toBe(4);
    expect(Buffer.from(into).toString()).toBe('..abcd....');
    expect(addon.tcpRecv(3, into, 8, 2)).toBe(2);
    expect(Buffer.from(into).toString()).toBe('..abcd..ef');
    expect(() => addon.tcpRecv(3, into, 8, 3)).toThrow(RangeError);
    expect(() => addon.tcpRecv(3, into, 11, 0)).toThrow(RangeError);
    expect(() => addon.tcpRecv(3, into, -1, 1)).toThrow(RangeError);
    expect(addon.tcpRecv(3, into, 0, 10)).toBe(-EAGAIN);
    addon.tcpClose(3, false);
  });

  it('keeps the process alive while a socket is polled, and not after it is closed', async () => {
    let server: Socket | undefined;
    const port = await listen((s) => (server = s.on('error', () => undefined)));
    // A child with nothing but one socket polled for readable: it must keep running until its
    // server writes, then close the socket in the event and exit by itself.
    const child = execFile(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', `
      import { loadNativeAddon } from ${JSON.stringify(`${process.cwd()}/src/native/native-addon.ts`)};
      const addon = loadNativeAddon();
      addon.tcpInit(() => { console.log('event'); addon.tcpClose(0, false); }, new Int32Array(${TCP_EVENT_BATCH * 3}));
      const result = addon.tcpOpen(0, '127.0.0.1', ${port}, undefined);
      if (result !== 1) { console.log('not connected in connect'); process.exit(2); }
      addon.tcpWatch(0, 1);
      console.log('watching');
    `], { cwd: process.cwd() });
    let output = '';
    child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    const exited = once(child, 'exit');
    while (!output.includes('watching') && child.exitCode === null) await tick(10);
    await tick(300);
    expect(child.exitCode).toBe(null); // kept alive by the polled socket alone
    expect(server).toBeDefined();
    server!.write('x');
    const [code] = (await Promise.race([exited, tick(10_000).then(() => ['timeout'])])) as [unknown];
    expect(code).toBe(0);
    expect(output).toBe('watching\nevent\n');
  });
});
