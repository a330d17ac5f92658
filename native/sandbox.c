/*
 * --enable-sandbox / --enable-seccomp for a multi-threaded process (Node runs V8 and libuv threads).
 *
 * Linux keeps no_new_privs, capability sets and the bounding set per thread, so applying them on the
 * JS thread alone would leave the libuv threadpool (which does our file I/O) with full privileges.
 * Like libpsx, we apply them on this thread and then on every other thread of the process from a
 * real-time signal handler (raw syscalls only, async-signal-safe), and wait until all report back.
 * Threads created later inherit the sets of their (already restricted) creator.
 *
 * seccomp: a deny-list filter installed with SECCOMP_FILTER_FLAG_TSYNC (the kernel itself applies it,
 * and no_new_privs, to every thread). It refuses with EPERM the system calls a network relay never
 * needs once its TAP is open (namespaces, mounts, modules, ptrace, kexec, bpf, keyrings, …) and every
 * foreign-ABI call (x32, ia32), which would otherwise bypass a deny list.
 *
 * Must be called after the TAP attach (which needs setns and the capabilities) and before the TAP
 * reader thread starts (so it is not interrupted by the signal while it polls).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <node_api.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "napi_util.h"
#include "sandbox.h"

#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

enum { APPLY_NNP = 1, APPLY_DROP_CAPS = 2 };

static int g_apply_flags;
static int g_cap_last = 40;
static atomic_int g_pending;
static atomic_int g_failed;

/* On the calling thread only; raw syscalls, so it may run in a signal handler. */
static int apply_self(int flags) {
  if ((flags & APPLY_NNP) && syscall(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return -1;
  if (flags & APPLY_DROP_CAPS) {
    /* Bounding set first: dropping from it needs CAP_SETPCAP, which capset below removes. */
    for (int cap = 0; cap <= g_cap_last; cap++) {
      if (cap == CAP_NET_BIND_SERVICE) continue;
      if (syscall(SYS_prctl, PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL) return -1;
    }
    syscall(SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    data[0].effective = data[0].permitted = 1u << CAP_NET_BIND_SERVICE;
    if (syscall(SYS_capset, &header, data) < 0) return -1;
  }
  return 0;
}

static void on_signal(int sig) {
  (void)sig;
  int saved = errno;
  if (apply_self(g_apply_flags) < 0) atomic_fetch_add(&g_failed, 1);
  atomic_fetch_sub(&g_pending, 1);
  errno = saved;
}

static int read_cap_last(void) {
  FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "r");
  int last = 40;
  if (f) {
    if (fscanf(f, "%d", &last) != 1) last = 40;
    fclose(f);
  }
  return last;
}

/* Whether thread tid blocks signal sig (Node's inspector signal thread blocks every signal). */
static int thread_blocks(pid_t tid, int sig) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/self/task/%d/status", (int)tid);
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  int blocked = 0;
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, "SigBlk:", 7) == 0) {
      unsigned long long mask = strtoull(line + 7, NULL, 16);
      blocked = (mask >> (sig - 1)) & 1;
      break;
    }
  }
  fclose(f);
  return blocked;
}

/*
 * Applies flags on every thread; returns the number of threads restricted, or -1 with err filled.
 * *unreachable counts threads that block every signal (they run no JS and no I/O of ours).
 */
