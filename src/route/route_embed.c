/* route_embed.c — routing.auto.embeddings: the bank of labelled prompt
 * embeddings, its nearest-neighbour estimate and the blend (see
 * route_embed.h). */
#include "route_embed.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

const gr_conf_key gr_conf_routing_embeddings_keys[] = {
    {"model", GR_CONF_STRING, GR_CONF_F(gr_route_embed_conf, model), 0, 0, NULL, NULL,
     "the embeddings model (a configured model with the embeddings capability, OpenAI-compatible or mock provider)"},
    {"bank", GR_CONF_STRING, GR_CONF_F(gr_route_embed_conf, bank_path), 0, 0, GR_EMBED_DEFAULT_BANK, NULL,
     "the labelled bank written by `gaterouter route train`; read at config load"},
    {"k", GR_CONF_COUNT, GR_CONF_F(gr_route_embed_conf, k), 1, GR_EMBED_MAX_K, "20", NULL,
     "neighbours whose outcomes make the estimate"},
    {"weight", GR_CONF_FRACTION, GR_CONF_F(gr_route_embed_conf, weight), 0, 1, "0.5", NULL,
     "share of the neighbour estimate in P(good), in logit space"},
    {"timeout_ms", GR_CONF_MS, GR_CONF_F(gr_route_embed_conf, timeout_ms), 1, 10000, "200", NULL,
     "the request waits this long for the prompt's embedding, then routes without it"},
    {"cache_entries", GR_CONF_COUNT, GR_CONF_F(gr_route_embed_conf, cache_entries), 0, 1000000, "4096", NULL,
     "prompt embeddings kept per worker thread (LRU); 0 = no cache"},
    GR_CONF_END,
};

/* ---- the bank ---- */

void gr_route_embed_bank_free(gr_route_embed_bank *b) {
    if (!b) return;
    free(b->vec);
    free(b->outcome);
    free(b);
}

bool gr_route_embed_normalize(float *v, uint32_t dims) {
    double n = 0.0;
    for (uint32_t i = 0; i < dims; i++) n += (double)v[i] * v[i];
    if (!(n > 0.0) || !isfinite(n)) return false;
    float inv = (float)(1.0 / sqrt(n));
    for (uint32_t i = 0; i < dims; i++) v[i] *= inv;
    return true;
}

/* "Org/Model-ID" -> "model-id" (cap bytes). */
static void norm_id(const char *s, char *out, size_t cap) {
    const char *slash = strrchr(s, '/');
    if (slash) s = slash + 1;
    size_t n = 0;
    for (; s[n] && n + 1 < cap; n++) out[n] = (char)tolower((unsigned char)s[n]);
    out[n] = '\0';
}

int gr_route_embed_match_model(const gr_config *cfg, const char *name) {
    char want[128], have[128];
    norm_id(name, want, sizeof want);
    for (size_t i = 0; i < cfg->nmodels; i++) {
        const gr_model_conf *m = &cfg->models[i];
        norm_id(m->name, have, sizeof have);
        if (!strcmp(have, want)) return (int)i;
        for (size_t a = 0; a < m->naliases; a++) {
            norm_id(m->aliases[a], have, sizeof have);
            if (!strcmp(have, want)) return (int)i;
        }
        for (size_t d = 0; d < m->ndeployments; d++) {
            norm_id(m->deployments[d].upstream_model, have, sizeof have);
            if (!strcmp(have, want)) return (int)i;
        }
    }
    return -1;
}

#define BANK_FAIL(...)                              \
    do {                                            \
        snprintf(err, errlen, __VA_ARGS__);         \
        goto fail;                                  \
    } while (0)

