/* health.c — per-deployment live stats and circuit breaker (see health.h). */
#include "health.h"

#include "ops_event.h"

#include <cjson/cJSON.h>
#include <string.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#define NBUCKETS 1024u /* power of two */

struct gr_health {
    struct gr_health *next; /* bucket chain; set once before publication */
    uint64_t hash;
    atomic_int in_flight;
    _Atomic uint64_t ewma_ttft_bits; /* double bits */
    _Atomic uint64_t ewma_tok_bits;  /* double bits */
    atomic_uint_fast64_t samples;
    atomic_uint_fast64_t requests;
    atomic_uint_fast64_t failures;
    atomic_int state;                    /* gr_breaker_state */
    _Atomic uint64_t cooldown_until_us;  /* 429 */
    _Atomic uint64_t hinted_until_us;    /* another instance saw this deployment's breaker open */
    /* guarded by mu */
    pthread_mutex_t mu;
    uint32_t consec;
    uint64_t window_bits; /* 1 = failure, newest in bit 0 */
    uint32_t window_n;
    uint64_t open_until_us;
    bool probe_taken;
    uint64_t probe_started_us;
    char key[]; /* "provider/upstream_model" */
};

static _Atomic(struct gr_health *) buckets[NBUCKETS];

/* Options are replaced at config load only. Readers load one pointer (no
 * lock); replaced option blocks are kept until shutdown so a reader never
 * sees freed memory. */
typedef struct opts_node {
    gr_health_opts o;
    struct opts_node *prev;
} opts_node;

/* The defaults; gr_conf_health_keys declares the same values for the config. */
#define HEALTH_OPTS_DEFAULT \
    {.consecutive_failures = 5, .window = 20, .min_samples = 10, .error_rate = 0.5, \
     .cooldown_us = 30u * 1000000u, .default_429_cooldown_us = 5u * 1000000u, \
     .max_retry_after_us = 300u * 1000000u, .ewma_alpha = 0.2}
static opts_node default_opts_node = {.o = HEALTH_OPTS_DEFAULT};
static _Atomic(opts_node *) cur_opts = &default_opts_node;
static pthread_mutex_t opts_mu = PTHREAD_MUTEX_INITIALIZER; /* writers only */

/* ---- keys and lookup ---- */

static bool key_eq2(const struct gr_health *h, const char *a, size_t alen, const char *b,
                    size_t blen)
{
    const char *k = h->key;
    if (memcmp(k, a, alen) != 0)
        return false;
    if (!b)
        return k[alen] == '\0';
    return k[alen] == '/' && memcmp(k + alen + 1, b, blen) == 0 && k[alen + 1 + blen] == '\0';
}

static gr_health *lookup(const char *a, size_t alen, const char *b, size_t blen)
{
    uint64_t hv = gr_fnv1a64(GR_FNV1A64_BASIS, a, alen);
    if (b) {
        hv = gr_fnv1a64(hv, "/", 1);
        hv = gr_fnv1a64(hv, b, blen);
    }
    _Atomic(struct gr_health *) *slot = &buckets[hv & (NBUCKETS - 1)];
    struct gr_health *head = atomic_load_explicit(slot, memory_order_acquire);
    for (struct gr_health *e = head; e; e = e->next)
        if (e->hash == hv && key_eq2(e, a, alen, b, blen))
            return e;

    size_t klen = alen + (b ? 1 + blen : 0);
    struct gr_health *n = gr_xcalloc(1, sizeof(*n) + klen + 1);
    memcpy(n->key, a, alen);
    if (b) {
        n->key[alen] = '/';
        memcpy(n->key + alen + 1, b, blen);
    }
    n->key[klen] = '\0';
    n->hash = hv;
    pthread_mutex_init(&n->mu, NULL);
    for (;;) {
        n->next = head;
        if (atomic_compare_exchange_weak_explicit(slot, &head, n, memory_order_acq_rel,
                                                  memory_order_acquire))
            return n;
        /* someone inserted meanwhile: it may be our key */
        for (struct gr_health *e = head; e; e = e->next)
            if (e->hash == hv && key_eq2(e, a, alen, b, blen)) {
                pthread_mutex_destroy(&n->mu);
                free(n);
                return e;
            }
    }
}

