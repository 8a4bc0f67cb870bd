/* test_preset_fixtures.c — data-driven tests of the OpenAI-compatible presets'
 * request rewrite (gr_preset_rewrite): tests/fixtures/presets/<preset>/<case>/
 * holds request.json (the canonical body, `model` already the upstream's) and
 * expected.json: {"upstream_request": …} compared exactly, or
 * {"request_error": {status, type, message}} with `message` a substring.
 * Also: Mistral's short ids are 9 characters of [a-zA-Z0-9], stable, and
 * ids already in that form are kept; the response-side `reasoning` alias. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture_files.h"
#include "preset_quirks.h"

typedef struct {
    char dir[1200];
    const gr_provider_preset *preset;
} fixture;

static cJSON *must_read_json(const char *dir, const char *name) {
    cJSON *j = read_json(dir, name);
    if (!j) fail_msg("%s/%s: missing", dir, name);
    return j;
}

static void preset_case(void **state) {
    const fixture *fx = *state;
    cJSON *req = must_read_json(fx->dir, "request.json");
    cJSON *exp = must_read_json(fx->dir, "expected.json");
    gr_upstream_error err = {0};
    gr_status rc = gr_preset_rewrite(fx->preset, req, &err);
    const cJSON *want_req = cJSON_GetObjectItemCaseSensitive(exp, "upstream_request");
    const cJSON *want_err = cJSON_GetObjectItemCaseSensitive(exp, "request_error");
    if (want_req) {
        assert_int_equal(rc, GR_OK);
        if (!cJSON_Compare(want_req, req, 1)) {
            char *w = cJSON_Print(want_req), *g = cJSON_Print(req);
            print_error("%s: upstream request mismatch\n--- expected\n%s\n--- got\n%s\n", fx->dir, w, g);
            free(w);
            free(g);
            fail();
        }
    } else {
        assert_non_null(want_err);
        assert_int_equal(rc, GR_ERR_INVALID);
        assert_int_equal(err.status, cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(want_err, "status")));
        assert_string_equal(err.type, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(want_err, "type")));
        assert_non_null(strstr(err.message, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(want_err, "message"))));
    }
    cJSON_Delete(req);
    cJSON_Delete(exp);
}

static void short_ids(void **state) {
    (void)state;
    char a[10], b[10], c[10];
    gr_preset_short_tool_id("call_9f2c1e7d4b8a4c6e", a);
    gr_preset_short_tool_id("call_9f2c1e7d4b8a4c6e", b);
    gr_preset_short_tool_id("toolu_01A", c);
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
    for (const char *id = a; *id; id++) assert_true(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", *id));
    assert_int_equal(strlen(a), 9);
    gr_preset_short_tool_id("Ab3dE6gH9", a); /* already Mistral's own: kept */
    assert_string_equal(a, "Ab3dE6gH9");
    gr_preset_short_tool_id("", a);
    assert_int_equal(strlen(a), 9);
}

static void alias_reasoning(void **state) {
    (void)state;
    static const struct {
        const char *in, *out;
        bool changed;
    } cases[] = {
        {"{\"choices\":[{\"message\":{\"content\":\"x\",\"reasoning\":\"r\"}}]}",
         "{\"choices\":[{\"message\":{\"content\":\"x\",\"reasoning_content\":\"r\"}}]}", true},
        {"{\"choices\":[{\"delta\":{\"reasoning\":\"a\"}},{\"delta\":{\"content\":\"b\"}}]}",
         "{\"choices\":[{\"delta\":{\"reasoning_content\":\"a\"}},{\"delta\":{\"content\":\"b\"}}]}", true},
        {"{\"choices\":[{\"delta\":{\"reasoning_content\":\"a\",\"reasoning\":\"a\"}}]}",
         "{\"choices\":[{\"delta\":{\"reasoning_content\":\"a\"}}]}", true},
        {"{\"choices\":[{\"delta\":{\"reasoning\":{\"effort\":\"high\"}}}],\"usage\":{\"reasoning\":\"x\"}}",
         "{\"choices\":[{\"delta\":{\"reasoning\":{\"effort\":\"high\"}}}],\"usage\":{\"reasoning\":\"x\"}}", false},
        {"{\"choices\":[],\"usage\":{\"prompt_tokens\":1}}", "{\"choices\":[],\"usage\":{\"prompt_tokens\":1}}", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cJSON *j = cJSON_Parse(cases[i].in), *want = cJSON_Parse(cases[i].out);
        assert_int_equal(gr_preset_alias_reasoning(j), cases[i].changed);
        assert_true(cJSON_Compare(want, j, 1));
        cJSON_Delete(j);
        cJSON_Delete(want);
    }
}

static int cmp_names(const void *x, const void *y) { return strcmp(*(char *const *)x, *(char *const *)y); }

int main(void) {
    const char *root = getenv("GR_SOURCE_DIR");
    if (!root) root = ".";
    fixture *fxs = NULL;
    char **names = NULL;
    size_t n = 0;
    for (int id = 1; gr_provider_preset_names[id]; id++) {
        char base[600];
        snprintf(base, sizeof base, "%s/tests/fixtures/presets/%s", root, gr_provider_preset_names[id]);
        DIR *d = opendir(base);
        if (!d) {
            fprintf(stderr, "%s: missing (every preset has fixtures)\n", base);
            return 1;
        }
        size_t first = n;
        struct dirent *de;
        while ((de = readdir(d))) {
            if (de->d_name[0] == '.' || de->d_type != DT_DIR) continue;
            fxs = realloc(fxs, (n + 1) * sizeof *fxs);
            names = realloc(names, (n + 1) * sizeof *names);
            snprintf(fxs[n].dir, sizeof fxs[n].dir, "%s/%s", base, de->d_name);
            fxs[n].preset = gr_provider_preset_at(id);
            size_t l = strlen(gr_provider_preset_names[id]) + strlen(de->d_name) + 2;
            names[n] = malloc(l);
            snprintf(names[n], l, "%s/%s", gr_provider_preset_names[id], de->d_name);
            n++;
        }
        closedir(d);
        if (n - first < 3) {
            fprintf(stderr, "%s: %zu fixtures, at least 3 wanted\n", base, n - first);
            return 1;
        }
    }
    /* sort names and fixtures together: order by name */
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && cmp_names(&names[j - 1], &names[j]) > 0; j--) {
            char *t = names[j];
            names[j] = names[j - 1];
            names[j - 1] = t;
            fixture f = fxs[j];
            fxs[j] = fxs[j - 1];
            fxs[j - 1] = f;
        }
    struct CMUnitTest *tests = calloc(n + 2, sizeof *tests);
    for (size_t i = 0; i < n; i++) {
        tests[i].name = names[i];
        tests[i].test_func = preset_case;
        tests[i].initial_state = &fxs[i];
    }
    tests[n].name = "short_tool_ids";
    tests[n].test_func = short_ids;
    tests[n + 1].name = "alias_reasoning";
    tests[n + 1].test_func = alias_reasoning;
    int rc = _cmocka_run_group_tests("preset_fixtures", tests, n + 2, NULL, NULL);
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    free(tests);
    free(fxs);
    return rc;
}
