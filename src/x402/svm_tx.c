/* svm_tx.c — Solana transaction wire-format parser (see svm_tx.h). */
#include "svm_tx.h"

#include "evm.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    const uint8_t *b;
    size_t len, pos;
} cursor;

/* compact-u16: 1..3 bytes, 7 bits each, little-endian; the shortest form only. */
static bool read_compact_u16(cursor *c, size_t *out) {
    size_t v = 0;
    for (unsigned i = 0; i < 3; i++) {
        if (c->pos >= c->len) return false;
        uint8_t byte = c->b[c->pos++];
        if (i == 2 && byte > 3) return false; /* beyond 16 bits */
        v |= (size_t)(byte & 0x7f) << (7 * i);
        if (!(byte & 0x80)) {
            if (i > 0 && byte == 0) return false; /* non-minimal */
            *out = v;
            return true;
        }
    }
    return false;
}

static bool skip(cursor *c, size_t n) {
    if (n > c->len - c->pos) return false;
    c->pos += n;
    return true;
}

static bool read_u8(cursor *c, uint8_t *out) {
    if (c->pos >= c->len) return false;
    *out = c->b[c->pos++];
    return true;
}

/* A compact-u16 length followed by that many `elem`-byte items. */
static bool read_array(cursor *c, size_t elem, size_t *n, size_t *off) {
    if (!read_compact_u16(c, n)) return false;
    *off = c->pos;
    return *n <= (c->len - c->pos) / elem && skip(c, *n * elem);
}

gr_status gr_svm_tx_parse(const uint8_t *bytes, size_t len, gr_svm_tx *tx) {
    memset(tx, 0, sizeof *tx);
    if (len > GR_SVM_TX_MAX) return GR_ERR_TOO_LARGE;
    memcpy(tx->raw, bytes, len);
    tx->raw_len = len;
    cursor c = {tx->raw, len, 0};
    if (!read_array(&c, GR_SVM_SIG_LEN, &tx->nsigs, &tx->sigs_off) || tx->nsigs == 0) return GR_ERR_PARSE;
    tx->msg_off = c.pos;
    uint8_t first;
    if (!read_u8(&c, &first)) return GR_ERR_PARSE;
    if (first & 0x80) { /* versioned message */
        if ((first & 0x7f) != 0) return GR_ERR_UNSUPPORTED;
        tx->versioned = true;
        if (!read_u8(&c, &tx->num_required_sigs)) return GR_ERR_PARSE;
    } else {
        tx->num_required_sigs = first;
    }
    if (!read_u8(&c, &tx->num_readonly_signed) || !read_u8(&c, &tx->num_readonly_unsigned)) return GR_ERR_PARSE;
    if (!read_array(&c, GR_SVM_KEY_LEN, &tx->nkeys, &tx->keys_off)) return GR_ERR_PARSE;
    if (tx->nkeys == 0 || tx->nkeys > GR_SVM_MAX_KEYS || tx->num_required_sigs == 0 ||
        tx->num_required_sigs > tx->nkeys || tx->nsigs != tx->num_required_sigs ||
        tx->num_readonly_signed >= tx->num_required_sigs || /* the fee payer is a writable signer */
        tx->num_readonly_unsigned > tx->nkeys - tx->num_required_sigs)
        return GR_ERR_PARSE;
    tx->blockhash_off = c.pos;
    if (!skip(&c, 32)) return GR_ERR_PARSE;
    size_t nix;
    if (!read_compact_u16(&c, &nix) || nix > GR_SVM_MAX_IX) return GR_ERR_PARSE;
    tx->nix = nix;
    for (size_t i = 0; i < nix; i++) {
        gr_svm_ix *ix = &tx->ix[i];
        if (!read_u8(&c, &ix->program) || !read_array(&c, 1, &ix->nacc, &ix->acc_off) ||
            !read_array(&c, 1, &ix->ndata, &ix->data_off))
            return GR_ERR_PARSE;
    }
    size_t total_keys = tx->nkeys;
    if (tx->versioned) {
        size_t nl;
        if (!read_compact_u16(&c, &nl)) return GR_ERR_PARSE;
        tx->nlookups = nl;
        for (size_t i = 0; i < nl; i++) {
            size_t nw, nr, off;
            if (!skip(&c, 32) || !read_array(&c, 1, &nw, &off) || !read_array(&c, 1, &nr, &off)) return GR_ERR_PARSE;
            total_keys += nw + nr;
        }
    }
    if (c.pos != len) return GR_ERR_PARSE; /* trailing bytes */
    for (size_t i = 0; i < nix; i++) { /* every index names an account; programs are static keys */
        const gr_svm_ix *ix = &tx->ix[i];
        if (ix->program == 0 || ix->program >= tx->nkeys) return GR_ERR_PARSE;
        for (size_t k = 0; k < ix->nacc; k++)
            if (gr_svm_ix_acc(tx, ix, k) >= total_keys) return GR_ERR_PARSE;
    }
    return GR_OK;
}

gr_status gr_svm_tx_parse_b64(gr_str b64, gr_svm_tx *tx) {
    uint8_t *bytes = NULL;
    size_t n = 0;
    gr_status rc = gr_evm_b64_decode(b64, GR_SVM_TX_MAX, &bytes, &n);
    if (rc == GR_OK) rc = gr_svm_tx_parse(bytes, n, tx);
    else memset(tx, 0, sizeof *tx);
    free(bytes);
    return rc;
}

int gr_svm_signer_index(const gr_svm_tx *tx, const uint8_t key[GR_SVM_KEY_LEN]) {
    for (size_t i = 0; i < tx->num_required_sigs; i++)
        if (memcmp(gr_svm_key_at(tx, i), key, GR_SVM_KEY_LEN) == 0) return (int)i;
    return -1;
}

void gr_svm_tx_set_sig(gr_svm_tx *tx, size_t i, const uint8_t sig[GR_SVM_SIG_LEN]) {
    if (i < tx->nsigs) memcpy(tx->raw + tx->sigs_off + 64 * i, sig, GR_SVM_SIG_LEN);
}
