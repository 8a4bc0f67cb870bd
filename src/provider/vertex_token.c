/* vertex_token.c — the Vertex AI access-token cache and its refresher thread (see vertex_token.h). */
#include "vertex_token.h"

#include "curl_post.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 30000
#define TOKEN_REPLY_MAX (64 * 1024)

typedef struct entry {
    struct entry *next;
    gr_gcp_sa *sa; /* a reference of its own (gr_gcp_sa_ref): it outlives the config that registered it */
    char *token_url;
    uint32_t timeout_ms, refresh_before_ms;
    char *token;
    uint64_t expires_ms;      /* wall clock */
    uint64_t next_attempt_ms; /* after a failure */
    uint32_t backoff_ms;
    bool fetching, wanted;
    char last_error[256];
} entry;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static entry *entries;
static pthread_t thread;
static bool running, stopping;

static uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- one token call ---- */

/* POSTs the JWT-bearer grant; on success *token and *expires_in. */
static bool fetch(const gr_gcp_sa *sa, const char *url, uint32_t timeout_ms, char **token, int64_t *expires_in,
                  char *err, size_t errlen) {
    char *jwt = gr_gcp_sa_jwt(sa, GR_GCP_SCOPE_CLOUD_PLATFORM, gr_gcp_sa_token_uri(sa), (int64_t)(now_ms() / 1000));
    if (!jwt) {
        snprintf(err, errlen, "could not sign the service-account JWT");
        return false;
    }
    static const char grant[] = "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=";
    size_t bl = sizeof(grant) + strlen(jwt);
    char *body = gr_xmalloc(bl);
    snprintf(body, bl, "%s%s", grant, jwt); /* base64url needs no form escaping */
    free(jwt);
    bool ok = false;
    gr_curl_reply b = {.max = TOKEN_REPLY_MAX};
    char lerr[128];
    if (gr_curl_load(lerr, sizeof lerr) != GR_OK) {
        snprintf(err, errlen, "libcurl could not be loaded: %s", lerr);
        free(body);
        return false;
    }
    const gr_curl_api *cu = gr_curl();
    CURL *c = cu->easy_init();
    if (!c) {
        snprintf(err, errlen, "libcurl could not start a transfer");
        free(body);
        return false;
    }
    struct curl_slist *h = cu->slist_append(NULL, "Content-Type: application/x-www-form-urlencoded");
    h = cu->slist_append(h, "Accept: application/json");
    gr_curl_post_setup(c, url, h, body, &b);
    cu->easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    cu->easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
    cu->easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    cu->easy_setopt(c, CURLOPT_USERAGENT, "gaterouter/" GR_VERSION);
    CURLcode r = cu->easy_perform(c);
    long status = 0;
    if (r == CURLE_OK) cu->easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    cu->slist_free_all(h);
    cu->easy_cleanup(c);
    free(body);
    cJSON *j = b.body ? cJSON_Parse(b.body) : NULL;
    const cJSON *at = cJSON_GetObjectItemCaseSensitive(j, "access_token");
    const cJSON *ei = cJSON_GetObjectItemCaseSensitive(j, "expires_in");
    if (r != CURLE_OK) {
        snprintf(err, errlen, "token endpoint %s: %s", url, b.over ? "reply larger than 64 KiB" : cu->easy_strerror(r));
    } else if (status != 200) {
        const char *desc = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "error_description"));
        const char *e = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "error"));
        snprintf(err, errlen, "token endpoint %s returned HTTP %ld%s%s%s%s", url, status, e ? ": " : "", e ? e : "",
                 desc ? " — " : "", desc ? desc : "");
    } else if (!cJSON_IsString(at) || !at->valuestring[0] || !cJSON_IsNumber(ei) || ei->valuedouble <= 0) {
        snprintf(err, errlen, "token endpoint %s returned no access_token / expires_in", url);
    } else {
        *token = gr_xstrdup(at->valuestring);
        *expires_in = ei->valuedouble > 86400 ? 86400 : (int64_t)ei->valuedouble;
        ok = true;
    }
    cJSON_Delete(j);
    free(b.body);
    return ok;
}

/* ---- the refresher ---- */

/* An entry is due when it is wanted and has no token, or its token is within
 * refresh_before_ms of expiry; after a failure, not before next_attempt_ms. */
static bool due(const entry *e, uint64_t now) {
    if (e->fetching || !e->wanted || now < e->next_attempt_ms) return false;
    return !e->token || now + e->refresh_before_ms >= e->expires_ms;
}

static uint64_t next_wake(uint64_t now) {
    uint64_t w = now + 60000;
    for (entry *e = entries; e; e = e->next) {
        if (!e->wanted || e->fetching) continue;
        uint64_t t = e->token ? (e->expires_ms > e->refresh_before_ms ? e->expires_ms - e->refresh_before_ms : 0) : 0;
        if (t < e->next_attempt_ms) t = e->next_attempt_ms;
        if (t < w) w = t;
    }
    return w;
}

