/* proxy.c — the model endpoints (the rows of endpoints.c that call
 * gr_proxy_handle): its phase handlers PARSE (the body), ROUTE (the
 * candidates), CACHE and UPSTREAM, then the relay. It builds the upstream
 * request (OpenAI-compatible fast path: the body is forwarded with only
 * `model` rewritten; native providers go through their adapter) and relays
 * the response: non-streamed bodies whole, streams event by event as they
 * arrive, with usage picked off the final chunk. Admission lives in the
 * features that register ADMIT handlers (pay_x402.c, admit_keys.c). */
#include "proxy.h"
#include "pipeline.h"
#include "verify_cascade.h"

#include "http_reply.h"
#include "http_server.h"
#include "json_edit.h"
#include "log.h"
#include "messages_bedrock.h"
#include "messages_native.h"
#include "responses_native.h"
#include "responses_state.h"
#include "meter.h"
#include "meter_defaults.h"
#include "route.h"
#include "route_auto_config.h"
#include "shared.h"
#include "metrics.h"
#include "upstream.h"
#include "provider_native.h"
#include "vertex_token.h"
#include "trace.h"
#include "preset_quirks.h"
#include "output_cap.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>

static void on_headers(void *ud, int status, const char *ctype, int retry_after_s);
static int on_data(void *ud, const char *data, size_t len);
static int relay_data(gr_request *r, const char *data, size_t len);
static void on_done(void *ud, const char *err, int status);
static void redact_error(gr_request *r, gr_upstream_error *e);

static const gr_transfer_cbs k_proxy_cbs = {on_headers, on_data, on_done};

/* ---- helpers ---- */

static const char *endpoint_path(gr_endpoint ep) {
    switch (ep) {
    case GR_EP_CHAT: return "/chat/completions";
    case GR_EP_COMPLETIONS: return "/completions";
    case GR_EP_EMBEDDINGS: return "/embeddings";
    default: return "/chat/completions";
    }
}

/* An upstream's token count, clamped to [0, 10^15] (no UB cast, no negative cost). */
static int64_t token_count(const cJSON *n) {
    double v = n->valuedouble;
    if (!(v > 0)) return 0;
    return v > 1e15 ? (int64_t)1000000000000000 : (int64_t)v;
}

static void read_usage(const cJSON *u, gr_usage *out) {
    if (!cJSON_IsObject(u)) return;
    const cJSON *pt = cJSON_GetObjectItemCaseSensitive(u, "prompt_tokens");
    const cJSON *ct = cJSON_GetObjectItemCaseSensitive(u, "completion_tokens");
    const cJSON *ptd = cJSON_GetObjectItemCaseSensitive(u, "prompt_tokens_details");
    const cJSON *cached = cJSON_GetObjectItemCaseSensitive(ptd, "cached_tokens");
    const cJSON *written = cJSON_GetObjectItemCaseSensitive(ptd, "cache_write_tokens"); /* OpenRouter */
    const cJSON *ctd = cJSON_GetObjectItemCaseSensitive(u, "completion_tokens_details");
    const cJSON *reasoning = cJSON_GetObjectItemCaseSensitive(ctd, "reasoning_tokens");
    if (cJSON_IsNumber(pt)) out->prompt_tokens = token_count(pt);
    if (cJSON_IsNumber(ct)) out->completion_tokens = token_count(ct);
    if (cJSON_IsNumber(cached)) out->cached_tokens = token_count(cached);
    if (cJSON_IsNumber(written)) out->cache_write_tokens = token_count(written);
    if (cJSON_IsNumber(reasoning)) out->reasoning_tokens = token_count(reasoning);
    out->present = true;
}

/* Final cost from the upstream's usage, or from the gateway's estimate when
 * the upstream reported none (marked estimated). */
static void compute_cost(gr_request *r) {
    if (!r->usage.present && !r->usage.estimated) {
        r->usage.prompt_tokens = r->est_prompt_tokens;
        /* ~150 bytes of JSON framing per chunk; the rest is content. */
        uint64_t framing = r->chunks_out * 150u;
        uint64_t content = r->stream_data_bytes > framing ? r->stream_data_bytes - framing : 0;
        r->usage.completion_tokens = (int64_t)(content / 4);
        r->usage.estimated = true;
    }
    r->cost_nusd = gr_meter_cost(&r->prices, &r->usage) + gr_verify_cascade_prior_cost(r); /* + an auto:verify cascade's earlier calls */
}

static char *json_quote(const char *s) {
    cJSON *j = cJSON_CreateString(s);
    char *q = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!q) abort();
    return q;
}

/* Keeps only the first of any duplicate top-level key of `copy` (the one
 * that was validated, routed and priced). */
static void drop_duplicate_keys(cJSON *copy) {
    for (cJSON *it = copy ? copy->child : NULL; it;) {
        cJSON *next = it->next;
        for (cJSON *prev = copy->child; prev != it; prev = prev->next)
            if (prev->string && it->string && !strcmp(prev->string, it->string)) {
                cJSON_Delete(cJSON_DetachItemViaPointer(copy, it));
                break;
            }
        it = next;
    }
}

/* The OpenAI-compatible fast path: forward the client's bytes with `model`
 * rewritten, the gateway's own fields (gr_route_gateway_fields) removed and,
 * for streams, usage requested so the gateway can meter. */
/* The slow, safe variant: render from the parsed tree, keeping only the
 * first of any duplicate top-level key, without the gateway's own fields,
 * with `model` and stream_options set like the fast path. */
static char *build_tree_body(gr_request *r, const cJSON *tree, bool ask_usage, size_t *out_len) {
    cJSON *copy = cJSON_Duplicate(tree, 1);
    drop_duplicate_keys(copy);
    for (size_t i = 0; gr_route_gateway_fields[i]; i++)
        cJSON_DeleteItemFromObjectCaseSensitive(copy, gr_route_gateway_fields[i]);
    cJSON_DeleteItemFromObjectCaseSensitive(copy, "model");
    cJSON_AddStringToObject(copy, "model", r->deployment->upstream_model);
    if (ask_usage && r->stream && r->ep != GR_EP_EMBEDDINGS && !r->include_usage_asked) {
        cJSON_DeleteItemFromObjectCaseSensitive(copy, "stream_options");
        cJSON_AddItemToObject(cJSON_AddObjectToObject(copy, "stream_options"), "include_usage", cJSON_CreateTrue());
        r->injected_usage = true;
    }
    char *txt = cJSON_PrintUnformatted(copy);
    cJSON_Delete(copy);
    if (!txt) abort();
    char *out = gr_xstrdup(txt);
    cJSON_free(txt);
    *out_len = strlen(out);
    return out;
}

/* tree: the parse of body; ask_usage: streams get stream_options.include_usage
 * (OpenAI-compatible upstreams; Anthropic's events always carry usage). */
static char *build_fast_body(gr_request *r, const cJSON *tree, bool ask_usage, const char *body, size_t len,
                             size_t *out_len) {
    if (!gr_json_top_level_keys_plain(body, len)) return build_tree_body(r, tree, ask_usage, out_len);
    size_t s, e;
    char *cur = NULL;
    size_t cur_len = len;
    const char *src = body;
    for (size_t i = 0; gr_route_gateway_fields[i]; i++) { /* never forwarded: real APIs reject them */
        if (!cJSON_GetObjectItemCaseSensitive(tree, gr_route_gateway_fields[i])) continue;
        size_t next_len;
        char *next = gr_json_remove_top_level(src, cur_len, gr_route_gateway_fields[i], &next_len);
        if (!next) continue;
        free(cur);
        src = cur = next;
        cur_len = next_len;
    }
    char *q = json_quote(r->deployment->upstream_model);
    size_t modeled_len;
    char *modeled = gr_json_find_top_level(src, cur_len, "model", &s, &e)
                        ? gr_json_splice(src, cur_len, s, e, q, strlen(q), &modeled_len)
                        : gr_json_insert_first(src, cur_len, "model", q, &modeled_len); /* `models` without `model` */
    cJSON_free(q);
    if (modeled) {
        free(cur);
        src = cur = modeled;
        cur_len = modeled_len;
    }
    if (ask_usage && r->stream && r->ep != GR_EP_EMBEDDINGS && !r->include_usage_asked) {
        static const char so[] = "{\"include_usage\":true}";
        char *next;
        size_t next_len;
        if (gr_json_find_top_level(src, cur_len, "stream_options", &s, &e))
            next = gr_json_splice(src, cur_len, s, e, so, sizeof(so) - 1, &next_len);
        else
            next = gr_json_insert_first(src, cur_len, "stream_options", so, &next_len);
        if (next) {
            free(cur);
            cur = next;
            cur_len = next_len;
            r->injected_usage = true;
        }
    }
    if (!cur) cur = gr_xstrndup(body, len);
    *out_len = cur_len;
    return cur;
}

