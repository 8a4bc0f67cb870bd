/* messages_native.c — the Anthropic-to-Anthropic relay of /v1/messages: the
 * upstream request's URL and headers, and usage read off the upstream's
 * events as they pass through untouched (see messages_native.h). */
#include "messages_native.h"
#include "api_messages.h"
#include "provider_native.h"

#include "json_edit.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *const gr_messages_native_forwarded[] = {"anthropic-beta", NULL};

void gr_messages_native_forward(const gr_client_req *client, gr_http_request *h) {
    for (size_t i = 0; client && gr_messages_native_forwarded[i]; i++) {
        const char *v = gr_client_req_header(client, gr_messages_native_forwarded[i]);
        if (v) gr_http_request_add_header(h, "%s: %s", gr_messages_native_forwarded[i], v);
    }
}

void gr_messages_native_request(const gr_client_req *client, const gr_provider_conf *p, bool count_tokens,
                                gr_http_request *h) {
    h->url = gr_provider_url(p->base_url ? p->base_url : "https://api.anthropic.com/v1",
                             count_tokens ? "/messages/count_tokens" : "/messages");
    gr_http_request_add_header(h, "content-type: application/json");
    if (p->api_key) gr_http_request_add_header(h, "x-api-key: %s", p->api_key);
    const char *version = client ? gr_client_req_header(client, "anthropic-version") : NULL;
    gr_http_request_add_header(h, "anthropic-version: %s",
                               version ? version : p->api_version ? p->api_version : GR_ANTHROPIC_DEFAULT_VERSION);
    gr_messages_native_forward(client, h);
    if (!count_tokens) gr_http_request_add_header(h, "accept: text/event-stream, application/json");
}

/* Whether the comma-separated list (of len bytes) holds the item. */
static bool list_has(const char *list, size_t len, const char *item, size_t ilen) {
    for (size_t i = 0; i < len;) {
        size_t j = i;
        while (j < len && list[j] != ',') j++;
        if (j - i == ilen && !memcmp(list + i, item, ilen)) return true;
        i = j + 1;
    }
    return false;
}

void gr_messages_native_join_betas(gr_http_request *h) {
    static const char name[] = "anthropic-beta:";
    const size_t nl = sizeof name - 1;
    size_t total = 0, lines = 0, k = 0;
    for (size_t i = 0; i < h->nheaders; i++)
        if (!strncasecmp(h->headers[i], name, nl)) total += strlen(h->headers[i]), lines++;
    if (lines < 2) return;
    char *joined = gr_xmalloc(total + 1);
    size_t len = 0;
    for (size_t i = 0; i < h->nheaders; i++) {
        char *line = h->headers[i];
        if (strncasecmp(line, name, nl)) {
            h->headers[k++] = line;
            continue;
        }
        for (const char *v = line + nl; *v;) { /* each beta, trimmed */
            while (*v == ' ' || *v == '\t' || *v == ',') v++;
            const char *e = v;
            while (*e && *e != ',') e++;
            const char *t = e;
            while (t > v && (t[-1] == ' ' || t[-1] == '\t')) t--;
            if (t > v && !list_has(joined, len, v, (size_t)(t - v))) {
                if (len) joined[len++] = ',';
                memcpy(joined + len, v, (size_t)(t - v));
                len += (size_t)(t - v);
            }
            v = e;
        }
        free(line);
    }
    h->nheaders = k;
    joined[len] = '\0';
    if (len) gr_http_request_add_header(h, "anthropic-beta: %s", joined);
    free(joined);
}

static bool foreign_thinking(const cJSON *block) {
    const char *type = gr_provider_get_str(block, "type");
    if (!type || strcmp(type, "thinking")) return false;
    const char *sig = gr_provider_get_str(block, "signature");
    return !sig || !sig[0] || !strncmp(sig, GR_MESSAGES_GEMINI_SIG_PREFIX, strlen(GR_MESSAGES_GEMINI_SIG_PREFIX));
}

