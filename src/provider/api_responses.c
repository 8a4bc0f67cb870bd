/* api_responses.c — inbound OpenAI Responses API: request, response and
 * stream translation to and from the canonical OpenAI chat shape (see
 * api_responses.h; field mapping in docs/PROVIDERS.md). */
#include "api_responses.h"
#include "provider_native.h"

#include <stdio.h>
#include <stdlib.h>

const char *const gr_responses_dropped_tools[] = {
    "web_search", "web_search_preview", "web_search_preview_2025_03_11", "file_search", "computer_use_preview",
    "code_interpreter", "image_generation", "mcp", "local_shell", "namespace", "custom", NULL};

static bool dropped_tool(const char *type) {
    for (size_t i = 0; gr_responses_dropped_tools[i]; i++)
        if (!strcmp(type, gr_responses_dropped_tools[i])) return true;
    return false;
}

/* Fields of the router (route.c's gr_route_gateway_fields) carried over. */
static const char *const k_gateway_fields[] = {"models", "provider", "route", "transforms", NULL};

static gr_status bad(gr_upstream_error *err, const char *param, const char *fmt, const char *arg) {
    gr_provider_error_set(err, 400, "invalid_request_error", fmt, arg ? arg : "");
    if (param) {
        snprintf(err->code_buf, sizeof(err->code_buf), "%s", param);
        err->code = err->code_buf;
    }
    return GR_ERR_INVALID;
}

/* ---- reasoning carried through the client: encrypted_content ----
 * "gr1:" + {"t": the reasoning text, "s": the provider's signature (Anthropic
 * thinking), when it gave one}. Opaque to clients; the gateway reads it back
 * when the item returns in `input` (Codex sends every item back, store: false). */

#define ENC_PREFIX "gr1:"

static char *pack_reasoning(const char *text, const char *sig) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "t", text ? text : "");
    if (sig && sig[0]) cJSON_AddStringToObject(o, "s", sig);
    char *j = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    size_t n = strlen(ENC_PREFIX) + strlen(j) + 1;
    char *out = gr_xmalloc(n);
    snprintf(out, n, "%s%s", ENC_PREFIX, j);
    cJSON_free(j);
    return out;
}

/* The reasoning a returning item carries, attached to the assistant turn it
 * preceded (reasoning_content + reasoning_signature); foreign content
 * (another service's encrypted_content) is ignored. */
static void attach_reasoning(const cJSON *item, cJSON *assistant) {
    const char *enc = gr_provider_get_str(item, "encrypted_content");
    if (!enc || strncmp(enc, ENC_PREFIX, strlen(ENC_PREFIX)) || gr_provider_get(assistant, "reasoning_content")) return;
    cJSON *o = cJSON_Parse(enc + strlen(ENC_PREFIX));
    const char *t = gr_provider_get_str(o, "t"), *sig = gr_provider_get_str(o, "s");
    if (t) cJSON_AddStringToObject(assistant, "reasoning_content", t);
    if (t && sig) cJSON_AddStringToObject(assistant, "reasoning_signature", sig);
    cJSON_Delete(o);
}

bool gr_responses_wants_encrypted_reasoning(const cJSON *req) {
    const cJSON *it;
    cJSON_ArrayForEach(it, gr_provider_get(req, "include"))
        if (cJSON_IsString(it) && !strcmp(it->valuestring, "reasoning.encrypted_content")) return true;
    return false;
}

/* ---- request: Responses -> canonical ---- */

static cJSON *text_part(const char *t) {
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "type", "text");
    cJSON_AddStringToObject(p, "text", t ? t : "");
    return p;
}

/* One content part of a message item -> canonical part; NULL with err set
 * when it cannot be carried. */
static cJSON *content_part(const cJSON *p, gr_upstream_error *err) {
    const char *type = gr_provider_get_str(p, "type");
    if (!type) {
        bad(err, "input", "every content part needs a type%s", NULL);
        return NULL;
    }
    if (!strcmp(type, "input_text") || !strcmp(type, "output_text") || !strcmp(type, "text"))
        return text_part(gr_provider_get_str(p, "text"));
    if (!strcmp(type, "refusal")) return text_part(gr_provider_get_str(p, "refusal"));
    if (!strcmp(type, "input_image")) {
        const char *url = gr_provider_get_str(p, "image_url");
        if (!url) {
            bad(err, "input", "input_image needs image_url (file_id is not supported by this gateway)%s", NULL);
            return NULL;
        }
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "type", "image_url");
        cJSON *iu = cJSON_AddObjectToObject(o, "image_url");
        cJSON_AddStringToObject(iu, "url", url);
        const char *detail = gr_provider_get_str(p, "detail");
        if (detail) cJSON_AddStringToObject(iu, "detail", detail);
        return o;
    }
    if (!strcmp(type, "input_file")) {
        const char *data = gr_provider_get_str(p, "file_data");
        if (!data) {
            bad(err, "input", "input_file needs file_data (file_id and file_url are not supported by this gateway)%s",
                NULL);
            return NULL;
        }
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "type", "file");
        cJSON *f = cJSON_AddObjectToObject(o, "file");
        cJSON_AddStringToObject(f, "file_data", data);
        const char *name = gr_provider_get_str(p, "filename");
        if (name) cJSON_AddStringToObject(f, "filename", name);
        return o;
    }
    bad(err, "input", "content part type '%s' is not supported", type);
    return NULL;
}

/* The text of a function_call_output's output: a string, or parts whose
 * texts (input_text / output_text) are joined; other parts (images, files)
 * have no place in a canonical tool message and are left out. */
static char *output_text_of(const cJSON *output) {
    if (cJSON_IsString(output)) return gr_xstrdup(output->valuestring);
    size_t len = 0;
    char *out = gr_xstrdup("");
    const cJSON *p;
    cJSON_ArrayForEach(p, output) {
        const char *t = gr_provider_get_str(p, "text");
        if (!t) continue;
        size_t n = strlen(t);
        out = gr_xrealloc(out, len + n + 1);
        memcpy(out + len, t, n + 1);
        len += n;
    }
    return out;
}

/* The assistant message that function_call items attach to: the last
 * message when it is an assistant turn (no tool result after it). */
