/* responses_state.c — the state of the Responses API on the request path:
 * `previous_response_id` (the stored conversation rebuilt before routing),
 * `item_reference` items in `input` (the stored messages and function calls
 * they name, substituted before routing),
 * `store` (the answered Response kept with its input and the conversation,
 * for responses.store_ttl), and GET / DELETE /v1/responses/{id} and
 * GET /v1/responses/{id}/input_items. Every store call runs on the store
 * executor (a request suspended meanwhile, or fire and forget for the
 * write); a key only ever sees the responses it created (404 otherwise). */
#include "responses_state.h"

#include "http_server.h"
#include "log.h"
#include "provider_native.h"
#include "responses_store.h"
#include "services.h"

#include <event2/http.h> /* evhttp_parse_query_str */
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>

#define MAX_ID_LEN 200
#define MAX_REF_RESPONSES 16 /* distinct stored responses one request's item_references may name */

typedef struct state_ctx {
    cJSON *history; /* the previous response's stored context (owned) */
    bool stored;
} state_ctx;

static int g_slot = -1;

static state_ctx *ctx_of(gr_request *r) {
    state_ctx *c = r->ctx[g_slot];
    if (!c) c = r->ctx[g_slot] = gr_pool_calloc(r->pool, sizeof *c);
    return c;
}

/* Who may read what r stores: its virtual key, static key or "open". */
static const char *owner_of(const gr_request *r) {
    if (r->key) return gr_pool_printf(r->pool, "vk:%s", gr_keys_id(r->key));
    return gr_pool_printf(r->pool, "k:%s", r->key_name ? r->key_name : "open");
}

static gr_responses_store *conn_store(void *conn) {
    gr_store_conns *c = conn;
    return c ? c->responses : NULL;
}

/* ---- one store call for a request ---- */

typedef struct load_job {
    char *id, *owner;
    int64_t now_ms;
    gr_status rc;
    gr_stored_response row;
    bool del;
} load_job;

static void load_free(void *arg) {
    load_job *j = arg;
    free(j->id);
    free(j->owner);
    gr_stored_response_dispose(&j->row);
    free(j);
}

static void load_run(void *conn, void *arg) {
    load_job *j = arg;
    gr_responses_store *s = conn_store(conn);
    if (!s) j->rc = GR_ERR_IO;
    else if (j->del) j->rc = gr_responses_store_delete(s, j->id, j->owner, j->now_ms);
    else j->rc = gr_responses_store_get(s, j->id, j->owner, j->now_ms, &j->row);
}

static void reply_store_down(gr_request *r, const char *why) {
    gr_request_fail_code(r, GR_EC_STORE_UNAVAILABLE, NULL, "%s", why);
}

static void reply_not_found(gr_request *r, const char *id, const char *param) {
    gr_request_fail_code(r, GR_EC_NOT_FOUND, param,
                         param ? "Previous response with id '%s' not found." : "Response with id '%s' not found.", id);
}

static bool submit(gr_request *r, const char *id, bool del, void (*resume)(gr_request *, void *, const char *)) {
    load_job *j = gr_xcalloc(1, sizeof *j);
    j->id = gr_xstrdup(id);
    j->owner = gr_xstrdup(owner_of(r));
    j->now_ms = (int64_t)gr_wall_ms();
    j->del = del;
    gr_request_job job = {.run = load_run, .free_arg = load_free, .resume = resume, .arg = j};
    if (gr_request_store_job(r, &job) != GR_OK) {
        reply_store_down(r, "The store is overloaded (store.queue_max jobs waiting); retry later.");
        return false;
    }
    return true;
}

/* ---- PARSE: previous_response_id ---- */

/* The canonical messages rebuilt with the stored conversation first. */
static gr_status rebuild(gr_request *r, const cJSON *history, const char *param) {
    cJSON *canon = NULL;
    gr_upstream_error e = {0};
    if (gr_responses_to_canonical(r->responses_body, history, &canon, &e) != GR_OK || !canon) {
        cJSON_Delete(canon);
        gr_request_fail_code(r, GR_EC_CONVERSATION_NOT_CONTINUABLE, param, "%s",
                             e.message[0] ? e.message : "the stored conversation cannot be continued");
        return GR_ERR_INVALID;
    }
    cJSON *msgs = cJSON_DetachItemFromObjectCaseSensitive(canon, "messages");
    cJSON_Delete(canon);
    if (!cJSON_GetArraySize(msgs)) { /* input was only references to reasoning items */
        cJSON_Delete(msgs);
        gr_request_fail_code(r, GR_EC_MISSING_MESSAGES, "input", "'input' has no message to answer");
        return GR_ERR_INVALID;
    }
    cJSON_ReplaceItemInObjectCaseSensitive(r->body, "messages", msgs);
    char *txt = cJSON_PrintUnformatted(r->body);
    r->body_text = gr_pool_strdup(r->pool, txt);
    r->body_len = strlen(r->body_text);
    cJSON_free(txt);
    return GR_OK;
}

