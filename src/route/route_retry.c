/* route_retry.c — what follows a failed attempt: the retry/fallback rules,
 * backoff, the next candidate, and the classes of upstream errors (whose
 * fault, retryable or not). */
#include "route_internal.h"

#include <ctype.h>

/* ---- retries ---- */

static _Thread_local uint64_t retry_rng;

static uint32_t backoff_ms(unsigned attempt)
{
    if (!retry_rng)
        retry_rng = (route_mono_ns() ^ (uint64_t)(uintptr_t)&retry_rng) | 1;
    retry_rng ^= retry_rng << 13;
    retry_rng ^= retry_rng >> 7;
    retry_rng ^= retry_rng << 17;
    uint32_t cap = 100u << (attempt > 4 ? 4 : attempt); /* 100, 200, 400, 800, 1600 ms */
    if (cap > 2000)
        cap = 2000;
    /* "equal jitter": half fixed, half random -> (cap/2, cap] */
    return cap / 2 + 1 + (uint32_t)(retry_rng % (cap / 2));
}

gr_retry_action gr_route_should_retry(const gr_outcome *o, unsigned attempt,
                                      uint64_t bytes_sent_to_client, uint32_t *delay_ms)
{
    uint32_t dummy;
    if (!delay_ms)
        delay_ms = &dummy;
    *delay_ms = 0;
    if (!o || o->kind == GR_OUTCOME_OK)
        return GR_RETRY_NONE;
    if (bytes_sent_to_client > 0) /* the client already has part of a response */
        return GR_RETRY_NONE;
    if (attempt + 1 >= GR_ROUTE_MAX_ATTEMPTS)
        return GR_RETRY_NONE;
    switch (o->kind) {
    case GR_OUTCOME_CONNECT_ERROR: /* often transient: once more on the same, then move on */
        *delay_ms = backoff_ms(attempt);
        return attempt == 0 ? GR_RETRY_SAME : GR_RETRY_NEXT;
    case GR_OUTCOME_TIMEOUT: /* a slow deployment stays slow: move on */
        *delay_ms = backoff_ms(attempt);
        return GR_RETRY_NEXT;
    case GR_OUTCOME_HTTP:
        break;
    default:
        return GR_RETRY_NONE;
    }
    int st = o->http_status;
    if (o->err_class == GR_ERRCLASS_CONTEXT_LENGTH)
        return GR_RETRY_NEXT_LARGER_CTX;
    if (o->err_class == GR_ERRCLASS_CONTENT_POLICY)
        return GR_RETRY_NEXT_MODEL;
    if (o->request_fault) /* the same request fails the same way anywhere */
        return GR_RETRY_NONE;
    if (st == 429 || st == 408) { /* the deployment is cooling down (health) */
        *delay_ms = backoff_ms(attempt);
        return GR_RETRY_NEXT;
    }
    if (st == 500 || st == 502) {
        *delay_ms = backoff_ms(attempt);
        return attempt == 0 ? GR_RETRY_SAME : GR_RETRY_NEXT;
    }
    if (st >= 500) { /* 503, 504, 529 overloaded ... */
        *delay_ms = backoff_ms(attempt);
        return GR_RETRY_NEXT;
    }
    return GR_RETRY_NONE; /* other 4xx: the request itself is wrong */
}

int gr_route_next(const struct gr_route_plan *plan, int cur, gr_retry_action act)
{
    if (!plan || cur < 0 || (size_t)cur >= plan->ncand)
        return -1;
    const gr_route_candidate *c = &plan->cand[cur];
    uint64_t now = gr_now_us();
    switch (act) {
    case GR_RETRY_NONE:
        return -1;
    case GR_RETRY_SAME:
        return cur;
    case GR_RETRY_NEXT:
    case GR_RETRY_NEXT_LARGER_CTX:
    case GR_RETRY_NEXT_MODEL:
        break;
    }
    for (size_t j = (size_t)cur + 1; j < plan->ncand; j++) {
        const gr_route_candidate *n = &plan->cand[j];
        if (act == GR_RETRY_NEXT_LARGER_CTX &&
            !(n->model->context_window > c->model->context_window && c->model->context_window))
            continue;
        if (act == GR_RETRY_NEXT_MODEL && n->model == c->model)
            continue;
        if (!gr_health_available(n->health, now))
            continue;
        return (int)j;
    }
    return -1;
}

