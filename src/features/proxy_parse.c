/* proxy_parse.c — the PARSE phase of the model endpoints: the body read,
 * validated and made canonical (/v1/messages and /v1/responses become the
 * chat request the pipeline serves). */
#include "proxy_internal.h"

#include "messages_native.h"
#include "meter.h"

#include <stdio.h>

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

void proxy_fail_untranslatable(gr_request *r, const gr_upstream_error *e, const char *code, const char *param,
                               const char *fallback_msg) {
    const gr_error_row *d = gr_error_catalogue_row(GR_EC_UNTRANSLATABLE_REQUEST);
    gr_request_fail(r, e->status ? e->status : d->status, e->type ? e->type : d->type, code, param, "%s",
                    e->message[0] ? e->message : fallback_msg);
}

gr_phase_rc proxy_phase_parse(gr_request *r) {
    size_t len = 0;
    const char *body = gr_client_req_body(r->req, &len);
    if (len == 0) {
        gr_request_fail_code(r, GR_EC_MISSING_BODY, NULL, "The request body is empty: send a JSON object.");
        return GR_PHASE_STOP;
    }
    if (len > r->cfg->server.max_body_bytes) {
        gr_request_fail_code(r, GR_EC_REQUEST_TOO_LARGE, NULL,
                             "The request body is %zu bytes; the limit is %llu (server.max_body_bytes).", len,
                             (unsigned long long)r->cfg->server.max_body_bytes);
        return GR_PHASE_STOP;
    }
    const char *endp = NULL;
    r->body = gr_json_arena_parse(&r->json_arena, r->w->json_shard, body, len, &endp);
    if (!r->body) {
        gr_request_fail_code(
                r, GR_EC_INVALID_JSON, NULL,
                "We could not parse the JSON body of your request near byte %zu. The body must be valid JSON.",
                endp ? (size_t)(endp - body) : (size_t)0);
        return GR_PHASE_STOP;
    }
    if (!cJSON_IsObject(r->body)) {
        gr_request_fail_code(r, GR_EC_INVALID_JSON, NULL, "The request body must be a JSON object.");
        return GR_PHASE_STOP;
    }
    size_t used = endp ? (size_t)(endp - body) : len;
    while (used < len && (body[used] == ' ' || body[used] == '\t' || body[used] == '\r' || body[used] == '\n')) used++;
    if (used < len) { /* a second document or junk: which one was meant is not ours to guess */
        gr_request_fail_code(r, GR_EC_INVALID_JSON, NULL,
                             "Unexpected data after the JSON body at byte %zu. The body must be one JSON object.",
                             used);
        return GR_PHASE_STOP;
    }
    if (r->ep == GR_EP_MESSAGES) { /* Anthropic in: translate once, then the chat pipeline */
        r->anthropic_out = true;
        cJSON *canon = NULL;
        gr_upstream_error e = {0};
        if (gr_messages_to_canonical(r->body, &canon, &e) != GR_OK || !canon) {
            cJSON_Delete(canon);
            proxy_fail_untranslatable(r, &e, NULL, e.code, "invalid Messages request");
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
            proxy_fail_untranslatable(r, &e, NULL, e.code, "invalid Responses request"); /* its code names the field */
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
        gr_request_fail_code(r, GR_EC_MISSING_MODEL, "model", "you must provide a model parameter");
        return GR_PHASE_STOP;
    }
    r->model_asked = model->valuestring;
    if (r->ep == GR_EP_CHAT) {
        const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(r->body, "messages");
        bool refs_pending = r->responses_out && gr_responses_has_stored_refs(r->responses_body); /* responses_state.c */
        if (!cJSON_IsArray(msgs) || (cJSON_GetArraySize(msgs) == 0 && !refs_pending)) {
            gr_request_fail_code(r, GR_EC_MISSING_MESSAGES, "messages", "'messages' must be a non-empty array");
            return GR_PHASE_STOP;
        }
    } else if (r->ep == GR_EP_COMPLETIONS && !cJSON_GetObjectItemCaseSensitive(r->body, "prompt")) {
        gr_request_fail_code(r, GR_EC_MISSING_PROMPT, "prompt", "'prompt' is required");
        return GR_PHASE_STOP;
    } else if (r->ep == GR_EP_EMBEDDINGS && !cJSON_GetObjectItemCaseSensitive(r->body, "input")) {
        gr_request_fail_code(r, GR_EC_MISSING_INPUT, "input", "'input' is required");
        return GR_PHASE_STOP;
    }
    const cJSON *stream = cJSON_GetObjectItemCaseSensitive(r->body, "stream");
    if (stream && !cJSON_IsBool(stream) && !cJSON_IsNull(stream)) {
        gr_request_fail_code(r, GR_EC_INVALID_TYPE, "stream", "'stream' must be a boolean");
        return GR_PHASE_STOP;
    }
    r->stream = cJSON_IsTrue(stream) && r->ep != GR_EP_EMBEDDINGS;
    const char *bad_count = NULL;
    r->outputs = r->ep == GR_EP_EMBEDDINGS ? 1 : gr_meter_request_outputs(r->body, r->ep == GR_EP_COMPLETIONS, &bad_count);
    if (!r->outputs) {
        gr_request_fail_code(r, GR_EC_INVALID_VALUE, bad_count, "'%s' must be an integer >= 1", bad_count);
        return GR_PHASE_STOP;
    }
    const cJSON *so = cJSON_GetObjectItemCaseSensitive(r->body, "stream_options");
    r->include_usage_asked = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(so, "include_usage"));
    if (r->anthropic_out && r->stream) r->msg_stream = gr_messages_stream_new(r->model_asked);
    if (r->responses_out && r->stream) {
        gr_responses_call call = proxy_responses_call(r);
        r->resp_stream = gr_responses_stream_new(&call);
    }
    r->body_text = body;
    r->body_len = len;
    return GR_PHASE_NEXT;
}
