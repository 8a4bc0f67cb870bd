/* config.c — YAML -> cJSON tree (with ${ENV} expansion) -> validated, typed,
 * reference-counted configuration snapshot; the process-wide current pointer. */
#include "config.h"
#include "route_auto_config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <yaml.h>

/* ---- errors ---- */

typedef struct {
    char *buf;
    size_t len;
    bool failed;
} errbuf;

static void fail(errbuf *e, const char *fmt, ...) GR_PRINTF(2, 3);
static void fail(errbuf *e, const char *fmt, ...) {
    if (e->failed) return; /* keep the first, most specific error */
    e->failed = true;
    va_list ap;
    va_start(ap, fmt);
    if (e->buf && e->len) vsnprintf(e->buf, e->len, fmt, ap);
    va_end(ap);
}

/* ---- ${ENV} expansion ---- */

/* Expands ${NAME} and ${NAME:-default}; "$$" is a literal "$". An unset
 * variable without a default is an error (a missing secret must not silently
 * become an empty key). */
static char *expand_env(const char *s, const char *path, errbuf *e) {
    size_t cap = strlen(s) + 64, len = 0;
    char *out = gr_xmalloc(cap);
    for (const char *p = s; *p;) {
        const char *piece = p;
        size_t plen = 1;
        char *owned = NULL;
        if (p[0] == '$' && p[1] == '$') {
            plen = 1;
            p += 2;
        } else if (p[0] == '$' && p[1] == '{') {
            const char *end = strchr(p + 2, '}');
            if (!end) {
                fail(e, "%s: unterminated ${ in value", path);
                free(out);
                return NULL;
            }
            const char *name = p + 2;
            const char *dflt = NULL;
            size_t nlen = (size_t)(end - name), dlen = 0;
            const char *sep = NULL;
            for (const char *q = name; q + 1 < end; q++)
                if (q[0] == ':' && q[1] == '-') {
                    sep = q;
                    break;
                }
            if (sep) {
                nlen = (size_t)(sep - name);
                dflt = sep + 2;
                dlen = (size_t)(end - dflt);
            }
            owned = gr_xstrndup(name, nlen);
            const char *val = getenv(owned);
            if (val && *val) {
                piece = val;
                plen = strlen(val);
            } else if (dflt) {
                piece = dflt;
                plen = dlen;
            } else {
                fail(e, "%s: environment variable %s is not set (use ${%s:-default} for an optional value)",
                     path, owned, owned);
                free(owned);
                free(out);
                return NULL;
            }
            p = end + 1;
        } else {
            p++;
        }
        if (len + plen + 1 > cap) {
            cap = (len + plen + 1) * 2;
            out = gr_xrealloc(out, cap);
        }
        memcpy(out + len, piece, plen);
        len += plen;
        free(owned);
    }
    out[len] = '\0';
    return out;
}

/* ---- YAML -> cJSON ---- */

static cJSON *scalar_to_json(const yaml_node_t *n, const char *path, errbuf *e) {
    const char *v = (const char *)n->data.scalar.value;
    size_t len = n->data.scalar.length;
    bool plain = n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    if (strlen(v) != len) { /* embedded NUL */
        fail(e, "%s: value contains a NUL byte", path);
        return NULL;
    }
    if (plain) {
        if (!strcmp(v, "true") || !strcmp(v, "True") || !strcmp(v, "yes")) return cJSON_CreateTrue();
        if (!strcmp(v, "false") || !strcmp(v, "False") || !strcmp(v, "no")) return cJSON_CreateFalse();
        if (!strcmp(v, "null") || !strcmp(v, "~") || len == 0) return cJSON_CreateNull();
        /* Numbers: keep the original text too (valuestring) so prices can be
         * parsed exactly without going through a double. */
        char *end = NULL;
        errno = 0;
        double d = strtod(v, &end);
        if (end && *end == '\0' && errno == 0 && len && (v[0] == '-' || v[0] == '.' || (v[0] >= '0' && v[0] <= '9'))) {
            cJSON *num = cJSON_CreateNumber(d);
            num->valuestring = gr_xstrdup(v); /* freed by cJSON_Delete */
            return num;
        }
    }
    char *x = expand_env(v, path, e);
    if (!x) return NULL;
    cJSON *s = cJSON_CreateString(x);
    free(x);
    return s;
}

