/*
 * The two ends of bench/latency.ts's small-message workloads, in C so that the peers cost a few
 * microseconds per message and never set the pace themselves (the bench compiles this with the
 * system compiler into a temporary directory; nothing here is part of tslirp).
 *
 *   latency-peer serve ADDR PORT          epoll echo server: echoes whatever it reads, closes on EOF;
 *                                         prints "listening" once bound
 *   latency-peer rr HOST PORT SIZE WARM SECONDS [TIMES]
 *                                         one connection, SIZE-byte request then SIZE-byte answer,
 *                                         as fast as it goes; WARM seconds unrecorded first; with
 *                                         TIMES, each measured round trip's send and receive
 *                                         CLOCK_MONOTONIC times (ns) are written there, one per line
 *   latency-peer cr HOST PORT WARM SECONDS
 *                                         connect, 1 byte each way, close, as fast as it goes
 *   latency-peer hold HOST PORT half|open one connection, 1 byte each way, then (half) shut down
 *                                         the write side, or (open) nothing more; prints "held",
 *                                         then waits until killed
 *   latency-peer userve ADDR PORT         UDP echo server: sends every datagram back to its sender;
 *                                         prints "listening" once bound
 *   latency-peer urr HOST PORT SIZE WARM SECONDS
 *                                         UDP request/response (a DNS-like exchange): one socket,
 *                                         SIZE-byte datagram, wait for the SIZE-byte answer (a
 *                                         round trip without one within 1 s counts as lost and
 *                                         the next request goes), as fast as it goes
 *
 * rr, cr and urr print one JSON line: {"count":N,"seconds":S,"rate":R,"p50_us":..,"p99_us":..,
 * "p999_us":..,"max_us":..} (urr adds "lost":N). Every socket has TCP_NODELAY (both ends of a request/response
 * workload do, as RPC libraries set it). ADDR and HOST are IPv4 or IPv6 addresses. Only the addresses
 * given on the command line are used.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static long long now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void die(const char *what) {
  fprintf(stderr, "latency-peer: %s: %s\n", what, strerror(errno));
  exit(1);
}

/** An IPv4 or IPv6 socket address (the family follows the address given). */
struct peer_address {
  struct sockaddr_storage storage;
  socklen_t length;
};

static struct peer_address address_of(const char *host, const char *port) {
  struct peer_address a;
  memset(&a, 0, sizeof a);
  uint16_t port_number = htons((uint16_t)atoi(port));
  struct sockaddr_in *v4 = (struct sockaddr_in *)&a.storage;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&a.storage;
  if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = port_number;
    a.length = sizeof *v4;
  } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = port_number;
    a.length = sizeof *v6;
  } else {
    fprintf(stderr, "latency-peer: bad address %s\n", host);
    exit(2);
  }
  return a;
}

static int socket_for(const struct peer_address *a, int type) {
  int fd = socket(a->storage.ss_family, type | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  return fd;
}

static void nodelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static int connect_to(const struct peer_address *a) {
  int fd = socket_for(a, SOCK_STREAM);
  nodelay(fd);
  while (connect(fd, (const struct sockaddr *)&a->storage, a->length) < 0) {
    if (errno != EINTR) die("connect");
  }
  return fd;
}

static void write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      die("write");
    }
    p += w;
    n -= (size_t)w;
  }
}

/* Reads exactly n bytes; dies on EOF or error. */
static void read_all(int fd, char *p, size_t n) {
  while (n > 0) {
    ssize_t r = read(fd, p, n);
    if (r == 0) {
      fprintf(stderr, "latency-peer: unexpected EOF\n");
      exit(1);
    }
    if (r < 0) {
      if (errno == EINTR) continue;
      die("read");
    }
    p += r;
    n -= (size_t)r;
  }
}

/* ---- latency samples ---- */

static double *samples;
static size_t sample_count, sample_capacity;

static void record(double us) {
  if (sample_count == sample_capacity) {
    sample_capacity = sample_capacity ? sample_capacity * 2 : 1 << 16;
    samples = realloc(samples, sample_capacity * sizeof *samples);
    if (samples == NULL) die("realloc");
  }
  samples[sample_count++] = us;
}

