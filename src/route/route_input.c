/* route_input.c — the request's routing inputs: OpenRouter routing
 * parameters and the gateway's own fields parsed from the body into a
 * gr_route_request, the prompt-token estimate, the quality header. */
#include "route_internal.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

/* ---- inputs ---- */

const char *const gr_route_gateway_fields[] = {"models", "provider", "route", "transforms", NULL};

void gr_route_request_init(gr_route_request *r)
{
    memset(r, 0, sizeof *r);
    r->provider.allow_fallbacks = true;
    r->provider.max_prompt_uusd = -1;
    r->provider.max_completion_uusd = -1;
    r->provider.max_request_uusd = -1;
    r->quality = -1.0;
    r->value_usd = -1.0;
    r->default_value_usd = -1.0;
    r->default_cost_per_1k_usd = -1.0;
}

double gr_route_parse_quality(const char *value)
{
    if (!value || !*value)
        return -1.0;
    char *end = NULL;
    errno = 0;
    double v = strtod(value, &end);
    while (end && (*end == ' ' || *end == '\t'))
        end++;
    if (errno || !end || *end || !(v >= 0.0 && v <= 1.0))
        return -1.0;
    return v;
}

static gr_status fail(char *err, size_t errlen, const char *msg)
{
    if (err && errlen)
        snprintf(err, errlen, "%s", msg);
    return GR_ERR_INVALID;
}

static gr_status parse_str_list(const cJSON *arr, gr_str *out, size_t *n, const char *what,
                                char *err, size_t errlen)
{
    *n = 0;
    if (!arr || cJSON_IsNull(arr))
        return GR_OK;
    if (!cJSON_IsArray(arr)) {
        char m[96];
        snprintf(m, sizeof m, "%s must be an array of strings", what);
        return fail(err, errlen, m);
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, arr)
    {
        if (!cJSON_IsString(e) || !e->valuestring) {
            char m[96];
            snprintf(m, sizeof m, "%s must be an array of strings", what);
            return fail(err, errlen, m);
        }
        if (*n < GR_ROUTE_MAX_LIST)
            out[(*n)++] = gr_str_c(e->valuestring);
    }
    return GR_OK;
}

/* USD per Mtok (number or decimal string) -> micro-USD per Mtok. */
static gr_status parse_price(const cJSON *v, int64_t *out, const char *what, char *err,
                             size_t errlen)
{
    double d;
    if (!v || cJSON_IsNull(v))
        return GR_OK;
    if (cJSON_IsNumber(v))
        d = v->valuedouble;
    else if (cJSON_IsString(v) && v->valuestring) {
        char *end = NULL;
        d = strtod(v->valuestring, &end);
        if (!end || *end)
            d = -1;
    } else
        d = -1;
    if (!(d >= 0.0 && d < 1e9)) {
        char m[96];
        snprintf(m, sizeof m, "provider.max_price.%s must be a non-negative number", what);
        return fail(err, errlen, m);
    }
    *out = (int64_t)llround(d * 1e6);
    return GR_OK;
}

static uint32_t text_tokens(const char *s)
{
    size_t l = s ? strlen(s) : 0;
    return (uint32_t)((l + 3) / 4);
}

