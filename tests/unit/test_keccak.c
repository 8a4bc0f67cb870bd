/* test_keccak.c — Keccak-256 against published vectors and viem-computed
 * vectors at the rate boundaries, and incremental == one-shot for any split. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "keccak.h"

static void hex32(const uint8_t h[32], char out[65]) {
    for (int i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", h[i]);
}

static void check(const void *data, size_t len, const char *want) {
    uint8_t h[32];
    char s[65];
    gr_keccak256(data, len, h);
    hex32(h, s);
    assert_string_equal(s, want);
}

static void pattern(uint8_t *b, size_t n) {
    for (size_t i = 0; i < n; i++) b[i] = (uint8_t)(i * 7 + 3);
}

/* keccak-1: published vectors */
static void test_published(void **state) {
    (void)state;
    check("", 0, "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470");
    check("abc", 3, "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45");
    check("The quick brown fox jumps over the lazy dog", 43,
          "4d741b6f1eb29cb2a9b9911c82f56fa8d73b04959d3d9d222895df6c0b28aa15");
    /* typehashes everyone hard-codes */
    const char *twa = "TransferWithAuthorization(address from,address to,uint256 value,"
                      "uint256 validAfter,uint256 validBefore,bytes32 nonce)";
    check(twa, strlen(twa), "7c7c6cdb67a18743f49ec6fa9b35f50d52ed05cbed4cc592e13b44501c1a2267");
}

/* keccak-2: rate boundaries (135/136/137 bytes, two blocks, many blocks);
 * expected values computed with viem's keccak256 over bytes (i*7+3) & 255. */
static void test_boundaries(void **state) {
    (void)state;
    static const struct {
        size_t n;
        const char *h;
    } V[] = {
        {135, "00ef96af9cf4b24c7f269d922294444a197d0a33638c2e56634c57e892103a8f"},
        {136, "742061bcad767ed4c4f5883b1dcb1aad11afdcc140dc469d953759b127b9f9ed"},
        {137, "e3371f61e770abf254c34239c3b0099ad90594507415bc81dd0a10b9692bbf2a"},
        {272, "ac141fd7b0a0ffcd2e967254d508da3ec616596493c36fa304425647d90e6de5"},
        {1000, "80cdc8dd52cbb3dbaea8f383209893fa2bb52efbd5aedbb4b26dcfe307fcdc9b"},
    };
    uint8_t buf[1000];
    pattern(buf, sizeof(buf));
    for (size_t i = 0; i < sizeof(V) / sizeof(V[0]); i++) check(buf, V[i].n, V[i].h);
}

/* keccak-3: multi-block input, one-shot vs byte-by-byte vs odd chunk sizes */
static void test_incremental(void **state) {
    (void)state;
    uint8_t buf[1000], one[32], inc[32];
    pattern(buf, sizeof(buf));
    gr_keccak256(buf, sizeof(buf), one);

    gr_keccak_ctx c;
    gr_keccak_init(&c);
    for (size_t i = 0; i < sizeof(buf); i++) gr_keccak_update(&c, buf + i, 1);
    gr_keccak_final(&c, inc);
    assert_memory_equal(one, inc, 32);

    static const size_t chunks[] = {0, 1, 7, 64, 135, 136, 137, 300};
    for (size_t k = 0; k < sizeof(chunks) / sizeof(chunks[0]); k++) {
        size_t step = chunks[k] ? chunks[k] : 1;
        gr_keccak_init(&c);
        gr_keccak_update(&c, buf, 0); /* empty updates are no-ops */
        for (size_t off = 0; off < sizeof(buf); off += step) {
            size_t n = sizeof(buf) - off < step ? sizeof(buf) - off : step;
            gr_keccak_update(&c, buf + off, n);
        }
        gr_keccak_final(&c, inc);
        assert_memory_equal(one, inc, 32);
    }
    /* every split point of a 300-byte input into two updates */
    uint8_t ref[32];
    gr_keccak256(buf, 300, ref);
    for (size_t cut = 0; cut <= 300; cut++) {
        gr_keccak_init(&c);
        gr_keccak_update(&c, buf, cut);
        gr_keccak_update(&c, buf + cut, 300 - cut);
        gr_keccak_final(&c, inc);
        assert_memory_equal(ref, inc, 32);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_published),
        cmocka_unit_test(test_boundaries),
        cmocka_unit_test(test_incremental),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