static cJSON *open_assistant(cJSON *msgs) {
    int n = cJSON_GetArraySize(msgs);
    cJSON *last = n ? cJSON_GetArrayItem(msgs, n - 1) : NULL;
    const char *role = gr_provider_get_str(last, "role");
    if (role && !strcmp(role, "assistant")) return last;
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", "assistant");
    cJSON_AddNullToObject(m, "content");
    cJSON_AddItemToArray(msgs, m);
    return m;
}

static gr_status message_item(const cJSON *it, cJSON *msgs, gr_upstream_error *err) {
    const char *role = gr_provider_get_str(it, "role");
    if (!role || (strcmp(role, "user") && strcmp(role, "assistant") && strcmp(role, "system") && strcmp(role, "developer")))
        return bad(err, "input", "message role must be 'user', 'assistant', 'system' or 'developer'%s", NULL);
    const cJSON *content = gr_provider_get(it, "content");
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", !strcmp(role, "developer") ? "system" : role);
    if (cJSON_IsString(content)) {
        cJSON_AddStringToObject(m, "content", content->valuestring);
    } else if (cJSON_IsArray(content)) {
        bool text_only = strcmp(role, "user") != 0; /* assistant and system turns: text */
        cJSON *parts = cJSON_CreateArray();
        const cJSON *p;
        cJSON_ArrayForEach(p, content) {
            cJSON *cp = content_part(p, err);
            if (!cp) {
                cJSON_Delete(parts);
                cJSON_Delete(m);
                return GR_ERR_INVALID;
            }
            cJSON_AddItemToArray(parts, cp);
        }
        if (text_only) {
            char *t = gr_provider_content_text(parts);
            cJSON_AddStringToObject(m, "content", t ? t : "");
            free(t);
            cJSON_Delete(parts);
        } else {
            cJSON_AddItemToObject(m, "content", parts);
        }
    } else {
        cJSON_Delete(m);
        return bad(err, "input", "message content must be a string or an array of parts%s", NULL);
    }
    cJSON_AddItemToArray(msgs, m);
    return GR_OK;
}

bool gr_responses_ref_response_id(const char *item_id, char *out, size_t cap) {
    const char *base;
    if (!strncmp(item_id, "msg_", 4)) base = item_id + 4;
    else if (!strncmp(item_id, "fc_", 3)) base = item_id + 3;
    else return false;
    size_t n = strspn(base, "0123456789abcdef");
    if (!n || (base[n] && base[n] != '_') || n + 6 > cap) return false;
    snprintf(out, cap, "resp_%.*s", (int)n, base);
    return true;
}

bool gr_responses_has_stored_refs(const cJSON *req) {
    const cJSON *it;
    cJSON_ArrayForEach(it, gr_provider_get(req, "input")) {
        const char *type = gr_provider_get_str(it, "type"), *id = gr_provider_get_str(it, "id");
        char resp_id[GR_RESPONSES_ID_MAX];
        if (type && !strcmp(type, "item_reference") && id && gr_responses_ref_response_id(id, resp_id, sizeof resp_id))
            return true;
    }
    return false;
}

static gr_status item_to_messages(const cJSON *it, cJSON *msgs, gr_upstream_error *err) {
    if (!cJSON_IsObject(it)) return bad(err, "input", "every input item must be an object%s", NULL);
    const char *type = gr_provider_get_str(it, "type");
    if (!type || !strcmp(type, "message")) return message_item(it, msgs, err);
    if (!strcmp(type, "function_call")) {
        const char *call_id = gr_provider_get_str(it, "call_id");
        const char *name = gr_provider_get_str(it, "name");
        if (!call_id || !name) return bad(err, "input", "function_call items need call_id and name%s", NULL);
        const char *args = gr_provider_get_str(it, "arguments");
        cJSON *a = open_assistant(msgs);
        cJSON *tcs = cJSON_GetObjectItemCaseSensitive(a, "tool_calls");
        if (!tcs) tcs = cJSON_AddArrayToObject(a, "tool_calls");
        cJSON *tc = cJSON_CreateObject();
        cJSON_AddStringToObject(tc, "id", call_id);
        cJSON_AddStringToObject(tc, "type", "function");
        cJSON *fn = cJSON_AddObjectToObject(tc, "function");
        cJSON_AddStringToObject(fn, "name", name);
        cJSON_AddStringToObject(fn, "arguments", args ? args : "{}");
        cJSON_AddItemToArray(tcs, tc);
        return GR_OK;
    }
    if (!strcmp(type, "function_call_output")) {
        const char *call_id = gr_provider_get_str(it, "call_id");
        if (!call_id) return bad(err, "input", "function_call_output items need call_id%s", NULL);
        char *t = output_text_of(gr_provider_get(it, "output"));
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "role", "tool");
        cJSON_AddStringToObject(m, "tool_call_id", call_id);
        cJSON_AddStringToObject(m, "content", t ? t : "");
        free(t);
        cJSON_AddItemToArray(msgs, m);
        return GR_OK;
    }
    if (!strcmp(type, "reasoning")) return GR_OK; /* no canonical input field: the model reasons anew */
    /* Codex, for OpenAI's own newest models, offers its tools in an input item
     * (custom / freeform tools in namespaces): nothing an upstream here can be
     * offered, so dropped knowingly like hosted tools in `tools` */
    if (!strcmp(type, "additional_tools")) return GR_OK;
    if (!strcmp(type, "item_reference")) {
        /* A stored reasoning item, by id (the AI SDK's default, store: true,
         * on reasoning models): a reasoning item in full is dropped above, so
         * its reference is too. A message or function call the gateway stored
         * is substituted from the store before routing (responses_state.c);
         * the first translation, before that, skips it. Ids the gateway never
         * hands out are refused. */
        const char *id = gr_provider_get_str(it, "id");
        char resp_id[GR_RESPONSES_ID_MAX];
        if (id && !strncmp(id, "rs_", 3)) return GR_OK;
        if (id && gr_responses_ref_response_id(id, resp_id, sizeof resp_id)) return GR_OK;
        return bad(err, "input",
                   "item_reference items must name an item this gateway stored (msg_..., fc_..., rs_...): send the "
                   "item itself, or continue with previous_response_id%s",
                   NULL);
    }
    return bad(err, "input", "input item type '%s' is not supported", type);
}

