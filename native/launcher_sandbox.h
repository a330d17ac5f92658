/*
 * --enable-sandbox, the part that needs a single-threaded process: the launcher does it after the TAP
 * is attached and before it execs Node (slirp4netns 1.2's create_sandbox() and parent(), same result).
 *
 * 1. Not root: join the target's user namespace (--userns-path, else /proc/PID/ns/user) as its root,
 *    as slirp4netns does; with neither (--netns-type=path), a user namespace of our own where we are
 *    root. Root stays where it is.
 * 2. A private mount namespace, every mount a slave of the host's (our unmounts never propagate out).
 * 3. A pivot helper: a process in that mount namespace that keeps the capabilities Node will not have.
 *    When Node has loaded its modules and bound its sockets, it asks; the helper builds a root holding
 *    only /etc and /run (read-only, plus resolv.conf's target when a symlink leads elsewhere) and
 *    pivot_root()s into it, which moves Node's threads too (they share the old root). Then it drops
 *    every capability and stays only to remove the API socket file when Node exits in order (the
 *    new root does not show it).
 * 4. Capabilities dropped to CAP_NET_BIND_SERVICE (bounding, ambient, inheritable too) and
 *    no_new_privs, so the Node that exec() starts never holds more, on any thread.
 */
#ifndef TSLIRP_LAUNCHER_SANDBOX_H
#define TSLIRP_LAUNCHER_SANDBOX_H

#include <stddef.h>

#include "launcher_args.h"

enum launcher_userns {
  LAUNCHER_USERNS_KEPT = 0, /* root: stays in its user namespace */
  LAUNCHER_USERNS_JOINED,   /* joined the target's, as slirp4netns */
  LAUNCHER_USERNS_CREATED,  /* a new one of our own (no target user namespace to join) */
};

struct launcher_sandbox {
  enum launcher_userns userns;
  int helper_fd; /* our end of the pivot helper's socket; inherited by Node */
};

/* Steps 1-3. Returns 0, or -1 with a one-line message in err. */
int launcher_sandbox_prepare(const struct launcher_command *cmd, struct launcher_sandbox *out, char *err, size_t err_size);

/* Step 4, right before exec. Returns 0, or -1 with a one-line message in err. */
int launcher_sandbox_drop_privileges(char *err, size_t err_size);

const char *launcher_userns_name(enum launcher_userns userns);

#endif