static cJSON *node_to_json(yaml_document_t *doc, yaml_node_t *n, const char *path, int depth, errbuf *e) {
    if (!n) {
        fail(e, "%s: missing node", path);
        return NULL;
    }
    if (depth > 32) {
        fail(e, "%s: nesting too deep", path);
        return NULL;
    }
    char sub[512];
    switch (n->type) {
    case YAML_SCALAR_NODE:
        return scalar_to_json(n, path, e);
    case YAML_SEQUENCE_NODE: {
        cJSON *arr = cJSON_CreateArray();
        int i = 0;
        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++, i++) {
            snprintf(sub, sizeof(sub), "%s[%d]", path, i);
            cJSON *c = node_to_json(doc, yaml_document_get_node(doc, *it), sub, depth + 1, e);
            if (!c) {
                cJSON_Delete(arr);
                return NULL;
            }
            cJSON_AddItemToArray(arr, c);
        }
        return arr;
    }
    case YAML_MAPPING_NODE: {
        cJSON *obj = cJSON_CreateObject();
        for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++) {
            yaml_node_t *k = yaml_document_get_node(doc, pr->key);
            if (!k || k->type != YAML_SCALAR_NODE) {
                fail(e, "%s: mapping keys must be plain strings", path);
                cJSON_Delete(obj);
                return NULL;
            }
            const char *key = (const char *)k->data.scalar.value;
            snprintf(sub, sizeof(sub), "%s%s%s", path, path[0] ? "." : "", key);
            if (cJSON_GetObjectItemCaseSensitive(obj, key)) {
                fail(e, "%s: duplicate key", sub);
                cJSON_Delete(obj);
                return NULL;
            }
            cJSON *c = node_to_json(doc, yaml_document_get_node(doc, pr->value), sub, depth + 1, e);
            if (!c) {
                cJSON_Delete(obj);
                return NULL;
            }
            cJSON_AddItemToObject(obj, key, c);
        }
        return obj;
    }
    default:
        return cJSON_CreateNull();
    }
}

static cJSON *yaml_to_json(const char *text, size_t len, errbuf *e) {
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) {
        fail(e, "yaml: cannot initialise parser");
        return NULL;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        fail(e, "yaml syntax error at line %zu column %zu: %s", parser.problem_mark.line + 1,
             parser.problem_mark.column + 1, parser.problem ? parser.problem : "unknown");
        yaml_parser_delete(&parser);
        return NULL;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    cJSON *json = root ? node_to_json(&doc, root, "", 0, e) : cJSON_CreateObject();
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    if (json && !cJSON_IsObject(json)) {
        fail(e, "config: the top level must be a mapping");
        cJSON_Delete(json);
        return NULL;
    }
    return json;
}

/* ---- typed field readers ---- */

typedef struct {
    const char *path;
    errbuf *e;
} ctx_t;

static void check_known_keys(const cJSON *obj, const char *path, const char *const *known, errbuf *e) {
    const cJSON *it;
    if (cJSON_IsNull(obj)) return; /* an empty section ("auth:") is all defaults */
    if (!cJSON_IsObject(obj)) {      /* a list or scalar has no keys (and NULL member names) */
        fail(e, "%s: expected a mapping", path[0] ? path : "config");
        return;
    }
    cJSON_ArrayForEach(it, obj) {
        bool ok = false;
        for (size_t i = 0; known[i]; i++)
            if (!strcmp(known[i], it->string)) ok = true;
        if (!ok) {
            fail(e, "%s%s%s: unknown key (known: see docs/CONFIG.md)", path, path[0] ? "." : "", it->string);
            return;
        }
    }
}

static char *get_str(const cJSON *obj, const char *key, const char *dflt, const char *path, errbuf *e) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v || cJSON_IsNull(v)) return dflt ? gr_xstrdup(dflt) : NULL;
    if (cJSON_IsString(v)) return gr_xstrdup(v->valuestring);
    if (cJSON_IsNumber(v) && v->valuestring) return gr_xstrdup(v->valuestring);
    fail(e, "%s.%s: expected a string", path, key);
    return NULL;
}

static uint64_t get_uint(const cJSON *obj, const char *key, uint64_t dflt, uint64_t max, const char *path, errbuf *e) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v || cJSON_IsNull(v)) return dflt;
    const char *txt = cJSON_IsNumber(v) ? v->valuestring : (cJSON_IsString(v) ? v->valuestring : NULL);
    if (!txt) {
        fail(e, "%s.%s: expected a non-negative integer", path, key);
        return dflt;
    }
    /* Accept size suffixes for byte limits: 8MiB, 64KiB, 1GiB. */
    char *end = NULL;
    errno = 0;
    unsigned long long x = strtoull(txt, &end, 10);
    if (end == txt || errno || txt[0] == '-') {
        fail(e, "%s.%s: expected a non-negative integer, got '%s'", path, key, txt);
        return dflt;
    }
    unsigned long long mul = 1;
    if (!strcmp(end, "KiB") || !strcmp(end, "k")) mul = 1024ull;
    else if (!strcmp(end, "MiB") || !strcmp(end, "m")) mul = 1024ull * 1024;
    else if (!strcmp(end, "GiB") || !strcmp(end, "g")) mul = 1024ull * 1024 * 1024;
    else if (!strcmp(end, "ms")) mul = 1;
    else if (!strcmp(end, "s")) mul = 1000;
    else if (*end) {
        fail(e, "%s.%s: cannot read '%s' as an integer", path, key, txt);
        return dflt;
    }
    if (x > max / mul) {
        fail(e, "%s.%s: %s is out of range (max %llu)", path, key, txt, (unsigned long long)max);
        return dflt;
    }
    return x * mul;
}

