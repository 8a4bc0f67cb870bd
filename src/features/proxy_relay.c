/* proxy_relay.c — the answer relayed to the client: the upstream transfer's
 * callbacks, streams event by event as they arrive (usage picked off the
 * final chunk), non-streamed bodies whole, upstream errors in the client's
 * format. */
#include "proxy_internal.h"
#include "verify_cascade.h"

#include "http_reply.h"
#include "json_edit.h"
#include "messages_bedrock.h"
#include "messages_native.h"
#include "responses_native.h"
#include "responses_state.h"
#include "meter.h"
#include "upstream.h"
#include "provider_native.h"
#include "preset_quirks.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>

static void redact_error(gr_request *r, gr_upstream_error *e);

/* ---- streaming to the client ---- */

/* The client took half of its allowance: resume the upstream. */
static void on_client_drained(gr_client_req *req, void *arg) {
    (void)req;
    gr_request *r = arg;
    if (r->paused && r->xfer && !r->finished) {
        r->paused = false;
        gr_transfer_resume(r->xfer);
    }
}

void proxy_flush_out(gr_request *r) {
    size_t n = evbuffer_get_length(r->out);
    if (!n || r->client_gone || !r->req) return;
    if (!r->first_token_us) r->first_token_us = gr_now_us();
    r->bytes_out += n;
    r->chunks_out++;
    size_t pending = gr_client_req_send_chunk(r->req, r->out);
    /* Backpressure: a slow client pauses the upstream instead of growing memory. */
    if (r->xfer && !r->paused && pending > r->cfg->server.max_client_buffer_bytes) {
        r->paused = true;
        gr_transfer_pause(r->xfer);
        gr_client_req_on_drain(r->req, r->cfg->server.max_client_buffer_bytes / 2, on_client_drained, r);
    }
}

static int emit_anthropic_event(void *ud, const char *event, const char *data, size_t len) {
    gr_request *r = ud;
    size_t n = 0;
    char *frame = gr_messages_sse_frame(event, data, len, &n);
    evbuffer_add(r->out, frame, n);
    free(frame);
    return 0;
}

static int emit_responses_event(void *ud, const char *event, const char *data, size_t len) {
    return emit_anthropic_event(ud, event, data, len); /* the same framing: event + data */
}

/* Canonical chunk (or error) -> Responses events. */
static void append_responses_event(gr_request *r, const char *data, size_t len) {
    gr_status rc;
    if (len > 9 && !memcmp(data, "{\"error\":", 9)) {
        gr_upstream_error e = {.status = 502, .type = "api_error"};
        gr_map_openai_error(502, data, len, &e);
        if (r->responses_native) { /* a relayed stream: the gateway's failure as the API's error event */
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "type", "error");
            cJSON_AddStringToObject(o, "code", e.code ? e.code : "server_error");
            cJSON_AddStringToObject(o, "message", e.message);
            cJSON_AddNullToObject(o, "param");
            char *t = cJSON_PrintUnformatted(o);
            cJSON_Delete(o);
            emit_responses_event(r, "error", t, strlen(t));
            cJSON_free(t);
            return;
        }
        rc = gr_responses_stream_fail(r->resp_stream, e.code ? e.code : "server_error", e.message, emit_responses_event, r);
    } else {
        rc = gr_responses_stream_chunk(r->resp_stream, data, len, emit_responses_event, r);
    }
    if (rc != GR_OK) r->error_type = "translation_error";
}

void proxy_append_event(gr_request *r, const char *data, size_t len) {
    if (r->responses_out) {
        append_responses_event(r, data, len);
        return;
    }
    if (r->anthropic_out) { /* canonical chunk (or error) -> Anthropic events */
        gr_status rc = GR_OK;
        if (len > 9 && !memcmp(data, "{\"error\":", 9)) {
            gr_upstream_error e = {.status = 502, .type = "api_error"};
            gr_map_openai_error(502, data, len, &e);
            rc = gr_messages_stream_error(r->msg_stream, &e, emit_anthropic_event, r);
        } else {
            rc = gr_messages_stream_chunk(r->msg_stream, data, len, emit_anthropic_event, r);
        }
        if (rc != GR_OK) r->error_type = "translation_error";
        return;
    }
    evbuffer_add(r->out, "data: ", 6);
    evbuffer_add(r->out, data, len);
    evbuffer_add(r->out, "\n\n", 2);
}

