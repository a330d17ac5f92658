/*
 * Batched TAP I/O: receive on the JS thread (poll mode) or on a reader thread with two batch areas
 * handed to JS in turn (thread mode); transmit by flush. See tap_io.h for the contract.
 *
 * Why two modes: for a request/response exchange the reader thread cost a thread switch per frame
 * (the thread wakes in poll(), reads, signals the loop, JS wakes) on top of the loop's own wakeup,
 * and on a busy 2-core machine each switch can wait for a core. Reading from the loop removes that
 * hop. For a bulk stream of 64 KiB super-frames the thread is worth it: the kernel's copy of the
 * next frames overlaps the engine's work on the previous batch.
 *
 * What decides is the byte rate, over windows of WINDOW_MS: the thread pays off for bytes to copy,
 * not for frames (a stream of small ACKs costs little to read, and each batch handed across costs a
 * wakeup), and criteria per pass flapped (a bulk transfer at MTU 1500 lost a third of its rate when
 * a pass of 4 frames already counted as heavy, and the thread gave back after a few small batches).
 *
 * Poll mode (the start): a uv_poll handle on the fd; when it is readable the JS thread reads what
 * is there (up to one batch) into area 0 and calls JS synchronously. HEAVY_WINDOW_BYTES read within
 * one window (or a full batch) hands the fd to the thread: poll stopped, mode = thread, cv
 * signalled. Thread mode: the thread owns batch b until it sets busy[b] and queues a threadsafe
 * call; JS owns it until call_js returns and clears busy[b]; the thread never writes a busy batch,
 * and when both are busy it waits (the guest's frames queue in the TAP meanwhile). When the TAP runs
 * dry after LIGHT_WINDOWS windows in a row under LIGHT_WINDOW_BYTES, or stays dry for IDLE_MS, the
 * thread sets mode = poll, parks, and queues a control call after its last batch: call_js restarts
 * the poll handle only once every batch before it has come back, so the two never read at once.
 */
#define _GNU_SOURCE
#include "tap_io.h"

#include <errno.h>
#include <linux/virtio_net.h>
#include <net/ethernet.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "napi_util.h"

/* Per-frame flags; must match FRAME_CHECKSUM_* in src/link/link.ts. */
#define FRAME_CHECKSUM_PARTIAL 1
#define FRAME_CHECKSUM_VALID 2

/* How long one flush may wait for a TAP that reports EAGAIN before dropping the rest. */
#define TX_WAIT_BUDGET_MS 1000

/* Mode switches (see the head comment). Rates are measured over windows this long: */
#define WINDOW_MS 10
/* poll mode hands over to the thread after this many bytes within one window (~100 MB/s)... */
#define HEAVY_WINDOW_BYTES (1024u * 1024u)
/* ...which hands back once the TAP runs dry after this many windows in a row under this many bytes
 * each (~25 MB/s: a quarter of the way in, so a stream near the line does not flap), */
#define LIGHT_WINDOWS 10u
#define LIGHT_WINDOW_BYTES (256u * 1024u)
/* or once it has been dry this long. */
#define IDLE_MS 20

/*
 * Memory: the areas are allocated at full size but the kernel backs a page only once it is written,
 * so RSS follows the largest batch ever read (or frames ever queued). When a heavy stream is over
 * (the thread hands back), the pages of each receive batch beyond its first KEEP_BYTES go back to
 * the kernel (MADV_DONTNEED: zero pages on the next touch), and so do the transmit area's when JS
 * says nothing is queued in it (tap_io_release_tx): a transfer's peak is not kept for good. A light
 * exchange stays within the kept part; the next stream faults its pages in again (~0.5 ms per MiB).
 */
#define KEEP_BYTES (64u * 1024u)

enum { MODE_POLL, MODE_THREAD };

/* Bytes read per window of WINDOW_MS; each is used by one thread only (poll side, thread side). */
struct rate_window {
  uint64_t start_ms;
  uint64_t bytes;
};

static uint64_t monotonic_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}

/* Adds bytes; returns the total of the window just closed when a new one began, else -1. */
static int64_t rate_add(struct rate_window *w, uint64_t bytes) {
  uint64_t now = monotonic_ms();
  int64_t closed = -1;
  if (now - w->start_ms >= WINDOW_MS) {
    closed = (int64_t)w->bytes;
    w->start_ms = now;
    w->bytes = 0;
  }
  w->bytes += bytes;
  return closed;
}
/* fill_batch's result besides 0 / -1 (stopping) / errno: hand the fd back to poll mode. */
#define FILL_IDLE (-2)
/* Kinds of threadsafe calls. */
enum { CALL_BATCH, CALL_ERROR, CALL_POLL };

