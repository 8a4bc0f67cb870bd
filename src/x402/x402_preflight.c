/* x402_preflight.c — can this payer pay? Asked before serving, on a pool of
 * threads of its own, with a short per-payer cache of balances and
 * allowances and a memory of payers whose settlement failed (see
 * x402_preflight.h). */
#include "x402_preflight.h"

#include "log.h"
#include "store_exec.h"
#include "x402.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define CACHE_SLOTS 1024 /* payer balances / allowances (a slot is reused by the next payer hashing there) */
#define FAILED_SLOTS 4096 /* payers whose settlement failed */

typedef struct cache_entry {
    char key[96]; /* payer:token */
    gr_u256 balance, allowance;
    bool has_allowance;
    uint64_t fetched_ms;
} cache_entry;

struct gr_x402_preflight {
    gr_x402_preflight_opts o;
    gr_store_exec *exec;
    pthread_mutex_t mu;
    cache_entry cache[CACHE_SLOTS];
    char failed[FAILED_SLOTS][43]; /* lowercase 0x… payers; "" = free */
};

/* One pool thread's client: gr_x402_rpc_conn (x402_rpc.h). */
typedef gr_x402_rpc_conn pf_conn;

gr_status gr_x402_preflight_new(const gr_x402_preflight_opts *o, gr_x402_preflight **out, char *err, size_t errlen) {
    gr_x402_preflight *pf = gr_xcalloc(1, sizeof *pf);
    pf->o = *o;
    pthread_mutex_init(&pf->mu, NULL);
    gr_store_exec_opts eo = {.threads = o->threads, .queue_max = o->queue_max, .op_timeout_ms = o->timeout_ms,
                             .pool = "x402_preflight"};
    gr_status rc = gr_store_exec_new(&eo, gr_x402_rpc_conn_open, gr_x402_rpc_conn_close, pf, &pf->exec, err, errlen);
    if (rc != GR_OK) {
        pthread_mutex_destroy(&pf->mu);
        free(pf);
        return rc;
    }
    *out = pf;
    return GR_OK;
}

void gr_x402_preflight_shutdown(gr_x402_preflight *pf) {
    if (pf) gr_store_exec_shutdown(pf->exec);
}

void gr_x402_preflight_free(gr_x402_preflight *pf) {
    if (!pf) return;
    gr_store_exec_free(pf->exec);
    pthread_mutex_destroy(&pf->mu);
    free(pf);
}

struct gr_store_exec *gr_x402_preflight_exec(gr_x402_preflight *pf) { return pf->exec; }
bool gr_x402_preflight_fail_open(const gr_x402_preflight *pf) { return pf->o.fail_open; }

static size_t slot_of(const char *key, size_t n) {
    return (size_t)(gr_fnv1a64(GR_FNV1A64_BASIS, key, strlen(key)) % n);
}

/* The failed-payer memory: open addressing over FAILED_SLOTS (a full table
 * overwrites the payer's home slot: the oldest memory goes first there). */
static bool failed_find(gr_x402_preflight *pf, const char *payer, size_t *at) {
    size_t h = slot_of(payer, FAILED_SLOTS);
    for (size_t i = 0; i < 16; i++) {
        size_t k = (h + i) % FAILED_SLOTS;
        if (!strcmp(pf->failed[k], payer)) {
            *at = k;
            return true;
        }
    }
    return false;
}

void gr_x402_preflight_payer_outcome(void *arg, const char *payer, bool settled) {
    gr_x402_preflight *pf = arg;
    if (!pf || !payer) return;
    pthread_mutex_lock(&pf->mu);
    size_t at;
    bool known = failed_find(pf, payer, &at);
    if (settled && known) {
        pf->failed[at][0] = '\0';
    } else if (!settled && !known) {
        size_t h = slot_of(payer, FAILED_SLOTS), k = h;
        for (size_t i = 0; i < 16; i++)
            if (!pf->failed[(h + i) % FAILED_SLOTS][0]) {
                k = (h + i) % FAILED_SLOTS;
                break;
            }
        snprintf(pf->failed[k], sizeof pf->failed[k], "%s", payer);
    }
    pthread_mutex_unlock(&pf->mu);
}

static bool payer_failed(gr_x402_preflight *pf, const char *payer) {
    pthread_mutex_lock(&pf->mu);
    size_t at;
    bool failed = failed_find(pf, payer, &at);
    pthread_mutex_unlock(&pf->mu);
    return failed;
}

bool gr_x402_preflight_needed(gr_x402_preflight *pf, const char *payer) {
    if (!pf) return false;
    return pf->o.enabled || payer_failed(pf, payer); /* enabled: no lock needed */
}

static void refuse(gr_x402_preflight_check *c, const char *code, const char *why) {
    c->verdict = GR_PREFLIGHT_REFUSED;
    snprintf(c->code, sizeof c->code, "%s", code);
    snprintf(c->why, sizeof c->why, "%s", why);
}

