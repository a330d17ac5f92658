/* Adaptive busy-polling of the event loop before it sleeps; see busy_poll.h. */
#include "busy_poll.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "napi_util.h"

uint64_t busy_poll_next_window(uint64_t window_ns, uint64_t max_ns, uint64_t waited_ns) {
  uint64_t start = max_ns / BUSY_POLL_START_DIVISOR;
  if (start == 0) start = max_ns;
  if (waited_ns <= max_ns) {
    /* The event came within reach: a longer window would have caught it without a sleep. */
    if (window_ns < start) return start;
    return window_ns * 2 < max_ns ? window_ns * 2 : max_ns;
  }
  /* A long wait: the window was spent for nothing. */
  window_ns /= 2;
  return window_ns < start ? 0 : window_ns;
}

int busy_poll_contended(uint64_t wanted_ns, uint64_t got_ns, long runnable, long cpus) {
  if (runnable > 0 && cpus > 0 && runnable > cpus) return 1;
  /* Kept off its CPU for a quarter of the time it wanted to run (spinning included). */
  return wanted_ns >= BUSY_POLL_MIN_WANTED_NS && got_ns * 4 < wanted_ns * 3;
}

uint64_t busy_poll_next_backoff(uint64_t backoff_ns, int spun, int contended) {
  if (contended) {
    if (backoff_ns == 0) return BUSY_POLL_BACKOFF_FIRST_NS;
    return backoff_ns * 2 < BUSY_POLL_BACKOFF_MAX_NS ? backoff_ns * 2 : BUSY_POLL_BACKOFF_MAX_NS;
  }
  /* Quiet while spinning: the CPU is ours again. Quiet while backed off proves nothing. */
  return spun ? 0 : backoff_ns;
}

struct busy_poll {
  uv_prepare_t prepare;
  int started;
  uint64_t max_ns;
  uint64_t window_ns;
  /*
   * Counters: waits measured, waits the window caught, waits that blocked, ns spent polling, waits
   * left to libuv because a watcher was not registered yet.
   */
  uint64_t waits, hits, blocks, spin_ns, unmeasured;
  /*
   * Contention: the current check period (its start, the thread's CPU time then, the time it spent
   * blocked since, whether it spun, the unmeasured waits then), the back-off and its end.
   */
  uint64_t period_start_ns, period_cpu_base_ns, period_blocked_ns, period_unmeasured_base, backoff_ns, spin_off_until_ns;
  int period_spun, period_open;
  int check_contention;
  int loadavg_fd; /* /proc/loadavg, for the machine's runnable tasks; -1 without it */
  long cpus;
  uint64_t backoffs; /* counter: periods found contended */
};

static struct busy_poll state;

static int backend_ready(int fd, int timeout_ms) {
  struct pollfd p = {.fd = fd, .events = POLLIN, .revents = 0};
  int n;
  do {
    n = poll(&p, 1, timeout_ms);
  } while (n < 0 && errno == EINTR && timeout_ms == 0);
  return n > 0;
}

/*
 * libuv registers a started or changed watcher with epoll only inside its next poll (the loop's
 * watcher_queue), so until then the epoll fd does not show that fd's events: polling it would miss
 * them, and blocking on it could sleep past them. Such a wait is left to libuv. The field is
 * private; its layout is that of the headers this file was built with, and busyPollStart refuses a
 * libuv of another minor version.
 */
#if UV_VERSION_MAJOR == 1 && UV_VERSION_MINOR >= 46
static int watchers_pending(const uv_loop_t *loop) { return loop->watcher_queue.next != &loop->watcher_queue; }
#define BUSY_POLL_SUPPORTED 1
#else
static int watchers_pending(const uv_loop_t *loop) { return 1; }
#define BUSY_POLL_SUPPORTED 0
#endif

static uint64_t thread_cpu_ns(void) {
  struct timespec t;
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t) < 0) return 0;
  return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void open_period(uint64_t now) {
  state.period_start_ns = now;
  state.period_cpu_base_ns = thread_cpu_ns();
  state.period_blocked_ns = 0;
  state.period_unmeasured_base = state.unmeasured;
  state.period_spun = 0;
  state.period_open = 1;
}

