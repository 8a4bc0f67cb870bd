/* admin_report.c — the console's reports from raw ledger rows (see
 * admin_report.h). */
#include "admin_report.h"

#include "csv.h"
#include "meter.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static const char CT_JSON[] = "application/json";
static const char CT_CSV[] = "text/csv; charset=utf-8";

/* ---- replies ---- */

static int fail(char **out, size_t *len, int status, const char *type, const char *code, const char *param,
                const char *fmt, ...) GR_PRINTF(7, 8);
static int fail(char **out, size_t *len, int status, const char *type, const char *code, const char *param,
                const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    gr_admin_vfail(out, status, type, code, param, fmt, ap);
    va_end(ap);
    *len = strlen(*out);
    return status;
}

static int reply_json(char **out, size_t *len, cJSON *root) {
    *out = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    *len = strlen(*out);
    return 200;
}

static void csv_usd(gr_csv *c, int64_t nusd) {
    char buf[GR_METER_USD_BUFSZ];
    gr_meter_format_usd(nusd, buf, sizeof buf);
    gr_csv_raw(c, buf);
}

/* ---- the request: who asks, filters ---- */

typedef struct report_req {
    gr_admin_ctx *ctx;
    const char *query;
    const char *scope;      /* NULL = admin; else the caller's own key id */
    char key_id[GR_KEY_ID_MAX];
    char model[128], provider[64], status[8];
    gr_ledger_scan scan;
    bool csv;
    int64_t now;
} report_req;

/* Fills the filters common to every report; 0 = fine, else the status of
 * the error written to *out. */
static int parse_filters(report_req *q, char **out, size_t *len) {
    char buf[128];
    gr_admin_query_get(q->query, "from", buf, sizeof buf);
    if (gr_admin_parse_time(buf, false, &q->scan.from_ms))
        return fail(out, len, 400, "invalid_request_error", "invalid_time", "from",
                    "from must be unix seconds/ms or YYYY-MM-DD.");
    gr_admin_query_get(q->query, "to", buf, sizeof buf);
    if (gr_admin_parse_time(buf, true, &q->scan.to_ms))
        return fail(out, len, 400, "invalid_request_error", "invalid_time", "to",
                    "to must be unix seconds/ms or YYYY-MM-DD (inclusive day).");
    gr_admin_query_get(q->query, "key_id", q->key_id, sizeof q->key_id);
    if (q->scope && q->key_id[0] && strcmp(q->key_id, q->scope) != 0)
        return fail(out, len, 403, "permission_error", "not_your_key", "key_id",
                    "A virtual key can read its own usage only.");
    if (q->scope) gr_store_strlcpy(q->key_id, q->scope, sizeof q->key_id);
    q->scan.key_id = q->key_id[0] ? q->key_id : NULL;
    gr_admin_query_get(q->query, "model", q->model, sizeof q->model);
    gr_admin_query_get(q->query, "provider", q->provider, sizeof q->provider);
    gr_admin_query_get(q->query, "status", q->status, sizeof q->status);
    if (q->status[0] && strcmp(q->status, "ok") && strcmp(q->status, "error"))
        return fail(out, len, 400, "invalid_request_error", "invalid_status", "status", "status must be ok or error.");
    gr_admin_query_get(q->query, "format", buf, sizeof buf);
    if (buf[0] && strcmp(buf, "json") && strcmp(buf, "csv"))
        return fail(out, len, 400, "invalid_request_error", "invalid_format", "format", "format must be json or csv.");
    q->csv = !strcmp(buf, "csv");
    q->scan.limit = q->ctx->report_max_rows > 0 ? q->ctx->report_max_rows : GR_ADMIN_REPORT_DEFAULT_MAX_ROWS;
    return 0;
}

static const char *row_model(const gr_ledger_row *r) {
    return r->model_served[0] ? r->model_served : r->model_asked[0] ? r->model_asked : "(none)";
}

static bool row_passes(const report_req *q, const gr_ledger_row *r) {
    if (q->model[0] && strcmp(q->model, r->model_served) && strcmp(q->model, r->model_asked)) return false;
    if (q->provider[0] && strcmp(q->provider, r->provider)) return false;
    if (q->status[0] == 'o' && r->status >= 400) return false;
    if (q->status[0] == 'e' && r->status < 400) return false;
    return true;
}

/* ---- sums per group: a small hash table keyed by text ---- */

typedef struct sums {
    int64_t requests, errors, tokens_in, tokens_out, tokens_cached, cost_nusd;
} sums;

static void sums_add(sums *s, const gr_ledger_row *r) {
    s->requests++;
    s->errors += r->status >= 400;
    s->tokens_in += r->tokens_in;
    s->tokens_out += r->tokens_out;
    s->tokens_cached += r->tokens_cached;
    s->cost_nusd += r->cost_nusd;
}

