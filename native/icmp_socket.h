/* Unprivileged ICMP and ICMPv6 echo sockets (SOCK_DGRAM, IPPROTO_ICMP / IPPROTO_ICMPV6); see icmp_socket.c. */
#ifndef TSLIRP_ICMP_SOCKET_H
#define TSLIRP_ICMP_SOCKET_H

#include <node_api.h>

napi_value icmp_socket_open_js(napi_env env, napi_callback_info info);

#endif
