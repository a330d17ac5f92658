/*
 * Joins the guest's namespaces in a forked child, opens (and optionally configures) the TAP there
 * and passes the fd back with SCM_RIGHTS.
 *
 * Why a child: setns(CLONE_NEWUSER) is refused to multi-threaded processes, and Node always runs
 * helper threads. After fork() only the calling thread exists in the child, so the child may join
 * the user namespace. Because the parent has other threads, the child may only use
 * async-signal-safe calls: raw syscalls on memory prepared before fork(), no malloc, no stdio, no
 * strerror. It reports failures as (step, errno) and the parent writes the message.
 * Plain fork(), not a CLONE_VM/vfork child: kernels before 5.x refuse setns(CLONE_NEWUSER) when
 * the mm is shared (mm_users > 1), and the copy costs only a few milliseconds once per start.
 *
 * Never: change the namespaces of the calling process, leave a child unreaped, leak an fd.
 */
#define _GNU_SOURCE
#include "ns_attach.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if_arp.h>
#include <net/route.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

/* Which operation the child was doing when it failed; the parent turns it into a message. */
enum child_step {
  STEP_OK = 0,
  STEP_SETNS_USER,
  STEP_SETNS_NET,
  STEP_OPEN_TUN,
  STEP_TUNSETIFF,
  STEP_VNET_HDR_SIZE,
  STEP_CONTROL_SOCKET,
  STEP_MTU,
  STEP_MAC,
  STEP_ADDRESS,
  STEP_NETMASK,
  STEP_TAP_UP,
  STEP_LO_UP,
  STEP_ROUTE,
};

struct child_reply {
  int32_t step;
  int32_t err;
  uint32_t offloads;
  int32_t vnet_hdr_size;
  char ifname[IFNAMSIZ];
};

static void copy_ifname(char dst[IFNAMSIZ], const char *src) {
  size_t i = 0;
  for (; i + 1 < IFNAMSIZ && src[i] != '\0'; i++) dst[i] = src[i];
  for (; i < IFNAMSIZ; i++) dst[i] = '\0';
}

static void fill_sockaddr_in(struct sockaddr *sa, uint32_t host_order_addr) {
  struct sockaddr_in sin;
  memset(&sin, 0, sizeof sin);
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(host_order_addr);
  memcpy(sa, &sin, sizeof sin);
}

/* Sets IFF_UP on an interface (keeps its other flags). */
static int link_up(int ctl, const char *name) {
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  copy_ifname(ifr.ifr_name, name);
  if (ioctl(ctl, SIOCGIFFLAGS, &ifr) < 0) return -1;
  ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
  return ioctl(ctl, SIOCSIFFLAGS, &ifr);
}

/* slirp4netns --configure: MTU, MAC, address, netmask, links up, default route. */
static enum child_step configure_with(int ctl, const struct ns_attach_request *req,
                                      const char *ifname) {
  struct ifreq ifr;

  memset(&ifr, 0, sizeof ifr);
  copy_ifname(ifr.ifr_name, ifname);
  ifr.ifr_mtu = req->mtu;
  if (ioctl(ctl, SIOCSIFMTU, &ifr) < 0) return STEP_MTU;

  if (req->has_mac) {
    memset(&ifr, 0, sizeof ifr);
    copy_ifname(ifr.ifr_name, ifname);
    ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
    memcpy(ifr.ifr_hwaddr.sa_data, req->mac, 6);
    if (ioctl(ctl, SIOCSIFHWADDR, &ifr) < 0) return STEP_MAC;
  }

  memset(&ifr, 0, sizeof ifr);
  copy_ifname(ifr.ifr_name, ifname);
  fill_sockaddr_in(&ifr.ifr_addr, req->address);
  if (ioctl(ctl, SIOCSIFADDR, &ifr) < 0) return STEP_ADDRESS;

  memset(&ifr, 0, sizeof ifr);
  copy_ifname(ifr.ifr_name, ifname);
  fill_sockaddr_in(&ifr.ifr_netmask, req->netmask);
  if (ioctl(ctl, SIOCSIFNETMASK, &ifr) < 0) return STEP_NETMASK;

  if (link_up(ctl, ifname) < 0) return STEP_TAP_UP;
  if (link_up(ctl, "lo") < 0) return STEP_LO_UP;

  /* The gateway is on the tap's subnet, so the route needs the link up first. */
  struct rtentry rt;
  char rt_dev[IFNAMSIZ];
  copy_ifname(rt_dev, ifname);
  memset(&rt, 0, sizeof rt);
  fill_sockaddr_in(&rt.rt_dst, 0);
  fill_sockaddr_in(&rt.rt_genmask, 0);
  fill_sockaddr_in(&rt.rt_gateway, req->gateway);
  rt.rt_flags = RTF_UP | RTF_GATEWAY;
  rt.rt_dev = rt_dev;
  if (ioctl(ctl, SIOCADDRT, &rt) < 0) return STEP_ROUTE;
  return STEP_OK;
}