typedef struct group {
    char *name; /* the dimensions' values joined by '\x1f' */
    sums s;
    int64_t *series; /* per time bucket (timeseries only) */
    void *extra;     /* a report's own per-group data */
} group;

typedef struct group_map {
    group *g;        /* insertion order */
    size_t n, cap;
    size_t *slot;    /* index + 1; 0 = empty */
    size_t nslots;
    uint64_t seed;   /* per map: names are attacker-chosen (model asked) */
} group_map;

static void map_init(group_map *m) {
    memset(m, 0, sizeof *m);
    m->seed = GR_FNV1A64_BASIS ^ (gr_now_us() * 0x9e3779b97f4a7c15ull) ^ (uint64_t)(uintptr_t)m;
}

static size_t map_hash(const group_map *m, const char *name) {
    return (size_t)gr_fnv1a64(m->seed, name, strlen(name));
}

static group *map_get(group_map *m, const char *name) {
    if ((m->n + 1) * 2 > m->nslots) {
        free(m->slot);
        m->nslots = m->nslots ? m->nslots * 2 : 64;
        m->slot = gr_xcalloc(m->nslots, sizeof *m->slot);
        for (size_t i = 0; i < m->n; i++) {
            size_t h = map_hash(m, m->g[i].name) & (m->nslots - 1);
            while (m->slot[h]) h = (h + 1) & (m->nslots - 1);
            m->slot[h] = i + 1;
        }
    }
    size_t h = map_hash(m, name) & (m->nslots - 1);
    while (m->slot[h]) {
        group *g = &m->g[m->slot[h] - 1];
        if (!strcmp(g->name, name)) return g;
        h = (h + 1) & (m->nslots - 1);
    }
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 32;
        m->g = gr_xrealloc(m->g, m->cap * sizeof *m->g);
    }
    group *g = &m->g[m->n];
    memset(g, 0, sizeof *g);
    g->name = gr_xstrdup(name);
    m->slot[h] = ++m->n;
    return g;
}

static void map_free(group_map *m) {
    for (size_t i = 0; i < m->n; i++) {
        free(m->g[i].name);
        free(m->g[i].series);
        free(m->g[i].extra);
    }
    free(m->g);
    free(m->slot);
}

static int cmp_group_name(const void *a, const void *b) {
    return strcmp(((const group *)a)->name, ((const group *)b)->name);
}

static int cmp_group_cost(const void *a, const void *b) {
    const group *x = a, *y = b;
    if (x->s.cost_nusd != y->s.cost_nusd) return x->s.cost_nusd < y->s.cost_nusd ? 1 : -1;
    if (x->s.requests != y->s.requests) return x->s.requests < y->s.requests ? 1 : -1;
    return strcmp(x->name, y->name);
}

/* The map sorted (its hash slots are then stale: no more map_get). */
static void map_sort(group_map *m, int (*cmp)(const void *, const void *)) {
    if (m->n) qsort(m->g, m->n, sizeof *m->g, cmp);
}

/* ---- the scan ---- */

typedef struct scan_state {
    report_req *q;
    bool (*row)(struct scan_state *st, const gr_ledger_row *r);
    int64_t scanned;
    void *report;
} scan_state;

static bool scan_one(const gr_ledger_row *r, void *arg) {
    scan_state *st = arg;
    st->scanned++;
    if (!row_passes(st->q, r)) return true;
    return st->row(st, r);
}

/* Runs the scan; 0 = done, else the status of the error in *out. */
static int scan(report_req *q, scan_state *st, char **out, size_t *len) {
    st->q = q;
    gr_status rc = gr_store_ledger_scan(q->ctx->store, &q->scan, scan_one, st);
    if (rc) {
        *out = NULL;
        int status = gr_admin_store_error(out, rc);
        *len = strlen(*out);
        return status;
    }
    gr_store_health_note(GR_OK);
    return 0;
}

static void add_scan_info(cJSON *root, const report_req *q, const scan_state *st) {
    if (q->scan.from_ms) cJSON_AddNumberToObject(root, "from", (double)q->scan.from_ms);
    else cJSON_AddNullToObject(root, "from");
    if (q->scan.to_ms) cJSON_AddNumberToObject(root, "to", (double)q->scan.to_ms);
    else cJSON_AddNullToObject(root, "to");
    cJSON_AddNumberToObject(root, "rows_read", (double)st->scanned);
    cJSON_AddBoolToObject(root, "truncated", st->scanned >= q->scan.limit);
}

/* ---- /admin/report/usage ---- */

enum { DIM_KEY, DIM_MODEL, DIM_PROVIDER, DIM_DAY, NDIMS };
static const char *const dim_names[NDIMS] = {"key", "model", "provider", "day"};

typedef struct usage_report {
    int dims[2];
    int ndims;
    group_map map;
} usage_report;

