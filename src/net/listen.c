/* listen.c — listening TCP sockets for the workers and the mock upstream
 * (see listen.h). */
#include "listen.h"

#include "log.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int gr_listen_resolve(const char *host, uint16_t port, struct addrinfo **res) {
    struct addrinfo hints = {0};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char ps[8];
    snprintf(ps, sizeof(ps), "%u", port);
    *res = NULL;
    return getaddrinfo(host, ps, &hints, res);
}

int gr_listen_socket(const char *host, uint16_t port, bool reuseport) {
    struct addrinfo *res = NULL;
    int rc = gr_listen_resolve(host, port, &res);
    if (rc) {
        GR_ERROR("server.host %s: %s", host, gai_strerror(rc));
        return -1;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (reuseport) setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)); /* inherited by accepted sockets */
        if (bind(fd, res->ai_addr, res->ai_addrlen) || listen(fd, 4096)) {
            GR_ERROR("cannot listen on %s:%u: %s", host, port, strerror(errno));
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    return fd;
}

/* The workers' listeners share the port through SO_REUSEPORT, which would
 * also let a second gateway (same user) bind it and take half the traffic.
 * Unless server.reuse_port asks for that, bind once without SO_REUSEPORT
 * first: any listener already there makes that fail. */
bool gr_listen_port_free(const char *host, uint16_t port) {
    struct addrinfo *res = NULL;
    if (gr_listen_resolve(host, port, &res)) return true; /* the listener reports lookup errors */
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool ok = true;
    if (fd >= 0) {
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, res->ai_addr, res->ai_addrlen) && errno == EADDRINUSE) {
            GR_ERROR("cannot listen on %s:%u: address already in use (another gaterouter or program is listening "
                     "there; set server.reuse_port: true to share the port on purpose)", host, port);
            ok = false;
        }
        close(fd);
    }
    freeaddrinfo(res);
    return ok;
}
