/* aws_sigv4.c — AWS Signature Version 4 header signing (see aws_sigv4.h). */
#include "aws_sigv4.h"
#include "grow_buf.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* ---- a growable string ---- */

static void puts_(gr_grow_buf *b, const char *s) { gr_grow_put(b, s, strlen(s)); }
static void putc_(gr_grow_buf *b, char c) { gr_grow_put(b, &c, 1); }

static bool unreserved(unsigned char c) {
    return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

/* Percent-encodes s[0..n) (uppercase hex), keeping unreserved bytes and, when
 * keep_slash, '/'. */
static void encode(gr_grow_buf *b, const char *s, size_t n, bool keep_slash) {
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (unreserved(c) || (keep_slash && c == '/')) {
            putc_(b, (char)c);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            gr_grow_put(b, e, 3);
        }
    }
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Query component decoded ('%XX'; '+' kept as is: AWS encodes a space as %20). */
static char *decode(const char *s, size_t n) {
    char *o = gr_xmalloc(n + 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int h, l;
        if (s[i] == '%' && i + 2 < n && (h = hexval(s[i + 1])) >= 0 && (l = hexval(s[i + 2])) >= 0) {
            o[k++] = (char)(h * 16 + l);
            i += 2;
        } else {
            o[k++] = s[i];
        }
    }
    o[k] = '\0';
    return o;
}

/* ---- canonical query ---- */

typedef struct qpair {
    char *name, *value; /* encoded */
} qpair;

static int qpair_cmp(const void *a, const void *b) {
    const qpair *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->value, y->value);
}

static void canonical_query(gr_grow_buf *out, const char *q) {
    if (!q || !*q) return;
    size_t n = 1;
    for (const char *p = q; *p; p++) n += *p == '&';
    qpair *v = gr_xcalloc(n, sizeof(*v));
    size_t k = 0;
    const char *p = q;
    while (*p) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        if (len) {
            const char *eq = memchr(p, '=', len);
            size_t nl = eq ? (size_t)(eq - p) : len;
            char *name = decode(p, nl);
            char *value = eq ? decode(eq + 1, len - nl - 1) : gr_xstrdup("");
            gr_grow_buf e = {0};
            encode(&e, name, strlen(name), false);
            v[k].name = e.p ? e.p : gr_xstrdup("");
            gr_grow_buf f = {0};
            encode(&f, value, strlen(value), false);
            v[k].value = f.p ? f.p : gr_xstrdup("");
            free(name);
            free(value);
            k++;
        }
        p += len;
        if (*p == '&') p++;
    }
    qsort(v, k, sizeof(*v), qpair_cmp);
    for (size_t i = 0; i < k; i++) {
        if (i) putc_(out, '&');
        puts_(out, v[i].name);
        putc_(out, '=');
        puts_(out, v[i].value);
        free(v[i].name);
        free(v[i].value);
    }
    free(v);
}

/* ---- canonical headers ---- */

typedef struct hdr {
    char *name; /* lowercase */
    gr_grow_buf value;  /* trimmed, folded, repeated values joined with ',' */
    size_t order;
} hdr;

static int hdr_cmp(const void *a, const void *b) {
    const hdr *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->order > y->order) - (x->order < y->order);
}

static void put_folded(gr_grow_buf *b, const char *v) {
    while (*v && isspace((unsigned char)*v)) v++;
    bool space = false;
    size_t start = b->len;
    for (; *v; v++) {
        if (isspace((unsigned char)*v)) {
            space = true;
            continue;
        }
        if (space && b->len > start) putc_(b, ' ');
        space = false;
        putc_(b, *v);
    }
    if (b->len == start) gr_grow_put(b, "", 0); /* an empty value is still a value */
}

/* Canonical headers block (each "name:value\n") and the signed-header list. */
static void canonical_headers(const gr_sigv4_request *r, gr_grow_buf *block, gr_grow_buf *signed_list) {
    hdr *h = gr_xcalloc(r->nheaders ? r->nheaders : 1, sizeof(*h));
    size_t n = 0;
    for (size_t i = 0; i < r->nheaders; i++) {
        char *name = gr_xstrdup(r->headers[i].name);
        for (char *c = name; *c; c++) *c = (char)tolower((unsigned char)*c);
        size_t j = 0;
        while (j < n && strcmp(h[j].name, name) != 0) j++;
        if (j == n) {
            h[n].name = name;
            h[n].order = n;
            n++;
        } else {
            free(name);
            putc_(&h[j].value, ',');
        }
        put_folded(&h[j].value, r->headers[i].value ? r->headers[i].value : "");
    }
    qsort(h, n, sizeof(*h), hdr_cmp);
    for (size_t i = 0; i < n; i++) {
        puts_(block, h[i].name);
        putc_(block, ':');
        if (h[i].value.p) puts_(block, h[i].value.p);
        putc_(block, '\n');
        if (i) putc_(signed_list, ';');
        puts_(signed_list, h[i].name);
        free(h[i].name);
        free(h[i].value.p);
    }
    if (!signed_list->p) gr_grow_put(signed_list, "", 0);
    if (!block->p) gr_grow_put(block, "", 0);
    free(h);
}

