/* config_sections.c — the table of top-level config sections other areas own.
 * The loader (config.c) parses each at load, in this order, into
 * gr_config.section[id]; adding a section is one row here, an id in
 * config_schema.h, and the area's parse/free pair next to its code. Also the
 * loaders that pass this table down (config_load.h) and the key reference
 * docs/CONFIG.md embeds. */
#include "config_load.h"

#include "alerts.h"
#include "config.h"
#include "console_conf.h"
#include "health.h"
#include "keys.h"
#include "log_sink.h"
#include "pay_x402.h"
#include "responses_store.h"
#include "route_conf.h"
#include "cluster_state.h"
#include "store.h"
#include "trace.h"

#include <stdio.h>

const gr_conf_section gr_conf_sections[GR_CONF_NSECTIONS] = {
    [GR_CONF_SEC_STORE] = {"store", gr_store_conf_parse, gr_store_conf_free},
    [GR_CONF_SEC_KEYS] = {"keys", gr_keys_conf_parse, gr_keys_conf_free},
    [GR_CONF_SEC_ROUTING] = {"routing", gr_route_conf_parse, gr_route_conf_free},
    [GR_CONF_SEC_REDIS] = {"redis", gr_redis_conf_parse, gr_redis_conf_free},
    [GR_CONF_SEC_X402] = {"x402", gr_pay_x402_conf_parse, NULL},
    [GR_CONF_SEC_CONSOLE] = {"console", gr_console_conf_parse, gr_console_conf_free},
    [GR_CONF_SEC_TRACING] = {"tracing", gr_trace_conf_parse, gr_trace_conf_free},
    [GR_CONF_SEC_LOG_SINK] = {"log_sink", gr_log_sink_conf_parse, gr_log_sink_conf_free},
    [GR_CONF_SEC_RESPONSES] = {"responses", gr_responses_conf_parse, gr_responses_conf_free},
    [GR_CONF_SEC_ALERTS] = {"alerts", gr_alerts_conf_parse, gr_alerts_conf_free},
};

gr_config *gr_config_load_file(const char *path, char *err, size_t errlen) {
    return gr_config_parse_file(path, gr_conf_sections, err, errlen);
}

gr_config *gr_config_load_string(const char *yaml, size_t len, const char *origin, char *err, size_t errlen) {
    return gr_config_parse_string(yaml, len, origin, gr_conf_sections, err, errlen);
}

/* ---- the key reference (docs/CONFIG.md, `gaterouter --config-reference`) ---- */

static const struct {
    const char *path, *title;
    const gr_conf_key *keys;
} reference[] = {
    {"server", NULL, gr_conf_server_keys},
    {"server.cors", NULL, gr_conf_cors_keys},
    {"log", NULL, gr_conf_log_keys},
    {"auth", NULL, gr_conf_auth_keys},
    {"providers[]", NULL, gr_conf_provider_keys},
    {"providers[].timeouts", NULL, gr_conf_timeout_keys},
    {"models[]", NULL, gr_conf_model_keys},
    {"models[].deployments[]", NULL, gr_conf_deployment_keys},
    {"pricing", "every `pricing` mapping", gr_conf_price_keys},
    {"keys[]", "`keys[]` entries, `POST`/`PATCH /admin/keys` bodies", gr_conf_key_spec_keys},
    {"store", "`store` (or a URL string: the `url`)", gr_conf_store_keys},
    {"routing", NULL, gr_conf_routing_keys},
    {"routing.auto", NULL, gr_conf_routing_auto_keys},
    {"routing.auto.learning", NULL, gr_conf_routing_learning_keys},
    {"routing.auto.cost_controller", NULL, gr_conf_routing_cost_controller_keys},
    {"routing.auto.embeddings", "`routing.auto.embeddings` (or the model's name: its `model`)", gr_conf_routing_embeddings_keys},
    {"routing.auto.verify", NULL, gr_conf_routing_auto_verify_keys},
    {"routing.health", NULL, gr_conf_health_keys},
    {"redis", "`redis` (or a URL string: the `url`)", gr_conf_redis_keys},
    {"x402", NULL, gr_conf_x402_keys},
    {"x402.networks[]", NULL, gr_conf_x402_network_keys},
    {"console", NULL, gr_conf_console_keys},
    {"tracing", NULL, gr_conf_tracing_keys},
    {"log_sink", NULL, gr_conf_log_sink_keys},
    {"responses", NULL, gr_conf_responses_keys},
    {"alerts", NULL, gr_conf_alerts_keys},
};