static enum child_step configure_tap(const struct ns_attach_request *req, const char *ifname) {
  int ctl = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (ctl < 0) return STEP_CONTROL_SOCKET;
  enum child_step step = configure_with(ctl, req, ifname);
  int saved = errno; /* the caller reports errno of the failed ioctl, not of close() */
  close(ctl);
  errno = saved;
  return step;
}

/* Asks for checksum + TSO offloads, falling back to less when the kernel refuses. */
static unsigned negotiate_offloads(int tap) {
  static const unsigned wanted[] = {TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6, TUN_F_CSUM, 0};
  for (size_t i = 0; i < sizeof wanted / sizeof wanted[0]; i++) {
    if (ioctl(tap, TUNSETOFFLOAD, (unsigned long)wanted[i]) == 0) {
      unsigned bits = 0;
      if (wanted[i] & TUN_F_CSUM) bits |= NS_OFFLOAD_CSUM;
      if (wanted[i] & TUN_F_TSO4) bits |= NS_OFFLOAD_TSO4;
      if (wanted[i] & TUN_F_TSO6) bits |= NS_OFFLOAD_TSO6;
      return bits;
    }
  }
  return 0;
}

/* Runs in the child; async-signal-safe calls only. Returns the tap fd or -1 with reply filled. */
static int child_open_tap(const struct ns_attach_request *req, int userns_fd, int netns_fd,
                          struct child_reply *reply) {
  if (userns_fd >= 0 && setns(userns_fd, CLONE_NEWUSER) < 0) {
    reply->step = STEP_SETNS_USER;
    return -1;
  }
  if (setns(netns_fd, CLONE_NEWNET) < 0) {
    reply->step = STEP_SETNS_NET;
    return -1;
  }
  /* Opened after setns: a tun file belongs to the network namespace of whoever opened it. */
  int tap = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (tap < 0) {
    reply->step = STEP_OPEN_TUN;
    return -1;
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  copy_ifname(ifr.ifr_name, req->tap_name);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (req->vnet_hdr ? IFF_VNET_HDR : 0);
  if (ioctl(tap, TUNSETIFF, &ifr) < 0) {
    reply->step = STEP_TUNSETIFF;
    return -1;
  }
  copy_ifname(reply->ifname, ifr.ifr_name);
  if (req->vnet_hdr) {
    int size = NS_VNET_HDR_SIZE;
    if (ioctl(tap, TUNSETVNETHDRSZ, &size) < 0) {
      reply->step = STEP_VNET_HDR_SIZE;
      return -1;
    }
    reply->vnet_hdr_size = size;
    reply->offloads = negotiate_offloads(tap);
  }
  if (req->configure) {
    enum child_step step = configure_tap(req, reply->ifname);
    if (step != STEP_OK) {
      reply->step = step;
      return -1;
    }
  }
  return tap;
}

static void child_main(const struct ns_attach_request *req, int userns_fd, int netns_fd,
                       int sock) {
  struct child_reply reply;
  memset(&reply, 0, sizeof reply);
  int tap = child_open_tap(req, userns_fd, netns_fd, &reply);
  if (tap < 0) reply.err = errno;

  struct iovec iov = {.iov_base = &reply, .iov_len = sizeof reply};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } control;
  memset(&control, 0, sizeof control);
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (tap >= 0) {
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof control.buf;
    struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cmsg), &tap, sizeof tap);
  }
  ssize_t sent;
  do {
    sent = sendmsg(sock, &msg, MSG_NOSIGNAL);
  } while (sent < 0 && errno == EINTR);
  _exit(sent == (ssize_t)sizeof reply ? 0 : 1);
}

