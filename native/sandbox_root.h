/*
 * The minimal root of --enable-sandbox, built and entered by the pivot helper (launcher_sandbox.c) in
 * tslirp's private mount namespace: a small read-only tmpfs holding /etc and /run (bind mounts,
 * read-only, nosuid, nodev, noexec), and, when /etc/resolv.conf reaches its file through symlinks
 * outside those two, those symlinks and that file too (slirp4netns 1.2.1 binds an escaped target).
 *
 * Runs in a single-threaded process that holds CAP_SYS_ADMIN over the mount namespace. pivot_root()
 * moves the root and working directory of every task of the namespace that used the old root, so
 * Node's threads, all sharing one root and working directory "/", land in the new root with it.
 */
#ifndef TSLIRP_SANDBOX_ROOT_H
#define TSLIRP_SANDBOX_ROOT_H

#include <stddef.h>

/*
 * Builds the root on a tmpfs mounted over /tmp (hidden from nobody: the mount namespace is ours) and
 * pivots into it. Returns 0 with notes (lines, possibly empty) in report, or -1 with a one-line
 * message in report.
 */
int sandbox_enter_minimal_root(char *report, size_t report_size);

/*
 * Writes "WHAT: strerror(errno)" (WHAT from format) into report and returns -1: the one error
 * message form of the sandbox's steps, here and in launcher_sandbox.c.
 */
int sandbox_report_errno(char *report, size_t size, const char *format, ...) __attribute__((format(printf, 3, 4)));

#endif
