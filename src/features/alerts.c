/* alerts.c — webhook alerts: events to idempotent, persisted, signed and
 * retried POSTs (alerts.h). */
#include "alerts.h"

#include "curl_dl.h"
#include "http_post.h"
#include "instance_id.h"
#include "keys.h"
#include "log.h"
#include "metrics.h"
#include "ops_event.h"
#include "pipeline.h"
#include "store.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* ---- config ---- */

#define MAX_THRESHOLDS 8

typedef struct alerts_conf {
    char *url, *secret, *thresholds_text;
    uint32_t ledger_behind_rows, ledger_check_ms, max_attempts, retry_base_ms, retry_max_ms, timeout_ms, queue_max;
    uint32_t thresholds[MAX_THRESHOLDS]; /* derived: percent, ascending */
    size_t nthresholds;
} alerts_conf;

#define A(f) GR_CONF_F(alerts_conf, f)
const gr_conf_key gr_conf_alerts_keys[] = {
    {"url", GR_CONF_STRING, A(url), 0, 0, NULL, NULL, "where each alert is POSTed (http[s]://…); required"},
    {"secret", GR_CONF_STRING, A(secret), 0, 0, NULL, NULL,
     "the HMAC-SHA256 key of X-GateRouter-Signature, at least 16 characters (use ${ENV}); required"},
    {"budget_thresholds", GR_CONF_STRING, A(thresholds_text), 0, 0, "50,80,100", NULL,
     "percentages of a key's budget (total, daily, monthly) that raise an alert when spend reaches them, "
     "comma-separated, 1..1000, at most 8"},
    {"ledger_behind_rows", GR_CONF_COUNT, A(ledger_behind_rows), 1, 100000000, "1000", NULL,
     "the ledger is behind when this many usage rows wait to be written, queued or in the batch being retried "
     "(one alert per episode; it ends below half)"},
    {"ledger_check_ms", GR_CONF_MS, A(ledger_check_ms), 10, 600000, "1000", NULL, "how often the ledger's queue is looked at"},
    {"max_attempts", GR_CONF_COUNT, A(max_attempts), 1, 1000, "10", NULL,
     "POSTs of one alert at most (the first included); then it is given up and counted as failed"},
    {"retry_base_ms", GR_CONF_MS, A(retry_base_ms), 1, 3600000, "1000", NULL,
     "back-off before the 2nd attempt; doubles each time (each wait drawn in [half, full])"},
    {"retry_max_ms", GR_CONF_MS, A(retry_max_ms), 1, 86400000, "5m", NULL, "longest back-off between two attempts"},
    {"timeout_ms", GR_CONF_MS, A(timeout_ms), 1, 600000, "10000", NULL, "one POST, connect included"},
    {"queue_max", GR_CONF_COUNT, A(queue_max), 1, 100000, "1024", NULL,
     "alerts waiting (new and being retried) at most; past it new ones are dropped and counted"},
    GR_CONF_END,
};
#undef A

static void conf_free(alerts_conf *c) {
    if (!c) return;
    gr_conf_free_keys(gr_conf_alerts_keys, c);
    free(c);
}

void gr_alerts_conf_free(void *conf) { conf_free(conf); }

static void parse_thresholds(alerts_conf *c, gr_conf_err *e) {
    const char *p = c->thresholds_text;
    while (p && *p && !e->failed) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 1 || v > 1000 || (*end && *end != ',')) {
            gr_conf_fail(e, "alerts.budget_thresholds: \"%s\" is not a comma-separated list of percentages 1..1000",
                         c->thresholds_text);
            return;
        }
        if (c->nthresholds == MAX_THRESHOLDS) {
            gr_conf_fail(e, "alerts.budget_thresholds: at most %d thresholds", MAX_THRESHOLDS);
            return;
        }
        size_t i = c->nthresholds++; /* insertion sort, no duplicates */
        while (i && c->thresholds[i - 1] > (uint32_t)v) c->thresholds[i] = c->thresholds[i - 1], i--;
        if (i && c->thresholds[i - 1] == (uint32_t)v) {
            gr_conf_fail(e, "alerts.budget_thresholds: %ld is listed twice", v);
            return;
        }
        c->thresholds[i] = (uint32_t)v;
        p = *end ? end + 1 : end;
    }
}

