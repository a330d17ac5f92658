/*
 * Published ports' accepting, on the event loop (uv_poll) instead of a net.Server: JS hands over
 * the descriptor of a socket that is listening already (Node's server bound it, so addresses,
 * options and errors stay Node's; the server is then closed, our duplicate keeps the socket), and
 * each accepted client arrives as onClient(fd, address, port): a non-blocking, close-on-exec
 * descriptor JS adopts into the addon's TCP sockets (tcp_socket.c). Why: a net.Server makes a
 * handle wrap, a net.Socket (stream state, emitters) and a getpeername per client only for tslirp
 * to duplicate the descriptor and destroy all of it, a share of every published connection's CPU.
 *
 * tcpListenerStart(fd, onClient) takes the descriptor (closed by tcpListenerStop, or at once on
 * failure) and answers a handle; tcpListenerStop(handle) stops polling and closes it (the struct is
 * freed once both the poll handle is closed and the JS handle collected). Accepts at most ACCEPTS_PER_EVENT clients per
 * readable event (the poll is level-triggered: the rest come next turn). A client that cannot be
 * accepted for lack of descriptors stays in the kernel's backlog and accepting pauses for
 * ACCEPT_RETRY_MS (Node's server instead accepts and closes it with a reserve descriptor). JS thread only;
 * no policy (what a client's address means to the guest is src/hostfwd's).
 */
#define _GNU_SOURCE
#include "tcp_listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uv.h>

#include "napi_util.h"

#define ACCEPTS_PER_EVENT 32

/* Out of descriptors (EMFILE and the like): accepting pauses this long instead of failing in a loop. */
#define ACCEPT_RETRY_MS 100

struct tcp_listener {
  uv_poll_t poll;
  uv_timer_t retry;
  napi_env env;
  napi_ref on_client;
  napi_async_context async_context;
  int fd;
  int stopped;
  /* Owners: the JS handle (until finalized) and the poll and timer handles (until closed); freed by the last. */
  int owners;
};

static void release(struct tcp_listener *l) {
  if (--l->owners == 0) free(l);
}

/* onClient(fd, address, port) from the libuv callback, so that microtasks and ticks run after it. */
static void deliver(struct tcp_listener *l, int fd, const struct sockaddr_storage *peer) {
  char text[INET6_ADDRSTRLEN] = "";
  int port = 0;
  if (peer->ss_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)peer;
    inet_ntop(AF_INET, &in->sin_addr, text, sizeof text);
    port = ntohs(in->sin_port);
  } else if (peer->ss_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)peer;
    inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text);
    port = ntohs(in6->sin6_port);
  }
  napi_env env = l->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) {
    close(fd);
    return;
  }
  napi_value cb, argv[3];
  /* `this` is onClient itself, as napi_util_call_back's is (no global lookup per client). */
  if (napi_get_reference_value(env, l->on_client, &cb) == napi_ok && cb != NULL &&
      napi_create_int32(env, fd, &argv[0]) == napi_ok && napi_create_string_latin1(env, text, NAPI_AUTO_LENGTH, &argv[1]) == napi_ok &&
      napi_create_int32(env, port, &argv[2]) == napi_ok) {
    napi_make_callback(env, l->async_context, cb, cb, 3, argv, NULL);
  } else {
    close(fd);
  }
  napi_util_rethrow_pending(env);
  napi_close_handle_scope(env, scope);
}

static void on_poll(uv_poll_t *handle, int status, int events);

static void on_retry(uv_timer_t *timer) {
  struct tcp_listener *l = timer->data;
  if (!l->stopped) uv_poll_start(&l->poll, UV_READABLE, on_poll);
}

