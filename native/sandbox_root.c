/*
 * Builds the minimal root of --enable-sandbox and pivots into it (see sandbox_root.h).
 *
 * Same result as slirp4netns 1.2's create_sandbox() (tmpfs root, /etc and /run bound read-only,
 * pivot_root, old root detached, root remounted read-only), with two differences that make it work
 * on more hosts: a bind's remount keeps the atime flags of the mount it copies (the kernel refuses
 * to change them when they are locked, as in a user namespace), and resolv.conf's symlink chain is
 * walked link by link, so that /etc/resolv.conf -> /var/run/x/resolv.conf (Debian's /var/run is a
 * symlink to /run) still resolves inside: each symlink outside /etc and /run is recreated in the new
 * root and a final file outside them is bound.
 *
 * Never: mount anything writable, or expose a directory beyond /etc and /run.
 */
#define _GNU_SOURCE
#include "sandbox_root.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#define NEW_ROOT "/tmp"

int sandbox_report_errno(char *report, size_t size, const char *format, ...) {
  int saved = errno;
  char what[PATH_MAX + 128];
  va_list args;
  va_start(args, format);
  vsnprintf(what, sizeof what, format, args);
  va_end(args);
  snprintf(report, size, "%s: %s", what, strerror(saved));
  return -1;
}

static void report_note(char *report, size_t size, const char *format, ...) __attribute__((format(printf, 3, 4)));
static void report_note(char *report, size_t size, const char *format, ...) {
  size_t used = strlen(report);
  if (used + 1 >= size) return;
  va_list args;
  va_start(args, format);
  vsnprintf(report + used, size - used, format, args);
  va_end(args);
}

/* The atime flags of the mount holding path, as mount(2) flags (statvfs reports them as ST_*). */
static unsigned long atime_flags_of(const char *path) {
  struct statvfs st;
  if (statvfs(path, &st) < 0) return 0;
  unsigned long flags = 0;
  if (st.f_flag & ST_NOATIME) flags |= MS_NOATIME;
  if (st.f_flag & ST_NODIRATIME) flags |= MS_NODIRATIME;
  if (st.f_flag & ST_RELATIME) flags |= MS_RELATIME;
  return flags;
}

/* Binds from onto to (recursively) and makes the top of it read-only, nosuid, nodev, noexec. */
static int bind_read_only(const char *from, const char *to, char *report, size_t size) {
  if (mount(from, to, NULL, MS_BIND | MS_REC, NULL) < 0) return sandbox_report_errno(report, size, "cannot bind %s", from);
  unsigned long flags = MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | atime_flags_of(to);
  if (mount(NULL, to, NULL, flags, NULL) < 0) return sandbox_report_errno(report, size, "cannot make %s read-only", from);
  return 0;
}

/* mkdir -p for a path inside the new root (0755; existing directories are fine). */
static int make_directories(const char *path) {
  char partial[PATH_MAX];
  size_t n = strlen(path);
  if (n >= sizeof partial) {
    errno = ENAMETOOLONG;
    return -1;
  }
  for (size_t i = 1; i <= n; i++) {
    if (path[i] != '/' && path[i] != '\0') continue;
    memcpy(partial, path, i);
    partial[i] = '\0';
    if (mkdir(partial, 0755) < 0 && errno != EEXIST) return -1;
  }
  return 0;
}

