/* config.c — YAML -> cJSON tree (with ${ENV} expansion) -> validated, typed,
 * reference-counted configuration snapshot; the process-wide current pointer. */
#include "config.h"
#include "gcp_service_account.h"
#include "provider_preset.h"
#include "config_schema.h"

#include <errno.h>
#include <netdb.h>
#include <sys/socket.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <yaml.h>

/* ---- ${ENV} expansion ---- */

/* Expands ${NAME} and ${NAME:-default}; "$$" is a literal "$". An unset
 * variable without a default is an error (a missing secret must not silently
 * become an empty key). */
static char *expand_env(const char *s, const char *path, gr_conf_err *e) {
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
                gr_conf_fail(e, "%s: unterminated ${ in value", path);
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
                gr_conf_fail(e, "%s: environment variable %s is not set (use ${%s:-default} for an optional value)",
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

static cJSON *scalar_to_json(const yaml_node_t *n, const char *path, gr_conf_err *e) {
    const char *v = (const char *)n->data.scalar.value;
    size_t len = n->data.scalar.length;
    bool plain = n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    if (strlen(v) != len) { /* embedded NUL */
        gr_conf_fail(e, "%s: value contains a NUL byte", path);
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

static cJSON *node_to_json(yaml_document_t *doc, yaml_node_t *n, const char *path, int depth, gr_conf_err *e) {
    if (!n) {
        gr_conf_fail(e, "%s: missing node", path);
        return NULL;
    }
    if (depth > 32) {
        gr_conf_fail(e, "%s: nesting too deep", path);
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
                gr_conf_fail(e, "%s: mapping keys must be plain strings", path);
                cJSON_Delete(obj);
                return NULL;
            }
            const char *key = (const char *)k->data.scalar.value;
            snprintf(sub, sizeof(sub), "%s%s%s", path, path[0] ? "." : "", key);
            if (cJSON_GetObjectItemCaseSensitive(obj, key)) {
                gr_conf_fail(e, "%s: duplicate key", sub);
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

static cJSON *yaml_to_json(const char *text, size_t len, gr_conf_err *e) {
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) {
        gr_conf_fail(e, "yaml: cannot initialise parser");
        return NULL;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        gr_conf_fail(e, "yaml syntax error at line %zu column %zu: %s", parser.problem_mark.line + 1,
             parser.problem_mark.column + 1, parser.problem ? parser.problem : "unknown");
        yaml_parser_delete(&parser);
        return NULL;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    cJSON *json = root ? node_to_json(&doc, root, "", 0, e) : cJSON_CreateObject();
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    if (json && !cJSON_IsObject(json)) {
        gr_conf_fail(e, "config: the top level must be a mapping");
        cJSON_Delete(json);
        return NULL;
    }
    return json;
}

/* ---- typed field readers (values the key tables cannot describe) ---- */

static char *get_str(const cJSON *obj, const char *key, const char *dflt, const char *path, gr_conf_err *e) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v || cJSON_IsNull(v)) return dflt ? gr_xstrdup(dflt) : NULL;
    if (cJSON_IsString(v)) return gr_xstrdup(v->valuestring);
    if (cJSON_IsNumber(v) && v->valuestring) return gr_xstrdup(v->valuestring);
    gr_conf_fail(e, "%s.%s: expected a string", path, key);
    return NULL;
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

static int64_t get_price(const cJSON *obj, const char *key, const char *path, gr_conf_err *e, bool *set) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v || cJSON_IsNull(v)) return 0;
    const char *txt = (cJSON_IsNumber(v) || cJSON_IsString(v)) ? v->valuestring : NULL;
    int64_t x = 0;
    if (!txt || gr_parse_decimal_scaled(txt, 6, &x) != GR_OK) {
        gr_conf_fail(e, "%s.%s: expected a price in USD like 0.15 (at most 6 decimals)", path, key);
        return 0;
    }
    *set = true;
    return x;
}

static char **get_str_list(const cJSON *obj, const char *key, size_t *n, const char *path, gr_conf_err *e) {
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
        gr_conf_fail(e, "%s.%s: expected a list of strings", path, key);
        return NULL;
    }
    size_t cnt = (size_t)cJSON_GetArraySize(v);
    char **r = gr_xcalloc(cnt ? cnt : 1, sizeof(char *));
    const cJSON *it;
    cJSON_ArrayForEach(it, v) {
        if (!cJSON_IsString(it)) {
            gr_conf_fail(e, "%s.%s[%zu]: expected a string", path, key, *n);
            break;
        }
        r[(*n)++] = gr_xstrdup(it->valuestring);
    }
    return r;
}

static void free_str_list(char **l, size_t n) {
    for (size_t i = 0; i < n; i++) free(l[i]);
    free(l);
}

/* ---- server ---- */

static const char *const upstream_client_names[] = {"auto", "curl", NULL};

#define S(field) GR_CONF_F(gr_server_conf, field)
const gr_conf_key gr_conf_server_keys[] = {
    {"listen", GR_CONF_STRING, S(listen), 0, 0, NULL, NULL,
     "\"host:port\" or \"[ipv6]:port\"; overrides host and port. Restart."},
    {"host", GR_CONF_STRING, S(host), 0, 0, "127.0.0.1", NULL, "address to listen on. Restart."},
    {"port", GR_CONF_COUNT, S(port), 0, 65535, "8080", NULL, "port to listen on. Restart."},
    {"reuse_port", GR_CONF_BOOL, S(reuse_port), 0, 1, "false", NULL,
     "share the port with other processes (SO_REUSEPORT); false = a port in use is a start-up error. Restart."},
    {"workers", GR_CONF_COUNT, S(workers), 0, 256, "0", NULL, "worker threads; 0 = online cores. Restart."},
    {"max_body_bytes", GR_CONF_BYTES, S(max_body_bytes), 0, 4294967296.0, "8MiB", NULL, "request body cap -> 413"},
    {"max_decompressed_body_bytes", GR_CONF_BYTES, S(max_decompressed_body_bytes), 1024, 4294967296.0, "8MiB", NULL,
     "a gzip or deflate request body may inflate to at most this -> 413"},
    {"max_header_bytes", GR_CONF_BYTES, S(max_header_bytes), 0, 16777216, "64KiB", NULL,
     "request line + headers cap -> 431. Restart."},
    {"client_timeout_ms", GR_CONF_MS, S(client_timeout_ms), 0, 86400000, "60000", NULL,
     "idle / headers / stalled body / stalled reply. Restart."},
    {"drain_timeout_ms", GR_CONF_MS, S(drain_timeout_ms), 0, 86400000, "30000", NULL, "SIGTERM drain limit"},
    {"max_upstream_response_bytes", GR_CONF_BYTES, S(max_upstream_response_bytes), 0, 17179869184.0, "32MiB", NULL,
     "non-streamed upstream body cap -> 502"},
    {"max_sse_event_bytes", GR_CONF_BYTES, S(max_sse_event_bytes), 0, 1073741824, "4MiB", NULL,
     "one upstream SSE event cap"},
    {"max_client_buffer_bytes", GR_CONF_BYTES, S(max_client_buffer_bytes), 0, 4294967296.0, "1MiB", NULL,
     "unsent bytes to a slow client before pausing the upstream"},
    {"max_stream_bytes", GR_CONF_BYTES, S(max_stream_bytes), 0, 1099511627776.0, "0", NULL,
     "one streamed response cap; 0 = unlimited"},
    {"mock_port", GR_CONF_COUNT, S(mock_port), 0, 65535, "0", NULL, "in-process mock port; 0 = ephemeral. Restart."},
    {"keys_refresh_ms", GR_CONF_MS, S(keys_refresh_ms), 0, 86400000, "5000", NULL,
     "re-read virtual keys and their committed spend from the store; 0 = only on SIGHUP"},
    {"upstream_client", GR_CONF_ENUM, S(upstream_client), 0, 0, "auto", upstream_client_names,
     "auto: own HTTP/1.1 client for http://, libcurl for https://; curl: libcurl for all. Restart."},
    {"upstream_keepalive", GR_CONF_COUNT, S(upstream_keepalive), 0, 65536, "256", NULL,
     "idle upstream connections per worker. Restart."},
    {"upstream_keepalive_ms", GR_CONF_MS, S(upstream_keepalive_ms), 0, 86400000, "30000", NULL,
     "idle upstream connection lifetime. Restart."},
    {"cors", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL, "CORS for browsers (see server.cors); off by default"},
    {"metrics_token", GR_CONF_STRING, S(metrics_token), 0, 0, NULL, NULL,
     "bearer token GET /metrics requires (>= 16 characters); unset = open"},
    {"body_timeout_ms", GR_CONF_MS, S(body_timeout_ms), 100, 86400000, "120000", NULL,
     "a request's body must arrive within this of its first byte -> 408. Restart."},
    {"max_connections", GR_CONF_COUNT, S(max_connections), 0, 10000000, "10000", NULL,
     "open client connections, all workers (split per worker); 0 = no cap. Restart."},
    {"accept_backoff_ms", GR_CONF_MS, S(accept_backoff_ms), 1, 60000, "500", NULL,
     "accepting pauses this long when accept() fails for want of descriptors or memory (as nginx). Restart."},
    GR_CONF_END,
};
#undef S

typedef struct {
    uint32_t max_age_ms;
} cors_conf;

const gr_conf_key gr_conf_cors_keys[] = {
    {"origins", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL,
     "list of allowed Origin values (scheme://host[:port]) or \"*\"; empty = off"},
    {"max_age", GR_CONF_MS, GR_CONF_F(cors_conf, max_age_ms), 0, 86400000, "10m", NULL,
     "how long a browser may cache a preflight (sent in seconds)"},
    GR_CONF_END,
};

/* "host:port", "[v6]:port" or ":port" -> host, port. A bare IPv6 address
 * without brackets is refused: its last colon is ambiguous. */
static void split_listen(gr_server_conf *o, gr_conf_err *e) {
    const char *l = o->listen;
    const char *colon = NULL, *host = l;
    size_t hlen = 0;
    if (l[0] == '[') {
        const char *close = strchr(l, ']');
        if (!close || close[1] != ':') {
            gr_conf_fail(e, "server.listen: expected [ipv6]:port, got '%s'", l);
            return;
        }
        host = l + 1;
        hlen = (size_t)(close - host);
        colon = close + 1;
    } else {
        colon = strrchr(l, ':');
        if (!colon) {
            gr_conf_fail(e, "server.listen: expected host:port, got '%s'", l);
            return;
        }
        hlen = (size_t)(colon - l);
        if (memchr(l, ':', hlen)) {
            gr_conf_fail(e, "server.listen: write an IPv6 address in brackets, like [::1]:8080 (got '%s')", l);
            return;
        }
    }
    uint64_t port = 0;
    if (gr_conf_parse_uint(colon + 1, GR_CONF_COUNT, &port) != GR_OK || port > 65535) {
        gr_conf_fail(e, "server.listen: bad port in '%s'", l);
        return;
    }
    free(o->host);
    o->host = hlen ? gr_xstrndup(host, hlen) : gr_xstrdup("0.0.0.0");
    o->port = (uint16_t)port;
}

/* The host must be a numeric address or a well-formed DNS name. Names are
 * not resolved here: --check-config may run where the production resolver
 * is not (CI), so a name that does not resolve is a start-up error only. */
static bool dns_name_ok(const char *h) {
    size_t n = strlen(h), label = 0;
    if (!n || n > 253) return false;
    for (const char *p = h; *p; p++) {
        char c = *p;
        if (c == '.') {
            if (!label || p[-1] == '-') return false;
            label = 0;
        } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || (c == '-' && label)) {
            if (++label > 63) return false;
        } else {
            return false;
        }
    }
    return label && h[n - 1] != '-';
}

static void check_listen_host(const gr_server_conf *o, gr_conf_err *e) {
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
    bool numeric = getaddrinfo(o->host, "1", &hints, &res) == 0;
    if (res) freeaddrinfo(res);
    if (!numeric && !dns_name_ok(o->host))
        gr_conf_fail(e, "server.host: '%s' is neither an IP address nor a host name", o->host);
}

static void parse_cors(const cJSON *j, gr_server_conf *o, gr_conf_err *e) {
    cors_conf cc = {0};
    gr_conf_load_keys(j, "server.cors", gr_conf_cors_keys, &cc, e);
    o->cors_max_age_ms = cc.max_age_ms;
    if (!cJSON_IsObject(j)) return;
    o->cors_origins = get_str_list(j, "origins", &o->ncors_origins, "server.cors", e);
    for (size_t i = 0; i < o->ncors_origins; i++) {
        const char *s = o->cors_origins[i];
        if (strcmp(s, "*") && strncmp(s, "http://", 7) && strncmp(s, "https://", 8))
            gr_conf_fail(e, "server.cors.origins[%zu]: expected \"*\" or an origin like https://app.example.com, got '%s'",
                         i, s);
        else if (strcmp(s, "*") && (strchr(s + 8, '/') || strpbrk(s, " \r\n")))
            gr_conf_fail(e, "server.cors.origins[%zu]: an origin has no path, got '%s'", i, s);
    }
}

static void parse_server(const cJSON *s, gr_server_conf *o, gr_conf_err *e) {
    gr_conf_load_keys(s, "server", gr_conf_server_keys, o, e);
    if (e->failed) return;
    if (o->listen) split_listen(o, e);
    if (!e->failed) check_listen_host(o, e);
    o->upstream_curl_only = o->upstream_client == 1;
    if (o->metrics_token && !o->metrics_token[0]) {
        free(o->metrics_token);
        o->metrics_token = NULL;
    }
    if (o->metrics_token && strlen(o->metrics_token) < 16)
        gr_conf_fail(e, "server.metrics_token: at least 16 characters (or leave it out for an open /metrics)");
    parse_cors(cJSON_GetObjectItemCaseSensitive(s, "cors"), o, e);
}

/* ---- providers ---- */

#define T(field) GR_CONF_F(gr_timeouts, field)
const gr_conf_key gr_conf_timeout_keys[] = {
    {"connect_ms", GR_CONF_MS, T(connect_ms), 0, 3600000, "10000", NULL, "TCP+TLS connect"},
    {"first_byte_ms", GR_CONF_MS, T(first_byte_ms), 0, 3600000, "120000", NULL, "request sent -> first response byte"},
    {"idle_ms", GR_CONF_MS, T(idle_ms), 0, 3600000, "60000", NULL, "longest silence between bytes"},
    {"total_ms", GR_CONF_MS, T(total_ms), 0, 86400000, "600000", NULL, "whole transfer, streams included; 0 = none"},
    GR_CONF_END,
};
#undef T

static const char *const kind_names[] = {"openai", "openai-compatible", "anthropic", "gemini", "azure", "mock", "bedrock", "vertex", NULL};
static const gr_provider_kind kind_of_name[] = {GR_PROVIDER_OPENAI, GR_PROVIDER_OPENAI, GR_PROVIDER_ANTHROPIC,
                                                GR_PROVIDER_GEMINI, GR_PROVIDER_AZURE, GR_PROVIDER_MOCK,
                                                GR_PROVIDER_BEDROCK, GR_PROVIDER_VERTEX};

const char *gr_provider_kind_name(gr_provider_kind k) {
    switch (k) {
    case GR_PROVIDER_OPENAI: return "openai";
    case GR_PROVIDER_ANTHROPIC: return "anthropic";
    case GR_PROVIDER_GEMINI: return "gemini";
    case GR_PROVIDER_AZURE: return "azure";
    case GR_PROVIDER_MOCK: return "mock";
    case GR_PROVIDER_BEDROCK: return "bedrock";
    case GR_PROVIDER_VERTEX: return "vertex";
    }
    return "unknown";
}

#define P(field) GR_CONF_F(gr_provider_conf, field)
const gr_conf_key gr_conf_provider_keys[] = {
    {"name", GR_CONF_STRING, P(name), 0, 0, NULL, NULL, "required; referenced by models[].provider"},
    {"kind", GR_CONF_ENUM, P(kind_id), 0, 0, "openai", kind_names, "wire protocol"},
    {"preset", GR_CONF_ENUM, P(preset_id), 0, 0, "none", gr_provider_preset_names,
     "a known OpenAI-compatible service: default base_url, its refused/renamed fields (docs/PROVIDERS.md)"},
    {"base_url", GR_CONF_STRING, P(base_url), 0, 0, NULL, NULL,
     "http:// or https:// URL; required except for mock, presets, bedrock (default "
     "https://bedrock-runtime.<region>.amazonaws.com) and vertex (default https://<location>-aiplatform.googleapis.com)"},
    {"api_key", GR_CONF_STRING, P(api_key), 0, 0, NULL, NULL, "upstream credential; never logged"},
    {"api_version", GR_CONF_STRING, P(api_version), 0, 0, NULL, NULL, "anthropic-version / Azure api-version"},
    {"region", GR_CONF_STRING, P(region), 0, 0, NULL, NULL, "bedrock: AWS region (else AWS_REGION / AWS_DEFAULT_REGION)"},
    {"access_key_id", GR_CONF_STRING, P(access_key_id), 0, 0, NULL, NULL,
     "bedrock: AWS access key id (else AWS_ACCESS_KEY_ID, with the two below from the environment too)"},
    {"secret_access_key", GR_CONF_STRING, P(secret_access_key), 0, 0, NULL, NULL,
     "bedrock: AWS secret access key (else AWS_SECRET_ACCESS_KEY); never logged"},
    {"session_token", GR_CONF_STRING, P(session_token), 0, 0, NULL, NULL,
     "bedrock: temporary-credential session token, sent as X-Amz-Security-Token (else AWS_SESSION_TOKEN); never logged"},
    {"service_account", GR_CONF_STRING, P(service_account), 0, 0, NULL, NULL,
     "vertex: service-account key file path, or the key's JSON inline (else GOOGLE_APPLICATION_CREDENTIALS); never logged"},
    {"project", GR_CONF_STRING, P(project), 0, 0, NULL, NULL, "vertex: Google Cloud project (else the key's project_id)"},
    {"location", GR_CONF_STRING, P(location), 0, 0, NULL, NULL, "vertex: region such as us-central1, or global; required"},
    {"token_url", GR_CONF_STRING, P(token_url), 0, 0, NULL, NULL, "vertex: OAuth token endpoint (else the key's token_uri)"},
    {"token_timeout_ms", GR_CONF_MS, P(token_timeout_ms), 1, 600000, "10000", NULL,
     "vertex: one token call, and the longest a request waits when there is no valid token yet"},
    {"token_refresh_before_ms", GR_CONF_MS, P(token_refresh_before_ms), 0, 3600000, "300000", NULL,
     "vertex: the token is refreshed in the background this long before it expires"},
    {"headers", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL, "extra upstream headers, name: value"},
    {"timeouts", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL, "connect_ms, first_byte_ms, idle_ms, total_ms"},
    {"openrouter_provider", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL,
     "preset openrouter only: OpenRouter's provider-routing object (order, only, ignore, allow_fallbacks, "
     "data_collection, sort, …) sent as `provider` on every request"},
    {"latency_ms", GR_CONF_MS, P(mock_latency_ms), 0, 600000, "0", NULL, "mock only: delay before the first token"},
    {"tokens_per_sec", GR_CONF_COUNT, P(mock_tokens_per_sec), 0, 1000000, "0", NULL,
     "mock only: stream pace; 0 = as fast as possible"},
    {"responses_api", GR_CONF_BOOL, P(responses_api), 0, 0, "false", NULL,
     "kind openai or mock: the upstream serves POST /responses; /v1/responses requests that keep no "
     "gateway state (store: false, no previous_response_id) are relayed to it with only `model` rewritten"},
    GR_CONF_END,
};
#undef P

static char *env_dup(const char *name) {
    const char *v = getenv(name);
    return v && v[0] ? gr_xstrdup(v) : NULL;
}

/* kind bedrock: credentials from the config, else (as a set, as the AWS SDKs
 * read them) from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
 * AWS_SESSION_TOKEN; the region from the config, AWS_REGION or
 * AWS_DEFAULT_REGION; the endpoint defaults to the region's bedrock-runtime. */
static void aws_credentials(gr_provider_conf *o, const char *path, gr_conf_err *e) {
    if (!o->access_key_id && !o->secret_access_key) {
        o->access_key_id = env_dup("AWS_ACCESS_KEY_ID");
        o->secret_access_key = env_dup("AWS_SECRET_ACCESS_KEY");
        if (!o->session_token) o->session_token = env_dup("AWS_SESSION_TOKEN");
    }
    if (!o->region) o->region = env_dup("AWS_REGION");
    if (!o->region) o->region = env_dup("AWS_DEFAULT_REGION");
    if (!o->access_key_id || !o->access_key_id[0] || !o->secret_access_key || !o->secret_access_key[0]) {
        gr_conf_fail(e, "%s: kind bedrock needs access_key_id and secret_access_key (or AWS_ACCESS_KEY_ID and "
                        "AWS_SECRET_ACCESS_KEY in the environment)", path);
        return;
    }
    if (!o->region || !o->region[0] || strlen(o->region) > 32 || strspn(o->region, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(o->region)) {
        gr_conf_fail(e, "%s.region: kind bedrock needs an AWS region such as us-east-1 (or AWS_REGION in the environment)",
                     path);
        return;
    }
    if (!o->base_url) {
        char url[160];
        snprintf(url, sizeof url, "https://bedrock-runtime.%s.amazonaws.com", o->region);
        o->base_url = gr_xstrdup(url);
    }
}

static bool dns_label_ok(const char *s) {
    return s && s[0] && strlen(s) <= 63 && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == strlen(s);
}

/* kind vertex: the service-account key loaded and checked now (so
 * --check-config refuses an unreadable or malformed one), the project and
 * location known, the endpoint defaulted from the location. */
static void vertex_credentials(gr_provider_conf *o, const char *path, gr_conf_err *e) {
    if (!o->service_account) o->service_account = env_dup("GOOGLE_APPLICATION_CREDENTIALS");
    if (!o->service_account) {
        gr_conf_fail(e, "%s.service_account: kind vertex needs a service-account key (a file path or the JSON inline, or "
                        "GOOGLE_APPLICATION_CREDENTIALS in the environment)", path);
        return;
    }
    char err[256];
    if (gr_gcp_sa_load(o->service_account, &o->gcp_sa, err, sizeof err) != GR_OK) {
        gr_conf_fail(e, "%s.service_account: %s", path, err);
        return;
    }
    if (!o->project && gr_gcp_sa_project_id(o->gcp_sa)) o->project = gr_xstrdup(gr_gcp_sa_project_id(o->gcp_sa));
    if (!o->project || !o->project[0] || strpbrk(o->project, "/?#% ")) {
        gr_conf_fail(e, "%s.project: kind vertex needs a Google Cloud project id (the key file has no project_id)", path);
        return;
    }
    if (!dns_label_ok(o->location)) {
        gr_conf_fail(e, "%s.location: kind vertex needs a location such as us-central1 or global", path);
        return;
    }
    if (o->token_url && strncmp(o->token_url, "http://", 7) && strncmp(o->token_url, "https://", 8)) {
        gr_conf_fail(e, "%s.token_url: must start with http:// or https://", path);
        return;
    }
    if (!o->base_url) {
        char url[128];
        if (!strcmp(o->location, "global")) snprintf(url, sizeof url, "https://aiplatform.googleapis.com");
        else snprintf(url, sizeof url, "https://%s-aiplatform.googleapis.com", o->location);
        o->base_url = gr_xstrdup(url);
    }
}

/* preset: only on the OpenAI wire protocol; fills base_url when absent; a
 * hosted service without api_key cannot work, so the load refuses it. */
static void apply_preset(gr_provider_conf *o, const char *path, gr_conf_err *e) {
    o->preset = gr_provider_preset_at(o->preset_id);
    if (!o->preset) return;
    if (o->kind != GR_PROVIDER_OPENAI) {
        gr_conf_fail(e, "%s.preset: %s is an OpenAI-compatible service; kind must be openai (is %s)", path,
                     o->preset->name, gr_provider_kind_name(o->kind));
        return;
    }
    if (!o->base_url || !o->base_url[0]) {
        free(o->base_url);
        o->base_url = gr_xstrdup(o->preset->base_url);
    }
    if (o->preset->key_required && (!o->api_key || !o->api_key[0]))
        gr_conf_fail(e, "%s.api_key: required for preset %s (sent as Authorization: Bearer)", path, o->preset->name);
}

/* openrouter_provider: an object, only where the upstream is OpenRouter
 * (the gateway reads a client's own `provider` as its routing preferences
 * and never forwards it, so this is how OpenRouter's routing is asked). */
static void parse_openrouter_provider(const cJSON *j, gr_provider_conf *o, const char *path, gr_conf_err *e) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "openrouter_provider");
    if (!v || cJSON_IsNull(v)) return;
    if (!o->preset || strcmp(o->preset->name, "openrouter")) {
        gr_conf_fail(e, "%s.openrouter_provider: only with preset: openrouter", path);
        return;
    }
    if (!cJSON_IsObject(v)) {
        gr_conf_fail(e, "%s.openrouter_provider: expected a mapping (OpenRouter's provider-routing object)", path);
        return;
    }
    char *txt = cJSON_PrintUnformatted(v);
    if (!txt) abort();
    o->openrouter_provider = gr_xstrdup(txt);
    cJSON_free(txt);
}

