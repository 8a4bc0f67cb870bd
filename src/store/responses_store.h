/* responses_store.h — the stored Responses (POST /v1/responses with `store`,
 * the default): one row per response in the gateway's store database (the
 * `store:` URL, SQLite or PostgreSQL), through a connection of its own per
 * store-executor thread, and the `responses:` config section.
 *
 *   responses(id PRIMARY KEY, owner, created_ms, expires_ms, response,
 *             input_items, context)
 *     response     the Response object as answered (JSON text)
 *     input_items  the request's own input as items, with ids (JSON array)
 *     context      the whole conversation after this response as items:
 *                  the previous response's context, this input, this
 *                  output (JSON array) — what previous_response_id rebuilds
 *     owner        who may read it: the key's id or name ("open" without a
 *                  key, "x402:<payer>" when paid); another owner sees 404
 *     expires_ms   created + responses.store_ttl; an expired row is never
 *                  returned and is pruned by later writes
 *
 * Calls are synchronous (run them on the store executor, never on a worker
 * loop) and serialized per handle. Strings returned are heap (free()). */
#ifndef GR_RESPONSES_STORE_H
#define GR_RESPONSES_STORE_H

#include "common.h"
#include "config_schema.h"

typedef struct gr_responses_store gr_responses_store;

GR_MUST_CHECK gr_status gr_responses_store_open(const char *store_url, gr_responses_store **out, char *err,
                                                size_t errlen);
void gr_responses_store_close(gr_responses_store *s); /* NULL-safe */

typedef struct gr_stored_response {
    char *response, *input_items, *context; /* JSON texts (heap) */
} gr_stored_response;
void gr_stored_response_dispose(gr_stored_response *r);

/* Inserts (or replaces) one response; expired rows are pruned first. */
GR_MUST_CHECK gr_status gr_responses_store_put(gr_responses_store *s, const char *id, const char *owner,
                                               int64_t created_ms, int64_t expires_ms, const gr_stored_response *r);
/* GR_OK with out filled, GR_ERR_NOT_FOUND (absent, expired or another
 * owner's), or GR_ERR_IO. */
GR_MUST_CHECK gr_status gr_responses_store_get(gr_responses_store *s, const char *id, const char *owner,
                                               int64_t now_ms, gr_stored_response *out);
/* GR_OK (deleted), GR_ERR_NOT_FOUND, or GR_ERR_IO. */
GR_MUST_CHECK gr_status gr_responses_store_delete(gr_responses_store *s, const char *id, const char *owner,
                                                  int64_t now_ms);

/* ---- the `responses:` section ---- */
typedef struct gr_responses_conf {
    uint64_t store_ttl_ms;     /* how long a stored response can be read; 0 = nothing is stored */
    uint64_t max_stored_bytes; /* a response whose row would be larger is not stored */
} gr_responses_conf;

struct gr_config;
struct cJSON;
extern const gr_conf_key gr_conf_responses_keys[];
void *gr_responses_conf_parse(const struct cJSON *sec, const struct gr_config *cfg, gr_conf_err *e);
void gr_responses_conf_free(void *conf);
/* The snapshot's settings (defaults when the section is absent). */
const gr_responses_conf *gr_responses_conf_of(const struct gr_config *cfg);

#endif