gr_status gr_route_embed_bank_load(const char *path, const gr_config *cfg, gr_route_embed_bank **out, char *err,
                                   size_t errlen) {
    *out = NULL;
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot read the bank '%s' (build it with `gaterouter route train`)", path);
        return GR_ERR_IO;
    }
    gr_route_embed_bank *b = gr_xcalloc(1, sizeof *b);
    b->nmodels = (uint32_t)cfg->nmodels;
    int *col = NULL; /* bank column -> config model index (-1 = not configured) */
    size_t ncol = 0, cap = 0, lineno = 0, lcap = 0;
    char *line = NULL;
    ssize_t len;
    cJSON *o = NULL;
    while ((len = getline(&line, &lcap, f)) >= 0) {
        lineno++;
        cJSON_Delete(o);
        o = cJSON_ParseWithLength(line, (size_t)len);
        if (lineno == 1) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "gaterouter_route_bank");
            const cJSON *d = cJSON_GetObjectItemCaseSensitive(o, "dims");
            const cJSON *ms = cJSON_GetObjectItemCaseSensitive(o, "models");
            if (!cJSON_IsNumber(v) || v->valueint != 1 || !cJSON_IsNumber(d) || d->valuedouble < 1 ||
                d->valuedouble > GR_EMBED_MAX_DIMS || !cJSON_IsArray(ms))
                BANK_FAIL("%s:1: not a gaterouter route bank (version 1 header with dims and models expected)", path);
            b->dims = (uint32_t)d->valuedouble;
            ncol = (size_t)cJSON_GetArraySize(ms);
            col = gr_xcalloc(ncol + 1, sizeof *col);
            size_t i = 0;
            const cJSON *m;
            cJSON_ArrayForEach(m, ms) col[i++] = cJSON_IsString(m) ? gr_route_embed_match_model(cfg, m->valuestring) : -1;
            continue;
        }
        if (len <= 1) continue;
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "e");
        const cJSON *oc = cJSON_GetObjectItemCaseSensitive(o, "o");
        if (!cJSON_IsArray(e) || cJSON_GetArraySize(e) != (int)b->dims || !cJSON_IsArray(oc) ||
            cJSON_GetArraySize(oc) != (int)ncol)
            BANK_FAIL("%s:%zu: expected {\"e\": [%u numbers], \"o\": [%zu outcomes]}", path, lineno, b->dims, ncol);
        if (b->n == cap) {
            cap = cap ? cap * 2 : 256;
            b->vec = gr_xrealloc(b->vec, cap * b->dims * sizeof(float));
            b->outcome = gr_xrealloc(b->outcome, cap * (b->nmodels ? b->nmodels : 1) * sizeof(float));
        }
        float *v = b->vec + (size_t)b->n * b->dims;
        size_t i = 0;
        const cJSON *x;
        cJSON_ArrayForEach(x, e) v[i++] = cJSON_IsNumber(x) ? (float)x->valuedouble : NAN;
        if (!gr_route_embed_normalize(v, b->dims))
            BANK_FAIL("%s:%zu: the embedding is zero or not a list of numbers", path, lineno);
        float *row = b->outcome + (size_t)b->n * b->nmodels;
        for (uint32_t m = 0; m < b->nmodels; m++) row[m] = NAN;
        i = 0;
        cJSON_ArrayForEach(x, oc) {
            if (!cJSON_IsNull(x) && (!cJSON_IsNumber(x) || x->valuedouble < 0 || x->valuedouble > 1))
                BANK_FAIL("%s:%zu: outcomes are 0..1 or null", path, lineno);
            if (col[i] >= 0 && cJSON_IsNumber(x)) row[col[i]] = (float)x->valuedouble;
            i++;
        }
        b->n++;
    }
    if (lineno == 0) BANK_FAIL("%s: empty bank", path);
    cJSON_Delete(o);
    free(line);
    free(col);
    fclose(f);
    *out = b;
    return GR_OK;
fail:
    cJSON_Delete(o);
    free(line);
    free(col);
    fclose(f);
    gr_route_embed_bank_free(b);
    return GR_ERR_INVALID;
}

/* ---- neighbours ---- */