static void previous_resume(gr_request *r, void *arg, const char *err) {
    load_job *j = arg;
    if (err) {
        reply_store_down(r, "The store did not answer in time for previous_response_id; retry later.");
        return;
    }
    if (j->rc == GR_ERR_NOT_FOUND) {
        reply_not_found(r, j->id, "previous_response_id");
        return;
    }
    cJSON *history = j->rc == GR_OK ? cJSON_Parse(j->row.context) : NULL;
    if (!cJSON_IsArray(history)) {
        cJSON_Delete(history);
        reply_store_down(r, "The stored response could not be read; retry later.");
        return;
    }
    ctx_of(r)->history = history;
    if (rebuild(r, history, "previous_response_id") != GR_OK) return;
    gr_pipeline_continue(r, GR_PHASE_NEXT);
}

static gr_phase_rc phase_previous(gr_request *r) {
    if (!r->responses_out) return GR_PHASE_NEXT;
    const cJSON *prev = cJSON_GetObjectItemCaseSensitive(r->responses_body, "previous_response_id");
    if (!prev || cJSON_IsNull(prev)) return GR_PHASE_NEXT;
    if (r->pay_x402) { /* a payer has no identity to scope stored responses to: none are kept */
        gr_request_fail_code(r, GR_EC_UNSUPPORTED_PARAMETER, "previous_response_id",
                             "previous_response_id needs an API key: responses paid with x402 are not stored.");
        return GR_PHASE_STOP;
    }
    if (!cJSON_IsString(prev) || !prev->valuestring[0] || strlen(prev->valuestring) > MAX_ID_LEN) {
        gr_request_fail_code(r, GR_EC_INVALID_VALUE, "previous_response_id",
                             "'previous_response_id' must be a response id (at most %d characters).", MAX_ID_LEN);
        return GR_PHASE_STOP;
    }
    submit(r, prev->valuestring, false, previous_resume);
    return GR_PHASE_STOP; /* continues in previous_resume */
}

/* ---- PARSE: item_reference ---- */

typedef struct refs_job {
    char *owner;
    int64_t now_ms;
    int n;
    char *ids[MAX_REF_RESPONSES];
    gr_status rc[MAX_REF_RESPONSES];
    gr_stored_response rows[MAX_REF_RESPONSES];
} refs_job;

static void refs_free(void *arg) {
    refs_job *j = arg;
    for (int k = 0; k < j->n; k++) {
        free(j->ids[k]);
        gr_stored_response_dispose(&j->rows[k]);
    }
    free(j->owner);
    free(j);
}

static void refs_run(void *conn, void *arg) {
    refs_job *j = arg;
    gr_responses_store *s = conn_store(conn);
    for (int k = 0; k < j->n; k++)
        j->rc[k] = s ? gr_responses_store_get(s, j->ids[k], j->owner, j->now_ms, &j->rows[k]) : GR_ERR_IO;
}

/* The referenced item's id when `it` is an item_reference the store holds
 * (not a reasoning one, which the translation drops), with its response's id
 * in resp_id; NULL otherwise. */
static const char *stored_ref(const cJSON *it, char *resp_id, size_t cap) {
    const char *type = gr_provider_get_str(it, "type"), *id = gr_provider_get_str(it, "id");
    if (!type || strcmp(type, "item_reference") || !id) return NULL;
    return gr_responses_ref_response_id(id, resp_id, cap) ? id : NULL;
}

/* The item with this id in a stored context (input and output items). */
static const cJSON *find_item(const cJSON *context, const char *id) {
    const cJSON *it;
    cJSON_ArrayForEach(it, context) {
        const char *iid = gr_provider_get_str(it, "id");
        if (iid && !strcmp(iid, id)) return it;
    }
    return NULL;
}

