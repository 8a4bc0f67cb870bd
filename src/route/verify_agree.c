/* verify_agree.c — final-answer extraction and agreement for the
 * `auto:verify` cascade (see verify_agree.h). */
#include "verify_agree.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- small views ---- */

typedef struct span {
    const char *p;
    size_t n;
} span;

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v'; }

static span trim(span s) {
    while (s.n && is_space(s.p[0])) s.p++, s.n--;
    while (s.n && is_space(s.p[s.n - 1])) s.n--;
    return s;
}

/* Markdown emphasis, quotes and headings around an answer ("**B**", "`42`"). */
static bool is_decoration(char c) { return c == '*' || c == '_' || c == '`' || c == '"' || c == '\'' || c == '#'; }

static span strip_decoration(span s) {
    for (;;) {
        s = trim(s);
        if (s.n && is_decoration(s.p[0])) s.p++, s.n--;
        else if (s.n && is_decoration(s.p[s.n - 1])) s.n--;
        else return s;
    }
}

/* Last case-insensitive occurrence of needle in s; NULL if none. */
static const char *last_ci(span s, const char *needle) {
    size_t m = strlen(needle);
    if (m == 0 || s.n < m) return NULL;
    for (size_t i = s.n - m + 1; i-- > 0;) {
        size_t k = 0;
        while (k < m && tolower((unsigned char)s.p[i + k]) == needle[k]) k++;
        if (k == m) return s.p + i;
    }
    return NULL;
}

static span rest_of_line(span s, const char *from) {
    span r = {from, (size_t)(s.p + s.n - from)};
    const char *nl = memchr(r.p, '\n', r.n);
    if (nl) r.n = (size_t)(nl - r.p);
    return trim(r);
}

/* ---- where the final answer is ---- */

/* The argument of the last \boxed{...} (braces balanced), or n == 0. */
static span boxed(span s) {
    const char *b = last_ci(s, "\\boxed{");
    if (!b) return (span){NULL, 0};
    const char *p = b + 7, *end = s.p + s.n;
    int depth = 1;
    for (const char *q = p; q < end; q++) {
        if (*q == '{') depth++;
        else if (*q == '}' && --depth == 0) return trim((span){p, (size_t)(q - p)});
    }
    return (span){NULL, 0};
}

/* What follows the last "answer is" / "answer:" marker, on its line. */
static span after_marker(span s) {
    static const char *const markers[] = {"answer is", "answer:", "answer :", "answer would be", "answer will be"};
    const char *best = NULL;
    size_t best_len = 0;
    for (size_t i = 0; i < sizeof markers / sizeof markers[0]; i++) {
        const char *at = last_ci(s, markers[i]);
        if (at && (!best || at > best)) {
            best = at;
            best_len = strlen(markers[i]);
        }
    }
    if (!best) return (span){NULL, 0};
    span r = rest_of_line(s, best + best_len);
    while (r.n && (r.p[0] == ':' || is_space(r.p[0]))) r.p++, r.n--;
    return r;
}

static span last_line(span s) {
    s = trim(s);
    const char *end = s.p + s.n;
    const char *q = end;
    while (q > s.p && q[-1] != '\n') q--;
    return trim((span){q, (size_t)(end - q)});
}

/* ---- normalisers ---- */

static bool put(char *out, size_t cap, size_t *len, char c) {
    if (*len + 1 >= cap) return false;
    out[(*len)++] = c;
    out[*len] = '\0';
    return true;
}

/* "B", "(b)", "B.", "B) text", "[C]" -> the letter. */
static bool as_choice(span s, char *out, size_t cap) {
    size_t i = 0;
    bool opened = false;
    if (i < s.n && (s.p[i] == '(' || s.p[i] == '[')) opened = true, i++;
    if (i >= s.n || !isalpha((unsigned char)s.p[i])) return false;
    char letter = s.p[i++];
    char up = (char)toupper((unsigned char)letter);
    if (up < 'A' || up > 'J') return false;
    bool lone = i == s.n;
    bool closes = i < s.n && (s.p[i] == ')' || s.p[i] == ']' || s.p[i] == '.' || s.p[i] == ':' || s.p[i] == ',');
    if (!closes && letter == up && i + 1 < s.n && s.p[i] == ' ' && (s.p[i + 1] == '(' || s.p[i + 1] == '-'))
        closes = true; /* "D (ammonia)", "B - photosynthesis" */
    if (opened && !(i < s.n && (s.p[i] == ')' || s.p[i] == ']'))) return false;
    if (!lone && !closes) return false;
    if (!opened && letter != up && !lone) return false; /* "a." is a word, "a" alone or "(a)" is a choice */
    if (!opened && closes && s.p[i] == '.' && i + 1 < s.n && isalpha((unsigned char)s.p[i + 1])) return false; /* "e.g" */
    size_t len = 0;
    return put(out, cap, &len, up);
}

static bool word_is(span s, const char *w) {
    size_t m = strlen(w);
    if (s.n < m) return false;
    for (size_t k = 0; k < m; k++)
        if (tolower((unsigned char)s.p[k]) != w[k]) return false;
    return s.n == m || !isalnum((unsigned char)s.p[m]);
}

static bool as_yesno(span s, char *out, size_t cap) {
    const char *v = NULL;
    if (word_is(s, "yes") || word_is(s, "true")) v = "yes";
    else if (word_is(s, "no") || word_is(s, "false")) v = "no";
    if (!v) return false;
    snprintf(out, cap, "%s", v);
    return true;
}

