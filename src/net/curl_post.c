/* curl_post.c — the common set-up of a blocking libcurl POST and its capped
 * reply buffer (see curl_post.h). */
#include "curl_post.h"

#include <stdlib.h>
#include <string.h>

static size_t on_write(char *data, size_t size, size_t n, void *ud) {
    gr_curl_reply *r = ud;
    size_t add = size * n;
    if (add > r->max - r->len) {
        r->over = true;
        return 0; /* aborts the transfer */
    }
    r->body = gr_xrealloc(r->body, r->len + add + 1);
    memcpy(r->body + r->len, data, add);
    r->len += add;
    r->body[r->len] = '\0';
    return add;
}

void gr_curl_post_setup(CURL *c, const char *url, struct curl_slist *headers, const char *body,
                        gr_curl_reply *reply) {
    const gr_curl_api *cu = gr_curl();
    cu->easy_setopt(c, CURLOPT_URL, url);
    cu->easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    cu->easy_setopt(c, CURLOPT_POSTFIELDS, body);
    cu->easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    cu->easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
    cu->easy_setopt(c, CURLOPT_WRITEDATA, (void *)reply);
}
