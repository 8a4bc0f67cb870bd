/* log_sink.c — a finished request as a log record for an HTTP endpoint or
 * Langfuse, queued for the exporter thread (log_sink.h). */
#include "log_sink.h"

#include "conf_kv.h"
#include "http_sink.h"
#include "json_out.h"
#include "log.h"
#include "pipeline.h"
#include "text_out.h"
#include "thread_scratch.h"

#include <event2/buffer.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef enum { FORMAT_GENERIC = 0, FORMAT_LANGFUSE } sink_format;
typedef enum { CONTENT_NONE = 0, CONTENT_REDACTED, CONTENT_FULL } sink_content;

typedef struct log_sink_conf {
    char *url, *headers_kv;
    int format, content;
    uint32_t max_content_bytes, queue_max, batch_max, batch_delay_ms, timeout_ms;
    char *headers; /* derived: "Name: value" lines */
} log_sink_conf;

static const char *const k_formats[] = {"generic", "langfuse", NULL};
static const char *const k_contents[] = {"none", "redacted", "full", NULL};

#define L(f) GR_CONF_F(log_sink_conf, f)
const gr_conf_key gr_conf_log_sink_keys[] = {
    {"url", GR_CONF_STRING, L(url), 0, 0, NULL, NULL,
     "where batches are POSTed (http[s]://…; for Langfuse its …/api/public/ingestion); required"},
    {"format", GR_CONF_ENUM, L(format), 0, 0, "generic", k_formats,
     "`generic`: a JSON array of records; `langfuse`: the ingestion API's batch (trace-create + generation-create)"},
    {"headers", GR_CONF_STRING, L(headers_kv), 0, 0, NULL, NULL,
     "request headers `k=v,k2=v2` (values %-encoded), e.g. authorization=Basic%20… for Langfuse"},
    {"content", GR_CONF_ENUM, L(content), 0, 0, "none", k_contents,
     "prompts and completions: `none`, `redacted` (their size only) or `full` (the text)"},
    {"max_content_bytes", GR_CONF_BYTES, L(max_content_bytes), 64, 32768, "8KiB", NULL,
     "with content full: each prompt or completion is cut at this size"},
    {"queue_max", GR_CONF_COUNT, L(queue_max), 1, 1000000, "4096", NULL,
     "records queued at most; past it they are dropped and counted"},
    {"batch_max", GR_CONF_COUNT, L(batch_max), 1, 100000, "100", NULL, "records per POST (<= queue_max)"},
    {"batch_delay_ms", GR_CONF_MS, L(batch_delay_ms), 1, 600000, "1000", NULL, "a record waits at most this long for its batch"},
    {"timeout_ms", GR_CONF_MS, L(timeout_ms), 1, 600000, "10000", NULL, "one POST, connect included"},
    GR_CONF_END,
};
#undef L

static void conf_free(log_sink_conf *c) {
    if (!c) return;
    gr_conf_free_keys(gr_conf_log_sink_keys, c);
    free(c->headers);
    free(c);
}

void gr_log_sink_conf_free(void *conf) { conf_free(conf); }

void *gr_log_sink_conf_parse(const cJSON *sec, const gr_config *cfg, gr_conf_err *e) {
    (void)cfg;
    if (!sec || cJSON_IsNull(sec)) return NULL;
    log_sink_conf *c = gr_xcalloc(1, sizeof(*c));
    gr_conf_load_keys(sec, "log_sink", gr_conf_log_sink_keys, c, e);
    char *hk[GR_CONF_KV_MAX], *hv[GR_CONF_KV_MAX];
    int nh = 0;
    if (!e->failed && (!c->url || (strncmp(c->url, "http://", 7) && strncmp(c->url, "https://", 8))))
        gr_conf_fail(e, "log_sink.url: required, an http:// or https:// URL");
    if (!e->failed && c->batch_max > c->queue_max)
        gr_conf_fail(e, "log_sink.batch_max: %u is more than log_sink.queue_max (%u)", c->batch_max, c->queue_max);
    if (!e->failed && c->headers_kv && (nh = gr_conf_parse_kv(c->headers_kv, "log_sink.headers", hk, hv, 0, e)) < 0) nh = 0;
    if (!e->failed) c->headers = gr_conf_render_headers(hk, hv, nh);
    gr_conf_free_kv(hk, hv, nh);
    if (e->failed) {
        conf_free(c);
        return NULL;
    }
    return c;
}

/* ---- encoding ---- */

/* Set before the workers start, cleared after they are joined; the settings
 * are copied from the start-up config (a reload does not change them). */
static gr_http_sink *g_sink;
static struct {
    int format, content;
    uint32_t max_content_bytes;
} g_set, *const g_conf = &g_set;

#define ENCODE_CAP (128 * 1024)

typedef struct enc {
    char *buf;
    size_t o, cap;
} enc;

#define LIT(e, s) ((e)->o = GR_OUT_LIT((e)->buf, (e)->o, (e)->cap, s))
static void str(enc *e, const char *s) { e->o = gr_out_json_str(e->buf, e->o, e->cap, s); }
static void i64(enc *e, int64_t v) { e->o = gr_out_i64(e->buf, e->o, e->cap, v); }