static gr_status items_to_messages(const cJSON *items, cJSON *msgs, gr_upstream_error *err) {
    const cJSON *it, *reasoning = NULL; /* the reasoning item before the assistant turn it belongs to */
    cJSON_ArrayForEach(it, items) {
        gr_status rc = item_to_messages(it, msgs, err);
        if (rc != GR_OK) return rc;
        const char *type = gr_provider_get_str(it, "type");
        const char *role = gr_provider_get_str(it, "role");
        if (type && !strcmp(type, "reasoning")) {
            reasoning = it;
            continue;
        }
        bool assistant = (type && !strcmp(type, "function_call")) || (role && !strcmp(role, "assistant"));
        if (reasoning && assistant) attach_reasoning(reasoning, cJSON_GetArrayItem(msgs, cJSON_GetArraySize(msgs) - 1));
        reasoning = NULL;
    }
    return GR_OK;
}

static gr_status tools_to_canonical(const cJSON *req, cJSON *out, gr_upstream_error *err) {
    const cJSON *tools = gr_provider_get(req, "tools");
    if (tools && !cJSON_IsArray(tools) && !cJSON_IsNull(tools)) return bad(err, "tools", "tools must be an array%s", NULL);
    cJSON *ot = cJSON_CreateArray();
    const cJSON *t;
    cJSON_ArrayForEach(t, tools) {
        const char *type = gr_provider_get_str(t, "type");
        if (type && dropped_tool(type)) continue; /* hosted tools: documented, dropped */
        const char *name = gr_provider_get_str(t, "name");
        if (!type || strcmp(type, "function") || !name) {
            cJSON_Delete(ot);
            return bad(err, "tools", "tool type '%s' is not supported (function tools need a name)",
                       type ? type : "(none)");
        }
        cJSON *f = cJSON_CreateObject();
        cJSON_AddStringToObject(f, "type", "function");
        cJSON *fn = cJSON_AddObjectToObject(f, "function");
        cJSON_AddStringToObject(fn, "name", name);
        const char *d = gr_provider_get_str(t, "description");
        if (d) cJSON_AddStringToObject(fn, "description", d);
        const cJSON *params = gr_provider_get(t, "parameters");
        if (cJSON_IsObject(params)) cJSON_AddItemToObject(fn, "parameters", cJSON_Duplicate(params, 1));
        const cJSON *strict = gr_provider_get(t, "strict");
        if (cJSON_IsBool(strict)) cJSON_AddBoolToObject(fn, "strict", cJSON_IsTrue(strict));
        cJSON_AddItemToArray(ot, f);
    }
    if (cJSON_GetArraySize(ot) == 0) {
        cJSON_Delete(ot);
        return GR_OK; /* no function tool left: no tool_choice either */
    }
    cJSON_AddItemToObject(out, "tools", ot);
    const cJSON *tc = gr_provider_get(req, "tool_choice");
    if (cJSON_IsString(tc)) {
        if (strcmp(tc->valuestring, "auto") && strcmp(tc->valuestring, "none") && strcmp(tc->valuestring, "required"))
            return bad(err, "tool_choice", "tool_choice '%s' is not one of auto, none, required", tc->valuestring);
        cJSON_AddStringToObject(out, "tool_choice", tc->valuestring);
    } else if (cJSON_IsObject(tc)) {
        const char *tct = gr_provider_get_str(tc, "type");
        const char *name = gr_provider_get_str(tc, "name");
        if (!tct || strcmp(tct, "function") || !name)
            return bad(err, "tool_choice", "tool_choice of type '%s' is not supported (only function with a name)",
                       tct ? tct : "(none)");
        cJSON *o = cJSON_AddObjectToObject(out, "tool_choice");
        cJSON_AddStringToObject(o, "type", "function");
        cJSON_AddStringToObject(cJSON_AddObjectToObject(o, "function"), "name", name);
    }
    const cJSON *ptc = gr_provider_get(req, "parallel_tool_calls");
    if (cJSON_IsBool(ptc)) cJSON_AddBoolToObject(out, "parallel_tool_calls", cJSON_IsTrue(ptc));
    return GR_OK;
}

static gr_status format_to_canonical(const cJSON *req, cJSON *out, gr_upstream_error *err) {
    const cJSON *fmt = gr_provider_get(gr_provider_get(req, "text"), "format");
    if (!fmt || cJSON_IsNull(fmt)) return GR_OK;
    const char *type = gr_provider_get_str(fmt, "type");
    if (!type) return bad(err, "text.format", "text.format needs a type%s", NULL);
    if (!strcmp(type, "text")) return GR_OK;
    if (!strcmp(type, "json_object")) {
        cJSON_AddStringToObject(cJSON_AddObjectToObject(out, "response_format"), "type", "json_object");
        return GR_OK;
    }
    if (!strcmp(type, "json_schema")) {
        const cJSON *schema = gr_provider_get(fmt, "schema");
        const char *name = gr_provider_get_str(fmt, "name");
        if (!cJSON_IsObject(schema) || !name)
            return bad(err, "text.format", "text.format of type json_schema needs name and schema%s", NULL);
        cJSON *rf = cJSON_AddObjectToObject(out, "response_format");
        cJSON_AddStringToObject(rf, "type", "json_schema");
        cJSON *js = cJSON_AddObjectToObject(rf, "json_schema");
        cJSON_AddStringToObject(js, "name", name);
        const char *d = gr_provider_get_str(fmt, "description");
        if (d) cJSON_AddStringToObject(js, "description", d);
        cJSON_AddItemToObject(js, "schema", cJSON_Duplicate(schema, 1));
        const cJSON *strict = gr_provider_get(fmt, "strict");
        if (cJSON_IsBool(strict)) cJSON_AddBoolToObject(js, "strict", cJSON_IsTrue(strict));
        return GR_OK;
    }
    return bad(err, "text.format", "text.format type '%s' is not one of text, json_object, json_schema", type);
}

