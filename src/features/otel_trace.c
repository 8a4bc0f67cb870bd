/* otel_trace.c — a finished request's spans as OTLP/HTTP JSON or protobuf,
 * queued for the exporter thread (otel_trace.h). The JSON encoding follows the
 * OTLP/JSON mapping: trace and span ids as lower-case hex, times as decimal
 * strings of unix nanoseconds, int64 attribute values as strings, enums as
 * numbers. The protobuf encoding (opentelemetry/proto trace/v1) writes the
 * same spans with pb_out.h: one record is a whole ResourceSpans (field 1 of
 * ExportTraceServiceRequest), so the exporter's batch is the records
 * concatenated. One walk over the spans serves both: each helper below
 * writes its piece in the encoding of `e->pb`. */
#include "otel_trace.h"

#include "http_sink.h"
#include "json_out.h"
#include "log.h"
#include "pb_out.h"
#include "pipeline.h"
#include "text_out.h"
#include "thread_scratch.h"
#include "trace.h"

#include <stdio.h>
#include <stdlib.h>

/* Set before the workers start, cleared after they are joined. */
static gr_http_sink *g_sink;
static bool g_protobuf;
/* protobuf: the Resource and InstrumentationScope messages, encoded once at start */
static char *g_pb_resource, *g_pb_scope;
static size_t g_pb_resource_len, g_pb_scope_len;

/* One request's spans are encoded here (per worker thread), then copied out. */
#define ENCODE_CAP (64 * 1024)

typedef struct enc {
    char *buf;
    size_t o, cap;
    const gr_trace *t;
    bool pb;
    size_t span_mark, kv_mark, any_mark; /* pb: the open Span, KeyValue and AnyValue */
} enc;

/* ---- protobuf field numbers (opentelemetry/proto/trace/v1, common/v1) ---- */
enum {
    PB_SPAN_TRACE_ID = 1, PB_SPAN_SPAN_ID = 2, PB_SPAN_TRACE_STATE = 3, PB_SPAN_PARENT = 4, PB_SPAN_NAME = 5,
    PB_SPAN_KIND = 6, PB_SPAN_START = 7, PB_SPAN_END = 8, PB_SPAN_ATTRS = 9, PB_SPAN_EVENTS = 11, PB_SPAN_STATUS = 15,
    PB_EVENT_TIME = 1, PB_EVENT_NAME = 2, PB_STATUS_MESSAGE = 2, PB_STATUS_CODE = 3,
    PB_KV_KEY = 1, PB_KV_VALUE = 2, PB_ANY_STRING = 1, PB_ANY_BOOL = 2, PB_ANY_INT = 3, PB_ANY_DOUBLE = 4,
    PB_REQ_RESOURCE_SPANS = 1, PB_RS_RESOURCE = 1, PB_RS_SCOPE_SPANS = 2, PB_SS_SCOPE = 1, PB_SS_SPANS = 2,
    PB_RESOURCE_ATTRS = 1, PB_SCOPE_NAME = 1, PB_SCOPE_VERSION = 2,
};

#define LIT(e, s) ((e)->o = GR_OUT_LIT((e)->buf, (e)->o, (e)->cap, s))

static void str(enc *e, const char *s) { e->o = gr_out_json_str(e->buf, e->o, e->cap, s ? s : ""); }
static void u64(enc *e, uint64_t v) { e->o = gr_out_u64(e->buf, e->o, e->cap, v); }

static void hex16(enc *e, uint64_t v) {
    char h[16];
    static const char d[] = "0123456789abcdef";
    for (int i = 15; i >= 0; i--, v >>= 4) h[i] = d[v & 15];
    e->o = gr_out_mem(e->buf, e->o, e->cap, h, 16);
}

static uint64_t unix_ns(const enc *e, uint64_t mono_us) {
    return (uint64_t)((int64_t)mono_us + e->t->wall_offset_us) * 1000u;
}

/* A monotonic time as "unix nanoseconds" (a JSON string: int64). */
static void when(enc *e, uint64_t mono_us) {
    LIT(e, "\"");
    u64(e, unix_ns(e, mono_us));
    LIT(e, "\"");
}

/* ---- attributes: `first` says whether a comma is due (JSON) ---- */

