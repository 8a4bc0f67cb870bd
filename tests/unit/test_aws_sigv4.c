/* test_aws_sigv4.c — SigV4 against AWS's published Signature Version 4 test
 * suite (the aws-sig-v4-test-suite cases: credentials AKIDEXAMPLE /
 * wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY, region us-east-1, service
 * "service", 2015-08-30T12:36:00Z; the expected signatures, canonical
 * requests and strings to sign are the suite's), plus the Bedrock path rule
 * (an escape in the path is encoded again). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "aws_sigv4.h"

#define AKID "AKIDEXAMPLE"
#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define DATE "20150830T123600Z"
#define STS_TOKEN                                                                                                     \
    "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/" \
    "qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT" \
    "38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA=="

typedef struct vcase {
    const char *name, *method, *path, *query;
    gr_sigv4_header h[6]; /* besides host and x-amz-date */
    const char *body;
    const char *signature;
} vcase;

static const vcase k_cases[] = {
    {"get-vanilla", "GET", "/", NULL, {{0}}, NULL, "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
    {"get-header-key-duplicate", "GET", "/", NULL,
     {{"My-Header1", "value2"}, {"My-Header1", "value2"}, {"My-Header1", "value1"}}, NULL,
     "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea"},
    {"get-header-value-multiline", "GET", "/", NULL, {{"My-Header1", "value1\n  value2\n     value3"}}, NULL,
     "cfd34249e4b1c8d6b91ef74165d41a32e5fab3306300901bb65a51a73575eefd"},
    {"get-header-value-order", "GET", "/", NULL,
     {{"My-Header1", "value4"}, {"My-Header1", "value1"}, {"My-Header1", "value3"}, {"My-Header1", "value2"}}, NULL,
     "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01"},
    {"get-header-value-trim", "GET", "/", NULL, {{"My-Header1", " value1"}, {"My-Header2", " \"a   b   c\""}}, NULL,
     "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"},
    {"get-relative-unnormalized", "GET", "/example/..", NULL, {{0}}, NULL,
     "eca7ead57bb5aa5c8e28007acd4ff04e1ff9a0ff3b237ec1554a184887ff9282"},
    {"get-slashes-unnormalized", "GET", "//example//", NULL, {{0}}, NULL,
     "87cca117541a147f6df867677d98a7d80dff226d2bfca9e4ffa899665623c7e5"},
    {"get-space-unnormalized", "GET", "/example space/", NULL, {{0}}, NULL,
     "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741"},
    {"get-unreserved", "GET", "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", NULL, {{0}}, NULL,
     "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"},
    {"get-utf8", "GET", "/\xe1\x88\xb4", NULL, {{0}}, NULL,
     "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"},
    {"get-vanilla-empty-query-key", "GET", "/", "Param1=value1", {{0}}, NULL,
     "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb"},
    {"get-vanilla-query-order-encoded", "GET", "/", "Param-3=Value3&Param=Value2&%E1%88%B4=Value1", {{0}}, NULL,
     "371d3713e185cc334048618a97f809c9ffe339c62934c032af5a0e595648fcac"},
    {"get-vanilla-query-order-key-case", "GET", "/", "Param2=value2&Param1=value1", {{0}}, NULL,
     "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"},
    {"get-vanilla-query-unreserved", "GET", "/",
     "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=-._~"
     "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
     {{0}}, NULL, "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197"},
    {"get-vanilla-utf8-query", "GET", "/", "\xe1\x88\xb4=bar", {{0}}, NULL,
     "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"},
    {"get-vanilla-with-session-token", "GET", "/", NULL,
     {{"X-Amz-Security-Token", "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267"}}, NULL,
     "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8"},
    {"post-vanilla", "POST", "/", NULL, {{0}}, NULL, "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"},
    {"post-header-key-sort", "POST", "/", NULL, {{"My-Header1", "value1"}}, NULL,
     "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c"},
    {"post-header-value-case", "POST", "/", NULL, {{"My-Header1", "VALUE1"}}, NULL,
     "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d"},
    {"post-sts-header-before", "POST", "/", NULL, {{"X-Amz-Security-Token", STS_TOKEN}}, NULL,
     "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead"},
    {"post-vanilla-query", "POST", "/", "Param1=value1", {{0}}, NULL,
     "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11"},
    {"post-x-www-form-urlencoded", "POST", "/", NULL,
     {{"Content-Type", "application/x-www-form-urlencoded"},
      {"Content-Length", "13"},
      {"X-Amz-Content-Sha256", "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e"}},
     "Param1=value1", "d3875051da38690788ef43de4db0d8f280229d82040bfac253562e56c3f20e0b"},
    {"post-x-www-form-urlencoded-parameters", "POST", "/", NULL,
     {{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
      {"Content-Length", "13"},
      {"X-Amz-Content-Sha256", "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e"}},
     "Param1=value1", "328d1b9eaadca9f5818ef05e8392801e091653bafec24fcab71e7344e7f51422"},
};

/* The suite's request: Host and X-Amz-Date first, then the case's headers. */
static size_t fill(const vcase *c, gr_sigv4_header *h, gr_sigv4_request *r) {
    size_t n = 0;
    h[n++] = (gr_sigv4_header){"Host", "example.amazonaws.com"};
    h[n++] = (gr_sigv4_header){"X-Amz-Date", DATE};
    for (size_t i = 0; i < 6 && c->h[i].name; i++) h[n++] = c->h[i];
    *r = (gr_sigv4_request){
        .method = c->method, .path = c->path, .query = c->query, .headers = h, .nheaders = n,
        .body = c->body, .body_len = c->body ? strlen(c->body) : 0, .region = "us-east-1", .service = "service",
        .access_key_id = AKID, .secret_access_key = SECRET, .amz_date = DATE,
    };
    return n;
}

static void test_suite_signatures(void **state) {
    (void)state;
    for (size_t i = 0; i < GR_ARRAY_LEN(k_cases); i++) {
        gr_sigv4_header h[8];
        gr_sigv4_request r;
        fill(&k_cases[i], h, &r);
        char sig[65];
        assert_true(gr_sigv4_signature(&r, sig));
        if (strcmp(sig, k_cases[i].signature) != 0) {
            char *creq = gr_sigv4_canonical_request(&r);
            fail_msg("%s: signature %s, want %s\ncanonical request:\n%s", k_cases[i].name, sig, k_cases[i].signature,
                     creq);
        }
    }
}

/* The intermediate artefacts of two cases, exactly as the suite gives them. */
static void test_suite_canonical_and_string_to_sign(void **state) {
    (void)state;
    gr_sigv4_header h[8];
    gr_sigv4_request r;
    fill(&k_cases[4], h, &r); /* get-header-value-trim */
    char *creq = gr_sigv4_canonical_request(&r);
    assert_string_equal(creq, "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value1\nmy-header2:\"a b c\"\n"
                              "x-amz-date:20150830T123600Z\n\nhost;my-header1;my-header2;x-amz-date\n"
                              "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    free(creq);
    char *sts = gr_sigv4_string_to_sign(&r);
    assert_string_equal(sts, "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n"
                             "a726db9b0df21c14f559d0a978e563112acb1b9e05476f0a6a1c7d68f28605c7");
    free(sts);
    fill(&k_cases[11], h, &r); /* get-vanilla-query-order-encoded */
    creq = gr_sigv4_canonical_request(&r);
    assert_string_equal(creq, "GET\n/\n%E1%88%B4=Value1&Param=Value2&Param-3=Value3\nhost:example.amazonaws.com\n"
                              "x-amz-date:20150830T123600Z\n\nhost;x-amz-date\n"
                              "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    free(creq);
}

static void test_authorization_header(void **state) {
    (void)state;
    gr_sigv4_header h[8];
    gr_sigv4_request r;
    fill(&k_cases[15], h, &r); /* get-vanilla-with-session-token */
    char *auth = gr_sigv4_authorization(&r);
    assert_string_equal(auth, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
                              "SignedHeaders=host;x-amz-date;x-amz-security-token, "
                              "Signature=07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8");
    free(auth);
}

/* Bedrock: the model id's ':' is sent as %3A and signed as %253A. */
static void test_path_escape_encoded_again(void **state) {
    (void)state;
    gr_sigv4_header h[2] = {{"host", "bedrock-runtime.us-east-1.amazonaws.com"}, {"x-amz-date", DATE}};
    gr_sigv4_request r = {.method = "POST", .path = "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse",
                          .headers = h, .nheaders = 2, .body = "{}", .body_len = 2, .region = "us-east-1",
                          .service = "bedrock", .access_key_id = AKID, .secret_access_key = SECRET, .amz_date = DATE};
    char *creq = gr_sigv4_canonical_request(&r);
    assert_non_null(strstr(creq, "\n/model/anthropic.claude-3-haiku-20240307-v1%253A0/converse\n"));
    free(creq);
    char *auth = gr_sigv4_authorization(&r);
    assert_non_null(strstr(auth, "Credential=AKIDEXAMPLE/20150830/us-east-1/bedrock/aws4_request, SignedHeaders=host;x-amz-date, Signature="));
    free(auth);
}

static void test_amz_date_and_bad_input(void **state) {
    (void)state;
    char d[17];
    gr_sigv4_amz_date(1440938160, d); /* 2015-08-30T12:36:00Z */
    assert_string_equal(d, DATE);
    gr_sigv4_header h[2] = {{"host", "h"}, {"x-amz-date", "yesterday"}};
    gr_sigv4_request r = {.method = "GET", .path = "/", .headers = h, .nheaders = 2, .region = "us-east-1",
                          .service = "s", .access_key_id = AKID, .secret_access_key = SECRET, .amz_date = "yesterday"};
    char sig[65];
    assert_false(gr_sigv4_signature(&r, sig));
    assert_null(gr_sigv4_authorization(&r));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_suite_signatures),
        cmocka_unit_test(test_suite_canonical_and_string_to_sign),
        cmocka_unit_test(test_authorization_header),
        cmocka_unit_test(test_path_escape_encoded_again),
        cmocka_unit_test(test_amz_date_and_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