gr_status gr_responses_to_canonical(const cJSON *req, const cJSON *history, cJSON **canonical, gr_upstream_error *err) {
    *canonical = NULL;
    if (!cJSON_IsObject(req)) return bad(err, NULL, "the request body must be a JSON object%s", NULL);
    const cJSON *model = gr_provider_get(req, "model");
    const cJSON *input = gr_provider_get(req, "input");
    if (!cJSON_IsString(input) && !cJSON_IsArray(input))
        return bad(err, "input", "'input' is required: a string or an array of items%s", NULL);
    const cJSON *instr = gr_provider_get(req, "instructions");
    if (instr && !cJSON_IsString(instr) && !cJSON_IsNull(instr))
        return bad(err, "instructions", "'instructions' must be a string%s", NULL);
    cJSON *out = cJSON_CreateObject();
    if (model) cJSON_AddItemToObject(out, "model", cJSON_Duplicate(model, 1));
    for (size_t i = 0; k_gateway_fields[i]; i++) {
        const cJSON *v = gr_provider_get(req, k_gateway_fields[i]);
        if (v) cJSON_AddItemToObject(out, k_gateway_fields[i], cJSON_Duplicate(v, 1));
    }
    cJSON *msgs = cJSON_AddArrayToObject(out, "messages");
    if (cJSON_IsString(instr) && instr->valuestring[0]) { /* this request's own: never carried over */
        cJSON *sm = cJSON_CreateObject();
        cJSON_AddStringToObject(sm, "role", "system");
        cJSON_AddStringToObject(sm, "content", instr->valuestring);
        cJSON_AddItemToArray(msgs, sm);
    }
    gr_status rc = history ? items_to_messages(history, msgs, err) : GR_OK;
    if (rc == GR_OK && cJSON_IsString(input)) {
        cJSON *um = cJSON_CreateObject();
        cJSON_AddStringToObject(um, "role", "user");
        cJSON_AddStringToObject(um, "content", input->valuestring);
        cJSON_AddItemToArray(msgs, um);
    } else if (rc == GR_OK) {
        rc = items_to_messages(input, msgs, err);
    }
    if (rc == GR_OK) rc = tools_to_canonical(req, out, err);
    if (rc == GR_OK) rc = format_to_canonical(req, out, err);
    if (rc != GR_OK) {
        cJSON_Delete(out);
        return rc;
    }
    const cJSON *v;
    if ((v = gr_provider_get(req, "max_output_tokens")) && !cJSON_IsNull(v)) {
        if (!cJSON_IsNumber(v) || v->valuedouble < 1) {
            cJSON_Delete(out);
            return bad(err, "max_output_tokens", "'max_output_tokens' must be an integer >= 1%s", NULL);
        }
        cJSON_AddNumberToObject(out, "max_completion_tokens", v->valuedouble);
    }
    if (cJSON_IsNumber(v = gr_provider_get(req, "temperature"))) cJSON_AddNumberToObject(out, "temperature", v->valuedouble);
    if (cJSON_IsNumber(v = gr_provider_get(req, "top_p"))) cJSON_AddNumberToObject(out, "top_p", v->valuedouble);
    const char *user = gr_provider_get_str(req, "user");
    if (user) cJSON_AddStringToObject(out, "user", user);
    const char *effort = gr_provider_get_str(gr_provider_get(req, "reasoning"), "effort");
    if (effort) cJSON_AddStringToObject(out, "reasoning_effort", effort);
    const cJSON *stream = gr_provider_get(req, "stream");
    if (stream) cJSON_AddItemToObject(out, "stream", cJSON_Duplicate(stream, 1)); /* PARSE checks its type */
    if (cJSON_IsTrue(stream)) cJSON_AddTrueToObject(cJSON_AddObjectToObject(out, "stream_options"), "include_usage");
    *canonical = out;
    return GR_OK;
}

cJSON *gr_responses_input_items(const cJSON *req, const char *id_prefix) {
    const cJSON *input = gr_provider_get(req, "input");
    cJSON *items;
    if (cJSON_IsString(input)) {
        items = cJSON_CreateArray();
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "type", "message");
        cJSON_AddStringToObject(m, "role", "user");
        cJSON *c = cJSON_AddArrayToObject(m, "content");
        cJSON *p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "type", "input_text");
        cJSON_AddStringToObject(p, "text", input->valuestring);
        cJSON_AddItemToArray(c, p);
        cJSON_AddItemToArray(items, m);
    } else if (cJSON_IsArray(input)) {
        items = cJSON_Duplicate(input, 1);
    } else {
        return NULL;
    }
    int n = 0;
    cJSON *it;
    cJSON_ArrayForEach(it, items) {
        if (!cJSON_IsObject(it)) continue;
        if (!cJSON_GetObjectItemCaseSensitive(it, "type")) cJSON_AddStringToObject(it, "type", "message");
        if (!gr_provider_get_str(it, "id")) {
            char id[160];
            snprintf(id, sizeof id, "%s_%d", id_prefix, n);
            cJSON_DeleteItemFromObjectCaseSensitive(it, "id");
            cJSON_AddStringToObject(it, "id", id);
        }
        n++;
    }
    return items;
}

/* ---- the Response object ---- */

/* "<prefix>_<id without resp_>" */
static char *item_id(const char *resp_id, const char *prefix, int n) {
    const char *base = strncmp(resp_id, "resp_", 5) ? resp_id : resp_id + 5;
    size_t len = strlen(base) + strlen(prefix) + 24;
    char *s = gr_xmalloc(len);
    if (n >= 0) snprintf(s, len, "%s_%s_%d", prefix, base, n);
    else snprintf(s, len, "%s_%s", prefix, base);
    return s;
}

static void echo(cJSON *o, const cJSON *req, const char *key, cJSON *dflt) {
    const cJSON *v = gr_provider_get(req, key);
    if (v) {
        cJSON_AddItemToObject(o, key, cJSON_Duplicate(v, 1));
        cJSON_Delete(dflt);
    } else {
        cJSON_AddItemToObject(o, key, dflt);
    }
}

