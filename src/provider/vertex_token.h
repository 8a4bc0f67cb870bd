/* vertex_token.h — OAuth access tokens for Google Vertex AI providers,
 * fetched and refreshed off the request path.
 *
 * One process-wide cache, one entry per (service account, token URL); one
 * background thread fetches: it signs a JWT (gcp_service_account.h), POSTs
 * the JWT-bearer grant to the token URL (libcurl, bounded by the provider's
 * token_timeout_ms) and keeps {access_token, expiry}. It refreshes an entry
 * refresh_before_ms ahead of its expiry, so a request finds a valid token
 * and never waits for a refresh; only when there is no valid token yet (the
 * first request, or every refresh failed until expiry) does gr_vertex_token_get
 * say GR_AGAIN, and the caller polls (proxy.c, a timer, at most
 * token_timeout_ms). A failed fetch is retried with backoff (1 s doubling to
 * 30 s); until then a caller without a valid token gets GR_ERR_UNAVAILABLE
 * and the endpoint's error at once (a clear 502, no hang).
 *
 * Threading: get may be called from any worker thread; the cache is guarded
 * by one mutex, tokens are copied out. gr_vertex_tokens_shutdown (process
 * exit, after the workers stopped) stops and joins the thread and frees the
 * cache. Tokens are secrets: never logged. */
#ifndef GR_VERTEX_TOKEN_H
#define GR_VERTEX_TOKEN_H

#include "common.h"
#include "gcp_service_account.h"

typedef struct gr_vertex_token_src {
    const gr_gcp_sa *sa;
    const char *token_url; /* the provider's token_url, else the key file's token_uri */
    uint32_t timeout_ms;   /* one token call */
    uint32_t refresh_before_ms;
} gr_vertex_token_src;

/* GR_OK: *token is a heap copy of a valid access token. GR_AGAIN: none yet, a
 * fetch is on its way (poll again). GR_ERR_UNAVAILABLE: the last fetch failed
 * (err says how) and no valid token is left. */
GR_MUST_CHECK gr_status gr_vertex_token_get(const gr_vertex_token_src *src, char **token, char *err, size_t errlen);
void gr_vertex_tokens_shutdown(void);

#endif