gr_status gr_route_request_from_json(const cJSON *body, gr_route_request *r, char *err,
                                     size_t errlen)
{
    gr_status rc;
    gr_route_request_init(r);
    if (!cJSON_IsObject(body))
        return fail(err, errlen, "request body must be a JSON object");
    r->body = body;

    const cJSON *model = cJSON_GetObjectItemCaseSensitive(body, "model");
    if (model && !cJSON_IsNull(model)) {
        if (!cJSON_IsString(model) || !model->valuestring)
            return fail(err, errlen, "model must be a string");
        r->model = gr_str_c(model->valuestring);
    }
    rc = parse_str_list(cJSON_GetObjectItemCaseSensitive(body, "models"), r->models, &r->nmodels,
                        "models", err, errlen);
    if (rc)
        return rc;

    const cJSON *prov = cJSON_GetObjectItemCaseSensitive(body, "provider");
    if (prov && !cJSON_IsNull(prov)) {
        if (!cJSON_IsObject(prov))
            return fail(err, errlen, "provider must be an object");
        gr_route_provider_prefs *p = &r->provider;
        rc = parse_str_list(cJSON_GetObjectItemCaseSensitive(prov, "order"), p->order, &p->norder,
                            "provider.order", err, errlen);
        if (!rc)
            rc = parse_str_list(cJSON_GetObjectItemCaseSensitive(prov, "only"), p->only,
                                &p->nonly, "provider.only", err, errlen);
        if (!rc)
            rc = parse_str_list(cJSON_GetObjectItemCaseSensitive(prov, "ignore"), p->ignore,
                                &p->nignore, "provider.ignore", err, errlen);
        if (rc)
            return rc;
        const cJSON *sort = cJSON_GetObjectItemCaseSensitive(prov, "sort");
        if (sort && !cJSON_IsNull(sort)) {
            const char *sv = cJSON_IsString(sort) ? sort->valuestring : NULL;
            if (sv && strcmp(sv, "price") == 0)
                p->sort = GR_ROUTE_SORT_PRICE;
            else if (sv && strcmp(sv, "throughput") == 0)
                p->sort = GR_ROUTE_SORT_THROUGHPUT;
            else if (sv && strcmp(sv, "latency") == 0)
                p->sort = GR_ROUTE_SORT_LATENCY;
            else
                return fail(err, errlen,
                            "provider.sort must be one of \"price\", \"throughput\", \"latency\"");
        }
        const cJSON *af = cJSON_GetObjectItemCaseSensitive(prov, "allow_fallbacks");
        if (af && !cJSON_IsNull(af)) {
            if (!cJSON_IsBool(af))
                return fail(err, errlen, "provider.allow_fallbacks must be a boolean");
            p->allow_fallbacks = cJSON_IsTrue(af);
        }
        const cJSON *mp = cJSON_GetObjectItemCaseSensitive(prov, "max_price");
        if (mp && !cJSON_IsNull(mp)) {
            if (!cJSON_IsObject(mp))
                return fail(err, errlen, "provider.max_price must be an object");
            rc = parse_price(cJSON_GetObjectItemCaseSensitive(mp, "prompt"), &p->max_prompt_uusd,
                             "prompt", err, errlen);
            if (!rc)
                rc = parse_price(cJSON_GetObjectItemCaseSensitive(mp, "completion"),
                                 &p->max_completion_uusd, "completion", err, errlen);
            if (!rc)
                rc = parse_price(cJSON_GetObjectItemCaseSensitive(mp, "request"),
                                 &p->max_request_uusd, "request", err, errlen);
            if (rc)
                return rc;
        }
    }

    /* capabilities and a cheap token estimate (4 bytes/token, images fixed) */
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(body, "tools");
    const cJSON *functions = cJSON_GetObjectItemCaseSensitive(body, "functions");
    if ((cJSON_IsArray(tools) && cJSON_GetArraySize(tools) > 0) ||
        (cJSON_IsArray(functions) && cJSON_GetArraySize(functions) > 0)) {
        r->need_caps |= GR_CAP_TOOLS;
        char *t = cJSON_PrintUnformatted(cJSON_IsArray(tools) ? tools : functions);
        r->prompt_tokens += text_tokens(t);
        free(t);
    }
    const cJSON *rf = cJSON_GetObjectItemCaseSensitive(body, "response_format");
    const cJSON *rft = cJSON_GetObjectItemCaseSensitive(rf, "type");
    if (cJSON_IsString(rft) && rft->valuestring &&
        (strcmp(rft->valuestring, "json_object") == 0 ||
         strcmp(rft->valuestring, "json_schema") == 0))
        r->need_caps |= GR_CAP_JSON;
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(body, "messages");
    const cJSON *m;
    cJSON_ArrayForEach(m, msgs)
    {
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        r->prompt_tokens += 4;
        if (cJSON_IsString(content)) {
            r->prompt_tokens += text_tokens(content->valuestring);
        } else if (cJSON_IsArray(content)) {
            const cJSON *part;
            cJSON_ArrayForEach(part, content)
            {
                const cJSON *type = cJSON_GetObjectItemCaseSensitive(part, "type");
                const char *ts = cJSON_IsString(type) ? type->valuestring : "";
                if (strcmp(ts, "image_url") == 0 || strcmp(ts, "image") == 0 ||
                    strcmp(ts, "input_image") == 0) {
                    r->need_caps |= GR_CAP_VISION;
                    r->prompt_tokens += IMAGE_TOKENS;
                } else {
                    const cJSON *text = cJSON_GetObjectItemCaseSensitive(part, "text");
                    if (cJSON_IsString(text))
                        r->prompt_tokens += text_tokens(text->valuestring);
                }
            }
        }
        const cJSON *tc = cJSON_GetObjectItemCaseSensitive(m, "tool_calls");
        if (cJSON_IsArray(tc) && cJSON_GetArraySize(tc) > 0)
            r->need_caps |= GR_CAP_TOOLS;
    }
    const cJSON *prompt = cJSON_GetObjectItemCaseSensitive(body, "prompt");
    if (cJSON_IsString(prompt))
        r->prompt_tokens += text_tokens(prompt->valuestring);
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(body, "max_completion_tokens");
    if (!cJSON_IsNumber(mt))
        mt = cJSON_GetObjectItemCaseSensitive(body, "max_tokens");
    if (cJSON_IsNumber(mt) && mt->valuedouble > 0)
        r->max_output_tokens =
            mt->valuedouble > 4e9 ? 4000000000u : (uint32_t)mt->valuedouble;
    if (msgs || prompt)
        r->need_caps |= GR_CAP_CHAT;
    return GR_OK;
}
