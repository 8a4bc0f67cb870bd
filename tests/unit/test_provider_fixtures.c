/* test_provider_fixtures.c — data-driven translation tests for the native
 * adapters (tests/fixtures/anthropic|gemini/<case>/), the inbound Anthropic
 * Messages endpoint (tests/fixtures/messages/<case>/) and the inbound
 * Responses endpoint (tests/fixtures/responses/<case>/). File layout and the
 * expected.json envelope: tests/fixtures/README.md. Every streaming case is
 * also fed through gr_sse_feed split at every byte offset (two pieces) and
 * byte by byte; the output must be identical to the one-piece run. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_messages.h"
#include "api_responses.h"
#include "provider_native.h"
#include "sse.h"

#include "fixture_files.h"

static void assert_json_eq(const char *what, const char *dir, const cJSON *want, const cJSON *got) {
    if (cJSON_Compare(want, got, 1)) return;
    char *w = cJSON_Print(want), *g = cJSON_Print(got);
    print_error("%s: %s mismatch\n--- expected\n%s\n--- got\n%s\n", dir, what, w, g);
    free(w);
    free(g);
    fail();
}

static cJSON *error_json(const gr_upstream_error *e) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "status", e->status);
    cJSON_AddStringToObject(o, "type", e->type ? e->type : "");
    cJSON_AddStringToObject(o, "message", e->message);
    if (e->code) cJSON_AddStringToObject(o, "code", e->code);
    return o;
}

/* Each key present in want must match in got (so fixtures can omit fields). */
static void assert_subset(const char *what, const char *dir, const cJSON *want, const cJSON *got) {
    const cJSON *kv;
    cJSON_ArrayForEach(kv, want) {
        const cJSON *g = cJSON_GetObjectItemCaseSensitive(got, kv->string);
        if (!g || !cJSON_Compare(kv, g, 1)) {
            char *w = cJSON_Print(want), *gg = cJSON_Print(got);
            print_error("%s: %s mismatch on '%s'\n--- expected\n%s\n--- got\n%s\n", dir, what,
                        kv->string, w, gg);
            free(w);
            free(gg);
            fail();
        }
    }
}

static cJSON *usage_json(const gr_usage *u) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "prompt_tokens", (double)u->prompt_tokens);
    cJSON_AddNumberToObject(o, "completion_tokens", (double)u->completion_tokens);
    cJSON_AddNumberToObject(o, "cached_tokens", (double)u->cached_tokens);
    cJSON_AddNumberToObject(o, "cache_write_tokens", (double)u->cache_write_tokens);
    cJSON_AddNumberToObject(o, "reasoning_tokens", (double)u->reasoning_tokens);
    cJSON_AddBoolToObject(o, "present", u->present);
    return o;
}

/* ---- streaming harness ---- */

typedef struct run {
    const gr_provider_ops *ops;
    gr_stream_translator *st;
    cJSON *chunks;
    char *trace; /* every emitted chunk + final status, for split comparison */
    size_t trace_len;
    gr_upstream_error err;
    bool failed;
} run;

static void trace_add(run *r, const char *s, size_t n) {
    r->trace = realloc(r->trace, r->trace_len + n + 2);
    memcpy(r->trace + r->trace_len, s, n);
    r->trace_len += n;
    r->trace[r->trace_len++] = '\n';
    r->trace[r->trace_len] = '\0';
}

static int on_chunk(void *ud, const char *data, size_t len) {
    run *r = ud;
    cJSON *c = cJSON_ParseWithLength(data, len);
    assert_non_null(c); /* adapters must emit valid JSON */
    cJSON_AddItemToArray(r->chunks, c);
    trace_add(r, data, len);
    return 0;
}

static int on_event(void *ud, const gr_sse_event *ev) {
    run *r = ud;
    gr_status rc = r->ops->stream_event(r->st, ev, on_chunk, r, &r->err);
    if (rc != GR_OK) {
        r->failed = true;
        return 1;
    }
    return 0;
}

