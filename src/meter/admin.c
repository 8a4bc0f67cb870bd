/* admin.c — transport-free handlers for the admin API (keys, usage) and the
 * key-holder endpoints GET /v1/key and GET /v1/generation. */
#include "admin.h"
#include "http_reply.h"
#include "meter.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <time.h>

#define MAX_ADMIN_BODY (64 * 1024)

/* ---- small helpers ---- */

static int fail(char **out, int status, const char *type, const char *code, const char *param,
                const char *fmt, ...) GR_PRINTF(6, 7);
static int fail(char **out, int status, const char *type, const char *code, const char *param,
                const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    gr_admin_vfail(out, status, type, code, param, fmt, ap);
    va_end(ap);
    return status;
}

int gr_admin_vfail(char **out, int status, const char *type, const char *code, const char *param, const char *fmt,
                   va_list ap) {
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    *out = gr_error_json(msg, type, param, code);
    return status;
}

static int reply(char **out, int status, cJSON *body) {
    *out = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    return status;
}

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* Find name=value in a query string, URL-decoded into buf. */
static bool query_get(const char *q, const char *name, char *buf, size_t cap) {
    size_t nlen = strlen(name);
    buf[0] = '\0';
    while (q && *q) {
        const char *amp = strchr(q, '&');
        size_t plen = amp ? (size_t)(amp - q) : strlen(q);
        if (plen > nlen && strncmp(q, name, nlen) == 0 && q[nlen] == '=') {
            size_t o = 0;
            for (size_t i = nlen + 1; i < plen && o + 1 < cap; i++) {
                char c = q[i];
                if (c == '+') c = ' ';
                else if (c == '%' && i + 2 < plen && hexval(q[i + 1]) >= 0 &&
                         hexval(q[i + 2]) >= 0) {
                    c = (char)(hexval(q[i + 1]) * 16 + hexval(q[i + 2]));
                    i += 2;
                }
                buf[o++] = c;
            }
            buf[o] = '\0';
            return true;
        }
        q = amp ? amp + 1 : NULL;
    }
    return false;
}

static const char *strip_bearer(const char *b, size_t *len) {
    if (!b) {
        *len = 0;
        return NULL;
    }
    if (strncasecmp(b, "Bearer ", 7) == 0) b += 7;
    while (*b == ' ') b++;
    size_t n = strlen(b);
    while (n && (b[n - 1] == ' ' || b[n - 1] == '\r' || b[n - 1] == '\n')) n--;
    *len = n;
    return b;
}

bool gr_admin_query_get(const char *query, const char *name, char *buf, size_t cap) {
    return query_get(query, name, buf, cap);
}

const char *gr_admin_strip_bearer(const char *bearer, size_t *len) { return strip_bearer(bearer, len); }

gr_status gr_admin_parse_time(const char *s, bool end_of_day, int64_t *ms) {
    *ms = 0;
    if (!s || !*s) return GR_OK;
    bool digits = true;
    for (const char *p = s; *p; p++)
        if (!isdigit((unsigned char)*p)) digits = false;
    if (digits) {
        if (strlen(s) > 15) return GR_ERR_INVALID;
        int64_t v = strtoll(s, NULL, 10);
        *ms = v < 100000000000LL ? v * 1000 : v;
        return GR_OK;
    }
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *end = strptime(s, "%Y-%m-%d", &tm);
    if (!end || *end) return GR_ERR_INVALID;
    *ms = (int64_t)timegm(&tm) * 1000 + (end_of_day ? 86400000 : 0);
    return GR_OK;
}

bool gr_admin_owns_path(const char *path) {
    return strncmp(path, "/admin/", 7) == 0 || strcmp(path, "/v1/key") == 0 ||
           strcmp(path, "/v1/generation") == 0;
}

static void add_str_opt(cJSON *o, const char *name, const char *v) {
    if (v && *v) cJSON_AddStringToObject(o, name, v);
    else cJSON_AddNullToObject(o, name);
}