bool gr_messages_native_drop_foreign_thinking(cJSON *body) {
    bool changed = false;
    cJSON *m;
    cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(body, "messages")) {
        const char *role = gr_provider_get_str(m, "role");
        cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        if (!role || strcmp(role, "assistant") || !cJSON_IsArray(content)) continue;
        for (cJSON *b = content->child, *next; b; b = next) {
            next = b->next;
            if (!foreign_thinking(b)) continue;
            cJSON_Delete(cJSON_DetachItemViaPointer(content, b));
            changed = true;
        }
    }
    return changed;
}

bool gr_messages_native_is_vertex_claude(const gr_provider_conf *p, const char *upstream_model) {
    return p && p->kind == GR_PROVIDER_VERTEX && upstream_model && !strncasecmp(upstream_model, "claude", 6);
}

void gr_messages_native_vertex_request(const gr_client_req *client, const gr_provider_conf *p, const char *upstream_model,
                                       bool stream, const char *bearer, gr_http_request *h) {
    size_t n = strlen(p->base_url) + strlen(p->project) + strlen(p->location) + strlen(upstream_model) + 96;
    h->url = gr_xmalloc(n);
    snprintf(h->url, n, "%s/v1/projects/%s/locations/%s/publishers/anthropic/models/%s:%s", p->base_url, p->project,
             p->location, upstream_model, stream ? "streamRawPredict" : "rawPredict");
    gr_http_request_add_header(h, "content-type: application/json");
    gr_http_request_add_header(h, "authorization: Bearer %s", bearer ? bearer : "");
    gr_messages_native_forward(client, h);
    gr_http_request_add_header(h, "accept: text/event-stream, application/json");
}

void gr_messages_native_vertex_body(gr_http_request *h) {
    size_t len = h->body_len;
    char *without = gr_json_remove_top_level(h->body, len, "model", &len);
    const char *src = without ? without : h->body;
    size_t out_len;
    char *with = gr_json_insert_first(src, len, "anthropic_version", "\"" GR_VERTEX_ANTHROPIC_VERSION "\"", &out_len);
    if (with) {
        free(h->body);
        h->body = with;
        h->body_len = out_len;
    } else if (without) {
        free(h->body);
        h->body = without;
        h->body_len = len;
        without = NULL;
    }
    free(without);
}

static bool named(const gr_sse_event *ev, const char *name) {
    size_t n = strlen(name);
    return ev->event.len == n && !memcmp(ev->event.ptr, name, n);
}

gr_native_event_kind gr_messages_native_event(const gr_sse_event *ev, gr_usage *u) {
    if (named(ev, "message_stop")) return GR_NATIVE_EV_STOP;
    if (named(ev, "error")) return GR_NATIVE_EV_ERROR;
    bool start = named(ev, "message_start");
    if (!start && !named(ev, "message_delta")) return GR_NATIVE_EV_OTHER;
    cJSON *j = gr_provider_parse_json(ev->data.ptr, ev->data.len);
    const cJSON *usage = start ? gr_provider_get(gr_provider_get(j, "message"), "usage") : gr_provider_get(j, "usage");
    gr_anthropic_usage_merge(usage, u);
    cJSON_Delete(j);
    return GR_NATIVE_EV_OTHER;
}

void gr_messages_native_frame(struct evbuffer *out, const gr_sse_event *ev) {
    if (ev->event.len) {
        evbuffer_add(out, "event: ", 7);
        evbuffer_add(out, ev->event.ptr, ev->event.len);
        evbuffer_add(out, "\n", 1);
    }
    const char *d = ev->data.ptr, *end = d + ev->data.len;
    for (;;) { /* one data: line per line of the event's data */
        const char *nl = memchr(d, '\n', (size_t)(end - d));
        const char *le = nl ? nl : end;
        evbuffer_add(out, "data: ", 6);
        evbuffer_add(out, d, (size_t)(le - d));
        evbuffer_add(out, "\n", 1);
        if (!nl) break;
        d = nl + 1;
    }
    evbuffer_add(out, "\n", 1);
}