/* Azure OpenAI's URL, from any of the three base_url forms in use:
 *   https://R.openai.azure.com                          -> /openai/deployments/<model>/<ep>?api-version=V
 *   https://R.openai.azure.com/openai/deployments/D     -> <base>/<ep>?api-version=V (D is the deployment)
 *   https://R.openai.azure.com/openai/v1                -> <base>/<ep> (the v1 API: no api-version, model in the body)
 * The key goes in the api-key header either way. */
static char *azure_url(gr_request *r, const gr_provider_conf *p, const gr_deployment *dep) {
    const char *version = p->api_version ? p->api_version : "2024-10-21";
    const char *base = p->base_url;
    size_t bl = strlen(base);
    if (strstr(base, "/openai/deployments/"))
        return gr_xstrdup(gr_pool_printf(r->pool, "%s%s?api-version=%s", base, endpoint_path(r->ep), version));
    if (bl >= 10 && !strcmp(base + bl - 10, "/openai/v1"))
        return gr_xstrdup(gr_pool_printf(r->pool, "%s%s", base, endpoint_path(r->ep)));
    bool has_openai = bl >= 7 && !strcmp(base + bl - 7, "/openai");
    return gr_xstrdup(gr_pool_printf(r->pool, "%s%s/deployments/%s%s?api-version=%s", base, has_openai ? "" : "/openai",
                                     dep->upstream_model, endpoint_path(r->ep), version));
}

/* The provider's configured headers (conf_headers: false on the adapter
 * path, whose build_chat_request added them already) and the request id. */
static void add_common_headers(gr_request *r, const gr_provider_conf *p, gr_http_request *h, bool conf_headers) {
    if (conf_headers) gr_provider_add_conf_headers(p, h);
    gr_http_request_add_header(h, "X-Request-Id: %s", gr_request_echo_id(r));
    char traceparent[56];
    const char *tracestate = NULL;
    if (gr_trace_attempt_begin(r, traceparent, &tracestate)) { /* W3C trace context: this attempt's span */
        gr_http_request_add_header(h, "traceparent: %s", traceparent);
        if (tracestate) gr_http_request_add_header(h, "tracestate: %s", tracestate);
    }
}

/* Caps generation (output_cap.h: what x402 paid for, or what a key's hold
 * reserved): the canonical body gets the cap, and the fast path forwards the
 * re-rendered body. */
static const char *apply_token_cap(gr_request *r, cJSON *tree, const char *body, size_t *len) {
    if (!gr_output_cap_apply(r, tree, NULL)) return body;
    char *txt = cJSON_PrintUnformatted(tree);
    char *copy = gr_pool_strdup(r->pool, txt);
    cJSON_free(txt);
    *len = strlen(copy);
    return copy;
}

/* A preset's quirks (preset_quirks.c) applied to a copy of the canonical
 * body, whose rendering becomes the body sent; NULL after failing the request.
 * Also for a translated /v1/messages request without a preset (its thinking
 * blocks, carried as reasoning_content, are removed). */
static cJSON *preset_body(gr_request *r, const gr_provider_conf *p, const char **body, size_t *len) {
    cJSON *copy = cJSON_Duplicate(r->body, 1);
    drop_duplicate_keys(copy);
    cJSON_DeleteItemFromObjectCaseSensitive(copy, "model"); /* the rules may depend on the upstream's model id */
    cJSON_AddStringToObject(copy, "model", r->deployment->upstream_model);
    gr_upstream_error err = {0};
    /* the thinking of a translated /v1/messages turn: back only to who asks for it */
    if (r->anthropic_out && !(p->preset && p->preset->reasoning_echo))
        gr_preset_drop_message_field(copy, "reasoning_content");
    if (gr_preset_rewrite(p->preset, copy, &err) != GR_OK) {
        cJSON_Delete(copy);
        gr_request_fail(r, err.status, err.type, err.code, NULL, "%s", err.message);
        return NULL;
    }
    char *txt = cJSON_PrintUnformatted(copy);
    if (!txt) abort();
    *body = gr_pool_strdup(r->pool, txt);
    *len = strlen(*body);
    cJSON_free(txt);
    return copy;
}

static bool build_upstream_request(gr_request *r, const char *body, size_t len) {
    const gr_provider_conf *p = r->deployment->provider;
    gr_http_request *h = &r->up_req;
    if (r->native) { /* the client's own Anthropic request, `model` rewritten */
        if (gr_messages_native_drop_foreign_thinking(r->messages_body)) { /* thinking Anthropic did not sign */
            char *txt = cJSON_PrintUnformatted(r->messages_body);
            r->messages_text = gr_pool_strdup(r->pool, txt);
            r->messages_len = strlen(r->messages_text);
            cJSON_free(txt);
        }
        size_t nlen = r->messages_len;
        const char *nb = apply_token_cap(r, r->messages_body, r->messages_text, &nlen);
        bool vertex = p->kind == GR_PROVIDER_VERTEX; /* Claude on Vertex: `model` in the URL instead */
        bool bedrock = p->kind == GR_PROVIDER_BEDROCK; /* Claude on Bedrock: InvokeModel, signed once the body is done */
        if (vertex)
            gr_messages_native_vertex_request(r->req, p, r->deployment->upstream_model, r->stream, r->actx.bearer_token, h);
        else if (bedrock)
            gr_messages_native_forward(r->req, h);
        else
            gr_messages_native_request(r->req, p, r->count_tokens, h);
        add_common_headers(r, r->deployment->provider, h, true);
        gr_messages_native_join_betas(h); /* the client's and the provider's, one header */
        h->body = build_fast_body(r, r->messages_body, false, nb, nlen, &h->body_len);
        if (vertex) gr_messages_native_vertex_body(h);
        gr_upstream_error err = {0};
        if (bedrock && !gr_messages_bedrock_request(&r->actx, r->stream, h, &err)) {
            gr_request_fail(r, err.status ? err.status : 500, err.type ? err.type : "api_error", err.code, NULL, "%s",
                            err.message);
            return false;
        }
        return true;
    }
    if (r->responses_native) { /* the client's own Responses request, `model` rewritten */
        const char *rb = r->responses_text;
        size_t rlen = r->responses_len;
        if (gr_output_cap_apply(r, r->responses_body, "max_output_tokens")) { /* output_cap.h */
            char *txt = cJSON_PrintUnformatted(r->responses_body);
            rb = gr_pool_strdup(r->pool, txt);
            rlen = strlen(rb);
            cJSON_free(txt);
        }
        gr_responses_native_request(p, r->stream, h);
        add_common_headers(r, r->deployment->provider, h, true);
        h->body = build_fast_body(r, r->responses_body, false, rb, rlen, &h->body_len);
        return true;
    }
    body = apply_token_cap(r, r->body, body, &len);
    if (r->ops) {
        gr_upstream_error err = {0};
        gr_status brc = r->ep == GR_EP_EMBEDDINGS ? r->ops->build_embeddings_request(&r->actx, r->body, h, &err)
                                                  : r->ops->build_chat_request(&r->actx, r->body, h, &err);
        if (brc != GR_OK) {
            gr_request_fail(r, err.status ? err.status : 400, err.type ? err.type : "invalid_request_error", err.code,
                            NULL, "%s", err.message[0] ? err.message : "request cannot be translated for this provider");
            return false;
        }
        add_common_headers(r, r->deployment->provider, h, false);
        return true;
    }
    if (p->kind == GR_PROVIDER_AZURE) {
        h->url = azure_url(r, p, r->deployment);
        if (p->api_key) gr_http_request_add_header(h, "api-key: %s", p->api_key);
    } else {
        h->url = gr_xstrdup(gr_pool_printf(r->pool, "%s%s", p->base_url, endpoint_path(r->ep)));
        if (p->api_key) gr_http_request_add_header(h, "Authorization: Bearer %s", p->api_key);
    }
    gr_http_request_add_header(h, "Content-Type: application/json");
    if (r->stream) gr_http_request_add_header(h, "Accept: text/event-stream");
    add_common_headers(r, r->deployment->provider, h, true);
    cJSON *rewritten = NULL;
    if ((p->preset || r->anthropic_out) && r->ep == GR_EP_CHAT && !(rewritten = preset_body(r, p, &body, &len)))
        return false;
    h->body = build_fast_body(r, rewritten ? rewritten : r->body, !p->preset || p->preset->stream_options, body, len,
                              &h->body_len);
    cJSON_Delete(rewritten);
    if (p->openrouter_provider && r->ep == GR_EP_CHAT) { /* after the gateway's own `provider` was removed */
        size_t n;
        char *with = gr_json_insert_first(h->body, h->body_len, "provider", p->openrouter_provider, &n);
        if (with) {
            free(h->body);
            h->body = with;
            h->body_len = n;
        }
    }
    return true;
}

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