static bool icontains(const char *h, size_t hl, const char *needle)
{
    size_t nl = strlen(needle);
    if (nl == 0 || nl > hl)
        return false;
    for (size_t i = 0; i + nl <= hl; i++) {
        size_t k = 0;
        while (k < nl && tolower((unsigned char)h[i + k]) == needle[k])
            k++;
        if (k == nl)
            return true;
    }
    return false;
}

gr_error_class gr_route_classify_error(int http_status, const char *body, size_t len)
{
    static const char *const ctx_pat[] = {
        "context_length_exceeded", "maximum context length", "context length", "context window",
        "prompt is too long",      "input is too long",      "too many tokens", "string_above_max_length",
    };
    static const char *const pol_pat[] = {
        "content_policy", "content_filter", "content management policy", "responsibleaipolicy",
        "safety",         "content policy", "flagged",
    };
    if (!body || http_status < 400 || http_status >= 500)
        return GR_ERRCLASS_NONE;
    if (len > 65536)
        len = 65536;
    for (size_t i = 0; i < GR_ARRAY_LEN(ctx_pat); i++)
        if (icontains(body, len, ctx_pat[i]))
            return GR_ERRCLASS_CONTEXT_LENGTH;
    for (size_t i = 0; i < GR_ARRAY_LEN(pol_pat); i++)
        if (icontains(body, len, pol_pat[i]))
            return GR_ERRCLASS_CONTENT_POLICY;
    return GR_ERRCLASS_NONE;
}

/* Codes and types by which an upstream says "your request is at fault",
 * whatever HTTP status it chose (some servers answer 500 for a prompt that is
 * too long). Read from the parsed error object, never from free text: a 5xx
 * is an outage unless the upstream says otherwise in a structured field. */
static gr_error_class structured_fault(const char *body, size_t len, bool *fault)
{
    *fault = false;
    if (!body || len == 0 || len > 65536)
        return GR_ERRCLASS_NONE;
    cJSON *j = cJSON_ParseWithLength(body, len);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(e, "code");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(e, "type");
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(e, "status"); /* Gemini */
    const char *c = cJSON_IsString(code) ? code->valuestring : "";
    gr_error_class cls = GR_ERRCLASS_NONE;
    if (!strcmp(c, "context_length_exceeded") || !strcmp(c, "string_above_max_length"))
        cls = GR_ERRCLASS_CONTEXT_LENGTH;
    else if (!strcmp(c, "content_filter") || !strcmp(c, "content_policy_violation"))
        cls = GR_ERRCLASS_CONTENT_POLICY;
    *fault = cls != GR_ERRCLASS_NONE ||
             (cJSON_IsString(type) && !strcmp(type->valuestring, "invalid_request_error")) ||
             (cJSON_IsString(status) && !strcmp(status->valuestring, "INVALID_ARGUMENT"));
    cJSON_Delete(j);
    return cls;
}

gr_error_class gr_route_request_fault(int http_status, const char *body, size_t len, bool *fault)
{
    gr_error_class cls = gr_route_classify_error(http_status, body, len);
    *fault = false;
    if (http_status >= 400 && http_status < 500) {
        /* 401/403 (our credentials), 404 (our model id), 408 and 429 (load) are
         * about the deployment, whatever their body says */
        *fault = http_status != 401 && http_status != 403 && http_status != 404 && http_status != 408 &&
                 http_status != 429;
        return cls;
    }
    if (http_status >= 500)
        return structured_fault(body, len, fault);
    return cls;
}

const char *gr_retry_action_name(gr_retry_action a)
{
    switch (a) {
    case GR_RETRY_NONE:
        return "none";
    case GR_RETRY_SAME:
        return "retry-same";
    case GR_RETRY_NEXT:
        return "next";
    case GR_RETRY_NEXT_LARGER_CTX:
        return "next-larger-context";
    case GR_RETRY_NEXT_MODEL:
        return "next-model";
    }
    return "?";
}
