/* api_schemas.c — the JSON Schemas of the model API's bodies (api_schemas.h). */
#include "api_schemas.h"

/* {"type": t} */
static cJSON *typed(const char *t) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", t);
    return o;
}

/* An object schema with the given required property names (NULL-terminated). */
static cJSON *object_schema(const char *const *required) {
    cJSON *o = typed("object");
    cJSON_AddObjectToObject(o, "properties");
    cJSON *req = cJSON_AddArrayToObject(o, "required");
    for (size_t i = 0; required && required[i]; i++) cJSON_AddItemToArray(req, cJSON_CreateString(required[i]));
    cJSON_AddTrueToObject(o, "additionalProperties");
    return o;
}

static void prop(cJSON *schema, const char *name, cJSON *sub) {
    cJSON_AddItemToObject(cJSON_GetObjectItemCaseSensitive(schema, "properties"), name, sub);
}

/* a string or an array of them (prompt, input, content) */
static cJSON *string_or_array(void) {
    cJSON *o = cJSON_CreateObject();
    cJSON *any = cJSON_AddArrayToObject(o, "oneOf");
    cJSON_AddItemToArray(any, typed("string"));
    cJSON_AddItemToArray(any, typed("array"));
    return o;
}

static cJSON *messages_schema(void) {
    static const char *const req[] = {"role", "content", NULL};
    cJSON *item = object_schema(req);
    prop(item, "role", typed("string"));
    prop(item, "content", string_or_array());
    cJSON *arr = typed("array");
    cJSON_AddNumberToObject(arr, "minItems", 1);
    cJSON_AddItemToObject(arr, "items", item);
    return arr;
}

static cJSON *max_tokens_schema(void) {
    cJSON *s = typed("integer");
    cJSON_AddNumberToObject(s, "minimum", 1);
    return s;
}

cJSON *gr_api_request_schema(gr_endpoint ep) {
    static const char *const chat[] = {"model", "messages", NULL}, *const comp[] = {"model", "prompt", NULL},
                             *const emb[] = {"model", "input", NULL},
                             *const msgs[] = {"model", "messages", "max_tokens", NULL},
                             *const resp[] = {"model", "input", NULL};
    cJSON *s = NULL;
    switch (ep) {
    case GR_EP_CHAT:
    case GR_EP_ROUTE:
        s = object_schema(chat);
        prop(s, "messages", messages_schema());
        prop(s, "max_tokens", max_tokens_schema());
        prop(s, "stream", typed("boolean"));
        break;
    case GR_EP_COMPLETIONS:
        s = object_schema(comp);
        prop(s, "prompt", string_or_array());
        prop(s, "max_tokens", max_tokens_schema());
        prop(s, "stream", typed("boolean"));
        break;
    case GR_EP_EMBEDDINGS:
        s = object_schema(emb);
        prop(s, "input", string_or_array());
        break;
    case GR_EP_MESSAGES:
        s = object_schema(msgs);
        prop(s, "messages", messages_schema());
        prop(s, "max_tokens", max_tokens_schema());
        prop(s, "system", cJSON_CreateObject());
        prop(s, "stream", typed("boolean"));
        break;
    case GR_EP_RESPONSES:
        s = object_schema(resp);
        prop(s, "input", string_or_array());
        prop(s, "instructions", typed("string"));
        prop(s, "max_output_tokens", max_tokens_schema());
        prop(s, "stream", typed("boolean"));
        break;
    case GR_EP_OTHER:
        return NULL;
    }
    prop(s, "model", typed("string"));
    return s;
}

cJSON *gr_api_reply_schema(gr_endpoint ep) {
    static const char *const oai[] = {"id", "object", "choices", NULL}, *const emb[] = {"object", "data", NULL},
                             *const ant[] = {"id", "type", "content", NULL},
                             *const resp[] = {"id", "object", "output", NULL};
    cJSON *s = NULL;
    switch (ep) {
    case GR_EP_CHAT:
    case GR_EP_COMPLETIONS:
    case GR_EP_ROUTE:
        s = object_schema(oai);
        prop(s, "id", typed("string"));
        prop(s, "object", typed("string"));
        prop(s, "choices", typed("array"));
        prop(s, "usage", typed("object"));
        break;
    case GR_EP_EMBEDDINGS:
        s = object_schema(emb);
        prop(s, "object", typed("string"));
        prop(s, "data", typed("array"));
        prop(s, "usage", typed("object"));
        break;
    case GR_EP_MESSAGES:
        s = object_schema(ant);
        prop(s, "id", typed("string"));
        prop(s, "type", typed("string"));
        prop(s, "content", typed("array"));
        prop(s, "usage", typed("object"));
        break;
    case GR_EP_RESPONSES:
        s = object_schema(resp);
        prop(s, "id", typed("string"));
        prop(s, "object", typed("string"));
        prop(s, "output", typed("array"));
        prop(s, "usage", typed("object"));
        break;
    case GR_EP_OTHER:
        return NULL;
    }
    return s;
}

cJSON *gr_api_request_example(gr_endpoint ep, const char *model, int64_t max_tokens) {
    if (ep == GR_EP_OTHER) return NULL;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model", model ? model : "");
    if (ep == GR_EP_COMPLETIONS) {
        cJSON_AddStringToObject(o, "prompt", "Say hello.");
    } else if (ep == GR_EP_EMBEDDINGS) {
        cJSON_AddStringToObject(o, "input", "hello");
        return o;
    } else if (ep == GR_EP_RESPONSES) {
        cJSON_AddStringToObject(o, "input", "Say hello.");
        if (max_tokens > 0) cJSON_AddNumberToObject(o, "max_output_tokens", (double)max_tokens);
        return o;
    } else {
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "role", "user");
        cJSON_AddStringToObject(m, "content", "Say hello.");
        cJSON_AddItemToArray(cJSON_AddArrayToObject(o, "messages"), m);
    }
    if (max_tokens > 0) cJSON_AddNumberToObject(o, "max_tokens", (double)max_tokens);
    return o;
}

const char *gr_api_summary(gr_endpoint ep) {
    switch (ep) {
    case GR_EP_CHAT: return "OpenAI chat completion (streaming with stream: true)";
    case GR_EP_COMPLETIONS: return "OpenAI legacy text completion";
    case GR_EP_EMBEDDINGS: return "OpenAI embeddings";
    case GR_EP_MESSAGES: return "Anthropic Messages API";
    case GR_EP_ROUTE: return "the routing decision for a chat request, without calling a model";
    case GR_EP_RESPONSES: return "OpenAI Responses API (streaming with stream: true)";
    case GR_EP_OTHER: break;
    }
    return "";
}