static void flush_out(gr_request *r) {
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

static void append_event(gr_request *r, const char *data, size_t len) {
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
    append_event(r, s, strlen(s));
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
            compute_cost(r);
            gr_meter_annotate_response(j, r->cost_nusd, r->usage.estimated);
            gr_verify_cascade_annotate(r, cJSON_GetObjectItemCaseSensitive(j, "usage"));
            char *s = cJSON_PrintUnformatted(j);
            append_event(r, s, strlen(s));
            cJSON_free(s);
            cJSON_Delete(j);
            return 0;
        }
        cJSON_Delete(j);
    }
    append_event(r, data, len);
    return 0;
}

static void start_stream_reply(gr_request *r) {
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
        compute_cost(r);
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
                read_usage(cJSON_GetObjectItemCaseSensitive(j, "usage"), &r->usage);
                const cJSON *ch = cJSON_GetObjectItemCaseSensitive(j, "choices");
                /* The usage-only chunk exists because we asked for it. */
                if (r->injected_usage && !r->anthropic_out && !r->responses_out && cJSON_IsArray(ch) && cJSON_GetArraySize(ch) == 0) skip = true;
                if (!skip) { /* the client sees what the call cost */
                    compute_cost(r);
                    gr_meter_annotate_response(j, r->cost_nusd, r->usage.estimated);
                    gr_verify_cascade_annotate(r, cJSON_GetObjectItemCaseSensitive(j, "usage"));
                    char *s = cJSON_PrintUnformatted(j);
                    append_event(r, s, strlen(s));
                    cJSON_free(s);
                    skip = true;
                }
                cJSON_Delete(j);
            }
        }
    }
    r->stream_data_bytes += n;
    if (!skip) append_event(r, d, n);
    return 0;
}

/* ---- upstream callbacks ---- */

static void on_headers(void *ud, int status, const char *ctype, int retry_after_s) {
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
        start_stream_reply(r);
    } else {
        r->up_body = evbuffer_new();
    }
}

static int on_data(void *ud, const char *raw, size_t raw_len) {
    gr_request *r = ud;
    if (r->client_gone) return -1;
    if (!r->attempt_first_byte_us) r->attempt_first_byte_us = gr_now_us();
    /* Before anything reads, relays, cuts or logs an upstream byte: the
     * provider's credentials out (a key split across reads is held back). */
    const char *data;
    size_t len;
    gr_redactor_feed(&r->redact, raw, raw_len, &data, &len);
    return relay_data(r, data, len);
}

/* Redacted upstream bytes: buffered (non-streamed) or parsed and relayed. */
static int relay_data(gr_request *r, const char *data, size_t len) {
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
    flush_out(r);
    return r->failed_midstream ? -1 : 0;
}

/* The Response as answered, for the response store (only when `store`). */
static void keep_response(gr_request *r, const cJSON *resp) {
    if (!resp || cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(r->responses_body, "store"))) return;
    cJSON_Delete(r->responses_final);
    r->responses_final = cJSON_Duplicate(resp, 1);
    gr_responses_state_keep(r); /* queued before the bytes go out */
}

static void finish_stream(gr_request *r, const char *err) {
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
    if (!r->cost_nusd) compute_cost(r);
    if (r->done_seen && !r->failed_midstream && !r->native && !r->responses_native) { /* a relayed stream carries its own end */
        if (r->anthropic_out) {
            if (gr_messages_stream_finish(r->msg_stream, emit_anthropic_event, r) != GR_OK) r->error_type = "translation_error";
        } else if (r->responses_out) {
            if (gr_responses_stream_finish(r->resp_stream, emit_responses_event, r) != GR_OK) r->error_type = "translation_error";
            else keep_response(r, gr_responses_stream_response(r->resp_stream));
        }
        else evbuffer_add(r->out, "data: [DONE]\n\n", 14);
    }
    flush_out(r);
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

static void reply_upstream_error(gr_request *r) {
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

static gr_responses_call responses_call(gr_request *r) {
    return (gr_responses_call){.request = r->responses_body, .id = r->response_id, .model = r->model_asked,
                               .created_at = r->response_created_at};
}

/* A canonical chat.completion (usage.cost set) answered as a Response. */
static void reply_response_object(gr_request *r, const cJSON *resp) {
    cJSON *out = NULL;
    gr_upstream_error e = {0};
    gr_responses_call call = responses_call(r);
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
static void reply_costed(gr_request *r, cJSON *resp) {
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
        compute_cost(r);
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
    compute_cost(r);
    char usd[48];
    gr_meter_format_usd(r->cost_nusd, usd, sizeof(usd));
    gr_request_add_header(r, "x-gaterouter-cost", usd);
    gr_meter_annotate_response(j, r->cost_nusd, r->usage.estimated);
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    gr_request_reply_json(r, 200, s, strlen(s));
    cJSON_free(s);
}

static void reply_non_stream(gr_request *r) {
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
        compute_cost(r);
        reply_costed(r, out);
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
    read_usage(cJSON_GetObjectItemCaseSensitive(j, "usage"), &r->usage);
    if (!r->usage.present) {
        r->usage.prompt_tokens = r->est_prompt_tokens;
        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "choices"), 0), "message");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(msg, "content");
        if (cJSON_IsString(content)) r->usage.completion_tokens = gr_meter_estimate_text(content->valuestring, strlen(content->valuestring));
        r->usage.estimated = true;
    }
    compute_cost(r);
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
    reply_costed(r, j);
    cJSON_Delete(j);
}

/* ---- attempts: retries and fallbacks before the first byte reaches the client ---- */

static void start_attempt(gr_request *r);
static void reply_token_estimate(gr_request *r);
static unsigned rate_limited_for(gr_request *r);

static void retry_timer_cb(evutil_socket_t fd, short what, void *arg) {
    gr_request *r = arg;
    if (r->finished || r->client_gone) return;
    start_attempt(r);
}