/* The last number of s ("1,234.50" -> "1234.5", "-3" -> "-3", "$12" -> "12"). */
static bool as_number(span s, char *out, size_t cap) {
    const char *e = s.p + s.n;
    while (e > s.p && !isdigit((unsigned char)e[-1])) e--;
    if (e == s.p) return false;
    const char *start = e - 1; /* back over digits and the ',' / '.' between them */
    while (start > s.p) {
        char c = start[-1];
        if (isdigit((unsigned char)c)) start--;
        else if ((c == ',' || c == '.') && start - 2 >= s.p && isdigit((unsigned char)start[-2])) start--;
        else break;
    }
    bool neg = start > s.p && start[-1] == '-' && (start - 1 == s.p || !isalnum((unsigned char)start[-2]));
    char digits[64];
    size_t n = 0;
    const char *dot = memchr(start, '.', (size_t)(e - start));
    const char *last_dot = dot;
    for (const char *q = dot; q && q < e; q++)
        if (*q == '.') last_dot = q;
    if (dot != last_dot) dot = NULL; /* "1.2.3": a version, the dots are not decimals */
    for (const char *q = start; q < e && n + 1 < sizeof digits; q++)
        if (isdigit((unsigned char)*q) || q == dot) digits[n++] = *q;
    digits[n] = '\0';
    double v = strtod(digits, NULL);
    if (neg) v = -v;
    if (v == 0) v = 0; /* no "-0" */
    snprintf(out, cap, "%.12g", v);
    return true;
}

/* Lower-case ASCII words (other bytes kept), one space between, no punctuation. */
static bool as_text(span s, char *out, size_t cap) {
    size_t len = 0;
    bool gap = false;
    out[0] = '\0';
    for (size_t i = 0; i < s.n; i++) {
        unsigned char c = (unsigned char)s.p[i];
        if (isalnum(c) || c >= 0x80) {
            if (gap && len && !put(out, cap, &len, ' ')) break;
            gap = false;
            if (!put(out, cap, &len, (char)tolower(c))) break;
        } else {
            gap = true;
        }
    }
    while (len && out[len - 1] == ' ') out[--len] = '\0'; /* cut at the cap right after a gap */
    return len > 0;
}

/* ---- public ---- */

gr_answer_kind gr_verify_final_answer(const char *text, size_t len, char *out, size_t cap) {
    if (cap > GR_VERIFY_ANSWER_MAX) cap = GR_VERIFY_ANSWER_MAX;
    if (!out || cap < 2) return GR_ANSWER_NONE;
    out[0] = '\0';
    span s = trim((span){text ? text : "", text ? len : 0});
    if (!s.n) return GR_ANSWER_NONE;
    if (last_ci(s, "```")) return GR_ANSWER_CODE;
    span a = boxed(s);
    if (!a.n) a = after_marker(s);
    if (!a.n) a = last_line(s);
    a = strip_decoration(a);
    if (as_choice(a, out, cap)) return GR_ANSWER_CHOICE;
    if (as_yesno(a, out, cap)) return GR_ANSWER_YESNO;
    if (!memchr(a.p, '/', a.n) && !memchr(a.p, '\\', a.n) && as_number(a, out, cap)) /* 1/2, \frac: compared as text */
        return GR_ANSWER_NUMBER;
    if (as_text(a, out, cap)) return GR_ANSWER_TEXT;
    return GR_ANSWER_NONE;
}

bool gr_verify_agree(const char *a, size_t alen, const char *b, size_t blen, gr_agree_mode mode, char *why,
                     size_t whylen) {
    char tmp[8];
    if (!why || !whylen) why = tmp, whylen = sizeof tmp;
    if (mode == GR_AGREE_EXACT) {
        span x = trim((span){a ? a : "", a ? alen : 0}), y = trim((span){b ? b : "", b ? blen : 0});
        bool same = x.n && x.n == y.n && !memcmp(x.p, y.p, x.n);
        snprintf(why, whylen, "%s", !x.n || !y.n ? "empty" : same ? "same reply" : "replies differ");
        return same;
    }
    char fa[GR_VERIFY_ANSWER_MAX], fb[GR_VERIFY_ANSWER_MAX];
    gr_answer_kind ka = gr_verify_final_answer(a, alen, fa, sizeof fa);
    gr_answer_kind kb = gr_verify_final_answer(b, blen, fb, sizeof fb);
    if (ka == GR_ANSWER_CODE || kb == GR_ANSWER_CODE) {
        snprintf(why, whylen, "code");
        return false;
    }
    if (ka == GR_ANSWER_NONE || kb == GR_ANSWER_NONE) {
        snprintf(why, whylen, "empty");
        return false;
    }
    bool same = ka == kb && !strcmp(fa, fb);
    if (same) {
        char shown[40];
        size_t n = 0;
        for (const char *p = fa; *p && n + 1 < sizeof shown; p++) /* header-safe */
            shown[n++] = (*p == '\'' || (unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f) ? '_' : *p;
        shown[n] = '\0';
        snprintf(why, whylen, "same %s '%s'", gr_answer_kind_name(ka), shown);
    } else {
        snprintf(why, whylen, "answers differ");
    }
    return same;
}

const char *gr_answer_kind_name(gr_answer_kind k) {
    switch (k) {
    case GR_ANSWER_CHOICE: return "choice";
    case GR_ANSWER_NUMBER: return "number";
    case GR_ANSWER_YESNO: return "yes/no";
    case GR_ANSWER_TEXT: return "text";
    case GR_ANSWER_CODE: return "code";
    default: return "none";
    }
}

bool gr_agree_mode_parse(const char *s, gr_agree_mode *out) {
    if (!s) return false;
    if (!strcmp(s, "normalised") || !strcmp(s, "normalized")) *out = GR_AGREE_NORMALISED;
    else if (!strcmp(s, "exact")) *out = GR_AGREE_EXACT;
    else return false;
    return true;
}
