/**
 * Loads the native addon (build/Release/tslirp_native.node) and describes its functions in types.
 *
 * The addon is found from the package root (the nearest directory above this module holding a
 * package.json), so the same code works from src/ under vitest/tsx and from dist/ after tsc.
 * Must never be imported by code that runs for `--help`: loading it is the slow part of start-up.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

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
  rxBatches: number;
  rxDropped: number;
  txFrames: number;
  txDropped: number;
  txWaits: number;
}

export interface NativeAddon {
  /** Throws an Error with a one-line message (e.g. "cannot open /proc/1/ns/net: ..."). */
  attach(request: NativeAttachRequest): NativeAttachResult;
  /** Takes ownership of fd (closed on failure too). */
  tapIoCreate(
    fd: number,
    vnetHdrSize: number,
    batchBytes: number,
    maxFrames: number,
    txBytes: number,
    txMaxFrames: number,
  ): NativeTapIo;
  /** onBatch(batch, count): count > 0 frames in batch 0 or 1; count < 0 is -errno (reader stopped). */
  tapIoStart(handle: object, onBatch: (batch: number, count: number) => void): void;
  /** Writes the first count descriptors of txDesc; returns how many frames were dropped. */
  tapIoFlush(handle: object, count: number): number;
  tapIoClose(handle: object): void;
  tapIoStats(handle: object): NativeTapStats;
  /** Folded big-endian one's-complement sum of bytes[offset, offset+length) (native/checksum.c). */
  readonly checksumSum: (bytes: Uint8Array, offset: number, length: number) => number;
  readonly TX_DESC_WORDS: number;
}

/** Descriptor word indices in txDesc (TAP_TX_* in native/tap_io.h). */
export const TX_OFFSET = 0;
export const TX_LENGTH = 1;
export const TX_GSO_SIZE = 2;
export const TX_GSO_IPV6 = 3;
export const TX_HDR_LEN = 4;
export const TX_CSUM_START = 5;
export const TX_CSUM_OFFSET = 6;
export const TX_DESC_WORDS = 8;

/** The largest frame (vnet header included) the reader accepts in one read (TAP_RX_READ_MAX). */
export const RX_READ_MAX = 65536 + 256;

const ADDON_PATH = join('build', 'Release', 'tslirp_native.node');

let cached: NativeAddon | undefined;

export function packageRoot(from: string = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}

export function loadNativeAddon(): NativeAddon {
  if (cached) return cached;
  const path = join(packageRoot(), ADDON_PATH);
  if (!existsSync(path)) {
    throw new Error(`native addon missing at ${path}: run "npm install" or "npm run build:native"`);
  }
  const require = createRequire(import.meta.url);
  const addon = require(path) as NativeAddon;
  if (typeof addon.attach !== 'function' || addon.TX_DESC_WORDS !== TX_DESC_WORDS) {
    throw new Error(`native addon at ${path} does not match this version: run "npm run build:native"`);
  }
  cached = addon;
  return addon;
}
