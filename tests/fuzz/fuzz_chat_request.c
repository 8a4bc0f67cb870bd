/* fuzz_chat_request.c — a client's request body through everything the
 * gateway does to it without a server:
 *   cJSON parse (the handler's JSON check) -> gr_meter_estimate_request and
 *   gr_meter_request_max_output (admission) -> gr_messages_to_canonical (the
 *   body read as an inbound Anthropic /v1/messages request) -> the Anthropic
 *   and Gemini adapters' build_chat_request (canonical -> native), for the
 *   body itself and for its canonical translation -> gr_messages_from_canonical
 *   and the Anthropic stream re-encoder (the body read as a canonical reply /
 *   chunk).
 * Invariants: estimates are >= 0; a successful translation renders as JSON;
 * an adapter that succeeds yields a URL and a body that parses as JSON; an
 * adapter that fails gives a 4xx/5xx status and a message. */
#include "fuzz.h"
#include "api_messages.h"
#include "meter.h"
#include "provider.h"

static void adapters(const cJSON *canon, bool stream) {
    static const gr_provider_kind kinds[2] = {GR_PROVIDER_ANTHROPIC, GR_PROVIDER_GEMINI};
    for (int k = 0; k < 2; k++) {
        gr_provider_conf pc = {
            .name = "fuzz",
            .kind = kinds[k],
            .base_url = "https://upstream.invalid/v1",
            .api_key = "fuzz-key",
        };
        gr_adapter_ctx ctx = {
            .provider = &pc,
            .upstream_model = "upstream-model",
            .public_model = "public-model",
            .request_id = "chatcmpl-fuzz",
            .created = 1700000000,
            .stream = stream,
            .include_usage = stream,
        };
        const gr_provider_ops *ops = gr_provider_ops_for(kinds[k]);
        GR_FUZZ_ASSERT(ops && ops->build_chat_request);
        gr_http_request hr;
        memset(&hr, 0, sizeof hr);
        gr_upstream_error err;
        memset(&err, 0, sizeof err);
        gr_status rc = ops->build_chat_request(&ctx, canon, &hr, &err);
        if (rc == GR_OK) {
            GR_FUZZ_ASSERT(hr.url && hr.body);
            cJSON *b = cJSON_ParseWithLength(hr.body, hr.body_len);
            GR_FUZZ_ASSERT(b != NULL);
            cJSON_Delete(b);
        } else {
            GR_FUZZ_ASSERT(err.status >= 400 && err.status <= 599);
            GR_FUZZ_ASSERT(memchr(err.message, '\0', sizeof err.message) != NULL);
        }
        gr_http_request_free(&hr);
    }
}

static int emit_msg(void *ud, const char *event, const char *data, size_t len) {
    (void)ud;
    GR_FUZZ_ASSERT(event != NULL);
    cJSON *j = cJSON_ParseWithLength(data, len);
    GR_FUZZ_ASSERT(j != NULL);
    cJSON_Delete(j);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    cJSON *body = cJSON_ParseWithLength((const char *)data, size);
    if (!body) return 0; /* the handler answers 400 invalid_json */
    if (cJSON_IsObject(body)) {
        bool stream = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(body, "stream"));
        GR_FUZZ_ASSERT(gr_meter_estimate_request(body) >= 0);
        GR_FUZZ_ASSERT(gr_meter_request_max_output(body, 0) >= 0);
        GR_FUZZ_ASSERT(gr_meter_request_max_output(body, 8192) >= 0);
        adapters(body, stream);

        cJSON *canon = NULL;
        gr_upstream_error err;
        memset(&err, 0, sizeof err);
        if (gr_messages_to_canonical(body, &canon, &err) == GR_OK) {
            GR_FUZZ_ASSERT(canon != NULL);
            char *txt = cJSON_PrintUnformatted(canon);
            GR_FUZZ_ASSERT(txt != NULL);
            free(txt);
            GR_FUZZ_ASSERT(gr_meter_estimate_request(canon) >= 0);
            adapters(canon, stream);
            cJSON_Delete(canon);
        } else {
            GR_FUZZ_ASSERT(err.status >= 400);
            cJSON_Delete(canon);
        }

        cJSON *msg = NULL;
        memset(&err, 0, sizeof err);
        if (gr_messages_from_canonical(body, NULL, &msg, &err) == GR_OK) GR_FUZZ_ASSERT(msg);
        cJSON_Delete(msg);
    }
    /* the body as one canonical stream chunk re-encoded as Anthropic SSE */
    gr_messages_stream *ms = gr_messages_stream_new("public-model");
    gr_status rc = gr_messages_stream_chunk(ms, (const char *)data, size, emit_msg, NULL);
    if (body) rc = gr_messages_stream_chunk_json(ms, body, emit_msg, NULL);
    rc = gr_messages_stream_finish(ms, emit_msg, NULL);
    GR_FUZZ_ASSERT(rc == GR_OK || rc == GR_ERR_PARSE || rc == GR_ERR_IO || rc == GR_ERR_INVALID);
    gr_usage u;
    gr_messages_stream_usage(ms, &u);
    gr_messages_stream_free(ms);
    cJSON_Delete(body);
    return 0;
}