/* 8388608 -> "8 MiB", 90000 -> "90 s": the largest unit that divides evenly. */
static void human(char *out, size_t cap, double v, gr_conf_type t) {
    typedef struct { const char *unit; double mul; } unit;
    static const unit bytes[] = {{"TiB", 1099511627776.0}, {"GiB", 1073741824.0}, {"MiB", 1048576.0}, {"KiB", 1024.0}};
    static const unit ms[] = {{"d", 86400000.0}, {"h", 3600000.0}, {"min", 60000.0}, {"s", 1000.0}};
    const unit *u = t == GR_CONF_BYTES ? bytes : t == GR_CONF_MS ? ms : NULL;
    size_t nu = t == GR_CONF_BYTES ? GR_ARRAY_LEN(bytes) : t == GR_CONF_MS ? GR_ARRAY_LEN(ms) : 0;
    for (size_t i = 0; v != 0 && i < nu; i++)
        if (v >= u[i].mul && v == (double)(uint64_t)(v / u[i].mul) * u[i].mul) {
            snprintf(out, cap, "%.0f %s", v / u[i].mul, u[i].unit);
            return;
        }
    snprintf(out, cap, t == GR_CONF_FRACTION ? "%g" : "%.0f%s", v, t == GR_CONF_MS ? " ms" : t == GR_CONF_BYTES ? " B" : "");
}

static void range_text(const gr_conf_key *k, char *out, size_t cap) {
    char lo[32], hi[32];
    switch (k->type) {
    case GR_CONF_COUNT:
    case GR_CONF_BYTES:
    case GR_CONF_MS:
    case GR_CONF_FRACTION:
        human(lo, sizeof lo, k->min, k->type);
        human(hi, sizeof hi, k->max, k->type);
        snprintf(out, cap, "%s .. %s", lo, hi);
        return;
    case GR_CONF_ENUM: {
        size_t n = 0;
        out[0] = '\0';
        for (size_t i = 0; k->choices[i] && n < cap; i++)
            n += (size_t)snprintf(out + n, cap - n, "%s`%s`", i ? " \\| " : "", k->choices[i]);
        return;
    }
    case GR_CONF_BOOL:
        snprintf(out, cap, "`true` \\| `false`");
        return;
    default:
        snprintf(out, cap, "—");
    }
}

void gr_conf_write_reference(FILE *f) {
    for (size_t s = 0; s < GR_ARRAY_LEN(reference); s++) {
        if (reference[s].title) fprintf(f, "#### %s\n\n", reference[s].title);
        else fprintf(f, "#### `%s`\n\n", reference[s].path);
        fputs("| key | type | range | default | meaning |\n|---|---|---|---|---|\n", f);
        for (const gr_conf_key *k = reference[s].keys; k->name; k++) {
            char range[256];
            range_text(k, range, sizeof range);
            fprintf(f, "| `%s` | %s | %s | %s%s%s | %s |\n", k->name,
                    k->type == GR_CONF_NESTED ? "—" : gr_conf_type_name(k->type), range, k->dflt ? "`" : "",
                    k->dflt ? k->dflt : "—", k->dflt ? "`" : "", k->doc ? k->doc : "");
        }
        fputc('\n', f);
    }
}
