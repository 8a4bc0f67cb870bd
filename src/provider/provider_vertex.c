/* provider_vertex.c — Google Vertex AI adapter: the model's publisher picks
 * the wire format, and the existing adapters do the translating.
 *   Gemini (google):   <base_url>/v1/projects/<p>/locations/<l>/publishers/google/models/<m>:generateContent
 *                      (stream: :streamGenerateContent?alt=sse) — the Gemini adapter, unchanged
 *   Claude (anthropic, ids starting "claude"):
 *                      …/publishers/anthropic/models/<m>:rawPredict (stream: :streamRawPredict) —
 *                      the Anthropic adapter's body without `model`, with
 *                      anthropic_version "vertex-2023-10-16", and no anthropic-version header
 * Auth is `Authorization: Bearer <access token>` — the token the proxy got
 * from vertex_token.c (ctx->bearer_token); no API key is ever sent.
 * Responses, streams and errors go to the publisher's adapter as they are.
 * /v1/embeddings: publishers/google/models/<m>:predict (provider_vertex_embed.c).
 * Mapping decisions: docs/PROVIDERS.md ("Google Vertex AI"). */
#include "provider_native.h"

#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

static bool is_anthropic(const char *model) { return model && !strncasecmp(model, "claude", 6); }

static const gr_provider_ops *inner_ops(const gr_adapter_ctx *ctx) {
    return is_anthropic(ctx ? ctx->upstream_model : NULL) ? &gr_anthropic_ops : &gr_gemini_ops;
}

char *gr_vertex_publisher_base(const gr_provider_conf *pc, const char *publisher) {
    size_t n = strlen(pc->base_url) + strlen(pc->project) + strlen(pc->location) + strlen(publisher) + 48;
    char *b = gr_xmalloc(n);
    snprintf(b, n, "%s/v1/projects/%s/locations/%s/publishers/%s", pc->base_url, pc->project, pc->location, publisher);
    return b;
}

static void drop_header(gr_http_request *r, const char *prefix) {
    size_t pl = strlen(prefix), k = 0;
    for (size_t i = 0; i < r->nheaders; i++) {
        if (!strncasecmp(r->headers[i], prefix, pl)) free(r->headers[i]);
        else r->headers[k++] = r->headers[i];
    }
    r->nheaders = k;
}

