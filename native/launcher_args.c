/*
 * The launcher's strict reading of the slirp4netns command line (see launcher_args.h).
 *
 * It follows src/cli/options.ts rule by rule (getopt_long spelling, then the same checks in the same
 * order) but only to decide "fast" or "fallback": every failed check, and every option whose check
 * would need more than a few lines here (an interface name for --outbound-addr, IPv6 literals, the
 * test-only fault injection), is a fallback, and Node's parser then speaks. A fast answer must imply
 * that parser's success with the same attach request: test/cli/launcher-args.test.ts holds the two
 * against each other on generated command lines.
 *
 * Never: print, touch a namespace, or accept what options.ts would refuse.
 */
#define _GNU_SOURCE
#include "launcher_args.h"

#include <dirent.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum arity { ARITY_NONE, ARITY_REQUIRED };

/* src/cli/options.ts SPECS, in the same order (prefix matching depends on the whole list). */
enum option_id {
  OPT_CONFIGURE,
  OPT_EXIT_FD,
  OPT_READY_FD,
  OPT_MTU,
  OPT_ENABLE_IPV6,
  OPT_API_SOCKET,
  OPT_CIDR,
  OPT_DISABLE_HOST_LOOPBACK,
  OPT_NO_HOST_LOOPBACK,
  OPT_NETNS_TYPE,
  OPT_USERNS_PATH,
  OPT_ENABLE_SANDBOX,
  OPT_CREATE_SANDBOX,
  OPT_ENABLE_SECCOMP,
  OPT_OUTBOUND_ADDR,
  OPT_OUTBOUND_ADDR6,
  OPT_DISABLE_DNS,
  OPT_MACADDRESS,
  OPT_TARGET_TYPE,
  OPT_LOG_LEVEL,
  OPT_DNS_UPSTREAM,
  OPT_ENABLE_OFFLOADS,
  OPT_DISABLE_OFFLOADS,
  OPT_PCAP,
  OPT_BUSY_POLL,
  OPT_HELP,
  OPT_VERSION,
  OPT_COUNT
};

struct option_spec {
  const char *name;
  char short_name;
  enum arity arity;
};

static const struct option_spec SPECS[OPT_COUNT] = {
    [OPT_CONFIGURE] = {"configure", 'c', ARITY_NONE},
    [OPT_EXIT_FD] = {"exit-fd", 'e', ARITY_REQUIRED},
    [OPT_READY_FD] = {"ready-fd", 'r', ARITY_REQUIRED},
    [OPT_MTU] = {"mtu", 'm', ARITY_REQUIRED},
    [OPT_ENABLE_IPV6] = {"enable-ipv6", '6', ARITY_NONE},
    [OPT_API_SOCKET] = {"api-socket", 'a', ARITY_REQUIRED},
    [OPT_CIDR] = {"cidr", 0, ARITY_REQUIRED},
    [OPT_DISABLE_HOST_LOOPBACK] = {"disable-host-loopback", 0, ARITY_NONE},
    [OPT_NO_HOST_LOOPBACK] = {"no-host-loopback", 0, ARITY_NONE},
    [OPT_NETNS_TYPE] = {"netns-type", 0, ARITY_REQUIRED},
    [OPT_USERNS_PATH] = {"userns-path", 0, ARITY_REQUIRED},
    [OPT_ENABLE_SANDBOX] = {"enable-sandbox", 0, ARITY_NONE},
    [OPT_CREATE_SANDBOX] = {"create-sandbox", 0, ARITY_NONE},
    [OPT_ENABLE_SECCOMP] = {"enable-seccomp", 0, ARITY_NONE},
    [OPT_OUTBOUND_ADDR] = {"outbound-addr", 0, ARITY_REQUIRED},
    [OPT_OUTBOUND_ADDR6] = {"outbound-addr6", 0, ARITY_REQUIRED},
    [OPT_DISABLE_DNS] = {"disable-dns", 0, ARITY_NONE},
    [OPT_MACADDRESS] = {"macaddress", 0, ARITY_REQUIRED},
    [OPT_TARGET_TYPE] = {"target-type", 0, ARITY_REQUIRED},
    [OPT_LOG_LEVEL] = {"log-level", 0, ARITY_REQUIRED},
    [OPT_DNS_UPSTREAM] = {"dns-upstream", 0, ARITY_REQUIRED},
    [OPT_ENABLE_OFFLOADS] = {"enable-offloads", 0, ARITY_NONE},
    [OPT_DISABLE_OFFLOADS] = {"disable-offloads", 0, ARITY_NONE},
    [OPT_PCAP] = {"pcap", 0, ARITY_REQUIRED},
    [OPT_BUSY_POLL] = {"busy-poll", 0, ARITY_REQUIRED},
    [OPT_HELP] = {"help", 'h', ARITY_NONE},
    [OPT_VERSION] = {"version", 'v', ARITY_NONE},
};

