/* test_mock_native.c — the mock upstream's native encoders, checked by round
 * trip: canonical -> native bytes (mock_native) -> canonical (the adapters)
 * must give back what went in, for both providers, whole and streamed. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mock_native.h"
#include "provider_native.h"

static const char *COMPLETION =
    "{\"id\":\"chatcmpl-rt\",\"object\":\"chat.completion\",\"created\":1700000000,\"model\":\"m\","
    "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Sure.\","
    "\"reasoning_content\":\"why\",\"tool_calls\":[{\"id\":\"call_0\",\"type\":\"function\","
    "\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"a\\\":1}\"}}]},\"logprobs\":null,"
    "\"finish_reason\":\"tool_calls\"}],\"usage\":{\"prompt_tokens\":30,\"completion_tokens\":9,"
    "\"total_tokens\":39,\"prompt_tokens_details\":{\"cached_tokens\":10},"
    "\"completion_tokens_details\":{\"reasoning_tokens\":0}}}";

static const char *CHUNKS =
    "[{\"id\":\"chatcmpl-rt\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,"
    "\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
    "\"finish_reason\":null}]},"
    "{\"id\":\"chatcmpl-rt\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,"
    "\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"},\"finish_reason\":null}]},"
    "{\"id\":\"chatcmpl-rt\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,"
    "\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"},\"finish_reason\":null}]},"
    "{\"id\":\"chatcmpl-rt\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,"
    "\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_0\","
    "\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"a\\\":\"}}]},\"finish_reason\":null}]},"
    "{\"id\":\"chatcmpl-rt\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,"
    "\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,"
    "\"function\":{\"arguments\":\"1}\"}}]},\"finish_reason\":null}]},"
    "{\"id\":\"chatcmpl-rt\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,"
    "\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]},"
    "{\"id\":\"chatcmpl-rt\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,"
    "\"model\":\"m\",\"choices\":[],\"usage\":{\"prompt_tokens\":30,\"completion_tokens\":9,"
    "\"total_tokens\":39,\"prompt_tokens_details\":{\"cached_tokens\":10},"
    "\"completion_tokens_details\":{\"reasoning_tokens\":0}}}]";

static gr_adapter_ctx ctx_for(bool stream) {
    gr_adapter_ctx c = {.upstream_model = "m", .public_model = "m", .request_id = "chatcmpl-rt",
                        .created = 1700000000, .stream = stream, .include_usage = true};
    return c;
}

static void roundtrip_response(gr_provider_kind kind) {
    cJSON *in = cJSON_Parse(COMPLETION);
    size_t len = 0;
    char *native = gr_mock_native_response(kind, in, &len);
    assert_non_null(native);
    const gr_provider_ops *ops = gr_provider_ops_for(kind);
    gr_adapter_ctx ctx = ctx_for(false);
    cJSON *out = NULL;
    gr_usage u;
    gr_upstream_error err;
    assert_int_equal(ops->parse_chat_response(&ctx, native, len, &out, &u, &err), GR_OK);
    if (kind == GR_PROVIDER_GEMINI) { /* Gemini's calls carry no id: the adapter makes one unique to the reply */
        cJSON *tc = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetArrayItem(
                                           cJSON_GetObjectItem(in, "choices"), 0), "message"), "tool_calls"), 0);
        cJSON_ReplaceItemInObject(tc, "id", cJSON_CreateString("call_chatcmpl-rt_0"));
    }
    if (!cJSON_Compare(in, out, 1)) {
        char *a = cJSON_Print(in), *b = cJSON_Print(out);
        print_error("native: %s\nwant %s\ngot %s\n", native, a, b);
        free(a);
        free(b);
        fail();
    }
    assert_int_equal(u.prompt_tokens, 30);
    assert_int_equal(u.cached_tokens, 10);
    free(native);
    cJSON_Delete(in);
    cJSON_Delete(out);
}

static void test_response_anthropic(void **s) { (void)s; roundtrip_response(GR_PROVIDER_ANTHROPIC); }
static void test_response_gemini(void **s) { (void)s; roundtrip_response(GR_PROVIDER_GEMINI); }

