/* gcp_service_account.h — a Google Cloud service-account key (the JSON file
 * the console hands out) and the RS256-signed JWT it authenticates with at
 * Google's OAuth token endpoint (the JWT-bearer grant of RFC 7523).
 *
 * Loaded once at config load (from a file path, or inline JSON when the value
 * starts with '{'), validated there — type service_account, client_email, a
 * private_key PEM that OpenSSL parses as an RSA key — so --check-config
 * refuses a key that cannot work. The object is immutable afterwards and safe
 * to share between threads; it is reference-counted (the config holds one
 * reference, the token cache of vertex_token.c another): gr_gcp_sa_ref takes
 * one, gr_gcp_sa_free drops one and frees with the last. Never logged. */
#ifndef GR_GCP_SERVICE_ACCOUNT_H
#define GR_GCP_SERVICE_ACCOUNT_H

#include "common.h"

#define GR_GCP_DEFAULT_TOKEN_URI "https://oauth2.googleapis.com/token"
#define GR_GCP_SCOPE_CLOUD_PLATFORM "https://www.googleapis.com/auth/cloud-platform"
#define GR_GCP_SA_MAX_BYTES (64 * 1024) /* a real key file is ~2.4 KiB */

typedef struct gr_gcp_sa gr_gcp_sa;

/* spec: a path, or the JSON itself. On failure *out is NULL and err says why
 * (never quoting the key). */
GR_MUST_CHECK gr_status gr_gcp_sa_load(const char *spec, gr_gcp_sa **out, char *err, size_t errlen);
gr_gcp_sa *gr_gcp_sa_ref(gr_gcp_sa *sa);
void gr_gcp_sa_free(gr_gcp_sa *sa);

const char *gr_gcp_sa_client_email(const gr_gcp_sa *sa);
const char *gr_gcp_sa_project_id(const gr_gcp_sa *sa); /* NULL when the file has none */
const char *gr_gcp_sa_token_uri(const gr_gcp_sa *sa);  /* the file's, else Google's default */

/* The signed assertion "<header>.<claims>.<signature>" (base64url, heap):
 * {"alg":"RS256","typ":"JWT","kid":<private_key_id>} and {iss: client_email,
 * scope, aud, iat: now, exp: now + 3600}. NULL on a signing failure. */
char *gr_gcp_sa_jwt(const gr_gcp_sa *sa, const char *scope, const char *aud, int64_t now);

#endif
