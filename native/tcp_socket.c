/*
 * Non-blocking TCP sockets polled on the event loop, for the host side of the guest's TCP flows
 * (src/host/native-tcp-port.ts holds every decision: when to read, where to, what to write, when to
 * close and what an errno means for the guest). Why not Node's net.Socket: its life cycle (stream
 * state, handle wraps, event emitters, nextTicks, close callbacks) cost ~181 µs of CPU per
 * connection, as much as slirp4netns spends on the whole connection. Here a connection is a socket
 * and one small struct; JS sees one callback per loop turn, onEvents(count), with each ready
 * socket's (id, events, errno) in the Int32Array it gave tcpInit, and calls recv/send/shutdown/close
 * itself with the views it already has (no copies, no allocation per read).
 *
 * Why one epoll set of our own (watched by one uv_poll) and not a uv_poll per socket: libuv's
 * uv_poll costs epoll_ctl ADD + DEL (its check that the fd can be polled) and an ioctl(FIONBIO) at
 * init, an epoll_ctl DEL at every start (failing with ENOENT when the fd was not in the set yet) and
 * a DEL at close: 5 epoll_ctl and an ioctl per short connection, against one ADD here (a socket of
 * our own leaves the set when it is closed). And the sockets ready together enter JS once.
 *
 * Sockets are named by small integer ids JS chooses (its own table's index): no JS object per
 * socket on this side; epoll's data carries the id and the socket's serial, so an event of a
 * socket closed meanwhile never reaches the socket that took its id. While connecting a socket is
 * polled for writable only and SO_ERROR says how the connect ended (TCP_EVENT_CONNECTED, or
 * TCP_EVENT_ERROR with the errno); after that it is polled for what JS asks (tcpWatch: readable while
 * JS wants bytes, writable while it has bytes queued); a socket polled for nothing leaves the set
 * (epoll reports errors and hangups unasked: a paused socket would be reported forever).
 * Polling is level-triggered: JS must stop watching what it will not act on. tcpClose takes the
 * socket out of the table at once (the id may be reused right away), sets SO_LINGER 0 first for a
 * reset. JS thread only; no policy.
 */
#define _GNU_SOURCE
#include "tcp_socket.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uv.h>

#include "napi_util.h"
#include "socket_table.h"

struct tcp_sock {
  struct tcp_sockets *owner;
  int fd;
  int32_t id;
  uint32_t serial; /* tells this socket's epoll events from those of an earlier holder of its id */
  int connecting;  /* polled for writable until SO_ERROR tells how the connect ended */
  int wanted;      /* TCP_EVENT_READABLE | TCP_EVENT_WRITABLE, as JS asked (tcpWatch) */
  int watching;    /* what the epoll set watches for it now (0: not in the set) */
  int shared;      /* adopted: the file may have other descriptors, so closing ours would not leave the set */
};

/*
 * The epoll set and its uv_poll: allocated apart from tcp_sockets because the handle's close
 * (at the environment's cleanup) completes on a later loop turn.
 */
struct epoll_set {
  uv_poll_t poll;
  int epfd;
  struct tcp_sockets *owner; /* NULL once the environment is being torn down */
  napi_async_cleanup_hook_handle cleanup; /* removed once the handle's close has run */
};

/* Per environment (napi instance data): the JS callback, its event array, the id → socket table. */
struct tcp_sockets {
  napi_env env;
  napi_ref on_events;
  napi_ref event_array; /* held so that events below stays valid */
  int32_t *events;      /* TCP_EVENT_BATCH × (id, events, errno) */
  napi_async_context async_context;
  struct epoll_set *set;
  uint32_t in_set; /* sockets in the epoll set: the loop is kept alive while there are any */
  struct tcp_sock *sole; /* the one socket in the set when known (learnt at ADD or from epoll_wait), else NULL */
  uint32_t next_serial;
  struct socket_table ids; /* id → struct tcp_sock */
};

static void sockets_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  struct tcp_sockets *all = data;
  socket_table_free(&all->ids);
  free(all);
}