/* A mid-stream failure: the status line is out, so the error goes in band
 * (a `data: {"error":…}` event, no [DONE]) and the stream ends failed. */
static void emit_midstream_error(gr_request *r, const char *message, const char *type, const char *code) {
    char *s = gr_error_json(message, type, NULL, code);
    proxy_append_event(r, s, strlen(s));
    free(s);
    r->failed_midstream = true;
}

/* The same for an adapter's error, redacted first. */
static void emit_adapter_error(gr_request *r, gr_upstream_error *e, const char *fallback) {
    redact_error(r, e);
    emit_midstream_error(r, e->message[0] ? e->message : fallback, e->type ? e->type : "api_error", e->code);
}

/* Adapters (Anthropic, Gemini) emit canonical chunks; the one carrying usage
 * (sent after the adapter stored the stream's usage in r->usage) gets
 * usage.cost like an OpenAI-compatible stream's. */
static int emit_chunk(void *ud, const char *data, size_t len) {
    gr_request *r = ud;
    if (memmem(data, len, "\"usage\"", 7)) {
        cJSON *j = cJSON_ParseWithLength(data, len);
        if (cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(j, "usage"))) {
            proxy_compute_cost(r);
            gr_meter_annotate_response(j, r->cost_nusd, r->usage.estimated);
            gr_verify_cascade_annotate(r, cJSON_GetObjectItemCaseSensitive(j, "usage"));
            char *s = cJSON_PrintUnformatted(j);
            proxy_append_event(r, s, strlen(s));
            cJSON_free(s);
            cJSON_Delete(j);
            return 0;
        }
        cJSON_Delete(j);
    }
    proxy_append_event(r, data, len);
    return 0;
}

void proxy_start_stream_reply(gr_request *r) {
    gr_request_add_header(r, "Cache-Control", "no-cache");
    gr_request_add_header(r, "X-Accel-Buffering", "no");
    r->status = 200;
    r->reply_started = true;
    (void)gr_pipeline_run_reply(r, 200, NULL, 0); /* no hook takes a stream over */
    if (r->req) gr_client_req_reply_start(r->req, 200, "text/event-stream; charset=utf-8");
}

/* Anthropic upstream, Anthropic client: the event goes out as it came; only
 * usage is read off it. */
static int relay_native_event(gr_request *r, const gr_sse_event *in) {
    gr_sse_event bedrock_ev;
    char *owned = NULL;
    const gr_sse_event *ev = in;
    if (r->deployment->provider->kind == GR_PROVIDER_BEDROCK) { /* an event-stream chunk: the Anthropic event inside */
        if (gr_messages_bedrock_event(in, &bedrock_ev, &owned) < 0) return 0;
        ev = &bedrock_ev;
    }
    gr_native_event_kind k = gr_messages_native_event(ev, &r->usage);
    r->stream_data_bytes += ev->data.len;
    gr_messages_native_frame(r->out, ev);
    free(owned);
    if (k == GR_NATIVE_EV_STOP) r->done_seen = true;
    if (k == GR_NATIVE_EV_ERROR) {
        r->failed_midstream = true;
        r->error_type = "api_error";
        return 1;
    }
    return 0;
}

static int relay_openai_event(gr_request *r, const char *d, size_t n);

/* A preset whose service names the reasoning `reasoning` (Ollama, newer
 * vLLM): the chunk re-rendered with `reasoning_content`, or NULL (as is). */
static char *aliased_reasoning_chunk(gr_request *r, const char *d, size_t n) {
    const gr_provider_preset *ps = r->deployment->provider->preset;
    if (!ps || !ps->reasoning_alias || !memmem(d, n, "\"reasoning\"", 11)) return NULL;
    cJSON *j = cJSON_ParseWithLength(d, n);
    char *out = NULL;
    if (j && gr_preset_alias_reasoning(j)) {
        char *txt = cJSON_PrintUnformatted(j);
        if (!txt) abort();
        out = gr_xstrdup(txt);
        cJSON_free(txt);
    }
    cJSON_Delete(j);
    return out;
}

/* Responses upstream, Responses client: the event goes out as it came; the
 * final one gets usage.cost (its usage is the stream's). */
