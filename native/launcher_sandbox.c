/*
 * The launcher's half of --enable-sandbox (see launcher_sandbox.h): user namespace, private mount
 * namespace, the pivot helper, and the capability drop before exec.
 *
 * Why not the pivot here, before exec: Node would then need its binary, its libraries and the package
 * inside the minimal root. Why not in Node: pivot_root needs CAP_SYS_ADMIN, and a capability Node
 * held at start stays on threads Node creates before our code runs (its inspector signal thread
 * blocks every signal, so it cannot be reached to drop them). The helper holds the capability
 * instead, in its own process, and is gone once the root is entered.
 *
 * Never: leave the helper holding any descriptor but its socket (it would keep the TAP alive), or
 * exec Node with more than CAP_NET_BIND_SERVICE.
 */
#define _GNU_SOURCE
#include "launcher_sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox_root.h"

#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

/* Node's requests to the helper (src/cli/sandbox.ts, through native/sandbox.c). */
#define PIVOT_REQUEST 'P'  /* modules loaded, sockets bound: enter the minimal root */
#define UNLINK_REQUEST 'U' /* orderly exit: remove the API socket file */

const char *launcher_userns_name(enum launcher_userns userns) {
  switch (userns) {
    case LAUNCHER_USERNS_JOINED:
      return "joined";
    case LAUNCHER_USERNS_CREATED:
      return "created";
    case LAUNCHER_USERNS_KEPT:
      break;
  }
  return "kept";
}

static int same_namespace(int fd, const char *path) {
  struct stat a, b;
  return fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

static int write_file(const char *path, const char *text) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = write(fd, text, strlen(text));
  int saved = errno;
  close(fd);
  errno = saved;
  return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* unshare(CLONE_NEWUSER) with ourselves as its root (uid and gid 0 map to ours, nothing else). */
static int create_user_namespace(char *err, size_t size) {
  uid_t uid = geteuid();
  gid_t gid = getegid();
  if (unshare(CLONE_NEWUSER) < 0) return sandbox_report_errno(err, size, "cannot create a user namespace");
  char map[64];
  snprintf(map, sizeof map, "0 %u 1\n", (unsigned)uid);
  if (write_file("/proc/self/uid_map", map) < 0) return sandbox_report_errno(err, size, "cannot write uid_map");
  if (write_file("/proc/self/setgroups", "deny\n") < 0 && errno != ENOENT) return sandbox_report_errno(err, size, "cannot write setgroups");
  snprintf(map, sizeof map, "0 %u 1\n", (unsigned)gid);
  if (write_file("/proc/self/gid_map", map) < 0) return sandbox_report_errno(err, size, "cannot write gid_map");
  return 0;
}

/* Step 1: as slirp4netns's parent(): become root of the target's user namespace when not root. */
static int enter_user_namespace(const struct launcher_command *cmd, enum launcher_userns *result, char *err, size_t size) {
  *result = LAUNCHER_USERNS_KEPT;
  if (geteuid() == 0) return 0;
  char path[300] = "";
  if (cmd->has_userns_path) snprintf(path, sizeof path, "%s", cmd->userns_path);
  else if (cmd->target_is_pid) snprintf(path, sizeof path, "/proc/%d/ns/user", (int)cmd->target_pid);
  int fd = -1;
  if (path[0] != '\0') {
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return sandbox_report_errno(err, size, "cannot open %s", path);
    if (same_namespace(fd, "/proc/self/ns/user")) {
      close(fd);
      fd = -1;
    }
  }
  if (fd < 0) {
    if (create_user_namespace(err, size) < 0) return -1;
    *result = LAUNCHER_USERNS_CREATED;
    return 0;
  }
  int rc = setns(fd, CLONE_NEWUSER);
  int saved = errno;
  close(fd);
  errno = saved;
  if (rc < 0) return sandbox_report_errno(err, size, "cannot join the user namespace %s", path);
  *result = LAUNCHER_USERNS_JOINED;
  if (getegid() != 0 && setegid(0) < 0) return sandbox_report_errno(err, size, "setegid(0) in the target's user namespace");
  if (geteuid() != 0 && seteuid(0) < 0) return sandbox_report_errno(err, size, "seteuid(0) in the target's user namespace");
  return 0;
}

static int drop_capabilities(int keep_net_bind_service, char *err, size_t size);

/* In the helper: everything but the socket closed, stdio on /dev/null. Returns the socket's fd (3). */
static int helper_isolate(int sock) {
  if (dup2(sock, 3) < 0) _exit(1);
  int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null_fd >= 0) {
    dup2(null_fd, 0);
    dup2(null_fd, 1);
    dup2(null_fd, 2);
  }
#ifdef SYS_close_range
  if (syscall(SYS_close_range, 4, ~0U, 0) < 0)
#endif
  {
    for (int fd = 4; fd < 65536; fd++) close(fd);
  }
  return 3;
}

