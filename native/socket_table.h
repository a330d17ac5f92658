/*
 * What the addon's host socket modules (tcp_socket.c, udp_socket.c) share: a table of sockets by
 * the small integer ids JS chooses (its own table's index, so no JS object per socket here), and
 * parsing of the numeric addresses JS passes. JS thread only.
 */
#ifndef TSLIRP_SOCKET_TABLE_H
#define TSLIRP_SOCKET_TABLE_H

#include <node_api.h>
#include <stdint.h>
#include <sys/socket.h>

struct socket_table {
  void **slots;
  uint32_t size;
};

/* The socket in slot id, or NULL (free or beyond the table). */
static inline void *socket_table_at(const struct socket_table *table, uint32_t id) {
  return id < table->size ? table->slots[id] : NULL;
}

/* Claims slot id (growing the table); throws (naming kind: "tcp", "udp") and returns -1 when id is
 * out of range, taken, or memory runs out. */
int socket_table_claim(napi_env env, struct socket_table *table, int32_t id, const char *kind);

/* The socket whose id value names, or NULL after throwing a RangeError. */
void *socket_table_lookup(napi_env env, const struct socket_table *table, napi_value value, const char *kind);

void socket_table_free(struct socket_table *table);

/* Parses a numeric address (IPv4, IPv6, IPv6 with %scope) with port into addr: 0, or -EINVAL. */
int socket_parse_address(const char *text, int port, struct sockaddr_storage *addr, socklen_t *len);

#endif