static int relay_responses_event(gr_request *r, const gr_sse_event *ev) {
    cJSON *j = NULL;
    gr_resp_event_kind k = gr_responses_native_event(ev, &r->usage, &j);
    r->stream_data_bytes += ev->data.len;
    cJSON *resp = cJSON_GetObjectItemCaseSensitive(j, "response");
    if (k == GR_RESP_EV_OTHER || !cJSON_IsObject(resp)) {
        gr_messages_native_frame(r->out, ev);
    } else {
        proxy_compute_cost(r);
        gr_meter_annotate_response(resp, r->cost_nusd, r->usage.estimated);
        char *s = cJSON_PrintUnformatted(j);
        gr_sse_event out = {.event = ev->event, .data = {s, strlen(s)}};
        gr_messages_native_frame(r->out, &out);
        cJSON_free(s);
    }
    cJSON_Delete(j);
    if (k == GR_RESP_EV_END) r->done_seen = true;
    if (k == GR_RESP_EV_FAILED) {
        r->failed_midstream = true;
        r->error_type = "api_error";
        return 1;
    }
    return 0;
}

static int on_sse_event(void *ud, const gr_sse_event *ev) {
    gr_request *r = ud;
    if (r->native) return relay_native_event(r, ev);
    if (r->responses_native) return relay_responses_event(r, ev);
    if (r->ops) {
        gr_upstream_error err = {0};
        if (r->ops->stream_event(r->st, ev, emit_chunk, r, &err) != GR_OK) {
            emit_adapter_error(r, &err, "upstream stream error");
            r->error_type = err.type ? err.type : "api_error";
            return 1;
        }
        return 0;
    }
    char *aliased = aliased_reasoning_chunk(r, ev->data.ptr, ev->data.len);
    int rc = aliased ? relay_openai_event(r, aliased, strlen(aliased)) : relay_openai_event(r, ev->data.ptr, ev->data.len);
    free(aliased);
    return rc;
}

/* One chunk of an OpenAI-compatible stream: relayed, usage picked off. */
static int relay_openai_event(gr_request *r, const char *d, size_t n) {
    if (n == 6 && !memcmp(d, "[DONE]", 6)) {
        r->done_seen = true;
        return 0;
    }
    /* Usage rides on the final chunk; parse only chunks that carry it. */
    bool skip = false;
    const char *u = memmem(d, n, "\"usage\"", 7);
    if (u) {
        const char *v = u + 7;
        while (v < d + n && (*v == ' ' || *v == ':')) v++;
        if (v < d + n && *v == '{') {
            cJSON *j = cJSON_ParseWithLength(d, n);
            if (j) {
                proxy_read_usage(cJSON_GetObjectItemCaseSensitive(j, "usage"), &r->usage);
                const cJSON *ch = cJSON_GetObjectItemCaseSensitive(j, "choices");
                /* The usage-only chunk exists because we asked for it. */
                if (r->injected_usage && !r->anthropic_out && !r->responses_out && cJSON_IsArray(ch) && cJSON_GetArraySize(ch) == 0) skip = true;
                if (!skip) { /* the client sees what the call cost */
                    proxy_compute_cost(r);
                    gr_meter_annotate_response(j, r->cost_nusd, r->usage.estimated);
                    gr_verify_cascade_annotate(r, cJSON_GetObjectItemCaseSensitive(j, "usage"));
                    char *s = cJSON_PrintUnformatted(j);
                    proxy_append_event(r, s, strlen(s));
                    cJSON_free(s);
                    skip = true;
                }
                cJSON_Delete(j);
            }
        }
    }
    r->stream_data_bytes += n;
    if (!skip) proxy_append_event(r, d, n);
    return 0;
}

/* ---- upstream callbacks ---- */

void proxy_on_headers(void *ud, int status, const char *ctype, int retry_after_s) {
    gr_request *r = ud;
    r->up_status = status;
    r->retry_after_s = retry_after_s;
    char full[512]; /* it may reach an error message: redacted before it is cut */
    snprintf(full, sizeof(full), "%s", ctype ? ctype : "");
    gr_redact_str(&r->redact, full, sizeof(full));
    size_t n = strnlen(full, sizeof(r->up_content_type) - 1);
    memcpy(r->up_content_type, full, n);
    r->up_content_type[n] = '\0';
    gr_stream_framing framing = r->ops                                                     ? r->ops->framing
                                : r->native && r->deployment->provider->kind == GR_PROVIDER_BEDROCK ? GR_FRAMING_AWS_EVENTSTREAM
                                                                                            : GR_FRAMING_SSE;
    if (r->stream && status >= 200 && status < 300 && gr_frames_is_stream_type(framing, r->up_content_type)) {
        r->streaming = true;
        gr_frames_init(&r->frames, framing, r->cfg->server.max_sse_event_bytes);
        r->sse_ready = true;
        r->out = evbuffer_new();
        if (r->ops) r->st = r->ops->stream_new(&r->actx);
        proxy_start_stream_reply(r);
    } else {
        r->up_body = evbuffer_new();
    }
}