static void parse_provider(const cJSON *j, gr_provider_conf *o, const char *path, gr_conf_err *e) {
    if (!cJSON_IsObject(j)) {
        gr_conf_fail(e, "%s: expected a mapping", path);
        return;
    }
    gr_conf_load_keys(j, path, gr_conf_provider_keys, o, e);
    if (e->failed) return;
    o->kind = kind_of_name[o->kind_id];
    if (!o->name || !o->name[0]) gr_conf_fail(e, "%s.name: required", path);
    if (o->kind == GR_PROVIDER_BEDROCK) aws_credentials(o, path, e);
    if (o->kind == GR_PROVIDER_VERTEX) vertex_credentials(o, path, e);
    apply_preset(o, path, e);
    parse_openrouter_provider(j, o, path, e);
    if (o->kind != GR_PROVIDER_MOCK) {
        if (!o->base_url || !o->base_url[0])
            gr_conf_fail(e, "%s.base_url: required for kind %s", path, gr_provider_kind_name(o->kind));
        else if (strncmp(o->base_url, "http://", 7) && strncmp(o->base_url, "https://", 8))
            gr_conf_fail(e, "%s.base_url: must start with http:// or https://", path);
    }
    if (o->responses_api && o->kind != GR_PROVIDER_OPENAI && o->kind != GR_PROVIDER_MOCK)
        gr_conf_fail(e, "%s.responses_api: only kind openai (or mock) speaks the Responses API", path);
    if (o->base_url) { /* normalise: no trailing slash */
        size_t n = strlen(o->base_url);
        while (n && o->base_url[n - 1] == '/') o->base_url[--n] = '\0';
    }
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(j, "headers");
    if (h && !cJSON_IsNull(h) && !cJSON_IsObject(h)) gr_conf_fail(e, "%s.headers: expected a mapping of name: value", path);
    else if (cJSON_IsObject(h)) {
        size_t cnt = (size_t)cJSON_GetArraySize(h);
        o->headers = gr_xcalloc(cnt ? cnt : 1, sizeof(*o->headers));
        const cJSON *it;
        cJSON_ArrayForEach(it, h) {
            const char *val = cJSON_IsString(it) ? it->valuestring : (cJSON_IsNumber(it) ? it->valuestring : NULL);
            if (!val || !it->string[0] || strpbrk(it->string, "\r\n: ") || strpbrk(val, "\r\n")) {
                gr_conf_fail(e, "%s.headers.%s: invalid header", path, it->string);
                break;
            }
            o->headers[o->nheaders].name = gr_xstrdup(it->string);
            o->headers[o->nheaders].value = gr_xstrdup(val);
            o->nheaders++;
        }
    }
    char sub[256];
    snprintf(sub, sizeof(sub), "%s.timeouts", path);
    gr_conf_load_keys(cJSON_GetObjectItemCaseSensitive(j, "timeouts"), sub, gr_conf_timeout_keys, &o->timeouts, e);
}

