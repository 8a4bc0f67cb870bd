/* bench_json_rewrite.c — the fast path's per-request body work on a 40 KB chat
 * body: locate the top-level "model" (gr_json_find_top_level) and splice the
 * upstream model id in (gr_json_splice), with "model" first and last in the
 * object (last = the whole body is walked). For scale it also times the
 * cJSON_Parse the proxy runs on every body before the fast path, and the
 * stream_options insertion done for streams. */
#include "bench_common.h"
#include "json_edit.h"

#include <cjson/cJSON.h>
#include <string.h>

typedef struct {
    char *body;
    size_t len;
} ctx_t;

/* ~40 KB: a system prompt plus 40 user/assistant turns of ~1 KB each, with
 * escapes and unicode so the scanner sees realistic strings. */
static char *make_body(bool model_last, size_t *out_len) {
    size_t cap = 64 * 1024, n = 0;
    char *b = malloc(cap);
    if (!b) bench_fail("oom");
    n += (size_t)snprintf(b + n, cap - n, "{%s\"messages\":[{\"role\":\"system\",\"content\":\"You are a helpful assistant. "
                          "Answer \\\"precisely\\\" and cite sources.\"}",
                          model_last ? "" : "\"model\":\"gpt-4o-mini\",");
    for (int i = 0; n < 39 * 1024; i++) {
        n += (size_t)snprintf(b + n, cap - n, ",{\"role\":\"%s\",\"content\":\"", i % 2 ? "assistant" : "user");
        while (n < cap - 2048) {
            static const char para[] = "The quick brown fox jumps over the lazy dog \\u00e9t\\u00e9 \\\"quoted\\\" {braces} [brackets], ";
            memcpy(b + n, para, sizeof para - 1);
            n += sizeof para - 1;
            if (n % 1024 < sizeof para) break;
        }
        n += (size_t)snprintf(b + n, cap - n, "\"}");
    }
    n += (size_t)snprintf(b + n, cap - n, "],\"temperature\":0.2,\"max_tokens\":256,\"tools\":[{\"type\":\"function\","
                          "\"function\":{\"name\":\"get_weather\",\"parameters\":{\"type\":\"object\"}}}]%s}",
                          model_last ? ",\"model\":\"gpt-4o-mini\"" : "");
    *out_len = n;
    return b;
}

static void rewrite(void *p) {
    ctx_t *c = p;
    size_t s, e, out_len;
    if (!gr_json_find_top_level(c->body, c->len, "model", &s, &e)) bench_fail("model not found");
    static const char q[] = "\"mock-gpt-1\"";
    char *out = gr_json_splice(c->body, c->len, s, e, q, sizeof q - 1, &out_len);
    bench_sink += out_len + (uint8_t)out[out_len / 2];
    free(out);
}

static void insert_stream_options(void *p) {
    ctx_t *c = p;
    size_t out_len;
    char *out = gr_json_insert_first(c->body, c->len, "stream_options", "{\"include_usage\":true}", &out_len);
    bench_sink += out_len;
    free(out);
}

static void parse(void *p) {
    ctx_t *c = p;
    cJSON *j = cJSON_ParseWithLength(c->body, c->len);
    if (!j) bench_fail("cJSON_Parse");
    bench_sink += (uintptr_t)j->child;
    cJSON_Delete(j);
}

int main(void) {
    ctx_t first, last;
    first.body = make_body(false, &first.len);
    last.body = make_body(true, &last.len);
    printf("# body: %zu bytes\n", last.len);
    bench_run("json_model_rewrite_40k_model_first", rewrite, &first);
    bench_run("json_model_rewrite_40k_model_last", rewrite, &last);
    bench_run("json_stream_options_insert_40k", insert_stream_options, &first);
    bench_run("cjson_parse_40k_for_scale", parse, &first);
    free(first.body);
    free(last.body);
    return 0;
}
