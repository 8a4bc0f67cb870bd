/* x402_rpc.c — blocking JSON POST / Ethereum JSON-RPC over one libcurl easy
 * handle, bounded by a timeout and an owner-given, movable deadline (see
 * x402_rpc.h). */
#include "x402_rpc.h"

#include "curl_post.h"
#include "keccak.h"
#include "x402.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>

#define HTTP_BODY_MAX (1u << 20)
#define RPC_TIMEOUT_MS 10000L

static uint64_t deadline_of(const gr_x402_rpc *c) { return c->deadline_fn ? c->deadline_fn(c->ud) : 0; }

/* Polled by libcurl during a transfer (about once a second when idle):
 * non-zero aborts it once the owner's deadline passed. */
static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow) {
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    uint64_t d = deadline_of(ud);
    return d && gr_wall_ms() >= d ? 1 : 0;
}

long gr_x402_rpc_post_json(gr_x402_rpc *rc, const char *url, const char *body, long timeout_ms, char **out,
                           char *err, size_t errlen) {
    *out = NULL;
    uint64_t deadline = deadline_of(rc);
    if (deadline) { /* never past the owner's deadline */
        uint64_t now = gr_wall_ms();
        if (now >= deadline) {
            snprintf(err, errlen, "stopping: not sent");
            return 0;
        }
        if ((long)(deadline - now) < timeout_ms) timeout_ms = (long)(deadline - now);
    }
    CURL *c = rc->curl;
    const gr_curl_api *cu = gr_curl();
    cu->easy_reset(c);
    struct curl_slist *h = cu->slist_append(NULL, "Content-Type: application/json");
    h = cu->slist_append(h, "Accept: application/json");
    gr_curl_reply b = {.max = HTTP_BODY_MAX};
    gr_curl_post_setup(c, url, h, body, &b);
    cu->easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms < 5000L ? timeout_ms : 5000L);
    cu->easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    cu->easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    cu->easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    cu->easy_setopt(c, CURLOPT_XFERINFODATA, (void *)rc);
    cu->easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    cu->easy_setopt(c, CURLOPT_USERAGENT, "gaterouter-x402/" GR_VERSION);
    CURLcode r = cu->easy_perform(c);
    long status = 0;
    if (r == CURLE_OK) cu->easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    else snprintf(err, errlen, "%s", cu->easy_strerror(r));
    cu->slist_free_all(h);
    *out = b.body;
    return status;
}

long gr_x402_facilitator_post(gr_x402_rpc *c, const char *base_url, const char *op, int version,
                              const char *header_b64, const char *requirement_json, char **out, char *err,
                              size_t errlen) {
    *out = NULL;
    uint8_t *payload = NULL;
    size_t plen = 0;
    cJSON *pp = NULL, *req = cJSON_Parse(requirement_json ? requirement_json : "");
    if (gr_evm_b64_decode(gr_str_c(header_b64), GR_X402_HEADER_MAX, &payload, &plen) == GR_OK)
        pp = cJSON_ParseWithLength((const char *)payload, plen);
    free(payload);
    if (!pp || !req) {
        cJSON_Delete(pp);
        cJSON_Delete(req);
        snprintf(err, errlen, "invalid_payload");
        return -1;
    }
    cJSON *body = cJSON_CreateObject();
    cJSON_AddNumberToObject(body, "x402Version", version);
    cJSON_AddItemToObject(body, "paymentPayload", pp);
    cJSON_AddItemToObject(body, "paymentRequirements", req);
    char *text = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    if (!text) abort();
    size_t ul = strlen(base_url) + strlen(op) + 2;
    char *url = gr_xmalloc(ul);
    snprintf(url, ul, "%s/%s", base_url, op);
    long st = gr_x402_rpc_post_json(c, url, text, 60000, out, err, errlen);
    free(url);
    cJSON_free(text);
    return st;
}