int proxy_on_data(void *ud, const char *raw, size_t raw_len) {
    gr_request *r = ud;
    if (r->client_gone) return -1;
    if (!r->attempt_first_byte_us) r->attempt_first_byte_us = gr_now_us();
    /* Before anything reads, relays, cuts or logs an upstream byte: the
     * provider's credentials out (a key split across reads is held back). */
    const char *data;
    size_t len;
    gr_redactor_feed(&r->redact, raw, raw_len, &data, &len);
    return proxy_relay_data(r, data, len);
}

/* Redacted upstream bytes: buffered (non-streamed) or parsed and relayed. */
int proxy_relay_data(gr_request *r, const char *data, size_t len) {
    if (!r->streaming) {
        if (evbuffer_get_length(r->up_body) + len > r->cfg->server.max_upstream_response_bytes) {
            r->error_type = "upstream_response_too_large";
            return -1;
        }
        evbuffer_add(r->up_body, data, len);
        return 0;
    }
    if (r->cfg->server.max_stream_bytes && r->bytes_out + len > r->cfg->server.max_stream_bytes) {
        r->error_type = "stream_too_long";
        return -1;
    }
    uint64_t comments = gr_frames_comments(&r->frames);
    gr_status rc = gr_frames_feed(&r->frames, data, len, on_sse_event, r);
    if (gr_frames_comments(&r->frames) != comments) /* upstream keep-alives (": ping") keep the client side alive too */
        evbuffer_add(r->out, ": keepalive\n\n", 13);
    if (rc == GR_ERR_TOO_LARGE || rc == GR_ERR_NOMEM) {
        emit_midstream_error(r, "upstream sent an SSE event larger than server.max_sse_event_bytes", "api_error",
                             "upstream_event_too_large");
        r->error_type = "upstream_event_too_large";
    } else if (rc == GR_ERR_PARSE && !r->failed_midstream) { /* a damaged binary frame (bad CRC or length) */
        emit_midstream_error(r, "upstream sent a malformed event-stream frame", "api_error", "upstream_bad_frame");
        r->error_type = "upstream_bad_frame";
    }
    proxy_flush_out(r);
    return r->failed_midstream ? -1 : 0;
}

/* The Response as answered, for the response store (only when `store`). */
static void keep_response(gr_request *r, const cJSON *resp) {
    if (!resp || cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(r->responses_body, "store"))) return;
    cJSON_Delete(r->responses_final);
    r->responses_final = cJSON_Duplicate(resp, 1);
    gr_responses_state_keep(r); /* queued before the bytes go out */
}

void proxy_finish_stream(gr_request *r, const char *err) {
    if (r->ops && r->st && !r->failed_midstream) {
        gr_upstream_error e = {0};
        if (r->ops->stream_finish(r->st, emit_chunk, r, &r->usage, &e) != GR_OK) {
            emit_adapter_error(r, &e, "upstream stream ended abnormally");
        } else if (!err) {
            r->done_seen = true;
        }
    }
    if (err && !r->failed_midstream && !r->done_seen) {
        /* The upstream died mid-stream: say so in-band; the status is already sent. */
        char msg[256];
        snprintf(msg, sizeof(msg), "%s after the stream started", err);
        emit_midstream_error(r, msg, gr_upstream_err_is_timeout(err) ? "timeout_error" : "api_error",
                             gr_upstream_err_is_timeout(err) ? "upstream_timeout" : "upstream_error");
        if (!r->error_type) r->error_type = err; /* keep a more specific cause (e.g. stream_too_long) */
    } else if (!err && !r->done_seen && !r->failed_midstream) {
        /* Clean EOF without [DONE]: some servers do this; close properly. */
        r->done_seen = true;
    }
    if (!r->cost_nusd) proxy_compute_cost(r);
    if (r->done_seen && !r->failed_midstream && !r->native && !r->responses_native) { /* a relayed stream carries its own end */
        if (r->anthropic_out) {
            if (gr_messages_stream_finish(r->msg_stream, emit_anthropic_event, r) != GR_OK) r->error_type = "translation_error";
        } else if (r->responses_out) {
            if (gr_responses_stream_finish(r->resp_stream, emit_responses_event, r) != GR_OK) r->error_type = "translation_error";
            else keep_response(r, gr_responses_stream_response(r->resp_stream));
        }
        else evbuffer_add(r->out, "data: [DONE]\n\n", 14);
    }
    proxy_flush_out(r);
    if (r->req) {
        gr_client_req_reply_end(r->req);
        r->req = NULL;
    }
    gr_request_finish(r);
}