/* ---- models ---- */

const gr_conf_key gr_conf_price_keys[] = {
    {"input", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL, "USD per 1M input tokens (decimal, at most 6 decimals)"},
    {"output", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL, "USD per 1M output tokens"},
    {"cached_input", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL, "USD per 1M cached input tokens"},
    {"cache_write_input", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL,
     "USD per 1M input tokens written to the 5-minute prompt cache (Anthropic); default 1.25 x input"},
    {"cache_write_1h_input", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL,
     "USD per 1M input tokens written to the 1-hour prompt cache (Anthropic); default 2 x input"},
    {"per_request", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL, "USD per request"},
    GR_CONF_END,
};

static void parse_prices(const cJSON *j, gr_prices *o, const char *path, gr_conf_err *e) {
    if (!j || cJSON_IsNull(j)) return;
    if (!cJSON_IsObject(j)) {
        gr_conf_fail(e, "%s: expected a mapping of input/output/cached_input/cache_write_input/cache_write_1h_input/per_request (USD per 1M tokens)",
                     path);
        return;
    }
    gr_conf_check_keys(j, path, gr_conf_price_keys, e);
    o->input_uusd_per_mtok = get_price(j, "input", path, e, &o->set);
    o->output_uusd_per_mtok = get_price(j, "output", path, e, &o->set);
    bool cached_set = false;
    o->cached_input_uusd_per_mtok = get_price(j, "cached_input", path, e, &cached_set);
    o->cached_input_set = cached_set;
    o->set = o->set || cached_set;
    o->cache_write_uusd_per_mtok = get_price(j, "cache_write_input", path, e, &o->set);
    o->cache_write_1h_uusd_per_mtok = get_price(j, "cache_write_1h_input", path, e, &o->set);
    o->per_request_uusd = get_price(j, "per_request", path, e, &o->set);
}