typedef struct acc {
    char content[256];
    char args[256];
    char finish[32];
    char tool_id[32];
    int usage_chunks;
} acc;

static int collect(void *ud, const char *data, size_t len) {
    acc *a = ud;
    cJSON *c = cJSON_ParseWithLength(data, len);
    assert_non_null(c);
    if (cJSON_GetObjectItem(c, "usage")) a->usage_chunks++;
    cJSON *ch = cJSON_GetArrayItem(cJSON_GetObjectItem(c, "choices"), 0);
    cJSON *d = cJSON_GetObjectItem(ch, "delta");
    const char *t = cJSON_GetStringValue(cJSON_GetObjectItem(d, "content"));
    if (t) strncat(a->content, t, sizeof(a->content) - strlen(a->content) - 1);
    cJSON *tc = cJSON_GetArrayItem(cJSON_GetObjectItem(d, "tool_calls"), 0);
    const char *id = cJSON_GetStringValue(cJSON_GetObjectItem(tc, "id"));
    if (id) snprintf(a->tool_id, sizeof(a->tool_id), "%s", id);
    const char *ar = cJSON_GetStringValue(
        cJSON_GetObjectItem(cJSON_GetObjectItem(tc, "function"), "arguments"));
    if (ar) strncat(a->args, ar, sizeof(a->args) - strlen(a->args) - 1);
    const char *f = cJSON_GetStringValue(cJSON_GetObjectItem(ch, "finish_reason"));
    if (f) snprintf(a->finish, sizeof(a->finish), "%s", f);
    cJSON_Delete(c);
    return 0;
}

typedef struct feed {
    const gr_provider_ops *ops;
    gr_stream_translator *st;
    acc *a;
} feed;

static int on_ev(void *ud, const gr_sse_event *ev) {
    feed *f = ud;
    gr_upstream_error err;
    return f->ops->stream_event(f->st, ev, collect, f->a, &err) == GR_OK ? 0 : 1;
}

static void roundtrip_stream(gr_provider_kind kind) {
    cJSON *chunks = cJSON_Parse(CHUNKS);
    assert_non_null(chunks);
    size_t len = 0;
    char *sse = gr_mock_native_sse(kind, chunks, &len);
    assert_non_null(sse);
    if (kind == GR_PROVIDER_GEMINI) assert_non_null(strstr(sse, "}\r\n\r\ndata: "));
    const gr_provider_ops *ops = gr_provider_ops_for(kind);
    gr_adapter_ctx ctx = ctx_for(true);
    acc a = {0};
    feed f = {ops, ops->stream_new(&ctx), &a};
    gr_sse_parser p;
    gr_sse_init(&p, 0);
    gr_status rc = gr_sse_feed(&p, sse, len, on_ev, &f);
    assert_true(rc == GR_OK || rc == GR_AGAIN);
    gr_usage u = {0};
    gr_upstream_error err;
    assert_int_equal(ops->stream_finish(f.st, collect, &a, &u, &err), GR_OK);
    ops->stream_free(f.st);
    gr_sse_dispose(&p);
    assert_string_equal(a.content, "Hello");
    assert_string_equal(a.args, "{\"a\":1}");
    assert_string_equal(a.finish, "tool_calls");
    assert_int_equal(a.usage_chunks, 1);
    assert_int_equal(u.prompt_tokens, 30);
    assert_int_equal(u.completion_tokens, 9);
    assert_int_equal(u.cached_tokens, 10);
    free(sse);
    cJSON_Delete(chunks);
}

static void test_stream_anthropic(void **s) { (void)s; roundtrip_stream(GR_PROVIDER_ANTHROPIC); }

/* Anthropic reports the input up front, in message_start (LangChain's
 * ChatAnthropic stream reads it there: frameworks.test.mjs). */
