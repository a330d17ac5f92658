/*
 * Adaptive busy-polling of the event loop before it sleeps.
 *
 * A request/response relay sleeps twice per round trip (for the server's answer, for the client's
 * next request), and each of those gaps is a few tens of µs. Waking a sleeping thread costs about
 * as much again in a VM (the vCPU halts; the wakeup is an IPI and a VM entry), so in 64 B
 * request/response the sleeps, not the work, set the pace (issue 12: delaying ACKs so the relay slept
 * earlier made it 20 % slower). Like the kernel's cpuidle-haltpoll governor, the loop polls its
 * epoll set for a short window before it blocks, and adapts the window to what waiting has been
 * worth: it grows (doubling, up to the maximum) when a wait ended within the maximum, and shrinks
 * (halving, then off) when a wait outlasted it. Sparse traffic and idleness therefore cost at most one
 * wasted window per long wait, and nothing while asleep (no timer, no wakeup); a loop that never
 * has short gaps never spins.
 *
 * Mechanism: a uv_prepare handle (runs right before libuv's epoll_pwait) polls the loop's backend
 * fd with poll(2) and a 0 timeout until it is readable or the window ends, then, if nothing came,
 * blocks in poll(2) with the loop's own timeout, so that the wait is measured exactly; libuv's
 * epoll_pwait then collects the ready events at once. A loop with work already pending (backend
 * timeout 0) is left alone, and so is one with a watcher libuv has yet to register with epoll
 * (its events would not show). JS thread only; one loop per process (the main one).
 *
 * A spin must never take a CPU another task wants: on a busy machine it would delay that task by a
 * time slice and, preempted, serve its own events late (with two CPU hogs beside it, a 50 µs window
 * halved the round trips and put p99 at 4 ms). Every check period (20 ms) the thread compares the
 * CPU time it got (CLOCK_THREAD_CPUTIME_ID) with the time it wanted to run (the period less its
 * measured sleeps), and reads how many tasks the machine has runnable (/proc/loadavg: a spinner that
 * keeps its own CPU still crowds the others onto the rest). Preemptions alone do not tell: a flow's
 * own peers, woken on the spinner's CPU, preempt it hundreds of times a second on an idle machine.
 * When the CPUs are wanted it stops spinning for a back-off that doubles while contention lasts
 * (20 ms up to 1.28 s) and resets after a quiet period of spinning.
 */
#ifndef TSLIRP_BUSY_POLL_H
#define TSLIRP_BUSY_POLL_H

#include <node_api.h>
#include <stdint.h>

/* The window starts at max / BUSY_POLL_START_DIVISOR and goes off below it. */
#define BUSY_POLL_START_DIVISOR 4
/* Contention: checked every period, from at least MIN_WANTED of CPU time the thread wanted. */
#define BUSY_POLL_CHECK_PERIOD_NS 20000000u
#define BUSY_POLL_MIN_WANTED_NS 5000000u
#define BUSY_POLL_BACKOFF_FIRST_NS 20000000u
#define BUSY_POLL_BACKOFF_MAX_NS 1280000000u

/*
 * The next window after a wait of waited_ns (spin plus block) that the window did not catch. Pure:
 * the whole policy, exported for tests.
 */
uint64_t busy_poll_next_window(uint64_t window_ns, uint64_t max_ns, uint64_t waited_ns);

/*
 * (maxMicroseconds, checkContention) -> boolean: starts (or retunes; 0 stops) busy-polling of the
 * main loop, backing off under contention unless checkContention is false (for a process that owns
 * its CPU, and for tests); false (and nothing done) when the running libuv is not the one built
 * against (see busy_poll.c)
 */
napi_value busy_poll_start_js(napi_env env, napi_callback_info info);
/* () -> {windowNs, maxNs, waits, hits, blocks, spinNs, unmeasured, backoffs, backoffNs}: counters since start */
napi_value busy_poll_stats_js(napi_env env, napi_callback_info info);
/* (windowNs, maxNs, waitedNs) -> next windowNs: busy_poll_next_window for tests */
napi_value busy_poll_next_window_js(napi_env env, napi_callback_info info);
/* (backoffNs, spun, wantedNs, gotNs, runnable, cpus) -> next backoffNs: busy_poll_contended and _next_backoff, for tests */
napi_value busy_poll_next_backoff_js(napi_env env, napi_callback_info info);

#endif
