/* api_models.c — GET /v1/models and GET /v1/models/{id} in OpenAI's shape,
 * listing configured models and their aliases. */
#include "api_models.h"

#include <stdlib.h>

static cJSON *model_json(const gr_model_conf *m, const char *id) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", id);
    cJSON_AddStringToObject(o, "object", "model");
    cJSON_AddNumberToObject(o, "created", (double)m->created);
    cJSON_AddStringToObject(o, "owned_by", m->owned_by ? m->owned_by : "gaterouter");
    cJSON_AddNumberToObject(o, "context_length", m->context_window);
    return o;
}

void gr_models_handle(gr_request *r, const char *model_id) {
    cJSON *out;
    if (model_id) {
        const gr_model_conf *m = gr_config_find_model(r->cfg, model_id, strlen(model_id));
        if (!m) {
            gr_request_fail(r, 404, "invalid_request_error", "model_not_found", "model",
                            "The model `%s` does not exist or you do not have access to it.", model_id);
            return;
        }
        out = model_json(m, model_id);
    } else {
        out = cJSON_CreateObject();
        cJSON_AddStringToObject(out, "object", "list");
        cJSON *data = cJSON_AddArrayToObject(out, "data");
        for (size_t i = 0; i < r->cfg->nmodels; i++) {
            const gr_model_conf *m = &r->cfg->models[i];
            cJSON_AddItemToArray(data, model_json(m, m->name));
            for (size_t a = 0; a < m->naliases; a++) cJSON_AddItemToArray(data, model_json(m, m->aliases[a]));
        }
    }
    char *s = cJSON_PrintUnformatted(out);
    cJSON_Delete(out);
    gr_request_reply_json(r, 200, s, strlen(s));
    cJSON_free(s);
}
