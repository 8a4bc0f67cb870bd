/* x402_chain.c — what the chain says about one x402 payment (see
 * x402_chain.h): authorization spent, the transaction that spent it, the
 * payer's balance and Permit2 allowance. */
#include "x402_chain.h"

#include "keccak.h"
#include "x402.h"
#include "x402_upto.h"

#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

bool gr_x402_spend_from_header(const char *header_b64, const gr_evm_address *permit2, const char *amount_dec,
                               gr_x402_spend *out) {
    memset(out, 0, sizeof *out);
    gr_x402_upto_payment up;
    gr_x402_upto_err uerr;
    gr_status urc = gr_x402_upto_decode(gr_str_c(header_b64), &up, &uerr);
    if (urc == GR_OK) {
        *out = (gr_x402_spend){.upto = true, .from = up.from, .pay_to = up.witness_to, .token = up.token,
                               .nonce = up.nonce, .amount = up.amount};
        if (permit2) out->permit2 = *permit2;
        if (gr_u256_to_u64(&up.deadline, &out->valid_before) != GR_OK) out->valid_before = UINT64_MAX;
    } else if (urc == GR_ERR_NOT_FOUND) {
        gr_x402_payment p;
        gr_x402_err perr;
        if (gr_x402_payment_decode(gr_str_c(header_b64), &p, &perr) != GR_OK) return false;
        *out = (gr_x402_spend){.from = p.auth.from, .pay_to = p.auth.to, .amount = p.auth.value};
        out->token = p.has_accepted ? p.accepted.asset : out->token; /* v1: the caller's network asset */
        memcpy(out->nonce.b, p.auth.nonce, 32);
        if (gr_u256_to_u64(&p.auth.valid_before, &out->valid_before) != GR_OK) out->valid_before = UINT64_MAX;
    } else {
        return false;
    }
    if (amount_dec && gr_u256_from_dec(gr_str_c(amount_dec), &out->amount) != GR_OK) return false;
    return true;
}

/* The eth_call that tells whether the authorization is spent, and its reading. */
static void spent_call(const gr_x402_spend *s, gr_evm_address *to, uint8_t data[68]) {
    if (!s->upto) { /* token.authorizationState(from, nonce) */
        gr_x402_abi_selector("authorizationState(address,bytes32)", data);
        gr_x402_abi_address(&s->from, data + 4);
        memcpy(data + 36, s->nonce.b, 32);
        *to = s->token;
        return;
    }
    gr_x402_abi_selector("nonceBitmap(address,uint256)", data); /* Permit2.nonceBitmap(owner, nonce >> 8) */
    gr_x402_abi_address(&s->from, data + 4);
    memset(data + 36, 0, 32);
    memcpy(data + 37, s->nonce.b, 31);
    *to = s->permit2;
}

static bool spent_of(const gr_x402_spend *s, const uint8_t word[32]) {
    if (!s->upto) return word[31] != 0;
    unsigned bit = s->nonce.b[31]; /* nonce & 0xff */
    return (word[31 - bit / 8] >> (bit % 8)) & 1;
}

static void balance_call(const gr_evm_address *token, const gr_evm_address *owner, gr_evm_address *to,
                         uint8_t data[68]) {
    gr_x402_abi_selector("balanceOf(address)", data);
    gr_x402_abi_address(owner, data + 4);
    *to = *token;
}

static void allowance_call(const gr_evm_address *token, const gr_evm_address *owner, const gr_evm_address *spender,
                           gr_evm_address *to, uint8_t data[68]) {
    gr_x402_abi_selector("allowance(address,address)", data);
    gr_x402_abi_address(owner, data + 4);
    gr_x402_abi_address(spender, data + 36);
    *to = *token;
}

gr_rpc_outcome gr_x402_chain_spent(gr_x402_rpc *c, const char *url, const gr_x402_spend *s, bool *spent, char *err,
                                   size_t errlen) {
    return gr_x402_chain_payer(c, url, s, false, spent, NULL, NULL, err, errlen);
}

gr_rpc_outcome gr_x402_chain_payer(gr_x402_rpc *c, const char *url, const gr_x402_spend *s, bool funds, bool *spent,
                                   gr_u256 *balance, gr_u256 *allowance, char *err, size_t errlen) {
    gr_evm_address to[3];
    uint8_t data[3][68], words[3][32];
    const uint8_t *dp[3] = {data[0], data[1], data[2]};
    size_t len[3] = {68, 36, 68}, n = 1;
    spent_call(s, &to[0], data[0]);
    if (funds) {
        balance_call(&s->token, &s->from, &to[n], data[n]);
        n++;
        if (s->upto) {
            allowance_call(&s->token, &s->from, &s->permit2, &to[n], data[n]);
            n++;
        }
    }
    gr_rpc_outcome o = gr_x402_eth_call_batch(c, url, n, to, dp, len, words, err, errlen);
    if (o != GR_RPC_OK) return o;
    *spent = spent_of(s, words[0]);
    if (funds) memcpy(balance->b, words[1], 32);
    if (funds && s->upto) memcpy(allowance->b, words[2], 32);
    return GR_RPC_OK;
}

gr_rpc_outcome gr_x402_chain_spending_tx(gr_x402_rpc *c, const char *url, const gr_x402_spend *s, uint64_t lookback,
                                         char hash[67], char *err, size_t errlen) {
    hash[0] = '\0';
    uint64_t head = 0;
    gr_rpc_outcome o = gr_x402_rpc_qty(c, url, "eth_blockNumber", "[]", &head, err, errlen);
    if (o != GR_RPC_OK) return o;
    uint64_t from_block = head > lookback ? head - lookback : 0;
    uint8_t topic0[32], w[32];
    char t0[67], t1[67], t2[67], token[GR_EVM_ADDR_STR_LEN + 1], want[67];
    gr_evm_address_lower(&s->token, token);
    const char *ev = s->upto ? "Transfer(address,address,uint256)" : "AuthorizationUsed(address,bytes32)";
    gr_keccak256(ev, strlen(ev), topic0);
    gr_evm_hex_encode(topic0, 32, t0);
    gr_x402_abi_address(&s->from, w);
    gr_evm_hex_encode(w, 32, t1);
    if (s->upto) gr_x402_abi_address(&s->pay_to, w);
    else memcpy(w, s->nonce.b, 32);
    gr_evm_hex_encode(w, 32, t2);
    gr_evm_hex_encode(s->amount.b, 32, want);
    char params[512];
    snprintf(params, sizeof params,
             "[{\"address\":\"%s\",\"topics\":[\"%s\",\"%s\",\"%s\"],\"fromBlock\":\"0x%llx\",\"toBlock\":\"latest\"}]",
             token, t0, t1, t2, (unsigned long long)from_block);
    cJSON *root;
    const cJSON *res;
    o = gr_x402_rpc_call(c, url, "eth_getLogs", params, &root, &res, err, errlen);
    if (o != GR_RPC_OK) return o;
    const cJSON *log;
    cJSON_ArrayForEach(log, res) { /* oldest first: the last match is the latest */
        const cJSON *h = cJSON_GetObjectItemCaseSensitive(log, "transactionHash");
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(log, "data");
        if (!cJSON_IsString(h) || strlen(h->valuestring) != 66) continue;
        if (s->upto && (!cJSON_IsString(d) || strcasecmp(d->valuestring, want) != 0)) continue;
        snprintf(hash, 67, "%s", h->valuestring);
    }
    cJSON_Delete(root);
    return GR_RPC_OK;
}