gr_health *gr_health_get(const char *key)
{
    if (!key)
        return NULL;
    return lookup(key, strlen(key), NULL, 0);
}

gr_health *gr_health_get2(const char *provider, const char *upstream_model)
{
    if (!provider)
        provider = "";
    if (!upstream_model)
        upstream_model = "";
    return lookup(provider, strlen(provider), upstream_model, strlen(upstream_model));
}

const char *gr_health_key(const gr_health *h) { return h ? h->key : ""; }

/* ---- options ---- */

void gr_health_opts_default(gr_health_opts *o)
{
    *o = (gr_health_opts)HEALTH_OPTS_DEFAULT;
}

void gr_health_configure(const gr_health_opts *o)
{
    gr_health_opts n;
    if (o)
        n = *o;
    else
        gr_health_opts_default(&n);
    if (n.window == 0 || n.window > 64)
        n.window = 64;
    if (n.min_samples > n.window)
        n.min_samples = n.window;
    if (n.consecutive_failures == 0)
        n.consecutive_failures = 1;
    if (!(n.ewma_alpha > 0.0 && n.ewma_alpha <= 1.0))
        n.ewma_alpha = 0.2;
    if (!(n.error_rate > 0.0 && n.error_rate <= 1.0))
        n.error_rate = 0.5;
    opts_node *node = gr_xmalloc(sizeof *node);
    node->o = n;
    pthread_mutex_lock(&opts_mu);
    node->prev = atomic_load(&cur_opts);
    atomic_store_explicit(&cur_opts, node, memory_order_release);
    pthread_mutex_unlock(&opts_mu);
}

static const gr_health_opts *opts_get(void)
{
    return &atomic_load_explicit(&cur_opts, memory_order_acquire)->o;
}

/* ---- helpers ---- */

static double bits_to_d(uint64_t b)
{
    double d;
    memcpy(&d, &b, sizeof d);
    return d;
}

static uint64_t d_to_bits(double d)
{
    uint64_t b;
    memcpy(&b, &d, sizeof b);
    return b;
}

static void ewma_update(_Atomic uint64_t *cell, double sample, double alpha)
{
    uint64_t old = atomic_load_explicit(cell, memory_order_relaxed);
    for (;;) {
        double cur = bits_to_d(old);
        double nv = cur == 0.0 ? sample : cur + alpha * (sample - cur);
        if (nv <= 0.0)
            nv = 1e-3; /* 0 means "no sample" */
        if (atomic_compare_exchange_weak_explicit(cell, &old, d_to_bits(nv), memory_order_relaxed,
                                                  memory_order_relaxed))
            return;
    }
}

bool gr_health_outcome_is_failure(const gr_outcome *o)
{
    if (!o || o->request_fault)
        return false;
    switch (o->kind) {
    case GR_OUTCOME_OK:
        return false;
    case GR_OUTCOME_TIMEOUT:
    case GR_OUTCOME_CONNECT_ERROR:
        return true;
    case GR_OUTCOME_HTTP:
        return o->http_status >= 500 || o->http_status == 408;
    }
    return false;
}

const char *gr_breaker_state_name(gr_breaker_state s)
{
    switch (s) {
    case GR_BREAKER_CLOSED:
        return "closed";
    case GR_BREAKER_OPEN:
        return "open";
    case GR_BREAKER_HALF_OPEN:
        return "half-open";
    }
    return "?";
}

/* ---- availability and results ---- */