/* Feed bytes in the given pieces (cuts: ascending offsets), then finish. */
static void run_stream(run *r, const gr_provider_ops *ops, const gr_adapter_ctx *ctx,
                       const char *bytes, size_t len, const size_t *cuts, size_t ncuts,
                       gr_usage *usage) {
    memset(r, 0, sizeof(*r));
    r->ops = ops;
    r->st = ops->stream_new(ctx);
    r->chunks = cJSON_CreateArray();
    gr_frames p; /* SSE, or AWS event-stream frames for Bedrock */
    gr_frames_init(&p, ops->framing, 1 << 20);
    size_t prev = 0;
    for (size_t i = 0; i <= ncuts && !r->failed; i++) {
        size_t end = i < ncuts ? cuts[i] : len;
        gr_status rc = gr_frames_feed(&p, bytes + prev, end - prev, on_event, r);
        if (rc != GR_OK && rc != GR_AGAIN && !r->failed) {
            r->failed = true;
            gr_provider_bad_upstream(&r->err, "stream framing error: %s", gr_status_str(rc));
        }
        prev = end;
    }
    gr_usage u = {0};
    if (!r->failed) {
        (void)gr_frames_finish(&p); /* a cut-off partial event is discarded, per spec */
        if (ops->stream_finish(r->st, on_chunk, r, &u, &r->err) != GR_OK) r->failed = true;
    } else {
        gr_upstream_error ignored;
        (void)ops->stream_finish(r->st, on_chunk, r, &u, &ignored);
    }
    if (r->failed) {
        char line[1200];
        int n = snprintf(line, sizeof(line), "ERROR %d %s %s", r->err.status,
                         r->err.type ? r->err.type : "", r->err.message);
        trace_add(r, line, (size_t)n);
    }
    if (usage) *usage = u;
    ops->stream_free(r->st);
    gr_frames_dispose(&p);
}

static void run_dispose(run *r) {
    cJSON_Delete(r->chunks);
    free(r->trace);
}

/* ---- provider cases ---- */

typedef struct fixture {
    char dir[768];
    const char *provider; /* "anthropic" | "gemini" | "bedrock" | "messages" */
} fixture;

static void check_headers(const char *dir, const gr_http_request *hr, const char *must) {
    for (size_t i = 0; i < hr->nheaders; i++)
        if (strcmp(hr->headers[i], must) == 0) return;
    fail_msg("%s: upstream header '%s' missing", dir, must);
}

/* A 2xx reply through the adapter's chat or embeddings parser. */
static gr_status parse_reply(const gr_provider_ops *ops, bool embed, const gr_adapter_ctx *ctx, const cJSON *req,
                             const char *body, size_t len, cJSON **out, gr_usage *usage, gr_upstream_error *err) {
    return embed ? ops->parse_embeddings_response(ctx, req, body, len, out, usage, err)
                 : ops->parse_chat_response(ctx, body, len, out, usage, err);
}