/* Opens one attribute and its value (pb: the KeyValue and AnyValue messages, closed by attr_end). */
static void attr_key(enc *e, bool *first, const char *k) {
    if (e->pb) {
        e->o = gr_pb_open(e->buf, e->o, e->cap, PB_SPAN_ATTRS, &e->kv_mark);
        e->o = gr_pb_str(e->buf, e->o, e->cap, PB_KV_KEY, k);
        e->o = gr_pb_open(e->buf, e->o, e->cap, PB_KV_VALUE, &e->any_mark);
        return;
    }
    if (!*first) LIT(e, ",");
    *first = false;
    LIT(e, "{\"key\":\"");
    e->o = gr_out_str(e->buf, e->o, e->cap, k); /* our own constant keys: nothing to escape */
    LIT(e, "\",\"value\":{");
}

static void attr_end(enc *e) {
    if (e->pb) {
        e->o = gr_pb_close(e->buf, e->o, e->cap, e->any_mark);
        e->o = gr_pb_close(e->buf, e->o, e->cap, e->kv_mark);
    } else LIT(e, "}}");
}

static void attr_str(enc *e, bool *first, const char *k, const char *v) {
    if (!v) return;
    attr_key(e, first, k);
    if (e->pb) e->o = gr_pb_str(e->buf, e->o, e->cap, PB_ANY_STRING, v);
    else {
        LIT(e, "\"stringValue\":");
        str(e, v);
    }
    attr_end(e);
}

static void attr_int(enc *e, bool *first, const char *k, int64_t v) {
    attr_key(e, first, k);
    if (e->pb) e->o = gr_pb_uint(e->buf, e->o, e->cap, PB_ANY_INT, (uint64_t)v); /* int64: two's complement varint */
    else {
        LIT(e, "\"intValue\":\"");
        e->o = gr_out_i64(e->buf, e->o, e->cap, v);
        LIT(e, "\"");
    }
    attr_end(e);
}

static void attr_bool(enc *e, bool *first, const char *k, bool v) {
    attr_key(e, first, k);
    if (e->pb) e->o = gr_pb_uint(e->buf, e->o, e->cap, PB_ANY_BOOL, v);
    else if (v) LIT(e, "\"boolValue\":true");
    else LIT(e, "\"boolValue\":false");
    attr_end(e);
}

/* nano-USD as a decimal USD number (JSON: exact digits, no floating-point printing). */
static void attr_usd(enc *e, bool *first, const char *k, int64_t nusd) {
    attr_key(e, first, k);
    if (e->pb) e->o = gr_pb_double(e->buf, e->o, e->cap, PB_ANY_DOUBLE, (double)(nusd < 0 ? 0 : nusd) / 1e9);
    else {
        LIT(e, "\"doubleValue\":");
        e->o = gr_out_fixed(e->buf, e->o, e->cap, (uint64_t)(nusd < 0 ? 0 : nusd), 9);
    }
    attr_end(e);
}

/* The attribute list around the attr_* calls (pb: attributes are fields of the span, nothing to open). */
static void attrs_open(enc *e) {
    if (!e->pb) LIT(e, ",\"attributes\":[");
}

static void attrs_close(enc *e) {
    if (!e->pb) LIT(e, "]");
}

/* ---- spans ---- */

