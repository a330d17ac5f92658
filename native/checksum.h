/*
 * The internet checksum's one's-complement sum (RFC 1071) in C, for src/wire/checksum.ts: a 64 KiB
 * TCP segment sums several times faster here than in JavaScript, which is what every segment to the
 * guest costs when checksum offload is off.
 */
#ifndef TSLIRP_CHECKSUM_H
#define TSLIRP_CHECKSUM_H

#include <node_api.h>
#include <stddef.h>
#include <stdint.h>

/* The 16-bit one's-complement sum of p[0..n) as big-endian words (folded, not complemented). */
uint32_t checksum_sum(const uint8_t *p, size_t n);

/* (bytes: Uint8Array, offset, length) -> folded big-endian sum of bytes[offset, offset+length) */
napi_value checksum_sum_js(napi_env env, napi_callback_info info);

#endif
