/* Published ports' listening sockets polled on the event loop, clients accepted natively: see tcp_listener.c. */
#ifndef TSLIRP_TCP_LISTENER_H
#define TSLIRP_TCP_LISTENER_H

#include <node_api.h>

napi_value tcp_listener_start_js(napi_env env, napi_callback_info info);
napi_value tcp_listener_stop_js(napi_env env, napi_callback_info info);

#endif