static void dim_value(int dim, const gr_ledger_row *r, char *buf, size_t cap) {
    switch (dim) {
    case DIM_KEY:
        if (r->key_id[0]) snprintf(buf, cap, "%s", r->key_id);
        else if (r->payer[0]) snprintf(buf, cap, "payer:%s", r->payer);
        else snprintf(buf, cap, "(none)");
        break;
    case DIM_MODEL: snprintf(buf, cap, "%s", row_model(r)); break;
    case DIM_PROVIDER: snprintf(buf, cap, "%s", r->provider[0] ? r->provider : "(none)"); break;
    default: {
        char d[11];
        gr_store_utc_date(r->ts_ms, d);
        snprintf(buf, cap, "%s", d);
    }
    }
}

static bool usage_row(scan_state *st, const gr_ledger_row *r) {
    usage_report *u = st->report;
    char name[300], a[140], b[140] = "";
    dim_value(u->dims[0], r, a, sizeof a);
    if (u->ndims == 2) dim_value(u->dims[1], r, b, sizeof b);
    snprintf(name, sizeof name, "%s\x1f%s", a, b);
    sums_add(&map_get(&u->map, name)->s, r);
    return true;
}

static int parse_dims(usage_report *u, const char *query, char **out, size_t *len) {
    char by[64] = "";
    if (!gr_admin_query_get(query, "by", by, sizeof by) || !by[0]) snprintf(by, sizeof by, "model");
    char *save = NULL;
    for (char *tok = strtok_r(by, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int d = 0;
        while (d < NDIMS && strcmp(tok, dim_names[d])) d++;
        if (d == NDIMS || u->ndims == 2 || (u->ndims == 1 && u->dims[0] == d))
            return fail(out, len, 400, "invalid_request_error", "invalid_group_by", "by",
                        "by must be one or two different names of key, model, provider, day (e.g. by=key,model).");
        u->dims[u->ndims++] = d;
    }
    return 0;
}

static void sums_json(cJSON *o, const sums *s) {
    cJSON_AddNumberToObject(o, "requests", (double)s->requests);
    cJSON_AddNumberToObject(o, "errors", (double)s->errors);
    cJSON_AddNumberToObject(o, "tokens_prompt", (double)s->tokens_in);
    cJSON_AddNumberToObject(o, "tokens_completion", (double)s->tokens_out);
    cJSON_AddNumberToObject(o, "tokens_cached", (double)s->tokens_cached);
    gr_meter_add_usd_json(o, "cost_usd", s->cost_nusd);
    cJSON_AddNumberToObject(o, "cost_nusd", (double)s->cost_nusd);
}

static int report_usage(report_req *q, char **out, size_t *len, const char **ctype) {
    usage_report u = {.ndims = 0};
    int st_code = parse_dims(&u, q->query, out, len);
    if (st_code) return st_code;
    map_init(&u.map);
    scan_state st = {.row = usage_row, .report = &u};
    if ((st_code = scan(q, &st, out, len))) {
        map_free(&u.map);
        return st_code;
    }
    map_sort(&u.map, cmp_group_name);
    sums tot = {0};
    if (q->csv) {
        gr_csv c = {0};
        for (int d = 0; d < u.ndims; d++) gr_csv_text(&c, dim_names[u.dims[d]]);
        static const char *const cols[] = {"requests", "errors", "tokens_prompt", "tokens_completion",
                                           "tokens_cached", "cost_usd", "cost_nusd"};
        for (size_t i = 0; i < GR_ARRAY_LEN(cols); i++) gr_csv_text(&c, cols[i]);
        gr_csv_end_row(&c);
        for (size_t i = 0; i < u.map.n; i++) {
            group *g = &u.map.g[i];
            char *sep = strchr(g->name, '\x1f');
            *sep = '\0';
            gr_csv_text(&c, g->name);
            if (u.ndims == 2) gr_csv_text(&c, sep + 1);
            gr_csv_num(&c, g->s.requests);
            gr_csv_num(&c, g->s.errors);
            gr_csv_num(&c, g->s.tokens_in);
            gr_csv_num(&c, g->s.tokens_out);
            gr_csv_num(&c, g->s.tokens_cached);
            csv_usd(&c, g->s.cost_nusd);
            gr_csv_num(&c, g->s.cost_nusd);
            gr_csv_end_row(&c);
        }
        map_free(&u.map);
        *out = gr_csv_take(&c, len);
        *ctype = CT_CSV;
        return 200;
    }
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "object", "list");
    cJSON *by = cJSON_AddArrayToObject(root, "group_by");
    for (int d = 0; d < u.ndims; d++) cJSON_AddItemToArray(by, cJSON_CreateString(dim_names[u.dims[d]]));
    add_scan_info(root, q, &st);
    cJSON *data = cJSON_AddArrayToObject(root, "data");
    for (size_t i = 0; i < u.map.n; i++) {
        group *g = &u.map.g[i];
        cJSON *o = cJSON_CreateObject();
        char *sep = strchr(g->name, '\x1f');
        *sep = '\0';
        cJSON_AddStringToObject(o, dim_names[u.dims[0]], g->name);
        if (u.ndims == 2) cJSON_AddStringToObject(o, dim_names[u.dims[1]], sep + 1);
        sums_json(o, &g->s);
        cJSON_AddItemToArray(data, o);
        tot.requests += g->s.requests;
        tot.errors += g->s.errors;
        tot.tokens_in += g->s.tokens_in;
        tot.tokens_out += g->s.tokens_out;
        tot.tokens_cached += g->s.tokens_cached;
        tot.cost_nusd += g->s.cost_nusd;
    }
    sums_json(cJSON_AddObjectToObject(root, "total"), &tot);
    map_free(&u.map);
    return reply_json(out, len, root);
}

