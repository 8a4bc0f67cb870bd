/* test_metrics.c — metric labels: escaping per the exposition format, cutting
 * without breaking an escape, a quote or a UTF-8 sequence, and the rendered
 * text for a label value full of hostile bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "metrics.h"

/* metrics-1.1: backslash, quote and newline escaped; other control bytes become '_' */
static void test_escape(void **state) {
    (void)state;
    char b[128];
    size_t o = gr_metrics_label(b, 0, sizeof b, "route", "/a\"b\\c\nd\te");
    assert_string_equal(b, "route=\"/a\\\"b\\\\c\\nd_e\"");
    gr_metrics_label(b, o, sizeof b, "model", "m");
    assert_string_equal(b, "route=\"/a\\\"b\\\\c\\nd_e\",model=\"m\"");
}

/* metrics-1.2: a value that does not fit is cut before an escape pair or a UTF-8 sequence, quote closed */
static void test_cut(void **state) {
    (void)state;
    char b[12];
    gr_metrics_label(b, 0, sizeof b, "k", "abcd\"efgh");
    assert_string_equal(b, "k=\"abcd\\\"e\""); /* 11 bytes + NUL */
    gr_metrics_label(b, 0, sizeof b, "k", "abcdef\"gh");
    assert_string_equal(b, "k=\"abcdef\"");    /* the escape pair would not fit: cut before it */
    gr_metrics_label(b, 0, sizeof b, "k", "abcde\xC3\xA9xyz");
    assert_string_equal(b, "k=\"abcde\xC3\xA9\"");
    gr_metrics_label(b, 0, sizeof b, "k", "abcdef\xC3\xA9xyz");
    assert_string_equal(b, "k=\"abcdef\""); /* é would be split: dropped whole */
    size_t o = gr_metrics_label(b, 0, sizeof b, "k", "v");
    assert_int_equal(gr_metrics_label(b, o, sizeof b, "longname", "x"), o); /* nothing fits: unchanged */
    assert_string_equal(b, "k=\"v\"");
}

/* metrics-1.3: the rendered exposition carries the escaped value on one line */
static void test_render(void **state) {
    (void)state;
    char b[GR_METRICS_LABELS_CAP];
    gr_metrics_label(b, 0, sizeof b, "event", "x\"}\n# TYPE evil counter");
    gr_metrics_add(GR_M_X402, b, 1);
    size_t len;
    char *text = gr_metrics_render(&len);
    assert_non_null(strstr(text, "gaterouter_x402_payments_total{event=\"x\\\"}\\n# TYPE evil counter\"} 1\n"));
    assert_null(strstr(text, "\n# TYPE evil"));
    free(text);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_escape), cmocka_unit_test(test_cut), cmocka_unit_test(test_render)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