/* gaterouter_upstream_errors_total{provider,reason}: every failed attempt. */
static void count_upstream_error(gr_request *r, const gr_route_candidate *c, const char *err) {
    const char *reason = "http_5xx";
    if (r->failed_midstream) reason = "stream_error"; /* an error event, an oversized event */
    else if (err == gr_err_upstream_aborted) reason = r->error_type ? r->error_type : "aborted"; /* our caps */
    else if (err) reason = gr_upstream_err_is_timeout(err) ? "timeout" : "connect";
    else if (r->up_status == 429) reason = "rate_limited";
    else if (r->up_status >= 400 && r->up_status < 500) reason = "http_4xx";
    else if (r->up_status < 400) reason = "invalid_response";
    char labels[GR_METRICS_LABELS_CAP];
    gr_metrics_label(labels, gr_metrics_label(labels, 0, sizeof(labels), "provider", c->dep->provider->name),
                     sizeof(labels), "reason", reason);
    gr_metrics_add(GR_M_UPSTREAM_ERRORS, labels, 1);
}

/* Reports the attempt's outcome to the health registry and, when the route
 * rules allow (nothing sent to the client yet), schedules the next attempt.
 * Returns true when another attempt was scheduled. */
static bool settle_attempt(gr_request *r, const char *err, bool ok, int retry_after_s) {
    const gr_route_candidate *c = &r->plan->cand[r->cand];
    uint64_t now = gr_now_us();
    gr_outcome o = {.kind = GR_OUTCOME_OK, .http_status = r->up_status};
    if (err) {
        o.kind = gr_upstream_err_is_timeout(err) ? GR_OUTCOME_TIMEOUT : GR_OUTCOME_CONNECT_ERROR;
        /* cut at the gateway's own cap because of what the request asked for */
        o.request_fault = err == gr_err_upstream_aborted && r->error_type &&
                          (!strcmp(r->error_type, "stream_too_long") ||
                           !strcmp(r->error_type, "upstream_response_too_large"));
    } else if (!ok) {
        o.kind = GR_OUTCOME_HTTP;
        size_t len = r->up_body ? evbuffer_get_length(r->up_body) : 0;
        const char *b = len ? (const char *)evbuffer_pullup(r->up_body, -1) : NULL;
        o.err_class = gr_route_request_fault(r->up_status, b, len, &o.request_fault);
    }
    if (!ok) count_upstream_error(r, c, err);
    gr_trace_attempt_end(r, err, ok);
    r->upstream_wait_us += now - r->attempt_start_us;
    uint64_t ttft = r->attempt_first_byte_us ? r->attempt_first_byte_us - r->attempt_start_us : 0;
    gr_health_on_result(c->health, &o, ttft, now - r->attempt_start_us,
                        (uint64_t)(r->usage.completion_tokens > 0 ? r->usage.completion_tokens : 0),
                        retry_after_s > 0 ? (uint32_t)retry_after_s : 0, now);
    if (!ok && r->w->shared) { /* this failure opened the breaker: tell the other instances */
        gr_health_snapshot snap;
        gr_health_snapshot_get(c->health, &snap);
        if (snap.state == GR_BREAKER_OPEN && snap.open_until_us > now)
            gr_shared_hint_open(r->w->shared, gr_health_key(c->health), (snap.open_until_us - now) / 1000u);
    }
    if (ok || r->client_gone || r->reply_started) return false;
    if (err == gr_err_upstream_aborted) return false; /* our own cap, not the upstream's fault */
    uint32_t delay_ms = 0;
    gr_retry_action act = gr_route_should_retry(&o, r->attempts, r->bytes_out, &delay_ms);
    int next = gr_route_next(r->plan, r->cand, act);
    if (next < 0 || r->attempts + 1 >= GR_ROUTE_MAX_ATTEMPTS) return false;
    r->last_failure = gr_pool_printf(r->pool, "%s/%s:%s", c->dep->provider->name, c->dep->upstream_model,
                                     err ? err : gr_pool_printf(r->pool, "HTTP %d", r->up_status));
    r->cand = next;
    r->attempts++;
    if (!r->retry_ev) r->retry_ev = evtimer_new(r->w->base, retry_timer_cb, r);
    struct timeval tv = {delay_ms / 1000, (delay_ms % 1000) * 1000};
    evtimer_add(r->retry_ev, &tv);
    return true;
}

static void on_done(void *ud, const char *err, int status) {
    gr_request *r = ud;
    r->xfer = NULL;
    if (r->client_gone) return; /* the close callback finished the request */
    const char *tail;
    size_t tail_len;
    gr_redactor_finish(&r->redact, &tail, &tail_len); /* bytes held back as a possible key start */
    if (tail_len && (r->streaming || r->up_body) && relay_data(r, tail, tail_len) < 0 && !err && !r->streaming)
        err = gr_err_upstream_aborted; /* the held tail took the body over its cap */
    if (r->streaming) {
        settle_attempt(r, err, !err && !r->failed_midstream, -1);
        finish_stream(r, err);
        return;
    }
    bool ok = !err && r->up_status >= 200 && r->up_status < 300;
    if (settle_attempt(r, err, ok, r->retry_after_s)) return;
    if (err) {
        if (r->error_type && !strcmp(r->error_type, "upstream_response_too_large")) {
            gr_request_fail(r, 502, "api_error", "upstream_response_too_large", NULL,
                            "upstream response exceeded server.max_upstream_response_bytes (%llu)",
                            (unsigned long long)r->cfg->server.max_upstream_response_bytes);
            return;
        }
        bool timeout = gr_upstream_err_is_timeout(err);
        gr_request_fail(r, timeout ? 504 : 502, timeout ? "timeout_error" : "api_error",
                        timeout ? "upstream_timeout" : "upstream_unavailable", NULL, "%s (provider %s)", err,
                        r->deployment->provider->name);
        return;
    }
    if (ok) reply_non_stream(r);
    else reply_upstream_error(r);
}

/* ---- the API key's restrictions, applied by the router to every candidate ---- */

typedef struct key_access {
    gr_key_entry *key;
    bool budget; /* the key has a budget: every candidate must be priced */
} key_access;

static gr_route_refusal key_refuses(const gr_model_conf *m, gr_str auto_policy, void *arg) {
    const key_access *ka = arg;
    bool auto_granted = auto_policy.len && gr_keys_auto_allowed(ka->key, auto_policy.ptr, auto_policy.len);
    if (!auto_granted && !gr_keys_model_allowed(ka->key, m->name, (const char *const *)m->aliases, m->naliases))
        return GR_ROUTE_NOT_ALLOWED;
    for (size_t i = 0; ka->budget && i < m->ndeployments; i++) { /* never served free under a budget */
        const gr_deployment *d = &m->deployments[i];
        gr_prices pr;
        gr_meter_deployment_prices(d, m, &pr);
        if (!pr.set) return GR_ROUTE_NOT_PRICED;
    }
    return GR_ROUTE_ALLOWED;
}

/* ---- entry ---- */

void gr_proxy_handle(gr_request *r) {
    if (gr_pipeline_run(r, GR_PHASE_PARSE, GR_PHASE_COUNT)) /* every phase declined: nobody answered */
        gr_request_fail(r, 500, "api_error", "pipeline_incomplete", NULL, "No handler answered the request.");
}

/* ---- PARSE: the body ---- */

/* A translated request (/v1/messages, /v1/responses) becomes the one the
 * chat pipeline serves: r->body is the canonical tree, *body / *len its text. */
static void serve_canonical(gr_request *r, cJSON *canon, const char **body, size_t *len) {
    r->body = canon;
    char *text = cJSON_PrintUnformatted(canon);
    *body = gr_pool_strdup(r->pool, text);
    *len = strlen(*body);
    cJSON_free(text);
    r->ep = GR_EP_CHAT;
}

