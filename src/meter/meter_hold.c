/* meter_hold.c — the worst-case cost of a request before it runs (budget
 * holds, x402 quotes); see meter_hold.h for what it covers and why. */
#include "meter_hold.h"

#include "meter.h"
#include "provider_native.h"

#include <string.h>
#include <strings.h>

/* Depth-first over every object of the body: a `cache_control` member anywhere
 * (message, content part, tool, system block) is a breakpoint. */
static int cache_writes_in(const cJSON *j, int depth) {
    /* Providers honour breakpoints a few levels deep at most (a tool_result's
     * blocks: messages[].content[].content[].cache_control is the deepest);
     * deeper nesting is not a breakpoint, and the walk stays bounded. */
    if (!j || depth > 64) return 0;
    int worst = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, j) {
        if (worst == 2) break;
        if (it->string && !strcmp(it->string, "cache_control") && cJSON_IsObject(it)) {
            const cJSON *ttl = cJSON_GetObjectItemCaseSensitive(it, "ttl");
            int w = cJSON_IsString(ttl) && !strcmp(ttl->valuestring, "1h") ? 2 : 1;
            if (w > worst) worst = w;
        } else if (cJSON_IsObject(it) || cJSON_IsArray(it)) {
            int w = cache_writes_in(it, depth + 1);
            if (w > worst) worst = w;
        }
    }
    return worst;
}

int gr_meter_hold_cache_writes(const cJSON *body) {
    return cJSON_IsObject(body) ? cache_writes_in(body, 0) : 0;
}

/* The wire a deployment of this kind speaks: Vertex AI relays to its
 * publisher's adapter (provider_vertex.c); Claude on Bedrock is held as
 * Anthropic. */
static gr_provider_kind wire_kind(gr_provider_kind kind, const gr_hold_request *q) {
    if (kind == GR_PROVIDER_BEDROCK) /* Claude there: Anthropic's thinking budget (Converse) or the client's body (InvokeModel) */
        return q->upstream_model && strstr(q->upstream_model, "anthropic.") ? GR_PROVIDER_ANTHROPIC : kind;
    if (kind != GR_PROVIDER_VERTEX) return kind;
    return q->upstream_model && !strncasecmp(q->upstream_model, "claude", 6) ? GR_PROVIDER_ANTHROPIC : GR_PROVIDER_GEMINI;
}

/* The body this kind of deployment is sent, and whether that is the client's
 * own /v1/messages body relayed as is. */
static const cJSON *sent_body(gr_provider_kind kind, const gr_hold_request *q, bool *native) {
    *native = q->native_body && kind == GR_PROVIDER_ANTHROPIC;
    return *native ? q->native_body : q->body;
}

/* Gemini's thinking: the budget asked for, else the model's default thinking at its most. */
static int64_t gemini_budget(const cJSON *body, const char *upstream_model) {
    if (cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(body, "reasoning")) ||
        cJSON_IsString(cJSON_GetObjectItemCaseSensitive(body, "reasoning_effort")))
        return gr_gemini_thinking_budget(body);
    return gr_gemini_default_thinking(upstream_model);
}

int64_t gr_meter_hold_output(gr_provider_kind kind, const gr_hold_request *q) {
    bool native;
    kind = wire_kind(kind, q);
    const cJSON *body = sent_body(kind, q, &native);
    int64_t out = q->max_output > 0 ? q->max_output : 0, budget = 0;
    if (out == 0 || native) return out; /* embeddings; a relay's max_tokens counts its thinking */
    if (kind == GR_PROVIDER_ANTHROPIC && !cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(body, "thinking")))
        budget = gr_anthropic_thinking_budget(body); /* a passed-through `thinking` lives inside max_tokens */
    else if (kind == GR_PROVIDER_GEMINI)
        budget = gemini_budget(body, q->upstream_model);
    if (budget <= 0) return out; /* none, or an effort the adapter refuses */
    return out > INT64_MAX - budget ? INT64_MAX : out + budget;
}

int64_t gr_meter_hold_cost(const gr_prices *p, gr_provider_kind kind, const gr_hold_request *q) {
    bool native;
    const cJSON *body = sent_body(wire_kind(kind, q), q, &native);
    gr_prices worst = *p;
    int64_t prompt_price = p->input_uusd_per_mtok > 0 ? p->input_uusd_per_mtok : 0;
    int64_t cached = gr_meter_cached_price(p);
    if (cached > prompt_price) prompt_price = cached;
    /* the Gemini adapter drops cache_control: no write is billed there */
    int writes = wire_kind(kind, q) == GR_PROVIDER_GEMINI ? 0 : gr_meter_hold_cache_writes(body);
    if (writes >= 1) {
        int64_t w5 = gr_meter_cache_write_price(p, false);
        if (w5 > prompt_price) prompt_price = w5;
    }
    if (writes == 2) {
        int64_t w1 = gr_meter_cache_write_price(p, true);
        if (w1 > prompt_price) prompt_price = w1;
    }
    worst.input_uusd_per_mtok = prompt_price;
    int64_t outputs = q->outputs > 0 ? q->outputs : 1;
    return gr_meter_max_cost(&worst, q->prompt_tokens, gr_meter_mul_sat(gr_meter_hold_output(kind, q), outputs));
}
