/*
 * Non-blocking TCP sockets driven from the event loop (one epoll set, polled with uv_poll), for the engine's host side of TCP
 * flows: see tcp_socket.c. JS entry points only.
 */
#ifndef TSLIRP_TCP_SOCKET_H
#define TSLIRP_TCP_SOCKET_H

#include <node_api.h>

/* Event bits of each (id, events, errno) that onEvents reports; must match src/native/native-addon.ts. */
#define TCP_EVENT_READABLE 1
#define TCP_EVENT_WRITABLE 2
#define TCP_EVENT_CONNECTED 4
#define TCP_EVENT_ERROR 8
/* Sockets reported per call of onEvents at most (more wait for the next loop turn); as native-addon.ts. */
#define TCP_EVENT_BATCH 64

napi_value tcp_init_js(napi_env env, napi_callback_info info);
napi_value tcp_open_js(napi_env env, napi_callback_info info);
napi_value tcp_adopt_js(napi_env env, napi_callback_info info);
napi_value tcp_watch_js(napi_env env, napi_callback_info info);
napi_value tcp_recv_js(napi_env env, napi_callback_info info);
napi_value tcp_send_js(napi_env env, napi_callback_info info);
napi_value tcp_shutdown_js(napi_env env, napi_callback_info info);
napi_value tcp_close_js(napi_env env, napi_callback_info info);

#endif