static uint32_t parse_caps(const cJSON *j, const char *path, gr_conf_err *e) {
    static const char *const names[] = {"chat", "tools", "vision", "json", "embeddings", "completions", "stream", NULL};
    static const uint32_t bits[] = {GR_CAP_CHAT, GR_CAP_TOOLS, GR_CAP_VISION, GR_CAP_JSON,
                                    GR_CAP_EMBEDDINGS, GR_CAP_COMPLETIONS, GR_CAP_STREAM};
    if (!j || cJSON_IsNull(j)) return GR_CAP_CHAT | GR_CAP_TOOLS | GR_CAP_JSON | GR_CAP_STREAM | GR_CAP_COMPLETIONS;
    if (!cJSON_IsArray(j)) {
        gr_conf_fail(e, "%s: expected a list like [chat, tools, vision, json, embeddings, completions, stream]", path);
        return 0;
    }
    uint32_t r = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, j) {
        bool ok = false;
        for (size_t i = 0; cJSON_IsString(it) && names[i]; i++)
            if (!strcmp(names[i], it->valuestring)) {
                r |= bits[i];
                ok = true;
            }
        if (!ok) {
            const char *hint = cJSON_IsString(it) ? gr_conf_suggest_name(it->valuestring, names) : NULL;
            gr_conf_fail(e, "%s: unknown capability '%s'%s%s%s", path, cJSON_IsString(it) ? it->valuestring : "?",
                         hint ? " (did you mean " : "", hint ? hint : "", hint ? "?)" : "");
            return 0;
        }
    }
    return r;
}

