/*
 * Opening the guest's TAP device from inside its network namespace.
 *
 * Node is multi-threaded and setns(CLONE_NEWUSER) refuses multi-threaded callers, so the namespace
 * work runs in a forked child (single-threaded by construction) that hands the TAP fd back over a
 * socketpair with SCM_RIGHTS. This module never touches the Node API and never changes the
 * namespaces of the calling process.
 */
#ifndef TSLIRP_NS_ATTACH_H
#define TSLIRP_NS_ATTACH_H

#include <net/if.h>
#include <stdint.h>

/* Bits of ns_attach_result.offloads: what the kernel agreed to hand us. */
#define NS_OFFLOAD_CSUM 1u /* TUN_F_CSUM: frames may arrive with a partial L4 checksum */
#define NS_OFFLOAD_TSO4 2u /* TUN_F_TSO4 */
#define NS_OFFLOAD_TSO6 4u /* TUN_F_TSO6 */

/* Size of the virtio header we ask for (virtio_net_hdr_mrg_rxbuf; num_buffers is unused). */
#define NS_VNET_HDR_SIZE 12

enum ns_userns_mode {
  NS_USERNS_NONE = 0,         /* never join a user namespace */
  NS_USERNS_ALWAYS = 1,       /* join usernsPath (given explicitly by the user) */
  NS_USERNS_IF_DIFFERENT = 2, /* join usernsPath unless it is the one we already live in */
};

struct ns_attach_request {
  char netns_path[256];
  char userns_path[256];
  enum ns_userns_mode userns_mode;
  char tap_name[IFNAMSIZ];
  int vnet_hdr;  /* open with IFF_VNET_HDR and ask for CSUM/TSO offloads */
  int configure; /* slirp4netns --configure: MTU, MAC, address, route, links up */
  int mtu;
  int has_mac;
  uint8_t mac[6];
  uint32_t address; /* host byte order */
  uint32_t netmask;
  uint32_t gateway;
};

struct ns_attach_result {
  int fd;          /* the TAP, O_NONBLOCK | O_CLOEXEC */
  char ifname[IFNAMSIZ];
  int vnet_hdr_size; /* 0 without IFF_VNET_HDR */
  unsigned offloads; /* NS_OFFLOAD_* */
};

/*
 * Performs the request. On success returns 0 and fills *result. On failure returns -1 and writes a
 * one-line message (no trailing newline) into err, e.g. "cannot open /proc/123/ns/net: No such file
 * or directory". Blocks for the few milliseconds the child needs; reaps the child in every case.
 */
int ns_attach(const struct ns_attach_request *req, struct ns_attach_result *result, char *err,
              size_t err_size);

/*
 * What the kernel says about an fd that should be an attached TAP (one the launcher opened): its
 * device name and the virtio header size it reads and writes (0 without IFF_VNET_HDR). Returns 0, or
 * -1 with a one-line message in err when fd is not an attached TAP.
 */
int ns_tap_info(int fd, char ifname[IFNAMSIZ], int *vnet_hdr_size, char *err, size_t err_size);

#endif