gr_status gr_parse_decimal_scaled(const char *s, int scale, int64_t *out) {
    if (!s || !*s) return GR_ERR_PARSE;
    int64_t whole = 0, frac = 0;
    int fdigits = 0;
    const char *p = s;
    if (*p == '+') p++;
    if (*p == '-') return GR_ERR_INVALID;
    bool any = false;
    for (; *p >= '0' && *p <= '9'; p++) {
        any = true;
        if (whole > (INT64_MAX - 9) / 10) return GR_ERR_TOO_LARGE;
        whole = whole * 10 + (*p - '0');
    }
    if (*p == '.') {
        p++;
        for (; *p >= '0' && *p <= '9'; p++) {
            any = true;
            if (fdigits < scale) {
                frac = frac * 10 + (*p - '0');
                fdigits++;
            } else if (*p != '0') {
                return GR_ERR_INVALID; /* more precision than representable */
            }
        }
    }
    if (*p || !any) return GR_ERR_PARSE;
    int64_t mul = 1;
    for (int i = 0; i < scale; i++) mul *= 10;
    for (int i = fdigits; i < scale; i++) frac *= 10;
    if (whole > (INT64_MAX - frac) / mul) return GR_ERR_TOO_LARGE;
    *out = whole * mul + frac;
    return GR_OK;
}

static int64_t get_price(const cJSON *obj, const char *key, const char *path, errbuf *e, bool *set) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v || cJSON_IsNull(v)) return 0;
    const char *txt = (cJSON_IsNumber(v) || cJSON_IsString(v)) ? v->valuestring : NULL;
    int64_t x = 0;
    if (!txt || gr_parse_decimal_scaled(txt, 6, &x) != GR_OK) {
        fail(e, "%s.%s: expected a price in USD like 0.15 (at most 6 decimals)", path, key);
        return 0;
    }
    *set = true;
    return x;
}

static char **get_str_list(const cJSON *obj, const char *key, size_t *n, const char *path, errbuf *e) {
    *n = 0;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v || cJSON_IsNull(v)) return NULL;
    if (cJSON_IsString(v)) {
        char **r = gr_xcalloc(1, sizeof(char *));
        r[0] = gr_xstrdup(v->valuestring);
        *n = 1;
        return r;
    }
    if (!cJSON_IsArray(v)) {
        fail(e, "%s.%s: expected a list of strings", path, key);
        return NULL;
    }
    size_t cnt = (size_t)cJSON_GetArraySize(v);
    char **r = gr_xcalloc(cnt ? cnt : 1, sizeof(char *));
    const cJSON *it;
    cJSON_ArrayForEach(it, v) {
        if (!cJSON_IsString(it)) {
            fail(e, "%s.%s[%zu]: expected a string", path, key, *n);
            break;
        }
        r[(*n)++] = gr_xstrdup(it->valuestring);
    }
    return r;
}

/* ---- sections ---- */

static const char *const server_keys[] = {"listen", "host", "port", "workers", "max_body_bytes",
    "max_header_bytes", "client_timeout_ms", "drain_timeout_ms", "max_upstream_response_bytes",
    "max_sse_event_bytes", "max_client_buffer_bytes", "max_stream_bytes", "mock_port", "keys_refresh_ms",
    "upstream_client", "upstream_keepalive", "upstream_keepalive_ms", NULL};

