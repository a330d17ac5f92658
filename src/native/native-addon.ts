/**
 * The one loader of the native addon (build/Release/tslirp_native.node, built from native/), and the
 * types of everything it exports: the TAP (attach, batched I/O), the sandbox, unprivileged ICMP echo
 * sockets, host TCP and UDP sockets and the checksum sum. The TAP link, the ICMP host port, the CLI's sandbox and the wire's
 * checksum all take the addon from here, typed, with no casts; loading checks that every function is
 * there, so an addon built from other sources fails at once with one clear line.
 *
 * Loading also lets the wire's checksum sum long ranges natively (useNativeSum).
 * The addon is found from the package root (the nearest directory above this module holding a
 * package.json), so the same code works from src/ under vitest/tsx and from dist/ after tsc.
 * Must never be imported by code that runs for `--help`: loading it is the slow part of start-up.
 * Imports nothing of the engine: the link, host, CLI and engine layers may all use it.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { useNativeSum } from '../wire/checksum.js';

/** How the attach helper treats the target's user namespace (matches enum ns_userns_mode). */
export enum UsernsMode {
  None = 0,
  Always = 1,
  IfDifferent = 2,
}

/** Bits of NativeAttachResult.offloads (NS_OFFLOAD_* in native/ns_attach.h). */
export const NATIVE_OFFLOAD_CSUM = 1;
export const NATIVE_OFFLOAD_TSO4 = 2;
export const NATIVE_OFFLOAD_TSO6 = 4;

export interface NativeConfigure {
  mtu: number;
  /** 6 bytes, or absent to keep the kernel's random MAC. */
  mac?: Uint8Array;
  /** IPv4 addresses as uint32 in host order. */
  address: number;
  netmask: number;
  gateway: number;
}

export interface NativeAttachRequest {
  netnsPath: string;
  usernsMode: UsernsMode;
  usernsPath?: string;
  tapName: string;
  vnetHdr: boolean;
  configure?: NativeConfigure;
}

export interface NativeAttachResult {
  /** The TAP fd (O_NONBLOCK, O_CLOEXEC); owned by the caller until handed to tapIoCreate. */
  fd: number;
  ifname: string;
  /** 0 without IFF_VNET_HDR, else the virtio header size the fd reads and writes. */
  vnetHdrSize: number;
  offloads: number;
}

/** Buffers shared with the native side; see native/tap_io.h for their layout. */
export interface NativeTapIo {
  /** Opaque; pass back to the tapIo* functions. */
  handle: object;
  rxData: ArrayBuffer;
  rxOffsets: ArrayBuffer;
  rxLengths: ArrayBuffer;
  rxGso: ArrayBuffer;
  rxFlags: ArrayBuffer;
  txData: ArrayBuffer;
  txDesc: ArrayBuffer;
}

export interface NativeTapStats {
  rxFrames: number;
  /** Batches delivered, whichever way they were read. */
  rxBatches: number;
  /** Of those, batches the reader thread read (the rest were read on the event loop). */
  rxThreadBatches: number;
  /** Switches between reading on the event loop (light traffic) and on the thread (heavy). */
  rxModeSwitches: number;
  rxDropped: number;
  txFrames: number;
  txDropped: number;
  txWaits: number;
  /** Heavy streams after which the areas' extra pages went back to the kernel (native/tap_io.c). */
  areaReleases: number;
  /** Bytes of the receive / transmit area the kernel backs with memory now (mincore). */
  rxAreaResident: number;
  txAreaResident: number;
}

/** glibc malloc's totals over every arena (mallinfo2), in bytes. */
export interface NativeMallocInfo {
  /** From sbrk and the arenas' heaps. */
  arena: number;
  /** Chunks mmapped on their own. */
  mmapped: number;
  inUse: number;
  free: number;
  /** Free at the top of the main heap (what a trim gives back without walking). */
  releasable: number;
}

/** Busy-polling's state and counters (native/busy_poll.c). */
export interface NativeBusyPollStats {
  /** The current window: how long the next wait polls before it blocks (0: it blocks at once). */
  windowNs: number;
  maxNs: number;
  /** Waits the loop made (each before an epoll_pwait that could sleep). */
  waits: number;
  /** Waits that an event ended while polling: sleeps avoided. */
  hits: number;
  /** Waits that blocked (the window was 0 or nothing came in it). */
  blocks: number;
  /** Time spent polling, caught or not. */
  spinNs: number;
  /** Waits left to libuv (not polled, not measured): a watcher was not yet registered with epoll. */
  unmeasured: number;
  /** Check periods found contended (preempted too often): spinning stopped for a back-off each time. */
  backoffs: number;
  /** The current back-off (0: none). */
  backoffNs: number;
}

