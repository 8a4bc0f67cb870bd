/* messages_bedrock.c — the /v1/messages relay to Claude on Bedrock's
 * InvokeModel API: the request's body edits and signature, and the event
 * stream's chunks back to Anthropic SSE events (see messages_bedrock.h). */
#include "messages_bedrock.h"
#include "provider_bedrock.h"
#include "provider_native.h"

#include "json_edit.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

bool gr_messages_bedrock_is_claude(const gr_provider_conf *p, const char *upstream_model) {
    return p && p->kind == GR_PROVIDER_BEDROCK && upstream_model && strstr(upstream_model, "anthropic.");
}

/* The value of h's anthropic-beta line as a JSON array of strings (heap),
 * the line removed; NULL when there is none. */
static char *take_betas(gr_http_request *h) {
    static const char name[] = "anthropic-beta:";
    char *json = NULL;
    size_t k = 0;
    for (size_t i = 0; i < h->nheaders; i++) {
        char *line = h->headers[i];
        if (strncasecmp(line, name, sizeof name - 1)) {
            h->headers[k++] = line;
            continue;
        }
        if (!json) {
            cJSON *a = cJSON_CreateArray();
            for (const char *v = line + sizeof name - 1; *v;) {
                while (*v == ' ' || *v == ',') v++;
                const char *e = v;
                while (*e && *e != ',') e++;
                const char *t = e;
                while (t > v && t[-1] == ' ') t--;
                if (t > v) {
                    char *one = gr_xstrndup(v, (size_t)(t - v));
                    cJSON_AddItemToArray(a, cJSON_CreateString(one));
                    free(one);
                }
                v = e;
            }
            char *txt = cJSON_PrintUnformatted(a);
            cJSON_Delete(a);
            if (!txt) abort();
            json = gr_xstrdup(txt);
            cJSON_free(txt);
        }
        free(line);
    }
    h->nheaders = k;
    return json;
}

/* body <- edited, of *len bytes (read after the edit set it); NULL (the key
 * absent, or not an object) leaves the body as it is. */
static void replace_body(gr_http_request *h, char *edited, const size_t *len) {
    if (!edited) return;
    free(h->body);
    h->body = edited;
    h->body_len = *len;
}

bool gr_messages_bedrock_request(const gr_adapter_ctx *ctx, bool stream, gr_http_request *h, gr_upstream_error *err) {
    size_t len = h->body_len;
    replace_body(h, gr_json_remove_top_level(h->body, h->body_len, "model", &len), &len);
    replace_body(h, gr_json_remove_top_level(h->body, h->body_len, "stream", &len), &len);
    char *betas = take_betas(h);
    if (betas) replace_body(h, gr_json_insert_first(h->body, h->body_len, "anthropic_beta", betas, &len), &len);
    free(betas);
    replace_body(h, gr_json_insert_first(h->body, h->body_len, "anthropic_version", "\"" GR_BEDROCK_ANTHROPIC_VERSION "\"", &len),
                 &len);
    /* Bedrock's own headers and signature (content-type, accept, x-amz-*) */
    for (size_t i = 0, k = 0; i <= h->nheaders; i++) {
        if (i == h->nheaders) {
            h->nheaders = k;
            break;
        }
        if (!strncasecmp(h->headers[i], "content-type:", 13) || !strncasecmp(h->headers[i], "accept:", 7)) free(h->headers[i]);
        else h->headers[k++] = h->headers[i];
    }
    return gr_bedrock_finish_request(ctx, ctx->upstream_model, stream ? "invoke-with-response-stream" : "invoke",
                                     stream ? "application/vnd.amazon.eventstream" : "application/json", h, err);
}

/* base64 -> bytes (heap, NUL-terminated), NULL when it is not base64. */
static char *unbase64(const char *s, size_t n, size_t *out_len) {
    if (n == 0 || n % 4 || n > INT32_MAX) return NULL;
    unsigned char *out = gr_xmalloc(n / 4 * 3 + 1);
    int got = EVP_DecodeBlock(out, (const unsigned char *)s, (int)n);
    if (got < 0) {
        free(out);
        return NULL;
    }
    size_t pad = (s[n - 1] == '=') + (s[n - 2] == '=');
    *out_len = (size_t)got - pad;
    out[*out_len] = '\0';
    return (char *)out;
}

/* An exception frame as Anthropic's in-band error event. */
static int exception_event(const gr_sse_event *in, gr_sse_event *out, char **owned) {
    bool framing_error = gr_str_eq_c(in->event, ":error"); /* the message is the data itself */
    cJSON *j = framing_error ? NULL : gr_provider_parse_json(in->data.ptr, in->data.len);
    const char *msg = framing_error ? in->data.ptr : gr_provider_get_str(j, "message");
    char kind[96];
    snprintf(kind, sizeof kind, "%.*s", (int)(in->id.len < 95 ? in->id.len : 95), in->id.ptr ? in->id.ptr : "");
    const char *type = !strcasecmp(kind, "throttlingException")              ? "rate_limit_error"
                       : !strcasecmp(kind, "serviceUnavailableException")   ? "overloaded_error"
                       : !strcasecmp(kind, "validationException")           ? "invalid_request_error"
                                                                             : "api_error";
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "type", "error");
    cJSON *inner = cJSON_AddObjectToObject(e, "error");
    cJSON_AddStringToObject(inner, "type", type);
    char text[600];
    snprintf(text, sizeof text, "Bedrock %s: %s", kind[0] ? kind : "exception", msg ? msg : "the model stream failed");
    cJSON_AddStringToObject(inner, "message", text);
    cJSON_Delete(j);
    char *txt = cJSON_PrintUnformatted(e);
    cJSON_Delete(e);
    if (!txt) abort();
    *owned = gr_xstrdup(txt);
    cJSON_free(txt);
    *out = (gr_sse_event){.event = gr_str_c("error"), .data = {*owned, strlen(*owned)}};
    return 1;
}

int gr_messages_bedrock_event(const gr_sse_event *in, gr_sse_event *out, char **owned) {
    *owned = NULL;
    if (gr_str_eq_c(in->event, ":exception") || gr_str_eq_c(in->event, ":error")) return exception_event(in, out, owned);
    if (!gr_str_eq_c(in->event, "chunk")) return -1;
    cJSON *j = gr_provider_parse_json(in->data.ptr, in->data.len);
    const char *b64 = gr_provider_get_str(j, "bytes");
    size_t n = 0;
    char *bytes = b64 ? unbase64(b64, strlen(b64), &n) : NULL;
    cJSON_Delete(j);
    if (!bytes) return -1;
    cJSON *ev = gr_provider_parse_json(bytes, n);
    const char *type = gr_provider_get_str(ev, "type");
    if (!type) {
        cJSON_Delete(ev);
        free(bytes);
        return -1;
    }
    /* one buffer: the event name, NUL, then the data (as the upstream sent it) */
    size_t tl = strlen(type);
    char *buf = gr_xmalloc(tl + 1 + n + 1);
    memcpy(buf, type, tl + 1);
    memcpy(buf + tl + 1, bytes, n + 1);
    cJSON_Delete(ev);
    free(bytes);
    *owned = buf;
    *out = (gr_sse_event){.event = {buf, tl}, .data = {buf + tl + 1, n}};
    return 0;
}
