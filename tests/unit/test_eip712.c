/* test_eip712.c — EVM value codecs (hex, EIP-55, uint256, base64), secp256k1
 * sign/recover edge cases, EIP-712 generic hashing on the spec's Mail example,
 * and EIP-3009 digests/signatures against viem-generated vectors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "eip712.h"
#include "evm.h"
#include "keccak.h"
#include "x402_test_util.h"

static cJSON *g_vec;

static int setup(void **state) {
    (void)state;
    g_vec = load_viem_vectors();
    return g_vec ? 0 : -1;
}
static int teardown(void **state) {
    (void)state;
    cJSON_Delete(g_vec);
    return 0;
}

/* ---- evm codecs ---- */

/* evm-1: hex */
static void test_hex(void **state) {
    (void)state;
    uint8_t b[4];
    char s[16];
    assert_int_equal(gr_evm_hex_decode(GR_STR_LIT("0xDeadBeef"), b, 4), GR_OK);
    assert_int_equal(gr_evm_hex_encode(b, 4, s), 10);
    assert_string_equal(s, "0xdeadbeef");
    assert_int_equal(gr_evm_hex_decode(GR_STR_LIT("deadbeef"), b, 4), GR_ERR_PARSE);   /* no prefix */
    assert_int_equal(gr_evm_hex_decode(GR_STR_LIT("0Xdeadbeef"), b, 4), GR_ERR_PARSE); /* 0X */
    assert_int_equal(gr_evm_hex_decode(GR_STR_LIT("0xdeadbee"), b, 4), GR_ERR_PARSE);  /* short */
    assert_int_equal(gr_evm_hex_decode(GR_STR_LIT("0xdeadbeef00"), b, 4), GR_ERR_PARSE);
    assert_int_equal(gr_evm_hex_decode(GR_STR_LIT("0xdeadbeeg"), b, 4), GR_ERR_PARSE);
    assert_int_equal(gr_evm_hex_decode(GR_STR_LIT("0x"), b, 0), GR_OK);
    size_t n = 99;
    assert_int_equal(gr_evm_hex_decode_var(GR_STR_LIT("0x0102"), b, 4, &n), GR_OK);
    assert_int_equal(n, 2);
    assert_int_equal(gr_evm_hex_decode_var(GR_STR_LIT("0x010"), b, 4, &n), GR_ERR_PARSE);
    assert_int_equal(gr_evm_hex_decode_var(GR_STR_LIT("0x0102030405"), b, 4, &n), GR_ERR_TOO_LARGE);
    assert_int_equal(gr_evm_hex_decode_var(GR_STR_LIT("0x01 2"), b, 4, &n), GR_ERR_PARSE);
}

/* evm-2: addresses and EIP-55 (vectors from the EIP-55 text) */
static void test_address(void **state) {
    (void)state;
    static const char *eip55[] = {
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
        "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB", "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
    };
    for (size_t i = 0; i < 4; i++) {
        gr_evm_address a;
        char out[43];
        assert_int_equal(gr_evm_address_parse(gr_str_c(eip55[i]), true, &a), GR_OK);
        gr_evm_address_checksum(&a, out);
        assert_string_equal(out, eip55[i]);
    }
    gr_evm_address a;
    char lower[43];
    assert_int_equal(gr_evm_address_parse(GR_STR_LIT("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"), true, &a), GR_OK);
    gr_evm_address_lower(&a, lower);
    assert_string_equal(lower, "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed");
    assert_int_equal(gr_evm_address_parse(GR_STR_LIT("0x5AAEB6053F3E94C9B9A09F33669435E7EF1BEAED"), true, &a), GR_OK);
    /* one letter's case flipped: bad checksum, rejected only when strict */
    assert_int_equal(gr_evm_address_parse(GR_STR_LIT("0x5AAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"), true, &a), GR_ERR_PARSE);
    assert_int_equal(gr_evm_address_parse(GR_STR_LIT("0x5AAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"), false, &a), GR_OK);
    assert_int_equal(gr_evm_address_parse(GR_STR_LIT("0x5aaeb6053f3e94c9b9a09f33669435e7ef1bea"), false, &a), GR_ERR_PARSE);
}

