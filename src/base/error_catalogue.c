/* error_catalogue.c — the rows of error_catalogue.def as data, and the
 * Markdown table docs/ERRORS.md embeds. */
#include "error_catalogue.h"

#include <stdlib.h>

static const gr_error_row k_rows[GR_EC_COUNT] = {
#define GR_ERROR(id, code, status, type, anthropic_type, meaning) {#id, code, status, type, anthropic_type, meaning},
#include "error_catalogue.def"
#undef GR_ERROR
};

const gr_error_row *gr_error_catalogue_row(gr_error_code ec) {
    if ((unsigned)ec >= GR_EC_COUNT) abort();
    return &k_rows[ec];
}

void gr_error_catalogue_write_reference(FILE *out) {
    fputs("| Status | `error.type` (OpenAI) | `error.code` | `error.type` on /v1/messages | Meaning |\n", out);
    fputs("|---|---|---|---|---|\n", out);
    for (size_t i = 0; i < GR_EC_COUNT; i++) {
        const gr_error_row *e = &k_rows[i];
        fprintf(out, "| %d | `%s` | %s%s%s | `%s` | %s |\n", e->status, e->type, e->code ? "`" : "",
                e->code ? e->code : "null", e->code ? "`" : "", e->anthropic_type, e->meaning);
    }
}