bool gr_health_available(gr_health *h, uint64_t now_us)
{
    if (!h)
        return true;
    if (atomic_load_explicit(&h->cooldown_until_us, memory_order_relaxed) > now_us)
        return false;
    if (GR_UNLIKELY(atomic_load_explicit(&h->hinted_until_us, memory_order_relaxed) > now_us))
        return false;
    if (GR_LIKELY(atomic_load_explicit(&h->state, memory_order_acquire) == GR_BREAKER_CLOSED))
        return true;
    uint64_t cooldown = opts_get()->cooldown_us;
    bool ok;
    pthread_mutex_lock(&h->mu);
    int st = atomic_load_explicit(&h->state, memory_order_relaxed);
    if (st == GR_BREAKER_OPEN && now_us >= h->open_until_us) {
        atomic_store_explicit(&h->state, GR_BREAKER_HALF_OPEN, memory_order_release);
        h->probe_taken = false;
        st = GR_BREAKER_HALF_OPEN;
    }
    if (st == GR_BREAKER_HALF_OPEN && h->probe_taken && now_us - h->probe_started_us >= cooldown)
        h->probe_taken = false; /* the probe never reported: allow another */
    ok = st == GR_BREAKER_CLOSED || (st == GR_BREAKER_HALF_OPEN && !h->probe_taken);
    pthread_mutex_unlock(&h->mu);
    return ok;
}

bool gr_health_on_start(gr_health *h, uint64_t now_us)
{
    if (!h)
        return false;
    atomic_fetch_add_explicit(&h->in_flight, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->requests, 1, memory_order_relaxed);
    if (GR_LIKELY(atomic_load_explicit(&h->state, memory_order_acquire) == GR_BREAKER_CLOSED))
        return false;
    bool probe = false;
    pthread_mutex_lock(&h->mu);
    if (atomic_load_explicit(&h->state, memory_order_relaxed) == GR_BREAKER_HALF_OPEN &&
        !h->probe_taken) {
        h->probe_taken = true;
        h->probe_started_us = now_us;
        probe = true;
    }
    pthread_mutex_unlock(&h->mu);
    return probe;
}

static void trip(gr_health *h, uint64_t now_us, const gr_health_opts *o)
{
    atomic_store_explicit(&h->state, GR_BREAKER_OPEN, memory_order_release);
    h->open_until_us = now_us + o->cooldown_us;
    h->probe_taken = false;
}

void gr_health_on_result(gr_health *h, const gr_outcome *o, uint64_t ttft_us, uint64_t total_us,
                         uint64_t tokens, uint32_t retry_after_s, uint64_t now_us)
{
    if (!h || !o)
        return;
    const gr_health_opts op = *opts_get();
    int prev = atomic_fetch_sub_explicit(&h->in_flight, 1, memory_order_relaxed);
    if (prev <= 0) /* unpaired on_result: keep the count sane */
        atomic_store_explicit(&h->in_flight, 0, memory_order_relaxed);

    if (o->request_fault) { /* neutral; a half-open probe that ended so frees its slot */
        pthread_mutex_lock(&h->mu);
        if (atomic_load_explicit(&h->state, memory_order_relaxed) == GR_BREAKER_HALF_OPEN)
            h->probe_taken = false;
        pthread_mutex_unlock(&h->mu);
        return;
    }
    bool fail = gr_health_outcome_is_failure(o);
    if (o->kind == GR_OUTCOME_OK) {
        if (ttft_us > 0)
            ewma_update(&h->ewma_ttft_bits, (double)ttft_us, op.ewma_alpha);
        if (tokens > 0 && total_us > ttft_us)
            ewma_update(&h->ewma_tok_bits, (double)(total_us - ttft_us) / (double)tokens,
                        op.ewma_alpha);
        atomic_fetch_add_explicit(&h->samples, 1, memory_order_relaxed);
    } else if (o->kind == GR_OUTCOME_TIMEOUT) {
        /* a timeout is at least as slow as the time we waited */
        uint64_t waited = total_us ? total_us : ttft_us;
        if (waited > 0)
            ewma_update(&h->ewma_ttft_bits, (double)waited, op.ewma_alpha);
    }
    if (o->kind == GR_OUTCOME_HTTP && o->http_status == 429) {
        uint64_t cd = retry_after_s ? (uint64_t)retry_after_s * 1000000u : op.default_429_cooldown_us;
        if (cd > op.max_retry_after_us)
            cd = op.max_retry_after_us;
        uint64_t until = now_us + cd;
        uint64_t cur = atomic_load_explicit(&h->cooldown_until_us, memory_order_relaxed);
        while (cur < until && !atomic_compare_exchange_weak_explicit(
                                  &h->cooldown_until_us, &cur, until, memory_order_relaxed,
                                  memory_order_relaxed)) {
        }
    }
    if (fail)
        atomic_fetch_add_explicit(&h->failures, 1, memory_order_relaxed);

    pthread_mutex_lock(&h->mu);
    int st = atomic_load_explicit(&h->state, memory_order_relaxed);
    h->window_bits = (h->window_bits << 1) | (fail ? 1u : 0u);
    if (h->window_n < op.window)
        h->window_n++;
    if (fail)
        h->consec++;
    else
        h->consec = 0;

    int changed = -1; /* the transition to announce (ops_event.h), after the lock */
    if (st == GR_BREAKER_HALF_OPEN) {
        if (fail) {
            trip(h, now_us, &op); /* a failed probe: it was not closed in between */
        } else {
            atomic_store_explicit(&h->state, GR_BREAKER_CLOSED, memory_order_release);
            h->window_bits = 0;
            h->window_n = 0;
            h->probe_taken = false;
            changed = GR_OPS_BREAKER_CLOSED;
        }
    } else if (st == GR_BREAKER_CLOSED && fail) {
        uint64_t mask = op.window >= 64 ? ~0ull : ((1ull << op.window) - 1);
        uint32_t nfail = (uint32_t)__builtin_popcountll(h->window_bits & mask);
        bool rate = h->window_n >= op.min_samples && op.min_samples > 0 &&
                    (double)nfail >= op.error_rate * (double)h->window_n;
        if (h->consec >= op.consecutive_failures || rate) {
            trip(h, now_us, &op);
            changed = GR_OPS_BREAKER_OPENED;
        }
    }
    /* OPEN: late results of requests started before the trip change nothing */
    pthread_mutex_unlock(&h->mu);
    if (changed >= 0)
        gr_ops_event_emit((gr_ops_event_kind)changed, h->key, NULL);
}

