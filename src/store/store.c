/* store.c — store URL dispatch (sqlite:// and, when built with libpq,
 * postgres://), the `gaterouter migrate` command, key record helpers and UTC
 * period arithmetic shared by every store backend. */
#include "store.h"

#include "config.h"
#include "store_exec.h"

#include <cjson/cJSON.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- records ---- */

void gr_key_record_init(gr_key_record *k) {
    memset(k, 0, sizeof *k);
    k->budget_total_nusd = -1;
    k->budget_daily_nusd = -1;
    k->budget_monthly_nusd = -1;
}

void gr_key_record_dispose(gr_key_record *k) {
    if (!k) return;
    free(k->name);
    free(k->models_json);
    free(k->metadata_json);
    k->name = k->models_json = k->metadata_json = NULL;
}

static char *dup_or_null(const char *s) { return s ? gr_xstrdup(s) : NULL; }

void gr_key_record_copy(gr_key_record *dst, const gr_key_record *src) {
    *dst = *src;
    dst->name = dup_or_null(src->name);
    dst->models_json = dup_or_null(src->models_json);
    dst->metadata_json = dup_or_null(src->metadata_json);
}

void gr_key_records_free(gr_key_record *arr, size_t n) {
    if (!arr) return;
    for (size_t i = 0; i < n; i++) gr_key_record_dispose(&arr[i]);
    free(arr);
}

void gr_alert_recs_free(gr_alert_rec *arr, size_t n) {
    if (!arr) return;
    for (size_t i = 0; i < n; i++) free(arr[i].body);
    free(arr);
}

void gr_store_learned_apply(gr_learned_rec *rec, const double mix[GR_LEARN_SKILLS], double score, double predicted,
                            int sign) {
    double total = 0.0;
    for (int k = 0; k < GR_LEARN_SKILLS; k++) total += mix[k];
    if (!(total > 0.0)) return; /* not attributable: stored, learns nothing */
    for (int k = 0; k < GR_LEARN_SKILLS; k++) {
        rec->s[k] += sign * mix[k] * score;
        rec->f[k] += sign * mix[k] * (1.0 - score);
        rec->e[k] += sign * mix[k] * predicted;
    }
    rec->ratings += sign;
}

size_t gr_store_strlcpy(char *dst, const char *src, size_t cap) {
    if (cap == 0) return 0;
    size_t n = src ? strlen(src) : 0;
    if (n >= cap) n = cap - 1;
    if (n) memcpy(dst, src, n);
    dst[n] = '\0';
    return n;
}

/* ---- URL dispatch ---- */

gr_status gr_store_open(const char *url, gr_store **out, char *err, size_t errlen) {
    *out = NULL;
    if (!url || !*url) url = GR_STORE_DEFAULT_URL;
    static const char sqlite_scheme[] = "sqlite://";
    if (strncmp(url, sqlite_scheme, sizeof sqlite_scheme - 1) == 0) {
        const char *rest = url + sizeof sqlite_scheme - 1;
        const char *q = strchr(rest, '?');
        char *loc = q ? gr_xstrndup(rest, (size_t)(q - rest)) : gr_xstrdup(rest);
        gr_status rc = GR_ERR_INVALID;
        if (!*loc) snprintf(err, errlen, "store: empty sqlite path in '%s'", url);
        else rc = gr_store_sqlite_open(loc, q ? q + 1 : "", out, err, errlen);
        free(loc);
        return rc;
    }
    if (strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0) {
#ifdef GR_HAVE_PG
        return gr_store_pg_open(url, out, err, errlen);
#else
        snprintf(err, errlen, "store: this binary was built without PostgreSQL (libpq)");
        return GR_ERR_UNSUPPORTED;
#endif
    }
    char safe[256];
    gr_store_url_redact(url, safe, sizeof safe);
    snprintf(err, errlen, "store: unknown URL scheme in '%s' (want sqlite://... or postgres://...)",
             safe);
    return GR_ERR_INVALID;
}