cJSON *gr_admin_generation_json(const gr_ledger_row *r) {
    cJSON *d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "id", r->request_id);
    add_str_opt(d, "client_request_id", r->client_request_id);
    cJSON_AddNumberToObject(d, "created_at", (double)r->ts_ms);
    add_str_opt(d, "key_id", r->key_id);
    add_str_opt(d, "payer", r->payer);
    add_str_opt(d, "model", r->model_asked);
    add_str_opt(d, "model_served", r->model_served);
    add_str_opt(d, "provider", r->provider);
    cJSON_AddNumberToObject(d, "tokens_prompt", (double)r->tokens_in);
    cJSON_AddNumberToObject(d, "tokens_completion", (double)r->tokens_out);
    cJSON_AddNumberToObject(d, "tokens_cached", (double)r->tokens_cached);
    cJSON_AddNumberToObject(d, "tokens_cache_write", (double)r->tokens_cache_write);
    cJSON_AddNumberToObject(d, "tokens_reasoning", (double)r->tokens_reasoning);
    gr_meter_add_usd_json(d, "total_cost", r->cost_nusd);
    cJSON_AddNumberToObject(d, "cost_nusd", (double)r->cost_nusd);
    cJSON_AddBoolToObject(d, "usage_estimated", r->estimated);
    cJSON_AddNumberToObject(d, "latency_ms", (double)r->latency_us / 1000.0);
    if (r->ttft_us > 0) cJSON_AddNumberToObject(d, "ttft_ms", (double)r->ttft_us / 1000.0);
    else cJSON_AddNullToObject(d, "ttft_ms");
    cJSON_AddNumberToObject(d, "status", r->status);
    cJSON_AddNumberToObject(d, "attempts", r->attempts);
    add_str_opt(d, "route_reason", r->route_reason);
    add_str_opt(d, "error_type", r->error_type);
    if (r->x402_settlement[0] || r->x402_amount_atomic[0]) {
        cJSON *x = cJSON_AddObjectToObject(d, "x402");
        add_str_opt(x, "amount_atomic", r->x402_amount_atomic);
        gr_meter_add_usd_json(x, "credit_delta_usd", r->x402_credit_delta_nusd);
        add_str_opt(x, "network", r->x402_network);
        add_str_opt(x, "transaction", r->x402_tx_hash);
        add_str_opt(x, "settlement", r->x402_settlement);
    }
    return d;
}

static const char *const group_names[] = {"key", "model", "provider", "day"};

char *gr_admin_usage_json(const gr_usage_query *q, const gr_usage_group *g, size_t n) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "object", "list");
    cJSON_AddStringToObject(root, "group_by", group_names[q->by]);
    if (q->from_ms) cJSON_AddNumberToObject(root, "from", (double)q->from_ms);
    else cJSON_AddNullToObject(root, "from");
    if (q->to_ms) cJSON_AddNumberToObject(root, "to", (double)q->to_ms);
    else cJSON_AddNullToObject(root, "to");
    cJSON *data = cJSON_AddArrayToObject(root, "data");
    gr_usage_group tot;
    memset(&tot, 0, sizeof tot);
    for (size_t i = 0; i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "group", g[i].group);
        cJSON_AddNumberToObject(o, "requests", (double)g[i].requests);
        cJSON_AddNumberToObject(o, "errors", (double)g[i].errors);
        cJSON_AddNumberToObject(o, "tokens_prompt", (double)g[i].tokens_in);
        cJSON_AddNumberToObject(o, "tokens_completion", (double)g[i].tokens_out);
        cJSON_AddNumberToObject(o, "tokens_cached", (double)g[i].tokens_cached);
        gr_meter_add_usd_json(o, "cost_usd", g[i].cost_nusd);
        cJSON_AddNumberToObject(o, "estimated", (double)g[i].estimated);
        cJSON_AddItemToArray(data, o);
        tot.requests += g[i].requests;
        tot.errors += g[i].errors;
        tot.tokens_in += g[i].tokens_in;
        tot.tokens_out += g[i].tokens_out;
        tot.tokens_cached += g[i].tokens_cached;
        tot.cost_nusd += g[i].cost_nusd;
    }
    cJSON *t = cJSON_AddObjectToObject(root, "total");
    cJSON_AddNumberToObject(t, "requests", (double)tot.requests);
    cJSON_AddNumberToObject(t, "errors", (double)tot.errors);
    cJSON_AddNumberToObject(t, "tokens_prompt", (double)tot.tokens_in);
    cJSON_AddNumberToObject(t, "tokens_completion", (double)tot.tokens_out);
    cJSON_AddNumberToObject(t, "tokens_cached", (double)tot.tokens_cached);
    gr_meter_add_usd_json(t, "cost_usd", tot.cost_nusd);
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

