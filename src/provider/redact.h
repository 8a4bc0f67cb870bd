/* redact.h — the one step that removes a provider's credentials from what
 * its upstream sends back, before anything else reads it.
 *
 * An upstream can echo what the gateway sent it (the Authorization header,
 * x-api-key, x-goog-api-key, a `?key=` query) in any field of any reply:
 * an error message or code, an in-band stream error event, a content-type,
 * even generated text. Every upstream byte the proxy receives goes through a
 * gr_redactor first (gr_redactor_feed, stream or not, every provider), so
 * the JSON parsers, the adapters, the fast-path relay, the error mapping and
 * every later cut or log line only ever see "[redacted]". Strings decoded
 * from the bytes (JSON escapes) are redacted again with gr_redact_str.
 *
 * The secrets of a provider: its api_key, its AWS access key id, secret
 * access key and session token (kind bedrock), and the values of its configured
 * headers whose names say they carry a credential (authorization, *key*,
 * *token*, *secret*, *signature*, cookie), and of such a value also the
 * part after its first space (the token of "Bearer <token>"). Secrets
 * shorter than GR_REDACT_MIN_LEN are not matched.
 *
 * What is redacted: every occurrence of a secret's first GR_REDACT_ANCHOR
 * bytes (the whole secret when shorter), together with however much of the
 * rest of the secret follows — so a secret the upstream or a cut truncated
 * is still removed, and at most ANCHOR-1 leading bytes of a secret can
 * ever be seen (16: text that merely names a key format such as
 * "sk-ant-api03" is left alone). A piece that ends with what may be the
 * start of a secret holds those bytes back (at most the secret's length - 1) until the next
 * piece or gr_redactor_finish, so a secret split across two reads is found.
 * A piece with nothing to redact and nothing held is passed on as is (no
 * copy): the cost on the fast path is one memmem per secret per read.
 *
 * Life cycle: gr_redactor_init per upstream attempt (it only points at the
 * provider's config strings, which must outlive it), _dispose to free the
 * scratch buffer. Not thread-safe; one per request. */
#ifndef GR_REDACT_H
#define GR_REDACT_H

#include "common.h"
#include "config.h"

#define GR_REDACT_MAX_SECRETS 8
#define GR_REDACT_MIN_LEN 6
#define GR_REDACT_ANCHOR 16
#define GR_REDACT_MARK "[redacted]"

typedef struct gr_redactor {
    const char *secret[GR_REDACT_MAX_SECRETS];
    size_t len[GR_REDACT_MAX_SECRETS];
    size_t n;
    char *held; /* bytes held back at the end of the last piece: a possible secret start */
    size_t held_len, held_cap;
    char *buf; /* scratch for a piece that changed */
    size_t buf_cap;
} gr_redactor;

/* Collects p's secrets (p may be NULL: nothing to redact). Frees nothing:
 * call gr_redactor_dispose first when re-initialising a used redactor. */
void gr_redactor_init(gr_redactor *rd, const gr_provider_conf *p);
void gr_redactor_dispose(gr_redactor *rd);
/* Redacts the next piece of an upstream byte stream. *out / *out_len are
 * what may be passed on now: data itself when nothing changed, else the
 * redactor's scratch buffer (valid until the next call). */
void gr_redactor_feed(gr_redactor *rd, const char *data, size_t len, const char **out, size_t *out_len);
/* The stream ended: the bytes still held back (redacted as a final piece). */
void gr_redactor_finish(gr_redactor *rd, const char **out, size_t *out_len);
/* Redacts a NUL-terminated string in place (its buffer holds cap bytes);
 * a string end counts as the end of the stream. */
void gr_redact_str(const gr_redactor *rd, char *s, size_t cap);

/* Whether a config or header name says its value is a credential (the
 * header rule above, plus password, private and mnemonic): the console's
 * config view masks such values (console_config.c). */
bool gr_redact_credential_name(const char *name);

#endif