static char helper_read_request(int sock) {
  char request = 0;
  ssize_t n;
  do {
    n = read(sock, &request, 1);
  } while (n < 0 && errno == EINTR);
  return n == 1 ? request : 0; /* 0: Node is gone (EOF) */
}

/* One answer: a status byte ('0' done, '1' failed), text, a NUL. */
static void helper_answer(int sock, int ok, const char *text) {
  char status = ok ? '0' : '1';
  struct iovec iov[2] = {{.iov_base = &status, .iov_len = 1}, {.iov_base = (void *)text, .iov_len = strlen(text) + 1}};
  struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
  while (sendmsg(sock, &msg, MSG_NOSIGNAL) < 0 && errno == EINTR) {
  }
}

/*
 * The helper's whole life. PIVOT_REQUEST: enter the minimal root (after opening the API socket's
 * directory, which the root no longer shows). Then UNLINK_REQUEST, sent by Node on an orderly exit
 * only: remove the API socket file, as tslirp does without the sandbox. EOF at any point: Node is
 * gone (killed, or done), and the file stays, as after a SIGKILL without the sandbox.
 */
static void helper_main(int sock, const char *api_socket) __attribute__((noreturn));
static void helper_main(int sock, const char *api_socket) {
  sock = helper_isolate(sock);
  prctl(PR_SET_NAME, "tslirp-sandbox", 0, 0, 0);
  signal(SIGPIPE, SIG_IGN);
  if (helper_read_request(sock) != PIVOT_REQUEST) _exit(0);
  int api_dir = -1;
  const char *api_name = NULL;
  if (api_socket[0] != '\0') {
    char dir[sizeof ((struct launcher_command *)0)->api_socket];
    snprintf(dir, sizeof dir, "%s", api_socket);
    char *slash = strrchr(dir, '/');
    api_name = slash ? slash + 1 : api_socket;
    if (slash == dir) dir[1] = '\0';
    else if (slash) *slash = '\0';
    api_dir = open(slash ? dir : ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
  }
  char report[2048];
  int entered = sandbox_enter_minimal_root(report, sizeof report) == 0;
  /* Its pivot done, the helper keeps no capability either: removing the socket file needs none (it
     is ours, in a directory we may write), and nothing left in this process should be worth a takeover. */
  char dropped[256];
  if (entered && drop_capabilities(0, dropped, sizeof dropped) < 0) {
    entered = 0;
    snprintf(report, sizeof report, "sandbox helper: %s", dropped);
  }
  helper_answer(sock, entered, report);
  if (!entered) _exit(0);
  if (helper_read_request(sock) != UNLINK_REQUEST) _exit(0);
  struct stat st;
  if (api_dir >= 0 && fstatat(api_dir, api_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISSOCK(st.st_mode)) unlinkat(api_dir, api_name, 0);
  helper_answer(sock, 1, "");
  _exit(0);
}

/* Starts the helper as a grandchild (its parent exits at once: Node never has a child to reap). */
static int start_helper(const char *api_socket, int *node_end, char *err, size_t size) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) return sandbox_report_errno(err, size, "socketpair");
  pid_t middle = fork();
  if (middle < 0) {
    close(sv[0]);
    close(sv[1]);
    return sandbox_report_errno(err, size, "fork");
  }
  if (middle == 0) {
    close(sv[0]);
    pid_t helper = fork();
    if (helper == 0) helper_main(sv[1], api_socket);
    _exit(helper < 0 ? 1 : 0);
  }
  close(sv[1]);
  int status = 0;
  while (waitpid(middle, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    close(sv[0]);
    errno = ECHILD;
    return sandbox_report_errno(err, size, "cannot start the sandbox helper");
  }
  /* Node inherits it across exec. */
  if (fcntl(sv[0], F_SETFD, 0) < 0) {
    close(sv[0]);
    return sandbox_report_errno(err, size, "fcntl");
  }
  *node_end = sv[0];
  return 0;
}

int launcher_sandbox_prepare(const struct launcher_command *cmd, struct launcher_sandbox *out, char *err, size_t size) {
  out->helper_fd = -1;
  if (enter_user_namespace(cmd, &out->userns, err, size) < 0) return -1;
  if (unshare(CLONE_NEWNS) < 0) return sandbox_report_errno(err, size, "cannot unshare the mount namespace");
  /* Slave, not private: mounts the host makes later still show (a rewritten /run/... resolv.conf),
     and our detaching of the old root never propagates back (slirp4netns's sandbox-no-unmount). */
  if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0) return sandbox_report_errno(err, size, "cannot make the mounts slaves");
  return start_helper(cmd->api_socket, &out->helper_fd, err, size);
}

