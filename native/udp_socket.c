/*
 * Non-blocking UDP sockets polled on the event loop, for the host side of the guest's UDP bindings
 * (src/host/native-udp-port.ts holds every decision: when to open, what an error means, what to
 * do with a datagram). Why not Node's dgram: a dgram socket is an EventEmitter, a UDPWrap, a
 * SendWrap per send, lookup closures and a bind/connect dance, ~6 KB of JS heap over its life, for
 * each of the guest's source ports; a storm of datagrams from fresh ports to closed host ports made
 * thousands of them only to be refused and closed. Here a socket is a descriptor, a uv_poll handle
 * and one small struct; JS sees one callback per poll event, onEvent(id, events), and calls
 * recv/recvError/send/close itself with the views it already has.
 *
 * One unconnected socket per binding and family, with IP_RECVERR (and IPV6_RECVERR): then the
 * kernel queues ICMP errors for unconnected sockets too (without it only a connected socket hears
 * them), each with the failed datagram's destination as msg_name of recvmsg(MSG_ERRQUEUE) and a
 * sock_extended_err saying the errno, so a binding needs no connected/unconnected socket pair to
 * report "port unreachable" for the endpoint it concerns while hearing replies from any peer.
 * A queued error also sets sk_err (a plain recv or send returns it once, and it is cleared when the
 * error queue is drained) and makes the socket POLLERR; SO_SELECT_ERR_QUEUE adds POLLPRI, which
 * keeps libuv's uv_poll running (POLLERR alone makes it stop the handle and report UV_EBADF): we
 * poll for UV_READABLE | UV_PRIORITIZED and report UDP_EVENT_ERROR. Should UV_EBADF come anyway,
 * the handle is started again after JS has drained the queue.
 *
 * Sockets are named by small integer ids JS chooses (its own table's index): no JS object per
 * socket on this side, no allocation per call. Sources and destinations travel through one peer
 * area JS hands over at udpInit (family, port, address bytes), not as strings. JS thread only; no
 * policy.
 */
#define _GNU_SOURCE
#include "udp_socket.h"

#include <errno.h>
#include <time.h> /* struct timespec, which linux/errqueue.h uses without including */
#include <linux/errqueue.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uv.h>

#include "napi_util.h"
#include "socket_table.h"

#ifndef SO_SELECT_ERR_QUEUE
#define SO_SELECT_ERR_QUEUE 45
#endif

#define WATCHED (UV_READABLE | UV_PRIORITIZED)

struct udp_sock {
  uv_poll_t poll;
  struct udp_sockets *owner;
  int fd;
  int32_t id;
  int family; /* AF_INET or AF_INET6 */
};

struct udp_sockets {
  napi_env env;
  uv_loop_t *loop;
  napi_ref on_event;
  napi_ref peer_ref;
  uint8_t *peer; /* UDP_PEER_BYTES, inside the array peer_ref keeps alive */
  napi_async_context async_context;
  struct socket_table ids; /* id → struct udp_sock */
  napi_async_cleanup_hook_handle cleanup;
  uint32_t closing; /* sockets the cleanup hook closed whose close callbacks are still due */
};

static void sockets_free(struct udp_sockets *all) {
  napi_remove_async_cleanup_hook(all->cleanup);
  socket_table_free(&all->ids);
  free(all);
}

static void free_on_cleanup(uv_handle_t *handle) {
  struct udp_sock *s = handle->data;
  struct udp_sockets *all = s->owner;
  free(s);
  if (--all->closing == 0) sockets_free(all);
}

/*
 * The environment goes (a worker thread ends) with sockets still open: their handles must be
 * closed, and their close callbacks run, before Node closes the loop (it aborts on a handle left
 * open). An async cleanup hook: Node keeps running the loop until sockets_free removes it.
 */
static void sockets_cleanup(napi_async_cleanup_hook_handle handle, void *data) {
  struct udp_sockets *all = data;
  all->cleanup = handle;
  all->closing = 1; /* held until every socket is handed to uv_close */
  for (uint32_t id = 0; id < all->ids.size; id++) {
    struct udp_sock *s = all->ids.slots[id];
    if (s == NULL) continue;
    all->ids.slots[id] = NULL;
    all->closing++;
    uv_close((uv_handle_t *)&s->poll, free_on_cleanup);
    close(s->fd);
    s->fd = -1;
  }
  if (--all->closing == 0) sockets_free(all);
}