enum { BUF_RX_DATA, BUF_RX_OFFSETS, BUF_RX_LENGTHS, BUF_RX_GSO, BUF_RX_FLAGS, BUF_TX_DATA,
       BUF_TX_DESC, BUF_COUNT };

static const char *const buffer_names[BUF_COUNT] = {"rxData", "rxOffsets", "rxLengths", "rxGso",
                                                    "rxFlags", "txData",   "txDesc"};

struct tap_io {
  int fd;
  int wake_fd; /* eventfd: tells the reader thread to stop */
  int vnet_hdr_size;
  uint32_t batch_bytes, max_frames, tx_bytes, tx_max_frames;

  void *buf[BUF_COUNT];
  size_t buf_size[BUF_COUNT];
  napi_ref buf_ref[BUF_COUNT]; /* keeps the ArrayBuffers (and so the raw pointers) alive */

  pthread_mutex_t mu;
  pthread_cond_t cv;
  int busy[2];      /* under mu */
  int stop;         /* written under mu, read atomically by the thread */
  int mode;         /* MODE_*, under mu */
  int thread_batch; /* the batch the thread fills first when handed the fd, under mu */

  pthread_t thread;
  int thread_started;
  napi_threadsafe_function tsfn;
  int closed; /* JS thread only */
  int refs;   /* owners: the JS wrapper, the tsfn and the poll handle while they exist (JS thread only) */

  /* Poll mode (JS thread only). */
  napi_env env;
  napi_ref on_batch;
  napi_async_context async_context;
  uv_poll_t poll;
  int poll_open, poll_active;
  struct rate_window poll_rate;

  /* Counters: each written by one thread, read with relaxed atomics. */
  uint64_t rx_frames, rx_batches, rx_thread_batches, rx_mode_switches, rx_dropped, tx_frames,
      tx_dropped, tx_waits, area_releases;
};

/* Gives the pages of [base + keep, base + len) back to the kernel (whole pages inside it only). */
static void release_pages(void *base, size_t len, size_t keep) {
  if (base == NULL || len <= keep) return;
  uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
  uintptr_t start = ((uintptr_t)base + keep + page - 1) & ~(page - 1);
  uintptr_t end = ((uintptr_t)base + len) & ~(page - 1);
  if (end > start) madvise((void *)start, end - start, MADV_DONTNEED);
}

/* Bytes of [base, base + len) the kernel backs with memory (mincore), for the stats. */
static double resident_bytes(void *base, size_t len) {
  if (base == NULL || len == 0) return 0;
  uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
  uintptr_t start = (uintptr_t)base & ~(page - 1);
  uintptr_t end = ((uintptr_t)base + len + page - 1) & ~(page - 1);
  size_t pages = (end - start) / page;
  unsigned char *vec = malloc(pages);
  if (vec == NULL) return -1;
  double total = 0;
  if (mincore((void *)start, end - start, vec) == 0) {
    for (size_t i = 0; i < pages; i++) total += (vec[i] & 1) ? (double)page : 0;
  } else {
    total = -1;
  }
  free(vec);
  return total;
}

static void counter_add(uint64_t *c, uint64_t n) { __atomic_fetch_add(c, n, __ATOMIC_RELAXED); }
static double counter_get(uint64_t *c) { return (double)__atomic_load_n(c, __ATOMIC_RELAXED); }
static int stopping(struct tap_io *io) { return __atomic_load_n(&io->stop, __ATOMIC_ACQUIRE); }

static void io_unref(struct tap_io *io) {
  if (--io->refs > 0) return;
  pthread_mutex_destroy(&io->mu);
  pthread_cond_destroy(&io->cv);
  free(io);
}

/* ---- reader thread ---------------------------------------------------------------------- */

/* The threadsafe-call payload: kind, batch index and count (or errno) packed in a pointer. */
static void *encode_call(int kind, int batch, uint32_t value) {
  return (void *)(((uintptr_t)value << 3) | ((uintptr_t)kind << 1) | (uintptr_t)batch);
}

/* Waits until batch b is back from JS. Returns 0, or -1 when stopping. */
static int wait_batch_free(struct tap_io *io, int b) {
  pthread_mutex_lock(&io->mu);
  while (io->busy[b] && !io->stop) pthread_cond_wait(&io->cv, &io->mu);
  int stop = io->stop;
  pthread_mutex_unlock(&io->mu);
  return stop ? -1 : 0;
}