static void provider_case(void **state) {
    const fixture *fx = *state;
    const char *dir = fx->dir;
    bool anth = strcmp(fx->provider, "anthropic") == 0;
    bool bedrock = strcmp(fx->provider, "bedrock") == 0;
    gr_provider_kind kind = anth ? GR_PROVIDER_ANTHROPIC : bedrock ? GR_PROVIDER_BEDROCK : GR_PROVIDER_GEMINI;
    const gr_provider_ops *ops = gr_provider_ops_for(kind);
    assert_non_null(ops);
    cJSON *req = read_json(dir, "request.json");
    cJSON *expected = read_json(dir, "expected.json");
    assert_non_null(req);
    assert_non_null(expected);
    gr_provider_conf pc = {
        .name = (char *)fx->provider,
        .kind = kind,
        .base_url = anth      ? "https://api.anthropic.com/v1"
                    : bedrock ? "https://bedrock-runtime.us-east-1.amazonaws.com"
                              : "https://generativelanguage.googleapis.com/v1beta",
        .api_key = bedrock ? NULL : "test-key",
        .region = "us-east-1",
        .access_key_id = "AKIDEXAMPLE",
        .secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        .session_token = "test-session-token",
    };
    const char *model = cJSON_GetStringValue(cJSON_GetObjectItem(req, "model"));
    bool stream = cJSON_IsTrue(cJSON_GetObjectItem(req, "stream"));
    /* a request with `input` is an /v1/embeddings case */
    bool embed = cJSON_GetObjectItem(req, "input") != NULL;
    const cJSON *ef = cJSON_GetObjectItem(req, "encoding_format");
    gr_adapter_ctx ctx = {
        .provider = &pc,
        .upstream_model = model,
        .public_model = model,
        .request_id = "chatcmpl-test",
        .created = 1700000000,
        .stream = stream,
        .include_usage = cJSON_IsTrue(
            cJSON_GetObjectItem(cJSON_GetObjectItem(req, "stream_options"), "include_usage")),
        .exclude_reasoning = cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(req, "reasoning"), "exclude")),
        .embeddings_base64 = cJSON_IsString(ef) && !strcmp(ef->valuestring, "base64"),
    };
    if (embed) assert_non_null(ops->build_embeddings_request);
    gr_status (*build)(const gr_adapter_ctx *, const cJSON *, gr_http_request *, gr_upstream_error *) =
        embed ? ops->build_embeddings_request : ops->build_chat_request;

    /* 1. canonical -> upstream request */
    gr_http_request hr;
    gr_upstream_error err = {0};
    gr_status rc = build(&ctx, req, &hr, &err);
    const cJSON *want_req_err = cJSON_GetObjectItem(expected, "request_error");
    if (want_req_err) {
        assert_int_not_equal(rc, GR_OK);
        cJSON *got = error_json(&err);
        assert_subset("request_error", dir, want_req_err, got);
        cJSON_Delete(got);
        goto done;
    }
    if (rc != GR_OK) fail_msg("%s: build_chat_request failed: %s", dir, err.message);
    cJSON *want_body = read_json(dir, "upstream_request.json");
    assert_non_null(want_body);
    cJSON *got_body = cJSON_ParseWithLength(hr.body, hr.body_len);
    assert_json_eq("upstream_request", dir, want_body, got_body);
    cJSON_Delete(want_body);
    cJSON_Delete(got_body);
    char want_url[512];
    if (anth)
        snprintf(want_url, sizeof(want_url), "https://api.anthropic.com/v1/messages");
    else if (bedrock) /* the fixtures' model ids have one ':' (sent as %3A) */
        snprintf(want_url, sizeof(want_url), "https://bedrock-runtime.us-east-1.amazonaws.com/model/%.*s%%3A%s/%s",
                 (int)(strchr(model, ':') ? strchr(model, ':') - model : (long)strlen(model)), model,
                 strchr(model, ':') ? strchr(model, ':') + 1 : "", stream ? "converse-stream" : "converse");
    else
        snprintf(want_url, sizeof(want_url),
                 "https://generativelanguage.googleapis.com/v1beta/models/%s:%s", model,
                 embed ? (cJSON_IsArray(cJSON_GetObjectItem(req, "input")) ? "batchEmbedContents" : "embedContent")
                 : stream ? "streamGenerateContent?alt=sse" : "generateContent");
    if (strcmp(hr.url, want_url) != 0) fail_msg("%s: url %s != %s", dir, hr.url, want_url);
    check_headers(dir, &hr, "content-type: application/json");
    if (anth) {
        check_headers(dir, &hr, "x-api-key: test-key");
        check_headers(dir, &hr, "anthropic-version: 2023-06-01");
    } else if (bedrock) { /* SigV4 at the context's time (1700000000 = 2023-11-14T22:13:20Z) */
        check_headers(dir, &hr, "x-amz-date: 20231114T221320Z");
        check_headers(dir, &hr, "x-amz-security-token: test-session-token");
        check_headers(dir, &hr, stream ? "accept: application/vnd.amazon.eventstream" : "accept: application/json");
        static const char want_auth[] = "authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20231114/us-east-1/"
                                        "bedrock/aws4_request, SignedHeaders=accept;content-type;host;x-amz-date;"
                                        "x-amz-security-token, Signature=";
        bool signed_ok = false;
        for (size_t i = 0; i < hr.nheaders; i++)
            signed_ok = signed_ok || !strncmp(hr.headers[i], want_auth, sizeof want_auth - 1);
        if (!signed_ok) fail_msg("%s: no SigV4 authorization header", dir);
    } else {
        check_headers(dir, &hr, "x-goog-api-key: test-key");
    }
    gr_http_request_free(&hr);

    /* 2. upstream answer -> client */
    char *st = read_file(dir, "upstream_status", NULL);
    int status = st ? atoi(st) : 200;
    free(st);
    size_t blen = 0;
    char *body = read_file(dir, stream ? (bedrock ? "upstream_response.eventstream" : "upstream_response.sse")
                                       : "upstream_response.json", &blen);
    if (!body) body = read_file(dir, "upstream_response.json", &blen);
    if (!body) body = read_file(dir, "upstream_response.txt", &blen);
    assert_non_null(body);
    cJSON *got = cJSON_CreateObject();
    gr_usage usage = {0};
    if (status < 200 || status > 299) {
        ops->map_error(&ctx, status, body, blen, &err);
        cJSON_AddItemToObject(got, "error", error_json(&err));
    } else if (stream) {
        run whole;
        run_stream(&whole, ops, &ctx, body, blen, NULL, 0, &usage);
        cJSON_AddItemToObject(got, "chunks", cJSON_Duplicate(whole.chunks, 1));
        if (whole.failed) cJSON_AddItemToObject(got, "error", error_json(&whole.err));
        /* split at every offset, then byte by byte: identical output */
        for (size_t cut = 1; cut < blen; cut++) {
            run r;
            run_stream(&r, ops, &ctx, body, blen, &cut, 1, NULL);
            if (r.trace_len != whole.trace_len || memcmp(r.trace, whole.trace, r.trace_len) != 0)
                fail_msg("%s: output differs when split at byte %zu:\n%s\nvs\n%s", dir, cut,
                         r.trace, whole.trace);
            run_dispose(&r);
        }
        size_t *cuts = malloc(blen * sizeof(size_t));
        for (size_t i = 0; i + 1 < blen; i++) cuts[i] = i + 1;
        run r;
        run_stream(&r, ops, &ctx, body, blen, cuts, blen ? blen - 1 : 0, NULL);
        free(cuts);
        if (r.trace_len != whole.trace_len || memcmp(r.trace, whole.trace, r.trace_len) != 0)
            fail_msg("%s: output differs when fed byte by byte", dir);
        run_dispose(&r);
        run_dispose(&whole);
    } else {
        /* every truncated prefix: a clean result or a clean error, never a crash */
        for (size_t cut = 0; cut < blen; cut++) {
            cJSON *partial = NULL;
            gr_upstream_error perr = {0};
            gr_usage pu;
            if (parse_reply(ops, embed, &ctx, req, body, cut, &partial, &pu, &perr) == GR_OK)
                assert_non_null(partial);
            else
                assert_true(perr.status >= 400 && perr.message[0]);
            cJSON_Delete(partial);
        }
        cJSON *resp = NULL;
        rc = parse_reply(ops, embed, &ctx, req, body, blen, &resp, &usage, &err);
        if (rc == GR_OK) cJSON_AddItemToObject(got, "response", resp);
        else cJSON_AddItemToObject(got, "error", error_json(&err));
    }
    free(body);
    cJSON_AddItemToObject(got, "usage", usage_json(&usage));
    /* compare: response/chunks exactly, error and usage as subsets */
    const char *exact[] = {"response", "chunks"};
    for (size_t i = 0; i < 2; i++) {
        const cJSON *w = cJSON_GetObjectItem(expected, exact[i]);
        const cJSON *g = cJSON_GetObjectItem(got, exact[i]);
        if (w || g) assert_json_eq(exact[i], dir, w, g);
    }
    const cJSON *werr = cJSON_GetObjectItem(expected, "error");
    const cJSON *gerr = cJSON_GetObjectItem(got, "error");
    if (werr || gerr) {
        if (!werr || !gerr) assert_json_eq("error", dir, werr, gerr);
        assert_subset("error", dir, werr, gerr);
    }
    const cJSON *wu = cJSON_GetObjectItem(expected, "usage");
    if (wu) assert_subset("usage", dir, wu, cJSON_GetObjectItem(got, "usage"));
    cJSON_Delete(got);
