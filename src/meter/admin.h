/* admin.h — the admin API (virtual key management, usage summaries) and the
 * key-holder endpoints GET /v1/key and GET /v1/generation, as transport-free
 * request handlers: the HTTP server passes method, path, query and body in
 * and sends back the returned status and JSON.
 *
 * Endpoints:
 *   POST   /admin/keys            create; 201 with the plaintext "key" (once)
 *   GET    /admin/keys            list
 *   GET    /admin/keys/{id}       show
 *   PATCH  /admin/keys/{id}       update name/models/metadata/limits/expiry
 *   DELETE /admin/keys/{id}       revoke (the record stays, status "revoked")
 *   POST   /admin/keys/{id}/rotate  new secret (200 with "key", once); the old one
 *                                 works for grace_seconds more
 *   GET    /admin/usage?group_by=key|model|provider|day&from=&to=&key_id=
 *   GET    /admin/generation?id=  any request's ledger row
 *   GET    /v1/key                the caller's own key: limits, spend, remaining
 *   GET    /v1/generation?id=     one of the caller's past requests
 * Paths under /admin/ require the admin key (constant-time compare) and answers 404 when
 * no admin key is configured. Errors use OpenAI's shape
 * {"error":{"message","type","param","code"}}.
 *
 * Threading: any thread; blocking (key writes and queries go to the store
 * synchronously). The server runs it on the store executor (server.c,
 * store_exec.h), never on a worker loop, with that thread's own store
 * connection in ctx->store. A
 * request's generation row is visible once the ledger writer committed it
 * (normally within GR_LEDGER_LINGER_MS); until then /v1/generation says 404. */
#ifndef GR_ADMIN_H
#define GR_ADMIN_H

#include "common.h"
#include "keys.h"

#include <stdarg.h>
#include "store.h"
#include "x402_store.h"

typedef struct gr_admin_ctx {
    gr_keys *keys;          /* live key table (shared with the request path) */
    gr_store *store;        /* for usage and generation queries */
    const char *admin_key;  /* NULL or "" = admin API off */
    int64_t (*now_ms)(void); /* NULL = wall clock; tests inject */
    /* the console's reports (admin_report.h); set per call by api_admin.c: */
    gr_x402_store *x402;    /* the payments page's credit and settlements; NULL = x402 off */
    int64_t report_max_rows; /* console.max_report_rows: ledger rows one report reads (0 = default) */
    const char *explorer_tx_url; /* console.explorer_tx_url ("{tx}" = the hash), or NULL */
    int64_t rotation_grace_ms; /* console.key_rotation_grace: the old secret's default grace on rotate */
} gr_admin_ctx;

/* Returns the HTTP status; *out_json is a malloc'd JSON body (always set).
 * bearer is the Authorization header value with or without "Bearer ".
 * query is the text after '?', or NULL. */
int gr_admin_handle(gr_admin_ctx *ctx, const char *method, const char *path, const char *query,
                    const char *body, size_t body_len, const char *bearer, char **out_json);

/* True for paths this module serves (so the router can dispatch). */
bool gr_admin_owns_path(const char *path);


/* Parse a time for usage queries: unix seconds or ms, or "YYYY-MM-DD"
 * (end_of_day: the day's end, for inclusive "to" dates). 0 when empty. */
GR_MUST_CHECK gr_status gr_admin_parse_time(const char *s, bool end_of_day, int64_t *ms);

/* An error reply: *out = the {"error":{...}} body of the formatted message; returns status. */
int gr_admin_vfail(char **out, int status, const char *type, const char *code, const char *param, const char *fmt,
                   va_list ap);
/* name=value of a query string, URL-decoded into buf (false: absent). */
bool gr_admin_query_get(const char *query, const char *name, char *buf, size_t cap);
/* The token of an Authorization value ("Bearer " and blanks stripped). */
const char *gr_admin_strip_bearer(const char *bearer, size_t *len);
/* A store failure as the admin API answers it (404, 503 or 500). */
int gr_admin_store_error(char **out, gr_status rc);

/* Usage summary -> JSON (also used by the CLI's --json). Caller frees. */
char *gr_admin_usage_json(const gr_usage_query *q, const gr_usage_group *g, size_t n);
/* Ledger row -> JSON object. */
cJSON *gr_admin_generation_json(const gr_ledger_row *r);

#endif