static gr_phase_rc phase_parse(gr_request *r) {
    size_t len = 0;
    const char *body = gr_client_req_body(r->req, &len);
    if (len == 0) {
        gr_request_fail(r, 400, "invalid_request_error", "missing_body", NULL,
                        "The request body is empty: send a JSON object.");
        return GR_PHASE_STOP;
    }
    if (len > r->cfg->server.max_body_bytes) {
        gr_request_fail(r, 413, "invalid_request_error", "request_too_large", NULL,
                        "The request body is %zu bytes; the limit is %llu (server.max_body_bytes).", len,
                        (unsigned long long)r->cfg->server.max_body_bytes);
        return GR_PHASE_STOP;
    }
    const char *endp = NULL;
    r->body = gr_json_arena_parse(&r->json_arena, r->w->json_shard, body, len, &endp);
    if (!r->body) {
        gr_request_fail(r, 400, "invalid_request_error", "invalid_json", NULL,
                        "We could not parse the JSON body of your request near byte %zu. The body must be valid JSON.",
                        endp ? (size_t)(endp - body) : (size_t)0);
        return GR_PHASE_STOP;
    }
    if (!cJSON_IsObject(r->body)) {
        gr_request_fail(r, 400, "invalid_request_error", "invalid_json", NULL, "The request body must be a JSON object.");
        return GR_PHASE_STOP;
    }
    size_t used = endp ? (size_t)(endp - body) : len;
    while (used < len && (body[used] == ' ' || body[used] == '\t' || body[used] == '\r' || body[used] == '\n')) used++;
    if (used < len) { /* a second document or junk: which one was meant is not ours to guess */
        gr_request_fail(r, 400, "invalid_request_error", "invalid_json", NULL,
                        "Unexpected data after the JSON body at byte %zu. The body must be one JSON object.", used);
        return GR_PHASE_STOP;
    }
    if (r->ep == GR_EP_MESSAGES) { /* Anthropic in: translate once, then the chat pipeline */
        r->anthropic_out = true;
        cJSON *canon = NULL;
        gr_upstream_error e = {0};
        if (gr_messages_to_canonical(r->body, &canon, &e) != GR_OK || !canon) {
            cJSON_Delete(canon);
            gr_request_fail(r, e.status ? e.status : 400, "invalid_request_error", e.code, NULL, "%s",
                            e.message[0] ? e.message : "invalid Messages request");
            return GR_PHASE_STOP;
        }
        r->messages_body = r->body; /* relayed as is to Anthropic upstreams */
        r->messages_text = body;
        r->messages_len = len;
        serve_canonical(r, canon, &body, &len);
    } else if (r->ep == GR_EP_RESPONSES) { /* Responses in: translate, then the chat pipeline */
        r->responses_out = true;
        cJSON *canon = NULL;
        gr_upstream_error e = {0};
        if (gr_responses_to_canonical(r->body, NULL, &canon, &e) != GR_OK || !canon) {
            cJSON_Delete(canon);
            gr_request_fail(r, e.status ? e.status : 400, "invalid_request_error", NULL, e.code, "%s",
                            e.message[0] ? e.message : "invalid Responses request");
            return GR_PHASE_STOP;
        }
        r->responses_body = r->body; /* relayed as is to upstreams that speak Responses */
        r->responses_text = body;
        r->responses_len = len;
        serve_canonical(r, canon, &body, &len);
        snprintf(r->response_id, sizeof(r->response_id), "resp_%s", strncmp(r->id, "req_", 4) ? r->id : r->id + 4);
        r->response_created_at = (int64_t)(gr_wall_ms() / 1000);
    }
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(r->body, "model");
    const cJSON *models = cJSON_GetObjectItemCaseSensitive(r->body, "models");
    if ((!model || cJSON_IsNull(model)) && cJSON_IsArray(models))
        model = cJSON_GetArrayItem(models, 0); /* ROUTING.md: without `model`, models[0] is primary */
    if (!cJSON_IsString(model) || !model->valuestring[0]) {
        gr_request_fail(r, 400, "invalid_request_error", "missing_model", "model",
                        "you must provide a model parameter");
        return GR_PHASE_STOP;
    }
    r->model_asked = model->valuestring;
    if (r->ep == GR_EP_CHAT) {
        const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(r->body, "messages");
        if (!cJSON_IsArray(msgs) || cJSON_GetArraySize(msgs) == 0) {
            gr_request_fail(r, 400, "invalid_request_error", "missing_messages", "messages",
                            "'messages' must be a non-empty array");
            return GR_PHASE_STOP;
        }
    } else if (r->ep == GR_EP_COMPLETIONS && !cJSON_GetObjectItemCaseSensitive(r->body, "prompt")) {
        gr_request_fail(r, 400, "invalid_request_error", "missing_prompt", "prompt", "'prompt' is required");
        return GR_PHASE_STOP;
    } else if (r->ep == GR_EP_EMBEDDINGS && !cJSON_GetObjectItemCaseSensitive(r->body, "input")) {
        gr_request_fail(r, 400, "invalid_request_error", "missing_input", "input", "'input' is required");
        return GR_PHASE_STOP;
    }
    const cJSON *stream = cJSON_GetObjectItemCaseSensitive(r->body, "stream");
    if (stream && !cJSON_IsBool(stream) && !cJSON_IsNull(stream)) {
        gr_request_fail(r, 400, "invalid_request_error", "invalid_type", "stream", "'stream' must be a boolean");
        return GR_PHASE_STOP;
    }
    r->stream = cJSON_IsTrue(stream) && r->ep != GR_EP_EMBEDDINGS;
    const char *bad_count = NULL;
    r->outputs = r->ep == GR_EP_EMBEDDINGS ? 1 : gr_meter_request_outputs(r->body, r->ep == GR_EP_COMPLETIONS, &bad_count);
    if (!r->outputs) {
        gr_request_fail(r, 400, "invalid_request_error", "invalid_value", bad_count, "'%s' must be an integer >= 1",
                        bad_count);
        return GR_PHASE_STOP;
    }
    const cJSON *so = cJSON_GetObjectItemCaseSensitive(r->body, "stream_options");
    r->include_usage_asked = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(so, "include_usage"));
    if (r->anthropic_out && r->stream) r->msg_stream = gr_messages_stream_new(r->model_asked);
    if (r->responses_out && r->stream) {
        gr_responses_call call = responses_call(r);
        r->resp_stream = gr_responses_stream_new(&call);
    }
    r->body_text = body;
    r->body_len = len;
    return GR_PHASE_NEXT;
}

/* ---- ROUTE: an ordered candidate list with the reason for each ---- */

