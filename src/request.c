/* request.c — request life cycle: creation, ids, replies, the access-log line
 * and per-request metrics at finish (see request.h). */
#include "request.h"
#include "utf8.h"

#include "http_reply.h"
#include "instance_id.h"
#include "log.h"
#include "metrics.h"
#include "services.h"
#include "pay_x402.h"
#include "shared.h"
#include "upstream.h"
#include "text_out.h"

#include "http_server.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

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
    atomic_fetch_add_explicit(&w->inflight, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&w->unflushed, 1, memory_order_relaxed);
    gr_client_req_on_done(req, on_reply_done, w);
    gr_metrics_add(GR_M_INFLIGHT, NULL, 1);
    return r;
}

const char *gr_request_echo_id(const gr_request *r) { return r->client_id[0] ? r->client_id : r->id; }

void gr_request_add_header(gr_request *r, const char *name, const char *value) {
    if (r->req && !r->client_gone) gr_client_req_add_header(r->req, name, value);
}

/* Appends s as a JSON string literal (escaped) to the log line buffer. */
static size_t json_str(char *buf, size_t off, size_t cap, const char *s) {
    if (off + 2 >= cap) return off;
    if (!s) {
        if (off + 4 < cap) {
            memcpy(buf + off, "null", 4);
            return off + 4;
        }
        return off;
    }
    buf[off++] = '"';
    size_t left = strlen(s);
    for (; *s && off + 7 < cap; s++, left--) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            buf[off++] = '\\';
            buf[off++] = (char)c;
        } else if (c < 0x20) {
            off += (size_t)snprintf(buf + off, cap - off, "\\u%04x", c);
        } else if (c < 0x80) {
            buf[off++] = (char)c;
        } else { /* a whole valid sequence, or \ufffd for a byte that is not UTF-8 */
            size_t n = gr_utf8_seq_len((const unsigned char *)s, left);
            if (!n) {
                memcpy(buf + off, "\\ufffd", 6);
                off += 6;
                continue;
            }
            memcpy(buf + off, s, n);
            off += n;
            s += n - 1;
            left -= n - 1;
        }
    }
    buf[off++] = '"';
    return off;
}

static void write_access_log(gr_request *r) {
    if (!gr_access_log_enabled()) return;
    char line[3072];
    size_t cap = sizeof(line) - 1, o = 0; /* one byte kept for the closing brace */
    o = GR_OUT_LIT(line, o, cap, "{\"ts\":");
    o = gr_out_u64(line, o, cap, gr_wall_ms());
    o = GR_OUT_LIT(line, o, cap, ",\"id\":");
    o = json_str(line, o, cap, r->id);
    if (r->client_id[0]) {
        o = GR_OUT_LIT(line, o, cap, ",\"client_request_id\":");
        o = json_str(line, o, cap, r->client_id);
    }
    o = GR_OUT_LIT(line, o, cap, ",\"method\":");
    o = json_str(line, o, cap, r->method);
    o = GR_OUT_LIT(line, o, cap, ",\"path\":");
    o = json_str(line, o, cap, r->path);
    o = GR_OUT_LIT(line, o, cap, ",\"status\":");
    o = gr_out_i64(line, o, cap, r->status);
    o = GR_OUT_LIT(line, o, cap, ",\"key\":");
    o = json_str(line, o, cap, r->key_name);
    o = GR_OUT_LIT(line, o, cap, ",\"model\":");
    o = json_str(line, o, cap, r->model_asked);
    o = GR_OUT_LIT(line, o, cap, ",\"served_model\":");
    o = json_str(line, o, cap, r->deployment ? r->deployment->upstream_model : NULL);
    o = GR_OUT_LIT(line, o, cap, ",\"provider\":");
    o = json_str(line, o, cap, r->deployment ? r->deployment->provider->name : NULL);
    /* Decimals from integers (exact, and no floating-point formatting on the
     * hot path): nano-USD -> USD with 9 places, µs -> ms with 3. */
    o = r->stream ? GR_OUT_LIT(line, o, cap, ",\"stream\":true") : GR_OUT_LIT(line, o, cap, ",\"stream\":false");
    o = GR_OUT_LIT(line, o, cap, ",\"prompt_tokens\":");
    o = gr_out_i64(line, o, cap, r->usage.prompt_tokens);
    o = GR_OUT_LIT(line, o, cap, ",\"completion_tokens\":");
    o = gr_out_i64(line, o, cap, r->usage.completion_tokens);
    o = GR_OUT_LIT(line, o, cap, ",\"cached_tokens\":");
    o = gr_out_i64(line, o, cap, r->usage.cached_tokens);
    o = r->usage.estimated ? GR_OUT_LIT(line, o, cap, ",\"usage_estimated\":true")
                           : GR_OUT_LIT(line, o, cap, ",\"usage_estimated\":false");
    o = GR_OUT_LIT(line, o, cap, ",\"cost_usd\":");
    o = gr_out_fixed(line, o, cap, (uint64_t)(r->cost_nusd < 0 ? 0 : r->cost_nusd), 9);
    if (r->first_token_us) {
        o = GR_OUT_LIT(line, o, cap, ",\"ttft_ms\":");
        o = gr_out_fixed(line, o, cap, r->first_token_us - r->start_us, 3);
    }
    o = GR_OUT_LIT(line, o, cap, ",\"latency_ms\":");
    o = gr_out_fixed(line, o, cap, r->end_us - r->start_us, 3);
    o = GR_OUT_LIT(line, o, cap, ",\"upstream_status\":");
    o = gr_out_i64(line, o, cap, r->up_status);
    o = GR_OUT_LIT(line, o, cap, ",\"bytes_out\":");
    o = gr_out_u64(line, o, cap, r->bytes_out);
    o = r->client_gone ? GR_OUT_LIT(line, o, cap, ",\"client_gone\":true") : GR_OUT_LIT(line, o, cap, ",\"client_gone\":false");
    o = GR_OUT_LIT(line, o, cap, ",\"route\":");
    o = json_str(line, o, cap, r->route_reason);
    o = GR_OUT_LIT(line, o, cap, ",\"error\":");
    o = json_str(line, o, cap, r->error_type);
    line[o++] = '}';
    gr_access_log_write(line, o);
}

