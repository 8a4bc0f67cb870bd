/* test_json_edit.c — fast-path byte edits: only top-level keys match. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "json_edit.h"

static void test_find(void **state) {
    const char *j = "{ \"messages\":[{\"model\":\"inner\",\"x\":\"}\\\"model\"}], \"model\" : \"gpt-4o\" ,\"n\":2}";
    size_t s, e;
    assert_true(gr_json_find_top_level(j, strlen(j), "model", &s, &e));
    assert_int_equal(e - s, 8);
    assert_memory_equal(j + s, "\"gpt-4o\"", 8);
    assert_true(gr_json_find_top_level(j, strlen(j), "n", &s, &e));
    assert_memory_equal(j + s, "2", 1);
    assert_false(gr_json_find_top_level(j, strlen(j), "x", &s, &e));
    assert_false(gr_json_find_top_level("[1]", 3, "model", &s, &e));
}

static void test_splice_insert(void **state) {
    const char *j = "{\"model\":\"a\",\"stream\":true}";
    size_t s, e, n;
    assert_true(gr_json_find_top_level(j, strlen(j), "model", &s, &e));
    char *o = gr_json_splice(j, strlen(j), s, e, "\"bbb\"", 5, &n);
    assert_string_equal(o, "{\"model\":\"bbb\",\"stream\":true}");
    assert_int_equal(n, strlen(o));
    char *o2 = gr_json_insert_first(o, n, "stream_options", "{\"include_usage\":true}", &n);
    assert_string_equal(o2, "{\"stream_options\":{\"include_usage\":true},\"model\":\"bbb\",\"stream\":true}");
    char *o3 = gr_json_insert_first("{ }", 3, "a", "1", &n);
    assert_string_equal(o3, "{\"a\":1 }");
    free(o);
    free(o2);
    free(o3);
}

/* Removing a gateway-only member leaves valid JSON wherever it stood. */
static void test_remove(void **state) {
    (void)state;
    static const struct {
        const char *in, *key, *out;
    } cases[] = {
        {"{\"models\":[\"a\",\"b\"],\"model\":\"x\"}", "models", "{\"model\":\"x\"}"},
        {"{\"model\":\"x\", \"provider\" : {\"order\":[\"p\"]} }", "provider", "{\"model\":\"x\" }"},
        {"{\"a\":1,\"route\":\"fallback\",\"b\":{\"route\":2}}", "route", "{\"a\":1,\"b\":{\"route\":2}}"},
        {" { \"models\" : [] } ", "models", " {  } "},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = 0;
        char *o = gr_json_remove_top_level(cases[i].in, strlen(cases[i].in), cases[i].key, &n);
        assert_non_null(o);
        assert_string_equal(o, cases[i].out);
        assert_int_equal(n, strlen(o));
        free(o);
    }
    size_t n = 0;
    const char *inner = "{\"messages\":[{\"models\":1}]}";
    assert_null(gr_json_remove_top_level(inner, strlen(inner), "models", &n)); /* nested: not top level */
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_find), cmocka_unit_test(test_splice_insert),
                                       cmocka_unit_test(test_remove)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
