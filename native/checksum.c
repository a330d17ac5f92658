/*
 * See checksum.h. Sums 64-bit loads as two 32-bit halves into 64-bit accumulators (no carries to
 * track for up to 2^31 loads), which the compiler keeps in registers; any alignment (memcpy loads).
 * On little-endian hosts the words are summed as loaded and byte-swapped once at the end
 * (RFC 1071 §2(B)), so the result is the big-endian sum whatever the start address.
 */
#include "checksum.h"

#include <string.h>

#include "napi_util.h"

#define LITTLE_ENDIAN_HOST (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__)

uint32_t checksum_sum(const uint8_t *p, size_t n) {
  uint64_t a = 0, b = 0, c = 0, d = 0;
  while (n >= 32) {
    uint64_t w[4];
    memcpy(w, p, sizeof w);
    a += (w[0] & 0xffffffffu) + (w[0] >> 32);
    b += (w[1] & 0xffffffffu) + (w[1] >> 32);
    c += (w[2] & 0xffffffffu) + (w[2] >> 32);
    d += (w[3] & 0xffffffffu) + (w[3] >> 32);
    p += 32;
    n -= 32;
  }
  uint64_t sum = a + b + c + d;
  while (n >= 4) {
    uint32_t w;
    memcpy(&w, p, sizeof w);
    sum += w;
    p += 4;
    n -= 4;
  }
  if (n >= 2) {
    uint16_t w;
    memcpy(&w, p, sizeof w);
    sum += w;
    p += 2;
    n -= 2;
  }
  /* A last odd byte is the high byte of a big-endian word: the low byte of a little-endian one. */
  if (n == 1) sum += LITTLE_ENDIAN_HOST ? p[0] : (uint32_t)p[0] << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return LITTLE_ENDIAN_HOST ? (uint32_t)(((sum & 0xff) << 8) | (sum >> 8)) : (uint32_t)sum;
}

napi_value checksum_sum_js(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  napi_typedarray_type type;
  size_t length;
  void *data;
  uint32_t offset, count;
  if (argc != 3 || napi_get_typedarray_info(env, argv[0], &type, &length, &data, NULL, NULL) != napi_ok ||
      type != napi_uint8_array || napi_get_value_uint32(env, argv[1], &offset) != napi_ok ||
      napi_get_value_uint32(env, argv[2], &count) != napi_ok) {
    napi_throw_type_error(env, NULL, "checksumSum expects (Uint8Array, offset, length)");
    return NULL;
  }
  if ((size_t)offset > length || (size_t)count > length - offset) {
    napi_throw_range_error(env, NULL, "checksumSum: range outside the array");
    return NULL;
  }
  napi_value out;
  NAPI_CALL(env, napi_create_uint32(env, checksum_sum((const uint8_t *)data + offset, count), &out));
  return out;
}