/* ---- /admin/report/rows ---- */

typedef struct rows_report {
    cJSON *data;
    gr_csv csv;
    int64_t n, limit;
} rows_report;

static const char *const row_cols[] = {
    "request_id", "client_request_id", "ts_ms", "key_id", "payer", "model_asked", "model_served", "provider",
    "tokens_prompt", "tokens_completion", "tokens_cached", "tokens_cache_write", "tokens_reasoning", "cost_usd",
    "cost_nusd", "usage_estimated", "latency_us", "ttft_us", "status", "attempts", "route_reason", "error_type",
    "x402_amount_atomic", "x402_credit_delta_nusd", "x402_network", "x402_tx_hash", "x402_settlement"};

static void row_csv(gr_csv *c, const gr_ledger_row *r) {
    gr_csv_text(c, r->request_id);
    gr_csv_text(c, r->client_request_id);
    gr_csv_num(c, r->ts_ms);
    gr_csv_text(c, r->key_id);
    gr_csv_text(c, r->payer);
    gr_csv_text(c, r->model_asked);
    gr_csv_text(c, r->model_served);
    gr_csv_text(c, r->provider);
    gr_csv_num(c, r->tokens_in);
    gr_csv_num(c, r->tokens_out);
    gr_csv_num(c, r->tokens_cached);
    gr_csv_num(c, r->tokens_cache_write);
    gr_csv_num(c, r->tokens_reasoning);
    csv_usd(c, r->cost_nusd);
    gr_csv_num(c, r->cost_nusd);
    gr_csv_num(c, r->estimated);
    gr_csv_num(c, r->latency_us);
    gr_csv_num(c, r->ttft_us);
    gr_csv_num(c, r->status);
    gr_csv_num(c, r->attempts);
    gr_csv_text(c, r->route_reason);
    gr_csv_text(c, r->error_type);
    gr_csv_text(c, r->x402_amount_atomic);
    gr_csv_num(c, r->x402_credit_delta_nusd);
    gr_csv_text(c, r->x402_network);
    gr_csv_text(c, r->x402_tx_hash);
    gr_csv_text(c, r->x402_settlement);
    gr_csv_end_row(c);
}

static bool rows_row(scan_state *st, const gr_ledger_row *r) {
    rows_report *rr = st->report;
    if (rr->data) cJSON_AddItemToArray(rr->data, gr_admin_generation_json(r));
    else row_csv(&rr->csv, r);
    return ++rr->n < rr->limit;
}

static int report_rows(report_req *q, char **out, size_t *len, const char **ctype) {
    char buf[24];
    rows_report rr = {.limit = q->csv ? q->scan.limit : 100};
    if (gr_admin_query_get(q->query, "limit", buf, sizeof buf) && buf[0]) {
        char *end;
        long long v = strtoll(buf, &end, 10);
        if (*end || v < 1 || v > q->scan.limit)
            return fail(out, len, 400, "invalid_request_error", "invalid_limit", "limit",
                        "limit must be an integer from 1 to %lld (console.max_report_rows).",
                        (long long)q->scan.limit);
        rr.limit = v;
    }
    cJSON *root = NULL;
    if (q->csv) {
        for (size_t i = 0; i < GR_ARRAY_LEN(row_cols); i++) gr_csv_text(&rr.csv, row_cols[i]);
        gr_csv_end_row(&rr.csv);
    } else {
        root = cJSON_CreateObject();
        cJSON_AddStringToObject(root, "object", "list");
        rr.data = cJSON_AddArrayToObject(root, "data");
    }
    scan_state st = {.row = rows_row, .report = &rr};
    int code = scan(q, &st, out, len);
    if (code || q->csv) {
        cJSON_Delete(root);
        size_t clen;
        char *c = gr_csv_take(&rr.csv, &clen);
        if (code) {
            free(c);
            return code;
        }
        *out = c;
        *len = clen;
        *ctype = CT_CSV;
        return 200;
    }
    add_scan_info(root, q, &st);
    cJSON_AddBoolToObject(root, "has_more", rr.n >= rr.limit);
    return reply_json(out, len, root);
}