/* ---- handlers ---- */

static int key_info_reply(gr_admin_ctx *c, gr_key_entry *e, int64_t now, int status,
                          const char *plaintext, char **out) {
    gr_key_info info;
    gr_keys_info(e, now, &info);
    cJSON *o = gr_keys_info_json(&info, now);
    if (plaintext) cJSON_AddStringToObject(o, "key", plaintext);
    gr_key_record_dispose(&info.rec);
    (void)c;
    return reply(out, status, o);
}

static int store_error(char **out, gr_status rc) {
    gr_store_health_note(rc);
    if (rc == GR_ERR_NOT_FOUND)
        return fail(out, 404, "invalid_request_error", "not_found", NULL, "Not found.");
    if (rc == GR_ERR_UNAVAILABLE) /* a networked store that is down: retry later (SCALING.md) */
        return fail(out, 503, "api_error", "store_unavailable", NULL,
                    "The store cannot be reached; nothing was changed. Retry later.");
    return fail(out, 500, "api_error", "store_error", NULL, "The key store failed: %s.",
                gr_status_str(rc));
}

int gr_admin_store_error(char **out, gr_status rc) { return store_error(out, rc); }

static int parse_body(const char *body, size_t len, cJSON **obj, char **out) {
    *obj = NULL;
    if (len > MAX_ADMIN_BODY)
        return fail(out, 413, "invalid_request_error", "body_too_large", NULL,
                    "Request body larger than %d bytes.", MAX_ADMIN_BODY);
    const char *text = body && len ? body : "{}", *endp = NULL;
    size_t tlen = body && len ? len : 2;
    *obj = cJSON_ParseWithLengthOpts(text, tlen, &endp, 0);
    size_t used = endp ? (size_t)(endp - text) : tlen;
    while (*obj && used < tlen && (text[used] == ' ' || text[used] == '\t' || text[used] == '\r' || text[used] == '\n'))
        used++;
    if (*obj && used < tlen) { /* trailing bytes after the object */
        cJSON_Delete(*obj);
        *obj = NULL;
        return fail(out, 400, "invalid_request_error", "invalid_json", NULL,
                    "Unexpected data after the JSON body at byte %zu.", used);
    }
    if (!cJSON_IsObject(*obj)) {
        cJSON_Delete(*obj);
        *obj = NULL;
        return fail(out, 400, "invalid_request_error", "invalid_json", NULL,
                    "The request body must be a JSON object.");
    }
    return 0;
}

static int keys_create(gr_admin_ctx *c, const char *body, size_t len, int64_t now, char **out) {
    cJSON *obj;
    int st = parse_body(body, len, &obj, out);
    if (st) return st;
    gr_key_record spec;
    gr_key_record_init(&spec);
    char err[256];
    if (gr_keys_spec_from_json(obj, false, now, &spec, err, sizeof err) != GR_OK) {
        cJSON_Delete(obj);
        gr_key_record_dispose(&spec);
        return fail(out, 400, "invalid_request_error", "invalid_key_spec", NULL, "%s", err);
    }
    cJSON_Delete(obj);
    char plaintext[GR_KEY_PLAINTEXT_SIZE];
    gr_key_record created;
    gr_status rc = gr_keys_create(c->keys, &spec, now, plaintext, &created);
    gr_key_record_dispose(&spec);
    if (rc) return store_error(out, rc);
    gr_key_entry *e = gr_keys_find_id(c->keys, created.id);
    gr_key_record_dispose(&created);
    st = e ? key_info_reply(c, e, now, 201, plaintext, out) : store_error(out, GR_ERR_IO);
    memset(plaintext, 0, sizeof plaintext);
    return st;
}

