/* test_config_schema.c — the declared-key loader (config_schema.c): values
 * parsed by type and unit, ranges, enums, unknown keys with a suggestion,
 * defaults through the same parser; and docs/CONFIG.md's key reference equal
 * to what the tables print. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "config.h"
#include "doc_block.h"
#include "config_load.h"
#include "config_schema.h"
#include "route_conf.h"

/* schema-1.x: scalars by type */
static void test_parse_units(void **state) {
    static const struct {
        const char *id, *text;
        gr_conf_type type;
        gr_status rc;
        uint64_t want;
    } cases[] = {
        {"schema-1.1", "250", GR_CONF_MS, GR_OK, 250},
        {"schema-1.2", "250ms", GR_CONF_MS, GR_OK, 250},
        {"schema-1.3", "30s", GR_CONF_MS, GR_OK, 30000},
        {"schema-1.4", "2m", GR_CONF_MS, GR_OK, 120000}, /* minutes, not MiB (issue #16) */
        {"schema-1.5", "1h", GR_CONF_MS, GR_OK, 3600000},
        {"schema-1.6", "2m", GR_CONF_BYTES, GR_OK, 2u << 20},
        {"schema-1.7", "64KiB", GR_CONF_BYTES, GR_OK, 64u << 10},
        {"schema-1.8", "1TiB", GR_CONF_BYTES, GR_OK, 1ull << 40},
        {"schema-1.9", "7", GR_CONF_COUNT, GR_OK, 7},
        {"schema-1.10", "2MiB", GR_CONF_MS, GR_ERR_PARSE, 0},
        {"schema-1.11", "30s", GR_CONF_BYTES, GR_ERR_PARSE, 0},
        {"schema-1.12", "1.5MiB", GR_CONF_BYTES, GR_ERR_PARSE, 0},
        {"schema-1.13", "-1", GR_CONF_COUNT, GR_ERR_PARSE, 0},
        {"schema-1.14", "", GR_CONF_COUNT, GR_ERR_PARSE, 0},
        {"schema-1.15", " 5", GR_CONF_COUNT, GR_ERR_PARSE, 0},
        {"schema-1.16", "5k", GR_CONF_COUNT, GR_ERR_PARSE, 0},
        {"schema-1.17", "99999999999999999999", GR_CONF_COUNT, GR_ERR_TOO_LARGE, 0},
        {"schema-1.18", "18446744073709551615TiB", GR_CONF_BYTES, GR_ERR_TOO_LARGE, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint64_t v = 12345;
        gr_status rc = gr_conf_parse_uint(cases[i].text, cases[i].type, &v);
        if (rc != cases[i].rc) fail_msg("%s: '%s' -> %s", cases[i].id, cases[i].text, gr_status_str(rc));
        if (rc == GR_OK && v != cases[i].want) fail_msg("%s: '%s' -> %llu", cases[i].id, cases[i].text, (unsigned long long)v);
    }
}

typedef struct {
    bool on;
    uint16_t port;
    uint32_t wait_ms;
    uint64_t size;
    double ratio;
    char *name;
    int mode;
} sample;

static const char *const modes[] = {"fast", "safe", "least-latency", NULL};
#define F(field) GR_CONF_F(sample, field)
static const gr_conf_key sample_keys[] = {
    {"on", GR_CONF_BOOL, F(on), 0, 1, "true", NULL, "a switch"},
    {"port", GR_CONF_COUNT, F(port), 1, 65535, "8080", NULL, "a port"},
    {"wait_ms", GR_CONF_MS, F(wait_ms), 0, 3600000, "2m", NULL, "a duration"},
    {"size", GR_CONF_BYTES, F(size), 1024, 1073741824, "1MiB", NULL, "a size"},
    {"ratio", GR_CONF_FRACTION, F(ratio), 0, 1, "0.5", NULL, "a fraction"},
    {"name", GR_CONF_STRING, F(name), 0, 0, "anon", NULL, "a string"},
    {"mode", GR_CONF_ENUM, F(mode), 0, 0, "safe", modes, "an enum"},
    {"nested", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL, "read by its owner"},
    GR_CONF_END,
};
#undef F

static bool load(const char *json, sample *s, char *err, size_t errlen) {
    cJSON *j = cJSON_Parse(json);
    gr_conf_err e = {err, errlen, false};
    memset(s, 0, sizeof *s);
    err[0] = '\0';
    gr_conf_load_keys(j, "sec", sample_keys, s, &e);
    cJSON_Delete(j);
    return !e.failed;
}

/* schema-2.x: a section through its table */
static void test_load_keys(void **state) {
    char err[256];
    sample s;
    assert_true(load("null", &s, err, sizeof err)); /* absent: every default, parsed like a value */
    assert_true(s.on);
    assert_int_equal(s.port, 8080);
    assert_int_equal(s.wait_ms, 120000);
    assert_int_equal(s.size, 1u << 20);
    assert_true(s.ratio == 0.5);
    assert_string_equal(s.name, "anon");
    assert_int_equal(s.mode, 1);
    gr_conf_free_keys(sample_keys, &s);
    assert_null(s.name);

    assert_true(load("{\"on\":false,\"port\":\"443\",\"wait_ms\":\"90s\",\"size\":\"2KiB\",\"ratio\":0.25,\"name\":7,"
                     "\"mode\":\"least-latency\",\"nested\":{\"any\":1}}", &s, err, sizeof err));
    assert_false(s.on);
    assert_int_equal(s.port, 443);
    assert_int_equal(s.wait_ms, 90000);
    assert_int_equal(s.size, 2048);
    assert_true(s.ratio == 0.25);
    assert_string_equal(s.name, "7"); /* a YAML number where a string is expected */
    assert_int_equal(s.mode, 2);
    gr_conf_free_keys(sample_keys, &s);

    static const struct {
        const char *id, *json, *want;
    } bad[] = {
        {"schema-2.1", "{\"prot\":1}", "sec.prot: unknown key (did you mean port?)"},
        {"schema-2.2", "{\"zzz\":1}", "sec.zzz: unknown key (see docs/CONFIG.md)"},
        {"schema-2.3", "{\"port\":0}", "sec.port: 0 is out of range (1..65535)"},
        {"schema-2.4", "{\"wait_ms\":\"2h\"}", "sec.wait_ms: 2h is out of range (0..3600000 ms)"},
        {"schema-2.5", "{\"size\":\"2MB\"}", "sec.size: cannot read '2MB' as a size"},
        {"schema-2.6", "{\"ratio\":7}", "sec.ratio: 7 is out of range (0..1)"},
        {"schema-2.7", "{\"ratio\":\"high\"}", "sec.ratio: expected a number, got 'high'"},
        {"schema-2.8", "{\"mode\":\"least-latncy\"}",
         "sec.mode: unknown value 'least-latncy' (did you mean least-latency? expected one of: fast, safe, least-latency)"},
        {"schema-2.9", "{\"on\":\"yes please\"}", "sec.on: expected true or false"},
        {"schema-2.10", "{\"name\":[1]}", "sec.name: expected a string"},
        {"schema-2.11", "[1,2]", "sec: expected a mapping"},
        {"schema-2.12", "{\"port\":8.5}", "sec.port: cannot read '8.5' as a integer"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (load(bad[i].json, &s, err, sizeof err)) fail_msg("%s: loaded", bad[i].id);
        gr_conf_free_keys(sample_keys, &s);
        if (!strstr(err, bad[i].want)) fail_msg("%s: '%s' lacks '%s'", bad[i].id, err, bad[i].want);
    }
}

/* schema-3.x: suggestions */
static void test_suggest(void **state) {
    assert_string_equal(gr_conf_suggest("qualty", gr_conf_routing_auto_keys), "quality");
    static const char *const spec[] = {"budget_usd", "budget_daily_usd", "budget_monthly_usd", NULL};
    assert_string_equal(gr_conf_suggest_name("budget_daily", spec), "budget_daily_usd"); /* unit left off */
    assert_null(gr_conf_suggest_name("color", spec));
    assert_null(gr_conf_suggest_name("", spec));
}

/* schema-4.1: docs/CONFIG.md embeds exactly what the tables print */
static void test_docs_match_tables(void **state) {
    (void)state;
    assert_doc_block("docs/CONFIG.md", "<!-- config-reference:begin", "<!-- config-reference:end -->",
                     gr_conf_write_reference, "gaterouter --config-reference");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_units),
        cmocka_unit_test(test_load_keys),
        cmocka_unit_test(test_suggest),
        cmocka_unit_test(test_docs_match_tables),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