/* An error decoded from upstream JSON: its strings again through the
 * redactor (the raw bytes were redacted, but JSON escapes could hide a key). */
static void redact_error(gr_request *r, gr_upstream_error *e) {
    gr_redact_str(&r->redact, e->message, sizeof(e->message));
    gr_redact_str(&r->redact, e->code_buf, sizeof(e->code_buf));
}

void proxy_reply_upstream_error(gr_request *r) {
    size_t len = evbuffer_get_length(r->up_body);
    const char *body = (const char *)evbuffer_pullup(r->up_body, -1);
    gr_upstream_error e = {0};
    if (r->ops) r->ops->map_error(&r->actx, r->up_status, body, len, &e);
    else if (r->native) gr_anthropic_ops.map_error(&r->actx, r->up_status, body, len, &e);
    else gr_map_openai_error(r->up_status, body, len, &e);
    redact_error(r, &e);
    if (r->up_status == 429 && r->retry_after_s > 0) { /* pass the provider's wait on */
        char ra[16];
        snprintf(ra, sizeof(ra), "%d", r->retry_after_s);
        gr_request_add_header(r, "Retry-After", ra);
    }
    if (r->native && r->up_status >= 400 && r->up_status <= 599 && r->up_status != 401 && r->up_status != 403) {
        /* Anthropic's own status, type and wording reach its client (Claude
         * Code retries on 529 overloaded_error, falls back on others). */
        cJSON *j = gr_provider_parse_json(body, len);
        const char *etype = gr_provider_get_str(gr_provider_get(j, "error"), "type");
        if (etype) {
            char *s = gr_messages_error_json_typed(etype, e.message);
            r->error_type = gr_messages_error_type(r->up_status);
            gr_request_reply_json(r, r->up_status, s, strlen(s));
            free(s);
            cJSON_Delete(j);
            return;
        }
        cJSON_Delete(j);
    }
    int status = e.status ? e.status : r->up_status;
    char prefix[160] = "";
    const char *type = e.type ? e.type : gr_error_type_for_status(status);
    if (status == 401 || status == 403) {
        /* The provider rejected OUR credentials: not the client's fault, and
         * not an authentication error the client could fix. */
        snprintf(prefix, sizeof(prefix), "provider %s rejected the gateway's credentials: ", r->deployment->provider->name);
        status = 502;
        type = "api_error";
    }
    if (status < 400 || status > 599) {
        status = 502;
        type = "api_error";
    }
    gr_request_fail(r, status, type, e.code, NULL, "%s%s", prefix, e.message);
}

gr_responses_call proxy_responses_call(gr_request *r) {
    return (gr_responses_call){.request = r->responses_body, .id = r->response_id, .model = r->model_asked,
                               .created_at = r->response_created_at};
}

/* A canonical chat.completion (usage.cost set) answered as a Response. */
static void reply_response_object(gr_request *r, const cJSON *resp) {
    cJSON *out = NULL;
    gr_upstream_error e = {0};
    gr_responses_call call = proxy_responses_call(r);
    if (gr_responses_from_canonical(resp, &call, &out, &e) != GR_OK) {
        cJSON_Delete(out);
        gr_request_fail(r, 502, "api_error", NULL, NULL, "%s", e.message[0] ? e.message : "response could not be translated");
        return;
    }
    keep_response(r, out);
    char *m = cJSON_PrintUnformatted(out);
    cJSON_Delete(out);
    gr_request_reply_json(r, 200, m, strlen(m));
    cJSON_free(m);
}

