/* route_embed_call.c — the embeddings signal on the request path (see
 * route_embed_call.h): a ROUTE-phase handler, before the decision, that gets
 * the question's embedding for an `auto` request — from this worker
 * thread's LRU cache, or from the configured embeddings model over the
 * worker's own upstream client, the request waiting (its handler stops;
 * the transfer's completion or a deadline continues it) at most
 * routing.auto.embeddings.timeout_ms — and leaves the neighbours' per-model
 * estimate on the request (r->route_embed) for the decision. A timeout, an
 * error or an answer that is not an embedding of the bank's dimensions
 * routes without it, and says so in the decision. */
#include "route_embed_call.h"

#include "pipeline.h"
#include "route.h"
#include "route_conf.h"
#include "route_embed.h"
#include "upstream.h"
#include "worker.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define QUESTION_CAP 8192u          /* bytes of the last user message embedded */
#define EMBED_RESPONSE_CAP (4u << 20) /* an embeddings answer larger than this is refused */

/* ---- the per-thread LRU of prompt embeddings ---- */

#define NONE UINT32_MAX

typedef struct embed_cache {
    uint32_t cap, dims, n, nb;
    uint64_t *key;
    uint32_t *prev, *next, *chain, *head; /* LRU list, hash chains, bucket heads */
    uint32_t first, last;                 /* most / least recently used */
    float *vec;                           /* cap x dims */
} embed_cache;

static pthread_key_t g_cache_key;
static pthread_once_t g_cache_once = PTHREAD_ONCE_INIT;

static void cache_free(void *p) {
    embed_cache *c = p;
    if (!c) return;
    free(c->key);
    free(c->prev);
    free(c->next);
    free(c->chain);
    free(c->head);
    free(c->vec);
    free(c);
}

static void cache_key_init(void) { (void)pthread_key_create(&g_cache_key, cache_free); }

/* This thread's cache for cap entries of dims floats (rebuilt when a reload changed either). */
static embed_cache *cache_get(uint32_t cap, uint32_t dims) {
    pthread_once(&g_cache_once, cache_key_init);
    embed_cache *c = pthread_getspecific(g_cache_key);
    if (c && c->cap == cap && c->dims == dims) return c;
    cache_free(c);
    c = NULL;
    if (cap) {
        c = gr_xcalloc(1, sizeof *c);
        c->cap = cap;
        c->dims = dims;
        c->nb = 1;
        while (c->nb < cap) c->nb <<= 1;
        c->key = gr_xmalloc(cap * sizeof *c->key);
        c->prev = gr_xmalloc(cap * sizeof *c->prev);
        c->next = gr_xmalloc(cap * sizeof *c->next);
        c->chain = gr_xmalloc(cap * sizeof *c->chain);
        c->head = gr_xmalloc(c->nb * sizeof *c->head);
        for (uint32_t i = 0; i < c->nb; i++) c->head[i] = NONE;
        c->vec = gr_xmalloc((size_t)cap * dims * sizeof(float));
        c->first = c->last = NONE;
    }
    (void)pthread_setspecific(g_cache_key, c);
    return c;
}

static void lru_unlink(embed_cache *c, uint32_t i) {
    if (c->prev[i] != NONE) c->next[c->prev[i]] = c->next[i];
    else c->first = c->next[i];
    if (c->next[i] != NONE) c->prev[c->next[i]] = c->prev[i];
    else c->last = c->prev[i];
}

static void lru_push_front(embed_cache *c, uint32_t i) {
    c->prev[i] = NONE;
    c->next[i] = c->first;
    if (c->first != NONE) c->prev[c->first] = i;
    c->first = i;
    if (c->last == NONE) c->last = i;
}

static const float *cache_find(embed_cache *c, uint64_t key) {
    for (uint32_t i = c->head[key & (c->nb - 1)]; i != NONE; i = c->chain[i])
        if (c->key[i] == key) {
            lru_unlink(c, i);
            lru_push_front(c, i);
            return c->vec + (size_t)i * c->dims;
        }
    return NULL;
}

static void cache_put(embed_cache *c, uint64_t key, const float *v) {
    uint32_t i;
    if (c->n < c->cap) {
        i = c->n++;
    } else { /* evict the least recently used */
        i = c->last;
        lru_unlink(c, i);
        uint32_t *p = &c->head[c->key[i] & (c->nb - 1)];
        while (*p != i) p = &c->chain[*p];
        *p = c->chain[i];
    }
    c->key[i] = key;
    uint32_t *h = &c->head[key & (c->nb - 1)];
    c->chain[i] = *h;
    *h = i;
    lru_push_front(c, i);
    memcpy(c->vec + (size_t)i * c->dims, v, c->dims * sizeof(float));
}

/* ---- one request's wait ---- */

