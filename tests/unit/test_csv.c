/* test_csv.c — CSV cells for the console's exports (src/csv.c): quoting,
 * doubled quotes, formula-like text neutralised, numbers written plain. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "csv.h"

static char *row(const char *const *cells, size_t n) {
    gr_csv c = {0};
    for (size_t i = 0; i < n; i++) gr_csv_text(&c, cells[i]);
    gr_csv_end_row(&c);
    size_t len;
    return gr_csv_take(&c, &len);
}

static void plain_and_quoted(void **st) {
    (void)st;
    const char *cells[] = {"gpt-4o", "a,b", "say \"hi\"", "two\nlines", "", NULL, " pad"};
    char *s = row(cells, 7);
    assert_string_equal(s, "gpt-4o,\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",,,\" pad\"\r\n");
    free(s);
}

static void formulas_neutralised(void **st) {
    (void)st;
    const char *cells[] = {"=1+2", "+cmd", "-2+3", "@SUM(A1)", "\tx", "\rx", "=HYPERLINK(\"http://e\")", "a=b"};
    char *s = row(cells, 8);
    assert_string_equal(s, "\"'=1+2\",\"'+cmd\",\"'-2+3\",\"'@SUM(A1)\",\"'\tx\",\"'\rx\",\"'=HYPERLINK(\"\"http://e\"\")\",a=b\r\n");
    free(s);
}

static void numbers_plain(void **st) {
    (void)st;
    gr_csv c = {0};
    gr_csv_num(&c, -5);
    gr_csv_num(&c, 9223372036854775807LL);
    gr_csv_raw(&c, "0.00012");
    gr_csv_end_row(&c);
    gr_csv_text(&c, "x");
    gr_csv_end_row(&c);
    size_t len;
    char *s = gr_csv_take(&c, &len);
    assert_string_equal(s, "-5,9223372036854775807,0.00012\r\nx\r\n");
    assert_int_equal(len, strlen(s));
    free(s);
    s = gr_csv_take(&c, &len); /* empty again */
    assert_string_equal(s, "");
    assert_int_equal(len, 0);
    free(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(plain_and_quoted),
        cmocka_unit_test(formulas_neutralised),
        cmocka_unit_test(numbers_plain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
