/* test_fuzz_findings.c — unit tests for the findings of the fuzz targets
 * (tests/fuzz/, docs/RELIABILITY.md), one per fix, so each stays fixed even
 * when the corpus replay would no longer reach it. Run under GR_SANITIZE=ON
 * the UB cases abort if they come back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "api_messages.h"
#include "config.h"
#include "config_load.h"
#include "json_edit.h"
#include "provider.h"
#include "provider_native.h"
#include "sse.h"

typedef struct {
    char out[1024];
    size_t len;
    int events;
} collect;

static int on_event(void *ud, const gr_sse_event *ev) {
    collect *c = ud;
    c->len += (size_t)snprintf(c->out + c->len, sizeof c->out - c->len, "[%.*s]", (int)ev->data.len, ev->data.ptr);
    c->events++;
    return 0;
}

static void feed(gr_sse_parser *p, const char *s, size_t n, collect *c) {
    gr_status rc = gr_sse_feed(p, s, n, on_event, c);
    assert_true(rc == GR_OK || rc == GR_AGAIN);
}

/* sse.c: a UTF-8 BOM split across pieces was kept as line bytes, so the first
 * event ("\xEF\xBB\xBFdata") was lost. */
static void test_sse_bom_split(void **st) {
    (void)st;
    static const char in[] = "\xEF\xBB\xBF" "data: bom\n\n";
    for (size_t cut = 1; cut <= 3; cut++) {
        gr_sse_parser p;
        gr_sse_init(&p, 4096);
        collect c = {0};
        feed(&p, in, cut, &c);
        feed(&p, in + cut, sizeof in - 1 - cut, &c);
        assert_string_equal(c.out, "[bom]");
        gr_sse_dispose(&p);
    }
    /* byte by byte */
    gr_sse_parser p;
    gr_sse_init(&p, 4096);
    collect c = {0};
    for (size_t i = 0; i < sizeof in - 1; i++) feed(&p, in + i, 1, &c);
    assert_string_equal(c.out, "[bom]");
    gr_sse_dispose(&p);
    /* a BOM prefix that is not a BOM stays ordinary bytes of the first line */
    gr_sse_init(&p, 4096);
    memset(&c, 0, sizeof c);
    feed(&p, "\xEF", 1, &c);
    feed(&p, "X\n\ndata: after\n\n", 16, &c);
    assert_string_equal(c.out, "[after]");
    gr_sse_dispose(&p);
}

/* sse.c: an empty piece between a CR and its LF forgot the CR, so the LF
 * ended a second (empty) line and dispatched the event early. */
static void test_sse_empty_piece_after_cr(void **st) {
    (void)st;
    gr_sse_parser p;
    gr_sse_init(&p, 4096);
    collect c = {0};
    feed(&p, "data: a\r", 8, &c);
    feed(&p, "", 0, &c);
    feed(&p, "\ndata: b\n\n", 10, &c);
    assert_int_equal(c.events, 1);
    assert_string_equal(c.out, "[a\nb]");
    gr_sse_dispose(&p);
}

/* provider.c / provider_anthropic.c / provider_gemini.c: usage numbers out of
 * int64 range were cast from double (undefined behaviour; UBSan abort). */