/* name2: appended to name after a space when not NULL (no formatting on the hot path). */
static void span_open(enc *e, bool *first_span, uint64_t id, uint64_t parent, const char *name, const char *name2,
                      gr_span_kind kind, uint64_t start_us, uint64_t end_us) {
    if (e->pb) {
        unsigned char ids[16];
        gr_pb_be64(ids, e->t->trace_hi);
        gr_pb_be64(ids + 8, e->t->trace_lo);
        e->o = gr_pb_open(e->buf, e->o, e->cap, PB_SS_SPANS, &e->span_mark);
        e->o = gr_pb_bytes(e->buf, e->o, e->cap, PB_SPAN_TRACE_ID, ids, 16);
        gr_pb_be64(ids, id);
        e->o = gr_pb_bytes(e->buf, e->o, e->cap, PB_SPAN_SPAN_ID, ids, 8);
        if (parent) {
            gr_pb_be64(ids, parent);
            e->o = gr_pb_bytes(e->buf, e->o, e->cap, PB_SPAN_PARENT, ids, 8);
        }
        if (name2) {
            size_t n1 = strlen(name), n2 = strlen(name2);
            e->o = gr_pb_varint(e->buf, gr_pb_tag(e->buf, e->o, e->cap, PB_SPAN_NAME, GR_PB_LEN), e->cap, n1 + 1 + n2);
            e->o = gr_out_mem(e->buf, e->o, e->cap, name, n1);
            LIT(e, " ");
            e->o = gr_out_mem(e->buf, e->o, e->cap, name2, n2);
        } else e->o = gr_pb_str(e->buf, e->o, e->cap, PB_SPAN_NAME, name);
        e->o = gr_pb_uint(e->buf, e->o, e->cap, PB_SPAN_KIND, (uint64_t)kind);
        e->o = gr_pb_fixed64(e->buf, e->o, e->cap, PB_SPAN_START, unix_ns(e, start_us));
        e->o = gr_pb_fixed64(e->buf, e->o, e->cap, PB_SPAN_END, unix_ns(e, end_us < start_us ? start_us : end_us));
        return;
    }
    if (!*first_span) LIT(e, ",");
    *first_span = false;
    LIT(e, "{\"traceId\":\"");
    hex16(e, e->t->trace_hi);
    hex16(e, e->t->trace_lo);
    LIT(e, "\",\"spanId\":\"");
    hex16(e, id);
    LIT(e, "\"");
    if (parent) {
        LIT(e, ",\"parentSpanId\":\"");
        hex16(e, parent);
        LIT(e, "\"");
    }
    LIT(e, ",\"name\":");
    if (name2) { /* both parts in one string */
        LIT(e, "\"");
        e->o = gr_out_json_chars(e->buf, e->o, e->cap, name);
        LIT(e, " ");
        e->o = gr_out_json_chars(e->buf, e->o, e->cap, name2);
        LIT(e, "\"");
    } else str(e, name);
    LIT(e, ",\"kind\":");
    u64(e, (uint64_t)kind);
    LIT(e, ",\"startTimeUnixNano\":");
    when(e, start_us);
    LIT(e, ",\"endTimeUnixNano\":");
    when(e, end_us < start_us ? start_us : end_us);
}

static void span_close(enc *e, const char *error) {
    if (e->pb) {
        if (error) {
            size_t m;
            e->o = gr_pb_open(e->buf, e->o, e->cap, PB_SPAN_STATUS, &m);
            e->o = gr_pb_str(e->buf, e->o, e->cap, PB_STATUS_MESSAGE, error);
            e->o = gr_pb_uint(e->buf, e->o, e->cap, PB_STATUS_CODE, 2); /* STATUS_CODE_ERROR */
            e->o = gr_pb_close(e->buf, e->o, e->cap, m);
        }
        e->o = gr_pb_close(e->buf, e->o, e->cap, e->span_mark);
        return;
    }
    if (error) {
        LIT(e, ",\"status\":{\"code\":2,\"message\":");
        str(e, error);
        LIT(e, "}}");
    } else LIT(e, ",\"status\":{}}");
}

static const char *operation_of(const gr_request *r) {
    switch (r->ep) {
    case GR_EP_CHAT:
    case GR_EP_MESSAGES: return "chat";
    case GR_EP_COMPLETIONS: return "text_completion";
    case GR_EP_EMBEDDINGS: return "embeddings";
    default: return NULL;
    }
}

/* The GenAI semantic conventions' provider names for the wire protocols. */
static const char *genai_provider(const char *kind) {
    if (!kind) return NULL;
    if (!strcmp(kind, "gemini")) return "gcp.gemini";
    if (!strcmp(kind, "azure")) return "azure.ai.openai";
    return kind; /* openai, anthropic, mock */
}

