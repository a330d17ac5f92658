/* Event loop settings Node does not expose; see loop_control.h. */
#include "loop_control.h"

#include <uv.h>

#include "napi_util.h"

/* The head of libuv's uv__loop_internal_fields_t (uv-common.h, 1.39 to at least 1.48). */
struct loop_private_head {
  unsigned int flags; /* uv_loop_configure(UV_METRICS_IDLE_TIME) sets the bit UV_METRICS_IDLE_TIME */
};

#define KNOWN_MINOR_FIRST 39
#define KNOWN_MINOR_LAST 48

napi_value loop_idle_metrics_off_js(napi_env env, napi_callback_info info) {
  (void)info;
  uv_loop_t *loop = NULL;
  NAPI_CALL(env, napi_get_uv_event_loop(env, &loop));
  unsigned int version = uv_version();
  unsigned int major = (version >> 16) & 0xff, minor = (version >> 8) & 0xff;
  int done = 0;
  if (major == 1 && minor >= KNOWN_MINOR_FIRST && minor <= KNOWN_MINOR_LAST && loop != NULL &&
      loop->internal_fields != NULL) {
    struct loop_private_head *head = loop->internal_fields;
    if (head->flags & UV_METRICS_IDLE_TIME) {
      head->flags &= ~(unsigned int)UV_METRICS_IDLE_TIME;
      done = 1;
    }
  }
  napi_value out;
  NAPI_CALL(env, napi_get_boolean(env, done, &out));
  return out;
}