static void unknown(gr_x402_preflight_check *c, const char *why) {
    c->verdict = GR_PREFLIGHT_UNKNOWN;
    snprintf(c->why, sizeof c->why, "%.150s", why);
}

/* facilitator: POST /verify {x402Version, paymentPayload, paymentRequirements} */
static void check_facilitator(pf_conn *pc, gr_x402_preflight_check *c) {
    const gr_x402_network_conf *n = c->net;
    char *reply = NULL, err[160] = "";
    long st = gr_x402_facilitator_post(&pc->rpc, n->facilitator_url, "verify", c->version, c->header_b64,
                                       c->requirement, &reply, err, sizeof err);
    if (st < 0) {
        unknown(c, "payment header or requirement not decodable");
        return;
    }
    cJSON *j = st ? cJSON_Parse(reply ? reply : "") : NULL;
    const cJSON *valid = cJSON_GetObjectItemCaseSensitive(j, "isValid");
    if (cJSON_IsTrue(valid)) {
        c->verdict = GR_PREFLIGHT_OK;
    } else if (cJSON_IsFalse(valid)) {
        const cJSON *why = cJSON_GetObjectItemCaseSensitive(j, "invalidReason");
        refuse(c, cJSON_IsString(why) ? why->valuestring : "invalid_payload", "the facilitator's /verify refused it");
    } else {
        char w[200];
        snprintf(w, sizeof w, "facilitator /verify: %s", st ? "no isValid in its answer" : err);
        unknown(c, w);
    }
    cJSON_Delete(j);
    free(reply);
}

/* self: authorization unspent, balance (and upto allowance) cover the amount */
static void check_chain(gr_x402_preflight *pf, pf_conn *pc, gr_x402_preflight_check *c) {
    const gr_x402_network_conf *n = c->net;
    const gr_x402_spend *s = &c->spend;
    bool v2 = c->version == 2;
    char err[160] = "", payer[GR_EVM_ADDR_STR_LEN + 1], token[GR_EVM_ADDR_STR_LEN + 1], key[96];
    gr_evm_address_lower(&s->from, payer);
    gr_evm_address_lower(&s->token, token);
    snprintf(key, sizeof key, "%s:%s", payer, token);
    /* balance and allowance: from the cache when fresh (never for a payer whose settlement failed) */
    cache_entry e = {0};
    bool cached = false;
    uint64_t now = gr_wall_ms();
    if (pf->o.cache_ms && !payer_failed(pf, payer)) {
        pthread_mutex_lock(&pf->mu);
        const cache_entry *ce = &pf->cache[slot_of(key, CACHE_SLOTS)];
        cached = !strcmp(ce->key, key) && now - ce->fetched_ms < pf->o.cache_ms && (!s->upto || ce->has_allowance);
        if (cached) e = *ce;
        pthread_mutex_unlock(&pf->mu);
    }
    /* one round trip: the authorization's state (never cached), plus the funds when not cached */
    bool spent = false;
    if (gr_x402_chain_payer(&pc->rpc, n->rpc_url, s, !cached, &spent, &e.balance, &e.allowance, err, sizeof err) !=
        GR_RPC_OK) {
        unknown(c, err);
        return;
    }
    if (!cached) {
        snprintf(e.key, sizeof e.key, "%s", key);
        e.has_allowance = s->upto;
        e.fetched_ms = now;
        pthread_mutex_lock(&pf->mu);
        pf->cache[slot_of(key, CACHE_SLOTS)] = e;
        pthread_mutex_unlock(&pf->mu);
    }
    if (spent) {
        /* the replay guard's codes: used or cancelled, this authorization cannot pay */
        refuse(c, s->upto ? "permit2_invalid_nonce" : v2 ? "invalid_exact_evm_nonce_already_used" : "duplicate_settlement",
               "the authorization is already used or cancelled on chain");
        return;
    }
    if (gr_u256_cmp(&e.balance, &s->amount) < 0) {
        refuse(c, s->upto ? "permit2_insufficient_balance" : v2 ? "invalid_exact_evm_insufficient_balance" : "insufficient_funds",
               "the payer's balance does not cover the payment");
        return;
    }
    if (s->upto && gr_u256_cmp(&e.allowance, &s->amount) < 0) {
        refuse(c, "permit2_allowance_required", "the payer's allowance to Permit2 does not cover the maximum");
        return;
    }
    c->verdict = GR_PREFLIGHT_OK;
}

void gr_x402_preflight_run(gr_x402_preflight *pf, gr_x402_preflight_check *c, void *conn) {
    pf_conn *pc = conn;
    pc->deadline_ms = gr_wall_ms() + pf->o.timeout_ms;
    c->verdict = GR_PREFLIGHT_UNKNOWN;
    if (c->mode == GR_X402_SETTLE_FACILITATOR && c->net->facilitator_url) check_facilitator(pc, c);
    else if (c->net->rpc_url) check_chain(pf, pc, c);
    else c->verdict = GR_PREFLIGHT_OK; /* nothing to ask */
    pc->deadline_ms = 0;
}
