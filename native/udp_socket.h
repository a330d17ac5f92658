/*
 * Non-blocking UDP sockets driven from the event loop (uv_poll), for the host side of the guest's
 * UDP bindings: see udp_socket.c. JS entry points only.
 */
#ifndef TSLIRP_UDP_SOCKET_H
#define TSLIRP_UDP_SOCKET_H

#include <node_api.h>

/* Event bits passed to onEvent(id, events); must match src/native/native-addon.ts. */
#define UDP_EVENT_READABLE 1
#define UDP_EVENT_ERROR 2

/* Layout of the peer area udpInit is given (udpRecv, udpRecvError fill it). */
#define UDP_PEER_FAMILY 0  /* 4, 6, or 0: no address */
#define UDP_PEER_PORT 2    /* big-endian */
#define UDP_PEER_ADDRESS 4 /* 4 or 16 bytes, network order */
#define UDP_PEER_SCOPE 20   /* IPv6 scope id (interface index), big-endian; 0: none */
#define UDP_PEER_BYTES 24

/*
 * Per environment state of the UDP sockets, created when the addon loads (handed to every udp*
 * function as its callback data) and freed with the environment.
 */
struct udp_sockets;
struct udp_sockets *udp_sockets_create(napi_env env);

napi_value udp_init_js(napi_env env, napi_callback_info info);
napi_value udp_open_js(napi_env env, napi_callback_info info);
napi_value udp_send_js(napi_env env, napi_callback_info info);
napi_value udp_recv_js(napi_env env, napi_callback_info info);
napi_value udp_recv_error_js(napi_env env, napi_callback_info info);
napi_value udp_close_js(napi_env env, napi_callback_info info);
napi_value udp_scope_name_js(napi_env env, napi_callback_info info);

#endif