static void test_usage_out_of_range(void **st) {
    (void)st;
    cJSON *u = cJSON_Parse("{\"prompt_tokens\":1e300,\"completion_tokens\":-5,"
                           "\"prompt_tokens_details\":{\"cached_tokens\":2.2e45}}");
    gr_usage g = {0};
    gr_provider_usage_from_json(u, &g);
    assert_true(g.prompt_tokens > 0 && g.prompt_tokens <= INT64_C(1000000000000000));
    assert_int_equal(g.completion_tokens, 0);
    assert_true(g.cached_tokens > 0 && g.cached_tokens <= INT64_C(1000000000000000));
    cJSON_Delete(u);

    static const char anth[] = "{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"m\","
                               "\"content\":[{\"type\":\"text\",\"text\":\"hi\"}],\"stop_reason\":\"end_turn\","
                               "\"usage\":{\"input_tokens\":1e300,\"output_tokens\":9e18}}";
    static const char gem[] = "{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"hi\"}]},"
                              "\"finishReason\":\"STOP\",\"index\":0}],"
                              "\"usageMetadata\":{\"promptTokenCount\":1e300,\"candidatesTokenCount\":9e18}}";
    const gr_provider_kind kinds[2] = {GR_PROVIDER_ANTHROPIC, GR_PROVIDER_GEMINI};
    const char *bodies[2] = {anth, gem};
    for (int k = 0; k < 2; k++) {
        gr_provider_conf pc = {.name = "p", .kind = kinds[k], .base_url = "https://x.invalid", .api_key = "k"};
        gr_adapter_ctx ctx = {.provider = &pc, .upstream_model = "m", .public_model = "m",
                              .request_id = "chatcmpl-t", .created = 1700000000};
        cJSON *out = NULL;
        gr_usage us = {0};
        gr_upstream_error err = {0};
        assert_int_equal(gr_provider_ops_for(kinds[k])->parse_chat_response(&ctx, bodies[k], strlen(bodies[k]), &out,
                                                                             &us, &err),
                         GR_OK);
        assert_true(us.prompt_tokens > 0 && us.prompt_tokens <= INT64_C(1000000000000000));
        assert_true(us.completion_tokens > 0 && us.completion_tokens <= INT64_C(1000000000000000));
        cJSON_Delete(out);
    }
}

static int emit_nothing(void *ud, const char *data, size_t len) {
    (void)ud, (void)data, (void)len;
    return 0;
}

/* provider_gemini.c: a candidate index of 1e300 was cast to int (UB). */
static void test_gemini_index_out_of_range(void **st) {
    (void)st;
    gr_provider_conf pc = {.name = "g", .kind = GR_PROVIDER_GEMINI, .base_url = "https://x.invalid", .api_key = "k"};
    gr_adapter_ctx ctx = {.provider = &pc, .upstream_model = "m", .public_model = "m", .request_id = "chatcmpl-t",
                          .created = 1700000000, .stream = true};
    const gr_provider_ops *ops = gr_provider_ops_for(GR_PROVIDER_GEMINI);
    gr_stream_translator *t = ops->stream_new(&ctx);
    static const char data[] = "{\"candidates\":[{\"index\":1e300,\"content\":{\"parts\":[{\"text\":\"x\"}]}}]}";
    gr_sse_event ev = {.data = {data, sizeof data - 1}};
    gr_upstream_error err = {0};
    assert_int_not_equal(ops->stream_event(t, &ev, emit_nothing, NULL, &err), GR_OK);
    ops->stream_free(t);
}

static int emit_msg(void *ud, const char *event, const char *data, size_t len) {
    (void)ud, (void)event, (void)data, (void)len;
    return 0;
}

/* api_messages.c: a tool_calls index of 1e300 was cast to int (UB). */
static void test_messages_tool_index_out_of_range(void **st) {
    (void)st;
    gr_messages_stream *s = gr_messages_stream_new("m");
    static const char chunk[] = "{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"m\",\"choices\":[{\"index\":0,"
                                "\"delta\":{\"tool_calls\":[{\"index\":1e300,\"id\":\"t\",\"type\":\"function\","
                                "\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]}}]}";
    assert_int_equal(gr_messages_stream_chunk(s, chunk, sizeof chunk - 1, emit_msg, NULL), GR_OK);
    assert_int_equal(gr_messages_stream_finish(s, emit_msg, NULL), GR_OK);
    gr_messages_stream_free(s);
}

/* provider.c: a non-error upstream status (302) mapped by an adapter stayed
 * 302; ARCHITECTURE.md §6 says a status outside 400-599 becomes 502. */