static void parse_server(const cJSON *s, gr_server_conf *o, errbuf *e) {
    const char *p = "server";
    if (s && !cJSON_IsObject(s)) {
        fail(e, "server: expected a mapping");
        return;
    }
    if (s) check_known_keys(s, p, server_keys, e);
    o->host = get_str(s, "host", "127.0.0.1", p, e);
    o->port = (uint16_t)get_uint(s, "port", 8080, 65535, p, e);
    char *listen = get_str(s, "listen", NULL, p, e);
    if (listen) { /* "host:port" shorthand */
        char *colon = strrchr(listen, ':');
        if (!colon) {
            fail(e, "server.listen: expected host:port, got '%s'", listen);
        } else {
            *colon = '\0';
            char *end = NULL;
            unsigned long port = strtoul(colon + 1, &end, 10);
            if (!*(colon + 1) || *end || port > 65535) fail(e, "server.listen: bad port in '%s:%s'", listen, colon + 1);
            free(o->host);
            o->host = gr_xstrdup(listen[0] ? listen : "0.0.0.0");
            o->port = (uint16_t)port;
        }
        free(listen);
    }
    o->workers = (uint32_t)get_uint(s, "workers", 0, 256, p, e);
    o->max_body_bytes = get_uint(s, "max_body_bytes", 8ull << 20, 1ull << 32, p, e);
    o->max_header_bytes = get_uint(s, "max_header_bytes", 64ull << 10, 16ull << 20, p, e);
    o->client_timeout_ms = (uint32_t)get_uint(s, "client_timeout_ms", 60000, 86400000, p, e);
    o->drain_timeout_ms = (uint32_t)get_uint(s, "drain_timeout_ms", 30000, 86400000, p, e);
    o->max_upstream_response_bytes = get_uint(s, "max_upstream_response_bytes", 32ull << 20, 1ull << 34, p, e);
    o->max_sse_event_bytes = get_uint(s, "max_sse_event_bytes", 4ull << 20, 1ull << 30, p, e);
    o->max_client_buffer_bytes = get_uint(s, "max_client_buffer_bytes", 1ull << 20, 1ull << 32, p, e);
    o->max_stream_bytes = get_uint(s, "max_stream_bytes", 0, 1ull << 40, p, e);
    o->mock_port = (uint32_t)get_uint(s, "mock_port", 0, 65535, p, e);
    o->keys_refresh_ms = (uint32_t)get_uint(s, "keys_refresh_ms", 5000, 86400000, p, e);
    char *client = get_str(s, "upstream_client", "auto", p, e);
    if (client && strcmp(client, "auto") && strcmp(client, "curl"))
        fail(e, "server.upstream_client: expected auto or curl, got '%s'", client);
    o->upstream_curl_only = client && !strcmp(client, "curl");
    free(client);
    o->upstream_keepalive = (uint32_t)get_uint(s, "upstream_keepalive", 256, 65536, p, e);
    o->upstream_keepalive_ms = (uint32_t)get_uint(s, "upstream_keepalive_ms", 30000, 86400000, p, e);
}

static const char *const timeout_keys[] = {"connect_ms", "first_byte_ms", "idle_ms", "total_ms", NULL};

static void parse_timeouts(const cJSON *t, gr_timeouts *o, const char *path, errbuf *e) {
    o->connect_ms = 10000;
    o->first_byte_ms = 120000;
    o->idle_ms = 60000;
    o->total_ms = 600000;
    if (!t) return;
    if (!cJSON_IsObject(t)) {
        fail(e, "%s: expected a mapping", path);
        return;
    }
    check_known_keys(t, path, timeout_keys, e);
    o->connect_ms = (uint32_t)get_uint(t, "connect_ms", o->connect_ms, 3600000, path, e);
    o->first_byte_ms = (uint32_t)get_uint(t, "first_byte_ms", o->first_byte_ms, 3600000, path, e);
    o->idle_ms = (uint32_t)get_uint(t, "idle_ms", o->idle_ms, 3600000, path, e);
    o->total_ms = (uint32_t)get_uint(t, "total_ms", o->total_ms, 86400000, path, e);
}

static bool parse_kind(const char *s, gr_provider_kind *k) {
    static const struct { const char *name; gr_provider_kind kind; } kinds[] = {
        {"openai", GR_PROVIDER_OPENAI}, {"openai-compatible", GR_PROVIDER_OPENAI},
        {"anthropic", GR_PROVIDER_ANTHROPIC}, {"gemini", GR_PROVIDER_GEMINI},
        {"azure", GR_PROVIDER_AZURE}, {"mock", GR_PROVIDER_MOCK},
    };
    for (size_t i = 0; i < GR_ARRAY_LEN(kinds); i++)
        if (!strcmp(s, kinds[i].name)) {
            *k = kinds[i].kind;
            return true;
        }
    return false;
}

const char *gr_provider_kind_name(gr_provider_kind k) {
    switch (k) {
    case GR_PROVIDER_OPENAI: return "openai";
    case GR_PROVIDER_ANTHROPIC: return "anthropic";
    case GR_PROVIDER_GEMINI: return "gemini";
    case GR_PROVIDER_AZURE: return "azure";
    case GR_PROVIDER_MOCK: return "mock";
    }
    return "unknown";
}

static const char *const provider_keys[] = {"name", "kind", "base_url", "api_key", "api_version",
    "headers", "timeouts", "latency_ms", "tokens_per_sec", NULL};

