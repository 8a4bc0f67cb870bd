/* bench_sse.c — per-chunk streaming cost: the incremental SSE parser
 * (gr_sse_feed) on a typical OpenAI chat.completion.chunk event, fed whole and
 * split across two reads; and the Anthropic -> OpenAI stream translation
 * (provider adapter stream_event) per content_block_delta event. */
#include "bench_common.h"
#include "provider.h"
#include "sse.h"

#include <string.h>

static const char k_chunk[] =
    "data: {\"id\":\"chatcmpl-mock7\",\"object\":\"chat.completion.chunk\",\"created\":1795626873,"
    "\"model\":\"mock-gpt-1\",\"system_fingerprint\":\"fp_mock\",\"choices\":[{\"index\":0,\"delta\":"
    "{\"content\":\"ipsum \"},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n";

typedef struct {
    gr_sse_parser p;
    uint64_t events;
} sse_ctx;

static int on_ev(void *ud, const gr_sse_event *ev) {
    sse_ctx *c = ud;
    c->events += ev->data.len;
    return 0;
}

/* GR_AGAIN = a partial event is pending (expected after the first half). */
static void feed(sse_ctx *c, const char *b, size_t n) {
    gr_status rc = gr_sse_feed(&c->p, b, n, on_ev, c);
    if (rc != GR_OK && rc != GR_AGAIN) bench_fail("gr_sse_feed");
}

static void feed_whole(void *p) {
    feed(p, k_chunk, sizeof k_chunk - 1);
}

static void feed_split(void *p) {
    size_t half = (sizeof k_chunk - 1) / 2;
    feed(p, k_chunk, half);
    feed(p, k_chunk + half, sizeof k_chunk - 1 - half);
}

typedef struct {
    const gr_provider_ops *ops;
    gr_stream_translator *st;
    gr_sse_event ev;
    uint64_t bytes;
} tr_ctx;

static int emit(void *ud, const char *data, size_t len) {
    tr_ctx *c = ud;
    c->bytes += len + (uint8_t)data[0];
    return 0;
}

static void feed_event(tr_ctx *c, const char *event, const char *data) {
    gr_sse_event ev = {gr_str_c(event), gr_str_c(data), {"", 0}};
    gr_upstream_error err;
    memset(&err, 0, sizeof err);
    if (c->ops->stream_event(c->st, &ev, emit, c, &err) != GR_OK) bench_fail("stream_event");
}

static void translate_delta(void *p) {
    tr_ctx *c = p;
    gr_upstream_error err;
    err.status = 0;
    if (c->ops->stream_event(c->st, &c->ev, emit, c, &err) != GR_OK) bench_fail("stream_event");
}

int main(void) {
    sse_ctx s;
    memset(&s, 0, sizeof s);
    gr_sse_init(&s.p, 4u << 20);
    bench_run("sse_parse_chunk_openai_250B", feed_whole, &s);
    bench_run("sse_parse_chunk_openai_250B_split_in_2", feed_split, &s);
    gr_sse_dispose(&s.p);

    tr_ctx t;
    memset(&t, 0, sizeof t);
    t.ops = gr_provider_ops_for(GR_PROVIDER_ANTHROPIC);
    if (!t.ops) bench_fail("no anthropic adapter");
    gr_provider_conf prov;
    memset(&prov, 0, sizeof prov);
    prov.name = "anth";
    prov.kind = GR_PROVIDER_ANTHROPIC;
    gr_adapter_ctx actx = {.provider = &prov, .upstream_model = "claude-mock", .public_model = "bench-claude",
                           .request_id = "req_bench", .created = 1700000000, .stream = true};
    t.st = t.ops->stream_new(&actx);
    feed_event(&t, "message_start",
               "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\","
               "\"model\":\"claude-mock\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,"
               "\"usage\":{\"input_tokens\":12,\"output_tokens\":1}}}");
    feed_event(&t, "content_block_start",
               "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}");
    static const char delta[] =
        "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"ipsum \"}}";
    t.ev = (gr_sse_event){GR_STR_LIT("content_block_delta"), GR_STR_LIT(delta), {"", 0}};
    bench_run("anthropic_to_openai_translate_delta_event", translate_delta, &t);
    t.ops->stream_free(t.st);
    return 0;
}