static void refs_resume(gr_request *r, void *arg, const char *err) {
    refs_job *j = arg;
    for (int k = 0; !err && k < j->n; k++)
        if (j->rc[k] != GR_OK && j->rc[k] != GR_ERR_NOT_FOUND) err = "store";
    if (err) {
        reply_store_down(r, "The store did not answer in time for item_reference; retry later.");
        return;
    }
    cJSON *contexts[MAX_REF_RESPONSES] = {0}; /* NULL: not found (expired, another key's, never stored) */
    for (int k = 0; k < j->n; k++)
        if (j->rc[k] == GR_OK) contexts[k] = cJSON_Parse(j->rows[k].context);
    cJSON *input = cJSON_GetObjectItemCaseSensitive(r->responses_body, "input");
    const char *missing = NULL;
    for (cJSON *it = input ? input->child : NULL; it && !missing; it = it->next) {
        char resp_id[GR_RESPONSES_ID_MAX];
        const char *id = stored_ref(it, resp_id, sizeof resp_id);
        if (!id) continue;
        const cJSON *found = NULL;
        for (int k = 0; k < j->n && !found; k++)
            if (!strcmp(j->ids[k], resp_id)) found = find_item(contexts[k], id);
        if (!found) {
            missing = gr_pool_strdup(r->pool, id);
            break;
        }
        cJSON *copy = cJSON_Duplicate(found, 1);
        cJSON_ReplaceItemViaPointer(input, it, copy);
        it = copy;
    }
    for (int k = 0; k < j->n; k++) cJSON_Delete(contexts[k]);
    if (missing) {
        gr_request_fail_code(r, GR_EC_NOT_FOUND, "input", "Item with id '%s' not found.", missing);
        return;
    }
    char *txt = cJSON_PrintUnformatted(r->responses_body); /* what a Responses upstream is sent, too */
    r->responses_text = gr_pool_strdup(r->pool, txt);
    r->responses_len = strlen(r->responses_text);
    cJSON_free(txt);
    if (rebuild(r, ctx_of(r)->history, "input") != GR_OK) return;
    gr_pipeline_continue(r, GR_PHASE_NEXT);
}

static gr_phase_rc phase_refs(gr_request *r) {
    if (!r->responses_out) return GR_PHASE_NEXT;
    const cJSON *it;
    refs_job *j = NULL;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(r->responses_body, "input")) {
        char resp_id[GR_RESPONSES_ID_MAX];
        if (!stored_ref(it, resp_id, sizeof resp_id)) continue;
        const char *why = NULL;
        if (r->pay_x402) why = "item_reference needs an API key: responses paid with x402 are not stored; send the item itself.";
        int k = 0;
        while (!why && j && k < j->n && strcmp(j->ids[k], resp_id)) k++;
        if (!why && j && k == j->n && j->n == MAX_REF_RESPONSES) why = "too many";
        if (why) {
            if (j) refs_free(j);
            if (r->pay_x402)
                gr_request_fail_code(r, GR_EC_UNSUPPORTED_PARAMETER, "input", "%s", why);
            else
                gr_request_fail_code(
                        r, GR_EC_INVALID_VALUE, "input",
                        "item_reference items may name items of at most %d distinct responses per request.",
                        MAX_REF_RESPONSES);
            return GR_PHASE_STOP;
        }
        if (!j) {
            j = gr_xcalloc(1, sizeof *j);
            j->owner = gr_xstrdup(owner_of(r));
            j->now_ms = (int64_t)gr_wall_ms();
        }
        if (k == j->n) j->ids[j->n++] = gr_xstrdup(resp_id);
    }
    if (!j) return GR_PHASE_NEXT;
    gr_request_job job = {.run = refs_run, .free_arg = refs_free, .resume = refs_resume, .arg = j};
    if (gr_request_store_job(r, &job) != GR_OK)
        reply_store_down(r, "The store is overloaded (store.queue_max jobs waiting); retry later.");
    return GR_PHASE_STOP; /* continues in refs_resume */
}

/* ---- store: the answered Response ---- */

typedef struct put_job {
    char *id, *owner;
    int64_t created_ms, expires_ms;
    gr_stored_response row;
} put_job;

static void put_free(void *arg) {
    put_job *j = arg;
    free(j->id);
    free(j->owner);
    gr_stored_response_dispose(&j->row);
    free(j);
}

