/* fuzz_responses_request.c — a client's body through the Responses API
 * translation (api_responses.c) without a server:
 *   cJSON parse -> gr_responses_to_canonical (alone, and with the body's own
 *   `input` as the stored history previous_response_id would bring) -> the
 *   Anthropic and Gemini adapters' build_chat_request on the canonical
 *   request -> gr_responses_input_items (what `store` keeps) ->
 *   gr_responses_from_canonical (the body read as a canonical reply) -> the
 *   stream translator fed the input as a canonical chunk, then the body's
 *   `chunks` array one by one, then finished.
 * Invariants: a successful translation renders as JSON and has `messages`; a
 * refusal is a 400 with a message; an adapter that succeeds yields a URL and
 * a JSON body; every event is JSON whose type is its event name and whose
 * sequence_number counts up from 0; finishing always succeeds. */
#include "fuzz.h"
#include "api_responses.h"
#include "provider.h"

static void adapters(const cJSON *canon) {
    static const gr_provider_kind kinds[2] = {GR_PROVIDER_ANTHROPIC, GR_PROVIDER_GEMINI};
    bool stream = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(canon, "stream"));
    for (int k = 0; k < 2; k++) {
        gr_provider_conf pc = {.name = "fuzz", .kind = kinds[k], .base_url = "https://upstream.invalid/v1",
                               .api_key = "fuzz-key"};
        gr_adapter_ctx ctx = {.provider = &pc, .upstream_model = "up", .public_model = "pub",
                              .request_id = "chatcmpl-fuzz", .created = 1700000000, .stream = stream,
                              .include_usage = stream};
        gr_http_request hr;
        memset(&hr, 0, sizeof hr);
        gr_upstream_error err;
        memset(&err, 0, sizeof err);
        if (gr_provider_ops_for(kinds[k])->build_chat_request(&ctx, canon, &hr, &err) == GR_OK) {
            GR_FUZZ_ASSERT(hr.url && hr.body);
            cJSON *b = cJSON_ParseWithLength(hr.body, hr.body_len);
            GR_FUZZ_ASSERT(b != NULL);
            cJSON_Delete(b);
        } else {
            GR_FUZZ_ASSERT(err.status >= 400 && err.status <= 599);
        }
        gr_http_request_free(&hr);
    }
}

static void translate(const cJSON *body, const cJSON *history) {
    cJSON *canon = NULL;
    gr_upstream_error err;
    memset(&err, 0, sizeof err);
    if (gr_responses_to_canonical(body, history, &canon, &err) == GR_OK) {
        GR_FUZZ_ASSERT(canon && cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(canon, "messages")));
        char *txt = cJSON_PrintUnformatted(canon);
        GR_FUZZ_ASSERT(txt != NULL);
        cJSON_free(txt);
        adapters(canon);
    } else {
        GR_FUZZ_ASSERT(canon == NULL && err.status == 400 && err.message[0]);
    }
    cJSON_Delete(canon);
}

typedef struct seen {
    int64_t next_seq;
} seen;

static int on_event(void *ud, const char *event, const char *data, size_t len) {
    seen *s = ud;
    cJSON *j = cJSON_ParseWithLength(data, len);
    GR_FUZZ_ASSERT(j != NULL);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(j, "type");
    GR_FUZZ_ASSERT(cJSON_IsString(type) && !strcmp(type->valuestring, event));
    const cJSON *seq = cJSON_GetObjectItemCaseSensitive(j, "sequence_number");
    GR_FUZZ_ASSERT(cJSON_IsNumber(seq) && (int64_t)seq->valuedouble == s->next_seq);
    s->next_seq++;
    cJSON_Delete(j);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    cJSON *body = cJSON_ParseWithLength((const char *)data, size);
    const gr_responses_call call = {.request = body, .id = "resp_fuzz", .model = "pub", .created_at = 1700000000};
    if (cJSON_IsObject(body)) {
        translate(body, NULL);
        translate(body, cJSON_GetObjectItemCaseSensitive(body, "input"));
        cJSON *items = gr_responses_input_items(body, "msg_fuzz_in");
        if (items) {
            GR_FUZZ_ASSERT(cJSON_IsArray(items));
            translate(body, items); /* stored items are valid history */
        }
        cJSON_Delete(items);
        cJSON *resp = NULL;
        gr_upstream_error err;
        memset(&err, 0, sizeof err);
        if (gr_responses_from_canonical(body, &call, &resp, &err) == GR_OK)
            GR_FUZZ_ASSERT(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(resp, "output")));
        else
            GR_FUZZ_ASSERT(resp == NULL && err.status >= 500);
        cJSON_Delete(resp);
    }
    seen s = {0};
    gr_responses_stream *rs = gr_responses_stream_new(&call);
    gr_status rc = gr_responses_stream_chunk(rs, (const char *)data, size, on_event, &s);
    GR_FUZZ_ASSERT(rc == GR_OK || rc == GR_ERR_PARSE || rc == GR_ERR_TOO_LARGE);
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(body, "chunks")) {
        char *t = cJSON_PrintUnformatted(c);
        GR_FUZZ_ASSERT(t != NULL);
        rc = gr_responses_stream_chunk(rs, t, strlen(t), on_event, &s);
        GR_FUZZ_ASSERT(rc == GR_OK || rc == GR_ERR_PARSE || rc == GR_ERR_TOO_LARGE);
        cJSON_free(t);
    }
    GR_FUZZ_ASSERT(gr_responses_stream_finish(rs, on_event, &s) == GR_OK);
    const cJSON *final = gr_responses_stream_response(rs);
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(final, "status");
    GR_FUZZ_ASSERT(cJSON_IsString(status) && strcmp(status->valuestring, "in_progress"));
    gr_responses_stream_free(rs);
    cJSON_Delete(body);
    return 0;
}