done:
    cJSON_Delete(req);
    cJSON_Delete(expected);
}

/* ---- inbound Anthropic Messages cases ---- */

static int on_anth_event(void *ud, const char *event, const char *data, size_t len) {
    cJSON *arr = ud;
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "event", event);
    cJSON *d = cJSON_ParseWithLength(data, len);
    assert_non_null(d);
    cJSON_AddItemToObject(e, "data", d);
    cJSON_AddItemToArray(arr, e);
    return 0;
}

static void messages_case(void **state) {
    const fixture *fx = *state;
    const char *dir = fx->dir;
    int checked = 0;
    gr_upstream_error err = {0};
    cJSON *areq = read_json(dir, "anthropic_request.json");
    if (areq) {
        cJSON *canon = NULL;
        gr_status rc = gr_messages_to_canonical(areq, &canon, &err);
        cJSON *want = read_json(dir, "expected_canonical.json");
        cJSON *werr = read_json(dir, "expected_error.json");
        if (werr) {
            assert_int_not_equal(rc, GR_OK);
            cJSON *g = error_json(&err);
            assert_subset("error", dir, werr, g);
            cJSON_Delete(g);
        } else {
            if (rc != GR_OK) fail_msg("%s: to_canonical failed: %s", dir, err.message);
            assert_json_eq("canonical request", dir, want, canon);
        }
        cJSON_Delete(want);
        cJSON_Delete(werr);
        cJSON_Delete(canon);
        cJSON_Delete(areq);
        checked++;
    }
    cJSON *cresp = read_json(dir, "canonical_response.json");
    if (cresp) {
        cJSON *msg = NULL;
        gr_status rc = gr_messages_from_canonical(cresp, NULL, &msg, &err);
        if (rc != GR_OK) fail_msg("%s: from_canonical failed: %s", dir, err.message);
        cJSON *want = read_json(dir, "expected_anthropic.json");
        assert_json_eq("anthropic response", dir, want, msg);
        cJSON_Delete(want);
        cJSON_Delete(msg);
        cJSON_Delete(cresp);
        checked++;
    }
    char *chunks = read_file(dir, "chunks.jsonl", NULL);
    if (chunks) { /* one canonical chunk JSON per line */
        cJSON *events = cJSON_CreateArray();
        gr_messages_stream *s = gr_messages_stream_new(NULL);
        char *save = NULL;
        for (char *line = strtok_r(chunks, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            if (!line[0]) continue;
            gr_status rc = gr_messages_stream_chunk(s, line, strlen(line), on_anth_event, events);
            if (rc == GR_ERR_PARSE) {
                gr_upstream_error e;
                gr_provider_bad_upstream(&e, "malformed upstream chunk");
                assert_int_equal(gr_messages_stream_error(s, &e, on_anth_event, events), GR_OK);
            } else {
                assert_int_equal(rc, GR_OK);
            }
        }
        assert_int_equal(gr_messages_stream_finish(s, on_anth_event, events), GR_OK);
        gr_messages_stream_free(s);
        cJSON *want = read_json(dir, "expected_events.json");
        assert_json_eq("anthropic events", dir, want, events);
        cJSON_Delete(want);
        cJSON_Delete(events);
        free(chunks);
        checked++;
    }
    if (!checked) fail_msg("%s: no recognised input file", dir);
}

/* ---- inbound Responses cases ---- */

typedef struct resp_run {
    gr_responses_stream *rs;
    const gr_provider_ops *ops; /* NULL: the SSE events are canonical chunks */
    gr_stream_translator *st;
    cJSON *events;
    char *trace;
    size_t trace_len;
} resp_run;

static int on_resp_event(void *ud, const char *event, const char *data, size_t len) {
    resp_run *r = ud;
    cJSON *d = cJSON_ParseWithLength(data, len);
    assert_non_null(d); /* valid JSON, always */
    const cJSON *type = cJSON_GetObjectItem(d, "type");
    if (!cJSON_IsString(type) || strcmp(type->valuestring, event) != 0)
        fail_msg("event %s carries type %s", event, cJSON_IsString(type) ? type->valuestring : "(none)");
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "event", event);
    cJSON_AddItemToObject(e, "data", d);
    cJSON_AddItemToArray(r->events, e);
    r->trace = realloc(r->trace, r->trace_len + len + 2);
    memcpy(r->trace + r->trace_len, data, len);
    r->trace_len += len;
    r->trace[r->trace_len++] = '\n';
    r->trace[r->trace_len] = '\0';
    return 0;
}

