/* test_gcp_service_account.c — service-account keys refused at load for each
 * reason (unreadable, not JSON, wrong type, no client_email, no or bad
 * private_key), and the RS256 JWT assertion: three base64url parts, the
 * header and claims Google's token endpoint checks, and a signature that
 * verifies with the key's public half (OpenSSL, independently of the signer). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "gcp_service_account.h"

#include <unistd.h>

static EVP_PKEY *g_key;
static char *g_pem;

static int setup(void **state) {
    (void)state;
    g_key = EVP_RSA_gen(2048);
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(b, g_key, NULL, NULL, 0, NULL, NULL);
    char *p = NULL;
    long n = BIO_get_mem_data(b, &p);
    g_pem = strndup(p, (size_t)n);
    BIO_free(b);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    EVP_PKEY_free(g_key);
    free(g_pem);
    return 0;
}

/* A key JSON with fields set or left out. */
static char *sa_json(const char *type, const char *email, const char *pem, const char *token_uri) {
    cJSON *j = cJSON_CreateObject();
    if (type) cJSON_AddStringToObject(j, "type", type);
    cJSON_AddStringToObject(j, "project_id", "proj-1");
    cJSON_AddStringToObject(j, "private_key_id", "kid-1");
    if (pem) cJSON_AddStringToObject(j, "private_key", pem);
    if (email) cJSON_AddStringToObject(j, "client_email", email);
    if (token_uri) cJSON_AddStringToObject(j, "token_uri", token_uri);
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return s;
}

static void expect_refused(const char *spec, const char *why) {
    gr_gcp_sa *sa = (gr_gcp_sa *)1;
    char err[256] = "";
    assert_int_not_equal(gr_gcp_sa_load(spec, &sa, err, sizeof err), GR_OK);
    assert_null(sa);
    if (!strstr(err, why)) fail_msg("error '%s' does not say '%s'", err, why);
    assert_null(strstr(err, "PRIVATE KEY")); /* the key is never quoted */
}

static void test_refusals(void **state) {
    (void)state;
    expect_refused("/nonexistent/dir/key.json", "cannot read the service-account file");
    expect_refused("{\"type\": ", "not valid JSON");
    char *s = sa_json("authorized_user", "a@b", g_pem, NULL);
    expect_refused(s, "not a service-account key");
    free(s);
    s = sa_json("service_account", NULL, g_pem, NULL);
    expect_refused(s, "no client_email");
    free(s);
    s = sa_json("service_account", "a@b", NULL, NULL);
    expect_refused(s, "no private_key");
    free(s);
    s = sa_json("service_account", "a@b", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", NULL);
    expect_refused(s, "not a PEM RSA private key");
    free(s);
}

static void test_file_and_defaults(void **state) {
    (void)state;
    char path[] = "/tmp/gr-sa-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    char *s = sa_json("service_account", "svc@proj-1.iam.gserviceaccount.com", g_pem, NULL);
    FILE *f = fdopen(fd, "w");
    fputs(s, f);
    fclose(f);
    free(s);
    gr_gcp_sa *sa = NULL;
    char err[256];
    assert_int_equal(gr_gcp_sa_load(path, &sa, err, sizeof err), GR_OK);
    unlink(path);
    assert_string_equal(gr_gcp_sa_client_email(sa), "svc@proj-1.iam.gserviceaccount.com");
    assert_string_equal(gr_gcp_sa_project_id(sa), "proj-1");
    assert_string_equal(gr_gcp_sa_token_uri(sa), GR_GCP_DEFAULT_TOKEN_URI);
    /* references: the last free releases */
    assert_ptr_equal(gr_gcp_sa_ref(sa), sa);
    gr_gcp_sa_free(sa);
    assert_string_equal(gr_gcp_sa_client_email(sa), "svc@proj-1.iam.gserviceaccount.com");
    gr_gcp_sa_free(sa);
}

static unsigned char *b64url_decode(const char *s, size_t n, size_t *out_len) {
    size_t padded = (n + 3) / 4 * 4;
    char *t = calloc(padded + 1, 1);
    for (size_t i = 0; i < n; i++) t[i] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
    for (size_t i = n; i < padded; i++) t[i] = '=';
    unsigned char *o = calloc(padded, 1);
    int len = EVP_DecodeBlock(o, (unsigned char *)t, (int)padded);
    free(t);
    assert_true(len >= 0);
    *out_len = (size_t)len - (padded - n); /* DecodeBlock counts the padding as zero bytes */
    return o;
}

static cJSON *part_json(const char *s, size_t n) {
    size_t len;
    unsigned char *d = b64url_decode(s, n, &len);
    cJSON *j = cJSON_ParseWithLength((const char *)d, len);
    free(d);
    assert_non_null(j);
    return j;
}

static void test_jwt_verifies(void **state) {
    (void)state;
    char *s = sa_json("service_account", "svc@p.iam.gserviceaccount.com", g_pem, "http://127.0.0.1:9/token");
    gr_gcp_sa *sa = NULL;
    char err[256];
    assert_int_equal(gr_gcp_sa_load(s, &sa, err, sizeof err), GR_OK);
    free(s);
    char *jwt = gr_gcp_sa_jwt(sa, GR_GCP_SCOPE_CLOUD_PLATFORM, gr_gcp_sa_token_uri(sa), 1700000000);
    assert_non_null(jwt);
    assert_null(strpbrk(jwt, "+/=")); /* base64url, unpadded */
    char *d1 = strchr(jwt, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    assert_non_null(d2);
    cJSON *h = part_json(jwt, (size_t)(d1 - jwt));
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(h, "alg")), "RS256");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(h, "kid")), "kid-1");
    cJSON *c = part_json(d1 + 1, (size_t)(d2 - d1 - 1));
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(c, "iss")), "svc@p.iam.gserviceaccount.com");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(c, "aud")), "http://127.0.0.1:9/token");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(c, "scope")), GR_GCP_SCOPE_CLOUD_PLATFORM);
    assert_int_equal((int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(c, "iat")), 1700000000);
    assert_int_equal((int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(c, "exp")), 1700003600);
    cJSON_Delete(h);
    cJSON_Delete(c);
    size_t slen;
    unsigned char *sig = b64url_decode(d2 + 1, strlen(d2 + 1), &slen);
    assert_int_equal(slen, 256);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, g_key), 1);
    assert_int_equal(EVP_DigestVerify(md, sig, slen, (unsigned char *)jwt, (size_t)(d2 - jwt)), 1);
    /* a changed claim no longer verifies */
    jwt[d1 - jwt + 3] ^= 1;
    assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, g_key), 1);
    assert_int_not_equal(EVP_DigestVerify(md, sig, slen, (unsigned char *)jwt, (size_t)(d2 - jwt)), 1);
    EVP_MD_CTX_free(md);
    free(sig);
    free(jwt);
    gr_gcp_sa_free(sa);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_file_and_defaults),
        cmocka_unit_test(test_jwt_verifies),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
