/*
 * Batched frame I/O on an open TAP fd, exposed to JavaScript.
 *
 * Receive, in one of two modes: light traffic is read on the JS thread itself when the event loop
 * reports the fd readable (uv_poll: no thread switch between a frame and the engine); a heavy stream
 * is read by a reader thread that fills one of two batch areas while JS works on the other, and
 * wakes JS once per batch through a threadsafe function. Either way a batch is frames back to back
 * in one ArrayBuffer plus offsets/lengths/flags/gso arrays, and belongs to JS until the callback
 * returns. Transmit: JS copies frames into a tx ArrayBuffer and describes them in a Uint32Array;
 * tap_io_flush writes them (with a virtio header when the fd has IFF_VNET_HDR).
 *
 * Never: call into JS from the reader thread, hand JS a batch the thread is still writing, read the
 * fd from both threads at once, or write outside the areas it allocated.
 */
#ifndef TSLIRP_TAP_IO_H
#define TSLIRP_TAP_IO_H

#include <node_api.h>

/* Words per transmit descriptor in txDesc (Uint32Array). */
#define TAP_TX_DESC_WORDS 8
#define TAP_TX_OFFSET 0        /* byte offset of the frame in txData */
#define TAP_TX_LENGTH 1        /* frame length (Ethernet header included, no vnet header) */
#define TAP_TX_GSO_SIZE 2      /* 0: no segmentation; else MSS */
#define TAP_TX_GSO_IPV6 3      /* 1: TCPv6 segmentation, 0: TCPv4 */
#define TAP_TX_HDR_LEN 4       /* L2+L3+L4 header length */
#define TAP_TX_CSUM_START 5    /* 0: checksum complete; else where L4 checksumming starts */
#define TAP_TX_CSUM_OFFSET 6   /* checksum field offset from csum start */

/* Largest single read: vnet header + Ethernet (+VLAN) + a 64 KiB GSO super-frame, with margin. */
#define TAP_RX_READ_MAX (65536 + 256)

/* (fd, vnetHdrSize, batchBytes, maxFrames, txBytes, txMaxFrames) -> { handle, rx..., tx... } */
napi_value tap_io_create(napi_env env, napi_callback_info info);
/* (handle, onBatch(batchIndex, count)) ; count < 0 reports -errno: the reader stopped; count 0: a
 * heavy stream is over (the reader is back on the event loop, its areas' extra pages released). */
napi_value tap_io_start(napi_env env, napi_callback_info info);
/* (handle, frameCount) -> number of frames dropped (write errors) */
napi_value tap_io_flush(napi_env env, napi_callback_info info);
/* (handle) ; idempotent */
napi_value tap_io_close(napi_env env, napi_callback_info info);
/* (handle) -> { rxFrames, rxBatches, rxThreadBatches, rxModeSwitches, rxDropped, txFrames,
 *               txDropped, txWaits, areaReleases, rxAreaResident, txAreaResident } */
napi_value tap_io_stats(napi_env env, napi_callback_info info);
/* (handle) ; gives the tx area's pages beyond its first 64 KiB back to the kernel. Only while no
 * frame is queued in it (JS calls it when told a stream is over: onBatch(0, 0)). */
napi_value tap_io_release_tx(napi_env env, napi_callback_info info);

#endif