gr_rpc_outcome gr_x402_rpc_call(gr_x402_rpc *c, const char *url, const char *method, const char *params,
                                cJSON **root, const cJSON **result, char *err, size_t errlen) {
    *root = NULL;
    *result = NULL;
    size_t n = strlen(method) + strlen(params) + 64;
    char *body = gr_xmalloc(n);
    snprintf(body, n, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"%s\",\"params\":%s}", method, params);
    char *reply = NULL;
    long st = gr_x402_rpc_post_json(c, url, body, RPC_TIMEOUT_MS, &reply, err, errlen);
    free(body);
    gr_rpc_outcome o = GR_RPC_TRANSIENT;
    if (st == 0) goto out;
    if (st != 200) {
        snprintf(err, errlen, "%s: HTTP %ld", method, st);
        goto out;
    }
    cJSON *j = cJSON_Parse(reply ? reply : "");
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        snprintf(err, errlen, "%s: unparsable JSON-RPC reply", method);
        goto out;
    }
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
    if (e && !cJSON_IsNull(e)) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(e, "message");
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(e, "data"); /* revert data: custom error selector */
        snprintf(err, errlen, "%s: %s%s%.74s", method, cJSON_IsString(m) ? m->valuestring : "error",
                 cJSON_IsString(d) ? " data=" : "", cJSON_IsString(d) ? d->valuestring : "");
        cJSON_Delete(j);
        o = GR_RPC_REFUSED;
        goto out;
    }
    *root = j;
    *result = cJSON_GetObjectItemCaseSensitive(j, "result");
    o = GR_RPC_OK;
out:
    free(reply);
    return o;
}

bool gr_x402_parse_qty(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsString(v)) return false;
    const char *p = v->valuestring;
    if (p[0] != '0' || (p[1] != 'x' && p[1] != 'X') || !p[2]) return false;
    uint64_t x = 0;
    size_t nd = 0;
    for (p += 2; *p; p++, nd++) {
        int d = (*p >= '0' && *p <= '9') ? *p - '0' : (*p >= 'a' && *p <= 'f') ? *p - 'a' + 10
              : (*p >= 'A' && *p <= 'F') ? *p - 'A' + 10 : -1;
        if (d < 0 || nd >= 16) return false;
        x = (x << 4) | (uint64_t)d;
    }
    *out = x;
    return true;
}

gr_rpc_outcome gr_x402_rpc_qty(gr_x402_rpc *c, const char *url, const char *method, const char *params, uint64_t *v,
                               char *err, size_t errlen) {
    cJSON *root;
    const cJSON *res;
    gr_rpc_outcome o = gr_x402_rpc_call(c, url, method, params, &root, &res, err, errlen);
    if (o == GR_RPC_OK && !gr_x402_parse_qty(res, v)) {
        snprintf(err, errlen, "%s: bad quantity", method);
        o = GR_RPC_TRANSIENT;
    }
    cJSON_Delete(root);
    return o;
}

/* result "0x" + at least 64 hex -> its first word */
static bool result_word(const cJSON *res, uint8_t word[32]) {
    return cJSON_IsString(res) && strlen(res->valuestring) >= 66 &&
           gr_evm_hex_decode((gr_str){res->valuestring, 66}, word, 32) == GR_OK;
}

gr_rpc_outcome gr_x402_eth_call_word(gr_x402_rpc *c, const char *url, const gr_evm_address *to, const uint8_t *data,
                                     size_t len, uint8_t word[32], char *err, size_t errlen) {
    char target[GR_EVM_ADDR_STR_LEN + 1];
    gr_evm_address_lower(to, target);
    char *dhex = gr_xmalloc(2 * len + 3);
    gr_evm_hex_encode(data, len, dhex);
    size_t plen = 2 * len + 128;
    char *params = gr_xmalloc(plen);
    snprintf(params, plen, "[{\"to\":\"%s\",\"data\":\"%s\"},\"latest\"]", target, dhex);
    free(dhex);
    cJSON *root;
    const cJSON *res;
    gr_rpc_outcome o = gr_x402_rpc_call(c, url, "eth_call", params, &root, &res, err, errlen);
    free(params);
    if (o == GR_RPC_OK && !result_word(res, word)) {
        snprintf(err, errlen, "eth_call: unexpected result");
        o = GR_RPC_TRANSIENT;
    }
    cJSON_Delete(root);
    return o;
}

