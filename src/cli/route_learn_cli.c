/* route_learn_cli.c — `gaterouter route calibrate FILE.jsonl`: the same
 * update POST /v1/feedback makes (route_learn.h), offline, from a file of
 * prompts with per-model outcomes — one JSON object a line,
 *   {"prompt": "...", "outcomes": {"<model>": 0..1, ...}}
 * (the format of tools/route's data and fixtures). A model is matched by its
 * configured name, an alias, or a deployment's upstream id (lower case,
 * after the last '/'); others are counted and skipped. Each outcome adds
 * the prompt's skill mixture times the outcome to that model's sums in the
 * store, so every instance sharing it picks the estimates up at its next
 * refresh.
 *
 * Before writing it prints what calibration does on data it did not see:
 * the outcomes of every fifth line (held out) predicted with the store's
 * current estimates, then with those plus the other four fifths — log loss,
 * Brier score and accuracy at 0.5 — and, per model, the mean prior and
 * learned P(good) against the observed rate. `--dry-run` stops there.
 *
 * Also loads the store's estimates for `route --explain`. */
#include "route_learn_cli.h"

#include "route.h"
#include "route_auto.h"
#include "route_conf.h"
#include "route_embed.h"
#include "route_learn.h"
#include "store.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define MAX_POOL 64

typedef struct outcome {
    uint32_t model; /* index into cfg->models */
    float y;
    float p; /* the router's P(good) before learning */
} outcome;

typedef struct sample {
    double mix[GR_LEARN_SKILLS];
    gr_auto_prediction pr;
    outcome *o;
    size_t no;
    bool held_out;
} sample;

/* Reads FILE into samples; false (message printed) on an unreadable file or a bad line. */
static bool read_samples(const gr_config *cfg, const char *path, sample **out, size_t *nout, size_t *unmatched,
                         FILE *err) {
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(err, "route calibrate: cannot read %s\n", path);
        return false;
    }
    sample *s = NULL;
    size_t n = 0, cap = 0, lineno = 0;
    char *line = NULL;
    size_t lcap = 0;
    ssize_t len;
    bool ok = true;
    while (ok && (len = getline(&line, &lcap, f)) >= 0) {
        lineno++;
        while (len > 0 && isspace((unsigned char)line[len - 1])) line[--len] = '\0';
        if (len == 0) continue;
        cJSON *o = cJSON_ParseWithLength(line, (size_t)len);
        const cJSON *prompt = cJSON_GetObjectItemCaseSensitive(o, "prompt");
        const cJSON *oc = cJSON_GetObjectItemCaseSensitive(o, "outcomes");
        if (!cJSON_IsString(prompt) || !cJSON_IsObject(oc)) {
            fprintf(err, "route calibrate: %s:%zu: expected {\"prompt\": string, \"outcomes\": {model: 0..1}}\n", path,
                    lineno);
            ok = false;
        }
        if (ok && n == cap) {
            cap = cap ? cap * 2 : 256;
            s = gr_xrealloc(s, cap * sizeof *s);
        }
        sample *sm = ok ? &s[n] : NULL;
        if (sm) {
            memset(sm, 0, sizeof *sm);
            sm->o = gr_xcalloc((size_t)cJSON_GetArraySize(oc) + 1, sizeof *sm->o);
            n++;
            gr_auto_features feat;
            gr_route_auto_features_text(prompt->valuestring, strlen(prompt->valuestring), &feat);
            gr_route_auto_predict(&feat, &sm->pr);
            memcpy(sm->mix, sm->pr.skill, sizeof sm->mix);
            sm->held_out = n % 5 == 0;
        }
        const cJSON *e, *each = ok ? oc : NULL;
        cJSON_ArrayForEach(e, each) {
            double y = cJSON_IsBool(e) ? (cJSON_IsTrue(e) ? 1.0 : 0.0) : cJSON_IsNumber(e) ? e->valuedouble : -1.0;
            if (!(y >= 0.0 && y <= 1.0)) {
                fprintf(err, "route calibrate: %s:%zu: outcome of '%s' must be 0..1\n", path, lineno, e->string);
                ok = false;
                break;
            }
            int m = gr_route_embed_match_model(cfg, e->string);
            if (m < 0) {
                (*unmatched)++;
                continue;
            }
            gr_auto_ability ab;
            gr_route_conf_auto_ability(gr_route_conf_of(cfg), cfg, &cfg->models[m], &ab);
            sm->o[sm->no++] = (outcome){(uint32_t)m, (float)y, (float)gr_route_auto_quality(&sm->pr, ab.a, ab.bias)};
        }
        cJSON_Delete(o);
    }
    free(line);
    fclose(f);
    *out = s;
    *nout = n;
    return ok;
}