/* Replies with `usage.cost` added and the x-gaterouter-cost header. */
void proxy_reply_costed(gr_request *r, cJSON *resp) {
    char usd[48];
    gr_meter_format_usd(r->cost_nusd, usd, sizeof(usd));
    gr_request_add_header(r, "x-gaterouter-cost", usd);
    if (r->usage.estimated) gr_request_add_header(r, "x-gaterouter-cost-estimated", "true"); /* as KEYS.md says */
    if (cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(resp, "usage")) || r->ep != GR_EP_EMBEDDINGS) {
        gr_meter_annotate_response(resp, r->cost_nusd, r->usage.estimated);
        gr_verify_cascade_annotate(r, cJSON_GetObjectItemCaseSensitive(resp, "usage"));
    }
    if (r->responses_out) {
        reply_response_object(r, resp);
        return;
    }
    if (r->anthropic_out) {
        cJSON *msg = NULL;
        gr_upstream_error e = {0};
        if (gr_messages_from_canonical(resp, r->model_asked, &msg, &e) != GR_OK) {
            cJSON_Delete(msg);
            gr_request_fail(r, 502, "api_error", NULL, NULL, "%s", e.message[0] ? e.message : "response could not be translated");
            return;
        }
        char *m = cJSON_PrintUnformatted(msg);
        cJSON_Delete(msg);
        gr_request_reply_json(r, 200, m, strlen(m));
        cJSON_free(m);
        return;
    }
    char *s = cJSON_PrintUnformatted(resp);
    gr_request_reply_json(r, 200, s, strlen(s));
    cJSON_free(s);
}

/* Anthropic upstream, Anthropic client: the upstream's bytes go out as they
 * came; usage (and so the cost, in x-gaterouter-cost) is read off them. A
 * token count is free. */
static void reply_native(gr_request *r, const char *body, size_t len) {
    cJSON *j = gr_provider_parse_json(body, len);
    const char *type = gr_provider_get_str(j, "type");
    if (!cJSON_IsObject(j) || (type && !strcmp(type, "error"))) {
        cJSON_Delete(j);
        gr_request_fail(r, 502, "api_error", "upstream_invalid_json", NULL,
                        "upstream returned HTTP %d with a body that is not an Anthropic %s", r->up_status,
                        r->count_tokens ? "token count" : "message");
        return;
    }
    if (!r->count_tokens) {
        gr_anthropic_usage_merge(gr_provider_get(j, "usage"), &r->usage);
        proxy_compute_cost(r);
        char usd[48];
        gr_meter_format_usd(r->cost_nusd, usd, sizeof(usd));
        gr_request_add_header(r, "x-gaterouter-cost", usd);
    }
    cJSON_Delete(j);
    gr_request_reply_json(r, 200, body, len);
}

/* Responses upstream, Responses client: the Response as it came, with
 * usage.cost added. */
static void reply_responses_native(gr_request *r, const char *body, size_t len) {
    cJSON *j = gr_provider_parse_json(body, len);
    const char *obj = gr_provider_get_str(j, "object");
    if (!cJSON_IsObject(j) || !obj || strcmp(obj, "response")) {
        cJSON_Delete(j);
        gr_request_fail(r, 502, "api_error", "upstream_invalid_json", NULL,
                        "upstream returned HTTP %d with a body that is not a Response", r->up_status);
        return;
    }
    gr_responses_native_usage(gr_provider_get(j, "usage"), &r->usage);
    if (!r->usage.present) {
        r->usage.prompt_tokens = r->est_prompt_tokens;
        r->usage.estimated = true;
    }
    proxy_compute_cost(r);
    char usd[48];
    gr_meter_format_usd(r->cost_nusd, usd, sizeof(usd));
    gr_request_add_header(r, "x-gaterouter-cost", usd);
    gr_meter_annotate_response(j, r->cost_nusd, r->usage.estimated);
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    gr_request_reply_json(r, 200, s, strlen(s));
    cJSON_free(s);
}

