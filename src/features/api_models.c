/* api_models.c — GET /v1/models and GET /v1/models/{id}, listing configured
 * models and their aliases: in OpenAI's shape, or in Anthropic's when the
 * request carries an anthropic-version header (Anthropic's SDKs always do).
 * A virtual key with a `models` allow-list sees only the models it may call;
 * another model is "not found" to it, as it would be on the provider. */
#include "api_models.h"

#include "http_server.h"
#include "keys.h"
#include "provider_native.h"

#include <stdlib.h>
#include <time.h>

static cJSON *model_json(const gr_model_conf *m, const char *id) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", id);
    cJSON_AddStringToObject(o, "object", "model");
    cJSON_AddNumberToObject(o, "created", (double)m->created);
    cJSON_AddStringToObject(o, "owned_by", m->owned_by ? m->owned_by : "gaterouter");
    cJSON_AddNumberToObject(o, "context_length", m->context_window);
    return o;
}

static cJSON *anthropic_model_json(const gr_model_conf *m, const char *id) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", "model");
    cJSON_AddStringToObject(o, "id", id);
    cJSON_AddStringToObject(o, "display_name", id);
    char when[32] = "1970-01-01T00:00:00Z";
    time_t t = (time_t)m->created;
    struct tm tm;
    if (gmtime_r(&t, &tm)) strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    cJSON_AddStringToObject(o, "created_at", when);
    return o;
}

/* A pattern alias ("claude-sonnet-*") is not a model id a client could list. */
static bool listable(const char *alias) {
    size_t n = strlen(alias);
    return !n || alias[n - 1] != '*';
}

/* May the request's key call this model? (No key or no list: every model.) */
static bool visible(const gr_request *r, const gr_model_conf *m) {
    if (!r->key || !gr_keys_restricted(r->key)) return true;
    return gr_keys_model_allowed(r->key, m->name, (const char *const *)m->aliases, m->naliases);
}

void gr_models_handle(gr_request *r, const char *model_id) {
    bool anthropic = gr_client_req_header(r->req, "anthropic-version") != NULL;
    if (anthropic) r->anthropic_out = true; /* errors in Anthropic's shape too */
    cJSON *(*render)(const gr_model_conf *, const char *) = anthropic ? anthropic_model_json : model_json;
    cJSON *out;
    if (model_id) {
        const gr_model_conf *m = gr_config_find_model(r->cfg, model_id, strlen(model_id));
        if (!m || !visible(r, m)) {
            gr_request_fail_code(r, GR_EC_MODEL_NOT_FOUND, "model",
                                 "The model `%s` does not exist or you do not have access to it.", model_id);
            return;
        }
        out = render(m, model_id);
    } else {
        out = cJSON_CreateObject();
        if (!anthropic) cJSON_AddStringToObject(out, "object", "list");
        cJSON *data = cJSON_AddArrayToObject(out, "data");
        for (size_t i = 0; i < r->cfg->nmodels; i++) {
            const gr_model_conf *m = &r->cfg->models[i];
            if (!visible(r, m)) continue;
            cJSON_AddItemToArray(data, render(m, m->name));
            for (size_t a = 0; a < m->naliases; a++)
                if (listable(m->aliases[a])) cJSON_AddItemToArray(data, render(m, m->aliases[a]));
        }
        if (anthropic) { /* one page holding every model */
            int n = cJSON_GetArraySize(data);
            cJSON_AddBoolToObject(out, "has_more", false);
            if (n) {
                cJSON_AddStringToObject(out, "first_id", gr_provider_get_str(cJSON_GetArrayItem(data, 0), "id"));
                cJSON_AddStringToObject(out, "last_id", gr_provider_get_str(cJSON_GetArrayItem(data, n - 1), "id"));
            } else {
                cJSON_AddNullToObject(out, "first_id");
                cJSON_AddNullToObject(out, "last_id");
            }
        }
    }
    char *s = cJSON_PrintUnformatted(out);
    cJSON_Delete(out);
    gr_request_reply_json(r, 200, s, strlen(s));
    cJSON_free(s);
}