export interface NativeAddon {
  /** Throws an Error with a one-line message (e.g. "cannot open /proc/1/ns/net: ..."). */
  attach(request: NativeAttachRequest): NativeAttachResult;
  /** The kernel's view of a TAP fd opened elsewhere (TUNGETIFF); throws when fd is not an attached TAP. */
  tapInfo(fd: number): { ifname: string; vnetHdrSize: number };
  /** Takes ownership of fd (closed on failure too). */
  tapIoCreate(
    fd: number,
    vnetHdrSize: number,
    batchBytes: number,
    maxFrames: number,
    txBytes: number,
    txMaxFrames: number,
  ): NativeTapIo;
  /**
   * onBatch(batch, count): count > 0 frames in batch 0 or 1; count < 0 is -errno (reader stopped);
   * count 0: a heavy stream is over (the reader is back on the event loop; the receive areas'
   * extra pages went back to the kernel, the transmit area's may: tapIoReleaseTx).
   * Called from the event loop directly (light traffic) or through a threadsafe function (heavy).
   */
  tapIoStart(handle: object, onBatch: (batch: number, count: number) => void): void;
  /** Writes the first count descriptors of txDesc; returns how many frames were dropped. */
  tapIoFlush(handle: object, count: number): number;
  tapIoClose(handle: object): void;
  tapIoStats(handle: object): NativeTapStats;
  /** Gives the transmit area's pages beyond its first 64 KiB back to the kernel; only with no frame queued. */
  tapIoReleaseTx(handle: object): void;
  /** glibc malloc's totals (native/malloc_control.c). */
  mallocInfo(): NativeMallocInfo;
  /** malloc_trim(0): every arena's free pages back to the kernel; true when some were. */
  mallocTrim(): boolean;
  /** mallopt(M_ARENA_MAX, count): threads allocating from now on share count arenas; true when set. */
  mallocLimitArenas(count: number): boolean;
  /** V8's LowMemoryNotification: memory-reducing full collections, now (native/v8_memory.cc). */
  v8LowMemory(): void;
  /**
   * Turns off libuv's idle-time metrics on this thread's loop (native/loop_control.c): one
   * epoll_pwait per wakeup instead of two. True when they were on and are now off; false when off
   * already or libuv's version is not one whose private layout is known. eventLoopUtilization()
   * reports no idle time afterwards.
   */
  loopIdleMetricsOff(): boolean;
  /**
   * Starts adaptive busy-polling of this thread's loop before it sleeps, with a window of at most
   * maxMicroseconds (native/busy_poll.c); again to retune; 0 stops it. checkContention: back off
   * while the thread is preempted often (false only for a process that owns its CPU, and tests).
   * Main thread only. False, and nothing started, when the running libuv is not the version the
   * addon was built against.
   */
  busyPollStart(maxMicroseconds: number, checkContention: boolean): boolean;
  /** Busy-polling's counters since busyPollStart. */
  busyPollStats(): NativeBusyPollStats;
  /** The window policy alone (busy_poll_next_window), for tests: the next window after a wait the window missed. */
  busyPollNextWindow(windowNs: number, maxNs: number, waitedNs: number): number;
  /** The contention policy alone (busy_poll_next_backoff), for tests: the back-off after a check period. */
  busyPollNextBackoff(backoffNs: number, spun: boolean, wantedNs: number, gotNs: number, runnable: number, cpus: number): number;
  /**
   * Applies the sandbox to every thread (native/sandbox.c); throws with a one-line message when a
   * requested restriction cannot be applied.
   */
  sandboxApply(options: NativeSandboxRequest): NativeSandboxResult;
  /**
   * Asks the launcher's pivot helper (native/launcher_sandbox.c) to enter the sandbox's minimal root;
   * returns its notes (lines, often empty), throws with its message. The process's working directory
   * must be "/". The helper's fd stays open for sandboxRemoveApiSocket.
   */
  sandboxPivot(helperFd: number): string;
  /** On an orderly exit: the helper removes the API socket file (the root no longer shows it); closes helperFd. */
  sandboxRemoveApiSocket(helperFd: number): void;
  /**
   * Opens an unprivileged echo socket: SOCK_DGRAM with IPPROTO_ICMP (family 4, the default) or
   * IPPROTO_ICMPV6 (family 6). Its fd, or -errno.
   */
  icmpSocketOpen(family?: 4 | 6): number;
  /** A second, close-on-exec descriptor for a socket (native/socket_fd.c): the new fd, or -errno. */
  socketDup(fd: number): number;
  /**
   * Host TCP sockets (native/tcp_socket.c), named by ids the caller chooses. tcpInit once: the
   * sockets ready in a loop turn arrive together as onEvents(count), each as three entries of
   * events (TCP_EVENT_BATCH × 3 at least): id, TCP_EVENT_* bits, errno. onEvents is called with
   * itself as `this` (no lookup of the global object per event).
   */
  tcpInit(onEvents: (count: number) => void, events: Int32Array): void;
  /**
   * Starts a non-blocking connect (bound to bindAddress first when given): 1 when connected already
   * (loopback; no event follows), 0 when the outcome arrives as an event, or -errno (no socket then).
   */
  tcpOpen(id: number, address: string, port: number, bindAddress: string | undefined): number;
  /** Polls a connected socket's descriptor (which it takes, and closes on failure): 0, or -errno. */
  tcpAdopt(id: number, fd: number): number;
  /** What to poll for: TCP_EVENT_READABLE | TCP_EVENT_WRITABLE, or 0. */
  tcpWatch(id: number, events: number): void;
  /**
   * recv into into (with offset and length: into that part of it, no view of the region needed):
   * bytes read, 0 at the peer's end, -errno (-EAGAIN: nothing yet).
   */
  tcpRecv(id: number, into: Uint8Array, offset?: number, length?: number): number;
  /** send: bytes taken (maybe fewer than given), or -errno (-EAGAIN: none). */
  tcpSend(id: number, bytes: Uint8Array): number;
  /** shutdown(SHUT_WR): 0 or -errno. */
  tcpShutdown(id: number): number;
  /** Closes (reset: SO_LINGER 0, an RST to the peer); the id is free at once. */
  tcpClose(id: number, reset: boolean): void;
  /**
   * Polls a listening socket's descriptor (which it takes) and accepts its clients
   * (native/tcp_listener.c): each as onClient(fd: non-blocking, close-on-exec, ours; the peer's
   * address text; its port), called with itself as `this`. Answers the handle tcpListenerStop takes.
   */
  tcpListenerStart(fd: number, onClient: (fd: number, address: string, port: number) => void): NativeTcpListener;
  /** Stops accepting and closes the listening descriptor; a second call does nothing. */
  tcpListenerStop(listener: NativeTcpListener): void;
  /**
   * Host UDP sockets (native/udp_socket.c), named by ids the caller chooses. udpInit once: every
   * socket's poll events arrive as onEvent(id, UDP_EVENT_* bits), called with itself as `this`; peer (UDP_PEER_BYTES) is where
   * udpRecv and udpRecvError leave an address (UDP_PEER_* offsets).
   */
  udpInit(onEvent: (id: number, events: number) => void, peer: Uint8Array): void;
  /**
   * Opens an unconnected socket of family 4 or 6 (IPv4-mapped destinations too) that queues ICMP
   * errors (IP_RECVERR), bound to bindAddress when given, and polls it: 0, or -errno (no socket then).
   */
  udpOpen(id: number, family: 4 | 6, bindAddress: string | undefined): number;
  /** sendto: bytes sent, or -errno (-EAFNOSUPPORT: the other family; -EAGAIN: not sent; or an earlier datagram's error). */
  udpSend(id: number, bytes: Uint8Array, address: string, port: number): number;
  /** recvfrom into into: the length (source in peer), or -errno (-EAGAIN: none; else a queued error, once). */
  udpRecv(id: number, into: Uint8Array): number;
  /** The oldest queued error: its errno (> 0; the failed datagram's destination in peer), or -errno (-EAGAIN: none). */
  udpRecvError(id: number): number;
  /** Closes; the id is free at once and no event follows. */
  udpClose(id: number): void;
  /** The name of the interface with this index (a peer's IPv6 scope), undefined when there is none. */
  udpScopeName(index: number): string | undefined;
  /** Folded big-endian one's-complement sum of bytes[offset, offset+length) (native/checksum.c). */
  readonly checksumSum: (bytes: Uint8Array, offset: number, length: number) => number;
  readonly TX_DESC_WORDS: number;
}