/*
 * Blocks until the TAP has something to say, or timeout_ms (-1: no limit). Returns 0, -1 when
 * stopping, FILL_IDLE on timeout, or an errno. *error_event is set when poll reported
 * POLLERR/POLLHUP (device gone): the next read() then gives the precise error.
 */
static int wait_readable(struct tap_io *io, int *error_event, int timeout_ms) {
  struct pollfd fds[2] = {{.fd = io->fd, .events = POLLIN}, {.fd = io->wake_fd, .events = POLLIN}};
  *error_event = 0;
  for (;;) {
    if (stopping(io)) return -1;
    int n = poll(fds, 2, timeout_ms);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return FILL_IDLE;
    if (fds[1].revents != 0) return -1;
    if (fds[0].revents & POLLNVAL) return EBADF;
    if (fds[0].revents != 0) {
      *error_event = (fds[0].revents & POLLIN) == 0;
      return 0;
    }
  }
}

/* Records frame `n` bytes long (vnet header included) at `pos` of batch b as entry i. */
static void record_frame(struct tap_io *io, int b, uint32_t i, uint32_t pos, uint32_t n) {
  size_t slot = (size_t)b * io->max_frames + i;
  uint32_t *offsets = io->buf[BUF_RX_OFFSETS];
  uint32_t *lengths = io->buf[BUF_RX_LENGTHS];
  uint16_t *gso = io->buf[BUF_RX_GSO];
  uint8_t *flags = io->buf[BUF_RX_FLAGS];
  uint8_t f = 0;
  uint16_t gso_size = 0;
  if (io->vnet_hdr_size > 0) {
    const uint8_t *base = (const uint8_t *)io->buf[BUF_RX_DATA] + (size_t)b * io->batch_bytes;
    struct virtio_net_hdr h;
    memcpy(&h, base + pos, sizeof h);
    if (h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) f |= FRAME_CHECKSUM_PARTIAL;
    if (h.flags & VIRTIO_NET_HDR_F_DATA_VALID) f |= FRAME_CHECKSUM_VALID;
    if (h.gso_type != VIRTIO_NET_HDR_GSO_NONE) gso_size = h.gso_size;
  }
  offsets[slot] = pos + (uint32_t)io->vnet_hdr_size;
  lengths[slot] = n - (uint32_t)io->vnet_hdr_size;
  gso[slot] = gso_size;
  flags[slot] = f;
}

/* How a fill pass waits when the TAP has nothing (yet). */
enum { FILL_NO_WAIT, FILL_WAIT_OR_IDLE, FILL_WAIT_BRIEFLY };

/*
 * Reads frames into batch b until the TAP is drained (after at least one frame) or the batch is
 * full. With nothing to read yet: FILL_NO_WAIT returns 0 with *count 0 (poll mode: the loop said
 * readable), FILL_WAIT_OR_IDLE returns FILL_IDLE at once, FILL_WAIT_BRIEFLY waits up to IDLE_MS
 * for the first frame. Returns 0, -1 when stopping, FILL_IDLE, or an errno that ends the reader; *count
 * gets the frames read and *bytes their size. *full is set when the batch has no room left.
 */
static int fill_batch(struct tap_io *io, int b, int wait, uint32_t *count, uint32_t *bytes,
                      int *full) {
  uint8_t *base = (uint8_t *)io->buf[BUF_RX_DATA] + (size_t)b * io->batch_bytes;
  uint32_t pos = 0;
  int polled_error = 0;
  *count = 0;
  *bytes = 0;
  *full = 1;
  while (*count < io->max_frames && io->batch_bytes - pos >= TAP_RX_READ_MAX) {
    if (stopping(io)) return -1;
    ssize_t n = read(io->fd, base + pos, TAP_RX_READ_MAX);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN) return errno;
      *full = 0;
      if (*count > 0 || wait == FILL_NO_WAIT) return 0;
      if (wait == FILL_WAIT_OR_IDLE) return FILL_IDLE;
      if (polled_error) return EIO; /* poll said error, read says nothing: do not spin */
      int w = wait_readable(io, &polled_error, wait == FILL_WAIT_BRIEFLY ? IDLE_MS : -1);
      if (w != 0) return w;
      *full = 1;
      continue;
    }
    if (n == 0) return EPIPE; /* a TAP never reads 0 bytes; a socket standing in for one at its end */
    /* A read that fills the whole buffer may have been truncated; a runt has no Ethernet header. */
    if (n >= TAP_RX_READ_MAX || (size_t)n < (size_t)io->vnet_hdr_size + ETH_HLEN) {
      counter_add(&io->rx_dropped, 1);
      continue;
    }
    polled_error = 0;
    record_frame(io, b, *count, pos, (uint32_t)n);
    (*count)++;
    *bytes += (uint32_t)n;
    /* Keep every frame start 8-byte aligned: cheap, and friendlier to wide reads. */
    pos += ((uint32_t)n + 7u) & ~7u;
  }
  return 0;
}