static int under(const char *path, const char *dir) {
  size_t n = strlen(dir);
  return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

static int exposed_anyway(const char *path) { return under(path, "/etc") || under(path, "/run"); }

/*
 * What resolv.conf's path needs inside the new root, found before the tmpfs is mounted over /tmp
 * (which would hide a resolv.conf kept under /tmp): symlinks to recreate, at most one file to bind.
 */
#define MAX_LINKS 40
struct resolv_plan {
  int links;
  char link_path[MAX_LINKS][PATH_MAX];
  char link_target[MAX_LINKS][PATH_MAX];
  char file_path[PATH_MAX];
  int file_fd; /* O_PATH, opened while visible; -1 when nothing is to be bound */
};

/*
 * Walks /etc/resolv.conf's path component by component as the kernel resolves it; each symlink met
 * outside /etc and /run goes into the plan, and so does a final regular file outside them. A
 * missing or unreadable resolv.conf is left alone (tslirp then has no nameserver, as outside).
 */
static void plan_resolv_conf(struct resolv_plan *plan) {
  char resolved[PATH_MAX] = ""; /* the symlink-free prefix resolved so far ("" is "/") */
  char pending[PATH_MAX];       /* what is left to resolve, without its leading '/' */
  plan->links = 0;
  plan->file_fd = -1;
  snprintf(pending, sizeof pending, "%s", "etc/resolv.conf");
  for (int hops = 0; pending[0] != '\0';) {
    char *slash = strchr(pending, '/');
    size_t len = slash ? (size_t)(slash - pending) : strlen(pending);
    char component[NAME_MAX + 1];
    if (len > NAME_MAX) return;
    memcpy(component, pending, len);
    component[len] = '\0';
    const char *rest = slash ? slash + 1 : pending + len;
    memmove(pending, rest, strlen(rest) + 1);
    if (len == 0 || strcmp(component, ".") == 0) continue;
    if (strcmp(component, "..") == 0) {
      char *last = strrchr(resolved, '/');
      if (last) *last = '\0';
      continue;
    }
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s", resolved, component) >= (int)sizeof path) return;
    struct stat st;
    if (lstat(path, &st) < 0) return;
    if (S_ISLNK(st.st_mode)) {
      char target[PATH_MAX];
      ssize_t n = readlink(path, target, sizeof target - 1);
      if (n < 0 || ++hops > MAX_LINKS) return;
      target[n] = '\0';
      if (!exposed_anyway(path) && plan->links < MAX_LINKS) {
        snprintf(plan->link_path[plan->links], PATH_MAX, "%s", path);
        snprintf(plan->link_target[plan->links], PATH_MAX, "%s", target);
        plan->links++;
      }
      char next[PATH_MAX];
      if (snprintf(next, sizeof next, "%s%s%s", target[0] == '/' ? target + 1 : target, pending[0] ? "/" : "", pending) >= (int)sizeof next) return;
      snprintf(pending, sizeof pending, "%s", next);
      if (target[0] == '/') resolved[0] = '\0';
      continue;
    }
    snprintf(resolved, sizeof resolved, "%s", path);
    if (pending[0] == '\0' && S_ISREG(st.st_mode) && !exposed_anyway(resolved)) {
      snprintf(plan->file_path, sizeof plan->file_path, "%s", resolved);
      plan->file_fd = open(resolved, O_PATH | O_CLOEXEC);
    }
  }
}

/* Creates the parent directories of path inside the new root; returns the path inside, or NULL. */
static const char *inside_new_root(const char *path, char inside[PATH_MAX], char *report, size_t size) {
  char parent[PATH_MAX];
  if (snprintf(inside, PATH_MAX, "%s%s", NEW_ROOT, path) >= PATH_MAX) {
    errno = ENAMETOOLONG;
    sandbox_report_errno(report, size, "%s", path);
    return NULL;
  }
  snprintf(parent, sizeof parent, "%s", inside);
  *strrchr(parent, '/') = '\0';
  if (make_directories(parent) < 0) {
    sandbox_report_errno(report, size, "cannot create %s in the sandbox", parent + strlen(NEW_ROOT));
    return NULL;
  }
  return inside;
}

/* Carries the plan out in the new root: the symlinks recreated, the file bound read-only. */
static int apply_resolv_plan(const struct resolv_plan *plan, char *report, size_t size) {
  char inside[PATH_MAX];
  for (int i = 0; i < plan->links; i++) {
    if (inside_new_root(plan->link_path[i], inside, report, size) == NULL) return -1;
    if (symlink(plan->link_target[i], inside) < 0 && errno != EEXIST) {
      return sandbox_report_errno(report, size, "cannot recreate the symlink %s in the sandbox", plan->link_path[i]);
    }
    report_note(report, size, "sandbox: %s (a symlink on /etc/resolv.conf's way) recreated in the sandbox\n", plan->link_path[i]);
  }
  if (plan->file_fd < 0) return 0;
  if (inside_new_root(plan->file_path, inside, report, size) == NULL) return -1;
  int fd = open(inside, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return sandbox_report_errno(report, size, "cannot create %s in the sandbox", plan->file_path);
  close(fd);
  /* Bound through the descriptor: the file may lie under /tmp, now hidden by the new root. */
  char source[64];
  snprintf(source, sizeof source, "/proc/self/fd/%d", plan->file_fd);
  if (bind_read_only(source, inside, report, size) < 0) return -1;
  report_note(report, size, "sandbox: /etc/resolv.conf leads to %s, outside /etc and /run: bound it read-only into the sandbox\n", plan->file_path);
  return 0;
}

static int build_and_enter(const struct resolv_plan *plan, char *report, size_t size) {
  if (mount("tmpfs", NEW_ROOT, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=64k,mode=0755") < 0) {
    return sandbox_report_errno(report, size, "cannot mount a tmpfs on " NEW_ROOT);
  }
  static const char *const dirs[] = {NEW_ROOT "/etc", NEW_ROOT "/run", NEW_ROOT "/old"};
  for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
    if (mkdir(dirs[i], 0755) < 0) return sandbox_report_errno(report, size, "cannot create %s", dirs[i]);
  }
  if (bind_read_only("/etc", NEW_ROOT "/etc", report, size) < 0) return -1;
  if (bind_read_only("/run", NEW_ROOT "/run", report, size) < 0) return -1;
  if (apply_resolv_plan(plan, report, size) < 0) return -1;
  if (chdir(NEW_ROOT) < 0) return sandbox_report_errno(report, size, "cannot enter " NEW_ROOT);
  if (syscall(SYS_pivot_root, ".", "old") < 0) return sandbox_report_errno(report, size, "pivot_root");
  if (chdir("/") < 0) return sandbox_report_errno(report, size, "cannot enter the new root");
  if (umount2("/old", MNT_DETACH) < 0) return sandbox_report_errno(report, size, "cannot detach the old root");
  if (rmdir("/old") < 0) return sandbox_report_errno(report, size, "cannot remove /old");
  /* As slirp4netns: a read-only root is a nicety some kernels refuse in a user namespace. */
  if (mount(NULL, "/", NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) {
    report_note(report, size, "sandbox: the new root stays writable (remount read-only: %s)\n", strerror(errno));
  }
  return 0;
}

int sandbox_enter_minimal_root(char *report, size_t size) {
  report[0] = '\0';
  static struct resolv_plan plan; /* ~160 KiB: not on the stack */
  plan_resolv_conf(&plan);
  int rc = build_and_enter(&plan, report, size);
  if (plan.file_fd >= 0) close(plan.file_fd);
  return rc;
}
