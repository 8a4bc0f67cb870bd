/* metrics.c — lock-free labelled metrics registry and Prometheus rendering. */
#include "metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#define SLOTS 4096
#define LABELS_MAX GR_METRICS_LABELS_CAP /* a longer label set is refused (overflow), never cut */
static const double k_bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                  0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120};
#define NBUCKETS (sizeof(k_bounds) / sizeof(k_bounds[0]))

typedef struct series {
    gr_metric_id metric;
    uint64_t hash;
    char labels[LABELS_MAX];
    _Atomic int64_t value; /* counter/gauge value, or histogram count */
    _Atomic uint64_t sum_us;
    _Atomic uint64_t buckets[NBUCKETS];
} series;

static const struct {
    const char *name, *help, *type;
} k_meta[GR_M__COUNT] = {
    [GR_M_REQUESTS] = {"gaterouter_requests_total", "Requests by route template, status, model and provider.", "counter"},
    [GR_M_REQUEST_SECONDS] = {"gaterouter_request_duration_seconds", "Request latency as seen by the client.", "histogram"},
    [GR_M_UPSTREAM_SECONDS] = {"gaterouter_upstream_duration_seconds", "Upstream transfer duration.", "histogram"},
    [GR_M_TTFT_SECONDS] = {"gaterouter_time_to_first_token_seconds", "Request start to first body byte from upstream.", "histogram"},
    [GR_M_UPSTREAM_ERRORS] = {"gaterouter_upstream_errors_total", "Failed upstream attempts by provider and reason.", "counter"},
    [GR_M_TOKENS] = {"gaterouter_tokens_total", "Tokens by model and kind.", "counter"},
    [GR_M_COST_NUSD] = {"gaterouter_cost_usd_total", "Metered cost in USD.", "counter"},
    [GR_M_INFLIGHT] = {"gaterouter_requests_in_flight", "Requests being served.", "gauge"},
    [GR_M_STREAMS_CANCELLED] = {"gaterouter_streams_cancelled_total", "Streams cut by client disconnect.", "counter"},
    [GR_M_CONFIG_RELOADS] = {"gaterouter_config_reloads_total", "Config reloads by result.", "counter"},
    [GR_M_ROUTE_DECISIONS] = {"gaterouter_route_decisions_total", "Routing decisions by policy and chosen model.", "counter"},
    [GR_M_X402] = {"gaterouter_x402_payments_total", "x402 payment events.", "counter"},
    [GR_M_LEDGER_DROPPED] = {"gaterouter_ledger_dropped_total", "Ledger rows dropped (queue full).", "counter"},
    [GR_M_GATEWAY_SECONDS] = {"gaterouter_gateway_duration_seconds",
                              "Request time not spent waiting on an upstream (gateway-added latency).", "histogram"},
    [GR_M_CACHE] = {"gaterouter_cache_lookups_total", "Response-cache lookups by result.", "counter"},
    [GR_M_STORE_JOB_SECONDS] = {"gaterouter_store_job_duration_seconds",
                                "Store-executor jobs: time queued (stage=wait) and running (stage=run).", "histogram"},
    [GR_M_LEDGER_BATCH_SECONDS] = {"gaterouter_ledger_batch_duration_seconds",
                                   "One ledger batch from taken off the queue to committed.", "histogram"},
    [GR_M_X402_SETTLE_SECONDS] = {"gaterouter_x402_settlement_duration_seconds",
                                  "x402 settlement from queued to final, by result.", "histogram"},
    [GR_M_EXPORT_RECORDS] = {"gaterouter_export_records_total",
                             "Records of the exporters (trace spans, log records, alerts) by sink and result: exported, dropped, failed "
                             "(alerts also: deduplicated).",
                             "counter"},
};

/* The process-wide registry. */
static struct {
    _Atomic(series *) slot[SLOTS];
    _Atomic uint64_t overflow;
} g_metrics;