static struct tcp_sockets *sockets_of(napi_env env) {
  void *data = NULL;
  if (napi_get_instance_data(env, &data) != napi_ok || data == NULL) {
    napi_throw_error(env, NULL, "tcpInit has not been called");
    return NULL;
  }
  return data;
}

/* onEvents(count) from a libuv callback, so that microtasks and ticks run after it. */
static void deliver(struct tcp_sockets *all, int count) {
  const int32_t args[1] = {count};
  napi_util_call_back(all->env, all->async_context, all->on_events, 1, args);
}

/* The loop is kept alive while any socket is polled (as a started uv_poll per socket did). */
static void count_in_set(struct tcp_sockets *all, struct tcp_sock *s, int change) {
  uint32_t before = all->in_set;
  all->in_set += change;
  all->sole = change > 0 && all->in_set == 1 ? s : NULL; /* after a removal leaving one: learnt later */
  if (before == 0 && all->in_set > 0) uv_ref((uv_handle_t *)&all->set->poll);
  else if (before > 0 && all->in_set == 0) uv_unref((uv_handle_t *)&all->set->poll);
}

/* Makes the epoll set watch what the socket's state and JS's wish say. */
static void apply_watch(struct tcp_sock *s) {
  int want = s->connecting ? TCP_EVENT_WRITABLE : s->wanted;
  if (want == s->watching) return;
  struct epoll_event e = {
      .events = ((want & TCP_EVENT_READABLE) ? EPOLLIN : 0) | ((want & TCP_EVENT_WRITABLE) ? EPOLLOUT : 0),
      .data.u64 = ((uint64_t)s->serial << 32) | (uint32_t)s->id,
  };
  int op = want == 0 ? EPOLL_CTL_DEL : s->watching == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
  if (epoll_ctl(s->owner->set->epfd, op, s->fd, &e) != 0) return; /* a bad fd: the next recv/send reports it */
  if (s->watching == 0) count_in_set(s->owner, s, 1);
  else if (want == 0) count_in_set(s->owner, s, -1);
  s->watching = want;
}

/* SO_ERROR: the socket's pending error (how a connect ended, an RST that arrived), or 0. */
static int pending_error(int fd) {
  int error = 0;
  socklen_t len = sizeof error;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) < 0) return errno;
  return error;
}

/* What one epoll event of s means to JS (0: nothing to say); *error gets the errno of an error. */
static int event_of(struct tcp_sock *s, uint32_t ready, int *error) {
  if (ready & EPOLLERR) {
    /* The socket's own error says what it was; a failed socket is not polled again (it would be
     * reported forever). */
    *error = pending_error(s->fd);
    if (*error == 0) *error = EIO;
    s->connecting = 0;
    s->wanted = 0;
    apply_watch(s);
    return TCP_EVENT_ERROR;
  }
  if (s->connecting) {
    int so_error = pending_error(s->fd);
    s->connecting = 0;
    if (so_error != 0) {
      *error = so_error;
      s->wanted = 0;
      apply_watch(s);
      return TCP_EVENT_ERROR;
    }
    apply_watch(s); /* what JS asked for meanwhile (nothing: paused, no writes queued) */
    return TCP_EVENT_CONNECTED;
  }
  /* A hangup reads as what is watched: recv then says the end (0) or the error. */
  int out = 0;
  if (ready & (EPOLLIN | EPOLLHUP)) out |= s->wanted & TCP_EVENT_READABLE;
  if (ready & (EPOLLOUT | EPOLLHUP)) out |= s->wanted & TCP_EVENT_WRITABLE;
  return out;
}

