/* test_config.c — config loading: a good file, every class of bad file with
 * the message naming the bad key, ${ENV} expansion, exact decimal prices. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "config.h"
#include "config_load.h"

static const char k_good[] =
    "server:\n  listen: 127.0.0.1:9999\n  workers: 3\n  max_body_bytes: 1MiB\n"
    "auth:\n  keys: [ {name: alice, key: sk-alice-123456}, sk-plain-12345678 ]\n  admin_key: ${GR_TEST_ADMIN:-adm}\n"
    "providers:\n"
    "  - {name: oa, kind: openai, base_url: 'https://api.example.com/v1/', api_key: '${GR_TEST_KEY}',\n"
    "     headers: {X-Org: acme}, timeouts: {connect_ms: 1500, idle_ms: 2s}}\n"
    "  - {name: m, kind: mock}\n"
    "models:\n"
    "  - name: big\n    aliases: [gpt-4o]\n    provider: oa\n    model: gpt-4o-2024\n"
    "    pricing: {input: 2.5, output: '10', cached_input: 0.000001}\n    capabilities: [chat, vision]\n"
    "    fallbacks: [small]\n"
    "  - name: small\n    deployments:\n      - {provider: m, weight: 3}\n      - {provider: oa, model: gpt-4o-mini}\n";

/* config-1.1: a valid file loads with every field typed */
static void test_good(void **state) {
    setenv("GR_TEST_KEY", "secret-key", 1);
    unsetenv("GR_TEST_ADMIN");
    char err[512];
    gr_config *c = gr_config_load_string(k_good, sizeof(k_good) - 1, "good", err, sizeof(err));
    if (!c) fail_msg("unexpected error: %s", err);
    assert_string_equal(c->server.host, "127.0.0.1");
    assert_int_equal(c->server.port, 9999);
    assert_int_equal(c->server.workers, 3);
    assert_int_equal(c->server.max_body_bytes, 1 << 20);
    assert_int_equal(c->nkeys, 2);
    assert_string_equal(c->keys[0].name, "alice");
    assert_string_equal(c->keys[1].key, "sk-plain-12345678");
    assert_string_equal(c->admin_key, "adm");
    assert_int_equal(c->nproviders, 2);
    assert_string_equal(c->providers[0].base_url, "https://api.example.com/v1"); /* trailing slash dropped */
    assert_string_equal(c->providers[0].api_key, "secret-key");
    assert_int_equal(c->providers[0].timeouts.connect_ms, 1500);
    assert_int_equal(c->providers[0].timeouts.idle_ms, 2000);
    assert_int_equal(c->providers[0].nheaders, 1);
    assert_int_equal(c->providers[1].kind, GR_PROVIDER_MOCK);
    const gr_model_conf *m = gr_config_find_model(c, "gpt-4o", 6);
    assert_non_null(m);
    assert_string_equal(m->name, "big");
    assert_int_equal(m->prices.input_uusd_per_mtok, 2500000);
    assert_int_equal(m->prices.output_uusd_per_mtok, 10000000);
    assert_int_equal(m->prices.cached_input_uusd_per_mtok, 1);
    assert_int_equal(m->caps, GR_CAP_CHAT | GR_CAP_VISION);
    assert_string_equal(m->deployments[0].upstream_model, "gpt-4o-2024");
    const gr_model_conf *s = gr_config_find_model(c, "small", 5);
    assert_int_equal(s->ndeployments, 2);
    assert_int_equal(s->deployments[0].weight, 3);
    assert_string_equal(s->deployments[0].upstream_model, "small"); /* defaults to the public name */
    assert_ptr_equal(s->deployments[1].provider, &c->providers[0]);
    assert_null(gr_config_find_model(c, "nope", 4));
    gr_config_release(c);
}

typedef struct {
    const char *id, *yaml, *expect;
} bad_case;

