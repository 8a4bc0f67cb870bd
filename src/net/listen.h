/* listen.h — listening TCP sockets (used by the workers and the mock
 * upstream): non-blocking, SO_REUSEADDR, TCP_NODELAY inherited by accepted
 * sockets, backlog 4096, SO_REUSEPORT if asked. */
#ifndef GR_LISTEN_H
#define GR_LISTEN_H

#include "common.h"

struct addrinfo;

/* A listening socket on host:port, or -1 on error (logged). */
int gr_listen_socket(const char *host, uint16_t port, bool reuseport);
/* getaddrinfo for a passive TCP socket on host:port (0 = ok). */
int gr_listen_resolve(const char *host, uint16_t port, struct addrinfo **res);
/* False (logged) when another socket already holds host:port: the workers'
 * SO_REUSEPORT listeners would otherwise share it with a stranger. */
bool gr_listen_port_free(const char *host, uint16_t port);

#endif