/* Builds `k1="v1",k2="v2"` (escaped, NUL-terminated, within cap). */
static const char *labels2(char *buf, size_t cap, const char *k1, const char *v1, const char *k2, const char *v2) {
    size_t o = gr_metrics_label(buf, 0, cap, k1, v1);
    if (k2) gr_metrics_label(buf, o, cap, k2, v2);
    return buf;
}

static void record_metrics(gr_request *r) {
    char labels[GR_METRICS_LABELS_CAP], status[12];
    const char *model = r->model ? r->model->name : "";
    const char *route = r->route_template ? r->route_template : "other";
    status[gr_out_i64(status, 0, sizeof status - 1, r->status)] = '\0';
    size_t o = strlen(labels2(labels, sizeof labels, "route", route, "status", status));
    o = gr_metrics_label(labels, o, sizeof labels, "model", model);
    gr_metrics_label(labels, o, sizeof labels, "provider", r->deployment ? r->deployment->provider->name : "");
    gr_metrics_add(GR_M_REQUESTS, labels, 1);
    gr_metrics_observe_us(GR_M_REQUEST_SECONDS, labels2(labels, sizeof labels, "route", route, NULL, NULL),
                          r->end_us - r->start_us);
    if (r->deployment) {
        labels2(labels, sizeof labels, "provider", r->deployment->provider->name, "model", model);
        if (r->upstream_start_us) gr_metrics_observe_us(GR_M_UPSTREAM_SECONDS, labels, r->end_us - r->upstream_start_us);
        if (r->first_token_us) gr_metrics_observe_us(GR_M_TTFT_SECONDS, labels, r->first_token_us - r->start_us);
    }
    if (r->usage.prompt_tokens || r->usage.completion_tokens) {
        gr_metrics_add(GR_M_TOKENS, labels2(labels, sizeof labels, "model", model, "kind", "prompt"), r->usage.prompt_tokens);
        gr_metrics_add(GR_M_TOKENS, labels2(labels, sizeof labels, "model", model, "kind", "completion"),
                       r->usage.completion_tokens);
    }
    if (r->cost_nusd) gr_metrics_add(GR_M_COST_NUSD, labels2(labels, sizeof labels, "model", model, NULL, NULL), r->cost_nusd);
    if (r->client_gone && r->streaming) gr_metrics_add(GR_M_STREAMS_CANCELLED, NULL, 1);
    gr_metrics_add(GR_M_INFLIGHT, NULL, -1);
}

/* One ledger row per model request, written by the ledger's own thread. */
static void submit_ledger_row(gr_request *r) {
    gr_services *svc = r->w->svc;
    if (!svc || !svc->ledger || !r->model) return;
    gr_ledger_row row;
    memset(&row, 0, sizeof(row));
    GR_LEDGER_SET(row.request_id, r->id);
    GR_LEDGER_SET(row.client_request_id, r->client_id);
    row.ts_ms = (int64_t)gr_wall_ms() - (int64_t)((r->end_us - r->start_us) / 1000);
    if (r->key) GR_LEDGER_SET(row.key_id, gr_keys_id(r->key));
    else if (r->key_name) GR_LEDGER_SET(row.key_id, r->key_name);
    GR_LEDGER_SET(row.model_asked, r->model_asked);
    GR_LEDGER_SET(row.model_served, r->deployment ? r->deployment->upstream_model : "");
    GR_LEDGER_SET(row.provider, r->deployment ? r->deployment->provider->name : "");
    row.tokens_in = r->usage.prompt_tokens;
    row.tokens_out = r->usage.completion_tokens;
    row.tokens_cached = r->usage.cached_tokens;
    row.tokens_reasoning = r->usage.reasoning_tokens;
    row.tokens_cache_write = r->usage.cache_write_tokens;
    row.cost_nusd = r->cost_nusd;
    row.estimated = r->usage.estimated;
    row.latency_us = (int64_t)(r->end_us - r->start_us);
    row.ttft_us = r->first_token_us ? (int64_t)(r->first_token_us - r->start_us) : 0;
    row.status = r->status;
    GR_LEDGER_SET(row.route_reason, r->route_reason ? r->route_reason : "");
    GR_LEDGER_SET(row.error_type, r->error_type ? r->error_type : "");
    if (r->pay_x402) gr_pay_x402_finish(r, &row);
    if (gr_ledger_submit(svc->ledger, &row) != GR_OK) gr_metrics_add(GR_M_LEDGER_DROPPED, NULL, 1);
}

