/*
 * glibc malloc, seen and steered from JavaScript: how much the allocator holds (mallinfo2) and
 * malloc_trim(0), which gives every arena's free pages back to the kernel. Node's own allocations
 * (libuv handles, socket wraps, write requests: a few hundred bytes per host socket) come from
 * malloc; after a burst of thousands of short-lived sockets their freed chunks stay in the arenas,
 * interleaved with live ones, and glibc trims only the top of a heap by itself.
 * Never called on a hot path: a trim walks the arenas (~1 ms for a few MiB).
 */
#ifndef TSLIRP_MALLOC_CONTROL_H
#define TSLIRP_MALLOC_CONTROL_H

#include <node_api.h>

/* () -> { arena, mmapped, inUse, free, releasable } (bytes, mallinfo2 of every arena together) */
napi_value malloc_info_js(napi_env env, napi_callback_info info);
/* () -> true when malloc_trim(0) gave memory back */
napi_value malloc_trim_js(napi_env env, napi_callback_info info);
/*
 * (count) -> true when set: mallopt(M_ARENA_MAX, count). Threads that allocate from then on share
 * those arenas (a thread keeps the arena it already has): without it each thread that ever mallocs
 * (V8's workers, the TAP reader) gets an arena of its own, whose pages a burst grows and which stay.
 */
napi_value malloc_limit_arenas_js(napi_env env, napi_callback_info info);
/*
 * () -> undefined: V8's LowMemoryNotification, full memory-reducing collections (pages given back,
 * new space shrunk). A quiet process after a storm may otherwise keep the storm's garbage for good:
 * V8 collects when it allocates, or by its memory reducer, which only a full GC during the burst arms.
 * Tens of ms on a storm-sized heap: once per burst, when traffic is quiet (memory-return.ts).
 */
napi_value v8_low_memory_js(napi_env env, napi_callback_info info);

#endif