static void on_poll(uv_poll_t *handle, int status, int events) {
  struct tcp_listener *l = handle->data;
  if (status < 0 || !(events & UV_READABLE)) return;
  for (int i = 0; i < ACCEPTS_PER_EVENT && !l->stopped; i++) {
    struct sockaddr_storage peer;
    socklen_t len = sizeof peer;
    int fd = accept4(l->fd, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        /* Out of descriptors or memory: the client waits in the backlog; the level-triggered poll
         * would report it again at once, so look again later instead of spinning. */
        uv_poll_stop(&l->poll);
        uv_timer_start(&l->retry, on_retry, ACCEPT_RETRY_MS, 0);
      }
      return;
    }
    /* The callback may stop the listener: the struct lives until the handle's close callback. */
    deliver(l, fd, &peer);
  }
}

static void release_on_close(uv_handle_t *handle) { release(handle->data); }

/* The JS handle was collected: a listener never stopped keeps accepting (its forward still holds it). */
static void finalize_listener(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  release(data);
}

/* tcpListenerStart(fd, onClient(fd, address, port)) → handle. */
napi_value tcp_listener_start_js(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (napi_util_get_args(env, info, 2, argv, "tcpListenerStart expects (fd, onClient)") < 0) return NULL;
  int64_t fd;
  if (napi_util_get_int(env, argv[0], "fd", 0, INT32_MAX, &fd) < 0) return NULL;
  napi_valuetype type;
  NAPI_CALL(env, napi_typeof(env, argv[1], &type));
  if (type != napi_function) {
    napi_throw_type_error(env, NULL, "onClient must be a function");
    return NULL;
  }
  uv_loop_t *loop;
  NAPI_CALL(env, napi_get_uv_event_loop(env, &loop));
  struct tcp_listener *l = calloc(1, sizeof *l);
  if (l == NULL) {
    close((int)fd);
    napi_throw_error(env, NULL, "tcpListenerStart: out of memory");
    return NULL;
  }
  l->env = env;
  l->fd = (int)fd;
  l->owners = 3;
  napi_value name;
  if (napi_create_reference(env, argv[1], 1, &l->on_client) != napi_ok ||
      napi_create_string_utf8(env, "tslirp:tcp-listener", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_async_init(env, NULL, name, &l->async_context) != napi_ok) {
    close(l->fd);
    free(l);
    napi_throw_error(env, NULL, "tcpListenerStart: cannot hold the callback");
    return NULL;
  }
  if (uv_poll_init(loop, &l->poll, l->fd) != 0) {
    napi_async_destroy(env, l->async_context);
    napi_delete_reference(env, l->on_client);
    close(l->fd);
    free(l);
    napi_throw_error(env, NULL, "tcpListenerStart: cannot poll the descriptor");
    return NULL;
  }
  l->poll.data = l;
  uv_timer_init(loop, &l->retry);
  l->retry.data = l;
  uv_unref((uv_handle_t *)&l->retry); /* a pending retry alone keeps no process alive */
  uv_poll_start(&l->poll, UV_READABLE, on_poll);
  napi_value handle;
  NAPI_CALL(env, napi_create_external(env, l, finalize_listener, NULL, &handle));
  return handle;
}

/* tcpListenerStop(handle): stops accepting and closes the descriptor; a second call does nothing. */
napi_value tcp_listener_stop_js(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (napi_util_get_args(env, info, 1, argv, "tcpListenerStop expects (handle)") < 0) return NULL;
  napi_valuetype type;
  NAPI_CALL(env, napi_typeof(env, argv[0], &type));
  if (type != napi_external) {
    napi_throw_type_error(env, NULL, "tcpListenerStop expects a tcpListenerStart handle");
    return NULL;
  }
  struct tcp_listener *l;
  NAPI_CALL(env, napi_get_value_external(env, argv[0], (void **)&l));
  if (l->stopped) return NULL;
  l->stopped = 1;
  uv_poll_stop(&l->poll);
  uv_timer_stop(&l->retry);
  napi_async_destroy(env, l->async_context);
  napi_delete_reference(env, l->on_client);
  /* Closed before the handle: libuv has stopped watching it (uv_poll_stop), and no accept follows. */
  close(l->fd);
  uv_close((uv_handle_t *)&l->poll, release_on_close);
  uv_close((uv_handle_t *)&l->retry, release_on_close);
  return NULL;
}
