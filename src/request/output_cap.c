/* output_cap.c — the output-token cap each upstream attempt carries (x402's
 * paid cap, or the output a key's budget hold reserved); see output_cap.h. */
#include "output_cap.h"

#include "meter.h"

static const char *const cap_fields[] = {"max_completion_tokens", "max_tokens", "max_output_tokens"};

bool gr_output_cap_named(const cJSON *body) {
    for (size_t i = 0; i < GR_ARRAY_LEN(cap_fields); i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, cap_fields[i]);
        if (cJSON_IsNumber(v) && v->valuedouble >= 1) return true;
    }
    return false;
}

static void set_number(cJSON *tree, const char *field, int64_t v) {
    cJSON_DeleteItemFromObjectCaseSensitive(tree, field);
    cJSON_AddNumberToObject(tree, field, (double)v);
}

bool gr_output_cap_apply(gr_request *r, cJSON *tree, const char *field) {
    return gr_output_cap_apply_for(r, r->model, tree, field);
}

bool gr_output_cap_apply_for(gr_request *r, const gr_model_conf *model, cJSON *tree, const char *field) {
    if (!tree || r->count_tokens) return false;
    if (r->cap_max_tokens > 0) { /* x402: no larger than what was paid */
        if (!field)
            field = cJSON_GetObjectItemCaseSensitive(tree, "max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
        const cJSON *cur = cJSON_GetObjectItemCaseSensitive(tree, field);
        if (cJSON_IsNumber(cur) && cur->valuedouble > 0 && cur->valuedouble <= (double)r->cap_max_tokens) return false;
        set_number(tree, field, r->cap_max_tokens);
        return true;
    }
    if (!r->default_output_cap || !model) return false;
    /* what the hold reserved for this call's model (admit_keys.c), set on
     * every attempt: a fallback's model may allow a different maximum */
    if (!field) field = r->ep == GR_EP_COMPLETIONS ? "max_tokens" : "max_completion_tokens";
    int64_t cap = gr_meter_request_max_output(NULL, model->max_output_tokens);
    const cJSON *cur = cJSON_GetObjectItemCaseSensitive(tree, field);
    if (cJSON_IsNumber(cur) && cur->valuedouble == (double)cap) return false;
    set_number(tree, field, cap);
    return true;
}