static void format_child_error(const struct ns_attach_request *req, const struct child_reply *r,
                               char *err, size_t size) {
  const char *why = strerror(r->err);
  const char *name = req->tap_name;
  switch ((enum child_step)r->step) {
    case STEP_SETNS_USER:
      snprintf(err, size, "cannot join user namespace %s: %s", req->userns_path, why);
      return;
    case STEP_SETNS_NET:
      snprintf(err, size, "cannot join network namespace %s: %s", req->netns_path, why);
      return;
    case STEP_OPEN_TUN:
      snprintf(err, size, "cannot open /dev/net/tun: %s", why);
      return;
    case STEP_TUNSETIFF: {
      const char *hint = "";
      if (r->err == EBUSY) hint = " (the tap is already attached to another process)";
      if (r->err == EINVAL) hint = " (the name is taken by a device that is not a tap)";
      if (r->err == EPERM) hint = " (no CAP_NET_ADMIN there, or the tap belongs to another user)";
      snprintf(err, size, "cannot create tap device %s: %s%s", name, why, hint);
      return;
    }
    case STEP_VNET_HDR_SIZE:
      snprintf(err, size, "cannot set the vnet header size on %s: %s", name, why);
      return;
    case STEP_CONTROL_SOCKET:
      snprintf(err, size, "cannot open a control socket in the namespace: %s", why);
      return;
    case STEP_MTU:
      snprintf(err, size, "cannot set MTU %d on %s: %s", req->mtu, name, why);
      return;
    case STEP_MAC:
      snprintf(err, size, "cannot set the MAC address of %s: %s", name, why);
      return;
    case STEP_ADDRESS:
      snprintf(err, size, "cannot set the address of %s: %s", name, why);
      return;
    case STEP_NETMASK:
      snprintf(err, size, "cannot set the netmask of %s: %s", name, why);
      return;
    case STEP_TAP_UP:
      snprintf(err, size, "cannot bring %s up: %s", name, why);
      return;
    case STEP_LO_UP:
      snprintf(err, size, "cannot bring lo up: %s", why);
      return;
    case STEP_ROUTE:
      snprintf(err, size, "cannot add the default route via the gateway on %s: %s", name, why);
      return;
    case STEP_OK:
      break;
  }
  snprintf(err, size, "namespace helper failed (step %d): %s", (int)r->step, why);
}

