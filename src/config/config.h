/* config.h — the typed, validated, immutable configuration snapshot.
 *
 * Loading: YAML (libyaml) is converted into a cJSON tree with ${ENV} and
 * ${ENV:-default} expansion in scalars, then every section is walked against
 * its declared key table (config_schema.h) into the typed structs below; an
 * error names the bad key by path ("models[2].provider: unknown provider
 * 'foo'", "routing.auto.qualty: unknown key (did you mean quality?)").
 * Sections owned by other areas (store, keys, routing, redis, x402) come as
 * a table from the caller — the gateway's config_sections.c, through
 * gr_config_load_file/_string (config_load.h) — and are parsed by the same
 * load into gr_config.section[]; --check-config, start-up and SIGHUP all run
 * it. The config layer itself never reaches up to the areas that own them.
 *
 * Life cycle and threading: a gr_config is immutable once loaded and
 * reference counted. Readers take a reference at request start
 * (gr_config_acquire) and drop it at request end; SIGHUP loads a new snapshot
 * and swaps the current pointer atomically, so in-flight requests finish on the
 * snapshot they started with. */
#ifndef GR_CONFIG_H
#define GR_CONFIG_H

#include "common.h"
#include "config_schema.h"
#include <stdatomic.h>
#include <cjson/cJSON.h>

typedef enum {
    GR_PROVIDER_OPENAI = 0, /* any OpenAI-compatible server (presets are data) */
    GR_PROVIDER_ANTHROPIC,
    GR_PROVIDER_GEMINI,
    GR_PROVIDER_AZURE,
    GR_PROVIDER_MOCK, /* built-in mock upstream, started in-process */
    GR_PROVIDER_BEDROCK, /* AWS Bedrock Converse API, SigV4-signed */
    GR_PROVIDER_VERTEX,  /* Google Vertex AI (Gemini, Anthropic), OAuth from a service account */
} gr_provider_kind;

const char *gr_provider_kind_name(gr_provider_kind k);

typedef struct gr_timeouts {
    uint32_t connect_ms;    /* TCP+TLS connect */
    uint32_t first_byte_ms; /* request sent -> first response byte */
    uint32_t idle_ms;       /* max silence between bytes once streaming */
    uint32_t total_ms;      /* whole transfer; 0 = no limit (streams) */
} gr_timeouts;

typedef struct gr_header_kv {
    char *name;
    char *value;
} gr_header_kv;

typedef struct gr_provider_conf {
    char *name;
    gr_provider_kind kind;
    char *base_url;    /* no trailing slash, e.g. https://api.openai.com/v1 */
    char *api_key;     /* may be NULL; never logged */
    char *api_version; /* anthropic-version / azure api-version */
    gr_header_kv *headers;
    size_t nheaders;
    gr_timeouts timeouts;
    /* AWS (kind bedrock): from the config, else the AWS_* environment at load; never logged */
    char *region;
    char *access_key_id;
    char *secret_access_key;
    char *session_token;
    /* Google Vertex AI (kind vertex) */
    char *service_account;           /* key file path or inline JSON (else GOOGLE_APPLICATION_CREDENTIALS) */
    char *project, *location;        /* project: else the key's project_id */
    char *token_url;                 /* else the key's token_uri */
    uint32_t token_timeout_ms;       /* one token call, and the longest a request waits for a first token */
    uint32_t token_refresh_before_ms; /* refresh this long before the token expires */
    struct gr_gcp_sa *gcp_sa;        /* the loaded key (gcp_service_account.h), one reference */
    /* mock provider knobs */
    uint32_t mock_latency_ms;    /* delay before the first token */
    uint32_t mock_tokens_per_sec; /* 0 = as fast as possible */
    int kind_id;                  /* index in the `kind` choices (config.c) */
    int preset_id;                /* index in gr_provider_preset_names (0 = none) */
    const struct gr_provider_preset *preset; /* quirks of a known OpenAI-compatible service, or NULL */
    char *openrouter_provider; /* preset openrouter: JSON object sent as the body's `provider`, or NULL */
    bool responses_api;           /* the upstream serves POST /responses (OpenAI's Responses API) */
} gr_provider_conf;

/* Prices are exact integers: micro-USD per 1M tokens (0.15 USD/Mtok = 150000),
 * parsed from the decimal text without floating point. */
