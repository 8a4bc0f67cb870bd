/* curl_post.h — what every blocking libcurl POST of a helper thread or the
 * command line sets up (the Vertex token refresher, x402 chain and
 * facilitator calls, `route train`'s embeddings): the URL, headers and body,
 * and the reply collected into a size-capped heap buffer.
 *
 * The caller owns the easy handle, the header list, the body and
 * reply->body (free() it, also after a failed transfer). Needs a successful
 * gr_curl_load(). Thread-safe as long as each thread uses its own handle. */
#ifndef GR_CURL_POST_H
#define GR_CURL_POST_H

#include "curl_dl.h"

typedef struct gr_curl_reply {
    char *body; /* NUL-terminated reply so far; NULL when nothing arrived */
    size_t len;
    size_t max; /* set by the caller: a reply longer than this aborts the transfer */
    bool over;  /* set when it did (the transfer then fails with CURLE_WRITE_ERROR) */
} gr_curl_reply;

/* Sets CURLOPT_URL, _HTTPHEADER, _POSTFIELDS (+ its size) and the write
 * callback that fills reply, on easy handle c. */
void gr_curl_post_setup(CURL *c, const char *url, struct curl_slist *headers, const char *body,
                        gr_curl_reply *reply);

#endif
