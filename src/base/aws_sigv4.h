/* aws_sigv4.h — AWS Signature Version 4 (header signing), written from the
 * AWS specification and checked against AWS's published SigV4 test-suite
 * vectors (tests/unit/test_aws_sigv4.c).
 *
 * Canonical request = method \n canonical URI \n canonical query \n
 * canonical headers \n signed headers \n hex(SHA-256(body)), where:
 *   - the URI is the path as sent, URI-encoded once more byte by byte
 *     (unreserved A-Z a-z 0-9 - . _ ~ and '/' kept): an escape already in the
 *     path (%3A in a Bedrock model id) is encoded again (%253A), as every
 *     AWS service but S3 expects; no dot-segment normalisation;
 *   - the query's name=value pairs are decoded, re-encoded (unreserved kept)
 *     and sorted by name, then value;
 *   - header names are lowercased, values trimmed with inner runs of
 *     whitespace folded to one space, repeated names joined with ',' in
 *     order, sorted by name; every given header is signed.
 * Signing key = HMAC chain "AWS4"+secret -> date -> region -> service ->
 * "aws4_request"; signature = hex(HMAC(key, string to sign)).
 *
 * Pure functions: no I/O, no clock, no globals; the caller passes the time
 * (amz_date) and owns every returned string (free()). */
#ifndef GR_AWS_SIGV4_H
#define GR_AWS_SIGV4_H

#include "common.h"

typedef struct gr_sigv4_header {
    const char *name, *value;
} gr_sigv4_header;

typedef struct gr_sigv4_request {
    const char *method;
    const char *path;  /* as sent, e.g. "/model/a.b-v1%3A0/converse" */
    const char *query; /* without '?'; NULL or "" for none */
    const gr_sigv4_header *headers; /* every header to sign: host and x-amz-date at least */
    size_t nheaders;
    const void *body;
    size_t body_len;
    const char *region, *service;
    const char *access_key_id, *secret_access_key;
    const char *amz_date; /* "YYYYMMDDTHHMMSSZ"; its first 8 bytes are the scope date */
} gr_sigv4_request;

/* The canonical request (heap). */
char *gr_sigv4_canonical_request(const gr_sigv4_request *r);
/* The string to sign (heap). */
char *gr_sigv4_string_to_sign(const gr_sigv4_request *r);
/* hex signature into out (65 bytes); false on a crypto failure or a bad amz_date. */
bool gr_sigv4_signature(const gr_sigv4_request *r, char out[65]);
/* "AWS4-HMAC-SHA256 Credential=<akid>/<date>/<region>/<service>/aws4_request,
 * SignedHeaders=<h1;h2>, Signature=<hex>" (heap), NULL on failure. */
char *gr_sigv4_authorization(const gr_sigv4_request *r);

/* "YYYYMMDDTHHMMSSZ" for unix seconds t (UTC). */
void gr_sigv4_amz_date(int64_t t, char out[17]);
/* hex(SHA-256(data)) into out (65 bytes). */
void gr_sigv4_sha256_hex(const void *data, size_t len, char out[65]);

#endif