/* evm-3: uint256 decimal */
static void test_u256(void **state) {
    (void)state;
    gr_u256 v, w;
    char s[79];
    const char *max = "115792089237316195423570985008687907853269984665640564039457584007913129639935";
    assert_int_equal(gr_u256_from_dec(gr_str_c(max), &v), GR_OK);
    for (int i = 0; i < 32; i++) assert_int_equal(v.b[i], 0xff);
    gr_u256_to_dec(&v, s);
    assert_string_equal(s, max);
    assert_int_equal(gr_u256_from_dec(GR_STR_LIT("115792089237316195423570985008687907853269984665640564039457584007913129639936"), &v),
                     GR_ERR_TOO_LARGE);
    assert_int_equal(gr_u256_from_dec(GR_STR_LIT("0"), &v), GR_OK);
    gr_u256_to_dec(&v, s);
    assert_string_equal(s, "0");
    assert_int_equal(gr_u256_from_dec(GR_STR_LIT("000123"), &v), GR_OK);
    gr_u256_to_dec(&v, s);
    assert_string_equal(s, "123");
    assert_int_equal(gr_u256_from_dec(GR_STR_LIT(""), &v), GR_ERR_PARSE);
    assert_int_equal(gr_u256_from_dec(GR_STR_LIT("-1"), &v), GR_ERR_PARSE);
    assert_int_equal(gr_u256_from_dec(GR_STR_LIT("+1"), &v), GR_ERR_PARSE);
    assert_int_equal(gr_u256_from_dec(GR_STR_LIT(" 1"), &v), GR_ERR_PARSE);
    assert_int_equal(gr_u256_from_dec(GR_STR_LIT("1e6"), &v), GR_ERR_PARSE);
    assert_int_equal(gr_u256_from_dec(GR_STR_LIT("0x10"), &v), GR_ERR_PARSE);
    assert_int_equal(gr_u256_from_dec(GR_STR_LIT("1.5"), &v), GR_ERR_PARSE);
    assert_int_equal(gr_u256_from_dec(GR_STR_LIT("18446744073709551616"), &v), GR_OK); /* 2^64 */
    uint64_t x;
    assert_int_equal(gr_u256_to_u64(&v, &x), GR_ERR_TOO_LARGE);
    gr_u256_from_u64(18446744073709551615ULL, &w);
    assert_int_equal(gr_u256_to_u64(&w, &x), GR_OK);
    assert_true(x == 18446744073709551615ULL);
    assert_int_equal(gr_u256_cmp(&w, &v), -1);
    assert_int_equal(gr_u256_cmp(&v, &w), 1);
    assert_int_equal(gr_u256_cmp(&v, &v), 0);
}