static const bad_case k_bad[] = {
    {"config-2.1", "providers: [", "yaml syntax error"},
    {"config-2.2", "models: []\n", "providers: required"},
    {"config-2.3", "providers: [{name: a, kind: warp, base_url: 'http://x'}]\nmodels: [{name: m, provider: a}]\n",
     "providers[0].kind: unknown value 'warp'"},
    {"config-2.4", "providers: [{name: a, kind: openai}]\nmodels: [{name: m, provider: a}]\n",
     "providers[0].base_url: required"},
    {"config-2.5", "providers: [{name: a, kind: mock}]\nmodels: [{name: m, provider: b}]\n",
     "models[0].provider: unknown provider 'b'"},
    {"config-2.6", "providers: [{name: a, kind: mock}]\nmodels: [{name: m, provider: a, pricing: {input: 1.1234567}}]\n",
     "models[0].pricing.input: expected a price"},
    {"config-2.7", "server: {port: 70000}\nproviders: [{name: a, kind: mock}]\nmodels: [{name: m, provider: a}]\n",
     "server.port: 70000 is out of range"},
    {"config-2.8", "server: {prot: 1}\nproviders: [{name: a, kind: mock}]\nmodels: [{name: m, provider: a}]\n",
     "server.prot: unknown key"},
    {"config-2.9", "providers: [{name: a, kind: mock, api_key: '${GR_TEST_SURELY_UNSET}'}]\nmodels: [{name: m, provider: a}]\n",
     "environment variable GR_TEST_SURELY_UNSET is not set"},
    {"config-2.10", "providers: [{name: a, kind: mock}]\nmodels: [{name: m, provider: a}, {name: n, aliases: [m], provider: a}]\n",
     "models[1]: model name or alias 'm' is already used"},
    {"config-2.11", "providers: [{name: a, kind: mock}]\nmodels: [{name: m, provider: a, fallbacks: [zz]}]\n",
     "models[0].fallbacks[0]: unknown model 'zz'"},
    {"config-2.12", "providers: [{name: a, kind: mock}, {name: a, kind: mock}]\nmodels: [{name: m, provider: a}]\n",
     "providers[1].name: duplicate provider name 'a'"},
    {"config-2.13", "providers: [{name: a, kind: mock}]\nmodels: [{name: m, provider: a, capabilities: [telepathy]}]\n",
     "unknown capability 'telepathy'"},
    {"config-2.14", "server: {max_body_bytes: -5}\nproviders: [{name: a, kind: mock}]\nmodels: [{name: m, provider: a}]\n",
     "server.max_body_bytes: cannot read '-5' as a size"},
    {"config-2.15", "- a\n- b\n", "top level must be a mapping"},
    {"config-2.16", "providers: [{name: a, kind: openai, base_url: 'ftp://x'}]\nmodels: [{name: m, provider: a}]\n",
     "must start with http:// or https://"},
    {"config-2.17", "auth: {keys: [short]}\nproviders: [{name: a, kind: mock}]\nmodels: [{name: m, provider: a}]\n",
     "auth.keys[0]: key missing or shorter than 8 characters"},
    {"config-2.18", "providers: [{name: a, kind: mock}]\nproviders: []\nmodels: [{name: m, provider: a}]\n",
     "duplicate key"},
    /* issue #16 item 10: what --check-config used to pass and start-up (or the
     * request path) then failed or misread; every row fails at load now */
#define PM "providers: [{name: a, kind: mock}]\nmodels: [{name: m, provider: a}, {name: n, provider: a}]\n"
    {"config-4.1", PM "x402: {settle: bogus, networks: []}\n", "x402.settle: want self, facilitator or none"},
    {"config-4.2", PM "routing: {health: {consecutive_failure: 3}}\n",
     "routing.health.consecutive_failure: unknown key (did you mean consecutive_failures?)"},
    {"config-4.3", PM "keys: [{name: ci, key: short}]\n", "keys[0]: needs a name and a key of at least 16 characters"},
    {"config-4.4", PM "redis: {url: 'localhost:6379'}\n", "redis.url: expected redis://"},
    {"config-4.5", PM "store: 'mysql://db/x'\n", "store.url: unknown URL scheme"},
    {"config-4.6", "server: {listen: '::1:8080'}\n" PM, "server.listen: write an IPv6 address in brackets"},
    {"config-4.7", PM "routing: {auto: {qualty: 0.9}}\n", "routing.auto.qualty: unknown key (did you mean quality?)"},
    {"config-4.8", "providers: [{name: a, kind: mock}]\nmodels: [{name: m, provider: a, strategy: least-latncy}]\n",
     "models[0].strategy: unknown value 'least-latncy' (did you mean least-latency?"},
    {"config-4.9", PM "routing: {auto: {quality: 7}}\n", "routing.auto.quality: 7 is out of range (0..1)"},
    {"config-4.10", PM "routing: {auto: {models: [m, gpt-17]}}\n", "routing.auto.models[1]: unknown model 'gpt-17'"},
    {"config-4.11", "providers: [{name: a, kind: mock, timeouts: {first_byte_ms: 2MiB}}]\nmodels: [{name: m, provider: a}]\n",
     "providers[0].timeouts.first_byte_ms: cannot read '2MiB' as a duration"},
    {"config-4.12", "server: {max_body_bytes: 30s}\n" PM, "server.max_body_bytes: cannot read '30s' as a size"},
    {"config-4.13", PM "keys: [{name: ci, key: sk-ci-0123456789abcdef, budget_daily: '1'}]\n",
     "keys[0]: budget_daily: unknown key (did you mean budget_daily_usd?)"},
    {"config-4.14", PM "pricing: {input: 1}\n", "pricing: unknown key"},
    {"config-4.15", PM "redis: {url: 'redis://h:99999'}\n", "redis.url: bad port or database"},
    {"config-4.16", PM "store: {url: 'sqlite://x.db', threads: 0}\n", "store.threads: 0 is out of range (1..64)"},
    {"config-4.17", "log: {level: verbose}\n" PM, "log.level: unknown value 'verbose'"},
    {"config-4.18", PM "x402: {setle: none}\n", "x402.setle: unknown key (did you mean settle?)"},
    {"config-4.19", "server: {listen: 'bad_host!:8080'}\n" PM, "server.host: 'bad_host!' is neither an IP address nor a host name"},
    {"config-4.22", "server: {host: '-lead.example'}\n" PM, "server.host: '-lead.example' is neither"},
    {"config-4.20", "server: {cors: {origins: ['https://a.example/path']}}\n" PM, "server.cors.origins[0]: an origin has no path"},
    {"config-4.21", PM "routing: {auto: {quality: high}}\n", "routing.auto.quality: expected a number, got 'high'"},
#undef PM
};