static void test_non_error_status_maps_to_502(void **st) {
    (void)st;
    assert_int_equal(gr_provider_upstream_status(302), 502);
    assert_int_equal(gr_provider_upstream_status(200), 502);
    assert_int_equal(gr_provider_upstream_status(429), 429);
    assert_int_equal(gr_provider_upstream_status(529), 503);
    gr_provider_conf pc = {.name = "a", .kind = GR_PROVIDER_ANTHROPIC, .base_url = "https://x.invalid", .api_key = "k"};
    gr_adapter_ctx ctx = {.provider = &pc, .upstream_model = "m", .public_model = "m", .request_id = "c"};
    static const char body[] = "{\"type\":\"error\",\"error\":{\"type\":\"authentication_error\",\"message\":\"m\"}}";
    for (int k = 0; k < 2; k++) {
        gr_upstream_error err = {0};
        gr_provider_ops_for(k ? GR_PROVIDER_GEMINI : GR_PROVIDER_ANTHROPIC)->map_error(&ctx, 302, body, sizeof body - 1, &err);
        assert_int_equal(err.status, 502);
    }
}

/* config.c: a section given as a list ("auth:\n  - x") reached strcmp with a
 * NULL member name: a segfault at start-up, on --check-config, and on a SIGHUP
 * reload of a bad file (which must keep the running config instead). */
static void test_config_section_not_a_mapping(void **st) {
    (void)st;
    static const char *const bad[] = {
        "auth:\n  - x\n", "server: [1, 2]\n", "- a\n- b\n", "log: [x]\n",
        "providers:\n  - [a, b]\n",
        "providers:\n  - { name: p, kind: openai, base_url: \"http://x\", timeouts: [1] }\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[256] = "";
        gr_config *c = gr_config_load_string(bad[i], strlen(bad[i]), "t", err, sizeof err);
        assert_null(c);
        assert_true(err[0] != '\0');
    }
    char err[256] = "";
    static const char empty_auth[] = "auth:\nproviders:\n  - { name: m, kind: mock }\n"
                                     "models:\n  - { name: x, provider: m }\n";
    gr_config *c = gr_config_load_string(empty_auth, strlen(empty_auth), "t", err, sizeof err);
    assert_non_null(c); /* an empty section still means "all defaults" */
    gr_config_release(c);
}

/* json_edit.c: cJSON skips every byte <= 0x20 as whitespace, json_edit only
 * the four JSON ones, so a body cJSON accepted ("\x01{...}") was neither
 * rewritten ("model") nor given stream_options by the fast path. */
static void test_json_edit_cjson_whitespace(void **st) {
    (void)st;
    static const char body[] = "\x01\x00{\x02\"model\"\x1f:\x01\"a\"\x03,\"n\":1\x01}";
    size_t n = sizeof body - 1, s = 0, e = 0;
    cJSON *j = cJSON_ParseWithLength(body, n);
    assert_non_null(j); /* the premise: cJSON accepts it */
    cJSON_Delete(j);
    assert_true(gr_json_find_top_level(body, n, "model", &s, &e));
    assert_memory_equal(body + s, "\"a\"", 3);
    assert_true(gr_json_find_top_level(body, n, "n", &s, &e));
    assert_memory_equal(body + s, "1", e - s);
    size_t ol = 0;
    char *o = gr_json_insert_first(body, n, "stream_options", "{}", &ol);
    assert_non_null(o);
    cJSON *k = cJSON_ParseWithLength(o, ol);
    assert_non_null(k);
    assert_string_equal(k->child->string, "stream_options");
    cJSON_Delete(k);
    free(o);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sse_bom_split),
        cmocka_unit_test(test_sse_empty_piece_after_cr),
        cmocka_unit_test(test_usage_out_of_range),
        cmocka_unit_test(test_gemini_index_out_of_range),
        cmocka_unit_test(test_messages_tool_index_out_of_range),
        cmocka_unit_test(test_non_error_status_maps_to_502),
        cmocka_unit_test(test_config_section_not_a_mapping),
        cmocka_unit_test(test_json_edit_cjson_whitespace),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
