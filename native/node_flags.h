/*
 * The flags the launcher (native/launcher.c) passes to Node before the script, on every exec: the one
 * list of V8/Node options tslirp runs with. Measure RSS and start-up before adding one
 * (bench/startup.ts times the start). Each entry is one argv word, e.g. "--max-semi-space-size=1".
 */
#ifndef TSLIRP_NODE_FLAGS_H
#define TSLIRP_NODE_FLAGS_H

static const char *const TSLIRP_NODE_FLAGS[] = {
    /* A heap that grows by smaller steps and a memory reducer that acts on it: a storm of 20k SYNs,
     * 20k UDP ports and 20k hostile frames from the guest grew RSS by 78 MB and left 71 MB 10 s
     * after (V8 kept 65 MB of heap, 13 MB used); with it, +27 MB at the peak and +12 MB after.
     * Idle and bulk throughput unchanged within noise (bench/memory.ts, results/memory-2026-12-06.md). */
    "--optimize-for-size",
    /* V8's memory reducer (a memory-reducing mark-compact once the allocation rate is low) starts
     * 1 s after the heap grows instead of 8 s: the start-up garbage and a finished burst's heap are
     * given back sooner. Idle RSS 3 s after start 46.2 → 45.0 MiB (what it reached only after ~10 s
     * before); two GCs of ~5 ms each about 1 s after start, none during a steady transfer. */
    "--gc-memory-reducer-start-delay-ms=1000",
    NULL /* end of the list */
};

#endif