static int by_value(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double quantile(double q) {
  if (sample_count == 0) return 0;
  size_t i = (size_t)(q * (double)(sample_count - 1) + 0.5);
  return samples[i];
}

static void report_with(double seconds, const char *extra) {
  qsort(samples, sample_count, sizeof *samples, by_value);
  printf("{\"count\":%zu,\"seconds\":%.3f,\"rate\":%.1f,\"p50_us\":%.1f,\"p99_us\":%.1f,"
         "\"p999_us\":%.1f,\"max_us\":%.1f%s}\n",
         sample_count, seconds, (double)sample_count / seconds, quantile(0.5), quantile(0.99),
         quantile(0.999), sample_count ? samples[sample_count - 1] : 0, extra);
}

static void report(double seconds) { report_with(seconds, ""); }

/* ---- workloads ---- */

static int request_response(const struct peer_address *a, size_t size, double warm, double seconds,
                            const char *times_path) {
  char *out = calloc(1, size), *in = malloc(size);
  if (out == NULL || in == NULL) die("malloc");
  /* Send/receive times of the first TIMES_MAX measured round trips, written after the run. */
  enum { TIMES_MAX = 1 << 20 };
  long long *times = times_path ? malloc(2 * TIMES_MAX * sizeof *times) : NULL;
  size_t timed = 0;
  int fd = connect_to(a);
  double start = now_us(), measure_from = start + warm * 1e6, end = measure_from + seconds * 1e6;
  for (;;) {
    long long sent = now_ns();
    double t0 = (double)sent / 1e3;
    if (t0 >= end) break;
    write_all(fd, out, size);
    read_all(fd, in, size);
    long long received = now_ns();
    if (t0 >= measure_from) {
      record((double)(received - sent) / 1e3);
      if (times != NULL && timed < TIMES_MAX) {
        times[2 * timed] = sent;
        times[2 * timed + 1] = received;
        timed++;
      }
    }
  }
  report(seconds);
  close(fd);
  if (times != NULL) {
    FILE *f = fopen(times_path, "w");
    if (f == NULL) die("fopen");
    for (size_t i = 0; i < timed; i++) fprintf(f, "%lld %lld\n", times[2 * i], times[2 * i + 1]);
    fclose(f);
  }
  return 0;
}

static int connection_rate(const struct peer_address *a, double warm, double seconds) {
  double start = now_us(), measure_from = start + warm * 1e6, end = measure_from + seconds * 1e6;
  char byte = 'x';
  for (;;) {
    double t0 = now_us();
    if (t0 >= end) break;
    int fd = connect_to(a);
    write_all(fd, &byte, 1);
    read_all(fd, &byte, 1);
    close(fd);
    if (t0 >= measure_from) record(now_us() - t0);
  }
  report(seconds);
  return 0;
}

static int udp_request_response(const struct peer_address *a, size_t size, double warm, double seconds) {
  char *out = calloc(1, size), *in = malloc(size + 1);
  if (out == NULL || in == NULL) die("malloc");
  int fd = socket_for(a, SOCK_DGRAM);
  struct timeval timeout = {.tv_sec = 1, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  if (connect(fd, (const struct sockaddr *)&a->storage, a->length) < 0) die("connect");
  size_t lost = 0;
  double start = now_us(), measure_from = start + warm * 1e6, end = measure_from + seconds * 1e6;
  for (;;) {
    double t0 = now_us();
    if (t0 >= end) break;
    if (send(fd, out, size, 0) < 0 && errno != ECONNREFUSED) die("send");
    ssize_t r = recv(fd, in, size + 1, 0);
    if (r < 0) {
      if (errno != EAGAIN && errno != EINTR && errno != ECONNREFUSED) die("recv");
      if (t0 >= measure_from) lost++;
      continue;
    }
    if (t0 >= measure_from) record(now_us() - t0);
  }
  char extra[64];
  snprintf(extra, sizeof extra, ",\"lost\":%zu", lost);
  report_with(seconds, extra);
  close(fd);
  return 0;
}

_Noreturn static void udp_serve(const struct peer_address *a) {
  int fd = socket_for(a, SOCK_DGRAM);
  if (bind(fd, (const struct sockaddr *)&a->storage, a->length) < 0) die("bind");
  printf("listening\n");
  fflush(stdout);
  static char buf[1 << 16];
  for (;;) {
    struct sockaddr_storage from;
    socklen_t from_len = sizeof from;
    ssize_t r = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &from_len);
    if (r < 0) continue;
    sendto(fd, buf, (size_t)r, 0, (struct sockaddr *)&from, from_len);
  }
}

_Noreturn static void hold(const struct peer_address *a, const char *mode) {
  int fd = connect_to(a);
  char byte = 'h';
  write_all(fd, &byte, 1);
  read_all(fd, &byte, 1);
  if (strcmp(mode, "half") == 0 && shutdown(fd, SHUT_WR) < 0) die("shutdown");
  printf("held\n");
  fflush(stdout);
  for (;;) pause();
}

_Noreturn static void serve(const struct peer_address *a) {
  int listener = socket_for(a, SOCK_STREAM | SOCK_NONBLOCK);
  int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(listener, (const struct sockaddr *)&a->storage, a->length) < 0) die("bind");
  if (listen(listener, 4096) < 0) die("listen");
  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) die("epoll_create1");
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = listener};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev) < 0) die("epoll_ctl");
  printf("listening\n");
  fflush(stdout);
  static char buf[1 << 16];
  struct epoll_event events[64];
  for (;;) {
    int n = epoll_wait(ep, events, 64, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait");
    }
    for (int i = 0; i < n; i++) {
      int fd = events[i].data.fd;
      if (fd == listener) {
        for (;;) {
          int c = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
          if (c < 0) break;
          nodelay(c);
          struct epoll_event cev = {.events = EPOLLIN, .data.fd = c};
          if (epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev) < 0) close(c);
        }
        continue;
      }
      /* Blocking connection socket: one read per readiness, echoed back whole. */
      ssize_t r = read(fd, buf, sizeof buf);
      if (r <= 0) {
        if (r < 0 && errno == EINTR) continue;
        close(fd); /* EOF or error: closing also removes it from the epoll set */
        continue;
      }
      ssize_t off = 0;
      while (off < r) {
        ssize_t w = write(fd, buf + off, (size_t)(r - off));
        if (w < 0) {
          if (errno == EINTR) continue;
          break;
        }
        off += w;
      }
    }
  }
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc == 4 && strcmp(argv[1], "serve") == 0) {
    struct peer_address a = address_of(argv[2], argv[3]);
    serve(&a);
  }
  if ((argc == 7 || argc == 8) && strcmp(argv[1], "rr") == 0) {
    struct peer_address a = address_of(argv[2], argv[3]);
    return request_response(&a, (size_t)atoi(argv[4]), atof(argv[5]), atof(argv[6]),
                            argc == 8 ? argv[7] : NULL);
  }
  if (argc == 6 && strcmp(argv[1], "cr") == 0) {
    struct peer_address a = address_of(argv[2], argv[3]);
    return connection_rate(&a, atof(argv[4]), atof(argv[5]));
  }
  if (argc == 4 && strcmp(argv[1], "userve") == 0) {
    struct peer_address a = address_of(argv[2], argv[3]);
    udp_serve(&a);
  }
  if (argc == 7 && strcmp(argv[1], "urr") == 0) {
    struct peer_address a = address_of(argv[2], argv[3]);
    return udp_request_response(&a, (size_t)atoi(argv[4]), atof(argv[5]), atof(argv[6]));
  }
  if (argc == 5 && strcmp(argv[1], "hold") == 0) {
    struct peer_address a = address_of(argv[2], argv[3]);
    hold(&a, argv[4]);
  }
  fprintf(stderr,
          "usage: latency-peer serve ADDR PORT | rr HOST PORT SIZE WARM SECONDS [TIMES] |"
          " cr HOST PORT WARM SECONDS | hold HOST PORT half|open | userve ADDR PORT |"
          " urr HOST PORT SIZE WARM SECONDS\n");
  return 2;
}
