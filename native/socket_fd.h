/* A second descriptor for a socket Node accepted (see socket_fd.c). */
#ifndef TSLIRP_SOCKET_FD_H
#define TSLIRP_SOCKET_FD_H

#include <node_api.h>

napi_value socket_dup_js(napi_env env, napi_callback_info info);

#endif