static series *lookup(gr_metric_id m, const char *labels) {
    if (!labels) labels = "";
    size_t labels_len = strlen(labels);
    if (labels_len >= LABELS_MAX) { /* cutting it could break the exposition text */
        atomic_fetch_add_explicit(&g_metrics.overflow, 1, memory_order_relaxed);
        return NULL;
    }
    uint64_t h = gr_fnv1a64(GR_FNV1A64_BASIS ^ (uint64_t)m, labels, labels_len);
    for (size_t probe = 0; probe < SLOTS; probe++) {
        size_t i = (h + probe) & (SLOTS - 1);
        series *s = atomic_load_explicit(&g_metrics.slot[i], memory_order_acquire);
        if (!s) {
            series *n = gr_xcalloc(1, sizeof(*n));
            n->metric = m;
            n->hash = h;
            snprintf(n->labels, sizeof(n->labels), "%s", labels);
            series *expected = NULL;
            if (atomic_compare_exchange_strong_explicit(&g_metrics.slot[i], &expected, n,
                                                        memory_order_acq_rel, memory_order_acquire))
                return n;
            free(n);
            s = expected;
        }
        if (s->hash == h && s->metric == m && !strncmp(s->labels, labels, LABELS_MAX - 1)) return s;
    }
    atomic_fetch_add_explicit(&g_metrics.overflow, 1, memory_order_relaxed);
    return NULL;
}