/* The Response with everything but output, usage and status-dependent fields. */
static cJSON *response_skeleton(const gr_responses_call *call, const char *status) {
    const cJSON *req = call->request;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", call->id);
    cJSON_AddStringToObject(o, "object", "response");
    cJSON_AddNumberToObject(o, "created_at", (double)call->created_at);
    cJSON_AddStringToObject(o, "status", status);
    cJSON_AddFalseToObject(o, "background");
    cJSON_AddNullToObject(o, "error");
    cJSON_AddNullToObject(o, "incomplete_details");
    echo(o, req, "instructions", cJSON_CreateNull());
    echo(o, req, "max_output_tokens", cJSON_CreateNull());
    echo(o, req, "metadata", cJSON_CreateObject());
    cJSON_AddStringToObject(o, "model", call->model ? call->model : "");
    cJSON_AddArrayToObject(o, "output");
    echo(o, req, "parallel_tool_calls", cJSON_CreateTrue());
    echo(o, req, "previous_response_id", cJSON_CreateNull());
    const cJSON *rs = gr_provider_get(req, "reasoning");
    cJSON *ro = cJSON_AddObjectToObject(o, "reasoning");
    const cJSON *e = gr_provider_get(rs, "effort"), *sm = gr_provider_get(rs, "summary");
    cJSON_AddItemToObject(ro, "effort", e ? cJSON_Duplicate(e, 1) : cJSON_CreateNull());
    cJSON_AddItemToObject(ro, "summary", sm ? cJSON_Duplicate(sm, 1) : cJSON_CreateNull());
    echo(o, req, "store", cJSON_CreateTrue());
    echo(o, req, "temperature", cJSON_CreateNumber(1));
    cJSON *text = cJSON_CreateObject();
    cJSON_AddStringToObject(cJSON_AddObjectToObject(text, "format"), "type", "text");
    echo(o, req, "text", text);
    echo(o, req, "tool_choice", cJSON_CreateString("auto"));
    echo(o, req, "tools", cJSON_CreateArray());
    echo(o, req, "top_p", cJSON_CreateNumber(1));
    echo(o, req, "truncation", cJSON_CreateString("disabled"));
    echo(o, req, "user", cJSON_CreateNull());
    cJSON_AddNullToObject(o, "usage");
    return o;
}

/* Responses usage from a canonical usage object (cost copied). */
static cJSON *usage_json(const cJSON *canon_usage) {
    gr_usage u = {0};
    gr_provider_usage_from_json(canon_usage, &u);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "input_tokens", (double)u.prompt_tokens);
    cJSON_AddNumberToObject(cJSON_AddObjectToObject(o, "input_tokens_details"), "cached_tokens", (double)u.cached_tokens);
    cJSON_AddNumberToObject(o, "output_tokens", (double)u.completion_tokens);
    cJSON_AddNumberToObject(cJSON_AddObjectToObject(o, "output_tokens_details"), "reasoning_tokens",
                            (double)u.reasoning_tokens);
    cJSON_AddNumberToObject(o, "total_tokens", (double)(u.prompt_tokens + u.completion_tokens));
    const cJSON *cost = gr_provider_get(canon_usage, "cost");
    if (cost) cJSON_AddItemToObject(o, "cost", cJSON_Duplicate(cost, 1));
    if (cJSON_IsTrue(gr_provider_get(canon_usage, "cost_estimated"))) cJSON_AddTrueToObject(o, "cost_estimated");
    return o;
}

/* Sets status (+ incomplete_details) from a canonical finish_reason. */
static void set_outcome(cJSON *resp, const char *finish) {
    const char *why = finish && !strcmp(finish, "length")           ? "max_output_tokens"
                      : finish && !strcmp(finish, "content_filter") ? "content_filter"
                                                                    : NULL;
    cJSON_ReplaceItemInObjectCaseSensitive(resp, "status", cJSON_CreateString(why ? "incomplete" : "completed"));
    if (why) {
        cJSON *d = cJSON_CreateObject();
        cJSON_AddStringToObject(d, "reason", why);
        cJSON_ReplaceItemInObjectCaseSensitive(resp, "incomplete_details", d);
    }
}

static bool wants_summary(const cJSON *req) {
    const cJSON *sm = gr_provider_get(gr_provider_get(req, "reasoning"), "summary");
    return cJSON_IsString(sm);
}

static cJSON *reasoning_item(const char *id, const char *text) {
    cJSON *it = cJSON_CreateObject();
    cJSON_AddStringToObject(it, "id", id);
    cJSON_AddStringToObject(it, "type", "reasoning");
    cJSON *sum = cJSON_AddArrayToObject(it, "summary");
    if (text) {
        cJSON *p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "type", "summary_text");
        cJSON_AddStringToObject(p, "text", text);
        cJSON_AddItemToArray(sum, p);
    }
    return it;
}

static cJSON *output_text_part(const char *text) {
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "type", "output_text");
    cJSON_AddStringToObject(p, "text", text ? text : "");
    cJSON_AddArrayToObject(p, "annotations");
    cJSON_AddArrayToObject(p, "logprobs");
    return p;
}

static cJSON *message_item_out(const char *id, const char *status) {
    cJSON *it = cJSON_CreateObject();
    cJSON_AddStringToObject(it, "id", id);
    cJSON_AddStringToObject(it, "type", "message");
    cJSON_AddStringToObject(it, "status", status);
    cJSON_AddStringToObject(it, "role", "assistant");
    cJSON_AddArrayToObject(it, "content");
    return it;
}

static cJSON *function_call_item(const char *id, const char *status, const char *call_id, const char *name,
                                 const char *args) {
    cJSON *it = cJSON_CreateObject();
    cJSON_AddStringToObject(it, "id", id);
    cJSON_AddStringToObject(it, "type", "function_call");
    cJSON_AddStringToObject(it, "status", status);
    cJSON_AddStringToObject(it, "arguments", args ? args : "");
    cJSON_AddStringToObject(it, "call_id", call_id ? call_id : id);
    cJSON_AddStringToObject(it, "name", name ? name : "");
    return it;
}

