/* eip712.h — EIP-712 typed-data hashing: a small generic struct hasher
 * (hashStruct = keccak(typeHash || encodeData)) for structs whose fields are
 * atomic values, strings/bytes, or already-hashed nested structs; the
 * EIP712Domain separator for (name, version, chainId, verifyingContract);
 * and the EIP-3009 TransferWithAuthorization struct hash and signing digest
 * keccak(0x19 0x01 || domainSeparator || structHash).
 *
 * Pure functions, no allocation, no global state (thread-safe). Values are
 * borrowed for the duration of the call. */
#ifndef GR_EIP712_H
#define GR_EIP712_H

#include "common.h"
#include "evm.h"

typedef enum {
    GR_EIP712_ADDRESS, /* .addr, left-padded to 32 bytes */
    GR_EIP712_UINT,    /* .u (any uintN <= 256; encoded as uint256) */
    GR_EIP712_BYTES32, /* .b32 verbatim */
    GR_EIP712_BOOL,    /* .boolean as 0 / 1 */
    GR_EIP712_STRING,  /* .data: keccak256 of the UTF-8 bytes */
    GR_EIP712_BYTES,   /* .data: keccak256 of the bytes */
    GR_EIP712_STRUCT,  /* .b32 = hashStruct of the nested value (caller computes) */
} gr_eip712_kind;

typedef struct gr_eip712_value {
    gr_eip712_kind kind;
    union {
        gr_evm_address addr;
        gr_u256 u;
        uint8_t b32[32];
        bool boolean;
        gr_str data;
    } v;
} gr_eip712_value;

/* One field each, for building a struct's fields as an initializer list:
 * {gr_eip712_address(a), gr_eip712_uint64(n), …}. b32 is copied. */
gr_eip712_value gr_eip712_address(gr_evm_address a);
gr_eip712_value gr_eip712_uint(gr_u256 u);
gr_eip712_value gr_eip712_uint64(uint64_t u);
gr_eip712_value gr_eip712_string(gr_str s);
gr_eip712_value gr_eip712_b32(gr_eip712_kind kind, const uint8_t b32[32]); /* BYTES32 or STRUCT */

/* hashStruct(s) = keccak256(keccak256(encodeType) || enc(field_0) || ...).
 * encode_type is the full EIP-712 encodeType string, i.e. the primary type
 * followed by referenced struct types sorted by name, e.g.
 * "Mail(Person from,Person to,string contents)Person(string name,address wallet)".
 * GR_ERR_INVALID on an unknown kind. */
GR_MUST_CHECK gr_status gr_eip712_hash_struct(gr_str encode_type, const gr_eip712_value *fields,
                                              size_t n, uint8_t out[32]);
/* Same with a precomputed typeHash (hot path). */
GR_MUST_CHECK gr_status gr_eip712_hash_struct_th(const uint8_t type_hash[32],
                                                 const gr_eip712_value *fields, size_t n,
                                                 uint8_t out[32]);

/* EIP712Domain(string name,string version,uint256 chainId,address verifyingContract) */
typedef struct gr_eip712_domain {
    gr_str name;
    gr_str version;
    uint64_t chain_id;
    gr_evm_address verifying_contract;
} gr_eip712_domain;

void gr_eip712_domain_separator(const gr_eip712_domain *d, uint8_t out[32]);

/* keccak256(0x19 || 0x01 || domain_separator || struct_hash) */
void gr_eip712_digest(const uint8_t domain_separator[32], const uint8_t struct_hash[32],
                      uint8_t out[32]);

/* EIP-3009 TransferWithAuthorization message. */
typedef struct gr_eip3009_auth {
    gr_evm_address from;
    gr_evm_address to;
    gr_u256 value;
    gr_u256 valid_after;
    gr_u256 valid_before;
    uint8_t nonce[32];
} gr_eip3009_auth;

#define GR_EIP3009_TWA_TYPE                                                           \
    "TransferWithAuthorization(address from,address to,uint256 value,uint256 validAfter," \
    "uint256 validBefore,bytes32 nonce)"

/* keccak256(GR_EIP3009_TWA_TYPE) */
extern const uint8_t gr_eip3009_twa_typehash[32];

void gr_eip3009_struct_hash(const gr_eip3009_auth *a, uint8_t out[32]);
/* Full signing digest for a TransferWithAuthorization under domain d. */
void gr_eip3009_digest(const gr_eip712_domain *d, const gr_eip3009_auth *a, uint8_t out[32]);

#endif