static void put_n(char *out, size_t outlen, size_t *o, const char *s, size_t n) {
    for (size_t i = 0; i < n && *o + 1 < outlen; i++) out[(*o)++] = s[i];
}

/* Copies url with the password (user:PASSWORD@ and ?password=) replaced by
 * "***", for messages and logs. */
void gr_store_url_redact(const char *url, char *out, size_t outlen) {
    if (outlen == 0) return;
    out[0] = '\0';
    if (!url) return;
    size_t o = 0;
    const char *sep = strstr(url, "://");
    const char *auth = sep ? sep + 3 : NULL;
    const char *auth_end = auth ? auth + strcspn(auth, "/?#") : NULL;
    const char *at = NULL, *colon = NULL;
    for (const char *c = auth; c && c < auth_end; c++)
        if (*c == '@') at = c; /* the last '@' ends the user info */
    for (const char *c = auth; at && c < at; c++)
        if (*c == ':') {
            colon = c;
            break;
        }
    const char *query = strchr(url, '?');
    const char *p = url;
    while (*p) {
        if (colon && p == colon + 1) {
            put_n(out, outlen, &o, "***", 3);
            p = at;
        } else if (query && p > query && (p[-1] == '?' || p[-1] == '&') &&
                   strncmp(p, "password=", 9) == 0) {
            put_n(out, outlen, &o, "password=***", 12);
            p += 9;
            p += strcspn(p, "&#");
        } else {
            put_n(out, outlen, &o, p, 1);
            p++;
        }
    }
    out[o] = '\0';
}

int gr_store_migrate_cli(const char *url) {
    if (!url || !*url) url = GR_STORE_DEFAULT_URL;
    char safe[256], err[512];
    gr_store_url_redact(url, safe, sizeof safe);
    gr_store *s = NULL;
    gr_status rc = gr_store_open(url, &s, err, sizeof err);
    if (rc) {
        fprintf(stderr, "gaterouter migrate: %s\n", err);
        return 1;
    }
    int v = 0;
    rc = gr_store_migrate(s, &v);
    gr_store_close(s);
    if (rc) {
        fprintf(stderr, "gaterouter migrate: %s: schema migration failed: %s (see the messages above)\n",
                safe, gr_status_str(rc));
        return 1;
    }
    printf("gaterouter migrate: %s: schema at version %d\n", safe, v);
    return 0;
}

gr_status gr_store_open_migrated(const char *url, gr_store **out, char *err, size_t errlen) {
    gr_status rc = gr_store_open(url, out, err, errlen);
    if (rc) return rc;
    int v = 0;
    rc = gr_store_migrate(*out, &v);
    if (rc) {
        snprintf(err, errlen, "store: schema migration failed: %s", gr_status_str(rc));
        gr_store_close(*out);
        *out = NULL;
    }
    return rc;
}

void gr_store_close(gr_store *s) {
    if (s) s->ops->close(s);
}

/* ---- the `store:` config section ---- */

const gr_conf_key gr_conf_store_keys[] = {
    {"url", GR_CONF_STRING, GR_CONF_F(gr_store_conf, url), 0, 0, GR_STORE_DEFAULT_URL, NULL,
     "sqlite://PATH, sqlite://:memory: or postgres://user:pass@host:port/db. Restart."},
    {"threads", GR_CONF_COUNT, GR_CONF_F(gr_store_conf, threads), 1, 64, "2", NULL, "store executor threads"},
    {"queue_max", GR_CONF_COUNT, GR_CONF_F(gr_store_conf, queue_max), 1, 1000000, "1024", NULL,
     "store calls waiting for a thread beyond which new ones get 503"},
    {"op_timeout_ms", GR_CONF_MS, GR_CONF_F(gr_store_conf, op_timeout_ms), 1, 600000, "2000", NULL,
     "deadline of one store call as seen by a request"},
    GR_CONF_END,
};

