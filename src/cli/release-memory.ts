/**
 * What the CLIs give the engine as releaseMemory (src/engine/memory-return.ts calls it once a burst
 * of traffic is over): V8's low-memory notification, then glibc's malloc_trim.
 *
 * Why V8 first: a storm of short-lived host sockets leaves their garbage in V8's old space, and their
 * native parts (libuv handles, socket wraps) in malloc's arenas until V8 collects the JavaScript
 * objects that own them. A quiet process may keep all of it for good: V8 collects when it allocates,
 * or by its memory reducer, which only a full collection during the burst arms (bench/memory.ts: JS
 * heap 17.3 MiB 10 s after the storm in one run of two, 7.0 in the other). A plain gc() (--expose-gc)
 * is no substitute: its forced collection does not reduce memory, and left more committed.
 * The trim waits TRIM_DELAY_MS for what V8 frees in callbacks after its collections.
 */
import type { NativeAddon } from '../native/native-addon.js';

export const TRIM_DELAY_MS = 100;

export function releaseMemory(
  addon: Pick<NativeAddon, 'v8LowMemory' | 'mallocTrim'>,
  setTimer: (callback: () => void, ms: number) => void = (callback, ms) => void setTimeout(callback, ms).unref(),
): void {
  addon.v8LowMemory();
  setTimer(() => addon.mallocTrim(), TRIM_DELAY_MS);
}
