/*
 * icmpSocketOpen(family): an unprivileged ICMP echo ("ping") socket, socket(AF_INET, SOCK_DGRAM,
 * IPPROTO_ICMP) for family 4 (the default) or socket(AF_INET6, SOCK_DGRAM, IPPROTO_ICMPV6) for 6,
 * which Node cannot create itself. Returns the fd (non-blocking, close-on-exec), which JS hands to
 * dgram's bind({ fd }) (libuv sees a datagram socket of that family), or -errno when the host
 * refuses: EACCES when the caller's group is outside net.ipv4.ping_group_range (which governs both
 * families), EAFNOSUPPORT without IPv6.
 * Holds no state and no policy; src/host/node-icmp-port.ts decides what a refusal means.
 */
#include "icmp_socket.h"

#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "napi_util.h"

napi_value icmp_socket_open_js(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int64_t family = 4;
  if (argc >= 1) {
    napi_valuetype type;
    NAPI_CALL(env, napi_typeof(env, argv[0], &type));
    if (type != napi_undefined && napi_util_get_int(env, argv[0], "family", 4, 6, &family) != 0) return NULL;
    if (family != 4 && family != 6) {
      napi_throw_range_error(env, NULL, "family must be 4 or 6");
      return NULL;
    }
  }
  int fd = family == 6 ? socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ICMPV6)
                       : socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ICMP);
  return napi_util_int(env, fd >= 0 ? fd : -errno);
}
