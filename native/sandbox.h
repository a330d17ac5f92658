/* --enable-sandbox / --enable-seccomp on every thread of the process; see sandbox.c. */
#ifndef TSLIRP_SANDBOX_H
#define TSLIRP_SANDBOX_H

#include <node_api.h>

napi_value sandbox_apply_js(napi_env env, napi_callback_info info);

#endif
