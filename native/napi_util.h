/*
 * Small helpers for the Node-API glue: checked calls that turn a failed napi_* call into a thrown
 * JS Error, and typed argument readers. Used only on the JS thread; never from the reader thread.
 */
#ifndef TSLIRP_NAPI_UTIL_H
#define TSLIRP_NAPI_UTIL_H

#include <node_api.h>
#include <stdint.h>

/* Throws (unless an exception is already pending) and makes the caller return NULL. */
void napi_util_throw_status(napi_env env, const char *what);

#define NAPI_CALL(env, call)                       \
  do {                                             \
    if ((call) != napi_ok) {                       \
      napi_util_throw_status((env), #call);        \
      return NULL;                                 \
    }                                              \
  } while (0)

/*
 * After a JS callback made from a libuv callback (napi_make_callback): reports an exception it left
 * pending like any uncaught exception (napi_fatal_exception), never silently.
 */
void napi_util_rethrow_pending(napi_env env);

/* A JS number of value (a syscall's result: a count, a descriptor or -errno); NULL if that fails. */
napi_value napi_util_int(napi_env env, int value);

/*
 * Calls the function ref holds with argc int32 arguments from a libuv callback (napi_make_callback,
 * so that microtasks and ticks run after it), in a handle scope of its own; an exception it throws
 * is reported as uncaught (napi_util_rethrow_pending). Its `this` is the function itself:
 * napi_make_callback wants an object, and looking up the global one (napi_get_global) cost ~0.6 %
 * of the relay's CPU in 64 B request/response, once per event. argc is at most 4.
 */
void napi_util_call_back(napi_env env, napi_async_context context, napi_ref ref, size_t argc,
                         const int32_t *values);

/* One named number of a table that napi_util_numbers_object turns into a JS object. */
struct napi_util_named_number {
  const char *name;
  double value;
};
/* A new JS object with each of the count named numbers as a property (the addon's counters and
 * totals); NULL with a JS throw if that fails. */
napi_value napi_util_numbers_object(napi_env env, const struct napi_util_named_number *fields, size_t count);

/* Takes exactly want arguments into argv; else throws (a TypeError saying usage) and returns -1. */
int napi_util_get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv,
                       const char *usage);
/* Reads argument value as an integer in [min, max]; throws a RangeError/TypeError naming it. */
int napi_util_get_int(napi_env env, napi_value value, const char *name, int64_t min, int64_t max,
                      int64_t *out);
/* Copies a string argument into buf (NUL-terminated); throws if it does not fit. */
int napi_util_get_string(napi_env env, napi_value value, const char *name, char *buf,
                         size_t size);
/* The bytes of a Uint8Array argument; else throws a TypeError and returns -1. */
int napi_util_get_bytes(napi_env env, napi_value value, void **data, size_t *length);
/* Reads an optional named property; *present = 0 when missing, undefined or null. */
int napi_util_get_property(napi_env env, napi_value object, const char *key, napi_value *out,
                           int *present);

#endif