/** A tcpListenerStart handle (an external: opaque to JS). */
export type NativeTcpListener = { readonly __nativeTcpListener: unique symbol };

export interface NativeSandboxRequest {
  noNewPrivs: boolean;
  dropCapabilities: boolean;
  seccomp: boolean;
}

export interface NativeSandboxResult {
  /** Threads the restrictions were applied to. */
  threads: number;
  /** Threads that block every signal and so could not be reached (Node's inspector signal thread). */
  unreachable: number;
  /** Whether a seccomp filter exists for this architecture and was installed. */
  seccomp: boolean;
}

/** Every function NativeAddon declares, checked when the addon loads. */
const FUNCTIONS: readonly (keyof NativeAddon)[] = [
  'attach',
  'tapIoCreate',
  'tapIoStart',
  'tapIoFlush',
  'tapIoClose',
  'tapIoStats',
  'tapIoReleaseTx',
  'mallocInfo',
  'mallocTrim',
  'loopIdleMetricsOff',
  'busyPollStart',
  'busyPollStats',
  'busyPollNextWindow',
  'busyPollNextBackoff',
  'mallocLimitArenas',
  'v8LowMemory',
  'sandboxApply',
  'sandboxPivot',
  'sandboxRemoveApiSocket',
  'tapInfo',
  'icmpSocketOpen',
  'socketDup',
  'tcpInit',
  'tcpOpen',
  'tcpAdopt',
  'tcpWatch',
  'tcpRecv',
  'tcpSend',
  'tcpShutdown',
  'tcpClose',
  'tcpListenerStart',
  'tcpListenerStop',
  'udpInit',
  'udpOpen',
  'udpSend',
  'udpRecv',
  'udpRecvError',
  'udpClose',
  'udpScopeName',
  'checksumSum',
];