/* The Anthropic body as Vertex wants it: no `model`, anthropic_version set. */
static bool rewrite_anthropic_body(gr_http_request *out) {
    cJSON *b = gr_provider_parse_json(out->body, out->body_len);
    if (!cJSON_IsObject(b)) {
        cJSON_Delete(b);
        return false;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(b, "model");
    cJSON_AddStringToObject(b, "anthropic_version", GR_VERTEX_ANTHROPIC_VERSION);
    free(out->body);
    out->body = NULL;
    bool ok = gr_provider_set_body(out, b);
    cJSON_Delete(b);
    return ok;
}

gr_status gr_vertex_check_ctx(const gr_adapter_ctx *ctx, gr_upstream_error *err) {
    const gr_provider_conf *pc = ctx ? ctx->provider : NULL;
    if (!pc || !pc->base_url || !pc->project || !pc->location) {
        gr_provider_error_set(err, 500, "api_error", "the Vertex AI provider has no project or location");
        return GR_ERR_INVALID;
    }
    if (!ctx->bearer_token) {
        gr_provider_error_set(err, 502, "api_error", "no Vertex AI access token");
        return GR_ERR_INVALID;
    }
    return GR_OK;
}

static gr_status build_chat_request(const gr_adapter_ctx *ctx, const cJSON *req, gr_http_request *out,
                                    gr_upstream_error *err) {
    memset(out, 0, sizeof(*out));
    if (gr_vertex_check_ctx(ctx, err) != GR_OK) return GR_ERR_INVALID;
    const gr_provider_conf *pc = ctx->provider;
    bool anth = is_anthropic(ctx->upstream_model);
    gr_provider_conf inner = *pc; /* the publisher adapter sees the publisher's base, no key, no extra headers */
    char *base = gr_vertex_publisher_base(pc, anth ? "anthropic" : "google");
    inner.base_url = base;
    inner.api_key = NULL;
    inner.nheaders = 0;
    gr_adapter_ctx c2 = *ctx;
    c2.provider = &inner;
    gr_status rc = (anth ? &gr_anthropic_ops : &gr_gemini_ops)->build_chat_request(&c2, req, out, err);
    if (rc == GR_OK && anth) {
        bool stream = ctx->stream || cJSON_IsTrue(gr_provider_get(req, "stream"));
        const char *m = ctx->upstream_model;
        size_t n = strlen(base) + strlen(m) + 32;
        free(out->url);
        out->url = gr_xmalloc(n);
        snprintf(out->url, n, "%s/models/%s:%s", base, m, stream ? "streamRawPredict" : "rawPredict");
        drop_header(out, "anthropic-version:");
        if (!rewrite_anthropic_body(out)) {
            gr_provider_error_set(err, 500, "api_error", "could not build the Vertex AI request");
            rc = GR_ERR_INVALID;
        }
    }
    free(base);
    if (rc != GR_OK) {
        gr_http_request_free(out);
        return rc;
    }
    gr_http_request_add_header(out, "authorization: Bearer %s", ctx->bearer_token);
    return GR_OK;
}

static gr_status parse_chat_response(const gr_adapter_ctx *ctx, const char *body, size_t len, cJSON **out,
                                     gr_usage *usage, gr_upstream_error *err) {
    return inner_ops(ctx)->parse_chat_response(ctx, body, len, out, usage, err);
}

/* A stream translator of the publisher's adapter, and which adapter it is. */
typedef struct vertex_stream {
    const gr_provider_ops *ops;
    gr_stream_translator *inner;
} vertex_stream;

static gr_stream_translator *stream_new(const gr_adapter_ctx *ctx) {
    vertex_stream *s = gr_xcalloc(1, sizeof(*s));
    s->ops = inner_ops(ctx);
    s->inner = s->ops->stream_new(ctx);
    return (gr_stream_translator *)s;
}

static gr_status stream_event(gr_stream_translator *st, const gr_sse_event *ev, gr_chunk_emit_fn emit, void *ud,
                              gr_upstream_error *err) {
    vertex_stream *s = (vertex_stream *)st;
    return s->ops->stream_event(s->inner, ev, emit, ud, err);
}

static gr_status stream_finish(gr_stream_translator *st, gr_chunk_emit_fn emit, void *ud, gr_usage *usage,
                               gr_upstream_error *err) {
    vertex_stream *s = (vertex_stream *)st;
    return s->ops->stream_finish(s->inner, emit, ud, usage, err);
}

static void stream_free(gr_stream_translator *st) {
    vertex_stream *s = (vertex_stream *)st;
    if (!s) return;
    s->ops->stream_free(s->inner);
    free(s);
}

/* Vertex's own errors (bad token, project, quota) come in Google's shape
 * ({"error":{code,message,status}}), which the Gemini adapter maps; an
 * Anthropic model's errors in Anthropic's. */
static void map_error(const gr_adapter_ctx *ctx, int status, const char *body, size_t len, gr_upstream_error *err) {
    cJSON *j = gr_provider_parse_json(body, len);
    const char *type = gr_provider_get_str(j, "type");
    bool anth_shape = type && !strcmp(type, "error");
    cJSON_Delete(j);
    (anth_shape ? &gr_anthropic_ops : &gr_gemini_ops)->map_error(ctx, status, body, len, err);
}

const gr_provider_ops gr_vertex_ops = {
    .kind = "vertex",
    GR_PROVIDER_TRANSLATOR_OPS,
    .build_embeddings_request = gr_vertex_build_embeddings_request,
    .parse_embeddings_response = gr_vertex_parse_embeddings_response,
};
