/* responses_native.c — the Responses API relayed to an upstream that speaks
 * it (see responses_native.h). */
#include "responses_native.h"
#include "provider_native.h"

#include <stdlib.h>

void gr_responses_native_request(const gr_provider_conf *p, bool stream, gr_http_request *h) {
    h->url = gr_provider_url(p->base_url, "/responses");
    if (p->api_key) gr_http_request_add_header(h, "Authorization: Bearer %s", p->api_key);
    gr_http_request_add_header(h, "Content-Type: application/json");
    if (stream) gr_http_request_add_header(h, "Accept: text/event-stream");
}

static int64_t count(const cJSON *n) {
    if (!cJSON_IsNumber(n) || !(n->valuedouble > 0)) return 0;
    return n->valuedouble > 1e15 ? (int64_t)1000000000000000 : (int64_t)n->valuedouble;
}

void gr_responses_native_usage(const cJSON *usage, gr_usage *u) {
    if (!cJSON_IsObject(usage)) return;
    u->prompt_tokens = count(gr_provider_get(usage, "input_tokens"));
    u->completion_tokens = count(gr_provider_get(usage, "output_tokens"));
    u->cached_tokens = count(gr_provider_get(gr_provider_get(usage, "input_tokens_details"), "cached_tokens"));
    u->reasoning_tokens = count(gr_provider_get(gr_provider_get(usage, "output_tokens_details"), "reasoning_tokens"));
    u->present = true;
}

static bool is(const char *name, size_t len, const char *want) {
    return len == strlen(want) && !memcmp(name, want, len);
}

gr_resp_event_kind gr_responses_native_event(const gr_sse_event *ev, gr_usage *u, cJSON **parsed) {
    *parsed = NULL;
    const char *name = ev->event.ptr;
    size_t nlen = ev->event.len;
    cJSON *j = NULL;
    if (!nlen) { /* no event line: the type is in the data */
        j = gr_provider_parse_json(ev->data.ptr, ev->data.len);
        const char *t = gr_provider_get_str(j, "type");
        name = t ? t : "";
        nlen = strlen(name);
    }
    gr_resp_event_kind k = is(name, nlen, "response.completed") || is(name, nlen, "response.incomplete") ? GR_RESP_EV_END
                           : is(name, nlen, "response.failed") || is(name, nlen, "error")          ? GR_RESP_EV_FAILED
                                                                                                   : GR_RESP_EV_OTHER;
    if (k == GR_RESP_EV_OTHER) {
        cJSON_Delete(j);
        return k;
    }
    if (!j) j = gr_provider_parse_json(ev->data.ptr, ev->data.len);
    gr_responses_native_usage(gr_provider_get(gr_provider_get(j, "response"), "usage"), u);
    *parsed = j;
    return k;
}