void *gr_alerts_conf_parse(const cJSON *sec, const gr_config *cfg, gr_conf_err *e) {
    (void)cfg;
    if (!sec || cJSON_IsNull(sec)) return NULL;
    alerts_conf *c = gr_xcalloc(1, sizeof(*c));
    gr_conf_load_keys(sec, "alerts", gr_conf_alerts_keys, c, e);
    if (!e->failed && (!c->url || (strncmp(c->url, "http://", 7) && strncmp(c->url, "https://", 8))))
        gr_conf_fail(e, "alerts.url: required, an http:// or https:// URL");
    if (!e->failed && (!c->secret || strlen(c->secret) < 16))
        gr_conf_fail(e, "alerts.secret: required, at least 16 characters (the webhook signature's key)");
    if (!e->failed && c->retry_base_ms > c->retry_max_ms)
        gr_conf_fail(e, "alerts.retry_base_ms: %u is more than alerts.retry_max_ms (%u)", c->retry_base_ms,
                     c->retry_max_ms);
    if (!e->failed) parse_thresholds(c, e);
    if (e->failed) {
        conf_free(c);
        return NULL;
    }
    return c;
}

/* ---- state ---- */

typedef struct alert {
    char key[GR_ALERT_KEY_MAX], kind[GR_ALERT_KIND_MAX];
    char *body;
    int attempts;
    uint64_t due_ms; /* monotonic: next attempt */
    bool persisted;  /* its outbox row exists */
} alert;

/* Event keys raised by this process, so a key sitting above a threshold does
 * not build and queue the same event on every request (the outbox dedupes
 * across restarts and instances; this only saves the work). Open addressing,
 * cleared when full. */
#define SEEN_SLOTS 4096u

typedef struct alerts_state {
    alerts_conf conf; /* copied scalars; url and secret owned copies */
    char *url, *secret;
    gr_store *store; /* the sender's own handle; NULL = memory only */
    gr_ledger *ledger;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    alert *incoming; /* queue_max slots, under mu */
    size_t nincoming;
    uint64_t seen[SEEN_SLOTS]; /* hashes of raised event keys, under mu; 0 = empty */
    size_t nseen;
    bool stop;
    pthread_t thread;
    /* the sender's own */
    alert *pending; /* queue_max slots */
    size_t npending;
    bool ledger_episode;
    uint64_t next_ledger_ms;
    CURL *curl;
    char labels_exported[GR_METRICS_LABELS_CAP], labels_failed[GR_METRICS_LABELS_CAP],
        labels_dropped[GR_METRICS_LABELS_CAP], labels_dedup[GR_METRICS_LABELS_CAP];
} alerts_state;

static alerts_state *g_alerts; /* set before the workers start, cleared after they stopped */

static uint64_t mono_ms(void) { return gr_now_us() / 1000u; }

static uint64_t fnv1a(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h ? h : 1;
}

/* true when key was not raised before by this process (and, with add, records it); mu held. */
static bool seen_add(alerts_state *a, const char *key, bool add) {
    uint64_t h = fnv1a(key);
    if (a->nseen >= SEEN_SLOTS / 2) {
        memset(a->seen, 0, sizeof a->seen);
        a->nseen = 0;
    }
    for (size_t i = h % SEEN_SLOTS;; i = (i + 1) % SEEN_SLOTS) {
        if (a->seen[i] == h) return false;
        if (!a->seen[i]) {
            if (!add) return true;
            a->seen[i] = h;
            a->nseen++;
            return true;
        }
    }
}

static void iso_now(char out[32]) {
    uint64_t ms = gr_wall_ms();
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03uZ", (unsigned)(ms % 1000));
}

