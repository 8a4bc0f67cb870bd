/* request.h — one client request in flight: its arena, config snapshot,
 * timings and the proxy state, from arrival to the access-log line.
 *
 * Life cycle: gr_request_new() on arrival (takes a config reference, creates
 * the pool); exactly one gr_request_finish() when the response is complete or
 * the client is gone (runs the registered finish handlers — pipeline.h —,
 * drops the reference, frees the pool unless a suspended job still holds r).
 * Client disconnect: the connection's close callback (set at arrival, run
 * from the loop, never from inside another callback of r) marks
 * client_gone and finishes r — unless r is suspended, when the job's resume
 * ends it. */
#ifndef GR_REQUEST_H
#define GR_REQUEST_H

#include "common.h"
#include "config.h"
#include "pool.h"
#include "provider.h"
#include "stream_frames.h"
#include "worker.h"
#include "keys.h"
#include "api_messages.h"
#include "api_responses.h"
#include "json_arena.h"
#include "redact.h"
#include "pipeline.h"

#include <cjson/cJSON.h>

struct evbuffer;
typedef struct gr_client_req gr_client_req;
typedef struct gr_transfer gr_transfer;
struct gr_route_plan;
struct event;
struct gr_trace;

typedef enum {
    GR_EP_OTHER = 0,
    GR_EP_CHAT,
    GR_EP_COMPLETIONS,
    GR_EP_EMBEDDINGS,
    GR_EP_MESSAGES,
    GR_EP_ROUTE,
    GR_EP_RESPONSES,
} gr_endpoint;

/* The shape of an error body (endpoints.h's table says which per path). */
typedef enum { GR_ERRORS_OPENAI = 0, GR_ERRORS_ANTHROPIC } gr_error_shape;

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
    gr_error_shape errors;
    uint64_t start_us, upstream_start_us, first_token_us, end_us;

    /* who and what */
    const char *key_name;
    gr_key_entry *key;          /* virtual key with limits, or NULL */
    gr_prices prices;           /* resolved for the served deployment */
    struct gr_route_plan *plan; /* candidates in order (pool memory) */
    const struct gr_route_embed_signal *route_embed; /* auto: the embeddings signal, when one was sought */
    unsigned cand, attempts;    /* current candidate index; attempts made - 1 */
    const char *last_failure;   /* "provider/model:reason" of the last failed attempt */
    const char *body_text;      /* the canonical body the attempts rebuild from */
    size_t body_len;
    uint64_t attempt_start_us, attempt_first_byte_us;
    uint64_t upstream_wait_us;  /* time spent in upstream attempts, send to end (for the gateway-added latency) */
    int retry_after_s;
    struct event *retry_ev;
    struct event *token_ev;   /* Vertex: polling for a first access token */
    uint64_t token_deadline_us;
    struct gr_shared_op *shared_op; /* pending cluster-wide admission */
    char cache_key[65];         /* exact-match response cache key (hex), "" = not cached */
    uint32_t cache_ttl_s;
    bool cache_hit;
    int64_t est_prompt_tokens, max_cost_nusd, cost_nusd;
    int64_t outputs;            /* outputs the upstream generates (n, best_of, prompts): gr_meter_request_outputs */
    int64_t side_tokens;        /* tokens of the calls made for r besides the served one (auto:verify), set at METER */
    uint64_t stream_data_bytes; /* for the usage estimate when a stream reports none */
    bool pay_x402;              /* paid per request over x402 (no API key) */
    int64_t cap_max_tokens;     /* > 0: generation capped (e.g. to what was paid) */
    bool default_output_cap;    /* a key's hold reserved the model's max output: every attempt sends it (output_cap.h) */
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
    bool responses_out;             /* client spoke the Responses API (/v1/responses) */
    cJSON *responses_body;          /* /v1/responses: the client's own request tree (owned) */
    const char *responses_text;     /* ... and its bytes, relayed to upstreams that speak Responses */
    size_t responses_len;
    bool responses_native;          /* this attempt relays /v1/responses as is (provider responses_api) */
    char response_id[80];           /* "resp_..." */
    int64_t response_created_at;    /* unix seconds */
    gr_responses_stream *resp_stream; /* canonical chunks -> Responses events */
    cJSON *responses_final;         /* the Response as answered (owned; kept when `store`) */

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
    gr_frames frames; /* the upstream stream's framing (SSE or AWS event stream) */
    bool sse_ready, streaming, reply_started, done_seen, paused, failed_midstream;
    uint64_t bytes_out, chunks_out;
    gr_usage usage;

    /* pipeline (pipeline.h) */
    void *ctx[GR_CTX_SLOTS]; /* each feature's own state, by the slot it registered */
    size_t phase_at;         /* the phase handler running, or that suspended r */
    gr_phase phase_end;      /* the running range ends before this phase */
    bool authenticated;
    struct gr_trace *trace;  /* trace context and spans (trace.h), NULL = tracing off */

    bool client_gone, finished;
    /* Set by a feature that needs r to run to its end even if its client
     * leaves (x402 payment-identifier: the reply is kept for the retry, the
     * payment was taken): a close then only sets client_left; the reply goes
     * to the detached connection, which drops it (http_server.h). */
    bool outlive_client, client_left;
    unsigned suspended;    /* async jobs whose completion will come back to r (gr_request_suspend) */
    bool release_deferred; /* finished while a job was in flight: the last completion frees r */
} gr_request;

