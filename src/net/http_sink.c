/* http_sink.c — queue, batching thread and POST of the batching exporter (http_sink.h). */
#include "http_sink.h"

#include "curl_dl.h"
#include "http_post.h"
#include "log.h"
#include "metrics.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef struct record {
    char *data;
    size_t len;
    uint32_t weight;
} record;

struct gr_http_sink {
    gr_http_sink_conf conf; /* strings below are owned copies */
    char *name, *url, *content_type, *headers, *prefix, *separator, *suffix;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    record *ring; /* queue_max slots */
    size_t head, n;
    uint64_t oldest_ms; /* when the oldest queued record arrived (monotonic) */
    bool stop;
    pthread_t thread;
    CURL *curl;
    struct curl_slist *hdrs;
    char labels_exported[GR_METRICS_LABELS_CAP], labels_dropped[GR_METRICS_LABELS_CAP],
        labels_failed[GR_METRICS_LABELS_CAP];
    bool warned;
};

static uint64_t mono_ms(void) { return gr_now_us() / 1000u; }

static char *dup_or_empty(const char *s) { return gr_xstrdup(s ? s : ""); }

/* ---- one POST ---- */

static bool post_batch(gr_http_sink *s, record *batch, size_t n) {
    size_t plen = strlen(s->prefix), slen = strlen(s->separator), tlen = strlen(s->suffix), total = plen + tlen;
    for (size_t i = 0; i < n; i++) total += batch[i].len + (i ? slen : 0);
    char *body = gr_xmalloc(total + 1), *o = body;
    memcpy(o, s->prefix, plen), o += plen;
    for (size_t i = 0; i < n; i++) {
        if (i) memcpy(o, s->separator, slen), o += slen;
        memcpy(o, batch[i].data, batch[i].len), o += batch[i].len;
    }
    memcpy(o, s->suffix, tlen), o += tlen;
    *o = '\0';
    const gr_curl_api *cu = gr_curl();
    long status;
    CURLcode rc = gr_http_post(s->curl, s->url, s->hdrs, body, total, s->conf.timeout_ms, &status);
    free(body);
    bool ok = rc == CURLE_OK && status >= 200 && status < 300;
    if (!ok && !s->warned) { /* once: a dead collector must not flood the log either */
        GR_WARN("%s: export to %s failed (%s); further failures are only counted", s->name, s->url,
                rc != CURLE_OK ? cu->easy_strerror(rc) : "non-2xx answer");
        s->warned = true;
    }
    uint64_t weight = 0;
    for (size_t i = 0; i < n; i++) weight += batch[i].weight;
    gr_metrics_add(GR_M_EXPORT_RECORDS, ok ? s->labels_exported : s->labels_failed, (int64_t)weight);
    return ok;
}

/* ---- the thread ---- */

/* Takes up to batch_max records off the queue (mu held). */
static size_t take(gr_http_sink *s, record *batch) {
    size_t n = 0;
    while (s->n && n < s->conf.batch_max) {
        batch[n++] = s->ring[s->head];
        s->head = (s->head + 1) % s->conf.queue_max;
        s->n--;
    }
    s->oldest_ms = mono_ms();
    return n;
}

static void release_batch(record *batch, size_t n) {
    for (size_t i = 0; i < n; i++) free(batch[i].data);
}

static void *sink_main(void *arg) {
    gr_http_sink *s = arg;
    record *batch = gr_xcalloc(s->conf.batch_max, sizeof(*batch));
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->stop && s->n < s->conf.batch_max) {
            if (!s->n) {
                pthread_cond_wait(&s->cv, &s->mu);
                continue;
            }
            uint64_t due = s->oldest_ms + s->conf.batch_delay_ms, now = mono_ms();
            if (now >= due) break;
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            uint64_t wait_ms = due - now;
            ts.tv_sec += (time_t)(wait_ms / 1000);
            ts.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
            if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
            pthread_cond_timedwait(&s->cv, &s->mu, &ts);
        }
        if (s->stop && !s->n) break;
        size_t n = take(s, batch);
        bool stopping = s->stop;
        pthread_mutex_unlock(&s->mu);
        bool ok = post_batch(s, batch, n);
        release_batch(batch, n);
        pthread_mutex_lock(&s->mu);
        if (stopping && !ok) { /* shutting down and the endpoint fails: do not wait out every batch */
            while (s->n) {
                n = take(s, batch);
                uint64_t weight = 0;
                for (size_t i = 0; i < n; i++) weight += batch[i].weight;
                gr_metrics_add(GR_M_EXPORT_RECORDS, s->labels_failed, (int64_t)weight);
                release_batch(batch, n);
            }
            break;
        }
    }
    pthread_mutex_unlock(&s->mu);
    free(batch);
    return NULL;
}