/* The epoll set is readable: every ready socket's event, then one call into JS for all of them. */
static void on_set_ready(uv_poll_t *handle, int status, int events) {
  (void)status;
  (void)events;
  struct epoll_set *set = handle->data;
  struct tcp_sockets *all = set->owner;
  if (all == NULL) return;
  struct tcp_sock *sole = all->in_set == 1 ? all->sole : NULL;
  if (sole != NULL && !sole->connecting) {
    /* One socket in the set (a request/response connection): the set is readable because that
     * socket is ready, so what it is watched for is said without asking epoll_wait (a syscall per
     * round trip). The kernel re-checks the set's readiness at every poll, so this is never stale
     * by more than a turn: a spurious readable or writable costs JS an EAGAIN, and an error
     * arrives from its recv or send instead of SO_ERROR. */
    all->events[0] = sole->id;
    all->events[1] = sole->wanted;
    all->events[2] = 0;
    deliver(all, 1);
    return;
  }
  struct epoll_event ready[TCP_EVENT_BATCH];
  int n;
  do n = epoll_wait(set->epfd, ready, TCP_EVENT_BATCH, 0);
  while (n < 0 && errno == EINTR);
  if (n == 1 && all->in_set == 1) {
    uint32_t id = (uint32_t)ready[0].data.u64;
    struct tcp_sock *s = socket_table_at(&all->ids, id);
    all->sole = s != NULL && s->serial == (uint32_t)(ready[0].data.u64 >> 32) ? s : NULL;
  }
  /* Hangups last. A socket whose connection is over (EPOLLHUP: both directions ended, or a reset)
   * has only its teardown left (recv the end, close, a FIN or RST to the guest); sockets with bytes
   * to pass on go first, so that their frames are written first and an answer does not wait behind
   * another connection's teardown. A client's next connection meets its previous one's end there:
   * connect, 1 byte each way, close, the first exchange 84 → 75 µs median (guest→host, MTU 1500). */
  int count = 0;
  for (int hangups = 0; hangups < 2; hangups++) {
    for (int i = 0; i < n; i++) {
      if (((ready[i].events & EPOLLHUP) != 0) != hangups) continue;
      uint32_t id = (uint32_t)ready[i].data.u64;
      struct tcp_sock *s = socket_table_at(&all->ids, id);
      if (s == NULL || s->serial != (uint32_t)(ready[i].data.u64 >> 32)) continue; /* closed meanwhile */
      int error = 0;
      int out = event_of(s, ready[i].events, &error);
      if (out == 0) continue;
      all->events[3 * count] = (int32_t)id;
      all->events[3 * count + 1] = out;
      all->events[3 * count + 2] = error;
      count++;
    }
  }
  /* The callback may close sockets: their structs are gone after it. */
  if (count > 0) deliver(all, count);
}

static void close_set(uv_handle_t *handle) {
  struct epoll_set *set = handle->data;
  close(set->epfd);
  if (set->cleanup != NULL) napi_remove_async_cleanup_hook(set->cleanup);
  free(set);
}

/*
 * The environment is going (a worker thread ends, or the process): the sockets still open are
 * closed, and the set's poll handle too. An async cleanup hook, because that close completes on a
 * later loop turn: Node runs the loop until close_set removes the hook, while the addon (which
 * holds close_set's code) is still loaded; a plain hook let a worker unload it first (SIGSEGV).
 */
static void sockets_cleanup(napi_async_cleanup_hook_handle handle, void *data) {
  struct tcp_sockets *all = data;
  for (uint32_t id = 0; id < all->ids.size; id++) {
    struct tcp_sock *s = all->ids.slots[id];
    if (s == NULL) continue;
    all->ids.slots[id] = NULL;
    close(s->fd);
    free(s);
  }
  all->set->owner = NULL;
  all->set->cleanup = handle;
  uv_close((uv_handle_t *)&all->set->poll, close_set);
}




/*
 * Takes fd as socket id (polled from the start for the connect's outcome when connecting; shared
 * when other descriptors of its file may exist). 0, or -1 with a JS throw (fd closed then).
 */