gr_status gr_responses_from_canonical(const cJSON *chat, const gr_responses_call *call, cJSON **response,
                                      gr_upstream_error *err) {
    *response = NULL;
    const cJSON *ch = cJSON_GetArrayItem(gr_provider_get(chat, "choices"), 0);
    const cJSON *msg = gr_provider_get(ch, "message");
    if (!cJSON_IsObject(msg)) {
        gr_provider_bad_upstream(err, "upstream response has no choices[0].message");
        return GR_ERR_PARSE;
    }
    cJSON *o = response_skeleton(call, "completed");
    cJSON *output = cJSON_GetObjectItemCaseSensitive(o, "output");
    const char *reasoning = gr_provider_get_str(msg, "reasoning_content");
    bool summary = wants_summary(call->request), enc = gr_responses_wants_encrypted_reasoning(call->request);
    if (reasoning && reasoning[0] && (summary || enc)) {
        char *id = item_id(call->id, "rs", -1);
        cJSON *item = reasoning_item(id, summary ? reasoning : NULL);
        free(id);
        if (enc) {
            char *packed = pack_reasoning(reasoning, gr_provider_get_str(msg, "reasoning_signature"));
            cJSON_AddStringToObject(item, "encrypted_content", packed);
            free(packed);
        }
        cJSON_AddItemToArray(output, item);
    }
    char *text = gr_provider_content_text(gr_provider_get(msg, "content"));
    const char *refusal = gr_provider_get_str(msg, "refusal");
    if ((text && text[0]) || (refusal && refusal[0])) {
        char *id = item_id(call->id, "msg", -1);
        cJSON *m = message_item_out(id, "completed");
        free(id);
        cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        if (text && text[0]) {
            cJSON_AddItemToArray(content, output_text_part(text));
        } else {
            cJSON *p = cJSON_CreateObject();
            cJSON_AddStringToObject(p, "type", "refusal");
            cJSON_AddStringToObject(p, "refusal", refusal);
            cJSON_AddItemToArray(content, p);
        }
        cJSON_AddItemToArray(output, m);
    }
    free(text);
    int n = 0;
    const cJSON *tc;
    cJSON_ArrayForEach(tc, gr_provider_get(msg, "tool_calls")) {
        const cJSON *fn = gr_provider_get(tc, "function");
        char *id = item_id(call->id, "fc", n++);
        cJSON_AddItemToArray(output, function_call_item(id, "completed", gr_provider_get_str(tc, "id"),
                                                        gr_provider_get_str(fn, "name"),
                                                        gr_provider_get_str(fn, "arguments")));
        free(id);
    }
    set_outcome(o, gr_provider_get_str(ch, "finish_reason"));
    if (!strcmp(gr_provider_get_str(o, "status"), "incomplete")) /* the cut message too */
        cJSON_ArrayForEach(tc, output) if (!strcmp(gr_provider_get_str(tc, "type"), "message"))
            cJSON_ReplaceItemInObjectCaseSensitive((cJSON *)tc, "status", cJSON_CreateString("incomplete"));
    cJSON_ReplaceItemInObjectCaseSensitive(o, "usage", usage_json(gr_provider_get(chat, "usage")));
    *response = o;
    return GR_OK;
}

/* ---- stream: canonical chunks -> Responses events ---- */

enum { ITEM_NONE, ITEM_REASONING, ITEM_MESSAGE, ITEM_TOOL };

struct gr_responses_stream {
    cJSON *resp;   /* the Response being built (its output grows) */
    char *id;
    bool summary;  /* reasoning.summary asked: reasoning items are shown */
    bool encrypted; /* include: reasoning.encrypted_content: reasoning items carry it */
    char *rtext, *rsig; /* the open reasoning item's text and signature (for encrypted_content) */
    bool started, ended;
    int64_t seq;
    int open, open_index; /* the open item's kind and output_index */
    int open_tool;        /* canonical tool_calls index of the open function_call */
    int ntools;
    const char *finish;   /* static string */
    cJSON *usage;         /* the last canonical usage seen */
};

gr_responses_stream *gr_responses_stream_new(const gr_responses_call *call) {
    gr_responses_stream *s = gr_xcalloc(1, sizeof(*s));
    s->resp = response_skeleton(call, "in_progress");
    s->id = gr_xstrdup(call->id);
    s->summary = wants_summary(call->request);
    s->encrypted = gr_responses_wants_encrypted_reasoning(call->request);
    s->open_tool = -1;
    s->open_index = -1;
    return s;
}

void gr_responses_stream_free(gr_responses_stream *s) {
    if (!s) return;
    cJSON_Delete(s->resp);
    cJSON_Delete(s->usage);
    free(s->rtext);
    free(s->rsig);
    free(s->id);
    free(s);
}

const cJSON *gr_responses_stream_response(const gr_responses_stream *s) { return s ? s->resp : NULL; }

/* Sends data (consumed) as event `type`, with type and sequence_number set. */
static gr_status send(gr_responses_stream *s, const char *type, cJSON *data, gr_responses_emit_fn emit, void *ud) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", type);
    cJSON_AddNumberToObject(o, "sequence_number", (double)s->seq++);
    for (cJSON *c = data->child; c;) { /* move data's members after type and sequence_number */
        cJSON *next = c->next;
        cJSON_AddItemToObject(o, c->string, cJSON_DetachItemViaPointer(data, c));
        c = next;
    }
    cJSON_Delete(data);
    char *t = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!t) return GR_ERR_NOMEM;
    int rc = emit ? emit(ud, type, t, strlen(t)) : 0;
    cJSON_free(t);
    return rc ? GR_ERR_IO : GR_OK;
}

static gr_status send_response(gr_responses_stream *s, const char *type, gr_responses_emit_fn emit, void *ud) {
    cJSON *d = cJSON_CreateObject();
    cJSON_AddItemToObject(d, "response", cJSON_Duplicate(s->resp, 1));
    return send(s, type, d, emit, ud);
}

static gr_status start(gr_responses_stream *s, gr_responses_emit_fn emit, void *ud) {
    if (s->started) return GR_OK;
    s->started = true;
    gr_status rc = send_response(s, "response.created", emit, ud);
    return rc ? rc : send_response(s, "response.in_progress", emit, ud);
}

static cJSON *output_at(gr_responses_stream *s, int i) {
    return cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(s->resp, "output"), i);
}

static cJSON *event_at(gr_responses_stream *s, int index) {
    cJSON *d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "item_id", gr_provider_get_str(output_at(s, index), "id"));
    cJSON_AddNumberToObject(d, "output_index", index);
    return d;
}