#define D(field) GR_CONF_F(gr_deployment, field)
const gr_conf_key gr_conf_deployment_keys[] = {
    {"provider", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL, "required; a providers[].name"},
    {"model", GR_CONF_STRING, D(upstream_model), 0, 0, NULL, NULL, "the provider's model id; default: the public name"},
    {"weight", GR_CONF_COUNT, D(weight), 1, 1000000, "1", NULL, "share of traffic for weighted selection"},
    {"region", GR_CONF_STRING, D(region), 0, 0, NULL, NULL, "shown in explanations"},
    {"pricing", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL, "overrides the model's pricing"},
    GR_CONF_END,
};
#undef D

#define M(field) GR_CONF_F(gr_model_conf, field)
const gr_conf_key gr_conf_model_keys[] = {
    {"name", GR_CONF_STRING, M(name), 0, 0, NULL, NULL, "required; the public name clients send as model"},
    {"aliases", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL, "more public names (string or list)"},
    {"provider", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL, "shorthand form: the provider name"},
    {"model", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL, "shorthand form: the provider's model id"},
    {"deployments", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL, "list of {provider, model, weight, region, pricing}"},
    {"fallbacks", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL, "ordered public model names; each must exist"},
    {"strategy", GR_CONF_ENUM, M(strategy_id), 0, 0, "weighted", gr_route_strategy_names,
     "deployment selection strategy"},
    {"pricing", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL, "input, output, cached_input, cache_write_input, cache_write_1h_input, per_request"},
    {"context_window", GR_CONF_COUNT, M(context_window), 0, 100000000, "128000", NULL, "tokens"},
    {"max_output_tokens", GR_CONF_COUNT, M(max_output_tokens), 0, 10000000, "4096", NULL,
     "used for the cost reservation when a request has no max_tokens"},
    {"capabilities", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL, "chat, tools, vision, json, embeddings, completions, stream"},
    {"quality", GR_CONF_COUNT, M(quality), 0, 100, "50", NULL, "quality tier for the auto router"},
    {"cache_ttl_s", GR_CONF_COUNT, M(cache_ttl_s), 0, 2592000, "0", NULL, "exact-match response cache seconds; 0 = off"},
    {"owned_by", GR_CONF_STRING, M(owned_by), 0, 0, NULL, NULL, "/v1/models; default: the first provider's name"},
    {"created", GR_CONF_COUNT, M(created), 0, 4294967295.0, "1700000000", NULL, "/v1/models, unix seconds"},
    GR_CONF_END,
};
#undef M

