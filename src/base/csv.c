/* csv.c — CSV cells, quoted and formula-guarded (see csv.h). */
#include "csv.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

static void put(gr_csv *c, const char *s, size_t n) { gr_grow_put(&c->out, s, n); }

static void sep(gr_csv *c) {
    if (c->row_started) put(c, ",", 1);
    c->row_started = true;
}

void gr_csv_text(gr_csv *c, const char *s) {
    sep(c);
    if (!s || !*s) return;
    bool formula = strchr("=+-@\t\r", s[0]) != NULL;
    bool quote = formula || strpbrk(s, ",\"\r\n") != NULL || s[0] == ' ' || s[strlen(s) - 1] == ' ';
    if (!quote) {
        put(c, s, strlen(s));
        return;
    }
    put(c, "\"", 1);
    if (formula) put(c, "'", 1);
    for (const char *p = s; *p; p++) {
        if (*p == '"') put(c, "\"\"", 2);
        else put(c, p, 1);
    }
    put(c, "\"", 1);
}

void gr_csv_num(gr_csv *c, int64_t v) {
    char b[24];
    int n = snprintf(b, sizeof b, "%" PRId64, v);
    sep(c);
    put(c, b, (size_t)n);
}

void gr_csv_raw(gr_csv *c, const char *s) {
    sep(c);
    put(c, s, strlen(s));
}

void gr_csv_end_row(gr_csv *c) {
    put(c, "\r\n", 2);
    c->row_started = false;
}

char *gr_csv_take(gr_csv *c, size_t *len) {
    if (!c->out.p) put(c, "", 0);
    char *p = c->out.p;
    *len = c->out.len;
    memset(c, 0, sizeof *c);
    return p;
}