static void release(gr_request *r);

void gr_request_finish(gr_request *r) {
    if (r->finished) return;
    r->finished = true;
    r->end_us = gr_now_us();
    /* A stream cut by the client is billed for what the upstream produced. */
    if (r->deployment && !r->cost_nusd && (r->usage.present || r->stream_data_bytes)) gr_proxy_compute_cost(r);
    if (r->reservation.active)
        gr_keys_settle(&r->reservation, r->cost_nusd, r->usage.prompt_tokens + r->usage.completion_tokens,
                       (int64_t)gr_wall_ms());
    if (r->shared_op) {
        gr_shared_op_cancel(r->shared_op);
        r->shared_op = NULL;
    }
    if (r->shared_reserved && r->key && r->w->shared) {
        gr_keys_note_shared(r->key, -r->max_cost_nusd);
        gr_key_limits lim;
        gr_keys_limits(r->key, &lim);
        gr_shared_settle(r->w->shared, gr_keys_id(r->key), &lim, r->shared_reserved, r->cost_nusd, r->est_total_tokens,
                         r->usage.prompt_tokens + r->usage.completion_tokens, (int64_t)gr_wall_ms());
    }
    if (r->xfer) {
        gr_transfer_cancel(r->xfer);
        r->xfer = NULL;
    }
    if (r->retry_ev) event_free(r->retry_ev);
    if (r->req) { /* never answered (the client left): release it; its done callback accounts for it */
        gr_client_req_release(r->req);
        r->req = NULL;
    }
    if (!r->status) r->status = 500;
    if (r->client_gone) r->status = 499; /* nginx convention: client closed request */
    write_access_log(r);
    record_metrics(r);
    submit_ledger_row(r);
    if (r->st && r->ops) r->ops->stream_free(r->st);
    gr_messages_stream_free(r->msg_stream);
    if (r->sse_ready) gr_sse_dispose(&r->sse);
    if (r->up_body) evbuffer_free(r->up_body);
    if (r->out) evbuffer_free(r->out);
    gr_http_request_free(&r->up_req);
    gr_redactor_dispose(&r->redact);
    cJSON_Delete(r->body);
    r->body = NULL;
    cJSON_Delete(r->messages_body);
    r->messages_body = NULL;
    if (r->store_jobs) { /* a store job still calls back into r: the last completion frees it */
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

/* ---- store jobs in flight ---- */

static void on_close_held(gr_client_req *req, void *arg) {
    (void)req;
    gr_request *r = arg;
    r->client_gone = true; /* the request stays (detached) until finish releases it */
}

void gr_request_hold(gr_request *r) {
    if (r->store_jobs++ == 0 && r->req && !r->client_gone && !r->finished)
        gr_client_req_on_close(r->req, on_close_held, r);
}

bool gr_request_unhold(gr_request *r) {
    if (--r->store_jobs == 0 && r->req && !r->client_gone && !r->finished)
        gr_client_req_on_close(r->req, NULL, NULL);
    if (!r->finished) return true;
    if (r->store_jobs == 0 && r->release_deferred) release(r);
    return false;
}

void gr_request_abandon(gr_request *r) {
    r->client_gone = true;
    gr_request_finish(r); /* releases the detached client request */
}

void gr_request_reply_json(gr_request *r, int status, const char *json, size_t len) {
    r->status = status;
    if (status == 200 && r->cache_key[0] && !r->cache_hit && r->w->shared) /* fill the cache */
        gr_shared_cache_set(r->w->shared, r->cache_key, json, len, r->cache_ttl_s);
    if (r->pay_x402 && !r->client_gone && gr_pay_x402_hold_reply(r, status, json, len)) return;
    gr_proxy_add_route_headers(r);
    if (r->pay_x402 && !r->client_gone) gr_pay_x402_before_reply(r);
    if (r->req && !r->client_gone) {
        r->bytes_out += len;
        gr_client_req_reply(r->req, status, "application/json", json, len);
        r->req = NULL;
    }
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
    /* /v1/messages answers in Anthropic's shape from the first error on (auth, limits, parsing) */
    bool anthropic = r->anthropic_out || r->ep == GR_EP_MESSAGES;
    char *s = anthropic ? gr_messages_error_json(status, msg) : gr_error_json(msg, type, param, code);
    gr_request_reply_json(r, status, s, strlen(s));
    free(s);
}