static int publish(struct tap_io *io, int b, uint32_t count) {
  pthread_mutex_lock(&io->mu);
  io->busy[b] = 1;
  pthread_mutex_unlock(&io->mu);
  counter_add(&io->rx_frames, count);
  counter_add(&io->rx_batches, 1);
  counter_add(&io->rx_thread_batches, 1);
  if (napi_call_threadsafe_function(io->tsfn, encode_call(CALL_BATCH, b, count),
                                    napi_tsfn_nonblocking) != napi_ok) {
    return -1; /* closing */
  }
  return 0;
}

/* Parks until poll mode hands the fd over (or stopping). Returns the batch to fill first, or -1. */
static int wait_thread_mode(struct tap_io *io) {
  pthread_mutex_lock(&io->mu);
  while (io->mode != MODE_THREAD && !io->stop) pthread_cond_wait(&io->cv, &io->mu);
  int b = io->stop ? -1 : io->thread_batch;
  pthread_mutex_unlock(&io->mu);
  return b;
}

/* Reads one heavy stream: returns FILL_IDLE when it is over, -1 when stopping, or an errno. */
static int read_stream(struct tap_io *io, int b) {
  struct rate_window rate = {monotonic_ms(), 0};
  uint32_t light_windows = 0;
  for (;;) {
    if (wait_batch_free(io, b) < 0) return -1;
    uint32_t count = 0, bytes = 0;
    int full = 0;
    int wait = light_windows >= LIGHT_WINDOWS ? FILL_WAIT_OR_IDLE : FILL_WAIT_BRIEFLY;
    int result = fill_batch(io, b, wait, &count, &bytes, &full);
    if (count > 0) {
      if (publish(io, b, count) < 0) return -1;
      b ^= 1;
      int64_t closed = rate_add(&rate, bytes);
      if (closed >= 0) light_windows = closed < LIGHT_WINDOW_BYTES ? light_windows + 1 : 0;
    }
    if (result != 0) return result;
  }
}

static void *reader_main(void *arg) {
  struct tap_io *io = arg;
  int result = -1;
  for (;;) {
    int b = wait_thread_mode(io);
    if (b < 0) break;
    result = read_stream(io, b);
    if (result != FILL_IDLE) break;
    /* Light again: back to poll mode. The control call queues behind this thread's batches. */
    pthread_mutex_lock(&io->mu);
    io->mode = MODE_POLL;
    pthread_mutex_unlock(&io->mu);
    counter_add(&io->rx_mode_switches, 1);
    if (napi_call_threadsafe_function(io->tsfn, encode_call(CALL_POLL, 0, 0),
                                      napi_tsfn_nonblocking) != napi_ok) {
      result = -1;
      break;
    }
  }
  if (result > 0 && !stopping(io)) {
    napi_call_threadsafe_function(io->tsfn, encode_call(CALL_ERROR, 0, (uint32_t)result),
                                  napi_tsfn_nonblocking);
  }
  napi_release_threadsafe_function(io->tsfn, napi_tsfn_release);
  return NULL;
}

/* ---- JS thread side of the reader ------------------------------------------------------- */

static void poll_start(struct tap_io *io);