static void *refresher(void *arg) {
    (void)arg;
    pthread_mutex_lock(&mu);
    while (!stopping) {
        uint64_t now = now_ms();
        entry *e = entries;
        while (e && !due(e, now)) e = e->next;
        if (!e) {
            uint64_t w = next_wake(now);
            if (w > now) {
                struct timespec ts = {(time_t)(w / 1000), (long)(w % 1000) * 1000000L};
                pthread_cond_timedwait(&wake, &mu, &ts);
            }
            continue;
        }
        e->fetching = true;
        gr_gcp_sa *sa = gr_gcp_sa_ref(e->sa); /* a reload may replace e->sa meanwhile */
        char *url = gr_xstrdup(e->token_url);
        uint32_t timeout = e->timeout_ms;
        pthread_mutex_unlock(&mu);
        char *token = NULL, err[256] = "";
        int64_t expires_in = 0;
        bool ok = fetch(sa, url, timeout, &token, &expires_in, err, sizeof err);
        free(url);
        gr_gcp_sa_free(sa);
        pthread_mutex_lock(&mu);
        e->fetching = false;
        if (ok) {
            free(e->token);
            e->token = token;
            e->expires_ms = now_ms() + (uint64_t)expires_in * 1000u;
            e->last_error[0] = '\0';
            e->backoff_ms = 0;
            e->next_attempt_ms = 0;
        } else {
            snprintf(e->last_error, sizeof e->last_error, "%s", err);
            e->backoff_ms = e->backoff_ms ? (e->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : e->backoff_ms * 2)
                                          : BACKOFF_MIN_MS;
            e->next_attempt_ms = now_ms() + e->backoff_ms;
        }
    }
    pthread_mutex_unlock(&mu);
    return NULL;
}

/* ---- the request side ---- */

/* Entries are keyed by the service account's identity and the URL: a config
 * reload that loads the same key again reuses the entry (and its token); the
 * entry then holds the newest registration's key. */
static entry *find_or_add(const gr_vertex_token_src *src, const char *url) {
    for (entry *e = entries; e; e = e->next)
        if (!strcmp(gr_gcp_sa_client_email(e->sa), gr_gcp_sa_client_email(src->sa)) && !strcmp(e->token_url, url)) {
            if (e->sa != src->sa) {
                gr_gcp_sa_free(e->sa);
                e->sa = gr_gcp_sa_ref((gr_gcp_sa *)src->sa);
            }
            e->timeout_ms = src->timeout_ms;
            e->refresh_before_ms = src->refresh_before_ms;
            return e;
        }
    entry *e = gr_xcalloc(1, sizeof(*e));
    e->sa = gr_gcp_sa_ref((gr_gcp_sa *)src->sa);
    e->token_url = gr_xstrdup(url);
    e->timeout_ms = src->timeout_ms;
    e->refresh_before_ms = src->refresh_before_ms;
    e->next = entries;
    entries = e;
    return e;
}

gr_status gr_vertex_token_get(const gr_vertex_token_src *src, char **token, char *err, size_t errlen) {
    *token = NULL;
    const char *url = src->token_url ? src->token_url : gr_gcp_sa_token_uri(src->sa);
    gr_status rc;
    pthread_mutex_lock(&mu);
    if (stopping) {
        pthread_mutex_unlock(&mu);
        snprintf(err, errlen, "shutting down");
        return GR_ERR_UNAVAILABLE;
    }
    if (!running) {
        running = pthread_create(&thread, NULL, refresher, NULL) == 0;
        if (!running) {
            pthread_mutex_unlock(&mu);
            snprintf(err, errlen, "could not start the token refresher thread");
            return GR_ERR_UNAVAILABLE;
        }
    }
    entry *e = find_or_add(src, url);
    uint64_t now = now_ms();
    if (!e->wanted) {
        e->wanted = true;
        pthread_cond_signal(&wake);
    }
    if (e->token && now < e->expires_ms) {
        *token = gr_xstrdup(e->token);
        rc = GR_OK;
    } else if (e->last_error[0] && !e->fetching && now < e->next_attempt_ms) {
        snprintf(err, errlen, "%s", e->last_error);
        rc = GR_ERR_UNAVAILABLE;
    } else {
        pthread_cond_signal(&wake); /* due now: no token, or an expired one */
        rc = GR_AGAIN;
    }
    pthread_mutex_unlock(&mu);
    return rc;
}

void gr_vertex_tokens_shutdown(void) {
    pthread_mutex_lock(&mu);
    stopping = true;
    bool join = running;
    pthread_cond_broadcast(&wake);
    pthread_mutex_unlock(&mu);
    if (join) pthread_join(thread, NULL);
    pthread_mutex_lock(&mu);
    while (entries) {
        entry *e = entries;
        entries = e->next;
        free(e->token);
        free(e->token_url);
        gr_gcp_sa_free(e->sa);
        free(e);
    }
    running = false;
    pthread_mutex_unlock(&mu);
}