typedef struct gr_prices {
    int64_t input_uusd_per_mtok;
    int64_t output_uusd_per_mtok;
    int64_t cached_input_uusd_per_mtok;
    int64_t cache_write_uusd_per_mtok;    /* 0 = 1.25 x input (Anthropic's 5-minute cache write) */
    int64_t cache_write_1h_uusd_per_mtok; /* 0 = 2 x input (Anthropic's 1-hour cache write) */
    int64_t per_request_uusd;
    bool cached_input_set; /* cached_input was given (else the provider kind's default ratio applies) */
    bool set;
} gr_prices;

enum {
    GR_CAP_CHAT = 1u << 0,
    GR_CAP_TOOLS = 1u << 1,
    GR_CAP_VISION = 1u << 2,
    GR_CAP_JSON = 1u << 3,
    GR_CAP_EMBEDDINGS = 1u << 4,
    GR_CAP_COMPLETIONS = 1u << 5,
    GR_CAP_STREAM = 1u << 6,
};

typedef struct gr_deployment {
    const gr_provider_conf *provider;
    char *upstream_model; /* provider's model id */
    uint32_t weight;
    char *region;
    gr_prices prices; /* per-deployment override; else the model's */
} gr_deployment;

typedef struct gr_model_conf {
    char *name;
    char **aliases;
    size_t naliases;
    gr_deployment *deployments;
    size_t ndeployments;
    char **fallbacks; /* ordered public model names */
    size_t nfallbacks;
    char *strategy; /* "weighted" (default), "round-robin", "least-latency", ... (validated) */
    int strategy_id; /* index in gr_route_strategy_names */
    gr_prices prices;
    uint32_t context_window;
    uint32_t max_output_tokens;
    uint32_t caps; /* GR_CAP_* */
    uint32_t quality; /* 0..100 quality tier used by the auto router */
    uint32_t cache_ttl_s; /* exact-match response cache (needs redis:); 0 = off */
    char *owned_by;
    uint64_t created; /* unix seconds shown in /v1/models */
} gr_model_conf;

typedef struct gr_api_key {
    char *name;
    char *key;
} gr_api_key;

/* Who may call the model endpoints (auth.mode). */
typedef enum {
    GR_AUTH_KEYS = 0, /* default: a known API key (or, with x402 on, a payment) is required */
    GR_AUTH_OPEN,     /* anyone; a known key is still recognised and its limits apply */
} gr_auth_mode;

typedef struct gr_server_conf {
    char *host;
    uint16_t port;
    uint32_t workers;             /* 0 = number of cores */
    uint64_t max_body_bytes;      /* request body cap -> 413 */
    uint64_t max_header_bytes;    /* request line + headers cap -> 431 and close (http-parser caps at 80 KiB) */
    uint32_t client_timeout_ms;   /* idle / headers / stalled body / stalled reply (http_server.h) */
    uint32_t drain_timeout_ms;    /* SIGTERM: wait this long for in-flight work */
    uint64_t max_upstream_response_bytes; /* non-streamed upstream body cap -> 502 */
    uint64_t max_sse_event_bytes;         /* one upstream SSE event cap -> 502 */
    uint64_t max_client_buffer_bytes;     /* unsent bytes to a slow client before pausing upstream */
    uint64_t max_stream_bytes;            /* one streamed response cap; 0 = unlimited */
    uint32_t mock_port;                   /* port of the in-process mock; 0 = ephemeral */
    uint32_t keys_refresh_ms;             /* re-read keys from the store this often; 0 = only on SIGHUP */
    bool upstream_curl_only;              /* upstream_client: curl (else our HTTP/1.1 engine for http://) */
    int upstream_client;                  /* index in {auto, curl} */
    char *listen;                         /* "host:port" or "[v6]:port" shorthand, split into host/port */
    bool reuse_port;                      /* share the port with other processes (SO_REUSEPORT) */
    uint64_t max_decompressed_body_bytes; /* a gzip/deflate request body inflates to at most this -> 413 */
    char **cors_origins;                  /* server.cors.origins: allowed Origin values ("*" = any); NULL = CORS off */
    size_t ncors_origins;
    uint32_t cors_max_age_ms;             /* Access-Control-Max-Age (sent in seconds) */
    uint32_t upstream_keepalive;          /* idle upstream connections kept per worker */
    uint32_t upstream_keepalive_ms;       /* an idle upstream connection is closed after this */
    char *metrics_token;                  /* bearer token GET /metrics requires; NULL = open */
    uint32_t body_timeout_ms;             /* a request's first byte to the end of its body -> 408 */
    uint32_t accept_backoff_ms;           /* accept() out of descriptors/memory -> accepting pauses this long */
    uint32_t max_connections;             /* open client connections, all workers; 0 = no cap */
} gr_server_conf;

