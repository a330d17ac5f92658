/*
 * bin/tslirp: the executable clients run as their slirp4netns (podman's network_cmd_path,
 * RootlessKit's --slirp4netns-binary). A small C program so that what does not need Node never waits
 * for it, and what must happen in a single-threaded process happens before Node exists:
 *
 * - `--help` and `--version` alone: print the texts the TypeScript CLI printed when it was built
 *   (dist/cli/launcher-help.txt and launcher-version.txt, written by `npm run build`; one source,
 *   src/cli/options.ts). podman runs `--help` before every start, RootlessKit twice.
 * - a slirp4netns command line it fully understands (launcher_args.c): bind the API socket (listening
 *   before tap0 exists, as with slirp4netns), attach the TAP at once in a
 *   forked child (ns_attach.c; tap0 exists within milliseconds, as with slirp4netns), then for
 *   --enable-sandbox the user and mount namespaces and the capability drop (launcher_sandbox.c), then
 *   exec Node on the CLI (dist/bundle/main.cjs, the whole CLI in one CommonJS file, else dist/cli/main.js)
 *   with the TAP fd and the rest described in TSLIRP_LAUNCHER_HANDOFF (src/cli/launcher-handoff.ts).
 * - anything else (subcommands, errors, options it leaves to Node, an attach that failed): exec Node
 *   on bin/tslirp.js with the argv unchanged, so the TypeScript CLI answers exactly as it always did.
 *
 * Node is the one this package was built with (TSLIRP_NODE_PATH), else `node` on PATH; TSLIRP_NODE
 * overrides both. Its flags come from node_flags.h. TSLIRP_LAUNCHER_EXPLAIN=1 prints what the
 * launcher would do with argv and does nothing (for tests).
 *
 * Never: print an option error of its own, or exec Node with more privileges than it was given.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "launcher_args.h"
#include "launcher_sandbox.h"
#include "node_flags.h"
#include "ns_attach.h"

#define HELP_TEXT_FILE "dist/cli/launcher-help.txt"
#define VERSION_TEXT_FILE "dist/cli/launcher-version.txt"
#define MAIN_SCRIPT "dist/cli/main.js"
#define MAIN_BUNDLE "dist/bundle/main.cjs"
#define FALLBACK_SCRIPT "bin/tslirp.js"
#define HANDOFF_VARIABLE "TSLIRP_LAUNCHER_HANDOFF"
#define HANDOFF_VERSION 2

static long long monotonic_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int is_file(const char *dir, const char *name) {
  char path[PATH_MAX];
  if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path) return 0;
  return access(path, F_OK) == 0;
}

/* The package root: the nearest directory above this executable holding bin/tslirp.js (bin/ once
   installed, build/Release/ as node-gyp leaves it). */
static int find_package_root(char root[PATH_MAX]) {
  if (realpath("/proc/self/exe", root) == NULL) return -1;
  for (int up = 0; up < 4; up++) {
    char *slash = strrchr(root, '/');
    if (slash == NULL || slash == root) return -1;
    *slash = '\0';
    if (is_file(root, FALLBACK_SCRIPT) && is_file(root, "package.json")) return 0;
  }
  return -1;
}

static const char *find_node(char *buf, size_t size) {
  const char *chosen = getenv("TSLIRP_NODE");
  if (chosen != NULL && chosen[0] != '\0') return chosen;
#ifdef TSLIRP_NODE_PATH
  if (access(TSLIRP_NODE_PATH, X_OK) == 0) return TSLIRP_NODE_PATH;
#endif
  const char *path = getenv("PATH");
  if (path == NULL) path = "/usr/local/bin:/usr/bin:/bin";
  while (*path != '\0') {
    const char *end = strchr(path, ':');
    size_t len = end ? (size_t)(end - path) : strlen(path);
    if (len > 0 && snprintf(buf, size, "%.*s/node", (int)len, path) < (int)size && access(buf, X_OK) == 0) return buf;
    path += len + (end ? 1 : 0);
  }
  return NULL;
}

/* The bundle of the CLI (`npm run bundle`) when it is not older than what it was
   made from (a tsc run without `npm run build` would leave it stale), else the CLI's own module. */
static const char *main_script(const char *root) {
  char bundle[PATH_MAX], module[PATH_MAX];
  struct stat b, m;
  if (snprintf(bundle, sizeof bundle, "%s/%s", root, MAIN_BUNDLE) >= (int)sizeof bundle) return MAIN_SCRIPT;
  if (snprintf(module, sizeof module, "%s/%s", root, MAIN_SCRIPT) >= (int)sizeof module) return MAIN_SCRIPT;
  if (stat(bundle, &b) < 0 || stat(module, &m) < 0) return MAIN_SCRIPT;
  if (b.st_mtim.tv_sec < m.st_mtim.tv_sec || (b.st_mtim.tv_sec == m.st_mtim.tv_sec && b.st_mtim.tv_nsec < m.st_mtim.tv_nsec)) return MAIN_SCRIPT;
  return MAIN_BUNDLE;
}