/* Queues one event (takes data: a cJSON object, the event's "data"). Any thread. */
static void raise_event(const char *key, const char *kind, cJSON *data) {
    alerts_state *a = g_alerts;
    if (!a) {
        cJSON_Delete(data);
        return;
    }
    pthread_mutex_lock(&a->mu);
    bool fresh = !a->stop && seen_add(a, key, true);
    bool full = fresh && a->nincoming == a->conf.queue_max;
    pthread_mutex_unlock(&a->mu);
    if (!fresh || full) {
        if (full) gr_metrics_add(GR_M_EXPORT_RECORDS, a->labels_dropped, 1);
        cJSON_Delete(data);
        return;
    }
    char ts[32];
    iso_now(ts);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", key);
    cJSON_AddStringToObject(o, "type", kind);
    cJSON_AddStringToObject(o, "created_at", ts);
    cJSON_AddStringToObject(o, "instance", gr_instance_id_hex());
    cJSON_AddItemToObject(o, "data", data);
    char *body = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    alert al = {.body = gr_xstrdup(body)};
    cJSON_free(body);
    gr_store_strlcpy(al.key, key, sizeof al.key);
    gr_store_strlcpy(al.kind, kind, sizeof al.kind);
    pthread_mutex_lock(&a->mu);
    if (a->nincoming < a->conf.queue_max && !a->stop) {
        a->incoming[a->nincoming++] = al;
        al.body = NULL;
    }
    pthread_mutex_unlock(&a->mu);
    if (al.body) { /* filled meanwhile */
        free(al.body);
        gr_metrics_add(GR_M_EXPORT_RECORDS, a->labels_dropped, 1);
        return;
    }
    pthread_cond_signal(&a->cv);
}

/* Whether key would be a new event (a peek: raise_event decides). Any thread. */
static bool is_new(const char *key) {
    alerts_state *a = g_alerts;
    pthread_mutex_lock(&a->mu);
    bool fresh = seen_add(a, key, false);
    pthread_mutex_unlock(&a->mu);
    return fresh;
}

/* ---- the events ---- */

static void usd(cJSON *o, const char *name, int64_t nusd) {
    char t[40];
    snprintf(t, sizeof t, "%s%lld.%09lld", nusd < 0 ? "-" : "", (long long)(llabs(nusd) / 1000000000),
             (long long)(llabs(nusd) % 1000000000));
    cJSON_AddStringToObject(o, name, t);
}

/* One budget of a key: an event per configured threshold its spend reached. */
static void budget_check(const gr_request *r, const char *which, const char *period, int64_t spent, int64_t budget) {
    if (budget <= 0 || spent <= 0) return;
    const alerts_conf *c = &g_alerts->conf;
    const char *id = gr_keys_id(r->key);
    for (size_t i = 0; i < c->nthresholds; i++) {
        /* spent / budget >= t / 100, in integers */
        if ((__int128)spent * 100 < (__int128)budget * c->thresholds[i]) break;
        char key[GR_ALERT_KEY_MAX];
        snprintf(key, sizeof key, "budget:%s:%s:%s:%u", id, which, period, c->thresholds[i]);
        if (!is_new(key)) continue;
        gr_key_info info; /* the key's name: only when an event is raised */
        gr_keys_info(r->key, (int64_t)gr_wall_ms(), &info);
        cJSON *d = cJSON_CreateObject();
        cJSON_AddStringToObject(d, "key_id", id);
        if (info.rec.name) cJSON_AddStringToObject(d, "key_name", info.rec.name);
        gr_key_record_dispose(&info.rec);
        cJSON_AddStringToObject(d, "budget", which);
        cJSON_AddStringToObject(d, "period", period);
        cJSON_AddNumberToObject(d, "threshold_pct", c->thresholds[i]);
        usd(d, "spent_usd", spent);
        usd(d, "budget_usd", budget);
        raise_event(key, "budget.threshold", d);
    }
}

