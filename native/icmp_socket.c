/*
 * icmpSocketOpen(): an unprivileged ICMP echo ("ping") socket, socket(AF_INET, SOCK_DGRAM,
 * IPPROTO_ICMP), which Node cannot create itself. Returns the fd (non-blocking, close-on-exec), which
 * JS hands to dgram's bind({ fd }) (libuv sees a datagram socket of family AF_INET), or -errno when
 * the host refuses: EACCES when the caller's group is outside net.ipv4.ping_group_range.
 * Holds no state and no policy; src/host/node-icmp-port.ts decides what a refusal means.
 */
#include "icmp_socket.h"

#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "napi_util.h"

napi_value icmp_socket_open_js(napi_env env, napi_callback_info info) {
  (void)info;
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ICMP);
  napi_value result;
  NAPI_CALL(env, napi_create_int32(env, fd >= 0 ? fd : -errno, &result));
  return result;
}