static void root_span(enc *e, bool *first_span, gr_request *r) {
    const gr_trace *t = e->t;
    const char *route = r->route_template ? r->route_template : "other";
    span_open(e, first_span, t->root_id, t->parent_id, r->method ? r->method : "?", route, GR_SPAN_SERVER, r->start_us,
              r->end_us);
    if (t->tracestate) {
        if (e->pb) e->o = gr_pb_str(e->buf, e->o, e->cap, PB_SPAN_TRACE_STATE, t->tracestate);
        else {
            LIT(e, ",\"traceState\":");
            str(e, t->tracestate);
        }
    }
    attrs_open(e);
    bool f = true;
    attr_str(e, &f, "http.request.method", r->method);
    attr_str(e, &f, "http.route", route);
    attr_str(e, &f, "url.path", r->path);
    attr_int(e, &f, "http.response.status_code", r->status);
    attr_str(e, &f, "gaterouter.request_id", r->id);
    const char *op = operation_of(r);
    if (op) attr_str(e, &f, "gen_ai.operation.name", op);
    attr_str(e, &f, "gen_ai.request.model", r->model_asked);
    if (r->deployment) {
        const char *kind = genai_provider(gr_provider_kind_name(r->deployment->provider->kind));
        attr_str(e, &f, "gen_ai.provider.name", kind);
        attr_str(e, &f, "gen_ai.system", kind);
        attr_str(e, &f, "gen_ai.response.model", r->deployment->upstream_model);
        attr_str(e, &f, "gaterouter.provider", r->deployment->provider->name);
    }
    if (r->model) attr_str(e, &f, "gaterouter.model", r->model->name);
    if (r->usage.prompt_tokens || r->usage.completion_tokens) {
        attr_int(e, &f, "gen_ai.usage.input_tokens", r->usage.prompt_tokens);
        attr_int(e, &f, "gen_ai.usage.output_tokens", r->usage.completion_tokens);
    }
    if (r->deployment) attr_usd(e, &f, "gaterouter.cost_usd", r->cost_nusd);
    attr_str(e, &f, "gaterouter.route.reason", r->route_reason);
    if (r->deployment) attr_int(e, &f, "gaterouter.attempts", (int64_t)r->attempts + 1);
    if (r->key_name) attr_str(e, &f, "gaterouter.key", r->key_name);
    if (r->ep != GR_EP_OTHER) attr_bool(e, &f, "gen_ai.request.stream", r->stream);
    if (r->cache_hit) attr_bool(e, &f, "gaterouter.cache_hit", true);
    if (r->first_token_us) attr_int(e, &f, "gaterouter.ttft_ms", (int64_t)((r->first_token_us - r->start_us) / 1000u));
    if (r->client_gone || r->client_left) attr_bool(e, &f, "gaterouter.client_gone", true);
    attr_str(e, &f, "error.type", r->error_type);
    attrs_close(e);
    span_close(e, r->status >= 500 ? (r->error_type ? r->error_type : "server error") : NULL);
}

/* The end of phase p: the start of the next phase that ran, else the upstream's start, else the request's end. */
static uint64_t phase_end(const gr_request *r, gr_phase p) {
    for (int q = (int)p + 1; q < GR_PHASE_COUNT; q++)
        if (r->trace->phase_us[q]) return r->trace->phase_us[q];
    return r->upstream_start_us ? r->upstream_start_us : r->end_us;
}

static void phase_span(enc *e, bool *first_span, gr_request *r, gr_phase p, const char *name) {
    uint64_t start = e->t->phase_us[p];
    if (!start) return;
    /* a derived id: stable per request and phase, never 0 */
    uint64_t id = (e->t->root_id ^ (0x9e3779b97f4a7c15ull * ((uint64_t)p + 1))) | 1u;
    span_open(e, first_span, id, e->t->root_id, name, NULL, GR_SPAN_INTERNAL, start, phase_end(r, p));
    span_close(e, NULL);
}

