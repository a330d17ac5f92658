/*
 * The tslirp native addon: attach (namespaces + TAP open/configure, see ns_attach.c), batched
 * TAP I/O (see tap_io.c), host TCP and UDP sockets (see tcp_socket.c, udp_socket.c). This file only
 * converts between JS values and the C requests; it must never hold policy (defaults, parsing of
 * the command line): that lives in src/link/tap-link.ts and src/host/native-*-port.ts.
 */
#include <node_api.h>
#include <string.h>

#include "busy_poll.h"
#include "checksum.h"
#include "icmp_socket.h"
#include "loop_control.h"
#include "malloc_control.h"
#include "napi_util.h"
#include "ns_attach.h"
#include "sandbox.h"
#include "socket_fd.h"
#include "tap_io.h"
#include "tcp_listener.h"
#include "tcp_socket.h"
#include "udp_socket.h"

static int get_bool(napi_env env, napi_value obj, const char *key, int *out) {
  napi_value v;
  int present;
  if (napi_util_get_property(env, obj, key, &v, &present) < 0) return -1;
  bool b = false;
  if (present && napi_get_value_bool(env, v, &b) != napi_ok) {
    napi_throw_type_error(env, NULL, "expected a boolean option");
    return -1;
  }
  *out = b;
  return 0;
}

static int get_u32(napi_env env, napi_value obj, const char *key, uint32_t *out) {
  napi_value v;
  int present;
  int64_t x;
  if (napi_util_get_property(env, obj, key, &v, &present) < 0) return -1;
  if (!present) {
    napi_throw_type_error(env, NULL, "missing numeric option");
    return -1;
  }
  if (napi_util_get_int(env, v, key, 0, UINT32_MAX, &x) < 0) return -1;
  *out = (uint32_t)x;
  return 0;
}

static int read_configure(napi_env env, napi_value cfg, struct ns_attach_request *req) {
  uint32_t mtu;
  if (get_u32(env, cfg, "mtu", &mtu) < 0 || get_u32(env, cfg, "address", &req->address) < 0 ||
      get_u32(env, cfg, "netmask", &req->netmask) < 0 ||
      get_u32(env, cfg, "gateway", &req->gateway) < 0) {
    return -1;
  }
  if (mtu > 65535) {
    napi_throw_range_error(env, NULL, "mtu must be at most 65535");
    return -1;
  }
  req->mtu = (int)mtu;
  napi_value mac;
  int present;
  if (napi_util_get_property(env, cfg, "mac", &mac, &present) < 0) return -1;
  if (present) {
    napi_typedarray_type type;
    size_t length;
    void *data;
    if (napi_get_typedarray_info(env, mac, &type, &length, &data, NULL, NULL) != napi_ok ||
        type != napi_uint8_array || length != 6) {
      napi_throw_type_error(env, NULL, "mac must be a Uint8Array of 6 bytes");
      return -1;
    }
    memcpy(req->mac, data, 6);
    req->has_mac = 1;
  }
  req->configure = 1;
  return 0;
}