static void call_js(napi_env env, napi_value js_cb, void *context, void *data) {
  struct tap_io *io = context;
  if (env == NULL || io->closed) return; /* torn down, or closed while the call was queued */
  uintptr_t v = (uintptr_t)data;
  int b = (int)(v & 1);
  int kind = (int)((v >> 1) & 3);
  int32_t value = (int32_t)(v >> 3);
  if (kind == CALL_POLL) {
    /* Every batch the thread published came back before this call and the thread is parked: the
     * receive areas are nobody's, so their pages beyond what light traffic uses can go. */
    for (int b = 0; b < 2; b++) {
      release_pages((uint8_t *)io->buf[BUF_RX_DATA] + (size_t)b * io->batch_bytes, io->batch_bytes, KEEP_BYTES);
    }
    counter_add(&io->area_releases, 1);
    /* Tell JS the stream is over (count 0): it releases the transmit area if nothing is queued. */
    napi_value argv[2], undefined;
    if (napi_get_undefined(env, &undefined) == napi_ok && napi_create_int32(env, 0, &argv[0]) == napi_ok &&
        napi_create_int32(env, 0, &argv[1]) == napi_ok) {
      napi_call_function(env, undefined, js_cb, 2, argv, NULL);
    }
    poll_start(io);
    napi_util_rethrow_pending(env);
    return;
  }
  napi_value argv[2], undefined;
  napi_status status = napi_get_undefined(env, &undefined);
  if (status == napi_ok) status = napi_create_int32(env, b, &argv[0]);
  if (status == napi_ok) status = napi_create_int32(env, kind == CALL_ERROR ? -value : value, &argv[1]);
  if (status == napi_ok) status = napi_call_function(env, undefined, js_cb, 2, argv, NULL);
  if (kind == CALL_BATCH) {
    pthread_mutex_lock(&io->mu);
    io->busy[b] = 0;
    pthread_cond_signal(&io->cv);
    pthread_mutex_unlock(&io->mu);
  }
  napi_util_rethrow_pending(env);
}

/* ---- poll mode: reading on the JS thread ------------------------------------------------ */

/* Calls onBatch(b, value) from a libuv callback, so that microtasks and ticks run after it. */
static void deliver_direct(struct tap_io *io, int b, int32_t value) {
  const int32_t args[2] = {b, value};
  napi_util_call_back(io->env, io->async_context, io->on_batch, 2, args);
}

static void poll_stop(struct tap_io *io) {
  if (!io->poll_active) return;
  uv_poll_stop(&io->poll);
  io->poll_active = 0;
}

static void on_readable(uv_poll_t *handle, int status, int events) {
  (void)status;
  (void)events;
  struct tap_io *io = handle->data;
  if (io->closed) return;
  /* Whatever status says (an error event included), read(): it tells the precise error. */
  uint32_t count = 0, bytes = 0;
  int full = 0;
  int result = fill_batch(io, 0, FILL_NO_WAIT, &count, &bytes, &full);
  if (count > 0) {
    counter_add(&io->rx_frames, count);
    counter_add(&io->rx_batches, 1);
    deliver_direct(io, 0, (int32_t)count);
    if (io->closed) return;
  }
  if (result > 0 || result == -1) {
    poll_stop(io);
    if (result > 0) deliver_direct(io, 0, -result);
    return;
  }
  if (count == 0 && status < 0) {
    /* An error event with nothing to read and no error from read(): do not spin on it. */
    poll_stop(io);
    deliver_direct(io, 0, -EIO);
    return;
  }
  rate_add(&io->poll_rate, bytes);
  if (full || io->poll_rate.bytes >= HEAVY_WINDOW_BYTES) {
    /* A heavy stream: let the thread read ahead while JS works. Batch 0 just came back. */
    poll_stop(io);
    counter_add(&io->rx_mode_switches, 1);
    pthread_mutex_lock(&io->mu);
    io->thread_batch = 1;
    io->mode = MODE_THREAD;
    io->poll_rate.bytes = 0; /* a fresh window when the fd comes back */
    pthread_cond_signal(&io->cv);
    pthread_mutex_unlock(&io->mu);
  }
}

static void poll_start(struct tap_io *io) {
  if (io->closed || io->poll_active || !io->poll_open) return;
  if (uv_poll_start(&io->poll, UV_READABLE, on_readable) == 0) io->poll_active = 1;
}

static void poll_closed(uv_handle_t *handle) {
  struct tap_io *io = handle->data;
  io_unref(io);
}

static void tsfn_finalize(napi_env env, void *finalize_data, void *hint) {
  (void)env;
  (void)hint;
  struct tap_io *io = finalize_data;
  io->tsfn = NULL;
  io_unref(io);
}

/* Stops the thread, closes the fds, lets the buffers go. Idempotent; JS thread only. */
static void io_close(napi_env env, struct tap_io *io) {
  if (io->closed) return;
  io->closed = 1;
  pthread_mutex_lock(&io->mu);
  __atomic_store_n(&io->stop, 1, __ATOMIC_RELEASE);
  pthread_cond_broadcast(&io->cv);
  pthread_mutex_unlock(&io->mu);
  uint64_t one = 1;
  ssize_t ignored = write(io->wake_fd, &one, sizeof one); /* eventfd: cannot be short */
  (void)ignored;
  if (io->thread_started) pthread_join(io->thread, NULL); /* it releases the tsfn on exit */
  if (io->poll_open) {
    poll_stop(io);
    io->poll_open = 0;
    uv_close((uv_handle_t *)&io->poll, poll_closed); /* before close(fd): it leaves epoll now */
  }
  if (io->on_batch != NULL && env != NULL) napi_delete_reference(env, io->on_batch);
  io->on_batch = NULL;
  if (io->async_context != NULL && env != NULL) napi_async_destroy(env, io->async_context);
  io->async_context = NULL;
  close(io->fd);
  close(io->wake_fd);
  io->fd = io->wake_fd = -1;
  for (int i = 0; i < BUF_COUNT; i++) {
    if (io->buf_ref[i] != NULL && env != NULL) napi_delete_reference(env, io->buf_ref[i]);
    io->buf_ref[i] = NULL;
    io->buf[i] = NULL;
  }
}