static int keys_list(gr_admin_ctx *c, int64_t now, char **out) {
    gr_key_info *infos;
    size_t n;
    gr_keys_list(c->keys, now, &infos, &n);
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "object", "list");
    cJSON *data = cJSON_AddArrayToObject(root, "data");
    for (size_t i = 0; i < n; i++) cJSON_AddItemToArray(data, gr_keys_info_json(&infos[i], now));
    gr_keys_infos_free(infos, n);
    return reply(out, 200, root);
}

static int keys_patch(gr_admin_ctx *c, gr_key_entry *e, const char *body, size_t len,
                      int64_t now, char **out) {
    cJSON *obj;
    int st = parse_body(body, len, &obj, out);
    if (st) return st;
    gr_key_info info;
    gr_keys_info(e, now, &info);
    char err[256];
    gr_status rc = gr_keys_spec_from_json(obj, true, now, &info.rec, err, sizeof err);
    cJSON_Delete(obj);
    if (rc) {
        gr_key_record_dispose(&info.rec);
        return fail(out, 400, "invalid_request_error", "invalid_key_spec", NULL, "%s", err);
    }
    rc = gr_keys_update(c->keys, &info.rec, now);
    gr_key_record_dispose(&info.rec);
    if (rc == GR_ERR_UNSUPPORTED)
        return fail(out, 409, "invalid_request_error", "static_key", NULL,
                    "Keys defined in the config file are changed in the config file.");
    if (rc) return store_error(out, rc);
    return key_info_reply(c, e, now, 200, NULL, out);
}

#define MAX_ROTATE_GRACE_S (30LL * 86400)

/* POST /admin/keys/{id}/rotate {"grace_seconds": N}: a new secret, shown
 * once; the old one works for N more seconds (default: the configured
 * console.key_rotation_grace). */
static int keys_rotate(gr_admin_ctx *c, const char *id, const char *body, size_t len, int64_t now, char **out) {
    cJSON *obj;
    int st = parse_body(body, len, &obj, out);
    if (st) return st;
    int64_t grace_ms = c->rotation_grace_ms;
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(obj, "grace_seconds");
    if (g && !cJSON_IsNull(g)) {
        if (!cJSON_IsNumber(g) || g->valuedouble < 0 || g->valuedouble > (double)MAX_ROTATE_GRACE_S ||
            g->valuedouble != (double)(int64_t)g->valuedouble) {
            cJSON_Delete(obj);
            return fail(out, 400, "invalid_request_error", "invalid_grace", "grace_seconds",
                        "grace_seconds must be a whole number of seconds from 0 to %lld (30 days).",
                        (long long)MAX_ROTATE_GRACE_S);
        }
        grace_ms = (int64_t)g->valuedouble * 1000;
    }
    cJSON_Delete(obj);
    gr_key_entry *e = gr_keys_find_id(c->keys, id);
    if (!e) return fail(out, 404, "invalid_request_error", "key_not_found", NULL, "No key with id '%.64s'.", id);
    char plaintext[GR_KEY_PLAINTEXT_SIZE];
    gr_status rc = gr_keys_rotate(c->keys, id, grace_ms, now, plaintext);
    if (rc == GR_ERR_UNSUPPORTED)
        return fail(out, 409, "invalid_request_error", "static_key", NULL,
                    "Keys defined in the config file are changed in the config file.");
    if (rc == GR_ERR_INVALID)
        return fail(out, 409, "invalid_request_error", "key_revoked", NULL, "A revoked key cannot be rotated.");
    if (rc) return store_error(out, rc);
    gr_key_info info;
    gr_keys_info(e, now, &info);
    cJSON *o = gr_keys_info_json(&info, now);
    gr_key_record_dispose(&info.rec);
    cJSON_AddStringToObject(o, "key", plaintext);
    if (grace_ms > 0) cJSON_AddNumberToObject(o, "previous_key_valid_until", (double)(now + grace_ms));
    else cJSON_AddNullToObject(o, "previous_key_valid_until");
    memset(plaintext, 0, sizeof plaintext);
    return reply(out, 200, o);
}

