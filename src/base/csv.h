/* csv.h — RFC 4180 CSV cells for the console's exports (admin_report.c):
 * quoted when they hold a comma, quote, CR or LF (quotes doubled), and text
 * cells that a spreadsheet would run as a formula (first character = + - @
 * TAB or CR) prefixed with a single quote, so a model name or metadata an
 * attacker chose is never executed when the file is opened (OWASP "CSV
 * injection"). Numbers are written through gr_csv_num, without the guard. */
#ifndef GR_CSV_H
#define GR_CSV_H

#include "common.h"
#include "grow_buf.h"

typedef struct gr_csv {
    gr_grow_buf out;
    bool row_started; /* a cell was written on the current line */
} gr_csv;

void gr_csv_text(gr_csv *c, const char *s); /* NULL = empty cell */
void gr_csv_num(gr_csv *c, int64_t v);
void gr_csv_raw(gr_csv *c, const char *s); /* a cell the caller formatted (a decimal); not guarded */
void gr_csv_end_row(gr_csv *c);            /* CRLF */
/* The text (NUL-terminated, malloc'd; caller frees); c is empty again. */
char *gr_csv_take(gr_csv *c, size_t *len);

#endif