static void free_samples(sample *s, size_t n) {
    for (size_t i = 0; i < n; i++) free(s[i].o);
    free(s);
}

/* Adds the outcomes of the chosen samples to per-model sums (one rec per config model). */
static void accumulate(const gr_config *cfg, const sample *s, size_t n, bool held_out, bool all, gr_learned_rec *recs) {
    for (size_t i = 0; i < cfg->nmodels; i++) snprintf(recs[i].model, sizeof recs[i].model, "%s", cfg->models[i].name);
    for (size_t i = 0; i < n; i++) {
        if (!all && s[i].held_out != held_out) continue;
        for (size_t k = 0; k < s[i].no; k++)
            gr_store_learned_apply(&recs[s[i].o[k].model], s[i].mix, s[i].o[k].y, s[i].o[k].p, +1);
    }
}

/* recs = base + add (per model, same order). */
static void merge(const gr_learned_rec *base, size_t nbase, gr_learned_rec *add, size_t nadd) {
    for (size_t i = 0; i < nadd; i++)
        for (size_t b = 0; b < nbase; b++)
            if (!strcmp(base[b].model, add[i].model)) {
                for (int k = 0; k < GR_LEARN_SKILLS; k++) {
                    add[i].s[k] += base[b].s[k];
                    add[i].f[k] += base[b].f[k];
                    add[i].e[k] += base[b].e[k];
                }
                add[i].ratings += base[b].ratings;
            }
}

typedef struct figures {
    double logloss, brier, acc;
    size_t n;
    double p_mean[MAX_POOL], y_mean[MAX_POOL];
    size_t per[MAX_POOL];
} figures;

/* P(good) of every held-out outcome under the published snapshot. */
static void evaluate(const gr_config *cfg, const gr_route_learn_conf *lc, const sample *s, size_t n, figures *fg) {
    memset(fg, 0, sizeof *fg);
    for (size_t i = 0; i < n; i++) {
        if (!s[i].held_out) continue;
        for (size_t k = 0; k < s[i].no; k++) {
            const gr_model_conf *m = &cfg->models[s[i].o[k].model];
            gr_route_learned shown;
            double p = gr_route_learn_adjust(lc, m->name, s[i].mix, s[i].o[k].p, &shown), y = s[i].o[k].y;
            double pc = p < 1e-6 ? 1e-6 : p > 1 - 1e-6 ? 1 - 1e-6 : p;
            fg->logloss -= y * log(pc) + (1 - y) * log(1 - pc);
            fg->brier += (p - y) * (p - y);
            fg->acc += ((p >= 0.5) == (y >= 0.5)) ? 1.0 : 0.0;
            fg->n++;
            size_t mi = s[i].o[k].model;
            if (mi < MAX_POOL) {
                fg->p_mean[mi] += p;
                fg->y_mean[mi] += y;
                fg->per[mi]++;
            }
        }
    }
    if (fg->n) {
        fg->logloss /= (double)fg->n;
        fg->brier /= (double)fg->n;
        fg->acc /= (double)fg->n;
    }
}