/* After GR_FINISH_SETTLE: the key's spend includes this request. */
static void on_finish(gr_request *r, gr_finish_info *f) {
    (void)f;
    if (!g_alerts || !r->key || r->cost_nusd <= 0) return;
    gr_key_limits l;
    gr_keys_limits(r->key, &l);
    char day[11], month[8];
    gr_store_utc_date((int64_t)gr_wall_ms(), day);
    memcpy(month, day, 7);
    month[7] = '\0';
    budget_check(r, "total", "all", l.spent_total_nusd, l.budget_total_nusd);
    budget_check(r, "daily", day, l.spent_day_nusd, l.budget_daily_nusd);
    budget_check(r, "monthly", month, l.spent_month_nusd, l.budget_monthly_nusd);
}

static void on_ops_event(gr_ops_event_kind kind, const char *subject, const char *detail) {
    char key[GR_ALERT_KEY_MAX];
    cJSON *d = cJSON_CreateObject();
    const char *type;
    switch (kind) {
    case GR_OPS_BREAKER_OPENED:
    case GR_OPS_BREAKER_CLOSED: {
        static _Atomic uint64_t transitions; /* one key per transition of this process */
        uint64_t n = ++transitions;
        bool open = kind == GR_OPS_BREAKER_OPENED;
        type = open ? "breaker.opened" : "breaker.closed";
        snprintf(key, sizeof key, "breaker:%s:%s:%s:%llu", subject ? subject : "", open ? "opened" : "closed",
                 gr_instance_id_hex(), (unsigned long long)n);
        cJSON_AddStringToObject(d, "deployment", subject ? subject : "");
        break;
    }
    case GR_OPS_SETTLE_FAILED:
    default:
        type = "x402.settlement_failed";
        snprintf(key, sizeof key, "settlement:%s", subject ? subject : "");
        cJSON_AddStringToObject(d, "request_id", subject ? subject : "");
        cJSON_AddStringToObject(d, "detail", detail ? detail : "");
        break;
    }
    raise_event(key, type, d);
}

/* The sender's poll of the ledger writer. */
static void ledger_check(alerts_state *a, uint64_t now) {
    if (!a->ledger || now < a->next_ledger_ms) return;
    a->next_ledger_ms = now + a->conf.ledger_check_ms;
    gr_ledger_stats st;
    gr_ledger_stats_get(a->ledger, &st);
    /* rows accepted and not written yet: queued, or in the batch the writer is retrying */
    uint64_t done = st.written + st.failed, backlog = st.submitted > done ? st.submitted - done : 0;
    if (!a->ledger_episode && backlog >= a->conf.ledger_behind_rows) {
        a->ledger_episode = true;
        char key[GR_ALERT_KEY_MAX];
        snprintf(key, sizeof key, "ledger_behind:%s:%llu", gr_instance_id_hex(), (unsigned long long)gr_wall_ms());
        cJSON *d = cJSON_CreateObject();
        cJSON_AddNumberToObject(d, "backlog", (double)backlog);
        cJSON_AddNumberToObject(d, "depth", (double)st.depth);
        cJSON_AddNumberToObject(d, "capacity", (double)st.capacity);
        cJSON_AddNumberToObject(d, "bound", a->conf.ledger_behind_rows);
        cJSON_AddNumberToObject(d, "dropped", (double)st.dropped);
        raise_event(key, "ledger.behind", d);
    } else if (a->ledger_episode && backlog < a->conf.ledger_behind_rows / 2) {
        a->ledger_episode = false;
    }
}

/* ---- delivery ---- */