void gr_route_embed_knn(const gr_route_embed_bank *b, const float *q, uint32_t k, double *est) {
    for (uint32_t m = 0; m < b->nmodels; m++) est[m] = NAN;
    if (k > GR_EMBED_MAX_K) k = GR_EMBED_MAX_K;
    uint32_t top[GR_EMBED_MAX_K];
    float sim[GR_EMBED_MAX_K];
    uint32_t nt = 0;
    for (uint32_t j = 0; j < b->n; j++) { /* the k most similar, kept sorted (k is small) */
        const float *v = b->vec + (size_t)j * b->dims;
        float s = 0.0f;
        for (uint32_t i = 0; i < b->dims; i++) s += q[i] * v[i];
        if (!(s > 0.0f) || (nt == k && s <= sim[nt - 1])) continue;
        uint32_t at = nt < k ? nt++ : k - 1;
        while (at > 0 && sim[at - 1] < s) {
            sim[at] = sim[at - 1];
            top[at] = top[at - 1];
            at--;
        }
        sim[at] = s;
        top[at] = j;
    }
    for (uint32_t m = 0; m < b->nmodels; m++) {
        double num = 0.0, den = 0.0;
        for (uint32_t t = 0; t < nt; t++) {
            float o = b->outcome[(size_t)top[t] * b->nmodels + m];
            if (isnan(o)) continue;
            num += sim[t] * o;
            den += sim[t];
        }
        if (den > 0.0) est[m] = num / den;
    }
}

double gr_route_embed_blend(double q, double knn, double weight) {
    if (isnan(knn) || !(weight > 0.0)) return q;
    double a = q < 0.005 ? 0.005 : q > 0.995 ? 0.995 : q, b = knn < 0.005 ? 0.005 : knn > 0.995 ? 0.995 : knn;
    double x = (1.0 - weight) * log(a / (1.0 - a)) + weight * log(b / (1.0 - b));
    return 1.0 / (1.0 + exp(-x));
}

/* ---- config ---- */

static bool g_bank_optional;
void gr_route_embed_bank_optional(bool optional) { g_bank_optional = optional; }

void gr_route_embed_conf_dispose(gr_route_embed_conf *c) {
    if (!c) return;
    gr_conf_free_keys(gr_conf_routing_embeddings_keys, c);
    gr_route_embed_bank_free(c->bank);
    memset(c, 0, sizeof *c);
}

void gr_route_embed_conf_parse(const cJSON *sec, const gr_config *cfg, gr_route_embed_conf *c, gr_conf_err *e) {
    memset(c, 0, sizeof *c);
    if (!sec || cJSON_IsNull(sec)) return;
    cJSON *shorthand = NULL;
    if (cJSON_IsString(sec)) { /* `embeddings: <model>` */
        shorthand = cJSON_CreateObject();
        cJSON_AddStringToObject(shorthand, "model", sec->valuestring);
        sec = shorthand;
    }
    gr_conf_load_keys(sec, "routing.auto.embeddings", gr_conf_routing_embeddings_keys, c, e);
    cJSON_Delete(shorthand);
    if (e->failed) return;
    const gr_model_conf *m = c->model ? gr_model_lookup(cfg->models, cfg->nmodels, c->model, strlen(c->model)) : NULL;
    if (!c->model) {
        gr_conf_fail(e, "routing.auto.embeddings.model: required (an embeddings model of the config)");
        return;
    }
    if (!m) {
        gr_conf_fail(e, "routing.auto.embeddings.model: unknown model '%s'", c->model);
        return;
    }
    if (!(m->caps & GR_CAP_EMBEDDINGS) || !m->ndeployments ||
        (m->deployments[0].provider->kind != GR_PROVIDER_OPENAI && m->deployments[0].provider->kind != GR_PROVIDER_MOCK)) {
        gr_conf_fail(e, "routing.auto.embeddings.model: '%s' must have the embeddings capability and an "
                        "OpenAI-compatible (or mock) provider", c->model);
        return;
    }
    char err[512];
    if (g_bank_optional) {
        FILE *f = fopen(c->bank_path, "r");
        if (!f) return; /* `route train` is about to write it */
        fclose(f);
    }
    if (gr_route_embed_bank_load(c->bank_path, cfg, &c->bank, err, sizeof err) != GR_OK) {
        gr_conf_fail(e, "routing.auto.embeddings.bank: %s", err);
        return;
    }
    c->enabled = true;
}