typedef struct embed_wait {
    gr_request *r;
    const gr_route_embed_conf *conf;
    gr_http_request http;
    gr_transfer *xfer;
    struct event *deadline;
    struct evbuffer *body;
    int status;
    uint64_t key, t0_us;
    gr_route_embed_signal sig;
} embed_wait;

static int g_slot = -1;

/* The last user message's text (string content or text parts), cut at
 * QUESTION_CAP on a character boundary; NULL when there is none. */
static char *question_of(gr_request *r, const cJSON *body) {
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(body, "messages");
    const cJSON *m, *last = NULL;
    cJSON_ArrayForEach(m, msgs) {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        if (cJSON_IsString(role) && !strcmp(role->valuestring, "user")) last = m;
    }
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(last, "content");
    const char *text = cJSON_IsString(c) ? c->valuestring : NULL;
    if (cJSON_IsArray(c)) { /* the first text part */
        const cJSON *part;
        cJSON_ArrayForEach(part, c) {
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(part, "text");
            if (cJSON_IsString(t)) {
                text = t->valuestring;
                break;
            }
        }
    }
    if (!text || !*text) return NULL;
    size_t len = strlen(text);
    if (len > QUESTION_CAP) {
        len = QUESTION_CAP;
        while (len > 0 && ((unsigned char)text[len] & 0xC0) == 0x80) len--;
    }
    return gr_pool_strndup(r->pool, text, len);
}