static void wrapper_finalize(napi_env env, void *data, void *hint) {
  (void)hint;
  struct tap_io *io = data;
  io_close(env, io);
  io_unref(io);
}

/* The handle is an External (the only kind this addon makes): reading its pointer is a type check
 * and a load, where napi_unwrap's private-property lookup cost ~1.4 % of the relay's CPU in a 64 B
 * request/response (two flushes per round trip; perf, scratch run 2026-12-07). */
static struct tap_io *unwrap(napi_env env, napi_value handle) {
  void *p = NULL;
  if (napi_get_value_external(env, handle, &p) != napi_ok || p == NULL) {
    napi_throw_type_error(env, NULL, "not a tap I/O handle");
    return NULL;
  }
  return p;
}

/* The arguments of a call on one handle: exactly want values into argv, the first the handle. Its
 * tap_io, or NULL with a JS throw (usage names the call's arguments). */
static struct tap_io *handle_call(napi_env env, napi_callback_info info, size_t want, napi_value *argv,
                                  const char *usage) {
  if (napi_util_get_args(env, info, want, argv, usage) < 0) return NULL;
  return unwrap(env, argv[0]);
}

/* ---- exported functions ----------------------------------------------------------------- */

napi_value tap_io_create(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 6) {
    napi_throw_type_error(env, NULL, "tapIoCreate expects 6 arguments");
    return NULL;
  }
  int64_t fd = -1, vnet = 0, batch_bytes = 0, max_frames = 0, tx_bytes = 0, tx_max = 0;
  if (napi_util_get_int(env, argv[0], "fd", 0, INT32_MAX, &fd) < 0) return NULL;
  /* From here the fd is ours: every failure closes it. */
  if (napi_util_get_int(env, argv[1], "vnetHdrSize", 0, 12, &vnet) < 0 ||
      napi_util_get_int(env, argv[2], "batchBytes", TAP_RX_READ_MAX, 64 << 20, &batch_bytes) < 0 ||
      napi_util_get_int(env, argv[3], "maxFrames", 1, 65535, &max_frames) < 0 ||
      napi_util_get_int(env, argv[4], "txBytes", TAP_RX_READ_MAX, 256 << 20, &tx_bytes) < 0 ||
      napi_util_get_int(env, argv[5], "txMaxFrames", 1, 1 << 20, &tx_max) < 0 ||
      (vnet != 0 && vnet != 10 && vnet != 12)) {
    if (vnet != 0 && vnet != 10 && vnet != 12) {
      napi_throw_range_error(env, NULL, "vnetHdrSize must be 0, 10 or 12");
    }
    close((int)fd);
    return NULL;
  }
  struct tap_io *io = calloc(1, sizeof *io);
  int wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (io == NULL || wake < 0) {
    free(io);
    if (wake >= 0) close(wake);
    close((int)fd);
    napi_throw_error(env, NULL, "cannot allocate tap I/O state");
    return NULL;
  }
  io->fd = (int)fd;
  io->wake_fd = wake;
  io->vnet_hdr_size = (int)vnet;
  io->batch_bytes = (uint32_t)batch_bytes;
  io->max_frames = (uint32_t)max_frames;
  io->tx_bytes = (uint32_t)tx_bytes;
  io->tx_max_frames = (uint32_t)tx_max;
  io->refs = 1;
  pthread_mutex_init(&io->mu, NULL);
  pthread_cond_init(&io->cv, NULL);
  io->buf_size[BUF_RX_DATA] = 2 * (size_t)batch_bytes;
  io->buf_size[BUF_RX_OFFSETS] = 2 * (size_t)max_frames * sizeof(uint32_t);
  io->buf_size[BUF_RX_LENGTHS] = 2 * (size_t)max_frames * sizeof(uint32_t);
  io->buf_size[BUF_RX_GSO] = 2 * (size_t)max_frames * sizeof(uint16_t);
  io->buf_size[BUF_RX_FLAGS] = 2 * (size_t)max_frames;
  io->buf_size[BUF_TX_DATA] = (size_t)tx_bytes;
  io->buf_size[BUF_TX_DESC] = (size_t)tx_max * TAP_TX_DESC_WORDS * sizeof(uint32_t);

  napi_value result, handle;
  if (napi_create_object(env, &result) != napi_ok ||
      napi_create_external(env, io, wrapper_finalize, NULL, &handle) != napi_ok) {
    napi_util_throw_status(env, "tapIoCreate");
    io_close(env, io);
    io_unref(io);
    return NULL;
  }
  /* From here the wrapper's finalizer owns io; errors just throw. */
  NAPI_CALL(env, napi_set_named_property(env, result, "handle", handle));
  for (int i = 0; i < BUF_COUNT; i++) {
    napi_value ab;
    NAPI_CALL(env, napi_create_arraybuffer(env, io->buf_size[i], &io->buf[i], &ab));
    NAPI_CALL(env, napi_create_reference(env, ab, 1, &io->buf_ref[i]));
    NAPI_CALL(env, napi_set_named_property(env, result, buffer_names[i], ab));
  }
  return result;
}

