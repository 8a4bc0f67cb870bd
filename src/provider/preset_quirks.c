/* preset_quirks.c — applies a provider preset's quirk table to a canonical
 * chat request before the OpenAI-compatible fast path forwards it. */
#include "preset_quirks.h"

#include <stdio.h>
#include <string.h>

static bool short_id_ok(const char *id) {
    if (strlen(id) != 9) return false;
    for (const char *c = id; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9'))) return false;
    return true;
}

void gr_preset_short_tool_id(const char *id, char out[10]) {
    if (short_id_ok(id)) {
        memcpy(out, id, 10);
        return;
    }
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    uint64_t h = 1469598103934665603ull; /* FNV-1a 64: 62^9 ids, collisions need ~10^8 ids in one conversation */
    for (const unsigned char *c = (const unsigned char *)id; *c; c++) h = (h ^ *c) * 1099511628211ull;
    for (int i = 0; i < 9; i++) {
        out[i] = alphabet[h % 62];
        h /= 62;
    }
    out[9] = '\0';
}

static void map_id(cJSON *obj, const char *key) {
    cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsString(v) || short_id_ok(v->valuestring)) return;
    char id[10];
    gr_preset_short_tool_id(v->valuestring, id);
    cJSON_SetValuestring(v, id);
}

/* Renames `from` to `to`; when the client sent both and both are numbers
 * (max_completion_tokens and max_tokens), the smaller wins — a cap the
 * gateway put on either one must hold. */
static void rename_field(cJSON *body, const gr_field_rename *rn) {
    cJSON *from = cJSON_DetachItemFromObjectCaseSensitive(body, rn->from);
    if (!from) return;
    cJSON *to = cJSON_GetObjectItemCaseSensitive(body, rn->to);
    if (!to) {
        cJSON_AddItemToObject(body, rn->to, from);
        return;
    }
    if (cJSON_IsNumber(from) && cJSON_IsNumber(to) && from->valuedouble < to->valuedouble)
        cJSON_ReplaceItemInObjectCaseSensitive(body, rn->to, from);
    else
        cJSON_Delete(from);
}

static bool model_is(const char *model, const char *prefix) {
    return model && !strncmp(model, prefix, strlen(prefix));
}

/* xAI (docs.x.ai, "Reasoning"): grok-3-mini takes reasoning_effort low|high
 * only; grok-4 and its fast/code variants refuse reasoning_effort; both
 * refuse presence_penalty, frequency_penalty and stop. Later models
 * (grok-4.x) and the *-non-reasoning variants are left as sent. */
static void xai_reasoning(cJSON *body) {
    const char *model = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(body, "model"));
    if (!model || strstr(model, "non-reasoning")) return;
    bool mini = model_is(model, "grok-3-mini");
    bool grok4 = !strcmp(model, "grok-4") || model_is(model, "grok-4-") || model_is(model, "grok-code-fast");
    if (!mini && !grok4) return;
    cJSON_DeleteItemFromObjectCaseSensitive(body, "presence_penalty");
    cJSON_DeleteItemFromObjectCaseSensitive(body, "frequency_penalty");
    cJSON_DeleteItemFromObjectCaseSensitive(body, "stop");
    cJSON *effort = cJSON_GetObjectItemCaseSensitive(body, "reasoning_effort");
    if (!effort) return;
    const char *e = cJSON_GetStringValue(effort);
    if (grok4 || !e || !strcmp(e, "none"))
        cJSON_DeleteItemFromObjectCaseSensitive(body, "reasoning_effort");
    else if (!strcmp(e, "minimal"))
        cJSON_SetValuestring(effort, "low");
    else if (!strcmp(e, "medium") || !strcmp(e, "xhigh"))
        cJSON_SetValuestring(effort, "high");
}

bool gr_preset_alias_reasoning(cJSON *response) {
    bool changed = false;
    cJSON *choice;
    cJSON_ArrayForEach(choice, cJSON_GetObjectItemCaseSensitive(response, "choices")) {
        static const char *const holders[] = {"message", "delta"};
        for (size_t i = 0; i < 2; i++) {
            cJSON *h = cJSON_GetObjectItemCaseSensitive(choice, holders[i]);
            cJSON *v = cJSON_GetObjectItemCaseSensitive(h, "reasoning");
            if (!cJSON_IsString(v)) continue;
            cJSON_DetachItemViaPointer(h, v);
            if (cJSON_GetObjectItemCaseSensitive(h, "reasoning_content")) cJSON_Delete(v);
            else cJSON_AddItemToObject(h, "reasoning_content", v);
            changed = true;
        }
    }
    return changed;
}

void gr_preset_drop_message_field(cJSON *body, const char *field) {
    cJSON *msg;
    cJSON_ArrayForEach(msg, cJSON_GetObjectItemCaseSensitive(body, "messages"))
        if (cJSON_IsObject(msg)) cJSON_DeleteItemFromObjectCaseSensitive(msg, field);
}

gr_status gr_preset_rewrite(const gr_provider_preset *p, cJSON *body, gr_upstream_error *err) {
    if (!p || !cJSON_IsObject(body)) return GR_OK;
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(body, "n");
    if (p->single_choice && cJSON_IsNumber(n) && n->valuedouble != 1) {
        err->status = 400;
        err->type = "invalid_request_error";
        err->code = "unsupported_parameter";
        snprintf(err->message, sizeof err->message,
                 "n: this deployment (preset %s) returns one choice per request; n must be 1", p->name);
        return GR_ERR_INVALID;
    }
    for (size_t i = 0; p->drop_fields && p->drop_fields[i]; i++)
        cJSON_DeleteItemFromObjectCaseSensitive(body, p->drop_fields[i]);
    if (!p->stream_options) cJSON_DeleteItemFromObjectCaseSensitive(body, "stream_options");
    for (size_t i = 0; p->renames && p->renames[i].from; i++) rename_field(body, &p->renames[i]);
    cJSON *msg;
    cJSON_ArrayForEach(msg, cJSON_GetObjectItemCaseSensitive(body, "messages")) {
        if (!cJSON_IsObject(msg)) continue;
        for (size_t i = 0; p->drop_message_fields && p->drop_message_fields[i]; i++)
            cJSON_DeleteItemFromObjectCaseSensitive(msg, p->drop_message_fields[i]);
        if (!p->short_tool_ids) continue;
        map_id(msg, "tool_call_id");
        cJSON *call;
        cJSON_ArrayForEach(call, cJSON_GetObjectItemCaseSensitive(msg, "tool_calls"))
            if (cJSON_IsObject(call)) map_id(call, "id");
    }
    if (p->ask_usage_object && !cJSON_GetObjectItemCaseSensitive(body, "usage"))
        cJSON_AddItemToObject(cJSON_AddObjectToObject(body, "usage"), "include", cJSON_CreateTrue());
    if (p->hook == GR_PRESET_HOOK_XAI_REASONING) xai_reasoning(body);
    return GR_OK;
}