/* A canonical chunk (from the SSE bytes or from an adapter) into the
 * Responses translator; an unparseable one fails the response. */
static int on_resp_chunk(void *ud, const char *data, size_t len) {
    resp_run *r = ud;
    gr_status rc = gr_responses_stream_chunk(r->rs, data, len, on_resp_event, r);
    if (rc == GR_ERR_PARSE) rc = gr_responses_stream_fail(r->rs, "upstream_error", "malformed upstream chunk", on_resp_event, r);
    assert_int_equal(rc, GR_OK);
    return 0;
}

static int on_resp_sse(void *ud, const gr_sse_event *ev) {
    resp_run *r = ud;
    if (!r->ops) return on_resp_chunk(r, ev->data.ptr, ev->data.len);
    gr_upstream_error err = {0};
    if (r->ops->stream_event(r->st, ev, on_resp_chunk, r, &err) != GR_OK) {
        assert_int_equal(gr_responses_stream_fail(r->rs, "upstream_error", err.message, on_resp_event, r), GR_OK);
        return 1;
    }
    return 0;
}

static void resp_stream(resp_run *r, const gr_responses_call *call, const gr_provider_ops *ops,
                        const gr_adapter_ctx *ctx, const char *bytes, size_t len, const size_t *cuts, size_t ncuts) {
    memset(r, 0, sizeof *r);
    r->rs = gr_responses_stream_new(call);
    r->ops = ops;
    r->st = ops ? ops->stream_new(ctx) : NULL;
    r->events = cJSON_CreateArray();
    gr_sse_parser p;
    gr_sse_init(&p, 1 << 20);
    size_t prev = 0;
    for (size_t i = 0; i <= ncuts; i++) {
        size_t end = i < ncuts ? cuts[i] : len;
        gr_status rc = gr_sse_feed(&p, bytes + prev, end - prev, on_resp_sse, r);
        prev = end;
        if (rc != GR_OK && rc != GR_AGAIN) break;
    }
    (void)gr_sse_finish(&p);
    if (ops) {
        gr_usage u = {0};
        gr_upstream_error err = {0};
        if (ops->stream_finish(r->st, on_resp_chunk, r, &u, &err) != GR_OK)
            assert_int_equal(gr_responses_stream_fail(r->rs, "upstream_error", err.message, on_resp_event, r), GR_OK);
        ops->stream_free(r->st);
    }
    assert_int_equal(gr_responses_stream_finish(r->rs, on_resp_event, r), GR_OK);
    gr_responses_stream_free(r->rs);
    gr_sse_dispose(&p);
}