void gr_health_snapshot_get(gr_health *h, gr_health_snapshot *out)
{
    memset(out, 0, sizeof *out);
    if (!h)
        return;
    out->in_flight = atomic_load_explicit(&h->in_flight, memory_order_relaxed);
    out->ewma_ttft_us = bits_to_d(atomic_load_explicit(&h->ewma_ttft_bits, memory_order_relaxed));
    out->ewma_per_token_us =
        bits_to_d(atomic_load_explicit(&h->ewma_tok_bits, memory_order_relaxed));
    out->samples = atomic_load_explicit(&h->samples, memory_order_relaxed);
    out->requests = atomic_load_explicit(&h->requests, memory_order_relaxed);
    out->failures = atomic_load_explicit(&h->failures, memory_order_relaxed);
    out->cooldown_until_us = atomic_load_explicit(&h->cooldown_until_us, memory_order_relaxed);
    pthread_mutex_lock(&h->mu);
    out->state = (gr_breaker_state)atomic_load_explicit(&h->state, memory_order_relaxed);
    out->consecutive_failures = h->consec;
    out->open_until_us = h->open_until_us;
    pthread_mutex_unlock(&h->mu);
}

/* ---- maintenance ---- */

void gr_health_each(void (*fn)(gr_health *h, void *ud), void *ud)
{
    for (size_t i = 0; i < NBUCKETS; i++)
        for (struct gr_health *e = atomic_load(&buckets[i]); e; e = e->next)
            fn(e, ud);
}

void gr_health_reset_all(void)
{
    for (size_t i = 0; i < NBUCKETS; i++) {
        for (struct gr_health *e = atomic_load(&buckets[i]); e; e = e->next) {
            pthread_mutex_lock(&e->mu);
            atomic_store(&e->in_flight, 0);
            atomic_store(&e->ewma_ttft_bits, 0);
            atomic_store(&e->ewma_tok_bits, 0);
            atomic_store(&e->samples, 0);
            atomic_store(&e->requests, 0);
            atomic_store(&e->failures, 0);
            atomic_store(&e->state, GR_BREAKER_CLOSED);
            atomic_store(&e->cooldown_until_us, 0);
            e->consec = 0;
            e->window_bits = 0;
            e->window_n = 0;
            e->open_until_us = 0;
            e->probe_taken = false;
            pthread_mutex_unlock(&e->mu);
        }
    }
}