static void parse_provider(const cJSON *j, gr_provider_conf *o, const char *path, errbuf *e) {
    if (!cJSON_IsObject(j)) {
        fail(e, "%s: expected a mapping", path);
        return;
    }
    check_known_keys(j, path, provider_keys, e);
    o->name = get_str(j, "name", NULL, path, e);
    if (!o->name || !o->name[0]) fail(e, "%s.name: required", path);
    char *kind = get_str(j, "kind", "openai", path, e);
    if (kind && !parse_kind(kind, &o->kind))
        fail(e, "%s.kind: unknown provider kind '%s' (openai, anthropic, gemini, azure, mock)", path, kind);
    free(kind);
    o->base_url = get_str(j, "base_url", NULL, path, e);
    if (o->kind != GR_PROVIDER_MOCK) {
        if (!o->base_url || !o->base_url[0]) fail(e, "%s.base_url: required for kind %s", path, gr_provider_kind_name(o->kind));
        else if (strncmp(o->base_url, "http://", 7) && strncmp(o->base_url, "https://", 8))
            fail(e, "%s.base_url: must start with http:// or https://", path);
    }
    if (o->base_url) { /* normalise: no trailing slash */
        size_t n = strlen(o->base_url);
        while (n && o->base_url[n - 1] == '/') o->base_url[--n] = '\0';
    }
    o->api_key = get_str(j, "api_key", NULL, path, e);
    o->api_version = get_str(j, "api_version", NULL, path, e);
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(j, "headers");
    if (h && !cJSON_IsObject(h)) fail(e, "%s.headers: expected a mapping of name: value", path);
    else if (h) {
        size_t cnt = (size_t)cJSON_GetArraySize(h);
        o->headers = gr_xcalloc(cnt ? cnt : 1, sizeof(*o->headers));
        const cJSON *it;
        cJSON_ArrayForEach(it, h) {
            const char *val = cJSON_IsString(it) ? it->valuestring : (cJSON_IsNumber(it) ? it->valuestring : NULL);
            if (!val || strpbrk(it->string, "\r\n:") || strpbrk(val, "\r\n")) {
                fail(e, "%s.headers.%s: invalid header", path, it->string);
                break;
            }
            o->headers[o->nheaders].name = gr_xstrdup(it->string);
            o->headers[o->nheaders].value = gr_xstrdup(val);
            o->nheaders++;
        }
    }
    char sub[256];
    snprintf(sub, sizeof(sub), "%s.timeouts", path);
    parse_timeouts(cJSON_GetObjectItemCaseSensitive(j, "timeouts"), &o->timeouts, sub, e);
    o->mock_latency_ms = (uint32_t)get_uint(j, "latency_ms", 0, 600000, path, e);
    o->mock_tokens_per_sec = (uint32_t)get_uint(j, "tokens_per_sec", 0, 1000000, path, e);
}

static const char *const price_keys[] = {"input", "output", "cached_input", "per_request", NULL};

static void parse_prices(const cJSON *j, gr_prices *o, const char *path, errbuf *e) {
    if (!j) return;
    if (!cJSON_IsObject(j)) {
        fail(e, "%s: expected a mapping of input/output/cached_input/per_request (USD per 1M tokens)", path);
        return;
    }
    check_known_keys(j, path, price_keys, e);
    o->input_uusd_per_mtok = get_price(j, "input", path, e, &o->set);
    o->output_uusd_per_mtok = get_price(j, "output", path, e, &o->set);
    o->cached_input_uusd_per_mtok = get_price(j, "cached_input", path, e, &o->set);
    o->per_request_uusd = get_price(j, "per_request", path, e, &o->set);
}

static uint32_t parse_caps(const cJSON *j, const char *path, errbuf *e) {
    static const struct { const char *name; uint32_t bit; } caps[] = {
        {"chat", GR_CAP_CHAT}, {"tools", GR_CAP_TOOLS}, {"vision", GR_CAP_VISION},
        {"json", GR_CAP_JSON}, {"embeddings", GR_CAP_EMBEDDINGS},
        {"completions", GR_CAP_COMPLETIONS}, {"stream", GR_CAP_STREAM},
    };
    if (!j) return GR_CAP_CHAT | GR_CAP_TOOLS | GR_CAP_JSON | GR_CAP_STREAM | GR_CAP_COMPLETIONS;
    if (!cJSON_IsArray(j)) {
        fail(e, "%s: expected a list like [chat, tools, vision, json, embeddings, completions, stream]", path);
        return 0;
    }
    uint32_t r = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, j) {
        bool ok = false;
        for (size_t i = 0; cJSON_IsString(it) && i < GR_ARRAY_LEN(caps); i++)
            if (!strcmp(caps[i].name, it->valuestring)) {
                r |= caps[i].bit;
                ok = true;
            }
        if (!ok) {
            fail(e, "%s: unknown capability '%s'", path, cJSON_IsString(it) ? it->valuestring : "?");
            return 0;
        }
    }
    return r;
}

static const char *const deployment_keys[] = {"provider", "model", "weight", "region", "pricing", NULL};
static const char *const model_keys[] = {"name", "aliases", "provider", "model", "deployments",
    "fallbacks", "strategy", "pricing", "context_window", "max_output_tokens", "capabilities",
    "quality", "owned_by", "created", "cache_ttl_s", NULL};

