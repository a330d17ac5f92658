/* Node-API helpers; see napi_util.h. */
#include "napi_util.h"

#include <stdio.h>
#include <string.h>

void napi_util_throw_status(napi_env env, const char *what) {
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) return;
  const napi_extended_error_info *info = NULL;
  char msg[256];
  if (napi_get_last_error_info(env, &info) == napi_ok && info != NULL &&
      info->error_message != NULL) {
    snprintf(msg, sizeof msg, "%s failed: %s", what, info->error_message);
  } else {
    snprintf(msg, sizeof msg, "%s failed", what);
  }
  napi_throw_error(env, NULL, msg);
}

void napi_util_rethrow_pending(napi_env env) {
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) {
    napi_value exception;
    if (napi_get_and_clear_last_exception(env, &exception) == napi_ok) napi_fatal_exception(env, exception);
  }
}

void napi_util_call_back(napi_env env, napi_async_context context, napi_ref ref, size_t argc,
                         const int32_t *values) {
  napi_handle_scope scope;
  if (argc > 4 || napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value cb, argv[4];
  int ready = napi_get_reference_value(env, ref, &cb) == napi_ok && cb != NULL;
  for (size_t i = 0; ready && i < argc; i++) ready = napi_create_int32(env, values[i], &argv[i]) == napi_ok;
  if (ready) napi_make_callback(env, context, cb, cb, argc, argv, NULL);
  napi_util_rethrow_pending(env);
  napi_close_handle_scope(env, scope);
}

int napi_util_get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv,
                       const char *usage) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) {
    napi_util_throw_status(env, usage);
    return -1;
  }
  if (argc != want) {
    napi_throw_type_error(env, NULL, usage);
    return -1;
  }
  return 0;
}

int napi_util_get_int(napi_env env, napi_value value, const char *name, int64_t min, int64_t max,
                      int64_t *out) {
  char msg[160];
  double d;
  if (napi_get_value_double(env, value, &d) != napi_ok) {
    snprintf(msg, sizeof msg, "%s must be a number", name);
    napi_throw_type_error(env, NULL, msg);
    return -1;
  }
  if (!(d >= (double)min && d <= (double)max) || d != (double)(int64_t)d) {
    snprintf(msg, sizeof msg, "%s must be an integer in [%lld, %lld]", name, (long long)min,
             (long long)max);
    napi_throw_range_error(env, NULL, msg);
    return -1;
  }
  *out = (int64_t)d;
  return 0;
}

int napi_util_get_string(napi_env env, napi_value value, const char *name, char *buf,
                         size_t size) {
  char msg[160];
  size_t len = 0;
  if (napi_get_value_string_utf8(env, value, NULL, 0, &len) != napi_ok) {
    snprintf(msg, sizeof msg, "%s must be a string", name);
    napi_throw_type_error(env, NULL, msg);
    return -1;
  }
  if (len + 1 > size) {
    snprintf(msg, sizeof msg, "%s is too long (at most %zu bytes)", name, size - 1);
    napi_throw_range_error(env, NULL, msg);
    return -1;
  }
  if (napi_get_value_string_utf8(env, value, buf, size, &len) != napi_ok) {
    napi_util_throw_status(env, "napi_get_value_string_utf8");
    return -1;
  }
  if (strlen(buf) != len) {
    snprintf(msg, sizeof msg, "%s must not contain NUL characters", name);
    napi_throw_type_error(env, NULL, msg);
    return -1;
  }
  return 0;
}

int napi_util_get_property(napi_env env, napi_value object, const char *key, napi_value *out,
                           int *present) {
  napi_valuetype type;
  if (napi_get_named_property(env, object, key, out) != napi_ok ||
      napi_typeof(env, *out, &type) != napi_ok) {
    napi_util_throw_status(env, "napi_get_named_property");
    return -1;
  }
  *present = type != napi_undefined && type != napi_null;
  return 0;
}

int napi_util_get_bytes(napi_env env, napi_value value, void **data, size_t *length) {
  napi_typedarray_type type;
  if (napi_get_typedarray_info(env, value, &type, length, data, NULL, NULL) != napi_ok ||
      type != napi_uint8_array) {
    napi_throw_type_error(env, NULL, "expected a Uint8Array");
    return -1;
  }
  return 0;
}

napi_value napi_util_int(napi_env env, int value) {
  napi_value result;
  NAPI_CALL(env, napi_create_int32(env, value, &result));
  return result;
}

napi_value napi_util_numbers_object(napi_env env, const struct napi_util_named_number *fields, size_t count) {
  napi_value out;
  NAPI_CALL(env, napi_create_object(env, &out));
  for (size_t i = 0; i < count; i++) {
    napi_value v;
    NAPI_CALL(env, napi_create_double(env, fields[i].value, &v));
    NAPI_CALL(env, napi_set_named_property(env, out, fields[i].name, v));
  }
  return out;
}