typedef struct gr_log_conf {
    char *access_log; /* "-" = stdout, "off", or a file path */
    uint64_t access_log_buffer;    /* bytes per worker; 0 = one write per line */
    uint32_t access_log_flush_ms;  /* buffered lines are written at least this often */
    char *level;      /* "debug" | "info" | "warn" | "error" */
    int level_id;     /* index of level in those choices */
} gr_log_conf;

typedef struct gr_config {
    atomic_int refs;
    char *path;
    cJSON *tree; /* the whole parsed document, ENV-expanded; read at load only */
    const gr_conf_section *sections;  /* the table it was parsed with (frees section[]) */
    void *section[GR_CONF_NSECTIONS]; /* typed structs of the registered sections (config_schema.h) */
    gr_server_conf server;
    gr_log_conf log;
    gr_api_key *keys;
    size_t nkeys;
    char *admin_key;
    int auth_mode;             /* a gr_auth_mode (auth.mode) */
    gr_provider_conf *providers;
    size_t nproviders;
    gr_model_conf *models;
    size_t nmodels;
    uint64_t loaded_at_ms;
    uint64_t generation;
} gr_config;

/* Load and validate against the core keys and `sections` (which must outlive
 * the snapshot); on failure returns NULL and writes a message naming the bad
 * key into err. The result has one reference. Callers above the config layer
 * use gr_config_load_file/_string (config_load.h), which pass the gateway's
 * table. */
gr_config *gr_config_parse_file(const char *path, const gr_conf_section sections[GR_CONF_NSECTIONS], char *err,
                                size_t errlen);
gr_config *gr_config_parse_string(const char *yaml, size_t len, const char *origin,
                                  const gr_conf_section sections[GR_CONF_NSECTIONS], char *err, size_t errlen);
gr_config *gr_config_acquire(gr_config *c);
void gr_config_release(gr_config *c);

/* The strategy names `models[].strategy` accepts (NULL-terminated, in the
 * order of gr_model_conf.strategy_id); route.c maps each id to a selection
 * strategy. */
#define GR_ROUTE_NSTRATEGY_NAMES 9
extern const char *const gr_route_strategy_names[GR_ROUTE_NSTRATEGY_NAMES + 1];

/* The declared keys of the sections config.c owns, for docs and tests. */
extern const gr_conf_key gr_conf_server_keys[], gr_conf_log_keys[], gr_conf_auth_keys[],
    gr_conf_provider_keys[], gr_conf_timeout_keys[], gr_conf_model_keys[], gr_conf_deployment_keys[],
    gr_conf_price_keys[], gr_conf_cors_keys[];

/* By name or alias, exactly; else the model with the longest prefix-pattern
 * alias ("claude-sonnet-*") that matches. Inline: the router links without
 * the config loader. */
static inline const gr_model_conf *gr_model_lookup(const gr_model_conf *models, size_t nmodels, const char *name,
                                                   size_t len) {
    for (size_t i = 0; i < nmodels; i++) {
        const gr_model_conf *m = &models[i];
        if (m->name && strlen(m->name) == len && !memcmp(m->name, name, len)) return m;
        for (size_t a = 0; a < m->naliases; a++)
            if (strlen(m->aliases[a]) == len && !memcmp(m->aliases[a], name, len)) return m;
    }
    /* No exact name: the longest prefix pattern ("claude-sonnet-*") that matches. */
    const gr_model_conf *best = NULL;
    size_t best_len = 0;
    for (size_t i = 0; i < nmodels; i++)
        for (size_t a = 0; a < models[i].naliases; a++) {
            const char *al = models[i].aliases[a];
            size_t pl = strlen(al);
            if (pl < 2 || al[pl - 1] != '*') continue;
            pl--;
            if (pl <= len && pl > best_len && !memcmp(al, name, pl)) {
                best = &models[i];
                best_len = pl;
            }
        }
    return best;
}

const gr_model_conf *gr_config_find_model(const gr_config *c, const char *name, size_t len);
const gr_provider_conf *gr_config_find_provider(const gr_config *c, const char *name);

/* Exact decimal text -> integer scaled by 10^scale ("0.15", 6 -> 150000). */
GR_MUST_CHECK gr_status gr_parse_decimal_scaled(const char *s, int scale, int64_t *out);

/* The process-wide current snapshot (a reloadable structure). */
gr_config *gr_config_current_acquire(void);
void gr_config_current_set(gr_config *c); /* takes ownership of one reference */

#endif