void proxy_reply_non_stream(gr_request *r) {
    size_t len = evbuffer_get_length(r->up_body);
    const char *body = (const char *)evbuffer_pullup(r->up_body, -1);
    if (r->native && !r->stream) {
        reply_native(r, body, len);
        return;
    }
    if (r->responses_native && !r->stream) {
        reply_responses_native(r, body, len);
        return;
    }
    if (r->stream) {
        gr_request_fail(r, 502, "api_error", "upstream_not_streaming", NULL,
                        "upstream answered a streaming request with content-type '%s' instead of text/event-stream",
                        r->up_content_type);
        return;
    }
    if (r->ops) {
        cJSON *out = NULL;
        gr_upstream_error e = {0};
        gr_status rc = r->ep == GR_EP_EMBEDDINGS
                           ? r->ops->parse_embeddings_response(&r->actx, r->body, body, len, &out, &r->usage, &e)
                           : r->ops->parse_chat_response(&r->actx, body, len, &out, &r->usage, &e);
        if (rc != GR_OK || !out) {
            cJSON_Delete(out);
            redact_error(r, &e);
            gr_request_fail(r, e.status ? e.status : 502, e.type ? e.type : "api_error", e.code, NULL, "%s",
                            e.message[0] ? e.message : "upstream response could not be translated");
            return;
        }
        if (!r->usage.present && r->ep == GR_EP_EMBEDDINGS) { /* no count upstream (Gemini, Cohere): the estimate */
            r->usage.prompt_tokens = r->est_prompt_tokens;
            r->usage.estimated = true;
            cJSON_DeleteItemFromObjectCaseSensitive(out, "usage");
            cJSON *u = cJSON_AddObjectToObject(out, "usage");
            cJSON_AddNumberToObject(u, "prompt_tokens", (double)r->est_prompt_tokens);
            cJSON_AddNumberToObject(u, "total_tokens", (double)r->est_prompt_tokens);
        }
        proxy_compute_cost(r);
        proxy_reply_costed(r, out);
        cJSON_Delete(out);
        return;
    }
    cJSON *j = gr_json_arena_parse(&r->json_arena, r->w->json_shard, body, len, NULL);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        gr_request_fail(r, 502, "api_error", "upstream_invalid_json", NULL,
                        "upstream returned HTTP %d with a body that is not a JSON object", r->up_status);
        return;
    }
    const cJSON *upstream_err = cJSON_GetObjectItemCaseSensitive(j, "error");
    if (upstream_err && !cJSON_IsNull(upstream_err) && !cJSON_GetObjectItemCaseSensitive(j, "choices") &&
        !cJSON_GetObjectItemCaseSensitive(j, "data")) {
        /* A 200 that carries an error is an error: never billed, never a success. */
        gr_upstream_error e = {0};
        gr_map_openai_error(502, body, len, &e);
        redact_error(r, &e);
        cJSON_Delete(j);
        gr_request_fail(r, 502, "api_error", "upstream_error_in_success", NULL, "%s", e.message);
        return;
    }
    const gr_provider_preset *ps = r->deployment->provider->preset;
    bool aliased = ps && ps->reasoning_alias && gr_preset_alias_reasoning(j); /* then re-rendered below */
    proxy_read_usage(cJSON_GetObjectItemCaseSensitive(j, "usage"), &r->usage);
    if (!r->usage.present) {
        r->usage.prompt_tokens = r->est_prompt_tokens;
        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "choices"), 0), "message");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(msg, "content");
        if (cJSON_IsString(content)) r->usage.completion_tokens = gr_meter_estimate_text(content->valuestring, strlen(content->valuestring));
        r->usage.estimated = true;
    }
    proxy_compute_cost(r);
    /* Fast path: the upstream's bytes go out as they came, with only
     * "cost" spliced into the usage object (no re-rendering of the body). */
    size_t us, ue;
    const cJSON *uobj = cJSON_GetObjectItemCaseSensitive(j, "usage");
    if (!aliased && !r->anthropic_out && !r->responses_out && r->usage.present && cJSON_IsObject(uobj) &&
        !cJSON_GetObjectItemCaseSensitive(uobj, "cost") &&
        !gr_verify_cascade_ran(r) && /* a cascade itemises its calls in usage: re-rendered below */
        gr_json_find_top_level(body, len, "usage", &us, &ue) && ue > us + 1 && body[ue - 1] == '}') {
        char usd[48], ins[64];
        gr_meter_format_usd(r->cost_nusd, usd, sizeof(usd));
        bool empty = cJSON_GetArraySize(uobj) == 0;
        int n = snprintf(ins, sizeof(ins), "%s\"cost\":%s", empty ? "" : ",", usd);
        size_t out_len;
        char *out = gr_json_splice(body, len, ue - 1, ue - 1, ins, (size_t)n, &out_len);
        cJSON_Delete(j);
        gr_request_add_header(r, "x-gaterouter-cost", usd);
        gr_request_reply_json(r, 200, out, out_len);
        free(out);
        return;
    }
    proxy_reply_costed(r, j);
    cJSON_Delete(j);
}