static int apply_all_threads(int flags, int *unreachable, char *err, size_t errlen) {
  g_apply_flags = flags;
  g_cap_last = read_cap_last();
  const int sig = SIGRTMAX - 3;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  /* Left installed: a late delivery must not take the default action (terminate). */
  if (sigaction(sig, &sa, NULL) < 0) {
    snprintf(err, errlen, "sigaction: %s", strerror(errno));
    return -1;
  }
  if (apply_self(flags) < 0) {
    snprintf(err, errlen, "cannot restrict the main thread: %s", strerror(errno));
    return -1;
  }
  pid_t pid = getpid();
  pid_t self = (pid_t)syscall(SYS_gettid);
  pid_t done[1024];
  int ndone = 0;
  atomic_store(&g_failed, 0);
  /* Two passes: a thread not yet restricted may have started another while we iterated. */
  for (int pass = 0; pass < 2; pass++) {
    DIR *dir = opendir("/proc/self/task");
    if (!dir) {
      snprintf(err, errlen, "opendir /proc/self/task: %s", strerror(errno));
      return -1;
    }
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
      pid_t tid = (pid_t)atoi(entry->d_name);
      if (tid <= 0 || tid == self) continue;
      int seen = 0;
      for (int i = 0; i < ndone; i++) seen |= done[i] == tid;
      if (seen || ndone == (int)(sizeof done / sizeof done[0])) continue;
      done[ndone++] = tid;
      if (thread_blocks(tid, sig)) {
        (*unreachable)++;
        continue;
      }
      atomic_fetch_add(&g_pending, 1);
      if (syscall(SYS_tgkill, pid, tid, sig) < 0) atomic_fetch_sub(&g_pending, 1); /* it exited */
    }
    closedir(dir);
    struct timespec step = {0, 1000000};
    for (int waited = 0; atomic_load(&g_pending) > 0 && waited < 3000; waited++) nanosleep(&step, NULL);
    if (atomic_load(&g_pending) > 0) {
      snprintf(err, errlen, "%d thread(s) did not acknowledge the sandbox signal", atomic_load(&g_pending));
      return -1;
    }
  }
  if (atomic_load(&g_failed) > 0) {
    snprintf(err, errlen, "%d thread(s) could not be restricted", atomic_load(&g_failed));
    return -1;
  }
  return ndone + 1 - *unreachable;
}

#if defined(__x86_64__)
#define SANDBOX_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define SANDBOX_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

#define DENY_NR(name) SYS_##name,
static const long denied_syscalls[] = {
#ifdef SYS_mount
    DENY_NR(mount)
#endif
#ifdef SYS_umount2
    DENY_NR(umount2)
#endif
#ifdef SYS_pivot_root
    DENY_NR(pivot_root)
#endif
#ifdef SYS_chroot
    DENY_NR(chroot)
#endif
#ifdef SYS_setns
    DENY_NR(setns)
#endif
#ifdef SYS_unshare
    DENY_NR(unshare)
#endif
#ifdef SYS_ptrace
    DENY_NR(ptrace)
#endif
#ifdef SYS_process_vm_readv
    DENY_NR(process_vm_readv)
#endif
#ifdef SYS_process_vm_writev
    DENY_NR(process_vm_writev)
#endif
#ifdef SYS_kexec_load
    DENY_NR(kexec_load)
#endif
#ifdef SYS_kexec_file_load
    DENY_NR(kexec_file_load)
#endif
#ifdef SYS_init_module
    DENY_NR(init_module)
#endif
#ifdef SYS_finit_module
    DENY_NR(finit_module)
#endif
#ifdef SYS_delete_module
    DENY_NR(delete_module)
#endif
#ifdef SYS_reboot
    DENY_NR(reboot)
#endif
#ifdef SYS_swapon
    DENY_NR(swapon)
#endif
#ifdef SYS_swapoff
    DENY_NR(swapoff)
#endif
#ifdef SYS_acct
    DENY_NR(acct)
#endif
#ifdef SYS_settimeofday
    DENY_NR(settimeofday)
#endif
#ifdef SYS_clock_settime
    DENY_NR(clock_settime)
#endif
#ifdef SYS_clock_adjtime
    DENY_NR(clock_adjtime)
#endif
#ifdef SYS_adjtimex
    DENY_NR(adjtimex)
#endif
#ifdef SYS_bpf
    DENY_NR(bpf)
#endif
#ifdef SYS_perf_event_open
    DENY_NR(perf_event_open)
#endif
#ifdef SYS_userfaultfd
    DENY_NR(userfaultfd)
#endif
#ifdef SYS_keyctl
    DENY_NR(keyctl)
#endif
#ifdef SYS_add_key
    DENY_NR(add_key)
#endif
#ifdef SYS_request_key
    DENY_NR(request_key)
#endif
#ifdef SYS_open_by_handle_at
    DENY_NR(open_by_handle_at)
#endif
#ifdef SYS_name_to_handle_at
    DENY_NR(name_to_handle_at)
#endif
#ifdef SYS_fsopen
    DENY_NR(fsopen)
#endif
#ifdef SYS_fsmount
    DENY_NR(fsmount)
#endif
#ifdef SYS_fsconfig
    DENY_NR(fsconfig)
#endif
#ifdef SYS_move_mount
    DENY_NR(move_mount)
#endif
#ifdef SYS_open_tree
    DENY_NR(open_tree)
#endif
#ifdef SYS_fspick
    DENY_NR(fspick)
#endif
#ifdef SYS_mount_setattr
    DENY_NR(mount_setattr)
#endif
#ifdef SYS_quotactl
    DENY_NR(quotactl)
#endif
#ifdef SYS_syslog
    DENY_NR(syslog)
#endif
#ifdef SYS_iopl
    DENY_NR(iopl)
#endif
#ifdef SYS_ioperm
    DENY_NR(ioperm)
#endif
#ifdef SYS_vhangup
    DENY_NR(vhangup)
#endif
#ifdef SYS_uselib
    DENY_NR(uselib)
#endif
#ifdef SYS_kcmp
    DENY_NR(kcmp)
#endif
#ifdef SYS_lookup_dcookie
    DENY_NR(lookup_dcookie)
#endif
};