gr_rpc_outcome gr_x402_eth_call_batch(gr_x402_rpc *c, const char *url, size_t n, const gr_evm_address *to,
                                      const uint8_t *const *data, const size_t *len, uint8_t (*words)[32], char *err,
                                      size_t errlen) {
    enum { BATCH_MAX = 8 };
    if (n == 0 || n > BATCH_MAX) {
        snprintf(err, errlen, "eth_call batch: %zu calls (1..%d)", n, BATCH_MAX);
        return GR_RPC_REFUSED;
    }
    if (n > 1) {
        cJSON *arr = cJSON_CreateArray();
        for (size_t i = 0; i < n; i++) {
            char target[GR_EVM_ADDR_STR_LEN + 1];
            gr_evm_address_lower(&to[i], target);
            char *dhex = gr_xmalloc(2 * len[i] + 3);
            gr_evm_hex_encode(data[i], len[i], dhex);
            cJSON *call = cJSON_CreateObject(), *params = cJSON_CreateArray(), *tx = cJSON_CreateObject();
            cJSON_AddStringToObject(call, "jsonrpc", "2.0");
            cJSON_AddNumberToObject(call, "id", (double)i);
            cJSON_AddStringToObject(call, "method", "eth_call");
            cJSON_AddStringToObject(tx, "to", target);
            cJSON_AddStringToObject(tx, "data", dhex);
            cJSON_AddItemToArray(params, tx);
            cJSON_AddItemToArray(params, cJSON_CreateString("latest"));
            cJSON_AddItemToObject(call, "params", params);
            cJSON_AddItemToArray(arr, call);
            free(dhex);
        }
        char *body = cJSON_PrintUnformatted(arr);
        cJSON_Delete(arr);
        if (!body) abort();
        char *reply = NULL;
        long st = gr_x402_rpc_post_json(c, url, body, RPC_TIMEOUT_MS, &reply, err, errlen);
        cJSON_free(body);
        cJSON *j = st == 200 ? cJSON_Parse(reply ? reply : "") : NULL;
        free(reply);
        if (st != 200) {
            if (st) snprintf(err, errlen, "eth_call batch: HTTP %ld", st);
            cJSON_Delete(j);
            return GR_RPC_TRANSIENT;
        }
        if (cJSON_IsArray(j)) {
            bool seen[BATCH_MAX] = {false};
            gr_rpc_outcome o = GR_RPC_OK;
            const cJSON *e;
            cJSON_ArrayForEach(e, j) {
                const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "id");
                size_t k = cJSON_IsNumber(id) && id->valuedouble >= 0 ? (size_t)id->valuedouble : n;
                if (k >= n) continue;
                const cJSON *bad = cJSON_GetObjectItemCaseSensitive(e, "error");
                if (bad && !cJSON_IsNull(bad)) {
                    const cJSON *m = cJSON_GetObjectItemCaseSensitive(bad, "message");
                    snprintf(err, errlen, "eth_call: %s", cJSON_IsString(m) ? m->valuestring : "error");
                    o = GR_RPC_REFUSED;
                } else if (result_word(cJSON_GetObjectItemCaseSensitive(e, "result"), words[k])) {
                    seen[k] = true;
                }
            }
            cJSON_Delete(j);
            for (size_t i = 0; o == GR_RPC_OK && i < n; i++)
                if (!seen[i]) {
                    snprintf(err, errlen, "eth_call batch: no result for call %zu", i);
                    o = GR_RPC_TRANSIENT;
                }
            return o;
        }
        cJSON_Delete(j); /* not an array: a server without batches — one by one */
    }
    for (size_t i = 0; i < n; i++) {
        gr_rpc_outcome o = gr_x402_eth_call_word(c, url, &to[i], data[i], len[i], words[i], err, errlen);
        if (o != GR_RPC_OK) return o;
    }
    return GR_RPC_OK;
}

void gr_x402_abi_selector(const char *signature, uint8_t out[4]) {
    uint8_t h[32];
    gr_keccak256(signature, strlen(signature), h);
    memcpy(out, h, 4);
}

void gr_x402_abi_address(const gr_evm_address *a, uint8_t w[32]) {
    memset(w, 0, 12);
    memcpy(w + 12, a->b, 20);
}

static uint64_t conn_deadline(void *ud) { return ((gr_x402_rpc_conn *)ud)->deadline_ms; }

gr_status gr_x402_rpc_conn_open(void *ctx, void **out, char *err, size_t errlen) {
    (void)ctx;
    char why[320];
    if (gr_curl_load(why, sizeof why) != GR_OK) {
        snprintf(err, errlen, "x402 needs libcurl (%s)", why);
        return GR_ERR_UNSUPPORTED;
    }
    gr_x402_rpc_conn *c = gr_xcalloc(1, sizeof *c);
    c->curl = gr_curl()->easy_init();
    if (!c->curl) {
        free(c);
        snprintf(err, errlen, "x402: cannot create a curl handle");
        return GR_ERR_NOMEM;
    }
    c->rpc = (gr_x402_rpc){.curl = c->curl, .deadline_fn = conn_deadline, .ud = c};
    *out = c;
    return GR_OK;
}

void gr_x402_rpc_conn_close(void *ctx, void *conn) {
    (void)ctx;
    gr_x402_rpc_conn *c = conn;
    if (!c) return;
    gr_curl()->easy_cleanup(c->curl);
    free(c);
}
