/*
 * bin/tslirp: the executable clients run as their slirp4netns (podman's network_cmd_path,
 * RootlessKit's --slirp4netns-binary). A small C program so that what does not need Node never waits
 * for it:
 *
 * - `--help` and `--version` alone: print the texts the TypeScript CLI printed when it was built
 *   (dist/cli/launcher-help.txt and launcher-version.txt, written by `npm run build`; one source,
 *   src/cli/options.ts). podman runs `--help` before every start, RootlessKit twice.
 * - anything else: exec Node on bin/tslirp.js with the argv unchanged, so the TypeScript CLI answers
 *   exactly as it always did.
 *
 * Node is the one this package was built with (TSLIRP_NODE_PATH), else `node` on PATH; TSLIRP_NODE
 * overrides both. Its flags come from node_flags.h.
 *
 * Never: print an option error of its own.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "node_flags.h"

#define HELP_TEXT_FILE "dist/cli/launcher-help.txt"
#define VERSION_TEXT_FILE "dist/cli/launcher-version.txt"
#define FALLBACK_SCRIPT "bin/tslirp.js"

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

int main(int argc, char *argv[]) {
  char root[PATH_MAX];
  if (find_package_root(root) < 0) {
    fprintf(stderr, "tslirp: cannot find the tslirp package above this executable (bin/tslirp.js)\n");
    return 1;
  }
  if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
    if (print_text(root, HELP_TEXT_FILE) == 0) return 0;
  } else if (argc == 2 && (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-v") == 0)) {
    if (print_text(root, VERSION_TEXT_FILE) == 0) return 0;
  }
  exec_node(root, FALLBACK_SCRIPT, argc, argv);
}