static void child_span(enc *e, bool *first_span, gr_request *r, const gr_span *s) {
    uint64_t end = s->end_us ? s->end_us : r->end_us;
    const char *op = operation_of(r);
    if (s->name) span_open(e, first_span, s->id, e->t->root_id, s->name, NULL, s->kind, s->start_us, end);
    else span_open(e, first_span, s->id, e->t->root_id, op ? op : "chat", s->model, s->kind, s->start_us, end);
    const char *error = s->error;
    if (s->kind == GR_SPAN_CLIENT) {
        if (!s->end_us && r->client_gone) error = "client_gone";
        attrs_open(e);
        bool f = true;
        attr_str(e, &f, "gen_ai.provider.name", genai_provider(s->provider_kind));
        attr_str(e, &f, "gen_ai.request.model", s->model);
        attr_str(e, &f, "gaterouter.provider", s->provider);
        if (s->http_status) attr_int(e, &f, "http.response.status_code", s->http_status);
        if (s->first_byte_us)
            attr_int(e, &f, "gaterouter.ttft_ms", (int64_t)((s->first_byte_us - s->start_us) / 1000u));
        if (error) attr_str(e, &f, "error.type", error);
        attrs_close(e);
        if (s->first_byte_us && e->pb) {
            size_t m;
            e->o = gr_pb_open(e->buf, e->o, e->cap, PB_SPAN_EVENTS, &m);
            e->o = gr_pb_fixed64(e->buf, e->o, e->cap, PB_EVENT_TIME, unix_ns(e, s->first_byte_us));
            e->o = gr_pb_str(e->buf, e->o, e->cap, PB_EVENT_NAME, "gen_ai.first_token");
            e->o = gr_pb_close(e->buf, e->o, e->cap, m);
        } else if (s->first_byte_us) {
            LIT(e, ",\"events\":[{\"timeUnixNano\":");
            when(e, s->first_byte_us);
            LIT(e, ",\"name\":\"gen_ai.first_token\"}]");
        }
    }
    span_close(e, error);
}

static void relay_span(enc *e, bool *first_span, gr_request *r) {
    if (!r->attempt_first_byte_us || r->cache_hit) return;
    uint64_t id = (e->t->root_id ^ 0xd1b54a32d192ed03ull) | 1u;
    span_open(e, first_span, id, e->t->root_id, "gaterouter.relay", NULL, GR_SPAN_INTERNAL, r->attempt_first_byte_us,
              r->end_us);
    attrs_open(e);
    bool f = true;
    attr_int(e, &f, "gaterouter.bytes_out", (int64_t)r->bytes_out);
    if (r->streaming) attr_int(e, &f, "gaterouter.chunks_out", (int64_t)r->chunks_out);
    attrs_close(e);
    span_close(e, r->failed_midstream ? "stream_error" : NULL);
}

static void on_finish(gr_request *r, gr_finish_info *f) {
    (void)f;
    if (!g_sink || !gr_trace_export_wanted(r)) return;
    static gr_thread_scratch scratch = GR_THREAD_SCRATCH_INIT(ENCODE_CAP); /* one per worker */
    enc e = {.buf = gr_thread_scratch_get(&scratch), .cap = ENCODE_CAP, .t = r->trace, .pb = g_protobuf};
    size_t rs = 0, ss = 0;
    if (e.pb) { /* a whole ResourceSpans: the resource, one ScopeSpans, the spans */
        e.o = gr_pb_open(e.buf, e.o, e.cap, PB_REQ_RESOURCE_SPANS, &rs);
        e.o = gr_pb_bytes(e.buf, e.o, e.cap, PB_RS_RESOURCE, g_pb_resource, g_pb_resource_len);
        e.o = gr_pb_open(e.buf, e.o, e.cap, PB_RS_SCOPE_SPANS, &ss);
        e.o = gr_pb_bytes(e.buf, e.o, e.cap, PB_SS_SCOPE, g_pb_scope, g_pb_scope_len);
    }
    bool first = true;
    root_span(&e, &first, r);
    phase_span(&e, &first, r, GR_PHASE_ROUTE, "gaterouter.route");
    phase_span(&e, &first, r, GR_PHASE_ADMIT, "gaterouter.admission");
    for (unsigned i = 0; i < r->trace->nspans; i++) child_span(&e, &first, r, &r->trace->spans[i]);
    relay_span(&e, &first, r);
    if (e.pb) {
        e.o = gr_pb_close(e.buf, e.o, e.cap, ss);
        e.o = gr_pb_close(e.buf, e.o, e.cap, rs);
    }
    uint32_t nspans = 1 + r->trace->nspans + (r->trace->phase_us[GR_PHASE_ROUTE] ? 1 : 0) +
                      (r->trace->phase_us[GR_PHASE_ADMIT] ? 1 : 0) + (r->attempt_first_byte_us && !r->cache_hit ? 1 : 0);
    if (e.o >= e.cap - 1) { /* cut: it would not parse */
        gr_http_sink_drop(g_sink, nspans);
        return;
    }
    char *copy = gr_xmalloc(e.o);
    memcpy(copy, e.buf, e.o);
    gr_http_sink_push(g_sink, copy, e.o, nspans);
}

