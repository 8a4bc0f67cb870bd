/* test_errors.c — error mapping: status -> OpenAI type, upstream error bodies
 * (message and code preserved), and the gateway's own error JSON shape. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "http_reply.h"
#include "provider.h"

static void test_types(void **state) {
    static const struct { int status; const char *type; } k[] = {
        {400, "invalid_request_error"}, {401, "authentication_error"}, {403, "permission_error"},
        {404, "not_found_error"}, {413, "request_too_large"}, {429, "rate_limit_error"},
        {500, "api_error"}, {502, "api_error"}, {503, "api_error"}, {504, "timeout_error"}, {418, "invalid_request_error"},
    };
    for (size_t i = 0; i < sizeof(k) / sizeof(k[0]); i++) assert_string_equal(gr_error_type_for_status(k[i].status), k[i].type);
}

static void test_map_openai(void **state) {
    gr_upstream_error e;
    const char *b = "{\"error\":{\"message\":\"Rate limit reached for gpt-4o\",\"type\":\"requests\",\"code\":\"rate_limit_exceeded\"}}";
    gr_map_openai_error(429, b, strlen(b), &e);
    assert_int_equal(e.status, 429);
    assert_string_equal(e.type, "rate_limit_error");
    assert_string_equal(e.code, "rate_limit_exceeded");
    assert_string_equal(e.message, "Rate limit reached for gpt-4o");
    gr_map_openai_error(500, "{\"error\":\"boom\"}", 16, &e);
    assert_string_equal(e.message, "boom");
    assert_null(e.code);
    gr_map_openai_error(502, "<html>bad gateway</html>", 24, &e);
    assert_string_equal(e.message, "upstream returned HTTP 502: <html>bad gateway</html>");
    gr_map_openai_error(503, NULL, 0, &e);
    assert_string_equal(e.message, "upstream returned HTTP 503");
}

static void test_error_json(void **state) {
    char *s = gr_error_json("quote \" and \n newline", "invalid_request_error", "model", NULL);
    assert_string_equal(s, "{\"error\":{\"message\":\"quote \\\" and \\n newline\",\"type\":\"invalid_request_error\",\"param\":\"model\",\"code\":null}}");
    free(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_types), cmocka_unit_test(test_map_openai),
                                       cmocka_unit_test(test_error_json)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