static void parse_deployment(const gr_config *c, const cJSON *j, gr_deployment *d, const char *dflt_model,
                             const char *path, errbuf *e) {
    char *prov = get_str(j, "provider", NULL, path, e);
    if (!prov) {
        fail(e, "%s.provider: required", path);
        return;
    }
    d->provider = gr_config_find_provider(c, prov);
    if (!d->provider) fail(e, "%s.provider: unknown provider '%s'", path, prov);
    free(prov);
    d->upstream_model = get_str(j, "model", dflt_model, path, e);
    d->weight = (uint32_t)get_uint(j, "weight", 1, 1000000, path, e);
    d->region = get_str(j, "region", NULL, path, e);
    char sub[256];
    snprintf(sub, sizeof(sub), "%s.pricing", path);
    parse_prices(cJSON_GetObjectItemCaseSensitive(j, "pricing"), &d->prices, sub, e);
}

static void parse_model(const gr_config *c, const cJSON *j, gr_model_conf *m, const char *path, errbuf *e) {
    if (!cJSON_IsObject(j)) {
        fail(e, "%s: expected a mapping", path);
        return;
    }
    check_known_keys(j, path, model_keys, e);
    m->name = get_str(j, "name", NULL, path, e);
    if (!m->name || !m->name[0]) {
        fail(e, "%s.name: required", path);
        return;
    }
    m->aliases = get_str_list(j, "aliases", &m->naliases, path, e);
    m->fallbacks = get_str_list(j, "fallbacks", &m->nfallbacks, path, e);
    m->strategy = get_str(j, "strategy", "weighted", path, e);
    char sub[256];
    snprintf(sub, sizeof(sub), "%s.pricing", path);
    parse_prices(cJSON_GetObjectItemCaseSensitive(j, "pricing"), &m->prices, sub, e);
    m->context_window = (uint32_t)get_uint(j, "context_window", 128000, 100000000, path, e);
    m->max_output_tokens = (uint32_t)get_uint(j, "max_output_tokens", 4096, 10000000, path, e);
    snprintf(sub, sizeof(sub), "%s.capabilities", path);
    m->caps = parse_caps(cJSON_GetObjectItemCaseSensitive(j, "capabilities"), sub, e);
    m->quality = (uint32_t)get_uint(j, "quality", 50, 100, path, e);
    m->cache_ttl_s = (uint32_t)get_uint(j, "cache_ttl_s", 0, 2592000, path, e);
    m->owned_by = get_str(j, "owned_by", NULL, path, e);
    m->created = get_uint(j, "created", 1700000000, UINT32_MAX, path, e);

    const cJSON *deps = cJSON_GetObjectItemCaseSensitive(j, "deployments");
    if (deps) {
        if (!cJSON_IsArray(deps) || cJSON_GetArraySize(deps) == 0) {
            fail(e, "%s.deployments: expected a non-empty list", path);
            return;
        }
        if (cJSON_GetObjectItemCaseSensitive(j, "provider"))
            fail(e, "%s: give either provider/model or deployments, not both", path);
        size_t cnt = (size_t)cJSON_GetArraySize(deps);
        m->deployments = gr_xcalloc(cnt, sizeof(gr_deployment));
        const cJSON *it;
        cJSON_ArrayForEach(it, deps) {
            snprintf(sub, sizeof(sub), "%s.deployments[%zu]", path, m->ndeployments);
            if (!cJSON_IsObject(it)) {
                fail(e, "%s: expected a mapping", sub);
                return;
            }
            check_known_keys(it, sub, deployment_keys, e);
            parse_deployment(c, it, &m->deployments[m->ndeployments++], m->name, sub, e);
        }
    } else {
        m->deployments = gr_xcalloc(1, sizeof(gr_deployment));
        m->ndeployments = 1;
        parse_deployment(c, j, &m->deployments[0], m->name, path, e);
        m->deployments[0].prices = (gr_prices){0};
    }
    if (!m->owned_by && m->ndeployments && m->deployments[0].provider)
        m->owned_by = gr_xstrdup(m->deployments[0].provider->name);
}

static const char *const top_keys[] = {"server", "log", "auth", "providers", "models", "store",
    "routing", "x402", "redis", "pricing", "keys", NULL};