static void put_run(void *conn, void *arg) {
    put_job *j = arg;
    gr_responses_store *s = conn_store(conn);
    gr_status rc = s ? gr_responses_store_put(s, j->id, j->owner, j->created_ms, j->expires_ms, &j->row) : GR_ERR_IO;
    if (rc != GR_OK) GR_WARN("responses: could not store %s: %s", j->id, gr_status_str(rc));
}

static char *print_dup(const cJSON *j) {
    char *t = cJSON_PrintUnformatted(j);
    char *s = gr_xstrdup(t ? t : "null");
    cJSON_free(t);
    return s;
}

void gr_responses_state_keep(gr_request *r) {
    if (g_slot < 0 || !r->responses_out) return; /* not registered (unit tests) */
    state_ctx *c = ctx_of(r);
    const gr_responses_conf *rc = gr_responses_conf_of(r->cfg);
    if (c->stored || !r->responses_final || !rc->store_ttl_ms || !r->w->exec || r->pay_x402) return;
    c->stored = true;
    char prefix[128];
    snprintf(prefix, sizeof prefix, "msg_%s_in", r->response_id + 5);
    cJSON *input = gr_responses_input_items(r->responses_body, prefix);
    cJSON *context = c->history ? cJSON_Duplicate(c->history, 1) : cJSON_CreateArray();
    cJSON *it;
    cJSON_ArrayForEach(it, input) cJSON_AddItemToArray(context, cJSON_Duplicate(it, 1));
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(r->responses_final, "output"))
        cJSON_AddItemToArray(context, cJSON_Duplicate(it, 1));
    put_job *j = gr_xcalloc(1, sizeof *j);
    j->row.response = print_dup(r->responses_final);
    j->row.input_items = input ? print_dup(input) : gr_xstrdup("[]");
    j->row.context = print_dup(context);
    cJSON_Delete(input);
    cJSON_Delete(context);
    size_t bytes = strlen(j->row.response) + strlen(j->row.input_items) + strlen(j->row.context);
    if (bytes > rc->max_stored_bytes) {
        GR_WARN("responses: %s not stored: %zu bytes > responses.max_stored_bytes (%llu)", r->response_id, bytes,
                (unsigned long long)rc->max_stored_bytes);
        put_free(j);
        return;
    }
    j->id = gr_xstrdup(r->response_id);
    j->owner = gr_xstrdup(owner_of(r));
    j->created_ms = (int64_t)gr_wall_ms();
    j->expires_ms = j->created_ms + (int64_t)rc->store_ttl_ms;
    gr_store_exec_post(r->w->exec, put_run, put_free, j);
}

static void finish_release(gr_request *r, gr_finish_info *f) {
    (void)f;
    state_ctx *c = r->ctx[g_slot];
    if (c) cJSON_Delete(c->history);
}

/* ---- GET / DELETE /v1/responses/{id}[/input_items] ---- */

typedef struct path_parts {
    char id[MAX_ID_LEN + 1];
    bool input_items;
} path_parts;

static bool parse_path(const char *path, path_parts *p) {
    const char *rest = path + strlen("/v1/responses/");
    const char *slash = strchr(rest, '/');
    size_t n = slash ? (size_t)(slash - rest) : strlen(rest);
    if (!n || n > MAX_ID_LEN) return false;
    memcpy(p->id, rest, n);
    p->id[n] = '\0';
    p->input_items = slash && !strcmp(slash, "/input_items");
    return !slash || p->input_items;
}

static const char *query_of(const gr_request *r) {
    const char *q = strchr(gr_client_req_uri(r->req), '?');
    return q ? q + 1 : "";
}