/* attach({ netnsPath, usernsPath?, usernsMode, tapName, vnetHdr, configure? }) */
static napi_value js_attach(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value opts;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, &opts, NULL, NULL));
  if (argc != 1) {
    napi_throw_type_error(env, NULL, "attach expects one options object");
    return NULL;
  }
  struct ns_attach_request req;
  memset(&req, 0, sizeof req);
  napi_value v;
  int present;
  int64_t mode = 0;

  if (napi_util_get_property(env, opts, "netnsPath", &v, &present) < 0) return NULL;
  if (napi_util_get_string(env, v, "netnsPath", req.netns_path, sizeof req.netns_path) < 0) {
    return NULL;
  }
  if (napi_util_get_property(env, opts, "usernsMode", &v, &present) < 0) return NULL;
  if (present && napi_util_get_int(env, v, "usernsMode", 0, 2, &mode) < 0) return NULL;
  req.userns_mode = (enum ns_userns_mode)mode;
  if (req.userns_mode != NS_USERNS_NONE) {
    if (napi_util_get_property(env, opts, "usernsPath", &v, &present) < 0) return NULL;
    if (napi_util_get_string(env, v, "usernsPath", req.userns_path, sizeof req.userns_path) < 0) {
      return NULL;
    }
  }
  if (napi_util_get_property(env, opts, "tapName", &v, &present) < 0) return NULL;
  if (napi_util_get_string(env, v, "tapName", req.tap_name, sizeof req.tap_name) < 0) return NULL;
  if (get_bool(env, opts, "vnetHdr", &req.vnet_hdr) < 0) return NULL;
  if (napi_util_get_property(env, opts, "configure", &v, &present) < 0) return NULL;
  if (present && read_configure(env, v, &req) < 0) return NULL;

  struct ns_attach_result res;
  char err[512];
  if (ns_attach(&req, &res, err, sizeof err) < 0) {
    napi_throw_error(env, NULL, err);
    return NULL;
  }
  napi_value out, fd, name, vnet, offloads;
  NAPI_CALL(env, napi_create_object(env, &out));
  NAPI_CALL(env, napi_create_int32(env, res.fd, &fd));
  NAPI_CALL(env, napi_create_string_utf8(env, res.ifname, strnlen(res.ifname, IFNAMSIZ), &name));
  NAPI_CALL(env, napi_create_int32(env, res.vnet_hdr_size, &vnet));
  NAPI_CALL(env, napi_create_uint32(env, res.offloads, &offloads));
  NAPI_CALL(env, napi_set_named_property(env, out, "fd", fd));
  NAPI_CALL(env, napi_set_named_property(env, out, "ifname", name));
  NAPI_CALL(env, napi_set_named_property(env, out, "vnetHdrSize", vnet));
  NAPI_CALL(env, napi_set_named_property(env, out, "offloads", offloads));
  return out;
}

/* tapInfo(fd) -> { ifname, vnetHdrSize }: the kernel's view of a TAP fd opened elsewhere (the launcher). */
static napi_value js_tap_info(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, &arg, NULL, NULL));
  int64_t fd;
  if (argc != 1 || napi_util_get_int(env, arg, "fd", 0, INT32_MAX, &fd) < 0) {
    if (argc != 1) napi_throw_type_error(env, NULL, "tapInfo expects an fd");
    return NULL;
  }
  char ifname[IFNAMSIZ], err[256];
  int vnet_hdr_size;
  if (ns_tap_info((int)fd, ifname, &vnet_hdr_size, err, sizeof err) < 0) {
    napi_throw_error(env, NULL, err);
    return NULL;
  }
  napi_value out, name, vnet;
  NAPI_CALL(env, napi_create_object(env, &out));
  NAPI_CALL(env, napi_create_string_utf8(env, ifname, strnlen(ifname, IFNAMSIZ), &name));
  NAPI_CALL(env, napi_create_int32(env, vnet_hdr_size, &vnet));
  NAPI_CALL(env, napi_set_named_property(env, out, "ifname", name));
  NAPI_CALL(env, napi_set_named_property(env, out, "vnetHdrSize", vnet));
  return out;
}

