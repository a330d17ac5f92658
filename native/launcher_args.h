/*
 * The launcher's reading of the slirp4netns command line: just enough to attach the TAP and set up the
 * sandbox before Node starts.
 *
 * The TypeScript parser (src/cli/options.ts) stays the authority: this one only says "fast" when it is
 * certain that parser accepts the same argv with the same attach request, and "fallback" (with a
 * reason, for tests) for anything else: an error, an option it does not check itself, help/version
 * mixed with other arguments. It never prints an error: on fallback the launcher execs Node with the
 * original argv and the TypeScript parser reports, with its own message and status.
 */
#ifndef TSLIRP_LAUNCHER_ARGS_H
#define TSLIRP_LAUNCHER_ARGS_H

#include <stddef.h>
#include <sys/types.h>

#include "ns_attach.h"

struct launcher_command {
  int enable_sandbox; /* --enable-sandbox (or the deprecated --create-sandbox) */
  int target_is_pid;  /* --netns-type=pid (default) */
  pid_t target_pid;   /* when target_is_pid */
  int has_userns_path;
  char userns_path[256]; /* --userns-path, as given */
  char api_socket[108];  /* --api-socket, as given ("" without) */
  struct ns_attach_request attach;
};

/*
 * Parses argv (argv[1..argc-1], without the program name) and checks it against the host as
 * checkHostEnvironment() does (paths exist, fds inherited). Returns 0 with *out filled when the
 * launcher may attach itself; -1 with a short reason in why when it must hand argv to Node as is.
 */
int launcher_parse_args(int argc, char *const argv[], struct launcher_command *out, char *why, size_t why_size);

/*
 * One line that names an attach request completely; the TypeScript side builds the same line from its
 * own parse (src/cli/launcher-handoff.ts, attachRequestKey) and compares. Returns the length written.
 */
int launcher_request_key(const struct ns_attach_request *req, char *buf, size_t size);

#endif