/* Tasks runnable on the machine now (this thread included), /proc/loadavg's fourth field; 0: unknown. */
static long runnable_now(void) {
  if (state.loadavg_fd < 0) return 0;
  char text[128];
  ssize_t n = pread(state.loadavg_fd, text, sizeof text - 1, 0);
  if (n <= 0) return 0;
  text[n] = '\0';
  const char *p = text;
  for (int spaces = 0; spaces < 3; p++) {
    if (*p == '\0') return 0;
    if (*p == ' ') spaces++;
  }
  long runnable = 0;
  for (; *p >= '0' && *p <= '9'; p++) runnable = runnable * 10 + (*p - '0');
  return *p == '/' ? runnable : 0;
}

/*
 * Once per check period: does spinning take a CPU someone wants? Either the thread got less than
 * three quarters of the CPU time it wanted (the period less the time it slept), or more tasks are
 * runnable than there are CPUs (a spinning thread that keeps its own CPU still crowds the others,
 * e.g. the peers of the very flow it serves, onto the rest). A period with waits left to libuv
 * (slept, unmeasured) decides nothing.
 */
static void check_contention(uint64_t now) {
  if (state.unmeasured != state.period_unmeasured_base) {
    open_period(now);
    return;
  }
  uint64_t wall = now - state.period_start_ns;
  uint64_t wanted = wall > state.period_blocked_ns ? wall - state.period_blocked_ns : 0;
  uint64_t got = thread_cpu_ns() - state.period_cpu_base_ns;
  int contended = busy_poll_contended(wanted, got, runnable_now(), state.cpus);
  state.backoff_ns = busy_poll_next_backoff(state.backoff_ns, state.period_spun, contended);
  if (contended) {
    state.spin_off_until_ns = now + state.backoff_ns;
    state.window_ns = 0;
    state.backoffs++;
    state.period_open = 0; /* a new period starts when the back-off ends */
    return;
  }
  open_period(now);
}

static void before_poll(uv_prepare_t *handle) {
  uv_loop_t *loop = handle->loop;
  int timeout_ms = uv_backend_timeout(loop);
  if (timeout_ms == 0) return; /* work already pending: libuv will not sleep */
  if (watchers_pending(loop)) {
    state.unmeasured++;
    return;
  }
  int fd = uv_backend_fd(loop);
  uint64_t begin = uv_hrtime();
  uint64_t now = begin;
  state.waits++;
  /* Backed off: libuv blocks, unmeasured, and the window stays closed until the back-off ends. */
  if (begin < state.spin_off_until_ns) return;
  if (state.check_contention) {
    if (!state.period_open) open_period(begin);
    else if (begin - state.period_start_ns >= BUSY_POLL_CHECK_PERIOD_NS) check_contention(begin);
    if (begin < state.spin_off_until_ns) return;
  }
  if (state.window_ns > 0) {
    state.period_spun = 1;
    /* A timer due inside the window ends the spin: libuv runs it right after. */
    uint64_t limit = state.window_ns;
    if (timeout_ms > 0 && (uint64_t)timeout_ms * 1000000u < limit) limit = (uint64_t)timeout_ms * 1000000u;
    for (;;) {
      if (backend_ready(fd, 0)) {
        state.hits++;
        state.spin_ns += uv_hrtime() - begin;
        return;
      }
      now = uv_hrtime();
      if (now - begin >= limit) break;
    }
    state.spin_ns += now - begin;
    if (timeout_ms > 0) {
      uint64_t spent_ms = (now - begin) / 1000000u;
      timeout_ms = spent_ms >= (uint64_t)timeout_ms ? 0 : timeout_ms - (int)spent_ms;
    }
  }
  state.blocks++;
  /* Block here rather than in libuv, to learn how long the wait was (EINTR: a signal, measured too). */
  uint64_t blocked_from = uv_hrtime();
  backend_ready(fd, timeout_ms);
  uint64_t end = uv_hrtime();
  state.period_blocked_ns += end - blocked_from;
  state.window_ns = busy_poll_next_window(state.window_ns, state.max_ns, end - begin);
}