/* config-4.30: durations and sizes are read by the key's type, [v6]:port listens */
static void test_units_by_type(void **state) {
    static const char y[] =
        "server: {listen: '[::1]:9998', max_body_bytes: 2m, client_timeout_ms: 2m, reuse_port: true}\n"
        "providers: [{name: a, kind: mock, timeouts: {first_byte_ms: 2m, connect_ms: 1500ms, total_ms: 1h}}]\n"
        "models: [{name: m, provider: a, strategy: least-latency}]\n"
        "routing: {auto: {quality: 0.75, models: [m]}}\n";
    char err[512];
    gr_config *c = gr_config_load_string(y, sizeof(y) - 1, "units", err, sizeof(err));
    if (!c) fail_msg("unexpected error: %s", err);
    assert_string_equal(c->server.host, "::1");
    assert_int_equal(c->server.port, 9998);
    assert_true(c->server.reuse_port);
    assert_int_equal(c->server.max_body_bytes, 2u << 20);        /* size: m = MiB */
    assert_int_equal(c->server.client_timeout_ms, 120000);       /* duration: m = minutes */
    assert_int_equal(c->providers[0].timeouts.first_byte_ms, 120000);
    assert_int_equal(c->providers[0].timeouts.connect_ms, 1500);
    assert_int_equal(c->providers[0].timeouts.total_ms, 3600000);
    assert_string_equal(c->models[0].strategy, "least-latency");
    assert_non_null(c->section[GR_CONF_SEC_ROUTING]);
    assert_non_null(c->section[GR_CONF_SEC_STORE]);
    gr_config_release(c);
}

/* config-2.x: bad files fail with a message naming the key */
static void test_bad(void **state) {
    unsetenv("GR_TEST_SURELY_UNSET");
    for (size_t i = 0; i < sizeof(k_bad) / sizeof(k_bad[0]); i++) {
        char err[512] = "";
        gr_config *c = gr_config_load_string(k_bad[i].yaml, strlen(k_bad[i].yaml), "bad", err, sizeof(err));
        if (c) fail_msg("%s: loaded but should fail", k_bad[i].id);
        if (!strstr(err, k_bad[i].expect)) fail_msg("%s: error '%s' lacks '%s'", k_bad[i].id, err, k_bad[i].expect);
    }
}

/* Prefix-pattern aliases: exact names first, then the longest matching
 * pattern; '*' only at the end, after at least one character. */