/** Sockets reported per onEvents call at most (TCP_EVENT_BATCH in native/tcp_socket.h). */
export const TCP_EVENT_BATCH = 64;
/** Event bits of tcpInit's onEvents (TCP_EVENT_* in native/tcp_socket.h). */
export const TCP_EVENT_READABLE = 1;
export const TCP_EVENT_WRITABLE = 2;
export const TCP_EVENT_CONNECTED = 4;
export const TCP_EVENT_ERROR = 8;

/** Event bits of udpInit's onEvent, and the peer area's layout (native/udp_socket.h). */
export const UDP_EVENT_READABLE = 1;
export const UDP_EVENT_ERROR = 2;
export const UDP_PEER_FAMILY = 0;
export const UDP_PEER_PORT = 2;
export const UDP_PEER_ADDRESS = 4;
export const UDP_PEER_SCOPE = 20;
export const UDP_PEER_BYTES = 24;

/** Descriptor word indices in txDesc (TAP_TX_* in native/tap_io.h). */
export const TX_OFFSET = 0;
export const TX_LENGTH = 1;
export const TX_GSO_SIZE = 2;
export const TX_GSO_IPV6 = 3;
export const TX_HDR_LEN = 4;
export const TX_CSUM_START = 5;
export const TX_CSUM_OFFSET = 6;
export const TX_DESC_WORDS = 8;

const ADDON_PATH = join('build', 'Release', 'tslirp_native.node');

let cached: NativeAddon | undefined;

export function packageRoot(from: string = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}

/** What this build's addon lacks or has otherwise than NativeAddon says, or undefined when it matches. */
export function versionMismatch(exports: unknown): string | undefined {
  if (typeof exports !== 'object' || exports === null) return 'not an object';
  const record = exports as Record<string, unknown>;
  const missing = FUNCTIONS.filter((name) => typeof record[name] !== 'function');
  if (missing.length > 0) return `no ${missing.join(', ')}`;
  if (record.TX_DESC_WORDS !== TX_DESC_WORDS) return `TX_DESC_WORDS ${String(record.TX_DESC_WORDS)}, expected ${TX_DESC_WORDS}`;
  return undefined;
}

function isNativeAddon(exports: unknown): exports is NativeAddon {
  return versionMismatch(exports) === undefined;
}

export function loadNativeAddon(): NativeAddon {
  if (cached) return cached;
  const path = join(packageRoot(), ADDON_PATH);
  if (!existsSync(path)) {
    throw new Error(`native addon missing at ${path}: run "npm install" or "npm run build:native"`);
  }
  const require = createRequire(import.meta.url);
  const addon: unknown = require(path);
  if (!isNativeAddon(addon)) {
    throw new Error(`native addon at ${path} does not match this version (${versionMismatch(addon)}): run "npm run build:native"`);
  }
  // Every segment to the guest without checksum offload and every frame from it without DATA_VALID
  // is summed: natively 3x faster than JavaScript at 64 KiB.
  useNativeSum(addon.checksumSum);
  cached = addon;
  return addon;
}