size_t gr_metrics_label(char *buf, size_t o, size_t cap, const char *name, const char *value) {
    if (!cap) return 0;
    size_t nl = strlen(name);
    if (o + (o ? 1 : 0) + nl + 3 >= cap) { /* not even name="" fits: leave buf as it was */
        buf[o < cap ? o : cap - 1] = '\0';
        return o < cap ? o : cap - 1;
    }
    if (o) buf[o++] = ',';
    memcpy(buf + o, name, nl);
    o += nl;
    buf[o++] = '=';
    buf[o++] = '"';
    size_t start = o, room = cap - 2; /* the closing quote and the NUL */
    for (const unsigned char *v = (const unsigned char *)(value ? value : ""); *v; v++) {
        char esc[2];
        size_t n = 1;
        esc[0] = (char)*v;
        if (*v == '\\' || *v == '"') esc[0] = '\\', esc[1] = (char)*v, n = 2;
        else if (*v == '\n') esc[0] = '\\', esc[1] = 'n', n = 2;
        else if (*v < 0x20 || *v == 0x7f) esc[0] = '_';
        if (o + n > room) { /* cut: never inside an escape pair or a UTF-8 sequence */
            size_t lead = o;
            while (lead > start && ((unsigned char)buf[lead - 1] & 0xC0) == 0x80) lead--;
            unsigned char c = lead > start ? (unsigned char)buf[lead - 1] : 0;
            size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 0;
            if (need && o - (lead - 1) < need) o = lead - 1; /* an incomplete last character */
            break;
        }
        memcpy(buf + o, esc, n);
        o += n;
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return o;
}

void gr_metrics_add(gr_metric_id m, const char *labels, int64_t delta) {
    series *s = lookup(m, labels);
    if (s) atomic_fetch_add_explicit(&s->value, delta, memory_order_relaxed);
}

void gr_metrics_observe_us(gr_metric_id m, const char *labels, uint64_t us) {
    series *s = lookup(m, labels);
    if (!s) return;
    double secs = (double)us / 1e6;
    for (size_t b = 0; b < NBUCKETS; b++)
        if (secs <= k_bounds[b]) {
            atomic_fetch_add_explicit(&s->buckets[b], 1, memory_order_relaxed);
            break;
        }
    atomic_fetch_add_explicit(&s->sum_us, us, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->value, 1, memory_order_relaxed);
}

typedef struct gr_metrics_text {
    char *buf;
    size_t len, cap;
} sbuf;

static struct {
    pthread_mutex_t mu;
    size_t n;
    struct {
        gr_metrics_collector fn;
        void *ud;
    } c[GR_METRICS_MAX_COLLECTORS];
} g_collectors = {PTHREAD_MUTEX_INITIALIZER, 0, {{NULL, NULL}}};

static void emit(sbuf *b, const char *fmt, ...) GR_PRINTF(2, 3);
static void emit(sbuf *b, const char *fmt, ...) {
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(b->buf + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        b->cap = b->cap * 2 + (n > 0 ? (size_t)n : 0);
        b->buf = gr_xrealloc(b->buf, b->cap);
    }
}

static void labels_with(sbuf *b, const char *labels, const char *extra) {
    if (!labels[0] && !extra) return;
    emit(b, "{%s%s%s}", labels, labels[0] && extra ? "," : "", extra ? extra : "");
}

char *gr_metrics_render(size_t *len) {
    sbuf b = {gr_xmalloc(8192), 0, 8192};
    for (int m = 0; m < GR_M__COUNT; m++) {
        emit(&b, "# HELP %s %s\n# TYPE %s %s\n", k_meta[m].name, k_meta[m].help, k_meta[m].name, k_meta[m].type);
        for (size_t i = 0; i < SLOTS; i++) {
            series *s = atomic_load_explicit(&g_metrics.slot[i], memory_order_acquire);
            if (!s || (int)s->metric != m) continue;
            int64_t v = atomic_load_explicit(&s->value, memory_order_relaxed);
            if (!strcmp(k_meta[m].type, "histogram")) {
                uint64_t cum = 0;
                for (size_t k = 0; k < NBUCKETS; k++) {
                    cum += atomic_load_explicit(&s->buckets[k], memory_order_relaxed);
                    char le[32];
                    snprintf(le, sizeof(le), "le=\"%g\"", k_bounds[k]);
                    emit(&b, "%s_bucket", k_meta[m].name);
                    labels_with(&b, s->labels, le);
                    emit(&b, " %llu\n", (unsigned long long)cum);
                }
                emit(&b, "%s_bucket", k_meta[m].name);
                labels_with(&b, s->labels, "le=\"+Inf\"");
                emit(&b, " %lld\n", (long long)v);
                emit(&b, "%s_sum", k_meta[m].name);
                labels_with(&b, s->labels, NULL);
                emit(&b, " %.6f\n", (double)atomic_load_explicit(&s->sum_us, memory_order_relaxed) / 1e6);
                emit(&b, "%s_count", k_meta[m].name);
                labels_with(&b, s->labels, NULL);
                emit(&b, " %lld\n", (long long)v);
            } else if (m == GR_M_COST_NUSD) {
                emit(&b, "%s", k_meta[m].name);
                labels_with(&b, s->labels, NULL);
                emit(&b, " %.9f\n", (double)v / 1e9);
            } else {
                emit(&b, "%s", k_meta[m].name);
                labels_with(&b, s->labels, NULL);
                emit(&b, " %lld\n", (long long)v);
            }
        }
    }
    emit(&b, "# HELP gaterouter_metrics_overflow_total Updates dropped because the series table is full.\n"
             "# TYPE gaterouter_metrics_overflow_total counter\ngaterouter_metrics_overflow_total %llu\n",
         (unsigned long long)atomic_load(&g_metrics.overflow));
    pthread_mutex_lock(&g_collectors.mu);
    for (size_t i = 0; i < g_collectors.n; i++) g_collectors.c[i].fn(&b, g_collectors.c[i].ud);
    pthread_mutex_unlock(&g_collectors.mu);
    *len = b.len;
    return b.buf;
}

void gr_metrics_collector_add(gr_metrics_collector fn, void *ud) {
    pthread_mutex_lock(&g_collectors.mu);
    if (g_collectors.n == GR_METRICS_MAX_COLLECTORS) {
        fprintf(stderr, "gaterouter: more than %d metrics collectors\n", GR_METRICS_MAX_COLLECTORS);
        abort(); /* a build-time mistake, found at start-up */
    }
    g_collectors.c[g_collectors.n].fn = fn;
    g_collectors.c[g_collectors.n++].ud = ud;
    pthread_mutex_unlock(&g_collectors.mu);
}

void gr_metrics_collector_remove(gr_metrics_collector fn, void *ud) {
    pthread_mutex_lock(&g_collectors.mu);
    for (size_t i = 0; i < g_collectors.n; i++)
        if (g_collectors.c[i].fn == fn && g_collectors.c[i].ud == ud) {
            g_collectors.c[i] = g_collectors.c[--g_collectors.n];
            break;
        }
    pthread_mutex_unlock(&g_collectors.mu);
}

void gr_metrics_text_family(gr_metrics_text *out, const char *name, const char *type, const char *help) {
    emit(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void gr_metrics_text_sample(gr_metrics_text *out, const char *name, const char *labels, double value) {
    emit(out, "%s", name);
    labels_with(out, labels ? labels : "", NULL);
    emit(out, " %.17g\n", value);
}