static void parse_all(gr_config *c, errbuf *e) {
    const cJSON *t = c->tree;
    check_known_keys(t, "", top_keys, e);
    parse_server(cJSON_GetObjectItemCaseSensitive(t, "server"), &c->server, e);

    const cJSON *lg = cJSON_GetObjectItemCaseSensitive(t, "log");
    static const char *const log_keys[] = {"access_log", "level", NULL};
    if (lg) check_known_keys(lg, "log", log_keys, e);
    c->log.access_log = get_str(lg, "access_log", "-", "log", e);
    c->log.level = get_str(lg, "level", "info", "log", e);
    if (c->log.level && strcmp(c->log.level, "debug") && strcmp(c->log.level, "info") &&
        strcmp(c->log.level, "warn") && strcmp(c->log.level, "error"))
        fail(e, "log.level: expected debug, info, warn or error");

    const cJSON *auth = cJSON_GetObjectItemCaseSensitive(t, "auth");
    static const char *const auth_keys[] = {"keys", "admin_key", NULL};
    if (auth) check_known_keys(auth, "auth", auth_keys, e);
    c->admin_key = get_str(auth, "admin_key", NULL, "auth", e);
    if (c->admin_key && !c->admin_key[0]) {
        free(c->admin_key);
        c->admin_key = NULL;
    }
    const cJSON *keys = cJSON_GetObjectItemCaseSensitive(auth, "keys");
    if (keys) {
        if (!cJSON_IsArray(keys)) fail(e, "auth.keys: expected a list");
        else {
            c->keys = gr_xcalloc((size_t)cJSON_GetArraySize(keys) + 1, sizeof(gr_api_key));
            const cJSON *it;
            cJSON_ArrayForEach(it, keys) {
                char sub[64];
                snprintf(sub, sizeof(sub), "auth.keys[%zu]", c->nkeys);
                gr_api_key *k = &c->keys[c->nkeys];
                if (cJSON_IsString(it)) {
                    k->key = gr_xstrdup(it->valuestring);
                    k->name = gr_xstrdup(sub);
                } else if (cJSON_IsObject(it)) {
                    k->key = get_str(it, "key", NULL, sub, e);
                    k->name = get_str(it, "name", sub, sub, e);
                } else {
                    fail(e, "%s: expected a string or {name, key}", sub);
                }
                c->nkeys++;
                if (!k->key || strlen(k->key) < 8) fail(e, "%s: key missing or shorter than 8 characters", sub);
            }
        }
    }

    const cJSON *provs = cJSON_GetObjectItemCaseSensitive(t, "providers");
    if (!cJSON_IsArray(provs) || cJSON_GetArraySize(provs) == 0) {
        fail(e, "providers: required, a non-empty list");
        return;
    }
    c->providers = gr_xcalloc((size_t)cJSON_GetArraySize(provs), sizeof(gr_provider_conf));
    const cJSON *it;
    cJSON_ArrayForEach(it, provs) {
        char sub[64];
        snprintf(sub, sizeof(sub), "providers[%zu]", c->nproviders);
        parse_provider(it, &c->providers[c->nproviders], sub, e);
        c->nproviders++;
        for (size_t i = 0; i + 1 < c->nproviders; i++)
            if (c->providers[i].name && c->providers[c->nproviders - 1].name &&
                !strcmp(c->providers[i].name, c->providers[c->nproviders - 1].name))
                fail(e, "%s.name: duplicate provider name '%s'", sub, c->providers[i].name);
    }
    const cJSON *models = cJSON_GetObjectItemCaseSensitive(t, "models");
    if (!cJSON_IsArray(models) || cJSON_GetArraySize(models) == 0) {
        fail(e, "models: required, a non-empty list");
        return;
    }
    c->models = gr_xcalloc((size_t)cJSON_GetArraySize(models), sizeof(gr_model_conf));
    cJSON_ArrayForEach(it, models) {
        char sub[64];
        snprintf(sub, sizeof(sub), "models[%zu]", c->nmodels);
        gr_model_conf *m = &c->models[c->nmodels++];
        parse_model(c, it, m, sub, e);
        if (e->failed) return;
        /* Names and aliases share one namespace. */
        for (size_t a = 0; a <= m->naliases; a++) {
            const char *nm = a == 0 ? m->name : m->aliases[a - 1];
            for (size_t i = 0; i + 1 < c->nmodels; i++) {
                const gr_model_conf *o = &c->models[i];
                bool dup = !strcmp(o->name, nm);
                for (size_t b = 0; b < o->naliases; b++) dup = dup || !strcmp(o->aliases[b], nm);
                if (dup) fail(e, "%s: model name or alias '%s' is already used", sub, nm);
            }
        }
    }
    for (size_t i = 0; i < c->nmodels; i++)
        for (size_t f = 0; f < c->models[i].nfallbacks; f++)
            if (!gr_config_find_model(c, c->models[i].fallbacks[f], strlen(c->models[i].fallbacks[f])))
                fail(e, "models[%zu].fallbacks[%zu]: unknown model '%s'", i, f, c->models[i].fallbacks[f]);
    char aerr[512];
    if (!e->failed && gr_route_auto_config_check(c, aerr, sizeof(aerr)) != GR_OK) fail(e, "%s", aerr);
}

/* ---- life cycle ---- */