/* ---- /admin/report/timeseries ---- */

#define TS_MAX_BUCKETS 60
#define TS_TOP_SERIES 8 /* models/providers drawn one by one; the rest summed as "(other)" */

typedef struct i64_list {
    int64_t *v;
    size_t n, cap;
} i64_list;

static void list_push(i64_list *l, int64_t v) {
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->v = gr_xrealloc(l->v, l->cap * sizeof *l->v);
    }
    l->v[l->n++] = v;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of l (sorted here); -1 when empty. */
static int64_t percentile(i64_list *l, int pct) {
    if (!l->n) return -1;
    qsort(l->v, l->n, sizeof *l->v, cmp_i64);
    size_t rank = (l->n * (size_t)pct + 99) / 100;
    return l->v[rank ? rank - 1 : 0];
}

typedef struct ts_report {
    int64_t start, step;
    int n;
    sums b[TS_MAX_BUCKETS];
    i64_list lat[TS_MAX_BUCKETS], ttft[TS_MAX_BUCKETS];
    group_map by_model, by_provider;
} ts_report;

static void series_add(ts_report *t, group_map *m, const char *name, int bucket, int64_t v) {
    group *g = map_get(m, name);
    if (!g->series) g->series = gr_xcalloc((size_t)t->n, sizeof *g->series);
    g->series[bucket] += v;
    g->s.cost_nusd += v;
    g->s.requests++;
}

static bool ts_row(scan_state *st, const gr_ledger_row *r) {
    ts_report *t = st->report;
    if (r->ts_ms < t->start) return true;
    int64_t i = (r->ts_ms - t->start) / t->step;
    if (i >= t->n) return true;
    sums_add(&t->b[i], r);
    list_push(&t->lat[i], r->latency_us);
    if (r->ttft_us > 0) list_push(&t->ttft[i], r->ttft_us);
    series_add(t, &t->by_model, row_model(r), (int)i, r->cost_nusd);
    series_add(t, &t->by_provider, r->provider[0] ? r->provider : "(none)", (int)i, r->cost_nusd);
    return true;
}

static cJSON *ms_array(ts_report *t, i64_list *lists, int pct) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < t->n; i++) {
        int64_t v = percentile(&lists[i], pct);
        cJSON_AddItemToArray(a, v < 0 ? cJSON_CreateNull() : cJSON_CreateNumber((double)v / 1000.0));
    }
    return a;
}

/* name -> spend per bucket (USD), the top TS_TOP_SERIES by spend, the rest summed. */
static cJSON *series_json(ts_report *t, group_map *m) {
    map_sort(m, cmp_group_cost);
    cJSON *o = cJSON_CreateArray();
    int64_t *other = NULL;
    for (size_t i = 0; i < m->n; i++) {
        group *g = &m->g[i];
        if (i >= TS_TOP_SERIES) {
            if (!other) other = gr_xcalloc((size_t)t->n, sizeof *other);
            for (int k = 0; k < t->n; k++) other[k] += g->series[k];
            continue;
        }
        cJSON *s = cJSON_CreateObject();
        cJSON_AddStringToObject(s, "name", g->name);
        cJSON_AddNumberToObject(s, "requests", (double)g->s.requests);
        gr_meter_add_usd_json(s, "cost_usd", g->s.cost_nusd);
        cJSON *v = cJSON_AddArrayToObject(s, "cost_usd_series");
        for (int k = 0; k < t->n; k++) cJSON_AddItemToArray(v, cJSON_CreateNumber((double)g->series[k] / 1e9));
        cJSON_AddItemToArray(o, s);
    }
    if (other) {
        cJSON *s = cJSON_CreateObject();
        cJSON_AddStringToObject(s, "name", "(other)");
        cJSON *v = cJSON_AddArrayToObject(s, "cost_usd_series");
        for (int k = 0; k < t->n; k++) cJSON_AddItemToArray(v, cJSON_CreateNumber((double)other[k] / 1e9));
        cJSON_AddItemToArray(o, s);
        free(other);
    }
    return o;
}