/* Returns 0, or -1 with err filled; 1 when this architecture has no filter (nothing installed). */
static int install_seccomp(char *err, size_t errlen) {
#ifndef SANDBOX_AUDIT_ARCH
  (void)err;
  (void)errlen;
  return 1;
#else
  enum { N = sizeof denied_syscalls / sizeof denied_syscalls[0] };
  struct sock_filter prog[N + 8];
  int n = 0;
  const struct sock_filter deny = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA));
  prog[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
  prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SANDBOX_AUDIT_ARCH, 1, 0);
  prog[n++] = deny; /* foreign ABI */
  prog[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
#if defined(__x86_64__)
  prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000u, (unsigned char)(N + 1), 0); /* x32 */
#endif
  for (int i = 0; i < N; i++) {
    /* jump to the deny at the end: skip the remaining compares and the allow */
    prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)denied_syscalls[i], (unsigned char)(N - i), 0);
  }
  prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  prog[n++] = deny;
  struct sock_fprog fprog = {(unsigned short)n, prog};
  if (syscall(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
    snprintf(err, errlen, "prctl(PR_SET_NO_NEW_PRIVS): %s", strerror(errno));
    return -1;
  }
  long rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &fprog);
  if (rc > 0) {
    snprintf(err, errlen, "seccomp: thread %ld cannot take the filter", rc);
    return -1;
  }
  if (rc < 0) {
    snprintf(err, errlen, "seccomp(SECCOMP_SET_MODE_FILTER, TSYNC): %s", strerror(errno));
    return -1;
  }
  return 0;
#endif
}

static int read_flag(napi_env env, napi_value obj, const char *key, bool *out) {
  napi_value v;
  int present;
  *out = false;
  if (napi_util_get_property(env, obj, key, &v, &present) < 0) return -1;
  if (present && napi_get_value_bool(env, v, out) != napi_ok) {
    napi_throw_type_error(env, NULL, "expected a boolean option");
    return -1;
  }
  return 0;
}