void gr_otel_trace_register(void) { gr_pipeline_on_finish(GR_FINISH_LOG, on_finish); }

/* The Resource (attributes from the config's OTLP/JSON array) and the
 * InstrumentationScope as protobuf messages, once at start. */
static void encode_pb_header(const gr_trace_conf *tc) {
    size_t cap = strlen(tc->resource_json) + 256, o = 0;
    g_pb_resource = gr_xmalloc(cap);
    cJSON *attrs = cJSON_Parse(tc->resource_json), *a;
    cJSON_ArrayForEach(a, attrs) {
        const char *k = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "key"));
        const char *v = cJSON_GetStringValue(
            cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(a, "value"), "stringValue"));
        if (!k || !v) continue;
        size_t kv, any;
        o = gr_pb_open(g_pb_resource, o, cap, PB_RESOURCE_ATTRS, &kv);
        o = gr_pb_str(g_pb_resource, o, cap, PB_KV_KEY, k);
        o = gr_pb_open(g_pb_resource, o, cap, PB_KV_VALUE, &any);
        o = gr_pb_str(g_pb_resource, o, cap, PB_ANY_STRING, v);
        o = gr_pb_close(g_pb_resource, o, cap, any);
        o = gr_pb_close(g_pb_resource, o, cap, kv);
    }
    cJSON_Delete(attrs);
    g_pb_resource_len = o;
    g_pb_scope = gr_xmalloc(64);
    o = gr_pb_str(g_pb_scope, 0, 64, PB_SCOPE_NAME, "gaterouter");
    g_pb_scope_len = gr_pb_str(g_pb_scope, o, 64, PB_SCOPE_VERSION, GR_VERSION);
}

gr_status gr_otel_trace_start(const gr_config *cfg, char *err, size_t errlen) {
    const gr_trace_conf *tc = gr_trace_conf_of(cfg);
    if (!tc) return GR_OK;
    size_t plen = strlen(tc->resource_json) + 256;
    char *prefix = gr_xmalloc(plen);
    snprintf(prefix, plen, "{\"resourceSpans\":[{\"resource\":{\"attributes\":%s},\"scopeSpans\":[{\"scope\":{\"name\":"
                    "\"gaterouter\",\"version\":\"" GR_VERSION "\"},\"spans\":[",
            tc->resource_json);
    g_protobuf = tc->protobuf;
    if (g_protobuf) encode_pb_header(tc);
    gr_http_sink_conf sc = {
        .name = "otlp_traces",
        .url = tc->endpoint,
        .content_type = g_protobuf ? "application/x-protobuf" : "application/json",
        .headers = tc->headers,
        .prefix = g_protobuf ? "" : prefix, /* protobuf: records are whole ResourceSpans, simply concatenated */
        .separator = g_protobuf ? "" : ",",
        .suffix = g_protobuf ? "" : "]}]}]}",
        .queue_max = tc->queue_max,
        .batch_max = tc->batch_max,
        .batch_delay_ms = tc->batch_delay_ms,
        .timeout_ms = tc->export_timeout_ms,
    };
    g_sink = gr_http_sink_new(&sc, err, errlen);
    free(prefix);
    if (!g_sink) return GR_ERR_UNSUPPORTED;
    GR_INFO("tracing: OTLP/HTTP %s to %s (sampler %d, ratio %g)", g_protobuf ? "protobuf" : "JSON", tc->endpoint,
            tc->sampler, tc->sample_ratio);
    return GR_OK;
}

void gr_otel_trace_stop(void) {
    gr_http_sink_free(g_sink);
    g_sink = NULL;
    free(g_pb_resource), free(g_pb_scope);
    g_pb_resource = g_pb_scope = NULL;
}
