/* test_pool.c — the request arena: alignment, large allocations, cleanups in
 * reverse order, and reset-for-reuse keeping one chunk. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "pool.h"

static int order[8], norder;
static void record(void *arg) { order[norder++] = (int)(intptr_t)arg; }

static void test_alloc_and_cleanup(void **state) {
    gr_pool *p = gr_pool_new(256);
    for (int i = 0; i < 100; i++) {
        void *a = gr_pool_alloc(p, (size_t)(i % 37) + 1);
        assert_int_equal((uintptr_t)a % 16, 0);
        memset(a, 0xAB, (size_t)(i % 37) + 1);
    }
    char *big = gr_pool_alloc(p, 10000); /* larger than a chunk */
    memset(big, 1, 10000);
    assert_string_equal(gr_pool_printf(p, "%s-%d", "x", 42), "x-42");
    norder = 0;
    gr_pool_cleanup_add(p, record, (void *)1);
    gr_pool_cleanup_add(p, record, (void *)2);
    gr_pool_free(p);
    assert_int_equal(norder, 2);
    assert_int_equal(order[0], 2); /* reverse order of registration */
    assert_int_equal(order[1], 1);
    gr_pool_free(NULL);
}

static void test_reset(void **state) {
    gr_pool *p = gr_pool_new(512);
    for (int i = 0; i < 50; i++) gr_pool_alloc(p, 100);
    gr_pool_alloc(p, 5000);
    norder = 0;
    gr_pool_cleanup_add(p, record, (void *)7);
    assert_true(gr_pool_bytes(p) > 512);
    gr_pool_reset(p);
    assert_int_equal(norder, 1); /* cleanups ran */
    assert_int_equal(order[0], 7);
    assert_int_equal(gr_pool_bytes(p), 512); /* one chunk kept */
    char *s = gr_pool_strdup(p, "reused");
    assert_string_equal(s, "reused");
    gr_pool_reset(p);
    gr_pool_reset(p); /* idempotent */
    assert_int_equal(norder, 1);
    gr_pool_free(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_alloc_and_cleanup), cmocka_unit_test(test_reset)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