void gr_health_shutdown(void)
{
    pthread_mutex_lock(&opts_mu);
    opts_node *on = atomic_exchange(&cur_opts, &default_opts_node);
    while (on && on != &default_opts_node) {
        opts_node *p = on->prev;
        free(on);
        on = p;
    }
    pthread_mutex_unlock(&opts_mu);
    for (size_t i = 0; i < NBUCKETS; i++) {
        struct gr_health *e = atomic_exchange(&buckets[i], NULL);
        while (e) {
            struct gr_health *n = e->next;
            pthread_mutex_destroy(&e->mu);
            free(e);
            e = n;
        }
    }
}

/* ---- configuration from `routing.health` ---- */

/* The section as written (milliseconds); gr_health_opts keeps microseconds. */
typedef struct {
    uint32_t consecutive_failures, window, min_samples;
    double error_rate, ewma_alpha;
    uint32_t cooldown_ms, rate_limit_cooldown_ms, max_retry_after_ms;
} health_section;

#define H(field) GR_CONF_F(health_section, field)
const gr_conf_key gr_conf_health_keys[] = {
    {"consecutive_failures", GR_CONF_COUNT, H(consecutive_failures), 1, 1000000, "5", NULL,
     "failures in a row that open the breaker"},
    {"window", GR_CONF_COUNT, H(window), 1, 64, "20", NULL, "recent results kept for the error rate"},
    {"min_samples", GR_CONF_COUNT, H(min_samples), 1, 64, "10", NULL, "results needed before the error rate counts"},
    {"error_rate", GR_CONF_FRACTION, H(error_rate), 0.01, 1, "0.5", NULL, "failure share of the window that opens the breaker"},
    {"cooldown_ms", GR_CONF_MS, H(cooldown_ms), 0, 86400000, "30s", NULL, "open -> half-open"},
    {"rate_limit_cooldown_ms", GR_CONF_MS, H(rate_limit_cooldown_ms), 0, 86400000, "5s", NULL,
     "cooldown after a 429 without Retry-After"},
    {"max_retry_after_ms", GR_CONF_MS, H(max_retry_after_ms), 0, 86400000, "5m", NULL, "cap on an upstream's Retry-After"},
    {"ewma_alpha", GR_CONF_FRACTION, H(ewma_alpha), 0.001, 1, "0.2", NULL, "weight of the newest latency sample"},
    GR_CONF_END,
};
#undef H

gr_status gr_health_opts_from_json(const cJSON *sec, gr_health_opts *o, char *err, size_t errlen) {
    gr_health_opts_default(o);
    health_section h = {0};
    gr_conf_err ce = {err, errlen, false};
    gr_conf_load_keys(sec, "routing.health", gr_conf_health_keys, &h, &ce);
    if (ce.failed) return GR_ERR_INVALID;
    o->consecutive_failures = h.consecutive_failures;
    o->window = h.window;
    o->min_samples = h.min_samples;
    o->error_rate = h.error_rate;
    o->cooldown_us = (uint64_t)h.cooldown_ms * 1000u;
    o->default_429_cooldown_us = (uint64_t)h.rate_limit_cooldown_ms * 1000u;
    o->max_retry_after_us = (uint64_t)h.max_retry_after_ms * 1000u;
    o->ewma_alpha = h.ewma_alpha;
    return GR_OK;
}

/* ---- hints shared between instances (cluster_state.c) ---- */

void gr_health_hint_open(gr_health *h, uint64_t until_us) {
    if (!h) return;
    uint64_t cur = atomic_load_explicit(&h->hinted_until_us, memory_order_relaxed);
    while (until_us > cur &&
           !atomic_compare_exchange_weak_explicit(&h->hinted_until_us, &cur, until_us, memory_order_relaxed,
                                                  memory_order_relaxed)) {
    }
}