/* {object:list, data, first_id, last_id, has_more} of the stored input items. */
static void reply_input_items(gr_request *r, const char *items_json) {
    struct evkeyvalq q;
    memset(&q, 0, sizeof q);
    if (evhttp_parse_query_str(query_of(r), &q) != 0) {
        gr_request_fail_code(r, GR_EC_INVALID_QUERY, NULL, "The query string is malformed.");
        return;
    }
    const char *limit_s = evhttp_find_header(&q, "limit"), *order = evhttp_find_header(&q, "order");
    const char *after = evhttp_find_header(&q, "after");
    char *end = NULL;
    long limit = limit_s ? strtol(limit_s, &end, 10) : 20;
    bool bad_limit = limit_s && (!*limit_s || *end || limit < 1 || limit > 100);
    bool bad_order = order && strcmp(order, "asc") && strcmp(order, "desc");
    bool asc = order && !strcmp(order, "asc");
    char after_id[MAX_ID_LEN + 1] = "";
    if (after) snprintf(after_id, sizeof after_id, "%s", after);
    evhttp_clear_headers(&q);
    if (bad_limit || bad_order) {
        gr_request_fail_code(r, GR_EC_INVALID_VALUE, bad_limit ? "limit" : "order", "%s",
                             bad_limit ? "'limit' must be an integer from 1 to 100."
                                       : "'order' must be 'asc' or 'desc'.");
        return;
    }
    cJSON *items = cJSON_Parse(items_json);
    int n = cJSON_GetArraySize(items);
    int start = 0;
    if (after_id[0]) { /* the item after `after` in the listing's order */
        start = -1;
        for (int k = 0; k < n && start < 0; k++) {
            const cJSON *it = cJSON_GetArrayItem(items, asc ? k : n - 1 - k);
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "id");
            if (cJSON_IsString(id) && !strcmp(id->valuestring, after_id)) start = k + 1;
        }
        if (start < 0) {
            cJSON_Delete(items);
            gr_request_fail_code(r, GR_EC_INVALID_VALUE, "after", "No input item with id '%s' in this response.",
                                 after_id);
            return;
        }
    }
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "object", "list");
    cJSON *data = cJSON_AddArrayToObject(out, "data");
    int k = start;
    for (; k < n && cJSON_GetArraySize(data) < limit; k++)
        cJSON_AddItemToArray(data, cJSON_Duplicate(cJSON_GetArrayItem(items, asc ? k : n - 1 - k), 1));
    int got = cJSON_GetArraySize(data);
    const cJSON *first = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(data, 0), "id");
    const cJSON *last = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(data, got - 1), "id");
    cJSON_AddItemToObject(out, "first_id", cJSON_IsString(first) ? cJSON_CreateString(first->valuestring) : cJSON_CreateNull());
    cJSON_AddItemToObject(out, "last_id", cJSON_IsString(last) ? cJSON_CreateString(last->valuestring) : cJSON_CreateNull());
    cJSON_AddBoolToObject(out, "has_more", k < n);
    cJSON_Delete(items);
    char *s = cJSON_PrintUnformatted(out);
    cJSON_Delete(out);
    gr_request_reply_json(r, 200, s, strlen(s));
    cJSON_free(s);
}

static void api_resume(gr_request *r, void *arg, const char *err) {
    load_job *j = arg;
    if (err || (j->rc != GR_OK && j->rc != GR_ERR_NOT_FOUND)) {
        reply_store_down(r, "The store did not answer; retry later.");
        return;
    }
    if (j->rc == GR_ERR_NOT_FOUND) {
        reply_not_found(r, j->id, NULL);
        return;
    }
    if (j->del) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "id", j->id);
        cJSON_AddStringToObject(o, "object", "response");
        cJSON_AddTrueToObject(o, "deleted");
        char *s = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        gr_request_reply_json(r, 200, s, strlen(s));
        cJSON_free(s);
        return;
    }
    if (strstr(r->path, "/input_items")) reply_input_items(r, j->row.input_items);
    else gr_request_reply_json(r, 200, j->row.response, strlen(j->row.response));
}

void gr_responses_state_serve(gr_request *r) {
    path_parts p;
    if (!parse_path(r->path, &p)) {
        gr_request_fail_code(r, GR_EC_UNKNOWN_URL, NULL, "Invalid URL (%s %s)", r->method, r->path);
        return;
    }
    bool get = !strcmp(r->method, "GET") || !strcmp(r->method, "HEAD");
    bool del = !strcmp(r->method, "DELETE") && !p.input_items;
    if (!get && !del) {
        gr_request_add_header(r, "Allow", p.input_items ? "GET, HEAD" : "GET, HEAD, DELETE");
        gr_request_fail_code(r, GR_EC_METHOD_NOT_ALLOWED, NULL, "Method %s is not allowed for %s", r->method, r->path);
        return;
    }
    submit(r, p.id, del, api_resume); /* answers in api_resume */
}

void gr_responses_state_register(void) {
    g_slot = gr_pipeline_ctx_slot();
    gr_pipeline_on_phase(GR_PHASE_PARSE, phase_previous);
    gr_pipeline_on_phase(GR_PHASE_PARSE, phase_refs);
    gr_pipeline_on_finish(GR_FINISH_RELEASE, finish_release);
}
