/*
 * The event loop's per-wakeup cost, steered from JavaScript. Node turns on libuv's idle-time
 * metrics (UV_METRICS_IDLE_TIME, for performance.eventLoopUtilization()), and with them libuv polls
 * once with a 0 timeout before every blocking epoll_pwait, and takes a mutex and reads the clock
 * around it: a request/response relay sleeps about once per round trip, so that is a syscall per
 * round trip spent on a figure tslirp never reads. libuv has no way to turn the metrics off again;
 * loopIdleMetricsOff clears the flag in the loop's private fields, for the libuv versions whose
 * layout is known (flags first since 1.39: uv-common.h), and does nothing on others.
 * Afterwards eventLoopUtilization() reports no idle time. Call once, before traffic; JS thread only.
 */
#ifndef TSLIRP_LOOP_CONTROL_H
#define TSLIRP_LOOP_CONTROL_H

#include <node_api.h>

/* () -> true when the metrics were on and are now off; false when they were off or libuv is unknown */
napi_value loop_idle_metrics_off_js(napi_env env, napi_callback_info info);

#endif
