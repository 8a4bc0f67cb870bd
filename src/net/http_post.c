/* http_post.c — a blocking POST on a caller's libcurl handle (http_post.h). */
#include "http_post.h"

static size_t discard(char *p, size_t size, size_t n, void *ud) {
    (void)p, (void)ud;
    return size * n;
}

CURLcode gr_http_post(CURL *c, const char *url, struct curl_slist *headers, const char *body, size_t len,
                      uint32_t timeout_ms, long *status) {
    const gr_curl_api *cu = gr_curl();
    cu->easy_setopt(c, CURLOPT_URL, url);
    cu->easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    cu->easy_setopt(c, CURLOPT_POSTFIELDS, body);
    cu->easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
    cu->easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    cu->easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
    cu->easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    cu->easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    cu->easy_setopt(c, CURLOPT_USERAGENT, "gaterouter/" GR_VERSION);
    CURLcode rc = cu->easy_perform(c);
    *status = 0;
    if (rc == CURLE_OK) cu->easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    cu->easy_setopt(c, CURLOPT_HTTPHEADER, NULL); /* the caller frees its list */
    return rc;
}