napi_value tap_io_start(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  struct tap_io *io = handle_call(env, info, 2, argv, "tapIoStart expects (handle, onBatch)");
  if (io == NULL) return NULL;
  if (io->closed || io->thread_started) {
    napi_throw_error(env, NULL, io->closed ? "tap link is closed" : "tap link already started");
    return NULL;
  }
  napi_value name;
  NAPI_CALL(env, napi_create_string_utf8(env, "tslirp tap reader", NAPI_AUTO_LENGTH, &name));
  uv_loop_t *loop = NULL;
  NAPI_CALL(env, napi_get_uv_event_loop(env, &loop));
  NAPI_CALL(env, napi_create_reference(env, argv[1], 1, &io->on_batch));
  NAPI_CALL(env, napi_async_init(env, NULL, name, &io->async_context));
  io->env = env;
  if (uv_poll_init(loop, &io->poll, io->fd) != 0) {
    napi_throw_error(env, NULL, "cannot poll the tap fd");
    return NULL;
  }
  io->poll.data = io;
  io->poll_open = 1;
  io->refs++; /* released by poll_closed */
  NAPI_CALL(env, napi_create_threadsafe_function(env, argv[1], NULL, name, 0, 1, io, tsfn_finalize,
                                                 io, call_js, &io->tsfn));
  io->refs++; /* released by tsfn_finalize */

  /* The reader must not take the process's signals (libuv handles them on the main loop). */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int rc = pthread_create(&io->thread, NULL, reader_main, io);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc != 0) {
    napi_release_threadsafe_function(io->tsfn, napi_tsfn_abort);
    napi_throw_error(env, NULL, "cannot start the tap reader thread");
    return NULL;
  }
  io->thread_started = 1;
  poll_start(io); /* poll mode first: the thread waits until a heavy stream hands it the fd */
  return NULL;
}

static long elapsed_ms(const struct timespec *since) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (now.tv_sec - since->tv_sec) * 1000L + (now.tv_nsec - since->tv_nsec) / 1000000L;
}

/*
 * Writes one frame. A TAP write is all or nothing (one frame per write). EAGAIN only happens when
 * the tun socket's send buffer is exhausted (its default is INT_MAX), so waiting for POLLOUT here on
 * the JS thread is the simplest way to lose and reorder nothing; the budget is per flush (from its
 * first EAGAIN), so a wedged device costs at most TX_WAIT_BUDGET_MS before frames are dropped
 * instead of hanging.
 */
static int write_frame(struct tap_io *io, struct iovec *iov, int iovcnt, struct timespec *start,
                       int *budget_spent) {
  for (;;) {
    ssize_t n = writev(io->fd, iov, iovcnt);
    if (n >= 0) return 0;
    if (errno == EINTR) continue;
    if (errno != EAGAIN || *budget_spent) return -1;
    /* The budget starts at the flush's first EAGAIN: a flush that never waits reads no clock. */
    if (start->tv_sec == 0 && start->tv_nsec == 0) clock_gettime(CLOCK_MONOTONIC, start);
    long left = TX_WAIT_BUDGET_MS - elapsed_ms(start);
    if (left <= 0) {
      *budget_spent = 1;
      return -1;
    }
    counter_add(&io->tx_waits, 1);
    struct pollfd p = {.fd = io->fd, .events = POLLOUT};
    if (poll(&p, 1, (int)left) < 0 && errno != EINTR) return -1;
  }
}