struct udp_sockets *udp_sockets_create(napi_env env) {
  struct udp_sockets *all = calloc(1, sizeof *all);
  if (all == NULL) return NULL;
  all->env = env;
  if (napi_add_async_cleanup_hook(env, sockets_cleanup, all, NULL) != napi_ok) {
    free(all);
    return NULL;
  }
  return all;
}

/* onEvent(id, events) from a libuv callback, so that microtasks and ticks run after it. */
static void deliver(struct udp_sockets *all, int32_t id, int events) {
  const int32_t args[2] = {id, events};
  napi_util_call_back(all->env, all->async_context, all->on_event, 2, args);
}

static void on_poll(uv_poll_t *handle, int status, int events) {
  struct udp_sock *s = handle->data;
  int out = 0;
  if (status < 0) {
    out = UDP_EVENT_ERROR; /* libuv stopped the handle (POLLERR without POLLPRI) */
  } else {
    if (events & UV_READABLE) out |= UDP_EVENT_READABLE;
    if (events & UV_PRIORITIZED) out |= UDP_EVENT_ERROR;
    if (out == 0) return;
  }
  /* The callback may close the socket: the struct lives until the handle's close callback. */
  deliver(s->owner, s->id, out);
  if (status < 0 && s->fd >= 0) uv_poll_start(&s->poll, WATCHED, on_poll);
}

static void free_on_close(uv_handle_t *handle) { free(handle->data); }

/*
 * The udp_sockets of this call (its callback data) and its want arguments. NULL with a JS throw
 * when the arguments are wrong, or, with initialized, when udpInit has not run.
 */
static struct udp_sockets *call_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv,
                                     const char *usage, int initialized) {
  size_t argc = want;
  void *data = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, &data) != napi_ok || data == NULL) {
    napi_util_throw_status(env, usage);
    return NULL;
  }
  if (argc != want) {
    napi_throw_type_error(env, NULL, usage);
    return NULL;
  }
  struct udp_sockets *all = data;
  if (initialized && all->on_event == NULL) {
    napi_throw_error(env, NULL, "udpInit has not been called");
    return NULL;
  }
  return all;
}

/* The socket named by argv[0], or NULL with a JS throw. */
static struct udp_sock *socket_call(napi_env env, napi_callback_info info, size_t want, napi_value *argv,
                                    const char *usage) {
  struct udp_sockets *all = call_args(env, info, want, argv, usage, 1);
  if (all == NULL) return NULL;
  return socket_table_lookup(env, &all->ids, argv[0], "udp");
}



/* Writes an address (or none: family 0) into the peer area. */
static void write_peer(struct udp_sockets *all, const struct sockaddr_storage *addr, socklen_t len) {
  uint8_t *peer = all->peer;
  memset(peer, 0, UDP_PEER_BYTES);
  if (addr->ss_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
    const struct sockaddr_in *in4 = (const struct sockaddr_in *)addr;
    peer[UDP_PEER_FAMILY] = 4;
    memcpy(peer + UDP_PEER_PORT, &in4->sin_port, 2);
    memcpy(peer + UDP_PEER_ADDRESS, &in4->sin_addr, 4);
  } else if (addr->ss_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)addr;
    peer[UDP_PEER_FAMILY] = 6;
    memcpy(peer + UDP_PEER_PORT, &in6->sin6_port, 2);
    memcpy(peer + UDP_PEER_ADDRESS, &in6->sin6_addr, 16);
    /* A link-local peer's interface: the address alone names no host (fe80::1%eth0 from resolv.conf). */
    uint32_t scope = in6->sin6_scope_id;
    peer[UDP_PEER_SCOPE] = (uint8_t)(scope >> 24);
    peer[UDP_PEER_SCOPE + 1] = (uint8_t)(scope >> 16);
    peer[UDP_PEER_SCOPE + 2] = (uint8_t)(scope >> 8);
    peer[UDP_PEER_SCOPE + 3] = (uint8_t)scope;
  }
}

/*
 * udpInit(onEvent, peer): the one callback of every socket of this environment, and the peer area
 * (a Uint8Array of UDP_PEER_BYTES, kept alive here) every later call reads and writes addresses in.
 */