static void parse_deployment(const gr_config *c, const cJSON *j, gr_deployment *d, const char *dflt_model,
                             const char *path, gr_conf_err *e) {
    char *prov = get_str(j, "provider", NULL, path, e);
    if (!prov) {
        gr_conf_fail(e, "%s.provider: required", path);
        return;
    }
    d->provider = gr_config_find_provider(c, prov);
    if (!d->provider) gr_conf_fail(e, "%s.provider: unknown provider '%s'", path, prov);
    free(prov);
    /* the table checked the keys of a deployments[] entry; the shorthand form
     * shares its mapping with the model's keys, so fields are read here */
    d->upstream_model = get_str(j, "model", dflt_model, path, e);
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(j, "weight");
    d->weight = 1;
    if (w && !cJSON_IsNull(w)) {
        uint64_t x = 0;
        const char *t = cJSON_IsNumber(w) || cJSON_IsString(w) ? w->valuestring : NULL;
        if (gr_conf_parse_uint(t, GR_CONF_COUNT, &x) != GR_OK || x < 1 || x > 1000000)
            gr_conf_fail(e, "%s.weight: expected an integer 1..1000000", path);
        d->weight = (uint32_t)x;
    }
    d->region = get_str(j, "region", NULL, path, e);
    char sub[256];
    snprintf(sub, sizeof(sub), "%s.pricing", path);
    parse_prices(cJSON_GetObjectItemCaseSensitive(j, "pricing"), &d->prices, sub, e);
}

