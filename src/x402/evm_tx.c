/* evm_tx.c — ABI calldata for EIP-3009 transferWithAuthorization and RLP
 * encoding/signing of EIP-1559 transactions (for self-settlement). */
#include "evm_tx.h"

#include "keccak.h"

#include <stdlib.h>

const uint8_t gr_evm_twa_selector[4] = {0xe3, 0xee, 0x16, 0x0e};

gr_status gr_evm_twa_calldata(const gr_eip3009_auth *a, const uint8_t sig[GR_EVM_SIG_LEN],
                              uint8_t out[GR_EVM_TWA_CALLDATA_LEN]) {
    uint8_t v = sig[64];
    if (v == 0 || v == 1) v += 27;
    if (v != 27 && v != 28) return GR_ERR_PARSE;
    memset(out, 0, GR_EVM_TWA_CALLDATA_LEN);
    uint8_t *w = out + 4;
    memcpy(out, gr_evm_twa_selector, 4);
    memcpy(w + 0 * 32 + 12, a->from.b, 20);
    memcpy(w + 1 * 32 + 12, a->to.b, 20);
    memcpy(w + 2 * 32, a->value.b, 32);
    memcpy(w + 3 * 32, a->valid_after.b, 32);
    memcpy(w + 4 * 32, a->valid_before.b, 32);
    memcpy(w + 5 * 32, a->nonce, 32);
    w[6 * 32 + 31] = v;
    memcpy(w + 7 * 32, sig, 32);
    memcpy(w + 8 * 32, sig + 32, 32);
    return GR_OK;
}

/* ---- RLP ---- */

typedef struct buf {
    uint8_t *p;
    size_t len, cap;
} buf;

static void buf_put(buf *b, const void *d, size_t n) {
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 128;
        while (cap < b->len + n) cap *= 2;
        b->p = gr_xrealloc(b->p, cap);
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->len, d, n);
    b->len += n;
}

static void rlp_len_prefix(buf *b, size_t len, uint8_t short_base, uint8_t long_base) {
    if (len <= 55) {
        uint8_t h = (uint8_t)(short_base + len);
        buf_put(b, &h, 1);
        return;
    }
    uint8_t be[8];
    int n = 0;
    for (size_t l = len; l; l >>= 8) n++;
    for (int i = 0; i < n; i++) be[i] = (uint8_t)(len >> (8 * (n - 1 - i)));
    uint8_t h = (uint8_t)(long_base + n);
    buf_put(b, &h, 1);
    buf_put(b, be, (size_t)n);
}

static void rlp_bytes(buf *b, const uint8_t *d, size_t n) {
    if (n == 1 && d[0] < 0x80) {
        buf_put(b, d, 1);
        return;
    }
    rlp_len_prefix(b, n, 0x80, 0xb7);
    buf_put(b, d, n);
}

/* integers: minimal big-endian, zero = empty string */
static void rlp_uint_be(buf *b, const uint8_t *be, size_t n) {
    while (n && be[0] == 0) be++, n--;
    rlp_bytes(b, be, n);
}

static void rlp_u64(buf *b, uint64_t v) {
    uint8_t be[8];
    for (int i = 7; i >= 0; i--, v >>= 8) be[i] = (uint8_t)v;
    rlp_uint_be(b, be, 8);
}

static void tx_fields(buf *body, const gr_evm_tx1559 *tx) {
    rlp_u64(body, tx->chain_id);
    rlp_u64(body, tx->nonce);
    rlp_uint_be(body, tx->max_priority_fee_per_gas.b, 32);
    rlp_uint_be(body, tx->max_fee_per_gas.b, 32);
    rlp_u64(body, tx->gas_limit);
    rlp_bytes(body, tx->to.b, GR_EVM_ADDR_LEN);
    rlp_uint_be(body, tx->value.b, 32);
    rlp_bytes(body, tx->data, tx->data_len);
    uint8_t empty_list = 0xc0;
    buf_put(body, &empty_list, 1);
}

static void wrap_typed(const buf *body, uint8_t **out, size_t *out_len) {
    buf o = {0};
    uint8_t type = 0x02;
    buf_put(&o, &type, 1);
    rlp_len_prefix(&o, body->len, 0xc0, 0xf7);
    buf_put(&o, body->p, body->len);
    *out = o.p;
    *out_len = o.len;
}

void gr_evm_tx1559_unsigned(const gr_evm_tx1559 *tx, uint8_t **out, size_t *out_len) {
    buf body = {0};
    tx_fields(&body, tx);
    wrap_typed(&body, out, out_len);
    free(body.p);
}

gr_status gr_evm_tx1559_sign(const gr_evm_tx1559 *tx, const uint8_t privkey[32], uint8_t **raw,
                             size_t *raw_len, uint8_t tx_hash[32]) {
    uint8_t *pre = NULL, digest[32], sig[GR_EVM_SIG_LEN];
    size_t pre_len = 0;
    gr_evm_tx1559_unsigned(tx, &pre, &pre_len);
    gr_keccak256(pre, pre_len, digest);
    free(pre);
    gr_status rc = gr_evm_sign(digest, privkey, sig);
    if (rc != GR_OK) return rc;
    buf body = {0};
    tx_fields(&body, tx);
    rlp_u64(&body, (uint64_t)(sig[64] - 27)); /* yParity */
    rlp_uint_be(&body, sig, 32);
    rlp_uint_be(&body, sig + 32, 32);
    wrap_typed(&body, raw, raw_len);
    free(body.p);
    if (tx_hash) gr_keccak256(*raw, *raw_len, tx_hash);
    return GR_OK;
}