static const char *const LOG_LEVELS[] = {"trace", "debug", "info", "warn", "error", "fatal", "silent"};

#define MIN_MTU 68
#define MAX_MTU 65521
#define DEFAULT_MTU 1500
#define MAX_POSITIONALS 2

struct parsed {
  int flag[OPT_COUNT];
  const char *value[OPT_COUNT]; /* the last one given wins, as in options.ts */
  const char *positional[MAX_POSITIONALS];
  int positionals;
};

static int fail(char *why, size_t size, const char *format, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *why, size_t size, const char *format, ...) {
  va_list args;
  va_start(args, format);
  vsnprintf(why, size, format, args);
  va_end(args);
  return -1;
}

static int all_digits(const char *s, size_t min_len, size_t max_len) {
  size_t n = strlen(s);
  if (n < min_len || n > max_len) return 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return 0;
  }
  return 1;
}

/* options.ts parseFd: /^\d{1,9}$/. */
static int parse_fd(const char *s, int *out) {
  if (!all_digits(s, 1, 9)) return -1;
  *out = atoi(s);
  return 0;
}

/* options.ts parseMtu: /^\d{1,6}$/ and MIN_MTU..MAX_MTU. */
static int parse_mtu(const char *s, int *out) {
  if (!all_digits(s, 1, 6)) return -1;
  int mtu = atoi(s);
  if (mtu < MIN_MTU || mtu > MAX_MTU) return -1;
  *out = mtu;
  return 0;
}

/* options.ts parseDottedQuad / wire parseIpv4: /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/, octets <= 255. */
static int parse_dotted_quad(const char *s, size_t len, uint32_t *out) {
  uint32_t address = 0;
  size_t i = 0;
  for (int part = 0; part < 4; part++) {
    size_t start = i;
    unsigned octet = 0;
    while (i < len && s[i] >= '0' && s[i] <= '9' && i - start < 3) octet = octet * 10 + (unsigned)(s[i++] - '0');
    if (i == start || octet > 255) return -1;
    address = (address << 8) | octet;
    if (part < 3) {
      if (i >= len || s[i] != '.') return -1;
      i++;
    }
  }
  if (i != len) return -1;
  *out = address;
  return 0;
}

/* Node's net.isIPv4: four decimal octets 0-255 without leading zeros (a stricter dotted quad). */
static int is_ipv4_literal(const char *s, size_t len) {
  uint32_t ignored;
  if (parse_dotted_quad(s, len, &ignored) < 0) return 0;
  for (size_t i = 0; i < len; i++) {
    int starts_octet = i == 0 || s[i - 1] == '.';
    if (starts_octet && s[i] == '0' && i + 1 < len && s[i + 1] != '.') return 0;
  }
  return 1;
}

