/* config_schema.h — declared config keys and the one loader that walks a YAML
 * section (as a cJSON tree) against them.
 *
 * Each area that owns part of the config declares its keys in a table next to
 * its code (as nginx's ngx_command_t): name, type, range, unit, default and
 * the offset of the field in the area's typed struct. gr_conf_load_keys()
 * rejects unknown keys with their path and a suggestion
 * ("routing.auto.qualty: unknown key (did you mean quality?)"), parses every
 * value by its type (a duration's "2m" is two minutes, a size's "2MiB" two
 * mebibytes), checks its range and writes the struct field. Keys whose value
 * is a nested mapping or list are declared GR_CONF_NESTED: the loader only
 * knows them; the area's parser reads them itself.
 *
 * Whole top-level sections owned by other areas (routing, redis, store, x402,
 * keys) are registered in config_sections.c: the snapshot loader runs their
 * parsers at load, so --check-config, start-up and SIGHUP all run the same
 * code and the request path reads typed structs, never the raw tree.
 *
 * Errors: the first one wins (gr_conf_err); every parser keeps going cheaply
 * after a failure and the caller checks `failed` once. */
#ifndef GR_CONFIG_SCHEMA_H
#define GR_CONFIG_SCHEMA_H

#include "common.h"
#include <cjson/cJSON.h>
#include <stddef.h>

typedef struct gr_conf_err {
    char *buf;
    size_t len;
    bool failed;
} gr_conf_err;

void gr_conf_fail(gr_conf_err *e, const char *fmt, ...) GR_PRINTF(2, 3);

typedef enum {
    GR_CONF_BOOL,     /* true/false -> bool */
    GR_CONF_COUNT,    /* a plain non-negative integer, no unit */
    GR_CONF_BYTES,    /* a size: 512, 64KiB, 8MiB, 1GiB, 1TiB (also k, m, g) */
    GR_CONF_MS,       /* a duration in milliseconds: 250, 250ms, 30s, 2m, 1h */
    GR_CONF_FRACTION, /* a decimal number in [min, max] -> double */
    GR_CONF_STRING,   /* -> char * (owned by the struct) */
    GR_CONF_ENUM,     /* one of `choices` -> int index */
    GR_CONF_NESTED,   /* a known key the owning parser reads itself */
} gr_conf_type;

typedef struct gr_conf_key {
    const char *name;
    gr_conf_type type;
    size_t offset; /* of the field in the section's struct */
    size_t size;   /* sizeof that field (integers: 2, 4 or 8) */
    double min, max;
    const char *dflt;             /* default, as YAML text, parsed by the same code; NULL = 0 / NULL */
    const char *const *choices;   /* GR_CONF_ENUM: NULL-terminated */
    const char *doc;              /* one line for docs/CONFIG.md */
} gr_conf_key;

/* Table rows. F(type, field) gives offset and size of `field` in `type`. */
#define GR_CONF_F(type, field) offsetof(type, field), sizeof(((type *)0)->field)
#define GR_CONF_END {NULL, GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL, NULL}

/* Unknown-key check alone (for sections that parse their own values). NULL and
 * null are an empty section; anything but a mapping is an error. */
void gr_conf_check_keys(const cJSON *obj, const char *path, const gr_conf_key *keys, gr_conf_err *e);

/* Check keys, then fill every non-NESTED field of `out` from `obj` (or its
 * default). `path` names the section ("server", "models[2]"). */
void gr_conf_load_keys(const cJSON *obj, const char *path, const gr_conf_key *keys, void *out,
                       gr_conf_err *e);

/* gr_conf_load_keys for a section that may also be written as a bare
 * string, which is then its "url" key (`store: sqlite://...`, `redis: redis://...`). */
void gr_conf_load_keys_or_url(const cJSON *obj, const char *path, const gr_conf_key *keys, void *out,
                              gr_conf_err *e);

/* Free the GR_CONF_STRING fields a table filled. */
void gr_conf_free_keys(const gr_conf_key *keys, void *out);

/* Parse one scalar by type (text as written in YAML or JSON); used by the loader and tests. */
GR_MUST_CHECK gr_status gr_conf_parse_uint(const char *text, gr_conf_type type, uint64_t *out);

/* The declared key closest to `name` (edit distance <= 2), or NULL. */
const char *gr_conf_suggest(const char *name, const gr_conf_key *keys);

/* Same, among a NULL-terminated list of names. */
const char *gr_conf_suggest_name(const char *name, const char *const *names);

/* The type's name as the docs write it ("duration", "size", ...). */
const char *gr_conf_type_name(gr_conf_type t);

/* ---- top-level sections owned by other areas (config_sections.c) ---- */

struct gr_config;

/* Ids of the registered sections; gr_config.section[id] holds each one's
 * typed struct (NULL when the section is absent and has no defaults). */
typedef enum {
    GR_CONF_SEC_STORE,   /* store.c: gr_store_conf */
    GR_CONF_SEC_KEYS,    /* keys.c: static virtual keys, checked (the table is built at service start) */
    GR_CONF_SEC_ROUTING, /* route_conf.c: gr_route_conf (auto, health) */
    GR_CONF_SEC_REDIS,   /* cluster_state.c: gr_shared (its settings; gr_shared_new copies them) */
    GR_CONF_SEC_X402,    /* pay_x402.c: validated by the same parser start-up runs */
    GR_CONF_SEC_CONSOLE, /* console_conf.c: gr_console_conf (the web console's reports) */
    GR_CONF_SEC_TRACING, /* trace.c: gr_trace_conf (OTLP traces; NULL = off) */
    GR_CONF_SEC_LOG_SINK, /* log_sink.c: request records to an HTTP endpoint / Langfuse (NULL = off) */
    GR_CONF_SEC_RESPONSES, /* responses_store.c: gr_responses_conf */
    GR_CONF_SEC_ALERTS,  /* alerts.c: webhook alerts (NULL = off) */
    GR_CONF_NSECTIONS
} gr_conf_section_id;

typedef struct gr_conf_section {
    const char *name; /* top-level key */
    /* Parse and validate `sec` (NULL when absent) into a new typed struct, or
     * NULL. Runs after server/auth/providers/models, so it may check names
     * against them. Errors go to `e`. */
    void *(*parse)(const cJSON *sec, const struct gr_config *c, gr_conf_err *e);
    void (*free)(void *conf);
} gr_conf_section;


#endif