static gr_phase_rc phase_route(gr_request *r) {
    size_t len = r->body_len;
    gr_route_request rq;
    char rerr[256];
    if (gr_route_request_from_json(r->body, &rq, rerr, sizeof(rerr)) != GR_OK) {
        gr_request_fail(r, 400, "invalid_request_error", "invalid_routing", NULL, "%s", rerr);
        return GR_PHASE_STOP;
    }
    rq.need_caps |= r->ep == GR_EP_EMBEDDINGS ? GR_CAP_EMBEDDINGS : r->ep == GR_EP_COMPLETIONS ? GR_CAP_COMPLETIONS : GR_CAP_CHAT;
    rq.quality = gr_route_parse_quality(gr_client_req_header(r->req, "x-gaterouter-quality"));
    key_access ka = {.key = r->key};
    const gr_route_access access = {key_refuses, &ka};
    if (r->key) { /* the key's models list and budget apply to every candidate */
        gr_key_limits lim;
        gr_keys_limits(r->key, &lim);
        ka.budget = lim.budget_total_nusd >= 0 || lim.budget_daily_nusd >= 0 || lim.budget_monthly_nusd >= 0;
        if (ka.budget || gr_keys_restricted(r->key)) rq.access = &access;
    }
    rq.value_usd = gr_route_auto_parse_value_usd(gr_client_req_header(r->req, "x-gaterouter-value-usd"));
    if (r->key) rq.default_value_usd = gr_keys_auto_value_usd(r->key);
    r->est_prompt_tokens = r->ep == GR_EP_CHAT ? gr_meter_estimate_request(r->body) : (int64_t)(len / 4);
    gr_messages_stream_set_input_estimate(r->msg_stream, r->est_prompt_tokens); /* message_start's input_tokens */
    if (!rq.prompt_tokens) rq.prompt_tokens = (uint32_t)(r->est_prompt_tokens > UINT32_MAX ? UINT32_MAX : r->est_prompt_tokens);
    rq.embed = r->route_embed; /* routing.auto.embeddings, from an earlier ROUTE handler */
    r->plan = gr_pool_calloc(r->pool, sizeof(*r->plan));
    (void)gr_route_plan(r->cfg, &rq, r->w->route_state, r->plan);
    char mlabels[GR_METRICS_LABELS_CAP];
    gr_metrics_label(mlabels, gr_metrics_label(mlabels, 0, sizeof(mlabels), "policy", r->plan->policy), sizeof(mlabels),
                     "model", r->plan->result == GR_ROUTE_OK ? r->plan->cand[0].model->name : gr_route_result_name(r->plan->result));
    gr_metrics_add(GR_M_ROUTE_DECISIONS, mlabels, 1);
    if (r->ep == GR_EP_ROUTE) { /* dry run */
        cJSON *j = gr_route_plan_to_json(r->plan);
        char *txt = cJSON_PrintUnformatted(j);
        cJSON_Delete(j);
        gr_request_reply_json(r, r->plan->result == GR_ROUTE_OK ? 200 : gr_route_result_http_status(r->plan->result), txt, strlen(txt));
        cJSON_free(txt);
        return GR_PHASE_STOP;
    }
    if (r->plan->result == GR_ROUTE_UNAVAILABLE && rate_limited_for(r) > 0) {
        /* Every deployment is cooling down after the provider's 429: pass the
         * rate limit on (with its wait), rather than a 503. */
        char ra[24];
        snprintf(ra, sizeof(ra), "%u", rate_limited_for(r));
        gr_request_add_header(r, "Retry-After", ra);
        gr_request_fail(r, 429, "rate_limit_error", "upstream_rate_limited", NULL,
                        "Every deployment of `%s` is rate-limited by its provider; retry after %s s.", r->model_asked, ra);
        return GR_PHASE_STOP;
    }
    if (r->plan->result == GR_ROUTE_FORBIDDEN) {
        gr_request_fail(r, 403, "permission_error",
                        r->plan->refusal == GR_ROUTE_NOT_PRICED ? "model_not_priced" : "model_not_allowed", "model", "%s",
                        r->plan->error);
        return GR_PHASE_STOP;
    }
    if (r->plan->result == GR_ROUTE_NO_CAPABLE && r->plan->ctx_limit && r->anthropic_out) {
        /* Anthropic's own wording: Claude Code reads the numbers from it and
         * retries with a max_tokens that fits */
        gr_request_fail(r, 400, "invalid_request_error", "context_length_exceeded", NULL,
                        "input length and `max_tokens` exceed context limit: %u + %u > %u, decrease input length or "
                        "`max_tokens` and try again",
                        rq.prompt_tokens, rq.max_output_tokens, r->plan->ctx_limit);
        return GR_PHASE_STOP;
    }
    if (r->plan->result != GR_ROUTE_OK) {
        int st = gr_route_result_http_status(r->plan->result);
        const char *code = r->plan->result == GR_ROUTE_NOT_FOUND ? "model_not_found"
                         : r->plan->result == GR_ROUTE_UNAVAILABLE ? "no_healthy_deployment" : "no_capable_model";
        gr_request_fail(r, st, st == 503 ? "api_error" : "invalid_request_error", code,
                        r->plan->result == GR_ROUTE_NOT_FOUND ? "model" : NULL, "%s", r->plan->error);
        return GR_PHASE_STOP;
    }
    r->route_reason = r->plan->reason;
    r->cand = 0;
    r->model = r->plan->cand[0].model;
    r->deployment = r->plan->cand[0].dep;
    gr_meter_deployment_prices(r->deployment, r->model, &r->prices);
    return GR_PHASE_NEXT;
}

/* ---- exact-match response cache (Redis, opt-in) ---- */

/* Opt-in: the model's cache_ttl_s, or the request's `x-gaterouter-cache: <ttl>`
 * (`off`/`0` opts out). Never streams, paid (x402) requests, or requests
 * offering tools unless the header asks (a tool call may have side effects). */
static void cache_decide(gr_request *r) {
    /* Responses: every answer has its own id and may be stored: never from the cache */
    if (!r->w->shared || r->stream || r->pay_x402 || !r->model || r->count_tokens || r->responses_out) return;
    const char *h = gr_client_req_header(r->req, "x-gaterouter-cache");
    uint32_t ttl = r->model->cache_ttl_s;
    bool asked = false;
    if (h) {
        char *end = NULL;
        unsigned long v = strtoul(h, &end, 10);
        if (!strcmp(h, "off") || (end && !*end && v == 0)) return;
        if (end && !*end && v <= 2592000) {
            ttl = (uint32_t)v;
            asked = true;
        }
    }
    if (!ttl) return;
    if (!asked && cJSON_GetObjectItemCaseSensitive(r->body, "tools")) return;
    /* normalised: no insignificant whitespace; /v1/messages by the client's own
     * request (its thinking, cache_control... are not in the canonical one) */
    char *norm = cJSON_PrintUnformatted(r->messages_body ? r->messages_body : r->body);
    if (!norm) return;
    /* key = SHA-256(model, output format, endpoint, normalised body) */
    const char *material = gr_pool_printf(r->pool, "%s\n%c\n%s\n%s", r->model->name, r->anthropic_out ? 'a' : 'o',
                                          endpoint_path(r->ep), norm);
    cJSON_free(norm);
    unsigned char md[32];
    unsigned int mdlen = 0;
    if (!EVP_Digest(material, strlen(material), md, &mdlen, EVP_sha256(), NULL) || mdlen != 32) return;
    for (int i = 0; i < 32; i++) snprintf(r->cache_key + 2 * i, 3, "%02x", md[i]);
    r->cache_ttl_s = ttl;
}

static void on_cache(void *ud, bool hit, const char *data, size_t len) {
    gr_request *r = ud;
    r->shared_op = NULL;
    if (r->finished || r->client_gone) return;
    cJSON *j = hit ? cJSON_ParseWithLength(data, len) : NULL;
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        gr_request_add_header(r, "x-gaterouter-cache", "miss");
        gr_metrics_add(GR_M_CACHE, "result=\"miss\"", 1);
        gr_pipeline_continue(r, GR_PHASE_NEXT);
        return;
    }
    /* A hit costs nothing upstream: usage.cost is 0 and the ledger says so. */
    r->cache_hit = true;
    gr_metrics_add(GR_M_CACHE, "result=\"hit\"", 1);
    r->route_reason = "cache hit";
    r->usage = (gr_usage){0};
    r->cost_nusd = 0;
    cJSON *u = cJSON_GetObjectItemCaseSensitive(j, "usage");
    if (cJSON_IsObject(u)) {
        cJSON_DeleteItemFromObjectCaseSensitive(u, "cost");
        cJSON_AddNumberToObject(u, "cost", 0);
    }
    char *out = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    gr_request_add_header(r, "x-gaterouter-cache", "hit");
    gr_request_add_header(r, "x-gaterouter-cost", "0");
    gr_request_reply_json(r, 200, out, strlen(out));
    cJSON_free(out);
}

/* CACHE: everything admitted; answer from the cache when allowed. */
static gr_phase_rc phase_cache(gr_request *r) {
    cache_decide(r);
    if (!r->cache_key[0]) return GR_PHASE_NEXT;
    r->shared_op = gr_shared_cache_get(r->w->shared, r->cache_key, on_cache, r);
    return GR_PHASE_STOP; /* continues in on_cache */
}

/* UPSTREAM: the first attempt; the relay and finish follow from its callbacks. */
static gr_phase_rc phase_upstream(gr_request *r) {
    start_attempt(r);
    return GR_PHASE_STOP;
}

/* Seconds until the first deployment of the asked model leaves its 429
 * cooldown, or 0 when unavailability is not (only) rate limiting. */
