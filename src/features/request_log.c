/* request_log.c — what a finished request leaves behind for operators: the
 * JSON access-log line and its metrics (requests, latency, TTFT, tokens,
 * cost). Registered at GR_FINISH_LOG (pipeline.h). */
#include "request_log.h"

#include "json_out.h"
#include "log.h"
#include "metrics.h"
#include "pipeline.h"
#include "text_out.h"

static void write_access_log(gr_request *r) {
    if (!gr_access_log_enabled()) return;
    char line[3072];
    size_t cap = sizeof(line) - 1, o = 0; /* one byte kept for the closing brace */
    o = GR_OUT_LIT(line, o, cap, "{\"ts\":");
    o = gr_out_u64(line, o, cap, gr_wall_ms());
    o = GR_OUT_LIT(line, o, cap, ",\"id\":");
    o = gr_out_json_str(line, o, cap, r->id);
    if (r->client_id[0]) {
        o = GR_OUT_LIT(line, o, cap, ",\"client_request_id\":");
        o = gr_out_json_str(line, o, cap, r->client_id);
    }
    o = GR_OUT_LIT(line, o, cap, ",\"method\":");
    o = gr_out_json_str(line, o, cap, r->method);
    o = GR_OUT_LIT(line, o, cap, ",\"path\":");
    o = gr_out_json_str(line, o, cap, r->path);
    o = GR_OUT_LIT(line, o, cap, ",\"status\":");
    o = gr_out_i64(line, o, cap, r->status);
    o = GR_OUT_LIT(line, o, cap, ",\"key\":");
    o = gr_out_json_str(line, o, cap, r->key_name);
    o = GR_OUT_LIT(line, o, cap, ",\"model\":");
    o = gr_out_json_str(line, o, cap, r->model_asked);
    o = GR_OUT_LIT(line, o, cap, ",\"served_model\":");
    o = gr_out_json_str(line, o, cap, r->deployment ? r->deployment->upstream_model : NULL);
    o = GR_OUT_LIT(line, o, cap, ",\"provider\":");
    o = gr_out_json_str(line, o, cap, r->deployment ? r->deployment->provider->name : NULL);
    /* Decimals from integers (exact, and no floating-point formatting on the
     * hot path): nano-USD -> USD with 9 places, µs -> ms with 3. */
    o = r->stream ? GR_OUT_LIT(line, o, cap, ",\"stream\":true") : GR_OUT_LIT(line, o, cap, ",\"stream\":false");
    o = GR_OUT_LIT(line, o, cap, ",\"prompt_tokens\":");
    o = gr_out_i64(line, o, cap, r->usage.prompt_tokens);
    o = GR_OUT_LIT(line, o, cap, ",\"completion_tokens\":");
    o = gr_out_i64(line, o, cap, r->usage.completion_tokens);
    o = GR_OUT_LIT(line, o, cap, ",\"cached_tokens\":");
    o = gr_out_i64(line, o, cap, r->usage.cached_tokens);
    o = r->usage.estimated ? GR_OUT_LIT(line, o, cap, ",\"usage_estimated\":true")
                           : GR_OUT_LIT(line, o, cap, ",\"usage_estimated\":false");
    o = GR_OUT_LIT(line, o, cap, ",\"cost_usd\":");
    o = gr_out_fixed(line, o, cap, (uint64_t)(r->cost_nusd < 0 ? 0 : r->cost_nusd), 9);
    if (r->first_token_us) {
        o = GR_OUT_LIT(line, o, cap, ",\"ttft_ms\":");
        o = gr_out_fixed(line, o, cap, r->first_token_us - r->start_us, 3);
    }
    o = GR_OUT_LIT(line, o, cap, ",\"latency_ms\":");
    o = gr_out_fixed(line, o, cap, r->end_us - r->start_us, 3);
    o = GR_OUT_LIT(line, o, cap, ",\"upstream_status\":");
    o = gr_out_i64(line, o, cap, r->up_status);
    o = GR_OUT_LIT(line, o, cap, ",\"bytes_out\":");
    o = gr_out_u64(line, o, cap, r->bytes_out);
    o = r->client_gone || r->client_left ? GR_OUT_LIT(line, o, cap, ",\"client_gone\":true") : GR_OUT_LIT(line, o, cap, ",\"client_gone\":false");
    o = GR_OUT_LIT(line, o, cap, ",\"route\":");
    o = gr_out_json_str(line, o, cap, r->route_reason);
    o = GR_OUT_LIT(line, o, cap, ",\"error\":");
    o = gr_out_json_str(line, o, cap, r->error_type);
    line[o++] = '}';
    gr_access_log_write(line, o);
}