static gr_status close_item(gr_responses_stream *s, gr_responses_emit_fn emit, void *ud) {
    if (s->open == ITEM_NONE) return GR_OK;
    int idx = s->open_index, kind = s->open;
    s->open = ITEM_NONE;
    s->open_tool = -1;
    cJSON *item = output_at(s, idx);
    gr_status rc = GR_OK;
    if (kind == ITEM_MESSAGE) {
        cJSON *part = cJSON_GetArrayItem(gr_provider_get(item, "content"), 0);
        cJSON *d = event_at(s, idx);
        cJSON_AddNumberToObject(d, "content_index", 0);
        cJSON_AddStringToObject(d, "text", gr_provider_get_str(part, "text"));
        cJSON_AddArrayToObject(d, "logprobs");
        if ((rc = send(s, "response.output_text.done", d, emit, ud))) return rc;
        d = event_at(s, idx);
        cJSON_AddNumberToObject(d, "content_index", 0);
        cJSON_AddItemToObject(d, "part", cJSON_Duplicate(part, 1));
        if ((rc = send(s, "response.content_part.done", d, emit, ud))) return rc;
    } else if (kind == ITEM_REASONING && !s->summary) {
        /* encrypted_content alone: no summary events */
    } else if (kind == ITEM_REASONING) {
        cJSON *part = cJSON_GetArrayItem(gr_provider_get(item, "summary"), 0);
        cJSON *d = event_at(s, idx);
        cJSON_AddNumberToObject(d, "summary_index", 0);
        cJSON_AddStringToObject(d, "text", gr_provider_get_str(part, "text"));
        if ((rc = send(s, "response.reasoning_summary_text.done", d, emit, ud))) return rc;
        d = event_at(s, idx);
        cJSON_AddNumberToObject(d, "summary_index", 0);
        cJSON_AddItemToObject(d, "part", cJSON_Duplicate(part, 1));
        if ((rc = send(s, "response.reasoning_summary_part.done", d, emit, ud))) return rc;
    } else {
        cJSON *d = event_at(s, idx);
        cJSON_AddStringToObject(d, "name", gr_provider_get_str(item, "name"));
        cJSON_AddStringToObject(d, "arguments", gr_provider_get_str(item, "arguments"));
        if ((rc = send(s, "response.function_call_arguments.done", d, emit, ud))) return rc;
    }
    if (kind == ITEM_REASONING && s->encrypted) {
        char *packed = pack_reasoning(s->rtext, s->rsig);
        cJSON_AddStringToObject(item, "encrypted_content", packed);
        free(packed);
    }
    free(s->rtext);
    free(s->rsig);
    s->rtext = s->rsig = NULL;
    /* a message cut by the token limit or a filter is incomplete, like its response */
    bool cut = kind == ITEM_MESSAGE && s->finish && strcmp(s->finish, "stop");
    if (cJSON_GetObjectItemCaseSensitive(item, "status"))
        cJSON_ReplaceItemInObjectCaseSensitive(item, "status", cJSON_CreateString(cut ? "incomplete" : "completed"));
    cJSON *d = cJSON_CreateObject();
    cJSON_AddNumberToObject(d, "output_index", idx);
    cJSON_AddItemToObject(d, "item", cJSON_Duplicate(item, 1));
    return send(s, "response.output_item.done", d, emit, ud);
}

/* Opens a new output item (closing the open one); item is consumed. */
static gr_status open_item(gr_responses_stream *s, int kind, cJSON *item, gr_responses_emit_fn emit, void *ud) {
    gr_status rc = close_item(s, emit, ud);
    if (rc) {
        cJSON_Delete(item);
        return rc;
    }
    cJSON *output = cJSON_GetObjectItemCaseSensitive(s->resp, "output");
    s->open_index = cJSON_GetArraySize(output);
    s->open = kind;
    cJSON *d = cJSON_CreateObject();
    cJSON_AddNumberToObject(d, "output_index", s->open_index);
    cJSON_AddItemToObject(d, "item", cJSON_Duplicate(item, 1));
    cJSON_AddItemToArray(output, item);
    if ((rc = send(s, "response.output_item.added", d, emit, ud))) return rc;
    if (kind == ITEM_MESSAGE) {
        d = event_at(s, s->open_index);
        cJSON_AddNumberToObject(d, "content_index", 0);
        cJSON_AddItemToObject(d, "part", output_text_part(""));
        cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(output_at(s, s->open_index), "content"),
                             output_text_part(""));
        return send(s, "response.content_part.added", d, emit, ud);
    }
    if (kind == ITEM_REASONING && s->summary) {
        cJSON *part = cJSON_CreateObject();
        cJSON_AddStringToObject(part, "type", "summary_text");
        cJSON_AddStringToObject(part, "text", "");
        d = event_at(s, s->open_index);
        cJSON_AddNumberToObject(d, "summary_index", 0);
        cJSON_AddItemToObject(d, "part", cJSON_Duplicate(part, 1));
        cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(output_at(s, s->open_index), "summary"), part);
        return send(s, "response.reasoning_summary_part.added", d, emit, ud);
    }
    return GR_OK;
}

/* Appends t to a heap string (NULL = empty). */
static void append_heap(char **dst, const char *t) {
    size_t a = *dst ? strlen(*dst) : 0, b = strlen(t);
    *dst = gr_xrealloc(*dst, a + b + 1);
    memcpy(*dst + a, t, b + 1);
}

/* Appends t to the string member key of o. */
static void append_str(cJSON *o, const char *key, const char *t) {
    const char *cur = gr_provider_get_str(o, key);
    size_t a = cur ? strlen(cur) : 0, b = strlen(t);
    char *joined = gr_xmalloc(a + b + 1);
    memcpy(joined, cur ? cur : "", a);
    memcpy(joined + a, t, b + 1);
    cJSON_ReplaceItemInObjectCaseSensitive(o, key, cJSON_CreateString(joined));
    free(joined);
}

static gr_status text_delta(gr_responses_stream *s, int kind, const char *t, gr_responses_emit_fn emit, void *ud) {
    if (!t || !t[0]) return GR_OK;
    gr_status rc;
    if (s->open != kind) {
        char *id = item_id(s->id, kind == ITEM_MESSAGE ? "msg" : "rs", -1);
        cJSON *item = kind == ITEM_MESSAGE ? message_item_out(id, "in_progress") : reasoning_item(id, NULL);
        free(id);
        if ((rc = open_item(s, kind, item, emit, ud))) return rc;
    }
    cJSON *item = output_at(s, s->open_index);
    cJSON *d = event_at(s, s->open_index);
    if (kind == ITEM_MESSAGE) {
        append_str(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(item, "content"), 0), "text", t);
        cJSON_AddNumberToObject(d, "content_index", 0);
        cJSON_AddStringToObject(d, "delta", t);
        cJSON_AddArrayToObject(d, "logprobs");
        return send(s, "response.output_text.delta", d, emit, ud);
    }
    append_heap(&s->rtext, t);
    if (!s->summary) {
        cJSON_Delete(d);
        return GR_OK;
    }
    append_str(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(item, "summary"), 0), "text", t);
    cJSON_AddNumberToObject(d, "summary_index", 0);
    cJSON_AddStringToObject(d, "delta", t);
    return send(s, "response.reasoning_summary_text.delta", d, emit, ud);
}

