/* test_redact.c — the provider-credential redactor: every split point of a
 * stream, truncated secrets, several secrets, strings cut before redaction. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "redact.h"

static const char k_key[] = "sk-live-0123456789abcdefghijklmnopqrstuv"; /* 40 bytes */

static gr_provider_conf provider(gr_header_kv *h, size_t nh) {
    gr_provider_conf p = {0};
    p.api_key = (char *)k_key;
    p.headers = h;
    p.nheaders = nh;
    return p;
}

/* Feeds in[0..n) in pieces cut at a and b, then finishes; returns the output (malloc'd). */
static char *run(gr_redactor *rd, const char *in, size_t n, size_t a, size_t b) {
    size_t cuts[4] = {0, a, b, n};
    char *res = calloc(1, 4 * n + 64);
    size_t rl = 0;
    for (int i = 0; i < 3; i++) {
        const char *o;
        size_t ol;
        gr_redactor_feed(rd, in + cuts[i], cuts[i + 1] - cuts[i], &o, &ol);
        memcpy(res + rl, o, ol);
        rl += ol;
    }
    const char *o;
    size_t ol;
    gr_redactor_finish(rd, &o, &ol);
    memcpy(res + rl, o, ol);
    rl += ol;
    res[rl] = '\0';
    return res;
}

/* redact-1.1: the key anywhere in a stream, cut at every pair of points */
static void test_every_split(void **state) {
    (void)state;
    char in[256];
    int n = snprintf(in, sizeof in, "data: {\"error\":{\"message\":\"bad key %s\",\"code\":\"%s\"}}\n\n", k_key, k_key);
    gr_provider_conf p = provider(NULL, 0);
    for (int a = 0; a <= n; a++)
        for (int b = a; b <= n; b += 3) {
            gr_redactor rd;
            gr_redactor_init(&rd, &p);
            char *out = run(&rd, in, (size_t)n, (size_t)a, (size_t)b);
            assert_null(strstr(out, "sk-live-0123"));
            assert_string_equal(out, "data: {\"error\":{\"message\":\"bad key [redacted]\",\"code\":\"[redacted]\"}}\n\n");
            free(out);
            gr_redactor_dispose(&rd);
        }
}

/* redact-1.2: nothing to redact: the piece itself is passed on, no copy */
static void test_passthrough(void **state) {
    (void)state;
    gr_provider_conf p = provider(NULL, 0);
    gr_redactor rd;
    gr_redactor_init(&rd, &p);
    static const char ev[] = "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n";
    const char *o;
    size_t ol;
    gr_redactor_feed(&rd, ev, sizeof ev - 1, &o, &ol);
    assert_ptr_equal(o, ev);
    assert_int_equal(ol, sizeof ev - 1);
    /* a piece ending with what may start the key holds those bytes back */
    gr_redactor_feed(&rd, "abc sk-li", 9, &o, &ol);
    assert_int_equal(ol, 4);
    gr_redactor_feed(&rd, "ke", 2, &o, &ol);
    assert_int_equal(ol, 7);
    assert_memory_equal(o, "sk-like", 7);
    gr_redactor_dispose(&rd);
}

/* redact-1.3: a truncated key (its first 16+ bytes) is removed too, also at the end of a string */
static void test_truncated(void **state) {
    (void)state;
    gr_provider_conf p = provider(NULL, 0);
    gr_redactor rd;
    gr_redactor_init(&rd, &p);
    char s[128];
    snprintf(s, sizeof s, "got %.20s... and %.39s", k_key, k_key);
    gr_redact_str(&rd, s, sizeof s);
    assert_string_equal(s, "got [redacted]... and [redacted]");
    snprintf(s, sizeof s, "short %.15s", k_key); /* under the anchor: not a secret's worth */
    gr_redact_str(&rd, s, sizeof s);
    assert_string_equal(s, "short sk-live-0123456");
    gr_redactor_dispose(&rd);
}

/* redact-1.4: credential headers (and a bearer's token alone) are secrets, others are not */
static void test_headers(void **state) {
    (void)state;
    gr_header_kv h[] = {{"Authorization", "Bearer tok-ABCDEFGHIJKLMNOP"},
                        {"anthropic-version", "2023-06-01"},
                        {"X-Custom-Token", "ctok-99887766"}};
    gr_provider_conf p = provider(h, 3);
    gr_redactor rd;
    gr_redactor_init(&rd, &p);
    char s[256] = "a tok-ABCDEFGHIJKLMNOP b ctok-99887766 c 2023-06-01";
    gr_redact_str(&rd, s, sizeof s);
    assert_string_equal(s, "a [redacted] b [redacted] c 2023-06-01");
    gr_redactor_dispose(&rd);
}

/* redact-1.5: a string cut at its capacity after redaction never shows the key */
static void test_cut_after(void **state) {
    (void)state;
    gr_provider_conf p = provider(NULL, 0);
    gr_redactor rd;
    gr_redactor_init(&rd, &p);
    char s[64];
    snprintf(s, sizeof s, "%.*s%s", 20, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", k_key);
    gr_redact_str(&rd, s, 25);
    assert_string_equal(s, "xxxxxxxxxxxxxxxxxxxx[red");
    gr_redactor_dispose(&rd);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_split), cmocka_unit_test(test_passthrough), cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_headers),     cmocka_unit_test(test_cut_after),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
