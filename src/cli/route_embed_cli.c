/* route_embed_cli.c — `gaterouter route train FILE.jsonl`: builds the bank of
 * routing.auto.embeddings (route_embed.h) from a file of prompts with
 * per-model outcomes (the format of `route calibrate`): each prompt's
 * embedding is asked of the configured embeddings model (POST
 * {base_url}/embeddings, 32 prompts a call, libcurl), and the bank file is
 * written next to its final name and renamed over it, so a gateway reading
 * it at a reload never sees half a bank. Models are the config's, matched
 * as calibrate matches them; an outcome of a model not in the config is
 * dropped. `--base-url` reaches a provider whose URL the config leaves to
 * the gateway (kind mock: start `gaterouter mock --port N`). */
#include "route_embed_cli.h"

#include "curl_post.h"
#include "route_conf.h"
#include "route_embed.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>

#define BATCH 32

/* Embeds texts[0..n) into vecs (n x *dims; *dims set by the first answer). */
static bool embed_batch(const char *url, const char *api_key, const char *model, const char *const *texts, size_t n,
                        float **vecs, uint32_t *dims, FILE *err) {
    const gr_curl_api *c = gr_curl();
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model", model);
    cJSON *in = cJSON_AddArrayToObject(o, "input");
    for (size_t i = 0; i < n; i++) cJSON_AddItemToArray(in, cJSON_CreateString(texts[i]));
    char *body = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    CURL *h = c->easy_init();
    struct curl_slist *hdr = c->slist_append(NULL, "Content-Type: application/json");
    char auth[600];
    if (api_key) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", api_key);
        hdr = c->slist_append(hdr, auth);
    }
    gr_curl_reply g = {.max = 64u << 20}; /* refuse absurd answers */
    gr_curl_post_setup(h, url, hdr, body, &g);
    c->easy_setopt(h, CURLOPT_TIMEOUT_MS, 120000L);
    CURLcode rc = c->easy_perform(h);
    long status = 0;
    c->easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    bool ok = rc == CURLE_OK && status == 200;
    if (!ok)
        fprintf(err, "route train: %s: %s (HTTP %ld) %.200s\n", url, rc == CURLE_OK ? "refused" : c->easy_strerror(rc),
                status, g.body ? g.body : "");
    cJSON *ans = ok ? cJSON_ParseWithLength(g.body, g.len) : NULL;
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(ans, "data");
    if (ok && (!cJSON_IsArray(data) || cJSON_GetArraySize(data) != (int)n)) {
        fprintf(err, "route train: %s: expected %zu embeddings in `data`\n", url, n);
        ok = false;
    }
    const cJSON *d, *each = ok ? data : NULL;
    int pos = 0;
    cJSON_ArrayForEach(d, each) {
        const cJSON *idx = cJSON_GetObjectItemCaseSensitive(d, "index");
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(d, "embedding");
        int i = cJSON_IsNumber(idx) ? idx->valueint : pos;
        pos++;
        if (!*dims && cJSON_IsArray(e) && cJSON_GetArraySize(e) > 0 && cJSON_GetArraySize(e) <= GR_EMBED_MAX_DIMS)
            *dims = (uint32_t)cJSON_GetArraySize(e);
        if (i < 0 || (size_t)i >= n || !cJSON_IsArray(e) || cJSON_GetArraySize(e) != (int)*dims) {
            fprintf(err, "route train: %s: an embedding is missing or has other dimensions than the first (%u)\n", url,
                    *dims);
            ok = false;
            break;
        }
        vecs[i] = gr_xmalloc(*dims * sizeof(float));
        uint32_t k = 0;
        const cJSON *x;
        cJSON_ArrayForEach(x, e) vecs[i][k++] = cJSON_IsNumber(x) ? (float)x->valuedouble : NAN;
    }
    cJSON_Delete(ans);
    free(g.body);
    c->slist_free_all(hdr);
    c->easy_cleanup(h);
    cJSON_free(body);
    return ok;
}