/* ---- API ---- */

static void result_labels(char *buf, const char *sink, const char *result) {
    gr_metrics_label(buf, gr_metrics_label(buf, 0, GR_METRICS_LABELS_CAP, "sink", sink), GR_METRICS_LABELS_CAP,
                     "result", result);
}

gr_http_sink *gr_http_sink_new(const gr_http_sink_conf *conf, char *err, size_t errlen) {
    if (gr_curl_load(err, errlen) != GR_OK) return NULL;
    gr_http_sink *s = gr_xcalloc(1, sizeof(*s));
    s->conf = *conf;
    s->name = dup_or_empty(conf->name);
    s->url = dup_or_empty(conf->url);
    s->content_type = dup_or_empty(conf->content_type);
    s->headers = dup_or_empty(conf->headers);
    s->prefix = dup_or_empty(conf->prefix);
    s->separator = dup_or_empty(conf->separator);
    s->suffix = dup_or_empty(conf->suffix);
    if (!s->conf.queue_max) s->conf.queue_max = 1;
    if (!s->conf.batch_max) s->conf.batch_max = 1;
    result_labels(s->labels_exported, s->name, "exported");
    result_labels(s->labels_dropped, s->name, "dropped");
    result_labels(s->labels_failed, s->name, "failed");
    s->ring = gr_xcalloc(s->conf.queue_max, sizeof(*s->ring));
    const gr_curl_api *cu = gr_curl();
    s->curl = cu->easy_init();
    char ct[160];
    snprintf(ct, sizeof ct, "Content-Type: %s", s->content_type);
    s->hdrs = cu->slist_append(NULL, ct);
    s->hdrs = cu->slist_append(s->hdrs, "Expect:");
    for (char *line = s->headers; *line;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = '\0';
        if (*line) s->hdrs = cu->slist_append(s->hdrs, line);
        if (!nl) break;
        *nl = '\n';
        line = nl + 1;
    }
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    /* the thread must not take process signals (the main loop's) */
    sigset_t set, old;
    sigfillset(&set);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    pthread_create(&s->thread, NULL, sink_main, s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return s;
}

void gr_http_sink_push(gr_http_sink *s, char *data, size_t len, uint32_t weight) {
    pthread_mutex_lock(&s->mu);
    if (s->n == s->conf.queue_max || s->stop) {
        pthread_mutex_unlock(&s->mu);
        free(data);
        gr_metrics_add(GR_M_EXPORT_RECORDS, s->labels_dropped, weight);
        return;
    }
    if (!s->n) s->oldest_ms = mono_ms();
    s->ring[(s->head + s->n) % s->conf.queue_max] = (record){data, len, weight};
    s->n++;
    bool wake = s->n == 1 || s->n == s->conf.batch_max;
    pthread_mutex_unlock(&s->mu);
    if (wake) pthread_cond_signal(&s->cv);
}

void gr_http_sink_drop(gr_http_sink *s, uint32_t weight) { gr_metrics_add(GR_M_EXPORT_RECORDS, s->labels_dropped, weight); }

void gr_http_sink_free(gr_http_sink *s) {
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    s->stop = true;
    pthread_mutex_unlock(&s->mu);
    pthread_cond_signal(&s->cv);
    pthread_join(s->thread, NULL);
    for (size_t i = 0; i < s->n; i++) free(s->ring[(s->head + i) % s->conf.queue_max].data);
    const gr_curl_api *cu = gr_curl();
    cu->slist_free_all(s->hdrs);
    cu->easy_cleanup(s->curl);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s->ring);
    free(s->name), free(s->url), free(s->content_type), free(s->headers);
    free(s->prefix), free(s->separator), free(s->suffix);
    free(s);
}
