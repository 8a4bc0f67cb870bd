/* test_error_catalogue.c — the error catalogue (error_catalogue.def): every
 * row complete, the Anthropic column equal to what /v1/messages derives from
 * the status, no code given two meanings at one status, and docs/ERRORS.md
 * embedding exactly what `gaterouter --error-catalogue` prints. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "api_messages.h"
#include "doc_block.h"
#include "error_catalogue.h"

static void test_rows_complete(void **state) {
    (void)state;
    for (int i = 0; i < GR_EC_COUNT; i++) {
        const gr_error_row *e = gr_error_catalogue_row((gr_error_code)i);
        assert_non_null(e->name);
        assert_true(e->status >= 400 && e->status <= 599);
        assert_non_null(e->type);
        assert_non_null(e->meaning);
        assert_true(strlen(e->meaning) > 0 && !strchr(e->meaning, '|') && !strchr(e->meaning, '\n'));
        /* the reply on /v1/messages names this type; the docs must say the same */
        if (strcmp(e->anthropic_type, gr_messages_error_type(e->status)))
            fail_msg("%s: anthropic_type %s, but status %d gives %s", e->name, e->anthropic_type, e->status,
                     gr_messages_error_type(e->status));
        for (int j = 0; j < i; j++) {
            const gr_error_row *o = gr_error_catalogue_row((gr_error_code)j);
            if (e->code && o->code && !strcmp(e->code, o->code) && e->status == o->status)
                fail_msg("%s and %s: one code (%s) at one status, two rows", o->name, e->name, e->code);
        }
    }
}

/* docs/ERRORS.md embeds exactly what the table prints */
static void test_docs_match_catalogue(void **state) {
    (void)state;
    assert_doc_block("docs/ERRORS.md", "<!-- error-catalogue:begin", "<!-- error-catalogue:end -->",
                     gr_error_catalogue_write_reference, "gaterouter --error-catalogue");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rows_complete),
        cmocka_unit_test(test_docs_match_catalogue),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