static void config_free(gr_config *c) {
    if (!c) return;
    free(c->path);
    cJSON_Delete(c->tree);
    free(c->server.host);
    free(c->log.access_log);
    free(c->log.level);
    for (size_t i = 0; i < c->nkeys; i++) {
        free(c->keys[i].name);
        free(c->keys[i].key);
    }
    free(c->keys);
    free(c->admin_key);
    for (size_t i = 0; i < c->nproviders; i++) {
        gr_provider_conf *p = &c->providers[i];
        free(p->name);
        free(p->base_url);
        free(p->api_key);
        free(p->api_version);
        for (size_t h = 0; h < p->nheaders; h++) {
            free(p->headers[h].name);
            free(p->headers[h].value);
        }
        free(p->headers);
    }
    free(c->providers);
    for (size_t i = 0; i < c->nmodels; i++) {
        gr_model_conf *m = &c->models[i];
        free(m->name);
        for (size_t a = 0; a < m->naliases; a++) free(m->aliases[a]);
        free(m->aliases);
        for (size_t f = 0; f < m->nfallbacks; f++) free(m->fallbacks[f]);
        free(m->fallbacks);
        for (size_t d = 0; d < m->ndeployments; d++) {
            free(m->deployments[d].upstream_model);
            free(m->deployments[d].region);
        }
        free(m->deployments);
        free(m->strategy);
        free(m->owned_by);
    }
    free(c->models);
    free(c);
}

gr_config *gr_config_load_string(const char *yaml, size_t len, const char *origin, char *err, size_t errlen) {
    errbuf e = {err, errlen, false};
    if (err && errlen) err[0] = '\0';
    cJSON *tree = yaml_to_json(yaml, len, &e);
    if (!tree) return NULL;
    gr_config *c = gr_xcalloc(1, sizeof(*c));
    atomic_init(&c->refs, 1);
    c->tree = tree;
    c->path = gr_xstrdup(origin ? origin : "<string>");
    c->loaded_at_ms = gr_wall_ms();
    parse_all(c, &e);
    if (e.failed) {
        config_free(c);
        return NULL;
    }
    return c;
}

gr_config *gr_config_load_file(const char *path, char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, len = 0;
    char *buf = gr_xmalloc(cap);
    size_t n;
    while ((n = fread(buf + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap) {
            if (cap >= (64u << 20)) {
                snprintf(err, errlen, "%s: config file larger than 64 MiB", path);
                free(buf);
                fclose(f);
                return NULL;
            }
            cap *= 2;
            buf = gr_xrealloc(buf, cap);
        }
    }
    fclose(f);
    char inner[768];
    gr_config *c = gr_config_load_string(buf, len, path, inner, sizeof(inner));
    free(buf);
    if (!c) snprintf(err, errlen, "%s: %s", path, inner);
    return c;
}

gr_config *gr_config_acquire(gr_config *c) {
    if (c) atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
    return c;
}

void gr_config_release(gr_config *c) {
    if (c && atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1) config_free(c);
}

const gr_model_conf *gr_config_find_model(const gr_config *c, const char *name, size_t len) {
    for (size_t i = 0; i < c->nmodels; i++) {
        const gr_model_conf *m = &c->models[i];
        if (m->name && strlen(m->name) == len && !memcmp(m->name, name, len)) return m;
        for (size_t a = 0; a < m->naliases; a++)
            if (strlen(m->aliases[a]) == len && !memcmp(m->aliases[a], name, len)) return m;
    }
    return NULL;
}

const gr_provider_conf *gr_config_find_provider(const gr_config *c, const char *name) {
    for (size_t i = 0; i < c->nproviders; i++)
        if (c->providers[i].name && !strcmp(c->providers[i].name, name)) return &c->providers[i];
    return NULL;
}

/* ---- the current snapshot (reloadable structure) ---- */

/* A reader loads the pointer and increments its count; a writer must not free
 * the old snapshot between those two steps. A tiny spin-guarded critical
 * section around the load+acquire (taken for nanoseconds, only contended on
 * reload) keeps that window closed without hazard pointers. */
static _Atomic(gr_config *) g_current_config;
static atomic_flag g_current_config_guard = ATOMIC_FLAG_INIT;

gr_config *gr_config_current_acquire(void) {
    while (atomic_flag_test_and_set_explicit(&g_current_config_guard, memory_order_acquire)) {
    }
    gr_config *c = gr_config_acquire(atomic_load_explicit(&g_current_config, memory_order_acquire));
    atomic_flag_clear_explicit(&g_current_config_guard, memory_order_release);
    return c;
}

void gr_config_current_set(gr_config *c) {
    while (atomic_flag_test_and_set_explicit(&g_current_config_guard, memory_order_acquire)) {
    }
    static atomic_uint_fast64_t generation;
    if (c) c->generation = atomic_fetch_add(&generation, 1) + 1;
    gr_config *old = atomic_exchange_explicit(&g_current_config, c, memory_order_acq_rel);
    atomic_flag_clear_explicit(&g_current_config_guard, memory_order_release);
    gr_config_release(old);
}