/* ISO 8601 UTC with milliseconds, quoted. */
static void iso_time(enc *e, uint64_t wall_ms) {
    time_t s = (time_t)(wall_ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    char t[40];
    size_t n = strftime(t, sizeof t, "\"%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(t + n, sizeof t - n, ".%03uZ\"", (unsigned)(wall_ms % 1000));
    e->o = gr_out_mem(e->buf, e->o, e->cap, t, n);
}

/* Text cut at max bytes without splitting a UTF-8 sequence, as a JSON string. */
static void text_capped(enc *e, const char *s, size_t len, size_t max) {
    if (len > max) {
        len = max;
        while (len && ((unsigned char)s[len] & 0xC0) == 0x80) len--;
    }
    char *copy = gr_xmalloc(len + 1);
    memcpy(copy, s, len);
    copy[len] = '\0';
    str(e, copy);
    free(copy);
}

/* The request's prompt part (messages / prompt / input) as JSON text, or NULL. */
static char *prompt_text(const gr_request *r) {
    const cJSON *b = r->messages_body ? r->messages_body : r->body;
    if (!b) return NULL;
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(b, "messages");
    if (!p) p = cJSON_GetObjectItemCaseSensitive(b, "prompt");
    if (!p) p = cJSON_GetObjectItemCaseSensitive(b, "input");
    return p ? cJSON_PrintUnformatted(p) : NULL;
}

/* "input" and "output" members per log_sink.content (with a leading comma). */
static void content(enc *e, const gr_request *r, const char *in_key, const char *out_key) {
    if (g_conf->content == CONTENT_NONE) return;
    char *prompt = prompt_text(r);
    size_t plen = prompt ? strlen(prompt) : 0;
    size_t olen = r->up_body && !r->streaming ? evbuffer_get_length(r->up_body) : 0;
    LIT(e, ",\"");
    e->o = gr_out_str(e->buf, e->o, e->cap, in_key);
    LIT(e, "\":");
    if (g_conf->content == CONTENT_REDACTED) {
        LIT(e, "\"[redacted: ");
        i64(e, (int64_t)plen);
        LIT(e, " bytes]\",\"");
        e->o = gr_out_str(e->buf, e->o, e->cap, out_key);
        LIT(e, "\":\"[redacted: ");
        i64(e, (int64_t)olen);
        LIT(e, " bytes]\"");
    } else {
        if (prompt) text_capped(e, prompt, plen, g_conf->max_content_bytes);
        else LIT(e, "null");
        LIT(e, ",\"");
        e->o = gr_out_str(e->buf, e->o, e->cap, out_key);
        LIT(e, "\":");
        if (olen) text_capped(e, (const char *)evbuffer_pullup(r->up_body, -1), olen, g_conf->max_content_bytes);
        else LIT(e, "null");
    }
    cJSON_free(prompt);
}

/* The metadata members, without braces. */
static void metadata(enc *e, const gr_request *r) {
    LIT(e, "\"request_id\":");
    str(e, r->id);
    if (r->client_id[0]) {
        LIT(e, ",\"client_request_id\":");
        str(e, r->client_id);
    }
    LIT(e, ",\"method\":");
    str(e, r->method);
    LIT(e, ",\"route\":");
    str(e, r->route_template ? r->route_template : "other");
    LIT(e, ",\"status\":");
    i64(e, r->status);
    LIT(e, ",\"key\":");
    str(e, r->key_name);
    LIT(e, ",\"model\":");
    str(e, r->model_asked);
    LIT(e, ",\"served_model\":");
    str(e, r->deployment ? r->deployment->upstream_model : NULL);
    LIT(e, ",\"provider\":");
    str(e, r->deployment ? r->deployment->provider->name : NULL);
    LIT(e, ",\"stream\":");
    if (r->stream) LIT(e, "true");
    else LIT(e, "false");
    LIT(e, ",\"prompt_tokens\":");
    i64(e, r->usage.prompt_tokens);
    LIT(e, ",\"completion_tokens\":");
    i64(e, r->usage.completion_tokens);
    LIT(e, ",\"cost_usd\":");
    e->o = gr_out_fixed(e->buf, e->o, e->cap, (uint64_t)(r->cost_nusd < 0 ? 0 : r->cost_nusd), 9);
    LIT(e, ",\"latency_ms\":");
    e->o = gr_out_fixed(e->buf, e->o, e->cap, r->end_us - r->start_us, 3);
    if (r->first_token_us) {
        LIT(e, ",\"ttft_ms\":");
        e->o = gr_out_fixed(e->buf, e->o, e->cap, r->first_token_us - r->start_us, 3);
    }
    LIT(e, ",\"route_reason\":");
    str(e, r->route_reason);
    LIT(e, ",\"error\":");
    str(e, r->error_type);
}

static void generic_record(enc *e, const gr_request *r, uint64_t end_ms) {
    LIT(e, "{\"ts\":");
    iso_time(e, end_ms);
    LIT(e, ",");
    metadata(e, r);
    content(e, r, "input", "output");
    LIT(e, "}");
}

/* Langfuse ingestion: a trace and its generation, two events of the batch. */
static void langfuse_record(enc *e, const gr_request *r, uint64_t end_ms) {
    uint64_t start_ms = end_ms - (r->end_us - r->start_us) / 1000u;
    LIT(e, "{\"id\":\"");
    e->o = gr_out_str(e->buf, e->o, e->cap, r->id);
    LIT(e, "-t\",\"type\":\"trace-create\",\"timestamp\":");
    iso_time(e, end_ms);
    LIT(e, ",\"body\":{\"id\":");
    str(e, r->id);
    LIT(e, ",\"name\":");
    str(e, r->route_template ? r->route_template : "other");
    LIT(e, ",\"timestamp\":");
    iso_time(e, start_ms);
    if (r->key_name) {
        LIT(e, ",\"userId\":");
        str(e, r->key_name);
    }
    LIT(e, ",\"metadata\":{");
    metadata(e, r);
    LIT(e, "}}},{\"id\":\"");
    e->o = gr_out_str(e->buf, e->o, e->cap, r->id);
    LIT(e, "-g\",\"type\":\"generation-create\",\"timestamp\":");
    iso_time(e, end_ms);
    LIT(e, ",\"body\":{\"id\":\"");
    e->o = gr_out_str(e->buf, e->o, e->cap, r->id);
    LIT(e, "-g\",\"traceId\":");
    str(e, r->id);
    LIT(e, ",\"name\":");
    str(e, r->model_asked);
    LIT(e, ",\"startTime\":");
    iso_time(e, start_ms);
    LIT(e, ",\"endTime\":");
    iso_time(e, end_ms);
    if (r->first_token_us) {
        LIT(e, ",\"completionStartTime\":");
        iso_time(e, start_ms + (r->first_token_us - r->start_us) / 1000u);
    }
    LIT(e, ",\"model\":");
    str(e, r->deployment ? r->deployment->upstream_model : r->model_asked);
    LIT(e, ",\"usage\":{\"input\":");
    i64(e, r->usage.prompt_tokens);
    LIT(e, ",\"output\":");
    i64(e, r->usage.completion_tokens);
    LIT(e, ",\"unit\":\"TOKENS\"},\"costDetails\":{\"total\":");
    e->o = gr_out_fixed(e->buf, e->o, e->cap, (uint64_t)(r->cost_nusd < 0 ? 0 : r->cost_nusd), 9);
    LIT(e, "},\"level\":");
    if (r->status >= 400) LIT(e, "\"ERROR\"");
    else LIT(e, "\"DEFAULT\"");
    if (r->error_type) {
        LIT(e, ",\"statusMessage\":");
        str(e, r->error_type);
    }
    content(e, r, "input", "output");
    LIT(e, "}}");
}

static void on_finish(gr_request *r, gr_finish_info *f) {
    (void)f;
    if (!g_sink || r->ep == GR_EP_OTHER) return; /* model requests only: probes and admin calls are not LLM logs */
    static gr_thread_scratch scratch = GR_THREAD_SCRATCH_INIT(ENCODE_CAP); /* one per worker */
    enc e = {gr_thread_scratch_get(&scratch), 0, ENCODE_CAP};
    uint64_t end_ms = gr_wall_ms();
    if (g_conf->format == FORMAT_LANGFUSE) langfuse_record(&e, r, end_ms);
    else generic_record(&e, r, end_ms);
    if (e.o >= e.cap - 1) { /* cut: it would not parse */
        gr_http_sink_drop(g_sink, 1);
        return;
    }
    char *copy = gr_xmalloc(e.o);
    memcpy(copy, e.buf, e.o);
    gr_http_sink_push(g_sink, copy, e.o, 1);
}

void gr_log_sink_register(void) { gr_pipeline_on_finish(GR_FINISH_LOG, on_finish); }

gr_status gr_log_sink_start(const gr_config *cfg, char *err, size_t errlen) {
    const log_sink_conf *c = cfg->section[GR_CONF_SEC_LOG_SINK];
    if (!c) return GR_OK;
    bool lf = c->format == FORMAT_LANGFUSE;
    gr_http_sink_conf sc = {
        .name = "log_sink",
        .url = c->url,
        .content_type = "application/json",
        .headers = c->headers,
        .prefix = lf ? "{\"batch\":[" : "[",
        .separator = ",",
        .suffix = lf ? "]}" : "]",
        .queue_max = c->queue_max,
        .batch_max = c->batch_max,
        .batch_delay_ms = c->batch_delay_ms,
        .timeout_ms = c->timeout_ms,
    };
    g_sink = gr_http_sink_new(&sc, err, errlen);
    if (!g_sink) return GR_ERR_UNSUPPORTED;
    g_set.format = c->format, g_set.content = c->content, g_set.max_content_bytes = c->max_content_bytes;
    GR_INFO("log sink: %s records to %s (content: %s)", k_formats[c->format], c->url, k_contents[c->content]);
    return GR_OK;
}

void gr_log_sink_stop(void) {
    gr_http_sink_free(g_sink);
    g_sink = NULL;
}