static void resp_stream_case(const char *dir, const gr_responses_call *call, const char *bytes, size_t len) {
    char *kind = read_file(dir, "upstream_kind", NULL);
    const gr_provider_ops *ops = NULL;
    gr_provider_conf pc = {.name = "up", .api_key = "test-key"};
    gr_adapter_ctx ctx = {.provider = &pc, .upstream_model = call->model, .public_model = call->model,
                          .request_id = "chatcmpl-test", .created = 1700000000, .stream = true, .include_usage = true,
                          .reasoning_signature = gr_responses_wants_encrypted_reasoning(call->request)};
    if (kind) { /* upstream bytes in the provider's own format, through its adapter first */
        pc.kind = strncmp(kind, "anthropic", 9) == 0 ? GR_PROVIDER_ANTHROPIC : GR_PROVIDER_GEMINI;
        ops = gr_provider_ops_for(pc.kind);
        free(kind);
    }
    resp_run whole;
    resp_stream(&whole, call, ops, &ctx, bytes, len, NULL, 0);
    cJSON *want = read_json(dir, "expected_events.json");
    assert_json_eq("responses events", dir, want, whole.events);
    cJSON_Delete(want);
    for (size_t cut = 1; cut < len; cut++) {
        resp_run r;
        resp_stream(&r, call, ops, &ctx, bytes, len, &cut, 1);
        if (r.trace_len != whole.trace_len || memcmp(r.trace, whole.trace, r.trace_len) != 0)
            fail_msg("%s: events differ when split at byte %zu", dir, cut);
        cJSON_Delete(r.events);
        free(r.trace);
    }
    size_t *cuts = malloc(len * sizeof(size_t));
    for (size_t i = 0; i + 1 < len; i++) cuts[i] = i + 1;
    resp_run r;
    resp_stream(&r, call, ops, &ctx, bytes, len, cuts, len ? len - 1 : 0);
    free(cuts);
    if (r.trace_len != whole.trace_len || memcmp(r.trace, whole.trace, r.trace_len) != 0)
        fail_msg("%s: events differ when fed byte by byte", dir);
    cJSON_Delete(r.events);
    free(r.trace);
    cJSON_Delete(whole.events);
    free(whole.trace);
}

