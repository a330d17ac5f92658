/**
 * One malloc arena for the whole process (glibc's M_ARENA_MAX), set by both CLIs as they start.
 *
 * Why: glibc gives each thread that mallocs an arena of its own (up to 8 per core). Ours are V8's
 * worker threads (concurrent marking, compilation) and the addon's TAP reader; a storm from the
 * guest (20k SYNs, 20k UDP ports, 20k hostile frames) grew four such arenas to ~1 MiB each, which
 * malloc_trim cannot shrink while a chunk at their top lives, and which stayed: bench/memory.ts
 * --map, 10 s after the storm, 8.5/10.6 MiB above idle with one arena against 10.8/12.5 with the
 * default (RssAnon 3.9/5.9 against 6.1/7.7). Those threads malloc little and rarely, so sharing the
 * main arena's lock costs them nothing measurable (bench/tcp-iperf.ts A/B in the commit).
 *
 * Set early, before the TAP reader exists; a thread that already has an arena keeps it. That is why
 * the launcher (bin/tslirp, native/launcher.c) also starts Node with MALLOC_ARENA_MAX=1, which glibc
 * reads before any thread exists: a V8 worker had taken an arena during Node's bootstrap, before this
 * call, and ~1 MiB of it stayed resident after a storm. This call remains for `node bin/tslirp.js`
 * and `tslirp run`, whose command must not inherit the variable.
 */
import type { NativeAddon } from '../native/native-addon.js';

export const MALLOC_ARENAS = 1;

/** Limits the arenas; does nothing where the addon cannot be loaded (the caller fails on its own then). */
export function limitMallocArenas(load: () => NativeAddon): void {
  try {
    load().mallocLimitArenas(MALLOC_ARENAS);
  } catch {
    // no addon: nothing to steer
  }
}