/* ---- hashing ---- */

static void hex_of(const unsigned char *md, size_t n, char *out) {
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[2 * n] = '\0';
}

void gr_sigv4_sha256_hex(const void *data, size_t len, char out[65]) {
    unsigned char md[32];
    unsigned int mdlen = 0;
    if (!EVP_Digest(data ? data : "", len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32) {
        out[0] = '\0';
        return;
    }
    hex_of(md, 32, out);
}

static bool hmac(const unsigned char *key, size_t klen, const char *msg, size_t mlen, unsigned char out[32]) {
    unsigned int olen = 0;
    return HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, mlen, out, &olen) && olen == 32;
}

void gr_sigv4_amz_date(int64_t t, char out[17]) {
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

/* ---- the signature ---- */

char *gr_sigv4_canonical_request(const gr_sigv4_request *r) {
    gr_grow_buf c = {0}, block = {0}, signed_list = {0};
    puts_(&c, r->method);
    putc_(&c, '\n');
    const char *path = r->path && *r->path ? r->path : "/";
    encode(&c, path, strlen(path), true);
    putc_(&c, '\n');
    canonical_query(&c, r->query);
    putc_(&c, '\n');
    canonical_headers(r, &block, &signed_list);
    puts_(&c, block.p);
    putc_(&c, '\n');
    puts_(&c, signed_list.p);
    putc_(&c, '\n');
    char body_hash[65];
    gr_sigv4_sha256_hex(r->body, r->body_len, body_hash);
    puts_(&c, body_hash);
    free(block.p);
    free(signed_list.p);
    return c.p;
}

static bool amz_date_ok(const char *d) {
    if (!d || strlen(d) != 16 || d[8] != 'T' || d[15] != 'Z') return false;
    for (int i = 0; i < 15; i++)
        if (i != 8 && !isdigit((unsigned char)d[i])) return false;
    return true;
}

/* The credential scope: <yyyymmdd>/<region>/<service>/aws4_request. */
static void put_scope(gr_grow_buf *b, const gr_sigv4_request *r) {
    gr_grow_put(b, r->amz_date, 8);
    putc_(b, '/');
    puts_(b, r->region);
    putc_(b, '/');
    puts_(b, r->service);
    puts_(b, "/aws4_request");
}

char *gr_sigv4_string_to_sign(const gr_sigv4_request *r) {
    if (!amz_date_ok(r->amz_date)) return NULL;
    char *creq = gr_sigv4_canonical_request(r);
    char creq_hash[65];
    gr_sigv4_sha256_hex(creq, strlen(creq), creq_hash);
    free(creq);
    gr_grow_buf s = {0};
    puts_(&s, "AWS4-HMAC-SHA256\n");
    puts_(&s, r->amz_date);
    putc_(&s, '\n');
    put_scope(&s, r);
    putc_(&s, '\n');
    puts_(&s, creq_hash);
    return s.p;
}

bool gr_sigv4_signature(const gr_sigv4_request *r, char out[65]) {
    out[0] = '\0';
    char *sts = gr_sigv4_string_to_sign(r);
    if (!sts) return false;
    gr_grow_buf k = {0};
    puts_(&k, "AWS4");
    puts_(&k, r->secret_access_key ? r->secret_access_key : "");
    unsigned char kdate[32], kregion[32], kservice[32], ksigning[32], sig[32];
    bool ok = hmac((const unsigned char *)k.p, k.len, r->amz_date, 8, kdate) &&
              hmac(kdate, 32, r->region, strlen(r->region), kregion) &&
              hmac(kregion, 32, r->service, strlen(r->service), kservice) &&
              hmac(kservice, 32, "aws4_request", 12, ksigning) && hmac(ksigning, 32, sts, strlen(sts), sig);
    OPENSSL_cleanse(k.p, k.len); /* the secret (and the keys derived from it) leave no copy behind */
    free(k.p);
    free(sts);
    if (ok) hex_of(sig, 32, out);
    OPENSSL_cleanse(kdate, sizeof kdate);
    OPENSSL_cleanse(ksigning, sizeof ksigning);
    return ok;
}

char *gr_sigv4_authorization(const gr_sigv4_request *r) {
    char sig[65];
    if (!gr_sigv4_signature(r, sig)) return NULL;
    gr_grow_buf block = {0}, signed_list = {0};
    canonical_headers(r, &block, &signed_list);
    gr_grow_buf a = {0};
    puts_(&a, "AWS4-HMAC-SHA256 Credential=");
    puts_(&a, r->access_key_id ? r->access_key_id : "");
    putc_(&a, '/');
    put_scope(&a, r);
    puts_(&a, ", SignedHeaders=");
    puts_(&a, signed_list.p);
    puts_(&a, ", Signature=");
    puts_(&a, sig);
    free(block.p);
    free(signed_list.p);
    return a.p;
}