static int report_timeseries(report_req *q, char **out, size_t *len) {
    char range[16] = "";
    gr_admin_query_get(q->query, "range", range, sizeof range);
    ts_report *t = gr_xcalloc(1, sizeof *t);
    if (!range[0] || !strcmp(range, "day")) t->step = 3600000, t->n = 24;
    else if (!strcmp(range, "hour")) t->step = 60000, t->n = 60;
    else if (!strcmp(range, "month")) t->step = 86400000, t->n = 30;
    else {
        free(t);
        return fail(out, len, 400, "invalid_request_error", "invalid_range", "range",
                    "range must be hour, day or month (the last 30 days).");
    }
    int64_t end = (q->now / t->step + 1) * t->step; /* the current bucket is the last one */
    t->start = end - t->step * t->n;
    q->scan.from_ms = t->start;
    q->scan.to_ms = end;
    map_init(&t->by_model);
    map_init(&t->by_provider);
    scan_state st = {.row = ts_row, .report = t};
    int code = scan(q, &st, out, len);
    cJSON *root = NULL;
    if (!code) {
        root = cJSON_CreateObject();
        cJSON_AddStringToObject(root, "range", range[0] ? range : "day");
        cJSON_AddNumberToObject(root, "step_ms", (double)t->step);
        add_scan_info(root, q, &st);
        static const char *const names[] = {"requests", "errors", "tokens_prompt", "tokens_completion"};
        cJSON *ts = cJSON_AddArrayToObject(root, "t");
        cJSON *arr[4], *cost = cJSON_CreateArray();
        for (int k = 0; k < 4; k++) arr[k] = cJSON_CreateArray();
        for (int i = 0; i < t->n; i++) {
            cJSON_AddItemToArray(ts, cJSON_CreateNumber((double)(t->start + t->step * i)));
            const int64_t v[4] = {t->b[i].requests, t->b[i].errors, t->b[i].tokens_in, t->b[i].tokens_out};
            for (int k = 0; k < 4; k++) cJSON_AddItemToArray(arr[k], cJSON_CreateNumber((double)v[k]));
            cJSON_AddItemToArray(cost, cJSON_CreateNumber((double)t->b[i].cost_nusd / 1e9));
        }
        for (int k = 0; k < 4; k++) cJSON_AddItemToObject(root, names[k], arr[k]);
        cJSON_AddItemToObject(root, "cost_usd", cost);
        cJSON_AddItemToObject(root, "latency_p50_ms", ms_array(t, t->lat, 50));
        cJSON_AddItemToObject(root, "latency_p99_ms", ms_array(t, t->lat, 99));
        cJSON_AddItemToObject(root, "ttft_p50_ms", ms_array(t, t->ttft, 50));
        cJSON_AddItemToObject(root, "ttft_p99_ms", ms_array(t, t->ttft, 99));
        cJSON_AddItemToObject(root, "by_model", series_json(t, &t->by_model));
        cJSON_AddItemToObject(root, "by_provider", series_json(t, &t->by_provider));
    }
    for (int i = 0; i < t->n; i++) {
        free(t->lat[i].v);
        free(t->ttft[i].v);
    }
    map_free(&t->by_model);
    map_free(&t->by_provider);
    free(t);
    return code ? code : reply_json(out, len, root);
}

/* ---- /admin/report/routing ---- */

#define ROUTING_RECENT 50

typedef struct routing_report {
    group_map share;
    cJSON *recent;
    int nrecent;
    int64_t total;
} routing_report;

static bool routing_row(scan_state *st, const gr_ledger_row *r) {
    routing_report *rr = st->report;
    if (strncmp(r->model_asked, "auto", 4) || (r->model_asked[4] && r->model_asked[4] != ':')) return true;
    rr->total++;
    sums_add(&map_get(&rr->share, row_model(r))->s, r);
    if (rr->nrecent++ < ROUTING_RECENT) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "id", r->request_id);
        cJSON_AddNumberToObject(o, "created_at", (double)r->ts_ms);
        cJSON_AddStringToObject(o, "key_id", r->key_id);
        cJSON_AddStringToObject(o, "model", r->model_asked);
        cJSON_AddStringToObject(o, "model_served", r->model_served);
        cJSON_AddStringToObject(o, "provider", r->provider);
        cJSON_AddStringToObject(o, "route_reason", r->route_reason);
        cJSON_AddNumberToObject(o, "status", r->status);
        gr_meter_add_usd_json(o, "cost_usd", r->cost_nusd);
        cJSON_AddItemToArray(rr->recent, o);
    }
    return true;
}

/* The ratings received (POST /v1/feedback, route calibrate), per model: how
 * many, the share rated good and what the router had predicted for them (the
 * learned sums, summed over skills). "feedback": null when the store cannot
 * say; a model nobody rated is absent. */
static void add_feedback(cJSON *root, gr_store *store) {
    gr_learned_rec *recs = NULL;
    size_t n = 0;
    if (!store || gr_store_learned_list(store, &recs, &n) != GR_OK) {
        cJSON_AddNullToObject(root, "feedback");
        return;
    }
    cJSON *arr = cJSON_AddArrayToObject(root, "feedback");
    for (size_t i = 0; i < n; i++) {
        double good = 0, bad = 0, predicted = 0;
        for (int k = 0; k < GR_LEARN_SKILLS; k++) {
            good += recs[i].s[k];
            bad += recs[i].f[k];
            predicted += recs[i].e[k];
        }
        if (recs[i].ratings <= 0 || good + bad <= 0) continue;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "model", recs[i].model);
        cJSON_AddNumberToObject(o, "ratings", (double)recs[i].ratings);
        cJSON_AddNumberToObject(o, "rated_good", good / (good + bad));
        cJSON_AddNumberToObject(o, "predicted_good", predicted / (good + bad));
        cJSON_AddItemToArray(arr, o);
    }
    free(recs);
}

