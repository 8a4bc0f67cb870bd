/* test_route_embed.c — the embeddings signal's pure parts (route_embed.c):
 * the bank file (load, refusals), the k-nearest-neighbour estimate and the
 * logit blend. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <cmocka.h>

#include "route_embed.h"

#define NEAR(a, b) assert_true(fabs((a) - (b)) < 1e-6)

static gr_model_conf g_models[2];
static gr_config g_cfg;

static void setup_cfg(void) {
    g_models[0].name = "cheap";
    g_models[1].name = "strong";
    g_cfg.models = g_models;
    g_cfg.nmodels = 2;
}

static char g_path[64];

static const char *write_bank(const char *text) {
    snprintf(g_path, sizeof g_path, "/tmp/gr_test_bank_XXXXXX");
    int fd = mkstemp(g_path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return g_path;
}

/* 3 dims; prompts along x say strong fails, along y that it succeeds; cheap
 * has an outcome only on the first */
static const char BANK[] =
    "{\"gaterouter_route_bank\":1,\"embedding_model\":\"e\",\"dims\":3,\"models\":[\"strong\",\"cheap\",\"gone\"]}\n"
    "{\"e\":[1,0,0],\"o\":[0,1,1]}\n"
    "{\"e\":[2,0.2,0],\"o\":[0,null,1]}\n"
    "{\"e\":[0,1,0],\"o\":[1,null,1]}\n"
    "{\"e\":[0,-1,0],\"o\":[1,null,0]}\n";

static void test_bank_and_neighbours(void **state) {
    (void)state;
    setup_cfg();
    gr_route_embed_bank *b = NULL;
    char err[256];
    assert_int_equal(gr_route_embed_bank_load(write_bank(BANK), &g_cfg, &b, err, sizeof err), GR_OK);
    unlink(g_path);
    assert_int_equal(b->n, 4);
    assert_int_equal(b->dims, 3);
    assert_int_equal(b->nmodels, 2);
    NEAR(b->vec[3], 2 / sqrt(4.04)); /* stored unit length */
    /* columns follow the config's order (cheap, strong), the unknown one is dropped */
    assert_true(b->outcome[0] == 1.0f && b->outcome[1] == 0.0f);
    assert_true(isnan(b->outcome[2]));
    double est[2];
    float q[3] = {1, 0.1f, 0};
    assert_true(gr_route_embed_normalize(q, 3));
    gr_route_embed_knn(b, q, 2, est); /* the two x-ish prompts */
    NEAR(est[1], 0.0);                /* strong failed on both */
    NEAR(est[0], 1.0);                /* cheap: one outcome, good */
    gr_route_embed_knn(b, q, 3, est); /* + the y prompt, far less similar */
    assert_true(est[1] > 0.0 && est[1] < 0.2);
    /* only positive similarities count: the -y prompt never does */
    float y[3] = {0, 1, 0};
    gr_route_embed_knn(b, y, 4, est);
    NEAR(est[1], (0.0 * (0.2 / sqrt(4.04)) + 1.0 * 1.0) / ((0.2 / sqrt(4.04)) + 1.0));
    /* nothing similar: no estimate */
    float z[3] = {0, 0, 1};
    gr_route_embed_knn(b, z, 4, est);
    assert_true(isnan(est[0]) && isnan(est[1]));
    gr_route_embed_bank_free(b);
}

static void test_bank_refusals(void **state) {
    (void)state;
    setup_cfg();
    const char *bad[] = {
        "",
        "{\"dims\":3,\"models\":[]}\n",
        "{\"gaterouter_route_bank\":2,\"dims\":3,\"models\":[]}\n",
        "{\"gaterouter_route_bank\":1,\"dims\":0,\"models\":[]}\n",
        "{\"gaterouter_route_bank\":1,\"dims\":3,\"models\":[\"cheap\"]}\n{\"e\":[1,0],\"o\":[1]}\n",
        "{\"gaterouter_route_bank\":1,\"dims\":3,\"models\":[\"cheap\"]}\n{\"e\":[1,0,0],\"o\":[1,1]}\n",
        "{\"gaterouter_route_bank\":1,\"dims\":3,\"models\":[\"cheap\"]}\n{\"e\":[0,0,0],\"o\":[1]}\n",
        "{\"gaterouter_route_bank\":1,\"dims\":3,\"models\":[\"cheap\"]}\n{\"e\":[1,0,0],\"o\":[2]}\n",
        "{\"gaterouter_route_bank\":1,\"dims\":3,\"models\":[\"cheap\"]}\n{\"e\":[1,\"x\",0],\"o\":[1]}\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        gr_route_embed_bank *b = (gr_route_embed_bank *)1;
        char err[256] = "";
        assert_int_not_equal(gr_route_embed_bank_load(write_bank(bad[i]), &g_cfg, &b, err, sizeof err), GR_OK);
        unlink(g_path);
        assert_null(b);
        assert_true(err[0] != '\0');
    }
    gr_route_embed_bank *b = NULL;
    char err[256];
    assert_int_equal(gr_route_embed_bank_load("/nonexistent/bank.jsonl", &g_cfg, &b, err, sizeof err), GR_ERR_IO);
    assert_non_null(strstr(err, "route train"));
}

static void test_blend(void **state) {
    (void)state;
    NEAR(gr_route_embed_blend(0.7, NAN, 0.5), 0.7); /* no neighbours: unchanged */
    NEAR(gr_route_embed_blend(0.7, 0.1, 0.0), 0.7); /* weight 0: unchanged */
    NEAR(gr_route_embed_blend(0.7, 0.2, 1.0), 0.2); /* weight 1: the neighbours */
    NEAR(gr_route_embed_blend(0.7, 0.7, 0.5), 0.7); /* agreement: unchanged */
    double mid = gr_route_embed_blend(0.8, 0.2, 0.5);
    NEAR(mid, 0.5); /* symmetric logits meet in the middle */
    assert_true(gr_route_embed_blend(0.8, 0.0, 0.5) > 0.0); /* clamped: finite */
    assert_true(gr_route_embed_blend(0.8, 1.0, 0.5) < 1.0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bank_and_neighbours),
        cmocka_unit_test(test_bank_refusals),
        cmocka_unit_test(test_blend),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