static napi_value init(napi_env env, napi_value exports) {
  /* The UDP sockets' state of this environment, every udp* function's callback data. */
  struct udp_sockets *udp = udp_sockets_create(env);
  if (udp == NULL) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  const napi_property_descriptor props[] = {
      {"attach", NULL, js_attach, NULL, NULL, NULL, napi_default, NULL},
      {"tapInfo", NULL, js_tap_info, NULL, NULL, NULL, napi_default, NULL},
      {"tapIoCreate", NULL, tap_io_create, NULL, NULL, NULL, napi_default, NULL},
      {"tapIoStart", NULL, tap_io_start, NULL, NULL, NULL, napi_default, NULL},
      {"tapIoFlush", NULL, tap_io_flush, NULL, NULL, NULL, napi_default, NULL},
      {"tapIoClose", NULL, tap_io_close, NULL, NULL, NULL, napi_default, NULL},
      {"tapIoStats", NULL, tap_io_stats, NULL, NULL, NULL, napi_default, NULL},
      {"tapIoReleaseTx", NULL, tap_io_release_tx, NULL, NULL, NULL, napi_default, NULL},
      {"sandboxApply", NULL, sandbox_apply_js, NULL, NULL, NULL, napi_default, NULL},
      {"sandboxPivot", NULL, sandbox_pivot_js, NULL, NULL, NULL, napi_default, NULL},
      {"sandboxRemoveApiSocket", NULL, sandbox_remove_api_socket_js, NULL, NULL, NULL, napi_default, NULL},
      {"icmpSocketOpen", NULL, icmp_socket_open_js, NULL, NULL, NULL, napi_default, NULL},
      {"checksumSum", NULL, checksum_sum_js, NULL, NULL, NULL, napi_default, NULL},
      {"socketDup", NULL, socket_dup_js, NULL, NULL, NULL, napi_default, NULL},
      {"mallocInfo", NULL, malloc_info_js, NULL, NULL, NULL, napi_default, NULL},
      {"mallocTrim", NULL, malloc_trim_js, NULL, NULL, NULL, napi_default, NULL},
      {"loopIdleMetricsOff", NULL, loop_idle_metrics_off_js, NULL, NULL, NULL, napi_default, NULL},
      {"busyPollStart", NULL, busy_poll_start_js, NULL, NULL, NULL, napi_default, NULL},
      {"busyPollStats", NULL, busy_poll_stats_js, NULL, NULL, NULL, napi_default, NULL},
      {"busyPollNextWindow", NULL, busy_poll_next_window_js, NULL, NULL, NULL, napi_default, NULL},
      {"busyPollNextBackoff", NULL, busy_poll_next_backoff_js, NULL, NULL, NULL, napi_default, NULL},
      {"mallocLimitArenas", NULL, malloc_limit_arenas_js, NULL, NULL, NULL, napi_default, NULL},
      {"v8LowMemory", NULL, v8_low_memory_js, NULL, NULL, NULL, napi_default, NULL},
      {"tcpInit", NULL, tcp_init_js, NULL, NULL, NULL, napi_default, NULL},
      {"tcpOpen", NULL, tcp_open_js, NULL, NULL, NULL, napi_default, NULL},
      {"tcpAdopt", NULL, tcp_adopt_js, NULL, NULL, NULL, napi_default, NULL},
      {"tcpWatch", NULL, tcp_watch_js, NULL, NULL, NULL, napi_default, NULL},
      {"tcpRecv", NULL, tcp_recv_js, NULL, NULL, NULL, napi_default, NULL},
      {"tcpSend", NULL, tcp_send_js, NULL, NULL, NULL, napi_default, NULL},
      {"tcpShutdown", NULL, tcp_shutdown_js, NULL, NULL, NULL, napi_default, NULL},
      {"tcpClose", NULL, tcp_close_js, NULL, NULL, NULL, napi_default, NULL},
      {"tcpListenerStart", NULL, tcp_listener_start_js, NULL, NULL, NULL, napi_default, NULL},
      {"tcpListenerStop", NULL, tcp_listener_stop_js, NULL, NULL, NULL, napi_default, NULL},
      {"udpInit", NULL, udp_init_js, NULL, NULL, NULL, napi_default, udp},
      {"udpOpen", NULL, udp_open_js, NULL, NULL, NULL, napi_default, udp},
      {"udpSend", NULL, udp_send_js, NULL, NULL, NULL, napi_default, udp},
      {"udpRecv", NULL, udp_recv_js, NULL, NULL, NULL, napi_default, udp},
      {"udpRecvError", NULL, udp_recv_error_js, NULL, NULL, NULL, napi_default, udp},
      {"udpClose", NULL, udp_close_js, NULL, NULL, NULL, napi_default, udp},
      {"udpScopeName", NULL, udp_scope_name_js, NULL, NULL, NULL, napi_default, udp},
  };
  NAPI_CALL(env, napi_define_properties(env, exports, sizeof props / sizeof props[0], props));
  napi_value words;
  NAPI_CALL(env, napi_create_uint32(env, TAP_TX_DESC_WORDS, &words));
  NAPI_CALL(env, napi_set_named_property(env, exports, "TX_DESC_WORDS", words));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