static void parse_model(const gr_config *c, const cJSON *j, gr_model_conf *m, const char *path, gr_conf_err *e) {
    if (!cJSON_IsObject(j)) {
        gr_conf_fail(e, "%s: expected a mapping", path);
        return;
    }
    gr_conf_load_keys(j, path, gr_conf_model_keys, m, e);
    if (!m->name || !m->name[0]) {
        gr_conf_fail(e, "%s.name: required", path);
        return;
    }
    m->strategy = gr_xstrdup(gr_route_strategy_names[m->strategy_id]);
    m->aliases = get_str_list(j, "aliases", &m->naliases, path, e);
    m->fallbacks = get_str_list(j, "fallbacks", &m->nfallbacks, path, e);
    char sub[256];
    snprintf(sub, sizeof(sub), "%s.pricing", path);
    parse_prices(cJSON_GetObjectItemCaseSensitive(j, "pricing"), &m->prices, sub, e);
    snprintf(sub, sizeof(sub), "%s.capabilities", path);
    m->caps = parse_caps(cJSON_GetObjectItemCaseSensitive(j, "capabilities"), sub, e);

    const cJSON *deps = cJSON_GetObjectItemCaseSensitive(j, "deployments");
    if (deps) {
        if (!cJSON_IsArray(deps) || cJSON_GetArraySize(deps) == 0) {
            gr_conf_fail(e, "%s.deployments: expected a non-empty list", path);
            return;
        }
        if (cJSON_GetObjectItemCaseSensitive(j, "provider") || cJSON_GetObjectItemCaseSensitive(j, "model"))
            gr_conf_fail(e, "%s: give either provider/model or deployments, not both", path);
        size_t cnt = (size_t)cJSON_GetArraySize(deps);
        m->deployments = gr_xcalloc(cnt, sizeof(gr_deployment));
        const cJSON *it;
        cJSON_ArrayForEach(it, deps) {
            snprintf(sub, sizeof(sub), "%s.deployments[%zu]", path, m->ndeployments);
            if (!cJSON_IsObject(it)) {
                gr_conf_fail(e, "%s: expected a mapping", sub);
                return;
            }
            gr_conf_check_keys(it, sub, gr_conf_deployment_keys, e);
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

/* ---- log, auth ---- */

static const char *const log_level_names[] = {"debug", "info", "warn", "error", NULL};

const gr_conf_key gr_conf_log_keys[] = {
    {"access_log", GR_CONF_STRING, GR_CONF_F(gr_log_conf, access_log), 0, 0, "-", NULL,
     "\"-\" = stdout, \"off\", or a file path"},
    {"access_log_buffer", GR_CONF_BYTES, GR_CONF_F(gr_log_conf, access_log_buffer), 0, 1048576, "0", NULL,
     "per-worker buffer of access-log lines (as nginx's buffer=); 0 = one write(2) per request. A kill -9 "
     "loses at most access_log_flush_ms of lines. Restart"},
    {"access_log_flush_ms", GR_CONF_MS, GR_CONF_F(gr_log_conf, access_log_flush_ms), 1, 60000, "1000", NULL,
     "with access_log_buffer: buffered lines are written at least this often (as nginx's flush=). Restart"},
    {"level", GR_CONF_ENUM, GR_CONF_F(gr_log_conf, level_id), 0, 0, "info", log_level_names, "operational log level"},
    GR_CONF_END,
};

static const char *const auth_mode_names[] = {"keys", "open", NULL}; /* gr_auth_mode order */

const gr_conf_key gr_conf_auth_keys[] = {
    {"mode", GR_CONF_ENUM, GR_CONF_F(gr_config, auth_mode), 0, 0, "keys", auth_mode_names,
     "keys = a known key (or an x402 payment) is required; open = anyone (warned at start)"},
    {"admin_key", GR_CONF_STRING, GR_CONF_F(gr_config, admin_key), 0, 0, NULL, NULL,
     "enables /admin/*; empty = none. Restart."},
    {"keys", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL, "static client keys: strings or {name, key}, >= 8 characters"},
    GR_CONF_END,
};

static void parse_auth(gr_config *c, const cJSON *auth, const cJSON *x402, gr_conf_err *e) {
    static const gr_conf_key key_entry_keys[] = {
        {"name", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL, NULL},
        {"key", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL, NULL},
        GR_CONF_END,
    };
    gr_conf_load_keys(auth, "auth", gr_conf_auth_keys, c, e);
    if (c->auth_mode == GR_AUTH_OPEN && x402 && !cJSON_IsNull(x402) &&
        !cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(x402, "enabled")))
        gr_conf_fail(e, "auth.mode: open cannot be combined with x402 (a request without a key pays there); "
                        "use auth.mode: keys");
    if (c->admin_key && !c->admin_key[0]) {
        free(c->admin_key);
        c->admin_key = NULL;
    }
    const cJSON *keys = cJSON_IsObject(auth) ? cJSON_GetObjectItemCaseSensitive(auth, "keys") : NULL;
    if (!keys || cJSON_IsNull(keys)) return;
    if (!cJSON_IsArray(keys)) {
        gr_conf_fail(e, "auth.keys: expected a list");
        return;
    }
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
            gr_conf_check_keys(it, sub, key_entry_keys, e);
            k->key = get_str(it, "key", NULL, sub, e);
            k->name = get_str(it, "name", sub, sub, e);
        } else {
            gr_conf_fail(e, "%s: expected a string or {name, key}", sub);
        }
        c->nkeys++;
        if (!k->key || strlen(k->key) < 8) gr_conf_fail(e, "%s: key missing or shorter than 8 characters", sub);
    }
}

/* The vocabulary of models[].strategy; route.c gives each its meaning. */
const char *const gr_route_strategy_names[GR_ROUTE_NSTRATEGY_NAMES + 1] = {
    "weighted",   "weighted-random", "simple-shuffle", "round-robin", "least-latency",
    "latency-based", "least-busy",   "least-cost",     "cost-based",  NULL};

/* ---- the whole document ---- */

static const char *const core_sections[] = {"server", "log", "auth", "providers", "models", NULL};