static int add_socket(napi_env env, struct tcp_sockets *all, int32_t id, int fd, int connecting, int shared) {
  struct tcp_sock *s = calloc(1, sizeof *s);
  if (s == NULL) {
    close(fd);
    napi_throw_error(env, NULL, "out of memory");
    return -1;
  }
  s->owner = all;
  s->fd = fd;
  s->id = id;
  s->serial = ++all->next_serial;
  s->connecting = connecting;
  s->shared = shared;
  all->ids.slots[id] = s;
  apply_watch(s);
  if (connecting && s->watching == 0) {
    all->ids.slots[id] = NULL;
    free(s);
    close(fd);
    napi_throw_error(env, NULL, "cannot poll a tcp socket");
    return -1;
  }
  return 0;
}

/*
 * The arguments of a call on one socket: want values into argv, the first the socket's id. The
 * socket, or NULL with a JS throw (wrong arguments, no tcpInit, an id not open).
 */
static struct tcp_sock *socket_call(napi_env env, napi_callback_info info, size_t want, napi_value *argv,
                                    const char *usage) {
  if (napi_util_get_args(env, info, want, argv, usage) < 0) return NULL;
  struct tcp_sockets *all = sockets_of(env);
  if (all == NULL) return NULL;
  return socket_table_lookup(env, &all->ids, argv[0], "tcp");
}

/*
 * tcpInit(onEvents, events): the one callback of every socket of this environment, and the
 * Int32Array (TCP_EVENT_BATCH × 3) where each call's events are: id, TCP_EVENT_* bits, errno.
 * Once per environment.
 */
