/* curl_dl.h — libcurl loaded on demand (dlopen), not linked.
 *
 * Owns the process-wide table of the libcurl functions GateRouter calls. A
 * gateway with only http:// upstreams (our own client, upstream_h1.c) and no
 * x402 settlement never calls libcurl, and linking it mapped and initialised
 * libcurl and its dependencies (GnuTLS, krb5/GSSAPI, LDAP, libssh2, ...) in
 * every process at exec: about a quarter of the idle RSS. So libcurl.so.4 is
 * dlopen'ed by the first gr_curl_load(), which also runs curl_global_init.
 *
 * The header still comes from libcurl (types, CURLOPT_* constants) and every
 * pointer is declared with libcurl's own prototype (__typeof__), so the
 * compiler checks each call's fixed arguments. What is lost: curl's GCC
 * type check of the curl_easy_setopt/getinfo *value* argument (it wraps the
 * real function names, not pointers).
 *
 * Life cycle and threading: the table is filled once (pthread_once) by the
 * first gr_curl_load() on any thread and read-only afterwards; the library is
 * never unloaded. gr_curl() is valid only after a successful gr_curl_load()
 * that happened-before the call (same thread, or the object that carries the
 * handle was published after it: engines, the settler thread). */
#ifndef GR_CURL_DL_H
#define GR_CURL_DL_H

#include "common.h"

#include <curl/curl.h>

/* X(member): one per libcurl function used; member = name without "curl_". */
#define GR_CURL_FUNCS(X)                                                                                       \
    X(global_init) X(global_cleanup) X(easy_init) X(easy_cleanup) X(easy_reset) X(easy_setopt)               \
    X(easy_getinfo) X(easy_pause) X(easy_perform) X(easy_strerror) X(multi_init) X(multi_cleanup)            \
    X(multi_add_handle) X(multi_remove_handle) X(multi_assign) X(multi_setopt) X(multi_socket_action)        \
    X(multi_info_read) X(slist_append) X(slist_free_all)

#define GR_CURL_MEMBER_(name) __typeof__(curl_##name) *name;
typedef struct gr_curl_api {
    GR_CURL_FUNCS(GR_CURL_MEMBER_)
} gr_curl_api;
#undef GR_CURL_MEMBER_

/* Loads libcurl and runs curl_global_init(CURL_GLOBAL_DEFAULT), once per
 * process; later calls return the first outcome. GR_OK, or GR_ERR_UNSUPPORTED
 * with err set (library or a symbol missing, or global init failed; logged
 * once at ERROR). err may be NULL. Thread-safe. */
GR_MUST_CHECK gr_status gr_curl_load(char *err, size_t errlen);

/* The table; only after a successful gr_curl_load(). Calls read
 * gr_curl()->easy_setopt(h, CURLOPT_URL, url). */
const gr_curl_api *gr_curl(void);

/* curl_global_cleanup() if libcurl was loaded, else nothing. Process exit
 * only, after every libcurl user is gone. */
void gr_curl_global_cleanup(void);

#endif