static unsigned rate_limited_for(gr_request *r) {
    const gr_model_conf *m = gr_config_find_model(r->cfg, r->model_asked, strlen(r->model_asked));
    if (!m) return 0;
    uint64_t now = gr_now_us(), best = UINT64_MAX;
    for (size_t i = 0; i < m->ndeployments; i++) {
        gr_health_snapshot snap;
        gr_health_snapshot_get(gr_health_get2(m->deployments[i].provider->name, m->deployments[i].upstream_model), &snap);
        if (snap.state != GR_BREAKER_CLOSED || snap.cooldown_until_us <= now) return 0;
        if (snap.cooldown_until_us - now < best) best = snap.cooldown_until_us - now;
    }
    return best == UINT64_MAX ? 0 : (unsigned)((best + 999999u) / 1000000u);
}

/* POST /v1/messages/count_tokens for a model whose provider does not speak
 * Anthropic: the gateway's own estimate, marked as one. */
static void reply_token_estimate(gr_request *r) {
    char buf[64];
    int n = snprintf(buf, sizeof(buf), "{\"input_tokens\":%lld}", (long long)r->est_prompt_tokens);
    gr_request_add_header(r, "x-gaterouter-token-count", "estimated");
    gr_request_reply_json(r, 200, buf, (size_t)n);
}

static void token_timer_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    gr_request *r = arg;
    if (!r->finished && !r->client_gone) start_attempt(r);
}

#define TOKEN_POLL_MS 10

/* Vertex: the provider's access token into r->actx.bearer_token. The token
 * cache refreshes ahead of expiry, so this is normally immediate; with no
 * valid token yet the attempt is retried from a timer until one arrives, the
 * token endpoint fails (502 with its error) or token_timeout_ms passes (504).
 * False when the attempt does not go on now. */
static bool attempt_token(gr_request *r, const gr_provider_conf *prov) {
    if (prov->kind != GR_PROVIDER_VERTEX) return true;
    gr_vertex_token_src src = {.sa = prov->gcp_sa, .token_url = prov->token_url, .timeout_ms = prov->token_timeout_ms,
                               .refresh_before_ms = prov->token_refresh_before_ms};
    char *token = NULL, err[320] = "";
    gr_status st = gr_vertex_token_get(&src, &token, err, sizeof err);
    if (st == GR_OK) {
        r->actx.bearer_token = gr_pool_strdup(r->pool, token);
        free(token);
        r->token_deadline_us = 0;
        return true;
    }
    uint64_t now = gr_now_us();
    if (!r->token_deadline_us) r->token_deadline_us = now + (uint64_t)prov->token_timeout_ms * 1000u;
    if (st == GR_AGAIN && now < r->token_deadline_us) {
        if (!r->token_ev) r->token_ev = evtimer_new(r->w->base, token_timer_cb, r);
        struct timeval tv = {0, TOKEN_POLL_MS * 1000};
        evtimer_add(r->token_ev, &tv);
        return false;
    }
    r->token_deadline_us = 0;
    if (st == GR_AGAIN)
        gr_request_fail(r, 504, "timeout_error", "upstream_auth_timeout", NULL,
                        "provider %s: no Vertex AI access token within token_timeout_ms (%u ms)", prov->name,
                        prov->token_timeout_ms);
    else
        gr_request_fail(r, 502, "api_error", "upstream_auth_failed", NULL,
                        "provider %s: no Vertex AI access token: %s", prov->name, err);
    return false;
}

/* One upstream attempt on plan->cand[r->cand]. Per-attempt state is reset;
 * what the client sees is decided only once an attempt succeeds or the plan
 * is exhausted. */
static void start_attempt(gr_request *r) {
    const gr_route_candidate *c = &r->plan->cand[r->cand];
    r->model = c->model;
    r->deployment = c->dep;
    gr_meter_deployment_prices(r->deployment, r->model, &r->prices);
    const gr_provider_conf *prov = r->deployment->provider;
    r->ops = gr_provider_ops_for(prov->kind);
    r->native = r->messages_body && (prov->kind == GR_PROVIDER_ANTHROPIC || /* Anthropic in, Anthropic up */
                                     (!r->count_tokens &&
                                      (gr_messages_native_is_vertex_claude(prov, r->deployment->upstream_model) ||
                                       gr_messages_bedrock_is_claude(prov, r->deployment->upstream_model))));
    /* Responses in, Responses up: only requests the gateway keeps no state for */
    r->responses_native = r->responses_out && prov->responses_api &&
                          cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(r->responses_body, "store")) &&
                          !cJSON_GetObjectItemCaseSensitive(r->responses_body, "previous_response_id");
    if (r->native || r->responses_native) r->ops = NULL;
    if (r->count_tokens && !r->native) {
        reply_token_estimate(r);
        return;
    }
    if (r->ops && r->ep != GR_EP_CHAT && !(r->ep == GR_EP_EMBEDDINGS && r->ops->build_embeddings_request)) {
        gr_request_fail(r, 400, "invalid_request_error", "unsupported_endpoint", "model",
                        "The model `%s` is served by a %s provider, which does not support this endpoint here.",
                        r->model->name, gr_provider_kind_name(prov->kind));
        return;
    }
    /* reset what a previous attempt left */
    gr_http_request_free(&r->up_req);
    if (r->up_body) {
        evbuffer_free(r->up_body);
        r->up_body = NULL;
    }
    r->up_status = 0;
    r->retry_after_s = -1;
    r->attempt_first_byte_us = 0;
    r->usage = (gr_usage){0};
    gr_redactor_dispose(&r->redact);
    gr_redactor_init(&r->redact, prov);
    r->actx = (gr_adapter_ctx){
        .provider = prov,
        .upstream_model = r->deployment->upstream_model,
        .public_model = r->model->name,
        .request_id = gr_pool_printf(r->pool, "chatcmpl-%s", r->id),
        .created = (int64_t)(gr_wall_ms() / 1000),
        .stream = r->stream,
        .include_usage = r->include_usage_asked,
        .exclude_reasoning = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(r->body, "reasoning"), "exclude")),
        .embeddings_base64 = r->ep == GR_EP_EMBEDDINGS &&
                             cJSON_IsString(cJSON_GetObjectItemCaseSensitive(r->body, "encoding_format")) &&
                             !strcmp(cJSON_GetObjectItemCaseSensitive(r->body, "encoding_format")->valuestring, "base64"),
        .reasoning_signature = r->responses_out && gr_responses_wants_encrypted_reasoning(r->responses_body),
    };
    if (!attempt_token(r, prov)) return;
    if (!build_upstream_request(r, r->body_text, r->body_len)) return;
    r->attempt_start_us = gr_now_us();
    if (!r->upstream_start_us) r->upstream_start_us = r->attempt_start_us;
    gr_health_on_start(c->health, r->attempt_start_us);
    r->xfer = gr_transfer_start(r->w->up, &r->up_req, &prov->timeouts, &k_proxy_cbs, r);
    if (!r->xfer) gr_request_fail(r, 502, "api_error", "upstream_unavailable", NULL, "could not start the upstream request");
}

/* Headers naming what served the request and why; set just before the status
 * line goes out, so they describe the attempt that answered. */
static bool add_route_headers(gr_request *r, int status, const char *body, size_t len) {
    (void)status;
    (void)body;
    (void)len;
    if (!r->deployment || !r->plan || r->client_gone) return false;
    gr_request_add_header(r, "x-gaterouter-model", r->model->name);
    gr_request_add_header(r, "x-gaterouter-upstream-model", r->deployment->upstream_model);
    gr_request_add_header(r, "x-gaterouter-provider", r->deployment->provider->name);
    if (r->cache_hit) { /* answered from the response cache: no upstream attempt */
        gr_request_add_header(r, "x-gaterouter-route", "cache hit");
        return false;
    }
    char buf[512];
    /* an accepted auto:verify answer is no fallback: its verify= token names the calls */
    gr_route_format_header(r->plan, gr_verify_cascade_accepted(r) ? -1 : (int)r->cand, r->attempts + 1, buf, sizeof(buf));
    if (r->last_failure) {
        size_t n = strlen(buf);
        snprintf(buf + n, sizeof(buf) - n, "; after %s", r->last_failure);
    }
    r->route_reason = gr_pool_strdup(r->pool, buf);
    gr_request_add_header(r, "x-gaterouter-route", r->route_reason);
    if (r->attempts) {
        char a[16];
        snprintf(a, sizeof(a), "%u", r->attempts + 1);
        gr_request_add_header(r, "x-gaterouter-attempts", a);
    }
    return false;
}

