/* proxy_upstream_request.c — the upstream request of one attempt
 * (OpenAI-compatible fast path: the body is forwarded with only `model`
 * rewritten; native providers go through their adapter): body, URL and
 * headers; and the usage and cost read off an answer. */
#include "proxy_internal.h"
#include "verify_cascade.h"

#include "json_edit.h"
#include "messages_bedrock.h"
#include "messages_native.h"
#include "responses_native.h"
#include "meter.h"
#include "route.h"
#include "provider_native.h"
#include "trace.h"
#include "preset_quirks.h"
#include "output_cap.h"

#include <stdlib.h>

/* ---- helpers ---- */

const char *proxy_endpoint_path(gr_endpoint ep) {
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

void proxy_read_usage(const cJSON *u, gr_usage *out) {
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
void proxy_compute_cost(gr_request *r) {
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
char *proxy_azure_url(gr_request *r, const gr_provider_conf *p, const gr_deployment *dep) {
    const char *version = p->api_version ? p->api_version : "2024-10-21";
    const char *base = p->base_url;
    size_t bl = strlen(base);
    if (strstr(base, "/openai/deployments/"))
        return gr_xstrdup(gr_pool_printf(r->pool, "%s%s?api-version=%s", base, proxy_endpoint_path(r->ep), version));
    if (bl >= 10 && !strcmp(base + bl - 10, "/openai/v1"))
        return gr_xstrdup(gr_pool_printf(r->pool, "%s%s", base, proxy_endpoint_path(r->ep)));
    bool has_openai = bl >= 7 && !strcmp(base + bl - 7, "/openai");
    return gr_xstrdup(gr_pool_printf(r->pool, "%s%s/deployments/%s%s?api-version=%s", base, has_openai ? "" : "/openai",
                                     dep->upstream_model, proxy_endpoint_path(r->ep), version));
}

/* The provider's configured headers (conf_headers: false on the adapter
 * path, whose build_chat_request added them already) and the request id. */
void proxy_add_common_headers(gr_request *r, const gr_provider_conf *p, gr_http_request *h, bool conf_headers) {
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

bool proxy_build_upstream_request(gr_request *r, const char *body, size_t len) {
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
        proxy_add_common_headers(r, r->deployment->provider, h, true);
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
        proxy_add_common_headers(r, r->deployment->provider, h, true);
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
        proxy_add_common_headers(r, r->deployment->provider, h, false);
        return true;
    }
    if (p->kind == GR_PROVIDER_AZURE) {
        h->url = proxy_azure_url(r, p, r->deployment);
        if (p->api_key) gr_http_request_add_header(h, "api-key: %s", p->api_key);
    } else {
        h->url = gr_xstrdup(gr_pool_printf(r->pool, "%s%s", p->base_url, proxy_endpoint_path(r->ep)));
        if (p->api_key) gr_http_request_add_header(h, "Authorization: Bearer %s", p->api_key);
    }
    gr_http_request_add_header(h, "Content-Type: application/json");
    if (r->stream) gr_http_request_add_header(h, "Accept: text/event-stream");
    proxy_add_common_headers(r, r->deployment->provider, h, true);
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
