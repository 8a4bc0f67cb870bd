/* json_edit.c — top-level key location and splicing (see json_edit.h). */
#include "json_edit.h"

#include <stdio.h>
#include <stdlib.h>

/* Whitespace as cJSON skips it (every byte <= 0x20, not only the four JSON
 * ones): the input was accepted by cJSON, and both must see the same tokens,
 * or a body like "\x01{\"model\":…}" would pass validation but not be edited. */
static size_t skip_ws(const char *s, size_t i, size_t n) {
    while (i < n && (unsigned char)s[i] <= 0x20) i++;
    return i;
}

/* s[i] == '"': returns index just past the closing quote, or n on error. */
static size_t skip_string(const char *s, size_t i, size_t n) {
    for (i++; i < n; i++) {
        if (s[i] == '\\') i++;
        else if (s[i] == '"') return i + 1;
    }
    return n;
}

/* Skips one value starting at i; returns the index just past it. */
static size_t skip_value(const char *s, size_t i, size_t n) {
    if (i >= n) return n;
    if (s[i] == '"') return skip_string(s, i, n);
    if (s[i] == '{' || s[i] == '[') {
        int depth = 0;
        for (; i < n; i++) {
            char c = s[i];
            if (c == '"') {
                i = skip_string(s, i, n) - 1;
            } else if (c == '{' || c == '[') {
                depth++;
            } else if (c == '}' || c == ']') {
                if (--depth == 0) return i + 1;
            }
        }
        return n;
    }
    while (i < n && s[i] != ',' && s[i] != '}' && s[i] != ']' && (unsigned char)s[i] > 0x20) i++;
    return i;
}

bool gr_json_find_top_level(const char *s, size_t n, const char *key, size_t *start, size_t *end) {
    size_t klen = strlen(key);
    size_t i = skip_ws(s, 0, n);
    if (i >= n || s[i] != '{') return false;
    i++;
    while (i < n) {
        i = skip_ws(s, i, n);
        if (i >= n || s[i] == '}') return false;
        if (s[i] != '"') return false;
        size_t ks = i + 1;
        size_t ke = skip_string(s, i, n);
        if (ke >= n) return false;
        bool match = (ke - 1 - ks) == klen && memcmp(s + ks, key, klen) == 0;
        i = skip_ws(s, ke, n);
        if (i >= n || s[i] != ':') return false;
        i = skip_ws(s, i + 1, n);
        size_t vs = i;
        size_t ve = skip_value(s, i, n);
        if (match) {
            *start = vs;
            *end = ve;
            return true;
        }
        i = skip_ws(s, ve, n);
        if (i < n && s[i] == ',') i++;
    }
    return false;
}

char *gr_json_splice(const char *s, size_t n, size_t start, size_t end, const char *repl, size_t rl,
                     size_t *out_len) {
    size_t total = start + rl + (n - end);
    char *o = gr_xmalloc(total + 1);
    memcpy(o, s, start);
    memcpy(o + start, repl, rl);
    memcpy(o + start + rl, s + end, n - end);
    o[total] = '\0';
    *out_len = total;
    return o;
}

char *gr_json_insert_first(const char *s, size_t n, const char *key, const char *value_json, size_t *out_len) {
    size_t i = skip_ws(s, 0, n);
    if (i >= n || s[i] != '{') return NULL;
    size_t j = skip_ws(s, i + 1, n);
    bool empty = j < n && s[j] == '}';
    size_t klen = strlen(key), vlen = strlen(value_json);
    size_t ins_len = klen + vlen + 4 + (empty ? 0 : 1);
    char *ins = gr_xmalloc(ins_len + 1);
    snprintf(ins, ins_len + 1, "\"%s\":%s%s", key, value_json, empty ? "" : ",");
    char *o = gr_json_splice(s, n, i + 1, i + 1, ins, strlen(ins), out_len);
    free(ins);
    return o;
}

bool gr_json_top_level_keys_plain(const char *s, size_t n) {
    enum { MAX_KEYS = 64 };
    size_t ks[MAX_KEYS], kl[MAX_KEYS], nk = 0;
    size_t i = skip_ws(s, 0, n);
    if (i >= n || s[i] != '{') return false;
    i++;
    while (i < n) {
        i = skip_ws(s, i, n);
        if (i >= n) return false;
        if (s[i] == '}') return true;
        if (s[i] != '"') return false;
        size_t start = i + 1, end = skip_string(s, i, n);
        if (end >= n) return false;
        size_t len = end - 1 - start;
        if (memchr(s + start, '\\', len)) return false; /* escaped key: bytes differ from the decoded name */
        if (nk == MAX_KEYS) return false;
        for (size_t k = 0; k < nk; k++)
            if (kl[k] == len && !memcmp(s + ks[k], s + start, len)) return false; /* duplicate */
        ks[nk] = start;
        kl[nk++] = len;
        i = skip_ws(s, end, n);
        if (i >= n || s[i] != ':') return false;
        i = skip_value(s, skip_ws(s, i + 1, n), n);
        i = skip_ws(s, i, n);
        if (i < n && s[i] == ',') i++;
    }
    return false;
}

char *gr_json_remove_top_level(const char *s, size_t n, const char *key, size_t *out_len) {
    size_t klen = strlen(key);
    size_t i = skip_ws(s, 0, n);
    if (i >= n || s[i] != '{') return NULL;
    i++;
    size_t prev_end = 0; /* end of the previous member's value; 0 = none yet */
    while (i < n) {
        i = skip_ws(s, i, n);
        if (i >= n || s[i] != '"') return NULL;
        size_t member = i, ks = i + 1, ke = skip_string(s, i, n);
        if (ke >= n) return NULL;
        bool match = (ke - 1 - ks) == klen && memcmp(s + ks, key, klen) == 0;
        i = skip_ws(s, ke, n);
        if (i >= n || s[i] != ':') return NULL;
        size_t ve = skip_value(s, skip_ws(s, i + 1, n), n);
        i = skip_ws(s, ve, n);
        bool comma = i < n && s[i] == ',';
        if (match) {
            if (comma) return gr_json_splice(s, n, member, i + 1, "", 0, out_len); /* `"k":v,` */
            if (prev_end) return gr_json_splice(s, n, prev_end, ve, "", 0, out_len); /* `,"k":v` (last) */
            return gr_json_splice(s, n, member, ve, "", 0, out_len); /* the only member */
        }
        if (!comma) return NULL;
        prev_end = ve;
        i++;
    }
    return NULL;
}
