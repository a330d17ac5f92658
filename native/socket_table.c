/* See socket_table.h. */
#include "socket_table.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int socket_table_claim(napi_env env, struct socket_table *table, int32_t id, const char *kind) {
  char message[64];
  if (id < 0 || id > 0xffffff) {
    snprintf(message, sizeof message, "%s socket id out of range", kind);
    napi_throw_range_error(env, NULL, message);
    return -1;
  }
  if ((uint32_t)id >= table->size) {
    uint32_t size = table->size == 0 ? 256 : table->size;
    while (size <= (uint32_t)id) size *= 2;
    void **slots = realloc(table->slots, size * sizeof *slots);
    if (slots == NULL) {
      napi_throw_error(env, NULL, "out of memory");
      return -1;
    }
    memset(slots + table->size, 0, (size - table->size) * sizeof *slots);
    table->slots = slots;
    table->size = size;
  }
  if (table->slots[id] != NULL) {
    snprintf(message, sizeof message, "%s socket id already in use", kind);
    napi_throw_error(env, NULL, message);
    return -1;
  }
  return 0;
}

void *socket_table_lookup(napi_env env, const struct socket_table *table, napi_value value, const char *kind) {
  int32_t id;
  void *socket = NULL;
  if (napi_get_value_int32(env, value, &id) == napi_ok && id >= 0) socket = socket_table_at(table, (uint32_t)id);
  if (socket == NULL) {
    char message[64];
    snprintf(message, sizeof message, "no open %s socket with this id", kind);
    napi_throw_range_error(env, NULL, message);
  }
  return socket;
}

void socket_table_free(struct socket_table *table) {
  free(table->slots);
  table->slots = NULL;
  table->size = 0;
}

int socket_parse_address(const char *text, int port, struct sockaddr_storage *addr, socklen_t *len) {
  memset(addr, 0, sizeof *addr);
  struct sockaddr_in *in4 = (struct sockaddr_in *)addr;
  struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)addr;
  if (inet_pton(AF_INET, text, &in4->sin_addr) == 1) {
    in4->sin_family = AF_INET;
    in4->sin_port = htons((uint16_t)port);
    *len = sizeof *in4;
    return 0;
  }
  if (inet_pton(AF_INET6, text, &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons((uint16_t)port);
    *len = sizeof *in6;
    return 0;
  }
  /* A scoped IPv6 address ("fe80::1%eth0"): only getaddrinfo knows interface names. */
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_flags = AI_NUMERICHOST;
  if (getaddrinfo(text, NULL, &hints, &res) != 0 || res == NULL) return -EINVAL;
  int ok = res->ai_addrlen <= sizeof *addr;
  if (ok) {
    memcpy(addr, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    if (addr->ss_family == AF_INET) in4->sin_port = htons((uint16_t)port);
    else in6->sin6_port = htons((uint16_t)port);
  }
  freeaddrinfo(res);
  return ok ? 0 : -EINVAL;
}