/* options.ts checkCidr. On success fills network (host order) and prefix. */
static int check_cidr(const char *cidr, uint32_t *network, int *prefix) {
  const char *slash = strchr(cidr, '/');
  if (slash == NULL || !all_digits(slash + 1, 1, 2)) return -1;
  if (parse_dotted_quad(cidr, (size_t)(slash - cidr), network) < 0) return -1;
  *prefix = atoi(slash + 1);
  if (*prefix < 1 || *prefix > 25) return -1;
  uint32_t mask = 0xffffffffu << (32 - *prefix);
  if ((*network & mask) != *network) return -1;
  return 0;
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* options.ts checkMac: six groups of 1-2 hex digits separated by ':', not multicast. */
static int check_mac(const char *s, uint8_t mac[6]) {
  size_t i = 0, len = strlen(s);
  for (int part = 0; part < 6; part++) {
    int digits = 0, value = 0;
    while (i < len && digits < 2 && hex_value(s[i]) >= 0) {
      value = value * 16 + hex_value(s[i++]);
      digits++;
    }
    if (digits == 0) return -1;
    mac[part] = (uint8_t)value;
    if (part < 5) {
      if (i >= len || s[i] != ':') return -1;
      i++;
    }
  }
  if (i != len) return -1;
  if (mac[0] & 1) return -1;
  return 0;
}

/*
 * options.ts parseDnsUpstream, IPv4 forms only (ADDR, ADDR:PORT); IPv6 and anything else fall back.
 */
static int check_dns_upstream_ipv4(const char *s) {
  const char *colon = strchr(s, ':');
  if (colon == NULL) return is_ipv4_literal(s, strlen(s)) ? 0 : -1;
  if (strchr(colon + 1, ':') != NULL || !is_ipv4_literal(s, (size_t)(colon - s))) return -1;
  const char *port = colon + 1;
  /* /(\d+)$/ then Number(): leading zeros are fine, the value must be 1..65535. */
  size_t n = strlen(port);
  if (n == 0) return -1;
  long value = 0;
  for (size_t i = 0; i < n; i++) {
    if (port[i] < '0' || port[i] > '9') return -1;
    value = value * 10 + (port[i] - '0');
    if (value > 65535) return -1;
  }
  return value >= 1 ? 0 : -1;
}

/* options.ts tap name rule plus tap-options.ts checkTapName ('.', '..'). */
static int check_tap_name(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > 15 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0) return -1;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '/' || s[i] == ':' || s[i] == ' ' || (s[i] >= '\t' && s[i] <= '\r')) return -1;
  }
  return 0;
}

/*
 * options.ts systemHostProbe().fdInherited: open, not one of the kernel's anonymous inodes, and not a
 * pipe whose other end this process also holds.
 */
static int fd_inherited(int fd) {
  char path[300], target[PATH_MAX], other_target[PATH_MAX];
  snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(path, target, sizeof target - 1);
  if (n < 0) return 0;
  target[n] = '\0';
  if (strncmp(target, "anon_inode:", 11) == 0) return 0;
  if (strncmp(target, "pipe:", 5) != 0) return 1;
  DIR *dir = opendir("/proc/self/fd");
  if (dir == NULL) return 0;
  int inherited = 1;
  struct dirent *entry;
  while (inherited && (entry = readdir(dir)) != NULL) {
    if (entry->d_name[0] == '.' || atoi(entry->d_name) == fd) continue;
    snprintf(path, sizeof path, "/proc/self/fd/%s", entry->d_name);
    n = readlink(path, other_target, sizeof other_target - 1);
    if (n < 0) continue;
    other_target[n] = '\0';
    if (strcmp(other_target, target) == 0) inherited = 0;
  }
  closedir(dir);
  return inherited;
}

/* getopt_long's rule: an exact name, or a prefix naming exactly one option. */
static int find_long(const char *name, size_t len) {
  int found = -1, matches = 0;
  for (int i = 0; i < OPT_COUNT; i++) {
    if (strlen(SPECS[i].name) == len && strncmp(SPECS[i].name, name, len) == 0) return i;
  }
  if (len == 0) return -1;
  for (int i = 0; i < OPT_COUNT; i++) {
    if (strncmp(SPECS[i].name, name, len) == 0) {
      found = i;
      matches++;
    }
  }
  return matches == 1 ? found : -1;
}

static int find_short(char c) {
  for (int i = 0; i < OPT_COUNT; i++) {
    if (SPECS[i].short_name == c) return i;
  }
  return -1;
}

/* options.ts take(): help/version end parsing (fallback here); -m, -e, -r are checked on the spot. */
static int take(struct parsed *p, int id, const char *value, char *why, size_t why_size) {
  int ignored;
  if (id == OPT_HELP || id == OPT_VERSION) return fail(why, why_size, "--%s among other arguments", SPECS[id].name);
  if (SPECS[id].arity == ARITY_NONE) {
    p->flag[id] = 1;
    return 0;
  }
  p->value[id] = value;
  if (id == OPT_MTU && parse_mtu(value, &ignored) < 0) return fail(why, why_size, "bad --mtu");
  if ((id == OPT_EXIT_FD || id == OPT_READY_FD) && parse_fd(value, &ignored) < 0) return fail(why, why_size, "bad --%s", SPECS[id].name);
  return 0;
}