static int report_routing(report_req *q, char **out, size_t *len) {
    routing_report rr = {.recent = cJSON_CreateArray()};
    map_init(&rr.share);
    scan_state st = {.row = routing_row, .report = &rr};
    int code = scan(q, &st, out, len);
    if (code) {
        cJSON_Delete(rr.recent);
        map_free(&rr.share);
        return code;
    }
    map_sort(&rr.share, cmp_group_cost);
    cJSON *root = cJSON_CreateObject();
    add_scan_info(root, q, &st);
    cJSON_AddNumberToObject(root, "auto_requests", (double)rr.total);
    cJSON *share = cJSON_AddArrayToObject(root, "share");
    for (size_t i = 0; i < rr.share.n; i++) {
        group *g = &rr.share.g[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "model", g->name);
        cJSON_AddNumberToObject(o, "share", rr.total ? (double)g->s.requests / (double)rr.total : 0);
        sums_json(o, &g->s);
        cJSON_AddItemToArray(share, o);
    }
    cJSON_AddItemToObject(root, "recent", rr.recent);
    map_free(&rr.share);
    add_feedback(root, q->ctx->store);
    return reply_json(out, len, root);
}

/* ---- /admin/report/payments ---- */

#define PAYERS_MAX 50       /* payers whose credit and settlements are looked up */
#define PAYER_SETTLEMENTS 20

typedef struct pay_sums {
    unsigned __int128 paid_atomic; /* token atomic units, summed exactly */
    int64_t credit_delta;
    int64_t settled, pending, failed;
} pay_sums;

typedef struct payments_report {
    group_map payers, days;
    int64_t quotes; /* 402 answers: a price quoted to a client that had not paid yet */
} payments_report;

static unsigned __int128 parse_atomic(const char *s) {
    unsigned __int128 v = 0;
    for (; *s >= '0' && *s <= '9'; s++) v = v * 10 + (unsigned)(*s - '0');
    return v;
}

static void format_atomic(unsigned __int128 v, char *buf, size_t cap) {
    char tmp[48];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + (int)(v % 10));
        v /= 10;
    } while (v && n < sizeof tmp);
    size_t o = 0;
    while (n && o + 1 < cap) buf[o++] = tmp[--n];
    buf[o] = '\0';
}

static void pay_add(group *g, const gr_ledger_row *r) {
    if (!g->extra) g->extra = gr_xcalloc(1, sizeof(pay_sums));
    pay_sums *p = g->extra;
    sums_add(&g->s, r);
    p->paid_atomic += parse_atomic(r->x402_amount_atomic);
    p->credit_delta += r->x402_credit_delta_nusd;
    if (!strcmp(r->x402_settlement, "settled")) p->settled++;
    else if (!strcmp(r->x402_settlement, "failed")) p->failed++;
    else if (r->x402_settlement[0]) p->pending++;
}

static bool payments_row(scan_state *st, const gr_ledger_row *r) {
    payments_report *p = st->report;
    if (r->status == 402 && !r->payer[0] && (!r->key_id[0] || !strcmp(r->key_id, "x402"))) /* not a key's budget */
        p->quotes++;
    if (!r->payer[0]) return true;
    pay_add(map_get(&p->payers, r->payer), r);
    char day[11];
    gr_store_utc_date(r->ts_ms, day);
    pay_add(map_get(&p->days, day), r);
    return true;
}

static void pay_json(cJSON *o, const group *g) {
    const pay_sums *p = g->extra;
    char amt[48];
    format_atomic(p->paid_atomic, amt, sizeof amt);
    cJSON_AddStringToObject(o, "paid_atomic", amt);
    gr_meter_add_usd_json(o, "credit_delta_usd", p->credit_delta);
    cJSON_AddNumberToObject(o, "settled", (double)p->settled);
    cJSON_AddNumberToObject(o, "pending", (double)p->pending);
    cJSON_AddNumberToObject(o, "failed", (double)p->failed);
    sums_json(o, &g->s);
}

