/* proxy_call.c — what the auto:verify cascade (verify_cascade.c) borrows
 * from the proxy (proxy.h): one non-streamed call built and parsed, and the
 * reply or stream of an answer the gateway made. */
#include "proxy_internal.h"

#include "meter.h"
#include "route.h"
#include "preset_quirks.h"

#include <event2/buffer.h>
#include <stdlib.h>

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
        proxy_add_common_headers(r, p, h, false); /* the adapter added the provider's headers */
        return true;
    }
    if (p->kind == GR_PROVIDER_AZURE) {
        h->url = proxy_azure_url(r, p, dep);
        if (p->api_key) gr_http_request_add_header(h, "api-key: %s", p->api_key);
    } else {
        h->url = gr_xstrdup(gr_pool_printf(r->pool, "%s%s", p->base_url, proxy_endpoint_path(r->ep)));
        if (p->api_key) gr_http_request_add_header(h, "Authorization: Bearer %s", p->api_key);
    }
    gr_http_request_add_header(h, "Content-Type: application/json");
    proxy_add_common_headers(r, p, h, true);
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
    proxy_read_usage(cJSON_GetObjectItemCaseSensitive(j, "usage"), usage);
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

void gr_proxy_reply_response(gr_request *r, cJSON *resp) { proxy_reply_costed(r, resp); }

void gr_proxy_stream_begin(gr_request *r) {
    r->streaming = true;
    if (!r->out) r->out = evbuffer_new();
    proxy_start_stream_reply(r);
}

void gr_proxy_stream_event(gr_request *r, const char *data, size_t len) {
    proxy_append_event(r, data, len);
    proxy_flush_out(r);
}

void gr_proxy_stream_end(gr_request *r) {
    r->done_seen = true;
    proxy_finish_stream(r, NULL);
}