/*
 * The API socket, bound and listening before the TAP exists, as with slirp4netns (its tests connect
 * as soon as tap0 shows up): a stale socket at the path is removed first, the file is made 0600.
 * Node adopts the fd (src/api/api-server.ts). -1 when it cannot: Node then tries and reports why.
 */
static int listen_api_socket(const char *path) {
  struct stat st;
  if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) unlink(path);
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof addr.sun_path) return -1;
  memcpy(addr.sun_path, path, strlen(path) + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM, 0); /* no CLOEXEC: Node inherits it */
  if (fd < 0) return -1;
  mode_t previous = umask(0177);
  int bound = bind(fd, (struct sockaddr *)&addr, sizeof addr);
  umask(previous);
  if (bound < 0 || listen(fd, 511) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* Writes the whole file to stdout; -1 (nothing written) when it cannot be read. */
static int print_text(const char *root, const char *name) {
  char path[PATH_MAX];
  if (snprintf(path, sizeof path, "%s/%s", root, name) >= (int)sizeof path) return -1;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char text[16384];
  ssize_t n = read(fd, text, sizeof text);
  close(fd);
  if (n <= 0 || n == (ssize_t)sizeof text) return -1;
  for (ssize_t done = 0; done < n;) {
    ssize_t w = write(1, text + done, (size_t)(n - done));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) break; /* a closed stdout: Node would not do better */
    done += w;
  }
  return 0;
}

/* execv Node on script with argv[1..]; never returns. */
static void exec_node(const char *root, const char *script, int argc, char *argv[]) __attribute__((noreturn));
static void exec_node(const char *root, const char *script, int argc, char *argv[]) {
  char node_buf[PATH_MAX];
  const char *node = find_node(node_buf, sizeof node_buf);
  if (node == NULL) {
    fprintf(stderr, "tslirp: cannot find node (not at the path it was built with, nor on PATH; set TSLIRP_NODE)\n");
    exit(1);
  }
  char script_path[PATH_MAX];
  if (snprintf(script_path, sizeof script_path, "%s/%s", root, script) >= (int)sizeof script_path) {
    fprintf(stderr, "tslirp: package path too long: %s\n", root);
    exit(1);
  }
  size_t flags = sizeof TSLIRP_NODE_FLAGS / sizeof TSLIRP_NODE_FLAGS[0] - 1;
  char **args = calloc((size_t)argc + flags + 2, sizeof *args);
  if (args == NULL) {
    fprintf(stderr, "tslirp: out of memory\n");
    exit(1);
  }
  size_t n = 0;
  args[n++] = (char *)node;
  for (size_t i = 0; i < flags; i++) args[n++] = (char *)TSLIRP_NODE_FLAGS[i];
  args[n++] = script_path;
  for (int i = 1; i < argc; i++) args[n++] = argv[i];
  args[n] = NULL;
  execv(node, args);
  fprintf(stderr, "tslirp: cannot run %s: %s\n", node, strerror(errno));
  exit(1);
}

/* Appends s as a JSON string (the launcher only lets printable ASCII through, see launcher_args.c). */
static void json_string(char *buf, size_t size, const char *s) {
  size_t used = strlen(buf);
  if (used + 1 < size) buf[used++] = '"';
  for (; *s && used + 3 < size; s++) {
    if (*s == '"' || *s == '\\') buf[used++] = '\\';
    buf[used++] = (unsigned char)*s < 0x20 ? '?' : *s;
  }
  if (used + 1 < size) buf[used++] = '"';
  buf[used] = '\0';
}

static void build_handoff(char *buf, size_t size, const struct ns_attach_result *tap, const char *request, const struct launcher_sandbox *sandbox,
                          int api_fd, long long started_ns, long long attached_ns) {
  size_t used;
  snprintf(buf, size, "{\"v\":%d,\"tap\":{\"fd\":%d,\"ifname\":", HANDOFF_VERSION, tap->fd);
  json_string(buf, size, tap->ifname);
  used = strlen(buf);
  snprintf(buf + used, size - used, ",\"vnetHdrSize\":%d,\"offloads\":%u},\"request\":", tap->vnet_hdr_size, tap->offloads);
  json_string(buf, size, request);
  used = strlen(buf);
  if (sandbox != NULL) {
    snprintf(buf + used, size - used, ",\"sandbox\":{\"helperFd\":%d,\"userns\":\"%s\"}", sandbox->helper_fd, launcher_userns_name(sandbox->userns));
  } else {
    snprintf(buf + used, size - used, ",\"sandbox\":null");
  }
  used = strlen(buf);
  if (api_fd >= 0) snprintf(buf + used, size - used, ",\"apiFd\":%d", api_fd);
  else snprintf(buf + used, size - used, ",\"apiFd\":null");
  used = strlen(buf);
  snprintf(buf + used, size - used, ",\"startedNs\":\"%lld\",\"attachedNs\":\"%lld\"}", started_ns, attached_ns);
}