static void test_alias_patterns(void **state) {
    static const char yaml[] =
        "auth: {mode: open}\nproviders: [{name: m, kind: mock}]\n"
        "models:\n"
        "  - {name: big, provider: m, aliases: [\"claude-*\"]}\n"
        "  - {name: small, provider: m, aliases: [\"claude-haiku-*\", claude-exact]}\n";
    char err[512];
    gr_config *c = gr_config_load_string(yaml, sizeof(yaml) - 1, "patterns", err, sizeof(err));
    if (!c) fail_msg("unexpected error: %s", err);
#define FIND(n) gr_config_find_model(c, (n), strlen(n))
    assert_string_equal(FIND("claude-opus-5-5")->name, "big");
    assert_string_equal(FIND("claude-haiku-4-5-20251001")->name, "small"); /* the longer pattern wins */
    assert_string_equal(FIND("claude-exact")->name, "small");
    assert_string_equal(FIND("claude-")->name, "big"); /* the empty rest matches */
    assert_null(FIND("claude"));
    assert_null(FIND("gpt-4o"));
    assert_string_equal(FIND("big")->name, "big");
#undef FIND
    gr_config_release(c);
    static const char *const bad[] = {"\"*\"", "\"cl*aude\"", "\"claude-**\"", "\"*claude\""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char y[256];
        int n = snprintf(y, sizeof y, "auth: {mode: open}\nproviders: [{name: m, kind: mock}]\n"
                                      "models: [{name: a, provider: m, aliases: [%s]}]\n", bad[i]);
        c = gr_config_load_string(y, (size_t)n, "bad pattern", err, sizeof(err));
        if (c) fail_msg("%s: loaded but should fail", bad[i]);
        if (!strstr(err, "may only end an alias")) fail_msg("%s: error '%s'", bad[i], err);
    }
    (void)state;
}

/* config-3.1: exact decimal parsing, no floating point */
static void test_decimal(void **state) {
    int64_t v = 0;
    assert_int_equal(gr_parse_decimal_scaled("0.15", 6, &v), GR_OK);
    assert_int_equal(v, 150000);
    assert_int_equal(gr_parse_decimal_scaled("3", 6, &v), GR_OK);
    assert_int_equal(v, 3000000);
    assert_int_equal(gr_parse_decimal_scaled("0.1000000", 6, &v), GR_OK); /* trailing zeros beyond scale ok */
    assert_int_equal(v, 100000);
    assert_int_equal(gr_parse_decimal_scaled(".5", 6, &v), GR_OK);
    assert_int_equal(v, 500000);
    assert_int_not_equal(gr_parse_decimal_scaled("0.0000001", 6, &v), GR_OK);
    assert_int_not_equal(gr_parse_decimal_scaled("-1", 6, &v), GR_OK);
    assert_int_not_equal(gr_parse_decimal_scaled("1e3", 6, &v), GR_OK);
    assert_int_not_equal(gr_parse_decimal_scaled("", 6, &v), GR_OK);
    assert_int_not_equal(gr_parse_decimal_scaled("99999999999999999999", 6, &v), GR_OK);
}

/* config-4.1: the shipped default config is valid */
static void test_shipped_default(void **state) {
    const char *src = getenv("GR_SOURCE_DIR");
    char path[1024], err[512];
    snprintf(path, sizeof(path), "%s/config/gaterouter.yaml", src ? src : ".");
    gr_config *c = gr_config_load_file(path, err, sizeof(err));
    if (!c) fail_msg("%s", err);
    assert_true(c->nmodels >= 2);
    gr_config_release(c);
}

/* config-4.2: the shipped examples are valid (with their secrets set) */
static void test_shipped_examples(void **state) {
    const char *src = getenv("GR_SOURCE_DIR");
    static const char *const env[] = {"OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "DEEPSEEK_API_KEY",
                                      "GROQ_API_KEY", "GR_ADMIN_KEY"};
    for (size_t i = 0; i < sizeof(env) / sizeof(env[0]); i++) setenv(env[i], "test-secret-value", 1);
    char path[1024], err[512];
    snprintf(path, sizeof(path), "%s/config/examples/multi-provider.yaml", src ? src : ".");
    gr_config *c = gr_config_load_file(path, err, sizeof(err));
    if (!c) fail_msg("%s", err);
    const gr_model_conf *m = gr_config_find_model(c, "llama-3.1-8b", 12);
    assert_non_null(m);
    assert_int_equal(m->ndeployments, 2);
    assert_string_equal(m->strategy, "least-latency");
    gr_config_release(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good),
        cmocka_unit_test(test_bad),
        cmocka_unit_test(test_units_by_type),
        cmocka_unit_test(test_decimal),
        cmocka_unit_test(test_alias_patterns),
        cmocka_unit_test(test_shipped_default),
        cmocka_unit_test(test_shipped_examples),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