/* "t=<unix>,v1=<hex HMAC-SHA256(secret, t "." body)>" */
static void sign(const alerts_state *a, const char *body, char *out, size_t cap) {
    char t[24];
    int tl = snprintf(t, sizeof t, "%llu", (unsigned long long)(gr_wall_ms() / 1000));
    size_t blen = strlen(body);
    char *msg = gr_xmalloc((size_t)tl + 1 + blen);
    memcpy(msg, t, (size_t)tl);
    msg[tl] = '.';
    memcpy(msg + tl + 1, body, blen);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    HMAC(EVP_sha256(), a->secret, (int)strlen(a->secret), (const unsigned char *)msg, (size_t)tl + 1 + blen, mac,
         &maclen);
    free(msg);
    size_t o = (size_t)snprintf(out, cap, "X-GateRouter-Signature: t=%s,v1=", t);
    for (unsigned i = 0; i < maclen && o + 3 <= cap; i++) o += (size_t)snprintf(out + o, cap - o, "%02x", mac[i]);
}

static bool post(alerts_state *a, const alert *al) {
    const gr_curl_api *cu = gr_curl();
    char sig[160], id[GR_ALERT_KEY_MAX + 32], kind[GR_ALERT_KIND_MAX + 32];
    sign(a, al->body, sig, sizeof sig);
    snprintf(id, sizeof id, "X-GateRouter-Event-Id: %s", al->key);
    snprintf(kind, sizeof kind, "X-GateRouter-Event: %s", al->kind);
    struct curl_slist *h = cu->slist_append(NULL, "Content-Type: application/json");
    h = cu->slist_append(h, "Expect:");
    h = cu->slist_append(h, sig);
    h = cu->slist_append(h, id);
    h = cu->slist_append(h, kind);
    long status;
    CURLcode rc = gr_http_post(a->curl, a->url, h, al->body, strlen(al->body), a->conf.timeout_ms, &status);
    cu->slist_free_all(h);
    bool ok = rc == CURLE_OK && status >= 200 && status < 300;
    if (rc != CURLE_OK)
        GR_WARN("alerts: %s %s: attempt %d failed (%s)", al->kind, al->key, al->attempts + 1, cu->easy_strerror(rc));
    else if (!ok)
        GR_WARN("alerts: %s %s: attempt %d failed (HTTP %ld)", al->kind, al->key, al->attempts + 1, status);
    return ok;
}

/* Wait before attempt n+1 (n >= 1 made): base * 2^(n-1), capped, drawn in [half, full]. */
static uint64_t backoff_ms(const alerts_conf *c, int n) {
    uint64_t d = c->retry_base_ms;
    for (int i = 1; i < n && d < c->retry_max_ms; i++) d *= 2;
    if (d > c->retry_max_ms) d = c->retry_max_ms;
    uint32_t r = 0;
    if (RAND_bytes((unsigned char *)&r, sizeof r) != 1) r = (uint32_t)gr_now_us();
    return d - (d / 2) * (r % 1001u) / 1000u;
}

static void note_store(alerts_state *a, gr_status rc, const char *what, const char *key) {
    (void)a;
    if (rc != GR_OK) GR_WARN("alerts: store: %s %s failed (%s)", what, key, gr_status_str(rc));
}

static void add_pending(alerts_state *a, alert al) {
    if (a->npending == a->conf.queue_max) {
        free(al.body);
        gr_metrics_add(GR_M_EXPORT_RECORDS, a->labels_dropped, 1);
        return;
    }
    a->pending[a->npending++] = al;
}

/* New events: into the outbox (a key already there is not sent again), then pending. */
static void admit(alerts_state *a, alert *batch, size_t n, uint64_t now) {
    for (size_t i = 0; i < n; i++) {
        alert al = batch[i];
        if (a->npending == a->conf.queue_max) { /* no room to retry it: dropped before it is saved */
            free(al.body);
            gr_metrics_add(GR_M_EXPORT_RECORDS, a->labels_dropped, 1);
            continue;
        }
        bool inserted = true;
        if (a->store) {
            gr_status rc = gr_store_alert_put(a->store, al.key, al.kind, al.body, (int64_t)gr_wall_ms(), &inserted);
            note_store(a, rc, "saving", al.key);
            al.persisted = rc == GR_OK;
            if (rc != GR_OK) inserted = true; /* deliver from memory rather than lose it */
        }
        if (!inserted) {
            GR_DEBUG("alerts: %s raised before; not sent again", al.key);
            gr_metrics_add(GR_M_EXPORT_RECORDS, a->labels_dedup, 1);
            free(al.body);
            continue;
        }
        al.due_ms = now;
        add_pending(a, al);
    }
}

