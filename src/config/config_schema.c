/* config_schema.c — walks a config section against its declared key table:
 * unknown keys (with a suggestion), values parsed by type and unit, ranges. */
#include "config_schema.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void gr_conf_fail(gr_conf_err *e, const char *fmt, ...) {
    if (e->failed) return; /* keep the first, most specific error */
    e->failed = true;
    va_list ap;
    va_start(ap, fmt);
    if (e->buf && e->len) vsnprintf(e->buf, e->len, fmt, ap);
    va_end(ap);
}

const char *gr_conf_type_name(gr_conf_type t) {
    switch (t) {
    case GR_CONF_BOOL: return "bool";
    case GR_CONF_COUNT: return "integer";
    case GR_CONF_BYTES: return "size";
    case GR_CONF_MS: return "duration";
    case GR_CONF_FRACTION: return "number";
    case GR_CONF_STRING: return "string";
    case GR_CONF_ENUM: return "enum";
    case GR_CONF_NESTED: return "section";
    }
    return "?";
}

/* ---- suggestions ---- */

/* Levenshtein distance, capped: names are short config keys. */
static size_t edit_distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63) return 99;
    size_t row[64];
    for (size_t j = 0; j <= lb; j++) row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

static const char *closest(const char *name, const char *cand, const char *best, size_t *best_d) {
    size_t d = edit_distance(name, cand);
    size_t ln = strlen(name), lc = strlen(cand);
    /* a unit or suffix left off ("budget_daily" for budget_daily_usd) */
    if (d > 2 && ln >= 4 && lc >= 4 && !strncmp(name, cand, ln < lc ? ln : lc)) d = 2;
    if (d <= 2 && d < *best_d) {
        *best_d = d;
        return cand;
    }
    return best;
}

const char *gr_conf_suggest(const char *name, const gr_conf_key *keys) {
    const char *best = NULL;
    size_t best_d = 99;
    for (const gr_conf_key *k = keys; k && k->name; k++) best = closest(name, k->name, best, &best_d);
    return best;
}

const char *gr_conf_suggest_name(const char *name, const char *const *names) {
    const char *best = NULL;
    size_t best_d = 99;
    for (size_t i = 0; names && names[i]; i++) best = closest(name, names[i], best, &best_d);
    return best;
}

/* ---- keys ---- */

static const gr_conf_key *find_key(const gr_conf_key *keys, const char *name) {
    for (const gr_conf_key *k = keys; k && k->name; k++)
        if (!strcmp(k->name, name)) return k;
    return NULL;
}

void gr_conf_check_keys(const cJSON *obj, const char *path, const gr_conf_key *keys, gr_conf_err *e) {
    if (!obj || cJSON_IsNull(obj)) return; /* an empty section ("auth:") is all defaults */
    if (!cJSON_IsObject(obj)) {             /* a list or scalar has no keys */
        gr_conf_fail(e, "%s: expected a mapping", path[0] ? path : "config");
        return;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, obj) {
        if (find_key(keys, it->string)) continue;
        const char *hint = gr_conf_suggest(it->string, keys);
        if (hint)
            gr_conf_fail(e, "%s%s%s: unknown key (did you mean %s?)", path, path[0] ? "." : "", it->string, hint);
        else
            gr_conf_fail(e, "%s%s%s: unknown key (see docs/CONFIG.md)", path, path[0] ? "." : "", it->string);
        return;
    }
}

/* ---- values ---- */

static gr_status unit_multiplier(const char *suffix, gr_conf_type type, uint64_t *mul) {
    static const struct { const char *s; uint64_t m; } bytes[] = {
        {"", 1}, {"B", 1}, {"k", 1ull << 10}, {"KiB", 1ull << 10}, {"m", 1ull << 20}, {"MiB", 1ull << 20},
        {"g", 1ull << 30}, {"GiB", 1ull << 30}, {"TiB", 1ull << 40},
    };
    static const struct { const char *s; uint64_t m; } ms[] = {
        {"", 1}, {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000},
    };
    if (type == GR_CONF_BYTES) {
        for (size_t i = 0; i < GR_ARRAY_LEN(bytes); i++)
            if (!strcmp(suffix, bytes[i].s)) return *mul = bytes[i].m, GR_OK;
    } else if (type == GR_CONF_MS) {
        for (size_t i = 0; i < GR_ARRAY_LEN(ms); i++)
            if (!strcmp(suffix, ms[i].s)) return *mul = ms[i].m, GR_OK;
    } else if (!*suffix) {
        return *mul = 1, GR_OK;
    }
    return GR_ERR_PARSE;
}

gr_status gr_conf_parse_uint(const char *text, gr_conf_type type, uint64_t *out) {
    if (!text || text[0] < '0' || text[0] > '9') return GR_ERR_PARSE; /* no sign, no space */
    char *end = NULL;
    errno = 0;
    unsigned long long x = strtoull(text, &end, 10);
    if (errno) return GR_ERR_TOO_LARGE;
    uint64_t mul = 1;
    if (unit_multiplier(end, type, &mul) != GR_OK) return GR_ERR_PARSE;
    if (x > UINT64_MAX / mul) return GR_ERR_TOO_LARGE;
    *out = x * mul;
    return GR_OK;
}

static const char *unit_hint(gr_conf_type t) {
    switch (t) {
    case GR_CONF_BYTES: return " (a size like 512, 64KiB, 8MiB or 1GiB)";
    case GR_CONF_MS: return " (a duration like 250, 250ms, 30s, 2m or 1h; a bare number is milliseconds)";
    case GR_CONF_COUNT: return " (a non-negative integer)";
    default: return "";
    }
}

