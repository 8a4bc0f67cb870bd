/* eip712.c — EIP-712 struct hashing, domain separator, and the EIP-3009
 * TransferWithAuthorization digest. Streams encodeData into an incremental
 * Keccak so nothing is allocated. */
#include "eip712.h"

#include "keccak.h"

/* keccak256("TransferWithAuthorization(address from,address to,uint256 value,
 * uint256 validAfter,uint256 validBefore,bytes32 nonce)"); checked in tests. */
const uint8_t gr_eip3009_twa_typehash[32] = {
    0x7c, 0x7c, 0x6c, 0xdb, 0x67, 0xa1, 0x87, 0x43, 0xf4, 0x9e, 0xc6, 0xfa, 0x9b, 0x35, 0xf5, 0x0d,
    0x52, 0xed, 0x05, 0xcb, 0xed, 0x4c, 0xc5, 0x92, 0xe1, 0x3b, 0x44, 0x50, 0x1c, 0x1a, 0x22, 0x67,
};

/* keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)") */
static const uint8_t DOMAIN_TYPEHASH[32] = {
    0x8b, 0x73, 0xc3, 0xc6, 0x9b, 0xb8, 0xfe, 0x3d, 0x51, 0x2e, 0xcc, 0x4c, 0xf7, 0x59, 0xcc, 0x79,
    0x23, 0x9f, 0x7b, 0x17, 0x9b, 0x0f, 0xfa, 0xca, 0xa9, 0xa7, 0x5d, 0x52, 0x2b, 0x39, 0x40, 0x0f,
};

gr_eip712_value gr_eip712_address(gr_evm_address a) {
    return (gr_eip712_value){.kind = GR_EIP712_ADDRESS, .v.addr = a};
}
gr_eip712_value gr_eip712_uint(gr_u256 u) { return (gr_eip712_value){.kind = GR_EIP712_UINT, .v.u = u}; }
gr_eip712_value gr_eip712_string(gr_str s) { return (gr_eip712_value){.kind = GR_EIP712_STRING, .v.data = s}; }

gr_eip712_value gr_eip712_uint64(uint64_t u) {
    gr_eip712_value v = {.kind = GR_EIP712_UINT};
    gr_u256_from_u64(u, &v.v.u);
    return v;
}

gr_eip712_value gr_eip712_b32(gr_eip712_kind kind, const uint8_t b32[32]) {
    gr_eip712_value v = {.kind = kind};
    memcpy(v.v.b32, b32, 32);
    return v;
}

static gr_status encode_field(const gr_eip712_value *f, uint8_t word[32]) {
    memset(word, 0, 32);
    switch (f->kind) {
    case GR_EIP712_ADDRESS: memcpy(word + 12, f->v.addr.b, GR_EVM_ADDR_LEN); return GR_OK;
    case GR_EIP712_UINT: memcpy(word, f->v.u.b, 32); return GR_OK;
    case GR_EIP712_BYTES32:
    case GR_EIP712_STRUCT: memcpy(word, f->v.b32, 32); return GR_OK;
    case GR_EIP712_BOOL: word[31] = f->v.boolean ? 1 : 0; return GR_OK;
    case GR_EIP712_STRING:
    case GR_EIP712_BYTES: gr_keccak256(f->v.data.ptr ? f->v.data.ptr : "", f->v.data.len, word); return GR_OK;
    }
    return GR_ERR_INVALID;
}

gr_status gr_eip712_hash_struct_th(const uint8_t type_hash[32], const gr_eip712_value *fields,
                                   size_t n, uint8_t out[32]) {
    gr_keccak_ctx c;
    uint8_t word[32];
    gr_keccak_init(&c);
    gr_keccak_update(&c, type_hash, 32);
    for (size_t i = 0; i < n; i++) {
        if (encode_field(&fields[i], word) != GR_OK) return GR_ERR_INVALID;
        gr_keccak_update(&c, word, 32);
    }
    gr_keccak_final(&c, out);
    return GR_OK;
}

gr_status gr_eip712_hash_struct(gr_str encode_type, const gr_eip712_value *fields, size_t n,
                                uint8_t out[32]) {
    uint8_t th[32];
    gr_keccak256(encode_type.ptr ? encode_type.ptr : "", encode_type.len, th);
    return gr_eip712_hash_struct_th(th, fields, n, out);
}

void gr_eip712_domain_separator(const gr_eip712_domain *d, uint8_t out[32]) {
    const gr_eip712_value f[] = {gr_eip712_string(d->name), gr_eip712_string(d->version),
                                 gr_eip712_uint64(d->chain_id), gr_eip712_address(d->verifying_contract)};
    if (gr_eip712_hash_struct_th(DOMAIN_TYPEHASH, f, GR_ARRAY_LEN(f), out) != GR_OK) { /* kinds are all valid */ }
}

void gr_eip712_digest(const uint8_t domain_separator[32], const uint8_t struct_hash[32],
                      uint8_t out[32]) {
    uint8_t buf[66];
    buf[0] = 0x19;
    buf[1] = 0x01;
    memcpy(buf + 2, domain_separator, 32);
    memcpy(buf + 34, struct_hash, 32);
    gr_keccak256(buf, sizeof(buf), out);
}

void gr_eip3009_struct_hash(const gr_eip3009_auth *a, uint8_t out[32]) {
    const gr_eip712_value f[] = {gr_eip712_address(a->from),     gr_eip712_address(a->to),
                                 gr_eip712_uint(a->value),        gr_eip712_uint(a->valid_after),
                                 gr_eip712_uint(a->valid_before), gr_eip712_b32(GR_EIP712_BYTES32, a->nonce)};
    if (gr_eip712_hash_struct_th(gr_eip3009_twa_typehash, f, GR_ARRAY_LEN(f), out) != GR_OK) { /* all valid */ }
}

void gr_eip3009_digest(const gr_eip712_domain *d, const gr_eip3009_auth *a, uint8_t out[32]) {
    uint8_t ds[32], sh[32];
    gr_eip712_domain_separator(d, ds);
    gr_eip3009_struct_hash(a, sh);
    gr_eip712_digest(ds, sh, out);
}