static int add_positional(struct parsed *p, const char *arg) {
  /* More than two: options.ts warns and ignores the rest; keep the first two. */
  if (p->positionals < MAX_POSITIONALS) p->positional[p->positionals] = arg;
  if (p->positionals < INT_MAX) p->positionals++;
  return 0;
}

/* Only printable ASCII: anything else (UTF-8 that Node would decode, control bytes) falls back. */
static int plain_ascii(const char *s) {
  for (; *s; s++) {
    if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e) return 0;
  }
  return 1;
}

static int scan(int argc, char *const argv[], struct parsed *p, char *why, size_t why_size) {
  for (int i = 1; i < argc; i++) {
    if (!plain_ascii(argv[i])) return fail(why, why_size, "argument %d is not plain ASCII", i);
  }
  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i];
    if (strcmp(arg, "--") == 0) {
      for (i++; i < argc; i++) add_positional(p, argv[i]);
      break;
    }
    if (strncmp(arg, "--", 2) == 0) {
      const char *eq = strchr(arg, '=');
      size_t len = eq ? (size_t)(eq - arg - 2) : strlen(arg) - 2;
      int id = find_long(arg + 2, len);
      if (id < 0) return fail(why, why_size, "unknown or ambiguous option %s", arg);
      const char *value = NULL;
      if (SPECS[id].arity == ARITY_NONE) {
        if (eq) return fail(why, why_size, "--%s takes no argument", SPECS[id].name);
      } else if (eq) {
        value = eq + 1;
      } else {
        if (i + 1 >= argc) return fail(why, why_size, "--%s needs an argument", SPECS[id].name);
        value = argv[++i];
      }
      if (take(p, id, value, why, why_size) < 0) return -1;
      continue;
    }
    if (arg[0] == '-' && arg[1] != '\0') {
      size_t len = strlen(arg);
      for (size_t j = 1; j < len; j++) {
        int id = find_short(arg[j]);
        if (id < 0) return fail(why, why_size, "unknown option -%c", arg[j]);
        const char *value = NULL;
        if (SPECS[id].arity == ARITY_REQUIRED) {
          if (j + 1 < len) {
            value = arg + j + 1;
          } else {
            if (i + 1 >= argc) return fail(why, why_size, "-%c needs an argument", arg[j]);
            value = argv[++i];
          }
          j = len;
        }
        if (take(p, id, value, why, why_size) < 0) return -1;
      }
      continue;
    }
    add_positional(p, arg);
  }
  return 0;
}

static int path_exists(const char *path) { return access(path, F_OK) == 0; }