static void store_uint(void *field, size_t size, uint64_t v) {
    switch (size) {
    case 1: *(uint8_t *)field = (uint8_t)v; break;
    case 2: *(uint16_t *)field = (uint16_t)v; break;
    case 4: *(uint32_t *)field = (uint32_t)v; break;
    default: *(uint64_t *)field = v; break;
    }
}

/* The text of a scalar: YAML numbers keep what was written (valuestring). */
static const char *scalar_text(const cJSON *v, char *buf, size_t len) {
    if (cJSON_IsString(v)) return v->valuestring;
    if (cJSON_IsNumber(v)) {
        if (v->valuestring) return v->valuestring;
        snprintf(buf, len, "%.17g", v->valuedouble);
        return buf;
    }
    return NULL;
}

static void load_value(const gr_conf_key *k, const cJSON *v, const char *text, const char *path, void *out,
                       gr_conf_err *e) {
    void *field = (char *)out + k->offset;
    switch (k->type) {
    case GR_CONF_BOOL:
        if (cJSON_IsBool(v)) *(bool *)field = cJSON_IsTrue(v);
        else if (text && !strcmp(text, "true")) *(bool *)field = true;
        else if (text && !strcmp(text, "false")) *(bool *)field = false;
        else gr_conf_fail(e, "%s.%s: expected true or false", path, k->name);
        return;
    case GR_CONF_COUNT:
    case GR_CONF_BYTES:
    case GR_CONF_MS: {
        uint64_t x = 0;
        gr_status rc = text ? gr_conf_parse_uint(text, k->type, &x) : GR_ERR_PARSE;
        if (rc != GR_OK) {
            gr_conf_fail(e, "%s.%s: cannot read '%s' as a %s%s", path, k->name, text ? text : "(not a scalar)",
                         gr_conf_type_name(k->type), unit_hint(k->type));
            return;
        }
        if ((double)x < k->min || (double)x > k->max) {
            gr_conf_fail(e, "%s.%s: %s is out of range (%.0f..%.0f%s)", path, k->name, text, k->min, k->max,
                         k->type == GR_CONF_MS ? " ms" : k->type == GR_CONF_BYTES ? " bytes" : "");
            return;
        }
        store_uint(field, k->size, x);
        return;
    }
    case GR_CONF_FRACTION: {
        char *end = NULL;
        errno = 0;
        double d = text ? strtod(text, &end) : NAN;
        if (!text || !*text || *end || errno || !isfinite(d)) {
            gr_conf_fail(e, "%s.%s: expected a number, got '%s'", path, k->name, text ? text : "(not a scalar)");
            return;
        }
        if (d < k->min || d > k->max) {
            gr_conf_fail(e, "%s.%s: %s is out of range (%g..%g)", path, k->name, text, k->min, k->max);
            return;
        }
        *(double *)field = d;
        return;
    }
    case GR_CONF_STRING:
        if (!text || (v && !cJSON_IsString(v) && !cJSON_IsNumber(v))) {
            gr_conf_fail(e, "%s.%s: expected a string", path, k->name);
            return;
        }
        free(*(char **)field);
        *(char **)field = gr_xstrdup(text);
        return;
    case GR_CONF_ENUM:
        for (size_t i = 0; text && k->choices[i]; i++)
            if (!strcmp(text, k->choices[i])) {
                *(int *)field = (int)i;
                return;
            }
        {
            char list[256] = "";
            size_t n = 0;
            for (size_t i = 0; k->choices[i] && n < sizeof list; i++)
                n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", i ? ", " : "", k->choices[i]);
            const char *hint = text ? gr_conf_suggest_name(text, k->choices) : NULL;
            if (hint)
                gr_conf_fail(e, "%s.%s: unknown value '%s' (did you mean %s? expected one of: %s)", path, k->name,
                             text, hint, list);
            else
                gr_conf_fail(e, "%s.%s: unknown value '%s' (expected one of: %s)", path, k->name,
                             text ? text : "(not a scalar)", list);
        }
        return;
    case GR_CONF_NESTED:
        return;
    }
}

void gr_conf_load_keys(const cJSON *obj, const char *path, const gr_conf_key *keys, void *out, gr_conf_err *e) {
    gr_conf_check_keys(obj, path, keys, e);
    if (obj && !cJSON_IsNull(obj) && !cJSON_IsObject(obj)) return;
    for (const gr_conf_key *k = keys; k->name; k++) {
        if (k->type == GR_CONF_NESTED) continue;
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, k->name);
        char num[64];
        if (v && !cJSON_IsNull(v)) {
            load_value(k, v, scalar_text(v, num, sizeof num), path, out, e);
        } else if (k->dflt) {
            load_value(k, NULL, k->dflt, path, out, e);
        }
    }
}

void gr_conf_load_keys_or_url(const cJSON *obj, const char *path, const gr_conf_key *keys, void *out,
                              gr_conf_err *e) {
    if (!cJSON_IsString(obj)) {
        gr_conf_load_keys(obj, path, keys, out, e);
        return;
    }
    cJSON *wrap = cJSON_CreateObject();
    cJSON_AddStringToObject(wrap, "url", obj->valuestring);
    gr_conf_load_keys(wrap, path, keys, out, e);
    cJSON_Delete(wrap);
}

void gr_conf_free_keys(const gr_conf_key *keys, void *out) {
    for (const gr_conf_key *k = keys; k->name; k++)
        if (k->type == GR_CONF_STRING) {
            free(*(char **)((char *)out + k->offset));
            *(char **)((char *)out + k->offset) = NULL;
        }
}
