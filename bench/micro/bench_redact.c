/* bench_redact.c — what redacting the provider's credentials costs per
 * upstream read (gr_redactor_feed, src/provider/redact.c): a typical 250-byte
 * chat.completion.chunk event with nothing to redact (the fast path: one
 * memmem per secret, the piece passed on uncopied) with two secrets and with
 * the api_key alone, a 16 KiB read of a
 * non-streamed body, and an event that does carry the key. */
#include "bench_common.h"
#include "redact.h"

#include <string.h>

static const char k_chunk[] =
    "data: {\"id\":\"chatcmpl-mock7\",\"object\":\"chat.completion.chunk\",\"created\":1795626873,"
    "\"model\":\"mock-gpt-1\",\"system_fingerprint\":\"fp_mock\",\"choices\":[{\"index\":0,\"delta\":"
    "{\"content\":\"ipsum \"},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n";
static const char k_key[] = "sk-proj-Bench0123456789abcdefghijklmnopqrstuvwxyz";

typedef struct {
    gr_redactor rd;
    const char *in;
    size_t len;
    size_t out;
} ctx;

static void feed(void *p) {
    ctx *c = p;
    const char *o;
    size_t n;
    gr_redactor_feed(&c->rd, c->in, c->len, &o, &n);
    c->out += n;
}

int main(void) {
    gr_header_kv h[] = {{"OpenAI-Organization", "org-bench"}, {"X-Extra-Token", "xtok-bench-0123456789"}};
    gr_provider_conf prov;
    memset(&prov, 0, sizeof prov);
    prov.api_key = (char *)k_key;
    prov.headers = h;
    prov.nheaders = 2;
    ctx c;
    memset(&c, 0, sizeof c);
    gr_redactor_init(&c.rd, &prov);
    c.in = k_chunk;
    c.len = sizeof k_chunk - 1;
    bench_run("redact_chunk_250B_clean", feed, &c);
    gr_provider_conf key_only = prov; /* the common case: an api_key and no credential headers */
    key_only.nheaders = 0;
    ctx one;
    memset(&one, 0, sizeof one);
    gr_redactor_init(&one.rd, &key_only);
    one.in = k_chunk;
    one.len = sizeof k_chunk - 1;
    bench_run("redact_chunk_250B_clean_one_secret", feed, &one);
    gr_redactor_dispose(&one.rd);
    static char big[16384];
    for (size_t i = 0; i < sizeof big; i++) big[i] = "abcdefghij klmnopqrstuvwxyz\"{}:,sk-"[i % 35];
    c.in = big;
    c.len = sizeof big;
    bench_run("redact_read_16KiB_clean", feed, &c);
    char leak[512];
    int n = snprintf(leak, sizeof leak, "data: {\"error\":{\"message\":\"Incorrect API key provided: %s\"}}\n\n", k_key);
    c.in = leak;
    c.len = (size_t)n;
    bench_run("redact_event_with_key", feed, &c);
    gr_redactor_dispose(&c.rd);
    return c.out == 0; /* keeps the work observable */
}
