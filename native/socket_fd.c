/*
 * socketDup(fd): a second descriptor (close-on-exec) for a socket Node accepted, so that JS can wrap
 * it in a net.Socket of its own, created with `onread` (a server's accepted sockets cannot take that
 * option), and let the first go: the socket stays open while any descriptor refers to it. Returns
 * the new fd, or -errno. Holds no state and no policy: src/host/node-tcp-port.ts decides when.
 */
#include "socket_fd.h"

#include <errno.h>
#include <fcntl.h>

#include "napi_util.h"

napi_value socket_dup_js(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int64_t fd;
  if (argc != 1) {
    napi_throw_type_error(env, NULL, "socketDup expects (fd)");
    return NULL;
  }
  if (napi_util_get_int(env, argv[0], "fd", 0, INT32_MAX, &fd) < 0) return NULL;
  int copy = fcntl((int)fd, F_DUPFD_CLOEXEC, 3);
  return napi_util_int(env, copy >= 0 ? copy : -errno);
}
