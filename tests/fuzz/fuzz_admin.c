/* fuzz_admin.c — the admin API and key-holder endpoints (gr_admin_handle)
 * over a fresh in-memory SQLite store per input (sqlite://:memory:), with one
 * ledger row so usage and generation queries return data.
 *
 * Input: up to 8 requests separated by 0x1E. Each request is
 *     [auth]METHOD PATH[?QUERY]\nBODY
 * auth (optional first char): '!' no Authorization, '~' a wrong admin key,
 * '@' the plaintext of the last key created in this input (for /v1/key and
 * /v1/generation); otherwise the admin key. "$ID" in PATH or QUERY becomes the
 * id of the last created key, so create -> patch -> revoke sequences are
 * reachable. Invariants: every answer is a JSON object with a 1xx-5xx status;
 * an error answer has the OpenAI error shape; /admin/ paths without the right
 * admin key never succeeds; the admin key never appears in an answer (unless
 * the input itself spelled it, e.g. as a key id echoed in a 404). */
#include "fuzz.h"
#include "admin.h"

#define ADMIN "admin-fuzz-secret-0123456789"

static int64_t fixed_now(void) { return 1700000000000LL; }

static void subst(char *dst, size_t cap, const char *src, size_t n, const char *id) {
    size_t o = 0;
    for (size_t i = 0; i < n && o + 1 < cap; i++) {
        if (i + 3 <= n && memcmp(src + i, "$ID", 3) == 0) {
            for (const char *p = id; *p && o + 1 < cap; p++) dst[o++] = *p;
            i += 2;
        } else {
            dst[o++] = src[i];
        }
    }
    dst[o] = '\0';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gr_store *store = NULL;
    char err[256];
    if (gr_store_open_migrated("sqlite://:memory:", &store, err, sizeof err) != GR_OK) abort();
    gr_ledger_row row;
    memset(&row, 0, sizeof row);
    GR_LEDGER_SET(row.request_id, "req_fuzz1");
    GR_LEDGER_SET(row.model_asked, "m");
    GR_LEDGER_SET(row.model_served, "m1");
    GR_LEDGER_SET(row.provider, "p");
    row.ts_ms = 1699999990000LL;
    row.tokens_in = 10;
    row.tokens_out = 20;
    row.cost_nusd = 12345;
    row.status = 200;
    if (store->ops->ledger_insert(store, &row, 1, NULL) != GR_OK) abort();
    gr_keys *keys = gr_keys_new(store);
    gr_admin_ctx ctx = {.keys = keys, .store = store, .admin_key = ADMIN, .now_ms = fixed_now};

    char last_id[128] = "none", last_key[256] = "none";
    const char *s = (const char *)data, *end = s + size;
    for (int nreq = 0; nreq < 8 && s < end; nreq++) {
        const char *rec_end = memchr(s, 0x1E, (size_t)(end - s));
        if (!rec_end) rec_end = end;
        const char *nl = memchr(s, '\n', (size_t)(rec_end - s));
        const char *line_end = nl ? nl : rec_end;
        const char *body = nl ? nl + 1 : rec_end;
        size_t body_len = (size_t)(rec_end - body);

        const char *bearer = "Bearer " ADMIN;
        const char *l = s;
        bool admin_auth = true;
        if (l < line_end && (*l == '!' || *l == '~' || *l == '@')) {
            admin_auth = false;
            bearer = *l == '!' ? NULL : *l == '~' ? "Bearer admin-fuzz-secret-0123456788" : last_key;
            l++;
        }
        const char *sp = memchr(l, ' ', (size_t)(line_end - l));
        char method[16] = "GET";
        if (sp && (size_t)(sp - l) < sizeof method) {
            memcpy(method, l, (size_t)(sp - l));
            method[sp - l] = '\0';
            l = sp + 1;
        }
        char target[1024];
        subst(target, sizeof target, l, (size_t)(line_end - l), last_id);
        char *q = strchr(target, '?');
        if (q) *q++ = '\0';
        char *bcopy = gr_fuzz_cstr((const uint8_t *)body, body_len);

        char *out = NULL;
        int st = gr_admin_handle(&ctx, method, target, q, bcopy, body_len, bearer, &out);
        GR_FUZZ_ASSERT(out != NULL);
        GR_FUZZ_ASSERT(st >= 100 && st <= 599);
        /* the admin key never appears in an answer, unless the request itself carried it */
        if (!memmem(data, size, ADMIN, sizeof ADMIN - 1)) GR_FUZZ_ASSERT(strstr(out, ADMIN) == NULL);
        cJSON *j = cJSON_Parse(out);
        GR_FUZZ_ASSERT(j != NULL && cJSON_IsObject(j));
        if (st >= 400) {
            const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
            GR_FUZZ_ASSERT(cJSON_IsObject(e));
            GR_FUZZ_ASSERT(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(e, "message")));
        }
        if (!admin_auth && strncmp(target, "/admin", 6) == 0) GR_FUZZ_ASSERT(st >= 400);
        if (st == 201) {
            const cJSON *d = cJSON_GetObjectItemCaseSensitive(j, "data");
            if (!d) d = j;
            const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "id"));
            const char *key = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "key"));
            if (id) snprintf(last_id, sizeof last_id, "%s", id);
            if (key) snprintf(last_key, sizeof last_key, "Bearer %s", key);
        }
        cJSON_Delete(j);
        free(out);
        free(bcopy);
        s = rec_end < end ? rec_end + 1 : end;
    }
    gr_keys_free(keys);
    gr_store_close(store);
    return 0;
}