napi_value udp_init_js(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  struct udp_sockets *all = call_args(env, info, 2, argv, "udpInit expects (onEvent, peer)", 0);
  if (all == NULL) return NULL;
  if (all->on_event != NULL) {
    napi_throw_error(env, NULL, "udpInit was called already");
    return NULL;
  }
  napi_typedarray_type type;
  size_t length;
  void *data;
  if (napi_get_typedarray_info(env, argv[1], &type, &length, &data, NULL, NULL) != napi_ok ||
      type != napi_uint8_array || length < UDP_PEER_BYTES) {
    napi_throw_type_error(env, NULL, "peer must be a Uint8Array of 24 bytes");
    return NULL;
  }
  napi_value name;
  NAPI_CALL(env, napi_get_uv_event_loop(env, &all->loop));
  NAPI_CALL(env, napi_create_string_utf8(env, "tslirp udp socket", NAPI_AUTO_LENGTH, &name));
  NAPI_CALL(env, napi_async_init(env, NULL, name, &all->async_context));
  NAPI_CALL(env, napi_create_reference(env, argv[1], 1, &all->peer_ref));
  NAPI_CALL(env, napi_create_reference(env, argv[0], 1, &all->on_event));
  all->peer = data;
  return NULL;
}

/*
 * udpOpen(id, family, bindAddress | undefined) → 0, or -errno (no socket in the table then): a
 * socket of family 4 or 6 (dual-stack: IPv4-mapped destinations too), bound to bindAddress when
 * given (else the first send binds it to an ephemeral port), polled at once.
 */
