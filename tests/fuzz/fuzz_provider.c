/* fuzz_provider.c — a native adapter's response side, compiled once per
 * provider (GR_FUZZ_KIND = GR_PROVIDER_ANTHROPIC / GR_PROVIDER_GEMINI /
 * GR_PROVIDER_BEDROCK, whose stream is AWS event-stream frames, not SSE):
 *   byte 0 bit 0 = 0: the rest is a non-streamed 2xx body -> parse_chat_response,
 *                     (and parse_embeddings_response when the adapter has
 *                     one; byte 0 bit 2: base64), and the same bytes as an
 *                     error body -> map_error(status)
 *   byte 0 bit 0 = 1: the rest is a stream, framed by gr_frames_feed split at
 *                     a data-derived offset -> stream_event per event ->
 *                     stream_finish (also after a framing/adapter error, as
 *                     proxy.c does) -> stream_free
 *   byte 0 bit 1: include_usage; byte 1: split offset / error status.
 * Invariants: every emitted chunk is one valid JSON object; a parsed response
 * is an object; usage counts are >= 0; mapped errors have a 4xx/5xx status, a
 * type and a NUL-terminated message. */
#include "fuzz.h"
#include "provider.h"
#include "provider_native.h"

#ifndef GR_FUZZ_KIND
#error "define GR_FUZZ_KIND"
#endif

typedef struct run {
    const gr_provider_ops *ops;
    gr_stream_translator *st;
    gr_upstream_error err;
    bool failed;
    size_t chunks;
} run;

static void check_err(const gr_upstream_error *e) {
    GR_FUZZ_ASSERT(e->status >= 400 && e->status <= 599);
    GR_FUZZ_ASSERT(e->type != NULL);
    GR_FUZZ_ASSERT(memchr(e->message, '\0', sizeof e->message) != NULL);
}

static void check_usage(const gr_usage *u) {
    GR_FUZZ_ASSERT(u->prompt_tokens >= 0 && u->completion_tokens >= 0);
    GR_FUZZ_ASSERT(u->cached_tokens >= 0 && u->reasoning_tokens >= 0);
}

static int on_chunk(void *ud, const char *data, size_t len) {
    run *r = ud;
    cJSON *c = cJSON_ParseWithLength(data, len);
    GR_FUZZ_ASSERT(c != NULL && cJSON_IsObject(c));
    cJSON_Delete(c);
    r->chunks++;
    return 0;
}

static int on_event(void *ud, const gr_sse_event *ev) {
    run *r = ud;
    if (r->ops->stream_event(r->st, ev, on_chunk, r, &r->err) != GR_OK) {
        r->failed = true;
        return 1;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    const gr_provider_ops *ops = gr_provider_ops_for(GR_FUZZ_KIND);
    GR_FUZZ_ASSERT(ops != NULL);
    bool stream = data[0] & 1;
    gr_provider_conf pc = {.name = "fuzz", .kind = GR_FUZZ_KIND,
                           .base_url = "https://upstream.invalid/v1", .api_key = "k"};
    gr_adapter_ctx ctx = {
        .provider = &pc,
        .upstream_model = "upstream-model",
        .public_model = "public-model",
        .request_id = "chatcmpl-fuzz",
        .created = 1700000000,
        .stream = stream,
        .include_usage = (data[0] & 2) != 0,
    };
    const char *body = (const char *)data + 2;
    size_t len = size - 2;

    if (!stream) {
        char *copy = gr_fuzz_cstr((const uint8_t *)body, len); /* NUL after, like the proxy's buffer */
        cJSON *out = NULL;
        gr_usage u;
        memset(&u, 0, sizeof u);
        gr_upstream_error err;
        memset(&err, 0, sizeof err);
        if (ops->parse_chat_response(&ctx, copy, len, &out, &u, &err) == GR_OK) {
            GR_FUZZ_ASSERT(out && cJSON_IsObject(out));
            char *t = cJSON_PrintUnformatted(out);
            GR_FUZZ_ASSERT(t);
            free(t);
            check_usage(&u);
        } else {
            check_err(&err);
        }
        cJSON_Delete(out);
        if (ops->parse_embeddings_response) { /* the same bytes as an embeddings reply */
            out = NULL;
            memset(&u, 0, sizeof u);
            memset(&err, 0, sizeof err);
            ctx.embeddings_base64 = (data[0] & 4) != 0;
            cJSON *canon = cJSON_Parse(ctx.embeddings_base64 ? "{\"input\":[\"a\",\"b\"],\"encoding_format\":\"base64\"}"
                                                             : "{\"input\":[\"a\",\"b\"]}");
            gr_status erc = ops->parse_embeddings_response(&ctx, canon, copy, len, &out, &u, &err);
            cJSON_Delete(canon);
            if (erc == GR_OK) {
                GR_FUZZ_ASSERT(out && cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(out, "data")));
                check_usage(&u);
            } else {
                check_err(&err);
            }
            cJSON_Delete(out);
        }
        static const int statuses[8] = {400, 401, 403, 404, 429, 500, 529, 302};
        memset(&err, 0, sizeof err);
        ops->map_error(&ctx, statuses[data[1] & 7], copy, len, &err);
        check_err(&err);
        free(copy);
        return 0;
    }

    run r;
    memset(&r, 0, sizeof r);
    r.ops = ops;
    r.st = ops->stream_new(&ctx);
    GR_FUZZ_ASSERT(r.st != NULL);
    gr_frames p; /* SSE, or the AWS event stream for Bedrock */
    gr_frames_init(&p, ops->framing, 1 << 16);
    size_t cut = len ? ((size_t)data[1] * 37) % (len + 1) : 0;
    gr_status rc = gr_frames_feed(&p, body, cut, on_event, &r);
    if (!r.failed && (rc == GR_OK || rc == GR_AGAIN))
        rc = gr_frames_feed(&p, body + cut, len - cut, on_event, &r);
    if (rc != GR_OK && rc != GR_AGAIN && !r.failed) {
        r.failed = true;
        gr_provider_bad_upstream(&r.err, "SSE framing error: %s", gr_status_str(rc));
    }
    gr_usage u;
    memset(&u, 0, sizeof u);
    if (!r.failed) {
        (void)gr_frames_finish(&p);
        if (ops->stream_finish(r.st, on_chunk, &r, &u, &r.err) != GR_OK) r.failed = true;
        else check_usage(&u);
    } else {
        gr_upstream_error ignored;
        memset(&ignored, 0, sizeof ignored);
        (void)ops->stream_finish(r.st, on_chunk, &r, &u, &ignored);
    }
    if (r.failed) check_err(&r.err);
    ops->stream_free(r.st);
    gr_frames_dispose(&p);
    return 0;
}