int main(int argc, char *argv[]) {
  long long started_ns = monotonic_ns();
  char root[PATH_MAX];
  if (find_package_root(root) < 0) {
    fprintf(stderr, "tslirp: cannot find the tslirp package above this executable (bin/tslirp.js)\n");
    return 1;
  }
  /* Only a value this launcher sets is ever trusted; never pass one on from the environment. */
  unsetenv(HANDOFF_VARIABLE);
  /* Node 20 reads and parses every certificate of NODE_EXTRA_CA_CERTS while it starts, before any
     script runs: ~60 ms and 1.8 MiB RSS for a system bundle (/etc/ssl/certs/ca-certificates.crt, set
     machine-wide on some hosts). tslirp opens no TLS connection; `tslirp run` keeps it for the
     command it runs. */
  int runs_command = argc >= 2 && strcmp(argv[1], "run") == 0;
  if (!runs_command) unsetenv("NODE_EXTRA_CA_CERTS");
  /* One malloc arena (src/cli/malloc-arenas.ts), from the process's start: glibc reads the variable
     before any thread exists, while the CLI's mallopt comes after Node's bootstrap, where a V8 worker
     thread had already taken an arena of its own and kept it: ~1 MiB of it resident 10 s after a
     storm (bench/memory.ts --map). Not for `run`, whose command inherits the environment. */
  if (!runs_command && setenv("MALLOC_ARENA_MAX", "1", 1) < 0) {
    fprintf(stderr, "tslirp: cannot set MALLOC_ARENA_MAX: %s\n", strerror(errno));
    return 1;
  }

  if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
    if (print_text(root, HELP_TEXT_FILE) == 0) return 0;
  } else if (argc == 2 && (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-v") == 0)) {
    if (print_text(root, VERSION_TEXT_FILE) == 0) return 0;
  }

  struct launcher_command cmd;
  char why[256] = "";
  int fast = 0;
  if (argc >= 2 && (strcmp(argv[1], "run") == 0 || strcmp(argv[1], "stats") == 0)) snprintf(why, sizeof why, "subcommand %s", argv[1]);
  else fast = launcher_parse_args(argc, argv, &cmd, why, sizeof why) == 0;

  const char *explain = getenv("TSLIRP_LAUNCHER_EXPLAIN");
  if (explain != NULL && explain[0] != '\0') {
    char key[1024];
    if (fast) launcher_request_key(&cmd.attach, key, sizeof key);
    if (fast) printf("fast sandbox=%d %s\n", cmd.enable_sandbox, key);
    else printf("fallback %s\n", why);
    return 0;
  }
  if (!fast) exec_node(root, FALLBACK_SCRIPT, argc, argv);

  int api_fd = -1;
  if (cmd.api_socket[0] != '\0' && (api_fd = listen_api_socket(cmd.api_socket)) < 0) exec_node(root, FALLBACK_SCRIPT, argc, argv);
  struct ns_attach_result tap;
  char err[512];
  /* A failed attach is reported by Node, which tries again with its own message. */
  if (ns_attach(&cmd.attach, &tap, err, sizeof err) < 0) {
    if (api_fd >= 0) {
      close(api_fd);
      unlink(cmd.api_socket);
    }
    exec_node(root, FALLBACK_SCRIPT, argc, argv);
  }
  long long attached_ns = monotonic_ns();

  struct launcher_sandbox sandbox;
  if (cmd.enable_sandbox && launcher_sandbox_prepare(&cmd, &sandbox, err, sizeof err) < 0) {
    fprintf(stderr, "tslirp: sandbox: %s\n", err);
    return 1;
  }
  char request[1024], handoff[2048];
  launcher_request_key(&cmd.attach, request, sizeof request);
  build_handoff(handoff, sizeof handoff, &tap, request, cmd.enable_sandbox ? &sandbox : NULL, api_fd, started_ns, attached_ns);
  if (setenv(HANDOFF_VARIABLE, handoff, 1) < 0 || fcntl(tap.fd, F_SETFD, 0) < 0) {
    fprintf(stderr, "tslirp: cannot hand the TAP to Node: %s\n", strerror(errno));
    return 1;
  }
  if (cmd.enable_sandbox && launcher_sandbox_drop_privileges(err, sizeof err) < 0) {
    fprintf(stderr, "tslirp: sandbox: %s\n", err);
    return 1;
  }
  exec_node(root, main_script(root), argc, argv);
}