napi_value tcp_init_js(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (napi_util_get_args(env, info, 2, argv, "tcpInit expects (onEvents, events)") < 0) return NULL;
  void *existing = NULL;
  NAPI_CALL(env, napi_get_instance_data(env, &existing));
  if (existing != NULL) {
    napi_throw_error(env, NULL, "tcpInit was called already");
    return NULL;
  }
  napi_typedarray_type type;
  size_t length;
  void *events;
  if (napi_get_typedarray_info(env, argv[1], &type, &length, &events, NULL, NULL) != napi_ok ||
      type != napi_int32_array || length < 3 * TCP_EVENT_BATCH) {
    napi_throw_type_error(env, NULL, "tcpInit expects an Int32Array of 3 * TCP_EVENT_BATCH events");
    return NULL;
  }
  struct tcp_sockets *all = calloc(1, sizeof *all);
  struct epoll_set *set = calloc(1, sizeof *set);
  uv_loop_t *loop;
  if (all == NULL || set == NULL) {
    free(all);
    free(set);
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  all->env = env;
  all->events = events;
  all->set = set;
  set->owner = all;
  set->epfd = epoll_create1(EPOLL_CLOEXEC);
  napi_value name;
  if (set->epfd < 0 || napi_get_uv_event_loop(env, &loop) != napi_ok ||
      uv_poll_init(loop, &set->poll, set->epfd) != 0) {
    if (set->epfd >= 0) close(set->epfd);
    free(set);
    free(all);
    napi_throw_error(env, NULL, "tcpInit: cannot poll an epoll set");
    return NULL;
  }
  set->poll.data = set;
  uv_poll_start(&set->poll, UV_READABLE, on_set_ready);
  uv_unref((uv_handle_t *)&set->poll); /* an empty set keeps no process alive */
  if (napi_create_reference(env, argv[0], 1, &all->on_events) != napi_ok ||
      napi_create_reference(env, argv[1], 1, &all->event_array) != napi_ok ||
      napi_create_string_utf8(env, "tslirp tcp socket", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_async_init(env, NULL, name, &all->async_context) != napi_ok ||
      napi_add_async_cleanup_hook(env, sockets_cleanup, all, NULL) != napi_ok ||
      napi_set_instance_data(env, all, sockets_finalize, NULL) != napi_ok) {
    set->owner = NULL;
    uv_close((uv_handle_t *)&set->poll, close_set);
    free(all);
    napi_util_throw_status(env, "tcpInit");
    return NULL;
  }
  return NULL;
}

/*
 * tcpOpen(id, address, port, bindAddress | undefined) → 1 when already connected (no event
 * follows), 0 when connecting (the outcome arrives as CONNECTED or ERROR), or -errno when the
 * connect failed at once (refused on loopback) or cannot even start (no socket in the table then).
 */
napi_value tcp_open_js(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  if (napi_util_get_args(env, info, 4, argv, "tcpOpen expects (id, address, port, bindAddress)") < 0) return NULL;
  struct tcp_sockets *all = sockets_of(env);
  if (all == NULL) return NULL;
  int32_t id, port;
  char address[INET6_ADDRSTRLEN + IF_NAMESIZE + 2], local[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
  NAPI_CALL(env, napi_get_value_int32(env, argv[0], &id));
  NAPI_CALL(env, napi_get_value_int32(env, argv[2], &port));
  if (napi_util_get_string(env, argv[1], "address", address, sizeof address) < 0) return NULL;
  napi_valuetype bind_type;
  NAPI_CALL(env, napi_typeof(env, argv[3], &bind_type));
  int bind_local = bind_type == napi_string;
  if (bind_local && napi_util_get_string(env, argv[3], "bindAddress", local, sizeof local) < 0) return NULL;
  if (port < 0 || port > 65535) return napi_util_int(env, -EINVAL);
  if (socket_table_claim(env, &all->ids, id, "tcp") < 0) return NULL;

  struct sockaddr_storage peer, self;
  socklen_t peer_len, self_len;
  if (socket_parse_address(address, port, &peer, &peer_len) < 0) return napi_util_int(env, -EINVAL);
  if (bind_local && (socket_parse_address(local, 0, &self, &self_len) < 0 || self.ss_family != peer.ss_family)) {
    return napi_util_int(env, -EAFNOSUPPORT);
  }
  int fd = socket(peer.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return napi_util_int(env, -errno);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* we forward what we read, already coalesced */
  int rc = bind_local ? bind(fd, (struct sockaddr *)&self, self_len) : 0;
  if (rc == 0) {
    do rc = connect(fd, (struct sockaddr *)&peer, peer_len);
    while (rc < 0 && errno == EINTR);
  }
  int connected = rc == 0;
  if (rc < 0 && errno == EINPROGRESS) {
    /* On loopback the handshake (or the RST of a closed port) has usually run inside connect()
     * already: a second connect() says so (0, or the refusal; EALREADY while it goes on), one
     * syscall where poll + getsockopt(SO_ERROR) took two; then no polling for the outcome. */
    rc = connect(fd, (struct sockaddr *)&peer, peer_len);
    if (rc == 0 || errno == EISCONN) {
      rc = 0;
      connected = 1;
    } else if (errno == EALREADY || errno == EINPROGRESS) {
      rc = 0;
    }
  }
  if (rc < 0) {
    int error = errno;
    close(fd);
    return napi_util_int(env, -error);
  }
  if (add_socket(env, all, id, fd, !connected, 0) < 0) return NULL;
  return napi_util_int(env, connected);
}

/* tcpAdopt(id, fd): polls a connected socket (a descriptor of our own, e.g. from socketDup; taken, closed on failure). */
napi_value tcp_adopt_js(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (napi_util_get_args(env, info, 2, argv, "tcpAdopt expects (id, fd)") < 0) return NULL;
  struct tcp_sockets *all = sockets_of(env);
  if (all == NULL) return NULL;
  int32_t id, fd;
  NAPI_CALL(env, napi_get_value_int32(env, argv[0], &id));
  NAPI_CALL(env, napi_get_value_int32(env, argv[1], &fd));
  if (fd < 0) {
    napi_throw_range_error(env, NULL, "fd must not be negative");
    return NULL;
  }
  if (socket_table_claim(env, &all->ids, id, "tcp") < 0) return NULL;
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || ((flags & O_NONBLOCK) == 0 && fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)) {
    int error = errno;
    close(fd);
    return napi_util_int(env, -error);
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (add_socket(env, all, id, fd, 0, 1) < 0) return NULL;
  return napi_util_int(env, 0);
}

/* tcpWatch(id, events): poll for TCP_EVENT_READABLE | TCP_EVENT_WRITABLE (0: nothing). */
napi_value tcp_watch_js(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  struct tcp_sock *s = socket_call(env, info, 2, argv, "tcpWatch expects (id, events)");
  if (s == NULL) return NULL;
  int32_t events;
  NAPI_CALL(env, napi_get_value_int32(env, argv[1], &events));
  s->wanted = events & (TCP_EVENT_READABLE | TCP_EVENT_WRITABLE);
  apply_watch(s);
  return NULL;
}

/*
 * tcpRecv(id, into[, offset, length]) → bytes read, 0 at the peer's end, or -errno (-EAGAIN: nothing
 * there). With offset and length the read lands in that part of into: the caller reads into its
 * slab without making a view of the region for every read.
 */
napi_value tcp_recv_js(napi_env env, napi_callback_info info) {
  static const char usage[] = "tcpRecv expects (id, into[, offset, length])";
  napi_value argv[4];
  size_t argc = 4;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || (argc != 2 && argc != 4)) {
    napi_throw_type_error(env, NULL, usage);
    return NULL;
  }
  struct tcp_sockets *all = sockets_of(env);
  if (all == NULL) return NULL;
  struct tcp_sock *s = socket_table_lookup(env, &all->ids, argv[0], "tcp");
  void *data;
  size_t length;
  if (s == NULL || napi_util_get_bytes(env, argv[1], &data, &length) < 0) return NULL;
  if (argc == 4) {
    int64_t offset, wanted;
    if (napi_util_get_int(env, argv[2], "offset", 0, (int64_t)length, &offset) < 0 ||
        napi_util_get_int(env, argv[3], "length", 0, (int64_t)length - offset, &wanted) < 0) {
      return NULL;
    }
    data = (uint8_t *)data + offset;
    length = (size_t)wanted;
  }
  ssize_t n;
  do n = recv(s->fd, data, length, 0);
  while (n < 0 && errno == EINTR);
  return napi_util_int(env, n >= 0 ? (int)n : -errno);
}

/* tcpSend(id, bytes) → bytes the kernel took (maybe fewer), or -errno (-EAGAIN: none). */
napi_value tcp_send_js(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  struct tcp_sock *s = socket_call(env, info, 2, argv, "tcpSend expects (id, bytes)");
  void *data;
  size_t length;
  if (s == NULL || napi_util_get_bytes(env, argv[1], &data, &length) < 0) return NULL;
  ssize_t n;
  do n = send(s->fd, data, length, MSG_NOSIGNAL | MSG_DONTWAIT);
  while (n < 0 && errno == EINTR);
  return napi_util_int(env, n >= 0 ? (int)n : -errno);
}

/* tcpShutdown(id) → 0 or -errno: our FIN to the host (half-close). */
napi_value tcp_shutdown_js(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  struct tcp_sock *s = socket_call(env, info, 1, argv, "tcpShutdown expects (id)");
  if (s == NULL) return NULL;
  return napi_util_int(env, shutdown(s->fd, SHUT_WR) == 0 ? 0 : -errno);
}

/* tcpClose(id, reset): closes the socket (with RST when reset: SO_LINGER 0); the id is free again. */
napi_value tcp_close_js(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  struct tcp_sock *s = socket_call(env, info, 2, argv, "tcpClose expects (id, reset)");
  if (s == NULL) return NULL;
  bool reset = false;
  NAPI_CALL(env, napi_get_value_bool(env, argv[1], &reset));
  s->owner->ids.slots[s->id] = NULL;
  if (s->watching != 0) {
    /* Our own socket leaves the set with its last descriptor, in close() below. */
    if (s->shared) epoll_ctl(s->owner->set->epfd, EPOLL_CTL_DEL, s->fd, NULL);
    count_in_set(s->owner, s, -1);
  }
  if (reset) {
    struct linger abort_close = {.l_onoff = 1, .l_linger = 0};
    setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &abort_close, sizeof abort_close);
  }
  close(s->fd);
  free(s);
  return NULL;
}
