/* gcp_service_account.c — service-account key loading and the RS256 JWT assertion (see gcp_service_account.h). */
#include "gcp_service_account.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>

struct gr_gcp_sa {
    char *client_email, *project_id, *token_uri, *key_id;
    EVP_PKEY *key;
    int refs; /* atomic */
};

gr_gcp_sa *gr_gcp_sa_ref(gr_gcp_sa *sa) {
    if (sa) __atomic_add_fetch(&sa->refs, 1, __ATOMIC_RELAXED);
    return sa;
}

void gr_gcp_sa_free(gr_gcp_sa *sa) {
    if (!sa || __atomic_sub_fetch(&sa->refs, 1, __ATOMIC_ACQ_REL) > 0) return;
    free(sa->client_email);
    free(sa->project_id);
    free(sa->token_uri);
    free(sa->key_id);
    EVP_PKEY_free(sa->key);
    free(sa);
}

static char *read_small_file(const char *path, char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot read the service-account file %s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = gr_xmalloc(GR_GCP_SA_MAX_BYTES + 1);
    size_t n = fread(buf, 1, GR_GCP_SA_MAX_BYTES + 1, f);
    bool bad = ferror(f);
    fclose(f);
    if (bad || n > GR_GCP_SA_MAX_BYTES) {
        snprintf(err, errlen, "the service-account file %s is %s", path, bad ? "unreadable" : "larger than 64 KiB");
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

static char *dup_str(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) && v->valuestring[0] ? gr_xstrdup(v->valuestring) : NULL;
}

gr_status gr_gcp_sa_load(const char *spec, gr_gcp_sa **out, char *err, size_t errlen) {
    *out = NULL;
    const char *p = spec ? spec : "";
    while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r') p++;
    bool inline_json = *p == '{';
    char *text = inline_json ? gr_xstrdup(p) : read_small_file(spec ? spec : "", err, errlen);
    if (!text) return GR_ERR_IO;
    cJSON *j = cJSON_Parse(text);
    free(text);
    const char *where = inline_json ? "the inline service account" : "the service-account file";
    if (!cJSON_IsObject(j)) {
        snprintf(err, errlen, "%s is not valid JSON", where);
        cJSON_Delete(j);
        return GR_ERR_PARSE;
    }
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(j, "type");
    gr_gcp_sa *sa = gr_xcalloc(1, sizeof(*sa));
    sa->refs = 1;
    gr_status rc = GR_ERR_INVALID;
    sa->client_email = dup_str(j, "client_email");
    sa->project_id = dup_str(j, "project_id");
    sa->token_uri = dup_str(j, "token_uri");
    sa->key_id = dup_str(j, "private_key_id");
    const cJSON *pk = cJSON_GetObjectItemCaseSensitive(j, "private_key");
    if (!cJSON_IsString(type) || strcmp(type->valuestring, "service_account") != 0) {
        snprintf(err, errlen, "%s is not a service-account key (type must be \"service_account\")", where);
        goto out;
    }
    if (!sa->client_email) {
        snprintf(err, errlen, "%s has no client_email", where);
        goto out;
    }
    if (!cJSON_IsString(pk)) {
        snprintf(err, errlen, "%s has no private_key", where);
        goto out;
    }
    BIO *bio = BIO_new_mem_buf(pk->valuestring, -1);
    sa->key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (!sa->key || EVP_PKEY_base_id(sa->key) != EVP_PKEY_RSA) {
        snprintf(err, errlen, "%s: private_key is not a PEM RSA private key", where);
        goto out;
    }
    if (!sa->token_uri) sa->token_uri = gr_xstrdup(GR_GCP_DEFAULT_TOKEN_URI);
    rc = GR_OK;
out:
    cJSON_Delete(j);
    if (rc != GR_OK) gr_gcp_sa_free(sa);
    else *out = sa;
    return rc;
}

const char *gr_gcp_sa_client_email(const gr_gcp_sa *sa) { return sa->client_email; }
const char *gr_gcp_sa_project_id(const gr_gcp_sa *sa) { return sa->project_id; }
const char *gr_gcp_sa_token_uri(const gr_gcp_sa *sa) { return sa->token_uri; }

/* base64url without padding (RFC 7515 §2), heap. */
static char *b64url(const unsigned char *in, size_t n) {
    char *o = gr_xmalloc(4 * ((n + 2) / 3) + 1);
    int len = EVP_EncodeBlock((unsigned char *)o, in, (int)n);
    while (len > 0 && o[len - 1] == '=') len--;
    o[len] = '\0';
    for (int i = 0; i < len; i++) o[i] = o[i] == '+' ? '-' : o[i] == '/' ? '_' : o[i];
    return o;
}

static char *b64url_json(cJSON *o) {
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s) return NULL;
    char *b = b64url((const unsigned char *)s, strlen(s));
    cJSON_free(s);
    return b;
}

char *gr_gcp_sa_jwt(const gr_gcp_sa *sa, const char *scope, const char *aud, int64_t now) {
    cJSON *h = cJSON_CreateObject();
    cJSON_AddStringToObject(h, "alg", "RS256");
    cJSON_AddStringToObject(h, "typ", "JWT");
    if (sa->key_id) cJSON_AddStringToObject(h, "kid", sa->key_id);
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "iss", sa->client_email);
    cJSON_AddStringToObject(c, "scope", scope);
    cJSON_AddStringToObject(c, "aud", aud);
    cJSON_AddNumberToObject(c, "iat", (double)now);
    cJSON_AddNumberToObject(c, "exp", (double)(now + 3600));
    char *hb = b64url_json(h), *cb = b64url_json(c);
    char *out = NULL;
    if (!hb || !cb) goto done;
    size_t il = strlen(hb) + 1 + strlen(cb);
    char *input = gr_xmalloc(il + 1);
    snprintf(input, il + 1, "%s.%s", hb, cb);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    size_t slen = 0;
    unsigned char *sig = NULL;
    if (md && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, sa->key) == 1 &&
        EVP_DigestSign(md, NULL, &slen, (const unsigned char *)input, il) == 1) {
        sig = gr_xmalloc(slen);
        if (EVP_DigestSign(md, sig, &slen, (const unsigned char *)input, il) == 1) {
            char *sb = b64url(sig, slen);
            size_t ol = il + 1 + strlen(sb);
            out = gr_xmalloc(ol + 1);
            snprintf(out, ol + 1, "%s.%s", input, sb);
            free(sb);
        }
    }
    free(sig);
    EVP_MD_CTX_free(md);
    free(input);
done:
    free(hb);
    free(cb);
    return out;
}