static gr_status tool_delta(gr_responses_stream *s, const cJSON *tc, gr_responses_emit_fn emit, void *ud) {
    const cJSON *ti = gr_provider_get(tc, "index");
    int tix = cJSON_IsNumber(ti) ? ti->valueint : 0;
    const cJSON *fn = gr_provider_get(tc, "function");
    gr_status rc;
    if (s->open != ITEM_TOOL || s->open_tool != tix) {
        char *id = item_id(s->id, "fc", s->ntools++);
        cJSON *item = function_call_item(id, "in_progress", gr_provider_get_str(tc, "id"),
                                         gr_provider_get_str(fn, "name"), "");
        free(id);
        if ((rc = open_item(s, ITEM_TOOL, item, emit, ud))) return rc;
        s->open_tool = tix;
    }
    const char *args = gr_provider_get_str(fn, "arguments");
    if (!args || !args[0]) return GR_OK;
    append_str(output_at(s, s->open_index), "arguments", args);
    cJSON *d = event_at(s, s->open_index);
    cJSON_AddStringToObject(d, "delta", args);
    return send(s, "response.function_call_arguments.delta", d, emit, ud);
}

static gr_status fail(gr_responses_stream *s, const char *code, const char *message, gr_responses_emit_fn emit,
                      void *ud) {
    s->ended = true;
    gr_status rc = start(s, emit, ud);
    if (rc) return rc;
    cJSON_ReplaceItemInObjectCaseSensitive(s->resp, "status", cJSON_CreateString("failed"));
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "code", code ? code : "server_error");
    cJSON_AddStringToObject(e, "message", message ? message : "upstream error");
    cJSON_ReplaceItemInObjectCaseSensitive(s->resp, "error", e);
    if (s->usage) cJSON_ReplaceItemInObjectCaseSensitive(s->resp, "usage", usage_json(s->usage));
    return send_response(s, "response.failed", emit, ud);
}

gr_status gr_responses_stream_fail(gr_responses_stream *s, const char *code, const char *message,
                                   gr_responses_emit_fn emit, void *ud) {
    if (!s) return GR_ERR_INVALID;
    if (s->ended) return GR_OK;
    return fail(s, code, message, emit, ud);
}

static gr_status chunk_json(gr_responses_stream *s, const cJSON *chunk, gr_responses_emit_fn emit, void *ud) {
    const cJSON *e = gr_provider_get(chunk, "error");
    if (cJSON_IsObject(e)) {
        const char *code = gr_provider_get_str(e, "code");
        const char *type = gr_provider_get_str(e, "type");
        return fail(s, code ? code : type, gr_provider_get_str(e, "message"), emit, ud);
    }
    gr_status rc = start(s, emit, ud);
    if (rc) return rc;
    const cJSON *usage = gr_provider_get(chunk, "usage");
    if (cJSON_IsObject(usage)) {
        cJSON_Delete(s->usage);
        s->usage = cJSON_Duplicate(usage, 1);
    }
    const cJSON *ch = cJSON_GetArrayItem(gr_provider_get(chunk, "choices"), 0);
    const cJSON *ix = gr_provider_get(ch, "index");
    if (!ch || (cJSON_IsNumber(ix) && ix->valuedouble != 0)) return GR_OK; /* choice 0 only */
    const cJSON *delta = gr_provider_get(ch, "delta");
    if ((s->summary || s->encrypted) &&
        (rc = text_delta(s, ITEM_REASONING, gr_provider_get_str(delta, "reasoning_content"), emit, ud)))
        return rc;
    const char *sig = gr_provider_get_str(delta, "reasoning_signature");
    if (sig && s->open == ITEM_REASONING) append_heap(&s->rsig, sig);
    if ((rc = text_delta(s, ITEM_MESSAGE, gr_provider_get_str(delta, "content"), emit, ud))) return rc;
    if ((rc = text_delta(s, ITEM_MESSAGE, gr_provider_get_str(delta, "refusal"), emit, ud))) return rc;
    const cJSON *tc;
    cJSON_ArrayForEach(tc, gr_provider_get(delta, "tool_calls")) {
        if ((rc = tool_delta(s, tc, emit, ud))) return rc;
    }
    const char *fr = gr_provider_get_str(ch, "finish_reason");
    if (fr) s->finish = !strcmp(fr, "length") ? "length" : !strcmp(fr, "content_filter") ? "content_filter" : "stop";
    return GR_OK;
}

gr_status gr_responses_stream_chunk(gr_responses_stream *s, const char *json, size_t len, gr_responses_emit_fn emit,
                                    void *ud) {
    if (!s) return GR_ERR_INVALID;
    if (len == 6 && memcmp(json, "[DONE]", 6) == 0) return GR_OK;
    cJSON *c = gr_provider_parse_json(json, len);
    if (!cJSON_IsObject(c)) {
        cJSON_Delete(c);
        return GR_ERR_PARSE;
    }
    gr_status rc = s->ended ? GR_OK : chunk_json(s, c, emit, ud);
    cJSON_Delete(c);
    return rc;
}

gr_status gr_responses_stream_finish(gr_responses_stream *s, gr_responses_emit_fn emit, void *ud) {
    if (!s) return GR_ERR_INVALID;
    if (s->ended) return GR_OK;
    gr_status rc = start(s, emit, ud);
    if (rc == GR_OK) rc = close_item(s, emit, ud);
    if (rc) return rc;
    s->ended = true;
    set_outcome(s->resp, s->finish);
    cJSON_ReplaceItemInObjectCaseSensitive(s->resp, "usage", usage_json(s->usage));
    const char *status = gr_provider_get_str(s->resp, "status");
    return send_response(s, strcmp(status, "incomplete") ? "response.completed" : "response.incomplete", emit, ud);
}