static void check_top_keys(const cJSON *t, const gr_conf_section *sections, gr_conf_err *e) {
    gr_conf_key known[GR_ARRAY_LEN(core_sections) + GR_CONF_NSECTIONS];
    size_t n = 0;
    for (size_t i = 0; core_sections[i]; i++) known[n++] = (gr_conf_key){.name = core_sections[i], .type = GR_CONF_NESTED};
    for (size_t i = 0; i < GR_CONF_NSECTIONS; i++)
        known[n++] = (gr_conf_key){.name = sections[i].name, .type = GR_CONF_NESTED};
    known[n] = (gr_conf_key)GR_CONF_END;
    gr_conf_check_keys(t, "", known, e);
}

static void parse_all(gr_config *c, gr_conf_err *e) {
    const cJSON *t = c->tree;
    check_top_keys(t, c->sections, e);
    parse_server(cJSON_GetObjectItemCaseSensitive(t, "server"), &c->server, e);
    gr_conf_load_keys(cJSON_GetObjectItemCaseSensitive(t, "log"), "log", gr_conf_log_keys, &c->log, e);
    if (!e->failed) c->log.level = gr_xstrdup(log_level_names[c->log.level_id]);
    parse_auth(c, cJSON_GetObjectItemCaseSensitive(t, "auth"), cJSON_GetObjectItemCaseSensitive(t, "x402"), e);
    if (e->failed) return;

    const cJSON *provs = cJSON_GetObjectItemCaseSensitive(t, "providers");
    if (!cJSON_IsArray(provs) || cJSON_GetArraySize(provs) == 0) {
        gr_conf_fail(e, "providers: required, a non-empty list");
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
                gr_conf_fail(e, "%s.name: duplicate provider name '%s'", sub, c->providers[i].name);
    }
    if (e->failed) return;
    const cJSON *models = cJSON_GetObjectItemCaseSensitive(t, "models");
    if (!cJSON_IsArray(models) || cJSON_GetArraySize(models) == 0) {
        gr_conf_fail(e, "models: required, a non-empty list");
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
            const char *star = strchr(nm, '*');
            if (star && (a == 0 || star[1] || star == nm))
                gr_conf_fail(e, "%s: '%s': '*' may only end an alias, after at least one character (a prefix pattern)",
                             sub, nm);
            for (size_t i = 0; i + 1 < c->nmodels; i++) {
                const gr_model_conf *o = &c->models[i];
                bool dup = !strcmp(o->name, nm);
                for (size_t b = 0; b < o->naliases; b++) dup = dup || !strcmp(o->aliases[b], nm);
                if (dup) gr_conf_fail(e, "%s: model name or alias '%s' is already used", sub, nm);
            }
        }
    }
    for (size_t i = 0; i < c->nmodels; i++)
        for (size_t f = 0; f < c->models[i].nfallbacks; f++)
            if (!gr_config_find_model(c, c->models[i].fallbacks[f], strlen(c->models[i].fallbacks[f])))
                gr_conf_fail(e, "models[%zu].fallbacks[%zu]: unknown model '%s'", i, f, c->models[i].fallbacks[f]);
    if (e->failed) return;
    /* The sections other areas own: same load, same errors, typed results. */
    for (size_t i = 0; i < GR_CONF_NSECTIONS && !e->failed; i++)
        c->section[i] = c->sections[i].parse(cJSON_GetObjectItemCaseSensitive(t, c->sections[i].name), c, e);
}

/* ---- life cycle ---- */

static void config_free(gr_config *c) {
    if (!c) return;
    for (size_t i = 0; i < GR_CONF_NSECTIONS; i++)
        if (c->section[i] && c->sections[i].free) c->sections[i].free(c->section[i]);
    free(c->path);
    cJSON_Delete(c->tree);
    gr_conf_free_keys(gr_conf_server_keys, &c->server);
    free_str_list(c->server.cors_origins, c->server.ncors_origins);
    gr_conf_free_keys(gr_conf_log_keys, &c->log);
    free(c->log.level);
    for (size_t i = 0; i < c->nkeys; i++) {
        free(c->keys[i].name);
        free(c->keys[i].key);
    }
    free(c->keys);
    free(c->admin_key);
    for (size_t i = 0; i < c->nproviders; i++) {
        gr_provider_conf *p = &c->providers[i];
        gr_conf_free_keys(gr_conf_provider_keys, p);
        gr_gcp_sa_free(p->gcp_sa);
        free(p->openrouter_provider);
        for (size_t h = 0; h < p->nheaders; h++) {
            free(p->headers[h].name);
            free(p->headers[h].value);
        }
        free(p->headers);
    }
    free(c->providers);
    for (size_t i = 0; i < c->nmodels; i++) {
        gr_model_conf *m = &c->models[i];
        gr_conf_free_keys(gr_conf_model_keys, m);
        free_str_list(m->aliases, m->naliases);
        free_str_list(m->fallbacks, m->nfallbacks);
        for (size_t d = 0; d < m->ndeployments; d++) {
            free(m->deployments[d].upstream_model);
            free(m->deployments[d].region);
        }
        free(m->deployments);
        free(m->strategy);
    }
    free(c->models);
    free(c);
}

gr_config *gr_config_parse_string(const char *yaml, size_t len, const char *origin,
                                  const gr_conf_section sections[GR_CONF_NSECTIONS], char *err, size_t errlen) {
    gr_conf_err e = {err, errlen, false};
    if (err && errlen) err[0] = '\0';
    cJSON *tree = yaml_to_json(yaml, len, &e);
    if (!tree) return NULL;
    gr_config *c = gr_xcalloc(1, sizeof(*c));
    atomic_init(&c->refs, 1);
    c->tree = tree;
    c->sections = sections;
    c->path = gr_xstrdup(origin ? origin : "<string>");
    c->loaded_at_ms = gr_wall_ms();
    parse_all(c, &e);
    if (e.failed) {
        config_free(c);
        return NULL;
    }
    return c;
}

gr_config *gr_config_parse_file(const char *path, const gr_conf_section sections[GR_CONF_NSECTIONS], char *err,
                                size_t errlen) {
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
    gr_config *c = gr_config_parse_string(buf, len, path, sections, inner, sizeof(inner));
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
    return gr_model_lookup(c->models, c->nmodels, name, len);
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
