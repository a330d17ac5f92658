/* glibc malloc statistics and trimming for JavaScript; see malloc_control.h. */
#define _GNU_SOURCE
#include "malloc_control.h"

#include <malloc.h>

#include "napi_util.h"

napi_value malloc_info_js(napi_env env, napi_callback_info info) {
  (void)info;
  struct mallinfo2 m = mallinfo2();
  const struct napi_util_named_number fields[] = {
      {"arena", (double)m.arena},          /* bytes from sbrk and arena heaps */
      {"mmapped", (double)m.hblkhd},       /* bytes in chunks mmapped on their own */
      {"inUse", (double)m.uordblks},       /* allocated */
      {"free", (double)m.fordblks},        /* free in the arenas */
      {"releasable", (double)m.keepcost}}; /* free at the top of the main heap */
  return napi_util_numbers_object(env, fields, sizeof fields / sizeof fields[0]);
}

napi_value malloc_trim_js(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out;
  NAPI_CALL(env, napi_get_boolean(env, malloc_trim(0) != 0, &out));
  return out;
}

napi_value malloc_limit_arenas_js(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (napi_util_get_args(env, info, 1, argv, "mallocLimitArenas expects (count)") < 0) return NULL;
  int32_t count;
  NAPI_CALL(env, napi_get_value_int32(env, argv[0], &count));
  napi_value out;
  NAPI_CALL(env, napi_get_boolean(env, count > 0 && mallopt(M_ARENA_MAX, count) == 1, &out));
  return out;
}

void tslirp_v8_low_memory(void); /* v8_memory.cc */

napi_value v8_low_memory_js(napi_env env, napi_callback_info info) {
  (void)info;
  tslirp_v8_low_memory();
  napi_value out;
  NAPI_CALL(env, napi_get_undefined(env, &out));
  return out;
}