napi_value tap_io_flush(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  struct tap_io *io = handle_call(env, info, 2, argv, "tapIoFlush expects (handle, count)");
  if (io == NULL) return NULL;
  int64_t count;
  if (napi_util_get_int(env, argv[1], "count", 0, io->tx_max_frames, &count) < 0) return NULL;
  uint32_t dropped = 0;
  if (io->closed) {
    dropped = (uint32_t)count;
  } else {
    const uint32_t *desc = io->buf[BUF_TX_DESC];
    uint8_t *data = io->buf[BUF_TX_DATA];
    struct timespec start = {0, 0}; /* read at the first EAGAIN (write_frame) */
    int budget_spent = 0;
    for (uint32_t i = 0; i < (uint32_t)count; i++) {
      const uint32_t *d = desc + (size_t)i * TAP_TX_DESC_WORDS;
      uint32_t off = d[TAP_TX_OFFSET], len = d[TAP_TX_LENGTH];
      if (off > io->tx_bytes || len > io->tx_bytes - off || len < ETH_HLEN) {
        dropped++;
        continue;
      }
      struct virtio_net_hdr_mrg_rxbuf h;
      memset(&h, 0, sizeof h);
      /* Legacy virtio headers on tun are in host byte order (no TUNSETVNETLE/BE). */
      if (d[TAP_TX_CSUM_START] != 0) {
        h.hdr.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
        h.hdr.csum_start = (uint16_t)d[TAP_TX_CSUM_START];
        h.hdr.csum_offset = (uint16_t)d[TAP_TX_CSUM_OFFSET];
      }
      if (d[TAP_TX_GSO_SIZE] != 0) {
        h.hdr.gso_type = d[TAP_TX_GSO_IPV6] ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4;
        h.hdr.gso_size = (uint16_t)d[TAP_TX_GSO_SIZE];
        h.hdr.hdr_len = (uint16_t)d[TAP_TX_HDR_LEN];
      }
      struct iovec iov[2] = {{.iov_base = &h, .iov_len = (size_t)io->vnet_hdr_size},
                             {.iov_base = data + off, .iov_len = len}};
      int has_hdr = io->vnet_hdr_size > 0;
      if (write_frame(io, has_hdr ? iov : iov + 1, has_hdr ? 2 : 1, &start, &budget_spent) < 0) {
        dropped++;
      }
    }
    counter_add(&io->tx_frames, (uint64_t)count - dropped);
    counter_add(&io->tx_dropped, dropped);
  }
  napi_value out;
  NAPI_CALL(env, napi_create_uint32(env, dropped, &out));
  return out;
}

napi_value tap_io_close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  struct tap_io *io = handle_call(env, info, 1, argv, "tapIoClose expects (handle)");
  if (io == NULL) return NULL;
  io_close(env, io);
  return NULL;
}

napi_value tap_io_stats(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  struct tap_io *io = argc == 1 ? unwrap(env, argv[0]) : NULL;
  if (io == NULL) return NULL;
  const struct napi_util_named_number fields[] = {
      {"rxFrames", counter_get(&io->rx_frames)},
      {"rxBatches", counter_get(&io->rx_batches)},
      {"rxThreadBatches", counter_get(&io->rx_thread_batches)},
      {"rxModeSwitches", counter_get(&io->rx_mode_switches)},
      {"rxDropped", counter_get(&io->rx_dropped)},
      {"txFrames", counter_get(&io->tx_frames)},
      {"txDropped", counter_get(&io->tx_dropped)},
      {"txWaits", counter_get(&io->tx_waits)},
      {"areaReleases", counter_get(&io->area_releases)},
      /* Resident bytes of the two big areas (mincore), where their RSS goes. */
      {"rxAreaResident", resident_bytes(io->buf[BUF_RX_DATA], io->buf_size[BUF_RX_DATA])},
      {"txAreaResident", resident_bytes(io->buf[BUF_TX_DATA], io->buf_size[BUF_TX_DATA])}};
  return napi_util_numbers_object(env, fields, sizeof fields / sizeof fields[0]);
}

napi_value tap_io_release_tx(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  struct tap_io *io = handle_call(env, info, 1, argv, "tapIoReleaseTx expects (handle)");
  if (io == NULL || io->closed) return NULL;
  release_pages(io->buf[BUF_TX_DATA], io->buf_size[BUF_TX_DATA], KEEP_BYTES);
  return NULL;
}