static bool stopping(alerts_state *a) {
    pthread_mutex_lock(&a->mu);
    bool stop = a->stop;
    pthread_mutex_unlock(&a->mu);
    return stop;
}

static void deliver_due(alerts_state *a) {
    for (size_t i = 0; i < a->npending;) {
        alert *al = &a->pending[i];
        if (stopping(a)) return; /* shutdown waits for one POST at most; the outbox keeps the rest */
        if (al->due_ms > mono_ms()) {
            i++;
            continue;
        }
        bool ok = post(a, al);
        al->attempts++;
        gr_alert_state st = ok ? GR_ALERT_DELIVERED
                               : (uint32_t)al->attempts >= a->conf.max_attempts ? GR_ALERT_GAVE_UP : GR_ALERT_PENDING;
        if (a->store && !al->persisted) { /* the store failed when it was raised: try again */
            bool inserted;
            al->persisted = gr_store_alert_put(a->store, al->key, al->kind, al->body, (int64_t)gr_wall_ms(),
                                               &inserted) == GR_OK;
        }
        if (a->store && al->persisted)
            note_store(a, gr_store_alert_done(a->store, al->key, st, al->attempts, (int64_t)gr_wall_ms()), "updating",
                       al->key);
        if (st == GR_ALERT_PENDING) {
            al->due_ms = mono_ms() + backoff_ms(&a->conf, al->attempts);
            i++;
            continue;
        }
        if (ok) gr_metrics_add(GR_M_EXPORT_RECORDS, a->labels_exported, 1);
        else {
            gr_metrics_add(GR_M_EXPORT_RECORDS, a->labels_failed, 1);
            GR_ERROR("alerts: %s %s given up after %d attempts", al->kind, al->key, al->attempts);
        }
        free(al->body);
        a->pending[i] = a->pending[--a->npending];
    }
}

/* Alerts a previous run left pending. */
static void load_pending(alerts_state *a) {
    if (!a->store) return;
    gr_alert_rec *recs = NULL;
    size_t n = 0;
    gr_status rc = gr_store_alert_pending(a->store, a->conf.queue_max, &recs, &n);
    note_store(a, rc, "loading", "pending alerts");
    uint64_t now = mono_ms();
    for (size_t i = 0; i < n; i++) {
        alert al = {.body = recs[i].body, .attempts = recs[i].attempts, .due_ms = now, .persisted = true};
        recs[i].body = NULL;
        gr_store_strlcpy(al.key, recs[i].event_key, sizeof al.key);
        gr_store_strlcpy(al.kind, recs[i].kind, sizeof al.kind);
        add_pending(a, al);
    }
    if (n) GR_INFO("alerts: %zu alert(s) left pending by a previous run", n);
    gr_alert_recs_free(recs, n);
}

static void *sender_main(void *arg) {
    alerts_state *a = arg;
    alert *batch = gr_xcalloc(a->conf.queue_max, sizeof *batch);
    load_pending(a);
    pthread_mutex_lock(&a->mu);
    while (!a->stop) {
        uint64_t now = mono_ms(), wake = a->ledger ? a->next_ledger_ms : now + 60000;
        for (size_t i = 0; i < a->npending; i++)
            if (a->pending[i].due_ms < wake) wake = a->pending[i].due_ms;
        if (!a->nincoming && wake > now) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            uint64_t wait_ms = wake - now;
            ts.tv_sec += (time_t)(wait_ms / 1000);
            ts.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
            if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
            pthread_cond_timedwait(&a->cv, &a->mu, &ts);
            if (a->stop) break;
        }
        size_t n = a->nincoming;
        memcpy(batch, a->incoming, n * sizeof *batch);
        a->nincoming = 0;
        pthread_mutex_unlock(&a->mu);
        now = mono_ms();
        admit(a, batch, n, now);
        ledger_check(a, now);
        deliver_due(a);
        pthread_mutex_lock(&a->mu);
    }
    pthread_mutex_unlock(&a->mu);
    free(batch);
    return NULL;
}