static const gr_store_conf default_conf = {GR_STORE_DEFAULT_URL, GR_STORE_EXEC_DEFAULT_THREADS,
                                           GR_STORE_EXEC_DEFAULT_QUEUE_MAX, GR_STORE_EXEC_DEFAULT_OP_TIMEOUT_MS};

void *gr_store_conf_parse(const cJSON *sec, const gr_config *cfg, gr_conf_err *e) {
    (void)cfg;
    gr_store_conf *c = gr_xcalloc(1, sizeof *c);
    gr_conf_load_keys_or_url(sec, "store", gr_conf_store_keys, c, e); /* or store: "sqlite://..." */
    if (!e->failed && !c->url[0]) {
        free(c->url);
        c->url = gr_xstrdup(GR_STORE_DEFAULT_URL);
    }
    if (!e->failed) {
        const char *u = c->url;
        char safe[256];
        gr_store_url_redact(u, safe, sizeof safe);
        if (!strncmp(u, "sqlite://", 9)) {
            if (!u[9] || u[9] == '?') gr_conf_fail(e, "store.url: empty sqlite path in '%s'", safe);
        } else if (!strncmp(u, "postgres://", 11) || !strncmp(u, "postgresql://", 13)) {
#ifndef GR_HAVE_PG
            gr_conf_fail(e, "store.url: this binary was built without PostgreSQL (libpq)");
#endif
        } else {
            gr_conf_fail(e, "store.url: unknown URL scheme in '%s' (want sqlite://... or postgres://...)", safe);
        }
        /* A private in-memory SQLite database exists once per connection: one
         * thread, so every job sees the same tables. */
        if (strstr(u, ":memory:")) c->threads = 1;
    }
    if (e->failed) {
        gr_store_conf_free(c);
        return NULL;
    }
    return c;
}

void gr_store_conf_free(void *conf) {
    gr_store_conf *c = conf;
    if (!c) return;
    free(c->url);
    free(c);
}

const gr_store_conf *gr_store_conf_of(const gr_config *cfg) {
    const gr_store_conf *c = cfg ? cfg->section[GR_CONF_SEC_STORE] : NULL;
    return c ? c : &default_conf;
}

const char *gr_store_url(const gr_config *cfg) { return gr_store_conf_of(cfg)->url; }

/* ---- UTC calendar (H. Hinnant's civil-from-days; exact, no time zone) ---- */

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

int64_t gr_store_utc_day(int64_t ms) {
    int64_t d = ms / 86400000;
    if (ms % 86400000 < 0) d--;
    return d;
}

int64_t gr_store_utc_month(int64_t ms) {
    int64_t y;
    unsigned m, d;
    civil_from_days(gr_store_utc_day(ms), &y, &m, &d);
    return y * 12 + (int64_t)(m - 1);
}

int64_t gr_store_utc_month_start_ms(int64_t month) {
    int64_t y = month / 12, mi = month % 12;
    if (mi < 0) { mi += 12; y--; }
    return days_from_civil(y, (unsigned)mi + 1, 1) * 86400000;
}

void gr_store_utc_date(int64_t ms, char out[11]) {
    int64_t y;
    unsigned m, d;
    civil_from_days(gr_store_utc_day(ms), &y, &m, &d);
    snprintf(out, 11, "%04u-%02u-%02u", (unsigned)(((y % 10000) + 10000) % 10000), m % 100u,
             d % 100u);
}

/* ---- reachability ---- */

static _Atomic bool g_store_down;

void gr_store_health_note(gr_status rc) {
    if (rc == GR_ERR_UNAVAILABLE) atomic_store_explicit(&g_store_down, true, memory_order_relaxed);
    else if (rc == GR_OK) atomic_store_explicit(&g_store_down, false, memory_order_relaxed);
}

bool gr_store_health_up(void) { return !atomic_load_explicit(&g_store_down, memory_order_relaxed); }