static void test_stream_anthropic_message_start_input(void **s) {
    (void)s;
    cJSON *chunks = cJSON_Parse(CHUNKS);
    assert_non_null(chunks);
    size_t len = 0;
    char *sse = gr_mock_native_sse(GR_PROVIDER_ANTHROPIC, chunks, &len);
    assert_non_null(sse);
    static const char head[] = "event: message_start\ndata: ";
    const char *start = strstr(sse, head);
    assert_non_null(start);
    start += sizeof(head) - 1;
    const char *end = strchr(start, '\n');
    assert_non_null(end);
    cJSON *ev = cJSON_ParseWithLength(start, (size_t)(end - start));
    assert_non_null(ev);
    cJSON *in = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(ev, "message"), "usage"), "input_tokens");
    assert_true(cJSON_IsNumber(in));
    assert_true(in->valuedouble > 0);
    cJSON_Delete(ev);
    free(sse);
    cJSON_Delete(chunks);
}
static void test_stream_gemini(void **s) { (void)s; roundtrip_stream(GR_PROVIDER_GEMINI); }

/* canonical request -> adapter -> native body -> mock decoder -> canonical */
static void roundtrip_request(gr_provider_kind kind) {
    const char *req =
        "{\"model\":\"m\",\"max_tokens\":100,\"temperature\":0.5,\"stop\":[\"X\"],"
        "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":"
        "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}}}}}],"
        "\"messages\":[{\"role\":\"system\",\"content\":\"S\"},{\"role\":\"user\",\"content\":\"Q\"},"
        "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_0\",\"type\":"
        "\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"a\\\":1}\"}}]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"call_0\",\"content\":\"{\\\"ok\\\":true}\"}]}";
    cJSON *in = cJSON_Parse(req);
    const gr_provider_ops *ops = gr_provider_ops_for(kind);
    gr_adapter_ctx ctx = ctx_for(false);
    gr_http_request hr;
    gr_upstream_error err;
    assert_int_equal(ops->build_chat_request(&ctx, in, &hr, &err), GR_OK);
    cJSON *native = cJSON_Parse(hr.body);
    cJSON *out = NULL;
    assert_int_equal(gr_mock_native_request(kind, native, "m", false, &out, &err), GR_OK);
    cJSON *msgs = cJSON_GetObjectItem(out, "messages");
    assert_int_equal(cJSON_GetArraySize(msgs), 4);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(msgs, 0), "content")), "S");
    cJSON *tool = cJSON_GetArrayItem(msgs, 3);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(tool, "tool_call_id")), "call_0");
    cJSON *tc = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetArrayItem(msgs, 2), "tool_calls"), 0);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(tc, "id")), "call_0");
    assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetObjectItem(out, "max_tokens")), 100);
    assert_non_null(cJSON_GetObjectItem(out, "tools"));
    assert_non_null(cJSON_GetObjectItem(out, "stop"));
    cJSON_Delete(out);
    cJSON_Delete(native);
    cJSON_Delete(in);
    gr_http_request_free(&hr);
}

static void test_request_anthropic(void **s) { (void)s; roundtrip_request(GR_PROVIDER_ANTHROPIC); }
static void test_request_gemini(void **s) { (void)s; roundtrip_request(GR_PROVIDER_GEMINI); }

static void test_errors(void **s) {
    (void)s;
    gr_provider_kind kinds[] = {GR_PROVIDER_ANTHROPIC, GR_PROVIDER_GEMINI};
    int statuses[] = {400, 401, 429, 500, 503};
    int want[] = {400, 401, 429, 502, 503};
    for (size_t k = 0; k < 2; k++)
        for (size_t i = 0; i < 5; i++) {
            size_t len;
            char *b = gr_mock_native_error(kinds[k], statuses[i], "boom", &len);
            assert_non_null(b);
            gr_upstream_error err;
            gr_provider_ops_for(kinds[k])->map_error(NULL, statuses[i], b, len, &err);
            assert_int_equal(err.status, want[i]);
            assert_string_equal(err.message, "boom");
            free(b);
        }
    assert_null(gr_mock_native_response(GR_PROVIDER_OPENAI, NULL, NULL));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_response_anthropic), cmocka_unit_test(test_response_gemini),
        cmocka_unit_test(test_stream_anthropic),
        cmocka_unit_test(test_stream_anthropic_message_start_input),
        cmocka_unit_test(test_stream_gemini),
        cmocka_unit_test(test_request_anthropic),  cmocka_unit_test(test_request_gemini),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
