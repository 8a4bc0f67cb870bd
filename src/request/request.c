/* request.c — request life cycle: creation, ids, replies, and the finish
 * that walks the registered finish handlers (see request.h, pipeline.h). */
#include "request.h"

#include "http_reply.h"
#include "http_server.h"
#include "instance_id.h"
#include "metrics.h"
#include "pipeline.h"
#include "trace.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

static bool sane_request_id(const char *s) {
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (n >= 64) return false;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
              c == '_' || c == '.' || c == ':'))
            return false;
    }
    return n > 0;
}

/* The reply reached the socket, or never will: a drain may finish now. */
static void on_reply_done(void *arg, bool flushed) {
    (void)flushed;
    gr_worker_reply_flushed(arg);
}

static void on_client_gone(gr_client_req *req, void *arg);

gr_request *gr_request_new(gr_worker *w, gr_client_req *req) {
    gr_pool *pool = w->spare_pool ? w->spare_pool : gr_pool_new(4096);
    w->spare_pool = NULL;
    gr_request *r = gr_pool_calloc(pool, sizeof(*r));
    r->pool = pool;
    r->w = w;
    r->req = req;
    r->cfg = gr_config_current_acquire();
    r->start_us = gr_now_us();
    r->status = 0;
    /* The ledger's id is always the gateway's (unique across instances and
     * restarts, instance_id.h); a client's X-Request-Id is kept beside it
     * (ledger column client_request_id) and echoed, never used as the key. */
    gr_request_id_make(r->id, gr_wall_ms(), (unsigned)w->id, ++w->seq);
    const char *rid = gr_client_req_header(req, "X-Request-Id");
    if (rid && sane_request_id(rid)) snprintf(r->client_id, sizeof(r->client_id), "%s", rid);
    gr_client_req_add_header(req, "x-request-id", gr_request_echo_id(r));
    gr_client_req_add_header(req, "x-gaterouter-request-id", r->id);
    r->trace = gr_trace_begin(r, gr_client_req_header(req, "traceparent"), gr_client_req_header(req, "tracestate"));
    atomic_fetch_add_explicit(&w->inflight, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&w->unflushed, 1, memory_order_relaxed);
    gr_client_req_on_done(req, on_reply_done, w);
    gr_client_req_on_close(req, on_client_gone, r);
    gr_metrics_add(GR_M_INFLIGHT, NULL, 1);
    return r;
}

const char *gr_request_echo_id(const gr_request *r) { return r->client_id[0] ? r->client_id : r->id; }

void gr_request_add_header(gr_request *r, const char *name, const char *value) {
    if (r->req && !r->client_gone) gr_client_req_add_header(r->req, name, value);
}

static void release(gr_request *r);

void gr_request_finish(gr_request *r) {
    if (r->finished) return;
    r->finished = true;
    r->end_us = gr_now_us();
    gr_finish_info f;
    f.row = NULL;
    gr_pipeline_run_finish(r, GR_FINISH_METER, GR_FINISH_LOG, &f);
    if (r->req) { /* never answered (the client left): release it; its done callback accounts for it */
        gr_client_req_release(r->req);
        r->req = NULL;
    }
    if (!r->status) r->status = 500;
    if (r->client_gone) r->status = 499; /* nginx convention: client closed request */
    gr_metrics_add(GR_M_INFLIGHT, NULL, -1);
    gr_pipeline_run_finish(r, GR_FINISH_LOG, GR_FINISH_NSTAGES, &f);
    if (r->suspended) { /* a job still calls back into r: its resume frees it */
        r->release_deferred = true;
        return;
    }
    release(r);
}

/* Frees r; the last step of a request. */
static void release(gr_request *r) {
    gr_worker *w = r->w;
    gr_config_release(r->cfg);
    gr_json_arena_release(&r->json_arena, w->json_shard); /* r->body was deleted at finish */
    gr_pool *pool = r->pool; /* r itself lives in the pool: not touched after this */
    if (!w->spare_pool && gr_pool_bytes(pool) <= 16384) { /* recycle a small arena */
        gr_pool_reset(pool);
        w->spare_pool = pool;
    } else {
        gr_pool_free(pool);
    }
    gr_worker_request_done(w);
}

/* ---- client gone, suspend / resume ---- */

/* The client left before its reply ended (run from the loop). */
static void on_client_gone(gr_client_req *req, void *arg) {
    (void)req;
    gr_request *r = arg;
    if (r->finished || r->client_gone || r->client_left) return;
    if (r->outlive_client) { /* r runs to its end; its feature keeps the reply */
        r->client_left = true;
        return;
    }
    r->client_gone = true;
    if (r->suspended) return; /* detached: the job's resume ends r */
    gr_request_finish(r);     /* stops the upstream (the provider stops generating and billing) */
}

void gr_request_suspend(gr_request *r) { r->suspended++; }

bool gr_request_resume(gr_request *r) {
    r->suspended--;
    if (r->finished) {
        if (r->suspended == 0 && r->release_deferred) release(r);
        return false;
    }
    if (r->client_gone) {
        if (r->suspended == 0) gr_request_finish(r); /* releases the detached client request (499) */
        return false;
    }
    return true;
}

const char *gr_request_presented_key(const gr_request *r) {
    if (!r->req) return NULL;
    const char *a = gr_client_req_header(r->req, "Authorization");
    if (a) {
        if (!strncasecmp(a, "Bearer ", 7)) {
            a += 7;
            while (*a == ' ') a++;
            return a;
        }
        return NULL;
    }
    return gr_client_req_header(r->req, "x-api-key");
}

void gr_request_reply_json(gr_request *r, int status, const char *json, size_t len) {
    r->status = status;
    if (gr_pipeline_run_reply(r, status, json, len)) return; /* a hook took the reply over */
    if (r->req && !r->client_gone) {
        r->bytes_out += len;
        gr_client_req_reply(r->req, status, "application/json", json, len);
        r->req = NULL;
    }
    gr_request_finish(r);
}

void gr_request_reply_body(gr_request *r, int status, const char *ctype, const void *body, size_t len) {
    r->status = status;
    r->bytes_out += len;
    gr_client_req_reply(r->req, status, ctype, body, len);
    r->req = NULL;
    gr_request_finish(r);
}

/* A request refused before the body was read (auth, limits, a bad field)
 * still logs the model and stream flag its body asked for. */
static void note_what_was_asked(gr_request *r) {
    if ((r->model_asked && r->stream) || r->ep == GR_EP_OTHER || !r->req) return;
    size_t len = 0;
    const char *body = gr_client_req_body(r->req, &len);
    if (!body || !len || len > r->cfg->server.max_body_bytes) return;
    cJSON *j = cJSON_ParseWithLength(body, len);
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(j, "model");
    if (cJSON_IsString(model) && !r->model_asked) r->model_asked = gr_pool_strdup(r->pool, model->valuestring);
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "stream"))) r->stream = true;
    cJSON_Delete(j);
}

void gr_request_fail(gr_request *r, int status, const char *type, const char *code, const char *param,
                     const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    r->error_type = type;
    note_what_was_asked(r);
    /* in the endpoint's shape from the first error on (auth, limits, parsing); a
     * handler may switch to Anthropic's (anthropic_out: GET /v1/models with anthropic-version) */
    bool anthropic = r->errors == GR_ERRORS_ANTHROPIC || r->anthropic_out;
    char *s = anthropic ? gr_messages_error_json(status, msg) : gr_error_json(msg, type, param, code);
    gr_request_reply_json(r, status, s, strlen(s));
    free(s);
}