/* sandboxApply({ noNewPrivs, dropCapabilities, seccomp }) → { threads, unreachable, seccomp }; throws on failure. */
napi_value sandbox_apply_js(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1) {
    napi_throw_type_error(env, NULL, "sandboxApply(options) needs an options object");
    return NULL;
  }
  bool nnp, caps, seccomp;
  if (read_flag(env, argv[0], "noNewPrivs", &nnp) < 0 || read_flag(env, argv[0], "dropCapabilities", &caps) < 0 ||
      read_flag(env, argv[0], "seccomp", &seccomp) < 0) {
    return NULL;
  }
  char err[256] = "";
  int threads = 0, unreachable = 0;
  int flags = (nnp ? APPLY_NNP : 0) | (caps ? APPLY_DROP_CAPS : 0);
  if (flags != 0 && (threads = apply_all_threads(flags, &unreachable, err, sizeof err)) < 0) {
    napi_throw_error(env, NULL, err);
    return NULL;
  }
  int seccomp_rc = 1;
  if (seccomp && (seccomp_rc = install_seccomp(err, sizeof err)) < 0) {
    napi_throw_error(env, NULL, err);
    return NULL;
  }
  napi_value out, t, s, u;
  NAPI_CALL(env, napi_create_object(env, &out));
  NAPI_CALL(env, napi_create_int32(env, threads, &t));
  NAPI_CALL(env, napi_get_boolean(env, seccomp_rc == 0, &s));
  NAPI_CALL(env, napi_create_int32(env, unreachable, &u));
  NAPI_CALL(env, napi_set_named_property(env, out, "threads", t));
  NAPI_CALL(env, napi_set_named_property(env, out, "unreachable", u));
  NAPI_CALL(env, napi_set_named_property(env, out, "seccomp", s));
  return out;
}

/*
 * One request to the pivot helper the launcher left in our mount namespace (launcher_sandbox.c):
 * send the byte, read the answer (a status byte, text, a NUL). Returns the status byte, or 0 with
 * *failure set when the helper is gone or silent.
 */
static char helper_request(int fd, char request, char *text, size_t size, int timeout_ms, const char **failure) {
  ssize_t n;
  do {
    n = send(fd, &request, 1, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n != 1) {
    *failure = "cannot reach the sandbox helper";
    return 0;
  }
  char reply[4096];
  size_t got = 0;
  while (got == 0 || (reply[got - 1] != '\0' && got < sizeof reply)) {
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int ready = poll(&pfd, 1, timeout_ms);
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) {
      *failure = "the sandbox helper did not answer in time";
      return 0;
    }
    n = read(fd, reply + got, sizeof reply - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      *failure = "the sandbox helper exited without answering";
      return 0;
    }
    got += (size_t)n;
  }
  reply[got - 1] = '\0';
  snprintf(text, size, "%s", reply + 1);
  return reply[0];
}

static int get_helper_fd(napi_env env, napi_callback_info info, int *fd) {
  size_t argc = 1;
  napi_value arg;
  int64_t fd64;
  if (napi_get_cb_info(env, info, &argc, &arg, NULL, NULL) != napi_ok || argc != 1) {
    napi_throw_type_error(env, NULL, "expected the sandbox helper's fd");
    return -1;
  }
  if (napi_util_get_int(env, arg, "helperFd", 0, INT32_MAX, &fd64) < 0) return -1;
  *fd = (int)fd64;
  return 0;
}

/*
 * sandboxPivot(helperFd) -> notes (lines, often empty): the helper builds the minimal root and
 * pivot_root()s into it, moving this process's root and working directory (which must be "/").
 * Throws with the helper's message. The fd stays open (see sandboxRemoveApiSocket).
 */
napi_value sandbox_pivot_js(napi_env env, napi_callback_info info) {
  int fd;
  if (get_helper_fd(env, info, &fd) < 0) return NULL;
  char text[4096], message[4200];
  const char *failure = NULL;
  char status = helper_request(fd, 'P', text, sizeof text, 10000, &failure);
  if (status != '0') {
    snprintf(message, sizeof message, "cannot enter the sandbox's root: %s", failure != NULL ? failure : text);
    napi_throw_error(env, NULL, message);
    return NULL;
  }
  napi_value notes;
  NAPI_CALL(env, napi_create_string_utf8(env, text, strlen(text), &notes));
  return notes;
}

/*
 * sandboxRemoveApiSocket(helperFd): on an orderly exit, the helper (which kept the API socket's
 * directory open) removes the socket file the sandbox's root no longer shows. Closes helperFd.
 */
napi_value sandbox_remove_api_socket_js(napi_env env, napi_callback_info info) {
  int fd;
  if (get_helper_fd(env, info, &fd) < 0) return NULL;
  char text[256];
  const char *failure = NULL;
  helper_request(fd, 'U', text, sizeof text, 2000, &failure);
  close(fd);
  return NULL;
}