napi_value udp_open_js(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  struct udp_sockets *all = call_args(env, info, 3, argv, "udpOpen expects (id, family, bindAddress)", 1);
  if (all == NULL) return NULL;
  int32_t id, family;
  char local[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
  NAPI_CALL(env, napi_get_value_int32(env, argv[0], &id));
  NAPI_CALL(env, napi_get_value_int32(env, argv[1], &family));
  if (family != 4 && family != 6) {
    napi_throw_range_error(env, NULL, "family must be 4 or 6");
    return NULL;
  }
  napi_valuetype bind_type;
  NAPI_CALL(env, napi_typeof(env, argv[2], &bind_type));
  int bind_local = bind_type == napi_string;
  if (bind_local && napi_util_get_string(env, argv[2], "bindAddress", local, sizeof local) < 0) return NULL;
  if (socket_table_claim(env, &all->ids, id, "udp") < 0) return NULL;

  int domain = family == 6 ? AF_INET6 : AF_INET;
  struct sockaddr_storage self;
  socklen_t self_len = 0;
  if (bind_local && socket_parse_address(local, 0, &self, &self_len) < 0) return napi_util_int(env, -EINVAL);
  if (bind_local && self.ss_family != domain) return napi_util_int(env, -EAFNOSUPPORT);
  int fd = socket(domain, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return napi_util_int(env, -errno);
  int one = 1, zero = 0, rc = 0;
  /* IP_RECVERR also covers an IPv6 socket's IPv4-mapped traffic (its ICMP errors are IPv4's). */
  if (setsockopt(fd, SOL_IP, IP_RECVERR, &one, sizeof one) < 0) rc = -1;
  if (rc == 0 && domain == AF_INET6 &&
      (setsockopt(fd, SOL_IPV6, IPV6_RECVERR, &one, sizeof one) < 0 ||
       setsockopt(fd, SOL_IPV6, IPV6_V6ONLY, &zero, sizeof zero) < 0)) {
    rc = -1;
  }
  /* Without it a queued error would stop the poll handle (see the head comment): tolerated. */
  setsockopt(fd, SOL_SOCKET, SO_SELECT_ERR_QUEUE, &one, sizeof one);
  if (rc == 0 && bind_local) rc = bind(fd, (struct sockaddr *)&self, self_len);
  if (rc < 0) {
    int error = errno;
    close(fd);
    return napi_util_int(env, -error);
  }
  struct udp_sock *s = calloc(1, sizeof *s);
  if (s == NULL || uv_poll_init_socket(all->loop, &s->poll, fd) != 0) {
    free(s);
    close(fd);
    return napi_util_int(env, -ENOMEM);
  }
  s->poll.data = s;
  s->owner = all;
  s->fd = fd;
  s->id = id;
  s->family = domain;
  all->ids.slots[id] = s;
  uv_poll_start(&s->poll, WATCHED, on_poll);
  return napi_util_int(env, 0);
}

/*
 * udpSend(id, bytes, address, port) → bytes sent, or -errno: -EAFNOSUPPORT for an address of the
 * other family, -EINVAL for one that is not numeric, -EAGAIN when the send buffer is full (the
 * datagram is not sent), or an error of an earlier datagram (sk_err) the kernel returned instead.
 */
napi_value udp_send_js(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  struct udp_sock *s = socket_call(env, info, 4, argv, "udpSend expects (id, bytes, address, port)");
  void *data;
  size_t length;
  if (s == NULL || napi_util_get_bytes(env, argv[1], &data, &length) < 0) return NULL;
  char address[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
  int32_t port;
  if (napi_util_get_string(env, argv[2], "address", address, sizeof address) < 0) return NULL;
  NAPI_CALL(env, napi_get_value_int32(env, argv[3], &port));
  if (port < 0 || port > 65535) return napi_util_int(env, -EINVAL);
  struct sockaddr_storage peer;
  socklen_t peer_len;
  if (socket_parse_address(address, port, &peer, &peer_len) < 0) return napi_util_int(env, -EINVAL);
  if (peer.ss_family != s->family) return napi_util_int(env, -EAFNOSUPPORT);
  ssize_t n;
  do n = sendto(s->fd, data, length, MSG_NOSIGNAL | MSG_DONTWAIT, (struct sockaddr *)&peer, peer_len);
  while (n < 0 && errno == EINTR);
  return napi_util_int(env, n >= 0 ? (int)n : -errno);
}

/*
 * udpRecv(id, into) → the datagram's length (its source in the peer area), or -errno: -EAGAIN when
 * none is waiting, or a queued error's errno (sk_err, returned once; udpRecvError says more).
 */
napi_value udp_recv_js(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  struct udp_sock *s = socket_call(env, info, 2, argv, "udpRecv expects (id, into)");
  void *data;
  size_t length;
  if (s == NULL || napi_util_get_bytes(env, argv[1], &data, &length) < 0) return NULL;
  struct sockaddr_storage from;
  socklen_t from_len = sizeof from;
  ssize_t n;
  do n = recvfrom(s->fd, data, length, MSG_DONTWAIT, (struct sockaddr *)&from, &from_len);
  while (n < 0 && errno == EINTR);
  if (n < 0) return napi_util_int(env, -errno);
  write_peer(s->owner, &from, from_len);
  return napi_util_int(env, (int)n);
}

/*
 * udpRecvError(id) → the errno of the oldest queued error (> 0; the failed datagram's destination
 * in the peer area, family 0 when the kernel gave none), -EAGAIN when the error queue is empty, or
 * another -errno.
 */
napi_value udp_recv_error_js(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  struct udp_sock *s = socket_call(env, info, 1, argv, "udpRecvError expects (id)");
  if (s == NULL) return NULL;
  struct sockaddr_storage to;
  union {
    char bytes[512];
    struct cmsghdr align;
  } control;
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_name = &to;
  msg.msg_namelen = sizeof to;
  msg.msg_control = control.bytes;
  msg.msg_controllen = sizeof control.bytes;
  memset(&to, 0, sizeof to);
  ssize_t n;
  do n = recvmsg(s->fd, &msg, MSG_ERRQUEUE | MSG_DONTWAIT);
  while (n < 0 && errno == EINTR);
  if (n < 0) return napi_util_int(env, -errno);
  write_peer(s->owner, &to, msg.msg_namelen);
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
    if ((c->cmsg_level == SOL_IP && c->cmsg_type == IP_RECVERR) ||
        (c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_RECVERR)) {
      struct sock_extended_err ee;
      memcpy(&ee, CMSG_DATA(c), sizeof ee);
      return napi_util_int(env, ee.ee_errno > 0 ? (int)ee.ee_errno : EIO);
    }
  }
  return napi_util_int(env, EIO);
}

/* udpClose(id): closes the socket; the id is free again at once and no event follows. */
napi_value udp_close_js(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  struct udp_sock *s = socket_call(env, info, 1, argv, "udpClose expects (id)");
  if (s == NULL) return NULL;
  s->owner->ids.slots[s->id] = NULL;
  uv_close((uv_handle_t *)&s->poll, free_on_close); /* leaves epoll now: the fd may go */
  close(s->fd);
  s->fd = -1;
  return NULL;
}

/*
 * udpScopeName(index) → the interface's name ("eth0"), or undefined when none has that index: the
 * text of a peer area's scope as Node's dgram writes it after '%'. Called once per new scope.
 */
napi_value udp_scope_name_js(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (call_args(env, info, 1, argv, "udpScopeName expects (index)", 0) == NULL) return NULL;
  uint32_t index;
  NAPI_CALL(env, napi_get_value_uint32(env, argv[0], &index));
  char name[IF_NAMESIZE];
  if (index == 0 || if_indextoname(index, name) == NULL) return NULL;
  napi_value result;
  NAPI_CALL(env, napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &result));
  return result;
}