napi_value busy_poll_start_js(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int64_t max_us;
  bool check_contention;
  if (napi_util_get_args(env, info, 2, argv, "busyPollStart(maxMicroseconds, checkContention)") < 0) return NULL;
  if (napi_util_get_int(env, argv[0], "maxMicroseconds", 0, 1000000, &max_us) < 0) return NULL;
  if (napi_get_value_bool(env, argv[1], &check_contention) != napi_ok) {
    napi_throw_type_error(env, NULL, "checkContention must be a boolean");
    return NULL;
  }
  uv_loop_t *loop = NULL;
  NAPI_CALL(env, napi_get_uv_event_loop(env, &loop));
  napi_value supported;
  unsigned int runtime = uv_version();
  int known = BUSY_POLL_SUPPORTED && (runtime >> 8) == ((UV_VERSION_MAJOR << 8) | UV_VERSION_MINOR);
  NAPI_CALL(env, napi_get_boolean(env, known, &supported));
  if (!known) return supported;
  if (!state.started) {
    if (max_us == 0) return supported;
    /* Opened once, before a sandbox may hide /proc; without it only the CPU time got is watched. */
    state.loadavg_fd = open("/proc/loadavg", O_RDONLY | O_CLOEXEC);
    state.cpus = sysconf(_SC_NPROCESSORS_ONLN);
    uv_prepare_init(loop, &state.prepare);
    uv_unref((uv_handle_t *)&state.prepare); /* never keeps the process alive */
    state.started = 1;
  }
  state.max_ns = (uint64_t)max_us * 1000u;
  state.window_ns = 0;
  state.backoff_ns = 0;
  state.spin_off_until_ns = 0;
  state.period_open = 0;
  state.check_contention = check_contention;
  if (max_us == 0) {
    uv_prepare_stop(&state.prepare);
  } else {
    uv_prepare_start(&state.prepare, before_poll);
  }
  return supported;
}

napi_value busy_poll_stats_js(napi_env env, napi_callback_info info) {
  (void)info;
  const struct napi_util_named_number fields[] = {
      {"windowNs", (double)state.window_ns}, {"maxNs", (double)state.max_ns},
      {"waits", (double)state.waits},        {"hits", (double)state.hits},
      {"blocks", (double)state.blocks},      {"spinNs", (double)state.spin_ns},
      {"unmeasured", (double)state.unmeasured}, {"backoffs", (double)state.backoffs},
      {"backoffNs", (double)state.backoff_ns}};
  return napi_util_numbers_object(env, fields, sizeof fields / sizeof fields[0]);
}

napi_value busy_poll_next_backoff_js(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  int64_t backoff_ns, wanted_ns, got_ns, runnable, cpus;
  bool spun;
  if (napi_util_get_args(env, info, 6, argv, "busyPollNextBackoff(backoffNs, spun, wantedNs, gotNs, runnable, cpus)") < 0) {
    return NULL;
  }
  if (napi_util_get_int(env, argv[0], "backoffNs", 0, INT64_C(1) << 50, &backoff_ns) < 0) return NULL;
  NAPI_CALL(env, napi_get_value_bool(env, argv[1], &spun));
  if (napi_util_get_int(env, argv[2], "wantedNs", 0, INT64_C(1) << 50, &wanted_ns) < 0 ||
      napi_util_get_int(env, argv[3], "gotNs", 0, INT64_C(1) << 50, &got_ns) < 0 ||
      napi_util_get_int(env, argv[4], "runnable", 0, INT32_MAX, &runnable) < 0 ||
      napi_util_get_int(env, argv[5], "cpus", 0, INT32_MAX, &cpus) < 0) {
    return NULL;
  }
  int contended = busy_poll_contended((uint64_t)wanted_ns, (uint64_t)got_ns, (long)runnable, (long)cpus);
  napi_value out;
  NAPI_CALL(env, napi_create_double(env, (double)busy_poll_next_backoff((uint64_t)backoff_ns, spun, contended), &out));
  return out;
}

napi_value busy_poll_next_window_js(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int64_t window_ns, max_ns, waited_ns;
  if (napi_util_get_args(env, info, 3, argv, "busyPollNextWindow(windowNs, maxNs, waitedNs)") < 0) return NULL;
  if (napi_util_get_int(env, argv[0], "windowNs", 0, INT64_C(1) << 50, &window_ns) < 0 ||
      napi_util_get_int(env, argv[1], "maxNs", 0, INT64_C(1) << 50, &max_ns) < 0 ||
      napi_util_get_int(env, argv[2], "waitedNs", 0, INT64_C(1) << 50, &waited_ns) < 0) {
    return NULL;
  }
  napi_value out;
  NAPI_CALL(env, napi_create_double(env, (double)busy_poll_next_window((uint64_t)window_ns, (uint64_t)max_ns,
                                                                      (uint64_t)waited_ns), &out));
  return out;
}