/* ---- API ---- */

void gr_alerts_register(void) { gr_pipeline_on_finish(GR_FINISH_LOG, on_finish); }

static void labels(char *buf, const char *result) {
    gr_metrics_label(buf, gr_metrics_label(buf, 0, GR_METRICS_LABELS_CAP, "sink", "alerts"), GR_METRICS_LABELS_CAP,
                     "result", result);
}

gr_status gr_alerts_start(const gr_config *cfg, const char *store_url, gr_ledger *ledger, char *err, size_t errlen) {
    const alerts_conf *c = cfg->section[GR_CONF_SEC_ALERTS];
    if (!c) return GR_OK;
    if (gr_curl_load(err, errlen) != GR_OK) return GR_ERR_UNSUPPORTED;
    alerts_state *a = gr_xcalloc(1, sizeof *a);
    a->conf = *c;
    a->conf.url = a->conf.secret = a->conf.thresholds_text = NULL;
    a->url = gr_xstrdup(c->url);
    a->secret = gr_xstrdup(c->secret);
    a->ledger = ledger;
    char serr[256];
    if (store_url && gr_store_open(store_url, &a->store, serr, sizeof serr) != GR_OK) {
        GR_WARN("alerts: cannot open the store (%s): alerts are kept in memory only", serr);
        a->store = NULL;
    }
    a->incoming = gr_xcalloc(c->queue_max, sizeof *a->incoming);
    a->pending = gr_xcalloc(c->queue_max, sizeof *a->pending);
    a->curl = gr_curl()->easy_init();
    labels(a->labels_exported, "exported");
    labels(a->labels_failed, "failed");
    labels(a->labels_dropped, "dropped");
    labels(a->labels_dedup, "deduplicated");
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->cv, NULL);
    g_alerts = a;
    gr_ops_event_listen(on_ops_event);
    sigset_t set, old; /* the thread must not take process signals (the main loop's) */
    sigfillset(&set);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    pthread_create(&a->thread, NULL, sender_main, a);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    GR_INFO("alerts: to %s (budget thresholds %s%%, ledger behind at %u rows)", c->url, c->thresholds_text,
            c->ledger_behind_rows);
    return GR_OK;
}

void gr_alerts_stop(void) {
    alerts_state *a = g_alerts;
    if (!a) return;
    gr_ops_event_listen(NULL);
    pthread_mutex_lock(&a->mu);
    a->stop = true;
    pthread_mutex_unlock(&a->mu);
    pthread_cond_signal(&a->cv);
    pthread_join(a->thread, NULL);
    g_alerts = NULL;
    /* what is not delivered stays pending in the outbox for the next start */
    for (size_t i = 0; i < a->nincoming; i++) {
        alert *al = &a->incoming[i];
        bool inserted;
        if (a->store) note_store(a, gr_store_alert_put(a->store, al->key, al->kind, al->body, (int64_t)gr_wall_ms(),
                                                       &inserted), "saving", al->key);
        free(al->body);
    }
    size_t unsaved = 0;
    for (size_t i = 0; i < a->npending; i++) {
        unsaved += !a->pending[i].persisted;
        free(a->pending[i].body);
    }
    if (unsaved) GR_WARN("alerts: %zu undelivered alert(s) could not be saved in the store and are lost", unsaved);
    gr_curl()->easy_cleanup(a->curl);
    gr_store_close(a->store);
    pthread_mutex_destroy(&a->mu);
    pthread_cond_destroy(&a->cv);
    free(a->incoming), free(a->pending), free(a->url), free(a->secret);
    free(a);
}
