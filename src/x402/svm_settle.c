/* svm_settle.c — sign, send and confirm an x402 Solana payment over
 * JSON-RPC, on a thread pool of its own (see svm_settle.h). */
#include "svm_settle.h"

#include "log.h"
#include "store_exec.h"
#include "x402_rpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct gr_svm_settler {
    gr_store_exec *exec;
};

gr_status gr_svm_settler_new(unsigned threads, unsigned queue_max, gr_svm_settler **out, char *err, size_t errlen) {
    gr_svm_settler *s = gr_xcalloc(1, sizeof *s);
    gr_store_exec_opts eo = {.threads = threads, .queue_max = queue_max, .op_timeout_ms = 0, .pool = "x402_svm"};
    gr_status rc = gr_store_exec_new(&eo, gr_x402_rpc_conn_open, gr_x402_rpc_conn_close, s, &s->exec, err, errlen);
    if (rc != GR_OK) {
        free(s);
        return rc;
    }
    *out = s;
    return GR_OK;
}

void gr_svm_settler_shutdown(gr_svm_settler *s) {
    if (s) gr_store_exec_shutdown(s->exec);
}

void gr_svm_settler_free(gr_svm_settler *s) {
    if (!s) return;
    gr_store_exec_free(s->exec);
    free(s);
}

gr_store_exec *gr_svm_settler_exec(gr_svm_settler *s) { return s->exec; }

static void sleep_ms(unsigned ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* One status poll: true when the transaction has an answer (confirmed or
 * failed), which goes into j. */
static bool status_known(gr_x402_rpc *rpc, gr_svm_settle_job *j) {
    char params[GR_BASE58_MAX_64 + 64], err[160] = "";
    snprintf(params, sizeof params, "[[\"%s\"],{\"searchTransactionHistory\":false}]", j->signature);
    cJSON *root = NULL;
    const cJSON *res = NULL;
    if (gr_x402_rpc_call(rpc, j->rpc_url, "getSignatureStatuses", params, &root, &res, err, sizeof err) != GR_RPC_OK) {
        cJSON_Delete(root);
        return false;
    }
    const cJSON *st = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(res, "value"), 0);
    bool known = false;
    if (cJSON_IsObject(st)) {
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(st, "err");
        const char *cs = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(st, "confirmationStatus"));
        if (e && !cJSON_IsNull(e)) {
            char *t = cJSON_PrintUnformatted(e);
            snprintf(j->error, sizeof j->error, "transaction failed: %s", t ? t : "?");
            cJSON_free(t);
            j->outcome = GR_SVM_FAILED;
            known = true;
        } else if (cs && (!strcmp(cs, "confirmed") || !strcmp(cs, "finalized"))) {
            j->outcome = GR_SVM_SETTLED;
            known = true;
        }
    }
    cJSON_Delete(root);
    return known;
}

void gr_svm_settle_run(void *conn, gr_svm_settle_job *j) {
    gr_x402_rpc_conn *c = conn;
    uint64_t start = gr_wall_ms();
    j->outcome = GR_SVM_UNKNOWN;
    if (!c || !j->tx_b64) {
        j->outcome = GR_SVM_REFUSED; /* never sent */
        snprintf(j->error, sizeof j->error, "no connection");
        return;
    }
    c->deadline_ms = start + j->confirm_timeout_ms;
    size_t plen = strlen(j->tx_b64) + 96;
    char *params = gr_xmalloc(plen);
    snprintf(params, plen, "[\"%s\",{\"encoding\":\"base64\",\"preflightCommitment\":\"confirmed\"}]", j->tx_b64);
    cJSON *root = NULL;
    const cJSON *res = NULL;
    gr_rpc_outcome oc = gr_x402_rpc_call(&c->rpc, j->rpc_url, "sendTransaction", params, &root, &res, j->error,
                                         sizeof j->error);
    free(params);
    const char *sig = cJSON_GetStringValue(res);
    if (oc == GR_RPC_REFUSED) {
        j->outcome = GR_SVM_REFUSED;
    } else if (oc == GR_RPC_OK && sig && strcmp(sig, j->signature) != 0) {
        j->outcome = GR_SVM_REFUSED; /* not the transaction we signed: never treat as paid */
        snprintf(j->error, sizeof j->error, "the node answered another signature");
    } else {
        /* sent (or no answer: it may have been sent): poll until known or the deadline */
        while (!status_known(&c->rpc, j) && gr_wall_ms() + GR_SVM_POLL_MS < c->deadline_ms) sleep_ms(GR_SVM_POLL_MS);
        if (j->outcome == GR_SVM_UNKNOWN)
            snprintf(j->error, sizeof j->error, "not confirmed within %u ms", (unsigned)j->confirm_timeout_ms);
    }
    cJSON_Delete(root);
    c->deadline_ms = 0;
    j->settle_ms = gr_wall_ms() - start;
}