static int usage(gr_admin_ctx *c, const char *query, char **out) {
    char buf[128];
    gr_usage_query q = {.by = GR_USAGE_BY_MODEL};
    if (query_get(query, "group_by", buf, sizeof buf)) {
        size_t i;
        for (i = 0; i < GR_ARRAY_LEN(group_names); i++)
            if (strcmp(buf, group_names[i]) == 0) break;
        if (i == GR_ARRAY_LEN(group_names))
            return fail(out, 400, "invalid_request_error", "invalid_group_by", "group_by",
                        "group_by must be one of key, model, provider, day.");
        q.by = (gr_usage_group_by)i;
    }
    query_get(query, "from", buf, sizeof buf);
    if (gr_admin_parse_time(buf, false, &q.from_ms))
        return fail(out, 400, "invalid_request_error", "invalid_time", "from",
                    "from must be unix seconds/ms or YYYY-MM-DD.");
    query_get(query, "to", buf, sizeof buf);
    if (gr_admin_parse_time(buf, true, &q.to_ms))
        return fail(out, 400, "invalid_request_error", "invalid_time", "to",
                    "to must be unix seconds/ms or YYYY-MM-DD (inclusive day).");
    char key_id[GR_KEY_ID_MAX];
    if (query_get(query, "key_id", key_id, sizeof key_id) && key_id[0]) q.key_id = key_id;
    gr_usage_group *g;
    size_t n;
    gr_status rc = gr_store_usage_summary(c->store, &q, &g, &n);
    if (rc) return store_error(out, rc);
    *out = gr_admin_usage_json(&q, g, n);
    free(g);
    return 200;
}

static int generation(gr_admin_ctx *c, const char *query, const char *owner_id, char **out) {
    char id[96];
    if (!query_get(query, "id", id, sizeof id) || !id[0])
        return fail(out, 400, "invalid_request_error", "missing_id", "id",
                    "Pass the request id: /v1/generation?id=...");
    gr_ledger_row row;
    gr_status rc = gr_store_generation_get(c->store, id, &row);
    if (rc == GR_OK && owner_id && strcmp(row.key_id, owner_id) != 0) rc = GR_ERR_NOT_FOUND;
    if (rc == GR_ERR_NOT_FOUND)
        return fail(out, 404, "invalid_request_error", "generation_not_found", "id",
                    "No generation with id '%s' for this key (rows appear shortly after the "
                    "request completes).",
                    id);
    if (rc) return store_error(out, rc);
    cJSON *root = cJSON_CreateObject();
    cJSON_AddItemToObject(root, "data", gr_admin_generation_json(&row));
    return reply(out, 200, root);
}

