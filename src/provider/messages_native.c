/* messages_native.c — the Anthropic-to-Anthropic relay of /v1/messages: the
 * upstream request's URL and headers, and usage read off the upstream's
 * events as they pass through untouched (see messages_native.h). */
#include "messages_native.h"
#include "provider_native.h"

#include <event2/buffer.h>
#include <string.h>

const char *const gr_messages_native_forwarded[] = {"anthropic-beta", NULL};

void gr_messages_native_request(const gr_client_req *client, const gr_provider_conf *p, bool count_tokens,
                                gr_http_request *h) {
    h->url = gr_provider_url(p->base_url ? p->base_url : "https://api.anthropic.com/v1",
                             count_tokens ? "/messages/count_tokens" : "/messages");
    gr_http_request_add_header(h, "content-type: application/json");
    if (p->api_key) gr_http_request_add_header(h, "x-api-key: %s", p->api_key);
    const char *version = client ? gr_client_req_header(client, "anthropic-version") : NULL;
    gr_http_request_add_header(h, "anthropic-version: %s",
                               version ? version : p->api_version ? p->api_version : GR_ANTHROPIC_DEFAULT_VERSION);
    for (size_t i = 0; client && gr_messages_native_forwarded[i]; i++) {
        const char *v = gr_client_req_header(client, gr_messages_native_forwarded[i]);
        if (v) gr_http_request_add_header(h, "%s: %s", gr_messages_native_forwarded[i], v);
    }
    if (!count_tokens) gr_http_request_add_header(h, "accept: text/event-stream, application/json");
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