gr_request *gr_request_new(gr_worker *w, gr_client_req *req);
void gr_request_finish(gr_request *r);
/* Sends an OpenAI-shaped error and finishes the request. */
void gr_request_fail(gr_request *r, int status, const char *type, const char *code, const char *param,
                     const char *fmt, ...) GR_PRINTF(6, 7);
/* Sends a JSON body with status and finishes. */
void gr_request_reply_json(gr_request *r, int status, const char *json, size_t len);
/* Sends a body of another type as it is (no reply hooks: the console's
 * pages, CSV exports, plain-text endpoints, a CORS preflight) and finishes. */
void gr_request_reply_body(gr_request *r, int status, const char *ctype, const void *body, size_t len);
/* The id echoed in X-Request-Id and sent upstream: the client's when it sent a
 * sane one (as before), otherwise the gateway's. */
const char *gr_request_echo_id(const gr_request *r);
void gr_request_add_header(gr_request *r, const char *name, const char *value);

/* The credential the client presented (`Authorization: Bearer` or
 * `x-api-key`), or NULL. */
const char *gr_request_presented_key(const gr_request *r);

/* ---- suspend / resume: one primitive for async work that calls back ----
 * suspend: before starting a job that cannot be cancelled (a store call on
 * the executor, a verification off the loop) and whose completion comes
 * back to r on its loop. r then outlives the job even if it is finished
 * meanwhile (deadline, shutdown), and a client that leaves meanwhile only
 * marks client_gone. resume: first thing in the completion. It returns true
 * when r may go on (alive, client there); false when r was finished
 * meanwhile (then it may be freed now) or the client left (then resume
 * ended the request, 499): either way do not touch r again. Cancellable
 * work (Redis calls, timers) is not suspended: finish cancels it. */
void gr_request_suspend(gr_request *r);
GR_MUST_CHECK bool gr_request_resume(gr_request *r);

/* A store call run for r on the store executor (store_exec.h) with r
 * suspended. resume runs on r's loop only when r may go on (err NULL: the
 * call completed; else it missed store.op_timeout_ms and err says so); late
 * (optional) runs on the executor when the call completed after r had been
 * answered; free_arg always runs last. Without an executor (tests) the call
 * runs inline. GR_OK, or an error when the executor refuses the job
 * (queue full): then nothing ran, arg is freed, and the caller answers. */
typedef struct gr_request_job {
    void (*run)(void *conn, void *arg);
    void (*late)(void *conn, void *arg);
    void (*free_arg)(void *arg);
    void (*resume)(gr_request *r, void *arg, const char *err);
    void *arg;
    gr_store_exec *exec; /* NULL = the worker's store executor; else another pool (x402 preflight) */
    uint32_t timeout_ms; /* 0 = the executor's op_timeout_ms */
} gr_request_job;
GR_MUST_CHECK gr_status gr_request_store_job(gr_request *r, const gr_request_job *job);

#endif