static int handle_admin(gr_admin_ctx *c, const char *method, const char *path, const char *query,
                        const char *body, size_t body_len, int64_t now, char **out) {
    if (strcmp(path, "/admin/keys") == 0) {
        if (strcmp(method, "POST") == 0) return keys_create(c, body, body_len, now, out);
        if (strcmp(method, "GET") == 0) return keys_list(c, now, out);
        return fail(out, 405, "invalid_request_error", "method_not_allowed", NULL,
                    "Use GET or POST on /admin/keys.");
    }
    if (strncmp(path, "/admin/keys/", 12) == 0 && strlen(path) > 19 && !strcmp(path + strlen(path) - 7, "/rotate")) {
        if (strcmp(method, "POST") != 0)
            return fail(out, 405, "invalid_request_error", "method_not_allowed", NULL,
                        "Use POST on /admin/keys/{id}/rotate.");
        char id[GR_KEY_ID_MAX];
        size_t idlen = strlen(path) - 12 - 7;
        if (idlen >= sizeof id)
            return fail(out, 404, "invalid_request_error", "key_not_found", NULL, "No such key.");
        memcpy(id, path + 12, idlen);
        id[idlen] = '\0';
        return keys_rotate(c, id, body, body_len, now, out);
    }
    if (strncmp(path, "/admin/keys/", 12) == 0) {
        const char *id = path + 12;
        gr_key_entry *e = *id && !strchr(id, '/') ? gr_keys_find_id(c->keys, id) : NULL;
        if (!e)
            return fail(out, 404, "invalid_request_error", "key_not_found", NULL,
                        "No key with id '%.64s'.", id);
        if (strcmp(method, "GET") == 0) return key_info_reply(c, e, now, 200, NULL, out);
        if (strcmp(method, "PATCH") == 0) return keys_patch(c, e, body, body_len, now, out);
        if (strcmp(method, "DELETE") == 0) {
            gr_status rc = gr_keys_revoke(c->keys, id, now);
            if (rc == GR_ERR_UNSUPPORTED)
                return fail(out, 409, "invalid_request_error", "static_key", NULL,
                            "Keys defined in the config file are removed from the config file.");
            if (rc) return store_error(out, rc);
            return key_info_reply(c, e, now, 200, NULL, out);
        }
        return fail(out, 405, "invalid_request_error", "method_not_allowed", NULL,
                    "Use GET, PATCH or DELETE on /admin/keys/{id}.");
    }
    if (strcmp(path, "/admin/usage") == 0) {
        if (strcmp(method, "GET") != 0)
            return fail(out, 405, "invalid_request_error", "method_not_allowed", NULL,
                        "Use GET on /admin/usage.");
        return usage(c, query, out);
    }
    if (strcmp(path, "/admin/generation") == 0 && strcmp(method, "GET") == 0)
        return generation(c, query, NULL, out);
    return fail(out, 404, "invalid_request_error", "not_found", NULL, "Unknown admin endpoint.");
}

int gr_admin_handle(gr_admin_ctx *c, const char *method, const char *path, const char *query,
                    const char *body, size_t body_len, const char *bearer, char **out) {
    *out = NULL;
    int64_t now = c->now_ms ? c->now_ms() : (int64_t)gr_wall_ms();
    size_t blen;
    const char *tok = strip_bearer(bearer, &blen);
    if (strncmp(path, "/admin/", 7) == 0 || strcmp(path, "/admin") == 0) {
        if (!c->admin_key || !*c->admin_key)
            return fail(out, 404, "invalid_request_error", "not_found", NULL,
                        "The admin API is disabled (no admin_key configured).");
        if (!tok || !gr_secret_eq(tok, blen, c->admin_key, strlen(c->admin_key)))
            return fail(out, 401, "invalid_request_error", "invalid_admin_key", NULL,
                        "The admin API needs 'Authorization: Bearer <admin key>'.");
        return handle_admin(c, method, path, query, body, body_len, now, out);
    }
    if (strcmp(path, "/v1/key") == 0 || strcmp(path, "/v1/generation") == 0) {
        if (strcmp(method, "GET") != 0)
            return fail(out, 405, "invalid_request_error", "method_not_allowed", NULL,
                        "Use GET on %s.", path);
        gr_key_entry *e = NULL;
        gr_key_verdict v;
        if (!gr_keys_authenticate(c->keys, tok, blen, now, &e, &v)) {
            *out = gr_keys_verdict_json(&v);
            return v.status;
        }
        if (strcmp(path, "/v1/key") == 0) {
            gr_key_info info;
            gr_keys_info(e, now, &info);
            cJSON *root = cJSON_CreateObject();
            cJSON_AddItemToObject(root, "data", gr_keys_info_json(&info, now));
            gr_key_record_dispose(&info.rec);
            return reply(out, 200, root);
        }
        return generation(c, query, gr_keys_id(e), out);
    }
    return fail(out, 404, "invalid_request_error", "not_found", NULL, "Unknown endpoint.");
}