static uint64_t key_of(const char *model, const char *text) {
    uint64_t h = 1469598103934665603ull;
    for (const char *p = model; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ull;
    h = (h ^ 0xff) * 1099511628211ull;
    for (const char *p = text; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ull;
    return h;
}

/* The neighbours' estimate for vector v (unit length) onto the request. */
static void use_vector(embed_wait *w, const float *v, const char *status) {
    const gr_route_embed_bank *b = w->conf->bank;
    double *est = gr_pool_alloc(w->r->pool, (b->nmodels ? b->nmodels : 1) * sizeof *est);
    gr_route_embed_knn(b, v, (uint32_t)w->conf->k, est);
    w->sig.quality = est;
    w->sig.status = status;
}

static void release(embed_wait *w) {
    if (w->xfer) gr_transfer_cancel(w->xfer);
    w->xfer = NULL;
    if (w->deadline) event_free(w->deadline);
    w->deadline = NULL;
    if (w->body) evbuffer_free(w->body);
    w->body = NULL;
    gr_http_request_free(&w->http);
}

/* Ends the wait: the decision goes on with or without the signal. */
static void resume(embed_wait *w) {
    w->sig.wait_ms = (double)(gr_now_us() - w->t0_us) / 1000.0;
    w->r->route_embed = &w->sig;
    release(w);
    gr_pipeline_continue(w->r, GR_PHASE_NEXT);
}

/* {"data":[{"embedding":[...]}]} of the bank's dimensions -> unit vector. */
static bool parse_embedding(embed_wait *w, float *v) {
    size_t len = evbuffer_get_length(w->body);
    const char *text = (const char *)evbuffer_pullup(w->body, -1);
    cJSON *o = text ? cJSON_ParseWithLength(text, len) : NULL;
    const cJSON *d0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(o, "data"), 0);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(d0, "embedding");
    uint32_t dims = w->conf->bank->dims;
    bool ok = cJSON_IsArray(e) && cJSON_GetArraySize(e) == (int)dims;
    uint32_t i = 0;
    const cJSON *x, *each = ok ? e : NULL;
    cJSON_ArrayForEach(x, each) {
        ok = ok && cJSON_IsNumber(x);
        v[i++] = ok ? (float)x->valuedouble : 0.0f;
    }
    cJSON_Delete(o);
    return ok && gr_route_embed_normalize(v, dims);
}

static void on_headers(void *ud, int status, const char *content_type, int retry_after_s) {
    (void)content_type;
    (void)retry_after_s;
    ((embed_wait *)ud)->status = status;
}

static int on_data(void *ud, const char *data, size_t len) {
    embed_wait *w = ud;
    if (evbuffer_get_length(w->body) + len > EMBED_RESPONSE_CAP) return -1;
    evbuffer_add(w->body, data, len);
    return 0;
}

static void on_done(void *ud, const char *err, int status) {
    embed_wait *w = ud;
    w->xfer = NULL; /* the engine's from here */
    w->sig.status = "error";
    if (!err && (status ? status : w->status) == 200) {
        float *v = gr_pool_alloc(w->r->pool, w->conf->bank->dims * sizeof(float));
        if (parse_embedding(w, v)) {
            embed_cache *c = cache_get((uint32_t)w->conf->cache_entries, w->conf->bank->dims);
            if (c) cache_put(c, w->key, v);
            use_vector(w, v, "ok");
        }
    }
    resume(w);
}

static void on_deadline(evutil_socket_t fd, short what, void *ud) {
    (void)fd;
    (void)what;
    embed_wait *w = ud;
    w->sig.status = "timeout";
    resume(w); /* cancels the transfer */
}

/* The request to the embeddings model's first deployment. */
static bool start_call(embed_wait *w, const char *text) {
    gr_request *r = w->r;
    const gr_model_conf *m = gr_model_lookup(r->cfg->models, r->cfg->nmodels, w->conf->model, strlen(w->conf->model));
    if (!m || !m->ndeployments || !m->deployments[0].provider->base_url) return false;
    const gr_deployment *d = &m->deployments[0];
    const gr_provider_conf *p = d->provider;
    w->http.url = gr_xstrdup(gr_pool_printf(r->pool, "%s/embeddings", p->base_url));
    if (p->api_key) gr_http_request_add_header(&w->http, "Authorization: Bearer %s", p->api_key);
    gr_http_request_add_header(&w->http, "Content-Type: application/json");
    for (size_t i = 0; i < p->nheaders; i++)
        gr_http_request_add_header(&w->http, "%s: %s", p->headers[i].name, p->headers[i].value);
    gr_http_request_add_header(&w->http, "X-Request-Id: %s", gr_request_echo_id(r));
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model", d->upstream_model);
    cJSON_AddStringToObject(o, "input", text);
    char *json = cJSON_PrintUnformatted(o);
    w->http.body = gr_xstrdup(json);
    w->http.body_len = strlen(w->http.body);
    cJSON_free(json);
    cJSON_Delete(o);
    w->body = evbuffer_new();
    gr_timeouts t = p->timeouts;
    uint32_t cap = (uint32_t)w->conf->timeout_ms + 1000; /* the deadline below ends the wait first */
    if (!t.total_ms || t.total_ms > cap) t.total_ms = cap;
    static const gr_transfer_cbs cbs = {on_headers, on_data, on_done};
    w->xfer = gr_transfer_start(r->w->up, &w->http, &t, &cbs, w);
    if (!w->xfer) return false;
    w->deadline = evtimer_new(r->w->base, on_deadline, w);
    struct timeval tv = {(time_t)(w->conf->timeout_ms / 1000), (suseconds_t)(w->conf->timeout_ms % 1000) * 1000};
    evtimer_add(w->deadline, &tv);
    return true;
}

static bool is_auto_request(const gr_request *r) {
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(r->body, "model");
    if (!cJSON_IsString(model)) return false;
    const char *s = model->valuestring;
    if (strcmp(s, "auto") && strncmp(s, "auto:", 5)) return false;
    return !gr_model_lookup(r->cfg->models, r->cfg->nmodels, s, strlen(s)); /* a model named "auto" is that model */
}

static gr_phase_rc phase_embed(gr_request *r) {
    const gr_route_embed_conf *conf = &gr_route_conf_of(r->cfg)->embed;
    if (!conf->enabled || !conf->bank || !r->body || !is_auto_request(r)) return GR_PHASE_NEXT;
    if (r->ep != GR_EP_CHAT && r->ep != GR_EP_ROUTE && r->ep != GR_EP_MESSAGES) return GR_PHASE_NEXT;
    const char *text = question_of(r, r->body);
    if (!text) return GR_PHASE_NEXT;
    embed_wait *w = gr_pool_calloc(r->pool, sizeof *w);
    w->r = r;
    w->conf = conf;
    w->t0_us = gr_now_us();
    w->key = key_of(conf->model, text);
    w->sig.weight = conf->weight;
    r->ctx[g_slot] = w;
    embed_cache *c = cache_get((uint32_t)conf->cache_entries, conf->bank->dims);
    const float *v = c ? cache_find(c, w->key) : NULL;
    if (v) {
        use_vector(w, v, "cached");
        w->r->route_embed = &w->sig;
        return GR_PHASE_NEXT;
    }
    if (!start_call(w, text)) {
        w->sig.status = "error";
        w->r->route_embed = &w->sig;
        release(w);
        return GR_PHASE_NEXT;
    }
    return GR_PHASE_STOP; /* on_done or on_deadline continues */
}

/* A request that ends while it waits (client gone, drain): stop the call. */
static void finish_embed(gr_request *r, gr_finish_info *f) {
    (void)f;
    embed_wait *w = r->ctx[g_slot];
    if (w) release(w);
}

void gr_route_embed_call_register(void) {
    g_slot = gr_pipeline_ctx_slot();
    gr_pipeline_on_phase(GR_PHASE_ROUTE, phase_embed);
    gr_pipeline_on_finish(GR_FINISH_UPSTREAM, finish_embed);
}