int launcher_parse_args(int argc, char *const argv[], struct launcher_command *out, char *why, size_t why_size) {
  struct parsed p;
  memset(&p, 0, sizeof p);
  memset(out, 0, sizeof *out);
  if (scan(argc, argv, &p, why, why_size) < 0) return -1;

  /* The checks of parseCommandLine(), in its order. */
  int exit_fd = -1, ready_fd = -1, mtu = DEFAULT_MTU;
  if (p.value[OPT_EXIT_FD] && parse_fd(p.value[OPT_EXIT_FD], &exit_fd) < 0) return fail(why, why_size, "bad --exit-fd");
  if (p.value[OPT_READY_FD] && parse_fd(p.value[OPT_READY_FD], &ready_fd) < 0) return fail(why, why_size, "bad --ready-fd");
  if (exit_fd >= 0 && exit_fd == ready_fd) return fail(why, why_size, "exit-fd equals ready-fd");
  if (p.value[OPT_MTU] && parse_mtu(p.value[OPT_MTU], &mtu) < 0) return fail(why, why_size, "bad --mtu");
  const char *api = p.value[OPT_API_SOCKET];
  if (api && (api[0] == '\0' || strlen(api) > 107)) return fail(why, why_size, "bad --api-socket");
  if (api) snprintf(out->api_socket, sizeof out->api_socket, "%s", api);
  uint32_t network = 0x0a000200u; /* 10.0.2.0/24 */
  int prefix = 24;
  if (p.value[OPT_CIDR] && check_cidr(p.value[OPT_CIDR], &network, &prefix) < 0) return fail(why, why_size, "bad --cidr");
  const char *netns_type = p.value[OPT_NETNS_TYPE] ? p.value[OPT_NETNS_TYPE] : "pid";
  if (strcmp(netns_type, "pid") != 0 && strcmp(netns_type, "path") != 0) return fail(why, why_size, "bad --netns-type");
  out->target_is_pid = strcmp(netns_type, "pid") == 0;
  const char *userns = p.value[OPT_USERNS_PATH];
  if (userns && (userns[0] == '\0' || strlen(userns) >= sizeof out->userns_path)) return fail(why, why_size, "bad --userns-path");
  out->enable_sandbox = p.flag[OPT_ENABLE_SANDBOX] || p.flag[OPT_CREATE_SANDBOX];
  const char *outbound = p.value[OPT_OUTBOUND_ADDR];
  if (outbound && !is_ipv4_literal(outbound, strlen(outbound))) return fail(why, why_size, "--outbound-addr other than an IPv4 literal");
  if (p.value[OPT_OUTBOUND_ADDR6]) return fail(why, why_size, "--outbound-addr6 is left to Node");
  if (p.value[OPT_MACADDRESS] && !p.flag[OPT_CONFIGURE]) return fail(why, why_size, "--macaddress without --configure");
  uint8_t mac[6];
  if (p.value[OPT_MACADDRESS] && check_mac(p.value[OPT_MACADDRESS], mac) < 0) return fail(why, why_size, "bad --macaddress");
  if (p.value[OPT_TARGET_TYPE] && strcmp(p.value[OPT_TARGET_TYPE], "netns") != 0) return fail(why, why_size, "bad --target-type");
  if (p.value[OPT_LOG_LEVEL]) {
    int known = 0;
    for (size_t i = 0; i < sizeof LOG_LEVELS / sizeof LOG_LEVELS[0]; i++) known |= strcmp(p.value[OPT_LOG_LEVEL], LOG_LEVELS[i]) == 0;
    if (!known) return fail(why, why_size, "bad --log-level");
  }
  if (p.value[OPT_DNS_UPSTREAM] && check_dns_upstream_ipv4(p.value[OPT_DNS_UPSTREAM]) < 0) return fail(why, why_size, "--dns-upstream other than IPv4[:PORT]");
  if (p.value[OPT_DNS_UPSTREAM] && p.flag[OPT_DISABLE_DNS]) return fail(why, why_size, "--dns-upstream with --disable-dns");
  if (p.flag[OPT_ENABLE_OFFLOADS] && p.flag[OPT_DISABLE_OFFLOADS]) return fail(why, why_size, "both offload flags");
  if (p.value[OPT_PCAP] && p.value[OPT_PCAP][0] == '\0') return fail(why, why_size, "empty --pcap");
  /* options.ts parseBusyPoll: 1-7 digits, at most MAX_BUSY_POLL_MICROSECONDS; Node starts the polling. */
  const char *busy_poll = p.value[OPT_BUSY_POLL];
  if (busy_poll && (!all_digits(busy_poll, 1, 7) || atoi(busy_poll) > 1000)) return fail(why, why_size, "bad --busy-poll");
  if (p.positionals < 1) return fail(why, why_size, "no PID|PATH");
  const char *target = p.positional[0];
  if (out->target_is_pid) {
    if (!all_digits(target, 1, 10) || target[0] == '0') return fail(why, why_size, "bad PID");
    long long pid = atoll(target);
    if (pid > INT_MAX) return fail(why, why_size, "PID out of range");
    out->target_pid = (pid_t)pid;
  } else if (target[0] == '\0') {
    return fail(why, why_size, "empty netns path");
  }
  const char *tap = p.positionals >= 2 ? p.positional[1] : "tap0";
  if (check_tap_name(tap) < 0) return fail(why, why_size, "bad TAP name");

  /* The environment main.ts reads before attaching. */
  const char *faults = getenv("TSLIRP_INJECT_FAULTS");
  if (faults) {
    for (const char *c = faults; *c; c++) {
      if (*c != ' ' && (*c < '\t' || *c > '\r')) return fail(why, why_size, "TSLIRP_INJECT_FAULTS is left to Node");
    }
  }
  const char *env_level = getenv("TSLIRP_LOG_LEVEL");
  if (!p.value[OPT_LOG_LEVEL] && env_level && env_level[0] != '\0') {
    int known = 0;
    for (size_t i = 0; i < sizeof LOG_LEVELS / sizeof LOG_LEVELS[0]; i++) known |= strcmp(env_level, LOG_LEVELS[i]) == 0;
    if (!known) return fail(why, why_size, "TSLIRP_LOG_LEVEL is not a level");
  }

  /* checkHostEnvironment(). */
  if (userns && !path_exists(userns)) return fail(why, why_size, "--userns-path does not exist");
  if (!out->target_is_pid && !path_exists(target)) return fail(why, why_size, "netns path does not exist");
  char proc[64];
  if (out->target_is_pid) {
    snprintf(proc, sizeof proc, "/proc/%d", (int)out->target_pid);
    if (!path_exists(proc)) return fail(why, why_size, "no such PID");
  }
  if (exit_fd >= 0 && !fd_inherited(exit_fd)) return fail(why, why_size, "exit-fd not inherited");
  if (ready_fd >= 0 && !fd_inherited(ready_fd)) return fail(why, why_size, "ready-fd not inherited");

  /* tap-options.ts resolveAttachRequest(). */
  struct ns_attach_request *req = &out->attach;
  if (out->target_is_pid) {
    snprintf(req->netns_path, sizeof req->netns_path, "/proc/%d/ns/net", (int)out->target_pid);
    snprintf(req->userns_path, sizeof req->userns_path, "/proc/%d/ns/user", (int)out->target_pid);
    req->userns_mode = NS_USERNS_IF_DIFFERENT;
  } else {
    if (strlen(target) >= sizeof req->netns_path) return fail(why, why_size, "netns path too long");
    snprintf(req->netns_path, sizeof req->netns_path, "%s", target);
    req->userns_mode = NS_USERNS_NONE;
  }
  if (userns) {
    snprintf(req->userns_path, sizeof req->userns_path, "%s", userns);
    snprintf(out->userns_path, sizeof out->userns_path, "%s", userns);
    out->has_userns_path = 1;
    req->userns_mode = NS_USERNS_ALWAYS;
  }
  snprintf(req->tap_name, sizeof req->tap_name, "%s", tap);
  req->vnet_hdr = !p.flag[OPT_DISABLE_OFFLOADS]; /* options.ts DEFAULT_OFFLOADS: on */
  if (p.flag[OPT_CONFIGURE]) {
    req->configure = 1;
    req->mtu = mtu;
    uint32_t netmask = 0xffffffffu << (32 - prefix);
    req->address = network + 100;
    req->netmask = netmask;
    req->gateway = network + 2;
    if (p.value[OPT_MACADDRESS]) {
      memcpy(req->mac, mac, 6);
      req->has_mac = 1;
    }
  }
  return 0;
}

int launcher_request_key(const struct ns_attach_request *req, char *buf, size_t size) {
  const char *userns = req->userns_mode == NS_USERNS_NONE ? "" : req->userns_path;
  int n;
  if (!req->configure) {
    n = snprintf(buf, size, "netns=%s;userns=%d:%s;tap=%s;vnet=%d;configure=-", req->netns_path, (int)req->userns_mode, userns,
                 req->tap_name, req->vnet_hdr ? 1 : 0);
  } else {
    char mac[13] = "-";
    if (req->has_mac) {
      snprintf(mac, sizeof mac, "%02x%02x%02x%02x%02x%02x", req->mac[0], req->mac[1], req->mac[2], req->mac[3], req->mac[4],
               req->mac[5]);
    }
    n = snprintf(buf, size, "netns=%s;userns=%d:%s;tap=%s;vnet=%d;configure=%d,%u,%u,%u,%s", req->netns_path, (int)req->userns_mode,
                 userns, req->tap_name, req->vnet_hdr ? 1 : 0, req->mtu, req->address, req->netmask, req->gateway, mac);
  }
  return n;
}