/* Builds `k1="v1",k2="v2"` (escaped, NUL-terminated, within cap). */
static const char *labels2(char *buf, size_t cap, const char *k1, const char *v1, const char *k2, const char *v2) {
    size_t o = gr_metrics_label(buf, 0, cap, k1, v1);
    if (k2) gr_metrics_label(buf, o, cap, k2, v2);
    return buf;
}

/* The `status` label: the codes the gateway itself answers with, exactly;
 * any other (an upstream's status relayed as is) folded into its class
 * ("4xx"), so an upstream inventing codes cannot multiply the series. */
static void status_label(int status, char out[12]) {
    static const int own[] = {200, 400, 401, 402, 403, 404, 405, 408, 409, 413, 415, 422,
                              429, 431, 499, 500, 501, 502, 503, 504};
    for (size_t i = 0; i < GR_ARRAY_LEN(own); i++)
        if (own[i] == status) {
            out[gr_out_i64(out, 0, 11, status)] = '\0';
            return;
        }
    int cls = status >= 100 && status <= 599 ? status / 100 : 5;
    out[0] = (char)('0' + cls), out[1] = 'x', out[2] = 'x', out[3] = '\0';
}

static void record_metrics(gr_request *r) {
    char labels[GR_METRICS_LABELS_CAP], status[12];
    const char *model = r->model ? r->model->name : "";
    const char *route = r->route_template ? r->route_template : "other";
    status_label(r->status, status);
    size_t o = strlen(labels2(labels, sizeof labels, "route", route, "status", status));
    o = gr_metrics_label(labels, o, sizeof labels, "model", model);
    gr_metrics_label(labels, o, sizeof labels, "provider", r->deployment ? r->deployment->provider->name : "");
    gr_metrics_add(GR_M_REQUESTS, labels, 1);
    gr_metrics_observe_us(GR_M_REQUEST_SECONDS, labels2(labels, sizeof labels, "route", route, NULL, NULL),
                          r->end_us - r->start_us);
    /* gateway-added: the whole request minus its upstream attempts (an attempt still
     * running at the end, e.g. a stream the client left, counts from the first send) */
    uint64_t total = r->end_us - r->start_us, upstream = r->upstream_wait_us;
    if (!upstream && r->upstream_start_us) upstream = r->end_us - r->upstream_start_us;
    gr_metrics_observe_us(GR_M_GATEWAY_SECONDS, labels, upstream < total ? total - upstream : 0);
    if (r->deployment) {
        labels2(labels, sizeof labels, "provider", r->deployment->provider->name, "model", model);
        if (r->upstream_start_us) gr_metrics_observe_us(GR_M_UPSTREAM_SECONDS, labels, r->end_us - r->upstream_start_us);
        if (r->first_token_us) gr_metrics_observe_us(GR_M_TTFT_SECONDS, labels, r->first_token_us - r->start_us);
    }
    if (r->usage.prompt_tokens || r->usage.completion_tokens) {
        gr_metrics_add(GR_M_TOKENS, labels2(labels, sizeof labels, "model", model, "kind", "prompt"), r->usage.prompt_tokens);
        gr_metrics_add(GR_M_TOKENS, labels2(labels, sizeof labels, "model", model, "kind", "completion"),
                       r->usage.completion_tokens);
    }
    if (r->cost_nusd) gr_metrics_add(GR_M_COST_NUSD, labels2(labels, sizeof labels, "model", model, NULL, NULL), r->cost_nusd);
    if (r->client_gone && r->streaming) gr_metrics_add(GR_M_STREAMS_CANCELLED, NULL, 1);
}

static void on_finish(gr_request *r, gr_finish_info *f) {
    (void)f;
    write_access_log(r);
    record_metrics(r);
}

void gr_request_log_register(void) { gr_pipeline_on_finish(GR_FINISH_LOG, on_finish); }