/* ---- for the auto:verify cascade (verify_cascade.c, proxy.h) ---- */

bool gr_proxy_build_call(gr_request *r, const gr_deployment *dep, const gr_model_conf *m, const cJSON *body,
                         gr_adapter_ctx *actx, const gr_provider_ops **ops, gr_http_request *h, gr_upstream_error *err) {
    const gr_provider_conf *p = dep->provider;
    *ops = gr_provider_ops_for(p->kind);
    *actx = (gr_adapter_ctx){
        .provider = p,
        .upstream_model = dep->upstream_model,
        .public_model = m->name,
        .request_id = gr_pool_printf(r->pool, "chatcmpl-%s", r->id),
        .created = (int64_t)(gr_wall_ms() / 1000),
        .stream = false,
    };
    if (*ops) {
        if ((*ops)->build_chat_request(actx, body, h, err) != GR_OK) return false;
        add_common_headers(r, p, h, false); /* the adapter added the provider's headers */
        return true;
    }
    if (p->kind == GR_PROVIDER_AZURE) {
        h->url = azure_url(r, p, dep);
        if (p->api_key) gr_http_request_add_header(h, "api-key: %s", p->api_key);
    } else {
        h->url = gr_xstrdup(gr_pool_printf(r->pool, "%s%s", p->base_url, endpoint_path(r->ep)));
        if (p->api_key) gr_http_request_add_header(h, "Authorization: Bearer %s", p->api_key);
    }
    gr_http_request_add_header(h, "Content-Type: application/json");
    add_common_headers(r, p, h, true);
    cJSON *copy = cJSON_Duplicate(body, 1);
    for (size_t i = 0; gr_route_gateway_fields[i]; i++) cJSON_DeleteItemFromObjectCaseSensitive(copy, gr_route_gateway_fields[i]);
    cJSON_DeleteItemFromObjectCaseSensitive(copy, "model");
    cJSON_AddStringToObject(copy, "model", dep->upstream_model);
    if (p->preset && gr_preset_rewrite(p->preset, copy, err) != GR_OK) { /* the service's quirks, as on the main path */
        cJSON_Delete(copy);
        return false;
    }
    char *txt = cJSON_PrintUnformatted(copy);
    cJSON_Delete(copy);
    if (!txt) abort();
    h->body = gr_xstrdup(txt);
    h->body_len = strlen(txt);
    cJSON_free(txt);
    return true;
}

gr_status gr_proxy_parse_call(gr_request *r, const gr_provider_ops *ops, gr_adapter_ctx *actx, const char *body,
                              size_t len, cJSON **out, gr_usage *usage, gr_upstream_error *err) {
    *out = NULL;
    if (ops) return ops->parse_chat_response(actx, body, len, out, usage, err);
    cJSON *j = cJSON_ParseWithLength(body, len);
    if (!cJSON_IsObject(j) || !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(j, "choices"))) {
        cJSON_Delete(j);
        snprintf(err->message, sizeof err->message, "upstream answer is not a chat completion");
        return GR_ERR_PARSE;
    }
    read_usage(cJSON_GetObjectItemCaseSensitive(j, "usage"), usage);
    if (!usage->present) {
        usage->prompt_tokens = r->est_prompt_tokens;
        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "choices"), 0), "message");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(msg, "content");
        if (cJSON_IsString(content)) usage->completion_tokens = gr_meter_estimate_text(content->valuestring, strlen(content->valuestring));
        usage->estimated = true;
    }
    *out = j;
    return GR_OK;
}

void gr_proxy_reply_response(gr_request *r, cJSON *resp) { reply_costed(r, resp); }

void gr_proxy_stream_begin(gr_request *r) {
    r->streaming = true;
    if (!r->out) r->out = evbuffer_new();
    start_stream_reply(r);
}

void gr_proxy_stream_event(gr_request *r, const char *data, size_t len) {
    append_event(r, data, len);
    flush_out(r);
}

void gr_proxy_stream_end(gr_request *r) {
    r->done_seen = true;
    finish_stream(r, NULL);
}

/* ---- registered handlers (pipeline.h) ---- */

/* A successful non-streamed answer fills the response cache when asked. */
static bool fill_cache(gr_request *r, int status, const char *body, size_t len) {
    if (body && status == 200 && r->cache_key[0] && !r->cache_hit && r->w->shared)
        gr_shared_cache_set(r->w->shared, r->cache_key, body, len, r->cache_ttl_s);
    return false;
}

/* A stream cut by the client is billed for what the upstream produced. */
static void finish_meter(gr_request *r, gr_finish_info *f) {
    (void)f;
    if (r->deployment && !r->cost_nusd && (r->usage.present || r->stream_data_bytes)) compute_cost(r);
    if (!r->cost_nusd) r->cost_nusd = gr_verify_cascade_prior_cost(r); /* billed even when the escalation failed */
}

/* A Redis call still pending for r (cluster admission, claim, cache) is
 * cancelled: its callback never comes. */
static void finish_pending(gr_request *r, gr_finish_info *f) {
    (void)f;
    if (r->shared_op) {
        gr_shared_op_cancel(r->shared_op);
        r->shared_op = NULL;
    }
}

static void finish_upstream(gr_request *r, gr_finish_info *f) {
    (void)f;
    if (r->xfer) {
        gr_transfer_cancel(r->xfer);
        r->xfer = NULL;
    }
    if (r->retry_ev) event_free(r->retry_ev);
    r->retry_ev = NULL;
    if (r->token_ev) event_free(r->token_ev);
    r->token_ev = NULL;
}

static void finish_release(gr_request *r, gr_finish_info *f) {
    (void)f;
    if (r->st && r->ops) r->ops->stream_free(r->st);
    gr_messages_stream_free(r->msg_stream);
    if (r->sse_ready) gr_frames_dispose(&r->frames);
    if (r->up_body) evbuffer_free(r->up_body);
    if (r->out) evbuffer_free(r->out);
    gr_http_request_free(&r->up_req);
    gr_redactor_dispose(&r->redact);
    cJSON_Delete(r->body);
    r->body = NULL;
    cJSON_Delete(r->messages_body);
    r->messages_body = NULL;
    gr_responses_stream_free(r->resp_stream);
    r->resp_stream = NULL;
    cJSON_Delete(r->responses_body);
    r->responses_body = NULL;
    cJSON_Delete(r->responses_final);
    r->responses_final = NULL;
}

void gr_proxy_register(void) {
    gr_pipeline_on_phase(GR_PHASE_PARSE, phase_parse);
    gr_pipeline_on_phase(GR_PHASE_ROUTE, phase_route);
    gr_pipeline_on_phase(GR_PHASE_CACHE, phase_cache);
    gr_verify_cascade_register(); /* auto:verify: its cheap calls run before phase_upstream, which escalates */
    gr_pipeline_on_phase(GR_PHASE_UPSTREAM, phase_upstream);
    gr_pipeline_on_reply(GR_REPLY_CACHE, fill_cache);
    gr_pipeline_on_reply(GR_REPLY_ROUTE, add_route_headers);
    gr_pipeline_on_finish(GR_FINISH_METER, finish_meter);
    gr_pipeline_on_finish(GR_FINISH_SETTLE, finish_pending);
    gr_pipeline_on_finish(GR_FINISH_UPSTREAM, finish_upstream);
    gr_pipeline_on_finish(GR_FINISH_RELEASE, finish_release);
}