static void responses_case(void **state) {
    const fixture *fx = *state;
    const char *dir = fx->dir;
    int checked = 0;
    gr_upstream_error err = {0};
    cJSON *req = read_json(dir, "responses_request.json");
    if (!req) req = cJSON_CreateObject();
    cJSON *history = read_json(dir, "history.json");
    const gr_responses_call call = {.request = req, .id = "resp_test", .model = "test-model", .created_at = 1700000000};
    cJSON *want = read_json(dir, "expected_canonical.json");
    cJSON *werr = read_json(dir, "expected_error.json");
    if (want || werr) {
        cJSON *canon = NULL;
        gr_status rc = gr_responses_to_canonical(req, history, &canon, &err);
        if (werr) {
            assert_int_not_equal(rc, GR_OK);
            cJSON *g = error_json(&err);
            assert_subset("error", dir, werr, g);
            cJSON_Delete(g);
        } else {
            if (rc != GR_OK) fail_msg("%s: to_canonical failed: %s", dir, err.message);
            assert_json_eq("canonical request", dir, want, canon);
        }
        cJSON_Delete(canon);
        checked++;
    }
    cJSON_Delete(want);
    cJSON_Delete(werr);
    cJSON *witems = read_json(dir, "expected_input_items.json");
    if (witems) {
        cJSON *items = gr_responses_input_items(req, "msg_in");
        assert_json_eq("input items", dir, witems, items);
        cJSON_Delete(items);
        cJSON_Delete(witems);
        checked++;
    }
    cJSON *cresp = read_json(dir, "canonical_response.json");
    if (cresp) {
        cJSON *out = NULL;
        gr_status rc = gr_responses_from_canonical(cresp, &call, &out, &err);
        if (rc != GR_OK) fail_msg("%s: from_canonical failed: %s", dir, err.message);
        cJSON *w = read_json(dir, "expected_response.json");
        assert_json_eq("response", dir, w, out);
        cJSON_Delete(w);
        cJSON_Delete(out);
        cJSON_Delete(cresp);
        checked++;
    }
    size_t len = 0;
    char *sse = read_file(dir, "stream.sse", &len);
    if (sse) {
        resp_stream_case(dir, &call, sse, len);
        free(sse);
        checked++;
    }
    cJSON_Delete(history);
    cJSON_Delete(req);
    if (!checked) fail_msg("%s: no recognised input file", dir);
}

/* ---- discovery ---- */

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static size_t collect(const char *root, const char *provider, fixture **fxs, size_t n) {
    char base[600];
    snprintf(base, sizeof(base), "%s/tests/fixtures/%s", root, provider);
    DIR *d = opendir(base);
    if (!d) return n;
    char *names[512];
    size_t k = 0;
    struct dirent *de;
    while ((de = readdir(d)) && k < 512)
        if (de->d_name[0] != '.' && de->d_type == DT_DIR) names[k++] = strdup(de->d_name);
    closedir(d);
    qsort(names, k, sizeof(char *), cmp_names);
    *fxs = realloc(*fxs, (n + k) * sizeof(fixture));
    for (size_t i = 0; i < k; i++) {
        snprintf((*fxs)[n + i].dir, sizeof((*fxs)[n + i].dir), "%s/%s", base, names[i]);
        (*fxs)[n + i].provider = provider;
        free(names[i]);
    }
    return n + k;
}

int main(void) {
    const char *root = getenv("GR_SOURCE_DIR");
    if (!root) root = ".";
    fixture *fxs = NULL;
    size_t n = 0;
    n = collect(root, "anthropic", &fxs, n);
    n = collect(root, "gemini", &fxs, n);
    n = collect(root, "bedrock", &fxs, n);
    n = collect(root, "messages", &fxs, n);
    n = collect(root, "responses", &fxs, n);
    if (n == 0) {
        fprintf(stderr, "no fixtures found under %s/tests/fixtures\n", root);
        return 1;
    }
    struct CMUnitTest *tests = calloc(n, sizeof(*tests));
    char **names = calloc(n, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        const char *leaf = strrchr(fxs[i].dir, '/') + 1;
        size_t l = strlen(fxs[i].provider) + strlen(leaf) + 2;
        names[i] = malloc(l);
        snprintf(names[i], l, "%s/%s", fxs[i].provider, leaf);
        tests[i].name = names[i];
        tests[i].test_func = !strcmp(fxs[i].provider, "messages")    ? messages_case
                             : !strcmp(fxs[i].provider, "responses") ? responses_case
                                                                     : provider_case;
        tests[i].initial_state = &fxs[i];
    }
    int rc = _cmocka_run_group_tests("provider_fixtures", tests, n, NULL, NULL);
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    free(tests);
    free(fxs);
    return rc;
}
