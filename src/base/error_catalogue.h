/* error_catalogue.h — the one table of the errors the gateway itself answers
 * with (error_catalogue.def): for each, its HTTP status, OpenAI error type and
 * code, the Anthropic error type of /v1/messages, and a one-line meaning.
 * Replies name a row (gr_request_fail_code, gr_reply_error_code) instead of
 * spelling status, type and code; docs/ERRORS.md is printed from the same
 * table (gr_error_catalogue_write_reference, `gaterouter --error-catalogue`).
 * Upstream errors passed through keep the upstream's status and code. */
#ifndef GR_ERROR_CATALOGUE_H
#define GR_ERROR_CATALOGUE_H

#include "common.h"
#include <stdio.h>

typedef enum {
#define GR_ERROR(id, code, status, type, anthropic_type, meaning) id,
#include "error_catalogue.def"
#undef GR_ERROR
    GR_EC_COUNT
} gr_error_code;

typedef struct gr_error_row {
    const char *name;           /* the enum's name, "GR_EC_UNKNOWN_URL" */
    const char *code;           /* OpenAI error.code; NULL = null */
    int status;                 /* HTTP status */
    const char *type;           /* OpenAI error.type */
    const char *anthropic_type; /* error.type on /v1/messages */
    const char *meaning;        /* one line, for docs/ERRORS.md */
} gr_error_row;

/* The row of ec (ec < GR_EC_COUNT; anything else aborts: a programming error). */
const gr_error_row *gr_error_catalogue_row(gr_error_code ec);
/* docs/ERRORS.md's table, as it embeds it between its markers. */
void gr_error_catalogue_write_reference(FILE *out);

#endif
