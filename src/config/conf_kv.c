/* conf_kv.c — `k=v,k2=v2` lists in config values (conf_kv.h). */
#include "conf_kv.h"

#include <stdio.h>
#include <stdlib.h>

static int hexval(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

int gr_conf_parse_kv(const char *text, const char *what, char **keys, char **vals, int n, gr_conf_err *e) {
    const char *p = text;
    while (p && *p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        while (len && (*p == ' ' || *p == '\t')) p++, len--;
        if (len) {
            if (!eq || eq == p) {
                gr_conf_fail(e, "%s: '%.*s' is not key=value", what, (int)len, p);
                return -1;
            }
            size_t kl = (size_t)(eq - p), vl = len - kl - 1;
            while (kl && (p[kl - 1] == ' ' || p[kl - 1] == '\t')) kl--;
            char *k = gr_xmalloc(kl + 1), *v = gr_xmalloc(vl + 1);
            memcpy(k, p, kl);
            k[kl] = '\0';
            size_t o = 0;
            for (size_t i = 0; i < vl; i++) {
                const char *s = eq + 1 + i;
                if (*s == '%' && i + 2 < vl && hexval(s[1]) >= 0 && hexval(s[2]) >= 0) {
                    v[o++] = (char)(hexval(s[1]) * 16 + hexval(s[2]));
                    i += 2;
                } else v[o++] = *s;
            }
            v[o] = '\0';
            while (o && (v[o - 1] == ' ' || v[o - 1] == '\t')) v[--o] = '\0';
            char *vs = v;
            while (*vs == ' ' || *vs == '\t') vs++;
            if (vs != v) memmove(v, vs, strlen(vs) + 1);
            bool bad = !k[0];
            for (const char *c = k; *c; c++) bad |= (unsigned char)*c < 0x21 || *c == ':' || *c == 0x7f;
            for (const char *c = v; *c; c++) bad |= *c == '\r' || *c == '\n';
            if (bad || n == GR_CONF_KV_MAX) {
                gr_conf_fail(e, "%s: '%s' %s", what, k, n == GR_CONF_KV_MAX ? "is one entry too many (64 at most)" : "is not a valid name or value");
                free(k), free(v);
                return -1;
            }
            int i = 0;
            while (i < n && strcmp(keys[i], k)) i++;
            if (i < n) { /* a later entry overrides an earlier one */
                free(keys[i]), free(vals[i]);
            } else n++;
            keys[i] = k, vals[i] = v;
        }
        p = end ? end + 1 : NULL;
    }
    return n;
}

void gr_conf_free_kv(char **keys, char **vals, int n) {
    for (int i = 0; i < n; i++) free(keys[i]), free(vals[i]);
}

char *gr_conf_render_headers(char **keys, char **vals, int n) {
    size_t len = 1;
    for (int i = 0; i < n; i++) len += strlen(keys[i]) + strlen(vals[i]) + 3;
    char *out = gr_xmalloc(len), *o = out;
    for (int i = 0; i < n; i++) o += snprintf(o, len - (size_t)(o - out), "%s: %s\n", keys[i], vals[i]);
    *o = '\0';
    return out;
}