int gr_route_learn_calibrate_cli(const gr_config *cfg, const char *path, bool dry_run, FILE *out, FILE *err) {
    if (cfg->nmodels > MAX_POOL) {
        fprintf(err, "route calibrate: at most %d models\n", MAX_POOL);
        return 1;
    }
    gr_route_learn_conf lc = gr_route_conf_of(cfg)->learning;
    if (!lc.enabled)
        fprintf(err, "route calibrate: note: routing.auto.learning.enabled is false: the gateway will store but "
                     "not use these estimates until it is true\n");
    lc.enabled = true; /* the figures show what learning does */
    sample *s = NULL;
    size_t n = 0, unmatched = 0;
    if (!read_samples(cfg, path, &s, &n, &unmatched, err)) {
        free_samples(s, n);
        return 1;
    }
    gr_store *st = NULL;
    char msg[512];
    if (gr_store_open_migrated(gr_store_url(cfg), &st, msg, sizeof msg) != GR_OK) {
        fprintf(err, "route calibrate: %s\n", msg);
        free_samples(s, n);
        return 1;
    }
    gr_learned_rec *before = NULL;
    size_t nbefore = 0;
    int rc = 1;
    if (gr_store_learned_list(st, &before, &nbefore) != GR_OK) {
        fprintf(err, "route calibrate: cannot read the current estimates from the store\n");
        goto out;
    }
    size_t outcomes = 0, held = 0;
    for (size_t i = 0; i < n; i++) {
        outcomes += s[i].no;
        held += s[i].held_out ? s[i].no : 0;
    }
    fprintf(out, "calibrate: %zu prompts, %zu outcomes of configured models (%zu of unknown models skipped); "
                 "prior_strength %g\n", n, outcomes, unmatched, lc.prior_strength);

    figures fb, fa;
    gr_route_learn_publish(before, nbefore);
    evaluate(cfg, &lc, s, n, &fb);
    gr_learned_rec fit[MAX_POOL], all[MAX_POOL];
    memset(fit, 0, sizeof fit);
    memset(all, 0, sizeof all);
    accumulate(cfg, s, n, false, false, fit);
    merge(before, nbefore, fit, cfg->nmodels);
    gr_route_learn_publish(fit, cfg->nmodels);
    evaluate(cfg, &lc, s, n, &fa);
    gr_route_learn_clear();
    fprintf(out, "held-out (every 5th prompt, %zu outcomes), fitted on the other %zu:\n", held, outcomes - held);
    fprintf(out, "  %-8s log loss %.4f  Brier %.4f  accuracy %.3f\n", "before", fb.logloss, fb.brier, fb.acc);
    fprintf(out, "  %-8s log loss %.4f  Brier %.4f  accuracy %.3f\n", "after", fa.logloss, fa.brier, fa.acc);
    for (size_t i = 0; i < cfg->nmodels; i++)
        if (fb.per[i])
            fprintf(out, "  %-28s observed %.3f  predicted before %.3f  after %.3f  (%zu held-out outcomes)\n",
                    cfg->models[i].name, fb.y_mean[i] / (double)fb.per[i], fb.p_mean[i] / (double)fb.per[i],
                    fa.p_mean[i] / (double)fa.per[i], fb.per[i]);
    if (dry_run) {
        fprintf(out, "dry run: nothing written\n");
        rc = 0;
        goto out;
    }
    accumulate(cfg, s, n, false, true, all);
    size_t written = 0;
    for (size_t i = 0; i < cfg->nmodels; i++) {
        if (!all[i].ratings) continue;
        if (gr_store_learned_add(st, &all[i]) != GR_OK) {
            fprintf(err, "route calibrate: writing the estimates of '%s' failed (%zu models written)\n", all[i].model,
                    written);
            goto out;
        }
        written++;
    }
    fprintf(out, "wrote the outcomes of all %zu prompts to the store: %zu models\n", n, written);
    rc = 0;
out:
    free(before);
    gr_store_close(st);
    free_samples(s, n);
    return rc;
}

void gr_route_learn_cli_load(const gr_config *cfg, FILE *err) {
    if (!gr_route_conf_of(cfg)->learning.enabled) return;
    gr_store *st = NULL;
    char msg[512];
    gr_learned_rec *recs = NULL;
    size_t n = 0;
    if (gr_store_open_migrated(gr_store_url(cfg), &st, msg, sizeof msg) != GR_OK ||
        gr_store_learned_list(st, &recs, &n) != GR_OK)
        fprintf(err, "route: note: the learned estimates could not be read (%s); explaining with the priors\n",
                st ? "store error" : msg);
    else
        gr_route_learn_publish(recs, n);
    free(recs);
    gr_store_close(st);
}