/* evm-4: base64 (RFC 4648 vectors + strictness) */
static void test_b64(void **state) {
    (void)state;
    static const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *enc[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (size_t i = 0; i < 7; i++) {
        size_t n;
        char *e = gr_evm_b64_encode((const uint8_t *)plain[i], strlen(plain[i]), &n);
        assert_string_equal(e, enc[i]);
        assert_int_equal(n, strlen(enc[i]));
        free(e);
        uint8_t *d = NULL;
        assert_int_equal(gr_evm_b64_decode(gr_str_c(enc[i]), 100, &d, &n), GR_OK);
        assert_int_equal(n, strlen(plain[i]));
        assert_string_equal((char *)d, plain[i]);
        free(d);
    }
    static const char *bad[] = {"Zg", "Zg=", "Zg===", "Z===", "Zh==", "Zm9=", "Zm 9v", "Zm9v\n",
                                "Zm9-", "Zm9_", "=Zm9", "Zg==Zg==", "Zm=v"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint8_t *d = NULL;
        size_t n;
        assert_int_equal(gr_evm_b64_decode(gr_str_c(bad[i]), 100, &d, &n), GR_ERR_PARSE);
        assert_null(d);
    }
    uint8_t *d = NULL;
    size_t n;
    assert_int_equal(gr_evm_b64_decode(GR_STR_LIT("Zm9vYmFy"), 5, &d, &n), GR_ERR_TOO_LARGE);
}

/* ---- secp256k1 ---- */

static const char *ANVIL0 = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

/* secp-1: key -> address, sign/recover round trip, high-s and bad v */
static void test_sign_recover(void **state) {
    (void)state;
    uint8_t priv[32], digest[32], sig[65], hs[65];
    HEX(ANVIL0, priv);
    gr_evm_address addr, rec;
    char cs[43];
    assert_int_equal(gr_evm_privkey_to_address(priv, &addr), GR_OK);
    gr_evm_address_checksum(&addr, cs);
    assert_string_equal(cs, "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266");

    gr_keccak256("hello", 5, digest);
    assert_int_equal(gr_evm_sign(digest, priv, sig), GR_OK);
    assert_true(sig[64] == 27 || sig[64] == 28);
    assert_int_equal(gr_evm_recover(digest, sig, &rec), GR_OK);
    assert_true(gr_evm_address_eq(&rec, &addr));

    /* v as 0/1 is accepted too */
    memcpy(hs, sig, 65);
    hs[64] -= 27;
    assert_int_equal(gr_evm_recover(digest, hs, &rec), GR_OK);
    assert_true(gr_evm_address_eq(&rec, &addr));
    /* bad v */
    static const uint8_t badv[] = {2, 3, 26, 29, 35, 36, 255};
    for (size_t i = 0; i < sizeof(badv); i++) {
        hs[64] = badv[i];
        assert_int_equal(gr_evm_recover(digest, hs, &rec), GR_ERR_PARSE);
    }
    /* high s: s' = n - s, v flipped, is the same point: still rejected */
    static const uint8_t N[32] = {
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE,
        0xBA, 0xAE, 0xDC, 0xE6, 0xAF, 0x48, 0xA0, 0x3B, 0xBF, 0xD2, 0x5E, 0x8C, 0xD0, 0x36, 0x41, 0x41,
    };
    memcpy(hs, sig, 65);
    int borrow = 0;
    for (int i = 31; i >= 0; i--) {
        int d = N[i] - sig[32 + i] - borrow;
        borrow = d < 0;
        hs[32 + i] = (uint8_t)(d + (borrow ? 256 : 0));
    }
    hs[64] = sig[64] == 27 ? 28 : 27;
    assert_int_equal(gr_evm_recover(digest, hs, &rec), GR_ERR_INVALID);
    /* r = 0, s = 0, r = n are out of range */
    memcpy(hs, sig, 65);
    memset(hs, 0, 32);
    assert_int_equal(gr_evm_recover(digest, hs, &rec), GR_ERR_PARSE);
    memcpy(hs, sig, 65);
    memcpy(hs, N, 32);
    assert_int_equal(gr_evm_recover(digest, hs, &rec), GR_ERR_PARSE);
    memcpy(hs, sig, 65);
    memset(hs + 32, 0, 32);
    assert_int_equal(gr_evm_recover(digest, hs, &rec), GR_ERR_PARSE);
    /* flipped bit in r: recovers some other key or fails; never our address */
    memcpy(hs, sig, 65);
    hs[5] ^= 0x10;
    gr_status rc = gr_evm_recover(digest, hs, &rec);
    assert_true(rc != GR_OK || !gr_evm_address_eq(&rec, &addr));
    /* invalid private keys */
    uint8_t zero[32] = {0};
    assert_int_equal(gr_evm_sign(digest, zero, sig), GR_ERR_CRYPTO);
    assert_int_equal(gr_evm_sign(digest, N, sig), GR_ERR_CRYPTO);
}

/* ---- EIP-712 ---- */

static void hexeq(const uint8_t *b, size_t n, const char *want) {
    char s[200];
    gr_evm_hex_encode(b, n, s);
    assert_string_equal(s, want);
}

static void person_hash(const char *name, const char *wallet, uint8_t out[32]) {
    gr_eip712_value f[2];
    f[0].kind = GR_EIP712_STRING;
    f[0].v.data = gr_str_c(name);
    f[1].kind = GR_EIP712_ADDRESS;
    assert_int_equal(gr_evm_address_parse(gr_str_c(wallet), true, &f[1].v.addr), GR_OK);
    assert_int_equal(gr_eip712_hash_struct(GR_STR_LIT("Person(string name,address wallet)"), f, 2, out), GR_OK);
}

/* eip712-1: the EIP-712 spec's Ether Mail example, nested structs + strings */
static void test_mail(void **state) {
    (void)state;
    gr_eip712_domain d = {.name = GR_STR_LIT("Ether Mail"), .version = GR_STR_LIT("1"), .chain_id = 1};
    assert_int_equal(gr_evm_address_parse(GR_STR_LIT("0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"), true,
                                          &d.verifying_contract), GR_OK);
    uint8_t ds[32], sh[32], dg[32];
    gr_eip712_domain_separator(&d, ds);
    hexeq(ds, 32, "0xf2cee375fa42b42143804025fc449deafd50cc031ca257e0b194a650a912090f");

    gr_eip712_value mail[3];
    mail[0].kind = GR_EIP712_STRUCT;
    person_hash("Cow", "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826", mail[0].v.b32);
    mail[1].kind = GR_EIP712_STRUCT;
    person_hash("Bob", "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB", mail[1].v.b32);
    mail[2].kind = GR_EIP712_STRING;
    mail[2].v.data = GR_STR_LIT("Hello, Bob!");
    assert_int_equal(gr_eip712_hash_struct(GR_STR_LIT("Mail(Person from,Person to,string contents)"
                                                      "Person(string name,address wallet)"),
                                           mail, 3, sh), GR_OK);
    /* hashStruct(message) as published in the EIP */
    hexeq(sh, 32, "0xc52c0ee5d84264471806290a3f2c4cecfc5490626bf912d01f240d7a274b371e");
    gr_eip712_digest(ds, sh, dg);
    hexeq(dg, 32, "0xbe609aee343fb3c4b28e1df9e632fca64fcfaede20f02e86244efddf30957bd2");
    /* and viem agrees */
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(g_vec, "mail");
    hexeq(dg, 32, jstr(m, "digest"));
    hexeq(ds, 32, jstr(m, "domainSeparator"));

    /* the spec's signature by cow = keccak256("cow") recovers to Cow */
    uint8_t cow[32], sig[65];
    gr_keccak256("cow", 3, cow);
    gr_evm_address a, rec;
    assert_int_equal(gr_evm_privkey_to_address(cow, &a), GR_OK);
    char cs[43];
    gr_evm_address_checksum(&a, cs);
    assert_string_equal(cs, "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826");
    assert_int_equal(gr_evm_sign(dg, cow, sig), GR_OK);
    /* v = 28, r, s as published in the EIP-712 example */
    hexeq(sig, 32, "0x4355c47d63924e8a72e509b65029052eb6c299d53a04e167c5775fd466751c9d");
    hexeq(sig + 32, 32, "0x07299936d304c153f6443dfa05f40ff007d72911b6f72307f996231605b91562");
    assert_int_equal(sig[64], 28);
    assert_int_equal(gr_evm_recover(dg, sig, &rec), GR_OK);
    assert_true(gr_evm_address_eq(&rec, &a));

    /* other kinds encode as documented */
    gr_eip712_value misc[3];
    misc[0].kind = GR_EIP712_BOOL;
    misc[0].v.boolean = true;
    misc[1].kind = GR_EIP712_BYTES;
    misc[1].v.data = GR_STR_LIT("");
    misc[2].kind = (gr_eip712_kind)99;
    assert_int_equal(gr_eip712_hash_struct(GR_STR_LIT("X(bool a,bytes b)"), misc, 2, sh), GR_OK);
    assert_int_equal(gr_eip712_hash_struct(GR_STR_LIT("X(bool a,bytes b,foo c)"), misc, 3, sh), GR_ERR_INVALID);
}

static void load_case(const cJSON *c, gr_eip712_domain *d, gr_eip3009_auth *a) {
    const cJSON *dom = cJSON_GetObjectItemCaseSensitive(c, "domain");
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(c, "message");
    d->name = gr_str_c(jstr(dom, "name"));
    d->version = gr_str_c(jstr(dom, "version"));
    d->chain_id = (uint64_t)cJSON_GetObjectItemCaseSensitive(dom, "chainId")->valuedouble;
    assert_int_equal(gr_evm_address_parse(gr_str_c(jstr(dom, "verifyingContract")), true, &d->verifying_contract), GR_OK);
    assert_int_equal(gr_evm_address_parse(gr_str_c(jstr(msg, "from")), true, &a->from), GR_OK);
    assert_int_equal(gr_evm_address_parse(gr_str_c(jstr(msg, "to")), true, &a->to), GR_OK);
    assert_int_equal(gr_u256_from_dec(gr_str_c(jstr(msg, "value")), &a->value), GR_OK);
    assert_int_equal(gr_u256_from_dec(gr_str_c(jstr(msg, "validAfter")), &a->valid_after), GR_OK);
    assert_int_equal(gr_u256_from_dec(gr_str_c(jstr(msg, "validBefore")), &a->valid_before), GR_OK);
    HEX(jstr(msg, "nonce"), a->nonce);
}

/* eip712-2: EIP-3009 TransferWithAuthorization vs viem: domain separator,
 * struct hash, digest, deterministic signature, recovered signer */
static void test_eip3009_viem(void **state) {
    (void)state;
    uint8_t th[32];
    gr_keccak256(GR_EIP3009_TWA_TYPE, strlen(GR_EIP3009_TWA_TYPE), th);
    assert_memory_equal(th, gr_eip3009_twa_typehash, 32);

    const cJSON *cases = cJSON_GetObjectItemCaseSensitive(g_vec, "cases");
    assert_true(cJSON_GetArraySize(cases) >= 3);
    const cJSON *c;
    cJSON_ArrayForEach(c, cases) {
        gr_eip712_domain d;
        gr_eip3009_auth a;
        load_case(c, &d, &a);
        uint8_t ds[32], sh[32], dg[32], dg2[32], priv[32], sig[65];
        gr_eip712_domain_separator(&d, ds);
        hexeq(ds, 32, jstr(c, "domainSeparator"));
        gr_eip3009_struct_hash(&a, sh);
        hexeq(sh, 32, jstr(c, "structHash"));
        gr_eip712_digest(ds, sh, dg);
        hexeq(dg, 32, jstr(c, "digest"));
        gr_eip3009_digest(&d, &a, dg2);
        assert_memory_equal(dg, dg2, 32);
        /* RFC 6979 on both sides -> byte-identical signatures */
        HEX(jstr(c, "privateKey"), priv);
        assert_int_equal(gr_evm_sign(dg, priv, sig), GR_OK);
        hexeq(sig, 65, jstr(c, "signature"));
        gr_evm_address rec, want;
        uint8_t vsig[65];
        HEX(jstr(c, "signature"), vsig);
        assert_int_equal(gr_evm_recover(dg, vsig, &rec), GR_OK);
        assert_int_equal(gr_evm_address_parse(gr_str_c(jstr(c, "signer")), true, &want), GR_OK);
        assert_true(gr_evm_address_eq(&rec, &want));
        assert_true(gr_evm_address_eq(&rec, &a.from));
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hex),
        cmocka_unit_test(test_address),
        cmocka_unit_test(test_u256),
        cmocka_unit_test(test_b64),
        cmocka_unit_test(test_sign_recover),
        cmocka_unit_test(test_mail),
        cmocka_unit_test(test_eip3009_viem),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