static int report_payments(report_req *q, char **out, size_t *len) {
    payments_report p = {.quotes = 0};
    map_init(&p.payers);
    map_init(&p.days);
    scan_state st = {.row = payments_row, .report = &p};
    int code = scan(q, &st, out, len);
    if (code) {
        map_free(&p.payers);
        map_free(&p.days);
        return code;
    }
    map_sort(&p.payers, cmp_group_cost);
    map_sort(&p.days, cmp_group_name);
    cJSON *root = cJSON_CreateObject();
    add_scan_info(root, q, &st);
    cJSON_AddBoolToObject(root, "x402", q->ctx->x402 != NULL);
    cJSON_AddNumberToObject(root, "quotes", (double)p.quotes);
    if (q->ctx->explorer_tx_url && *q->ctx->explorer_tx_url)
        cJSON_AddStringToObject(root, "explorer_tx_url", q->ctx->explorer_tx_url);
    else cJSON_AddNullToObject(root, "explorer_tx_url");
    cJSON *payers = cJSON_AddArrayToObject(root, "payers");
    cJSON *settlements = cJSON_AddArrayToObject(root, "settlements");
    for (size_t i = 0; i < p.payers.n; i++) {
        group *g = &p.payers.g[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "payer", g->name);
        pay_json(o, g);
        int64_t credit = 0;
        if (q->ctx->x402 && i < PAYERS_MAX && gr_x402_store_credit_get(q->ctx->x402, g->name, &credit) == GR_OK)
            gr_meter_add_usd_json(o, "credit_usd", credit);
        else cJSON_AddNullToObject(o, "credit_usd");
        if (q->ctx->x402 && i < PAYERS_MAX) {
            cJSON *arr = cJSON_CreateArray();
            if (gr_x402_store_settlements_recent(q->ctx->x402, g->name, PAYER_SETTLEMENTS, arr) == GR_OK) {
                cJSON *s;
                cJSON_ArrayForEach(s, arr) cJSON_AddStringToObject(s, "payer", g->name);
                while (cJSON_GetArraySize(arr) > 0) cJSON_AddItemToArray(settlements, cJSON_DetachItemFromArray(arr, 0));
            }
            cJSON_Delete(arr);
        }
        cJSON_AddItemToArray(payers, o);
    }
    cJSON *days = cJSON_AddArrayToObject(root, "revenue_by_day");
    for (size_t i = 0; i < p.days.n; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "day", p.days.g[i].name);
        pay_json(o, &p.days.g[i]);
        cJSON_AddItemToArray(days, o);
    }
    map_free(&p.payers);
    map_free(&p.days);
    return reply_json(out, len, root);
}

/* ---- dispatch ---- */

bool gr_admin_report_owns(const char *path) { return !strncmp(path, "/admin/report/", 14); }

int gr_admin_report_handle(gr_admin_ctx *ctx, const char *method, const char *path, const char *query,
                           const char *bearer, char **out, size_t *out_len, const char **ctype) {
    *out = NULL;
    *ctype = CT_JSON;
    report_req q;
    memset(&q, 0, sizeof q);
    q.ctx = ctx;
    q.query = query;
    q.now = ctx->now_ms ? ctx->now_ms() : (int64_t)gr_wall_ms();
    size_t tlen;
    const char *tok = gr_admin_strip_bearer(bearer, &tlen);
    gr_key_entry *key = NULL;
    bool admin = ctx->admin_key && *ctx->admin_key && tok &&
                 gr_secret_eq(tok, tlen, ctx->admin_key, strlen(ctx->admin_key));
    if (!admin) {
        gr_key_verdict v;
        if (!gr_keys_authenticate(ctx->keys, tok, tok ? tlen : 0, q.now, &key, &v)) {
            *out = gr_keys_verdict_json(&v);
            *out_len = strlen(*out);
            return v.status;
        }
        q.scope = gr_keys_id(key);
    }
    if (strcmp(method, "GET") && strcmp(method, "HEAD"))
        return fail(out, out_len, 405, "invalid_request_error", "method_not_allowed", NULL, "Use GET on %s.", path);
    const char *what = path + 14;
    if (!strcmp(what, "whoami")) {
        cJSON *root = cJSON_CreateObject();
        cJSON_AddStringToObject(root, "role", admin ? "admin" : "key");
        if (key) {
            gr_key_info info;
            gr_keys_info(key, q.now, &info);
            cJSON_AddItemToObject(root, "key", gr_keys_info_json(&info, q.now));
            gr_key_record_dispose(&info.rec);
        }
        return reply_json(out, out_len, root);
    }
    bool admin_only = !strcmp(what, "routing") || !strcmp(what, "payments");
    bool known = admin_only || !strcmp(what, "usage") || !strcmp(what, "rows") || !strcmp(what, "timeseries");
    if (!known)
        return fail(out, out_len, 404, "invalid_request_error", "not_found", NULL, "Unknown report %.40s.", what);
    if (admin_only && !admin)
        return fail(out, out_len, 403, "permission_error", "admin_only", NULL,
                    "The %s report needs the admin key.", what);
    int code = parse_filters(&q, out, out_len);
    if (code) return code;
    if (!strcmp(what, "usage")) return report_usage(&q, out, out_len, ctype);
    if (!strcmp(what, "rows")) return report_rows(&q, out, out_len, ctype);
    if (!strcmp(what, "timeseries")) return report_timeseries(&q, out, out_len);
    if (!strcmp(what, "routing")) return report_routing(&q, out, out_len);
    return report_payments(&q, out, out_len);
}