static int read_cap_last(void) {
  int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return CAP_LAST_CAP;
  char text[16] = "";
  ssize_t n = read(fd, text, sizeof text - 1);
  close(fd);
  if (n <= 0) return CAP_LAST_CAP;
  text[n] = '\0';
  int last = 0;
  for (char *c = text; *c >= '0' && *c <= '9'; c++) last = last * 10 + (*c - '0');
  return last > 0 ? last : CAP_LAST_CAP;
}

int launcher_sandbox_drop_privileges(char *err, size_t size) { return drop_capabilities(1, err, size); }

/* Every capability gone (bounding, ambient, inheritable too) but CAP_NET_BIND_SERVICE when asked
   and held, then no_new_privs. */
static int drop_capabilities(int keep_net_bind_service, char *err, size_t size) {
  struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  memset(data, 0, sizeof data);
  if (syscall(SYS_capget, &header, data) < 0) return sandbox_report_errno(err, size, "capget");
  int have_setpcap = (data[0].effective >> CAP_SETPCAP) & 1;
  int have_bind = keep_net_bind_service && ((data[0].permitted >> CAP_NET_BIND_SERVICE) & 1);
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) return sandbox_report_errno(err, size, "prctl(PR_CAP_AMBIENT_CLEAR_ALL)");
  /* The bounding set is what root's exec() grants; without CAP_SETPCAP there is nothing to keep. */
  if (have_setpcap) {
    int last = read_cap_last();
    for (int cap = 0; cap <= last; cap++) {
      if (keep_net_bind_service && cap == CAP_NET_BIND_SERVICE) continue;
      if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL) return sandbox_report_errno(err, size, "prctl(PR_CAPBSET_DROP, %d)", cap);
    }
  }
  memset(data, 0, sizeof data);
  if (have_bind) data[0].effective = data[0].permitted = data[0].inheritable = 1u << CAP_NET_BIND_SERVICE;
  if (syscall(SYS_capset, &header, data) < 0) return sandbox_report_errno(err, size, "capset");
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return sandbox_report_errno(err, size, "prctl(PR_SET_NO_NEW_PRIVS)");
  return 0;
}