int gr_route_embed_train_cli(const gr_config *cfg, const char *path, const char *base_url, const char *out_path,
                             FILE *out, FILE *err) {
    const gr_route_embed_conf *ec = &gr_route_conf_of(cfg)->embed; /* loaded with gr_route_embed_bank_optional */
    if (!out_path) out_path = ec->bank_path ? ec->bank_path : GR_EMBED_DEFAULT_BANK;
    const gr_model_conf *m = ec->model ? gr_model_lookup(cfg->models, cfg->nmodels, ec->model, strlen(ec->model)) : NULL;
    if (!m || !m->ndeployments) {
        fprintf(err, "route train: set routing.auto.embeddings.model to an embeddings model of the config\n");
        return 1;
    }
    const gr_deployment *d = &m->deployments[0];
    if (!base_url) base_url = d->provider->base_url;
    if (!base_url || !*base_url) {
        fprintf(err, "route train: provider '%s' has no base_url in the config (kind mock?): pass --base-url\n",
                d->provider->name);
        return 1;
    }
    char cerr[256];
    if (gr_curl_load(cerr, sizeof cerr) != GR_OK) {
        fprintf(err, "route train: %s\n", cerr);
        return 1;
    }
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(err, "route train: cannot read %s\n", path);
        return 1;
    }
    /* read every line first: a bad one refuses the file before any call */
    char **texts = NULL;
    float *outc = NULL; /* n x nmodels */
    size_t n = 0, cap = 0, lineno = 0, lcap = 0, nm = cfg->nmodels;
    char *line = NULL;
    ssize_t len;
    int rc = 1;
    while ((len = getline(&line, &lcap, f)) >= 0) {
        lineno++;
        cJSON *o = cJSON_ParseWithLength(line, (size_t)len);
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(o, "prompt");
        const cJSON *oc = cJSON_GetObjectItemCaseSensitive(o, "outcomes");
        bool blank = !o && strspn(line, " \t\r\n") == (size_t)len;
        if (!blank && (!cJSON_IsString(p) || !*p->valuestring || !cJSON_IsObject(oc))) {
            fprintf(err, "route train: %s:%zu: expected {\"prompt\": string, \"outcomes\": {model: 0..1}}\n", path, lineno);
            cJSON_Delete(o);
            goto out;
        }
        if (blank) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            texts = gr_xrealloc(texts, cap * sizeof *texts);
            outc = gr_xrealloc(outc, cap * (nm ? nm : 1) * sizeof *outc);
        }
        float *row = outc + n * nm;
        for (size_t i = 0; i < nm; i++) row[i] = NAN;
        texts[n++] = gr_xstrdup(p->valuestring);
        const cJSON *e;
        cJSON_ArrayForEach(e, oc) {
            double y = cJSON_IsBool(e) ? (cJSON_IsTrue(e) ? 1.0 : 0.0) : cJSON_IsNumber(e) ? e->valuedouble : -1.0;
            int mi = gr_route_embed_match_model(cfg, e->string);
            if (!(y >= 0.0 && y <= 1.0)) {
                fprintf(err, "route train: %s:%zu: outcome of '%s' must be 0..1\n", path, lineno, e->string);
                cJSON_Delete(o);
                goto out;
            }
            if (mi >= 0) row[mi] = (float)y;
        }
        cJSON_Delete(o);
    }
    char url[1024], tmp[1024];
    snprintf(url, sizeof url, "%s/embeddings", base_url);
    snprintf(tmp, sizeof tmp, "%s.tmp", out_path);
    FILE *w = fopen(tmp, "w");
    if (!w) {
        fprintf(err, "route train: cannot write %s\n", tmp);
        goto out;
    }
    cJSON *hdr = cJSON_CreateObject();
    cJSON_AddNumberToObject(hdr, "gaterouter_route_bank", 1);
    cJSON_AddStringToObject(hdr, "embedding_model", d->upstream_model);
    uint32_t dims = 0;
    bool ok = true;
    for (size_t at = 0; ok && at < n; at += BATCH) {
        size_t k = n - at < BATCH ? n - at : BATCH;
        float *vecs[BATCH] = {0};
        ok = embed_batch(url, d->provider->api_key, d->upstream_model, (const char *const *)texts + at, k, vecs, &dims,
                         err);
        if (ok && at == 0) { /* the header, once the dimensions are known */
            cJSON_AddNumberToObject(hdr, "dims", dims);
            cJSON *ms = cJSON_AddArrayToObject(hdr, "models");
            for (size_t i = 0; i < nm; i++) cJSON_AddItemToArray(ms, cJSON_CreateString(cfg->models[i].name));
            char *h = cJSON_PrintUnformatted(hdr);
            fprintf(w, "%s\n", h);
            cJSON_free(h);
        }
        for (size_t i = 0; ok && i < k; i++) {
            if (!gr_route_embed_normalize(vecs[i], dims)) {
                fprintf(err, "route train: the embedding of prompt %zu is zero or not numbers\n", at + i + 1);
                ok = false;
                break;
            }
            fputs("{\"e\":[", w);
            for (uint32_t j = 0; j < dims; j++) fprintf(w, j ? ",%.6g" : "%.6g", vecs[i][j]);
            fputs("],\"o\":[", w);
            for (size_t j = 0; j < nm; j++) {
                float y = outc[(at + i) * nm + j];
                if (isnan(y)) fprintf(w, j ? ",null" : "null");
                else fprintf(w, j ? ",%g" : "%g", y);
            }
            fputs("]}\n", w);
        }
        for (size_t i = 0; i < k; i++) free(vecs[i]);
    }
    cJSON_Delete(hdr);
    if (fclose(w) != 0) ok = false;
    if (!ok || n == 0 || rename(tmp, out_path) != 0) {
        if (ok) fprintf(err, "route train: %s\n", n ? "cannot rename the bank into place" : "no prompts");
        remove(tmp);
        goto out;
    }
    fprintf(out, "route train: %zu prompts embedded with %s (%u dimensions) into %s\n", n, d->upstream_model, dims,
            out_path);
    rc = 0;
out:
    for (size_t i = 0; i < n; i++) free(texts[i]);
    free(texts);
    free(outc);
    free(line);
    fclose(f);
    return rc;
}
