/* fuzz_config.c — the config loader (YAML -> cJSON tree with ${ENV}
 * expansion -> typed, validated snapshot): gr_config_load_string.
 * A load either fails with a message or yields a snapshot whose model and
 * provider lookups work; either way nothing leaks. */
#include "fuzz.h"
#include "config.h"
#include "config_load.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[512];
    err[0] = '\0';
    gr_config *c = gr_config_load_string((const char *)data, size, "fuzz", err, sizeof err);
    if (!c) {
        GR_FUZZ_ASSERT(err[0] != '\0');
        GR_FUZZ_ASSERT(memchr(err, '\0', sizeof err) != NULL);
        return 0;
    }
    for (size_t i = 0; i < c->nmodels; i++) {
        const gr_model_conf *m = &c->models[i];
        GR_FUZZ_ASSERT(m->name != NULL);
        GR_FUZZ_ASSERT(gr_config_find_model(c, m->name, strlen(m->name)) != NULL);
        for (size_t d = 0; d < m->ndeployments; d++) GR_FUZZ_ASSERT(m->deployments[d].provider);
    }
    for (size_t i = 0; i < c->nproviders; i++) {
        GR_FUZZ_ASSERT(c->providers[i].name != NULL);
        GR_FUZZ_ASSERT(gr_config_find_provider(c, c->providers[i].name) != NULL);
    }
    gr_config_release(c);
    return 0;
}