static int same_file(int fd, const char *path) {
  struct stat a, b;
  if (fstat(fd, &a) < 0 || stat(path, &b) < 0) return 0;
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* Opens the namespace files in the parent so that a missing PID gets a plain open() message. */
static int open_namespaces(const struct ns_attach_request *req, int *netns_fd, int *userns_fd,
                           char *err, size_t size) {
  *netns_fd = open(req->netns_path, O_RDONLY | O_CLOEXEC);
  if (*netns_fd < 0) {
    snprintf(err, size, "cannot open %s: %s", req->netns_path, strerror(errno));
    return -1;
  }
  *userns_fd = -1;
  if (req->userns_mode == NS_USERNS_NONE) return 0;
  *userns_fd = open(req->userns_path, O_RDONLY | O_CLOEXEC);
  if (*userns_fd < 0) {
    snprintf(err, size, "cannot open %s: %s", req->userns_path, strerror(errno));
    close(*netns_fd);
    return -1;
  }
  /* Like slirp4netns: joining our own user namespace again is refused (EINVAL) and useless. */
  if (req->userns_mode == NS_USERNS_IF_DIFFERENT && same_file(*userns_fd, "/proc/self/ns/user")) {
    close(*userns_fd);
    *userns_fd = -1;
  }
  return 0;
}

/* Reads the child's reply and the fd it passed. Returns the fd, or -1 (reply->step set). */
static int receive_reply(int sock, struct child_reply *reply, char *err, size_t size) {
  struct iovec iov = {.iov_base = reply, .iov_len = sizeof *reply};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } control;
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.buf;
  msg.msg_controllen = sizeof control.buf;
  ssize_t n;
  do {
    n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    snprintf(err, size, "cannot read from the namespace helper: %s", strerror(errno));
    return -1;
  }
  int fd = -1;
  struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
  if (cmsg != NULL && cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_RIGHTS &&
      cmsg->cmsg_len == CMSG_LEN(sizeof(int))) {
    memcpy(&fd, CMSG_DATA(cmsg), sizeof fd);
  }
  if (n != (ssize_t)sizeof *reply || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0) {
    if (fd >= 0) close(fd);
    snprintf(err, size, "the namespace helper exited without an answer");
    return -1;
  }
  if (reply->step != STEP_OK || fd < 0) {
    if (fd >= 0) close(fd);
    if (reply->step == STEP_OK) reply->step = -1;
    return -1;
  }
  return fd;
}

int ns_attach(const struct ns_attach_request *req, struct ns_attach_result *result, char *err,
              size_t err_size) {
  int netns_fd, userns_fd;
  if (open_namespaces(req, &netns_fd, &userns_fd, err, err_size) < 0) return -1;

  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
    snprintf(err, err_size, "socketpair: %s", strerror(errno));
    close(netns_fd);
    if (userns_fd >= 0) close(userns_fd);
    return -1;
  }
  pid_t pid = fork();
  if (pid < 0) {
    snprintf(err, err_size, "fork: %s", strerror(errno));
    close(sv[0]);
    close(sv[1]);
    close(netns_fd);
    if (userns_fd >= 0) close(userns_fd);
    return -1;
  }
  if (pid == 0) {
    close(sv[0]);
    child_main(req, userns_fd, netns_fd, sv[1]); /* never returns */
  }
  /* Close our copy of the child's end first, so that a crashed child reads as EOF, not a hang. */
  close(sv[1]);
  close(netns_fd);
  if (userns_fd >= 0) close(userns_fd);

  struct child_reply reply;
  memset(&reply, 0, sizeof reply);
  err[0] = '\0';
  int fd = receive_reply(sv[0], &reply, err, err_size);
  close(sv[0]);

  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (fd < 0) {
    if (err[0] == '\0') format_child_error(req, &reply, err, err_size);
    return -1;
  }
  result->fd = fd;
  copy_ifname(result->ifname, reply.ifname);
  result->vnet_hdr_size = reply.vnet_hdr_size;
  result->offloads = reply.offloads;
  return 0;
}

int ns_tap_info(int fd, char ifname[IFNAMSIZ], int *vnet_hdr_size, char *err, size_t err_size) {
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  if (ioctl(fd, TUNGETIFF, &ifr) < 0) {
    snprintf(err, err_size, "fd %d is not an attached TAP: %s", fd, strerror(errno));
    return -1;
  }
  if ((ifr.ifr_flags & (IFF_TAP | IFF_TUN)) != IFF_TAP || !(ifr.ifr_flags & IFF_NO_PI)) {
    snprintf(err, err_size, "fd %d is a tun device but not a TAP without packet information", fd);
    return -1;
  }
  copy_ifname(ifname, ifr.ifr_name);
  *vnet_hdr_size = 0;
  if ((ifr.ifr_flags & IFF_VNET_HDR) && ioctl(fd, TUNGETVNETHDRSZ, vnet_hdr_size) < 0) {
    snprintf(err, err_size, "cannot read the vnet header size of fd %d: %s", fd, strerror(errno));
    return -1;
  }
  return 0;
}
