/* request.h — one client request in flight: its arena, config snapshot,
 * timings and the proxy state, from arrival to the access-log line.
 *
 * Life cycle: gr_request_new() on arrival (takes a config reference, creates
 * the pool); exactly one gr_request_finish() when the response is complete or
 * the client is gone (writes the log line and metrics, drops the reference,
 * frees the pool). Client disconnect: the connection close callback marks
 * client_gone, cancels the upstream transfer and defers the finish to the next
 * loop turn, so no callback frees the object that called it. */
#ifndef GR_REQUEST_H
#define GR_REQUEST_H

#include "common.h"
#include "config.h"
#include "pool.h"
#include "provider.h"
#include "sse.h"
#include "server.h"
#include "keys.h"
#include "api_messages.h"
#include "json_arena.h"
#include "redact.h"

#include <cjson/cJSON.h>

struct evbuffer;
typedef struct gr_client_req gr_client_req;
typedef struct gr_transfer gr_transfer;
struct gr_route_plan;
struct event;

typedef enum {
    GR_EP_OTHER = 0,
    GR_EP_CHAT,
    GR_EP_COMPLETIONS,
    GR_EP_EMBEDDINGS,
    GR_EP_MESSAGES,
    GR_EP_ROUTE,
} gr_endpoint;

typedef struct gr_request {
    gr_pool *pool;
    gr_worker *w;
    gr_config *cfg;
    gr_client_req *req; /* the client's request until its reply is ended (then NULL) */
    char id[72];        /* the gateway's id: the ledger's key (instance_id.h) */
    char client_id[72]; /* the client's X-Request-Id when sane, else "" */
    const char *method;
    char path[128];
    const char *route_template; /* the metrics label: "/v1/chat/completions", …, NULL = "other" */
    gr_endpoint ep;
    uint64_t start_us, upstream_start_us, first_token_us, end_us;

    /* who and what */
    const char *key_name;
    gr_key_entry *key;          /* virtual key with limits, or NULL */
    gr_key_reservation reservation;
    gr_prices prices;           /* resolved for the served deployment */
    struct gr_route_plan *plan; /* candidates in order (pool memory) */
    unsigned cand, attempts;    /* current candidate index; attempts made - 1 */
    const char *last_failure;   /* "provider/model:reason" of the last failed attempt */
    const char *body_text;      /* the canonical body the attempts rebuild from */
    size_t body_len;
    uint64_t attempt_start_us, attempt_first_byte_us;
    int retry_after_s;
    struct event *retry_ev;
    struct gr_shared_op *shared_op; /* pending cluster-wide admission */
    int64_t shared_reserved;        /* > 0: reserved in Redis, settle at finish */
    bool shared_seeds_fresh;        /* the pending admission carries seeds just read from the store */
    int64_t est_total_tokens;
    char cache_key[65];         /* exact-match response cache key (hex), "" = not cached */
    uint32_t cache_ttl_s;
    bool cache_hit;
    int64_t est_prompt_tokens, max_cost_nusd, cost_nusd;
    int64_t outputs;            /* outputs the upstream generates (n, best_of, prompts): gr_meter_request_outputs */
    uint64_t stream_data_bytes; /* for the usage estimate when a stream reports none */
    bool pay_x402;              /* paid per request over x402 (no API key) */
    void *x402;                 /* pay_x402.c's per-request state */
    int64_t cap_max_tokens;     /* > 0: generation capped (e.g. to what was paid) */
    const char *model_asked;
    const gr_model_conf *model;
    const gr_deployment *deployment;
    const char *route_reason;
    int status;
    const char *error_type;
    bool stream, include_usage_asked, injected_usage;
    bool anthropic_out;            /* client spoke Anthropic Messages (/v1/messages) */
    gr_messages_stream *msg_stream; /* canonical chunks -> Anthropic events */
    cJSON *messages_body;           /* /v1/messages: the client's own request tree (owned) */
    const char *messages_text;      /* ... and its bytes, relayed to Anthropic upstreams */
    size_t messages_len;
    bool native;                    /* this attempt relays /v1/messages to an Anthropic upstream as is */
    bool count_tokens;              /* POST /v1/messages/count_tokens */

    /* proxy state */
    gr_json_arena json_arena; /* blocks of the trees parsed on the hot path (json_arena.h) */
    cJSON *body;
    const gr_provider_ops *ops;
    gr_adapter_ctx actx;
    gr_stream_translator *st;
    gr_http_request up_req;
    gr_transfer *xfer;
    int up_status;
    char up_content_type[64];
    gr_redactor redact;         /* the provider's credentials out of every upstream byte (redact.h) */
    struct evbuffer *up_body;   /* non-streamed body or error body */
    struct evbuffer *out;       /* SSE events batched for one write */
    gr_sse_parser sse;
    bool sse_ready, streaming, reply_started, done_seen, paused, failed_midstream;
    uint64_t bytes_out, chunks_out;
    gr_usage usage;

    bool client_gone, finished;
    unsigned store_jobs;   /* store executor jobs whose completion will come back to r */
    bool release_deferred; /* finished while a job was in flight: the last completion frees r */
} gr_request;

gr_request *gr_request_new(gr_worker *w, gr_client_req *req);
void gr_request_finish(gr_request *r);
/* Sends an OpenAI-shaped error and finishes the request. */
void gr_request_fail(gr_request *r, int status, const char *type, const char *code, const char *param,
                     const char *fmt, ...) GR_PRINTF(6, 7);
/* Sends a JSON body with status and finishes. */
void gr_request_reply_json(gr_request *r, int status, const char *json, size_t len);
/* The id echoed in X-Request-Id and sent upstream: the client's when it sent a
 * sane one (as before), otherwise the gateway's. */
const char *gr_request_echo_id(const gr_request *r);
void gr_request_add_header(gr_request *r, const char *name, const char *value);

/* Store jobs (store_exec.h) that call back into r. hold: before submitting;
 * r then outlives the job even if it finishes meanwhile, and a connection
 * that closes meanwhile only marks client_gone (the client request stays,
 * detached, until gr_request_finish releases it). unhold: first thing in the job's
 * completion; false when r was finished meanwhile (it may be freed now: do
 * not touch it). When it returns true and r->client_gone, end the request
 * with gr_request_abandon. */
void gr_request_hold(gr_request *r);
GR_MUST_CHECK bool gr_request_unhold(gr_request *r);
/* The client left: release the detached client request and finish (499). */
void gr_request_abandon(gr_request *r);

/* Endpoints (proxy.c, api_models.c). */
void gr_proxy_handle(gr_request *r);
/* The rest of gr_proxy_handle once a paid request's x402 admission (which
 * runs its store calls on the store executor) has admitted it. */
void gr_proxy_admitted(gr_request *r);
/* Sets r->cost_nusd from usage (estimating usage when none was reported). */
void gr_proxy_compute_cost(gr_request *r);
void gr_proxy_add_route_headers(gr_request *r);
void gr_models_handle(gr_request *r, const char *model_id);

#endif
