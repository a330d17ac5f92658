/* --enable-sandbox / --enable-seccomp on every thread of the process; see sandbox.c. */
#ifndef TSLIRP_SANDBOX_H
#define TSLIRP_SANDBOX_H

#include <node_api.h>

napi_value sandbox_apply_js(napi_env env, napi_callback_info info);

/* sandboxPivot(helperFd): the launcher's pivot helper enters the minimal root (launcher_sandbox.c). */
napi_value sandbox_pivot_js(napi_env env, napi_callback_info info);
napi_value sandbox_remove_api_socket_js(napi_env env, napi_callback_info info);

#endif
