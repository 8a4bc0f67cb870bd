/* route_learn.c — the learned per-(model, skill) success estimates of the
 * auto router: routing.auto.learning, the Beta posterior, the ledger column
 * that carries a decision's skill mixture, and the process-wide snapshot of
 * the observation sums (see route_learn.h). */
#include "route_learn.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- config ---- */

const gr_conf_key gr_conf_routing_learning_keys[] = {
    {"enabled", GR_CONF_BOOL, GR_CONF_F(gr_route_learn_conf, enabled), 0, 1, "false", NULL,
     "ratings (POST /v1/feedback, `route calibrate`) adjust auto's predicted quality"},
    {"prior_strength", GR_CONF_FRACTION, GR_CONF_F(gr_route_learn_conf, prior_strength), 0.1, 100000, "20", NULL,
     "how many ratings the router's own prediction is worth per skill as a prior (higher = learns slower)"},
    {"refresh_ms", GR_CONF_MS, GR_CONF_F(gr_route_learn_conf, refresh_ms), 100, 86400000, "10s", NULL,
     "how often each instance re-reads the learned estimates from the store (off the request path)"},
    {"max_comment_bytes", GR_CONF_BYTES, GR_CONF_F(gr_route_learn_conf, max_comment_bytes), 0, 65536, "4KiB", NULL,
     "longest `comment` POST /v1/feedback accepts (longer: 400)"},
    GR_CONF_END,
};

void gr_route_learn_conf_default(gr_route_learn_conf *c) {
    *c = (gr_route_learn_conf){false, GR_LEARN_DEFAULT_PRIOR_STRENGTH, GR_LEARN_DEFAULT_REFRESH_MS,
                               GR_LEARN_DEFAULT_MAX_COMMENT_BYTES};
}

void gr_route_learn_conf_parse(const cJSON *sec, gr_route_learn_conf *c, gr_conf_err *e) {
    gr_route_learn_conf_default(c);
    gr_conf_load_keys(sec, "routing.auto.learning", gr_conf_routing_learning_keys, c, e);
}

/* ---- Beta arithmetic ---- */

double gr_route_learn_posterior(double prior, double n0, double s, double f) {
    if (!(prior > 0.0)) prior = 0.0;
    if (prior > 1.0) prior = 1.0;
    if (!(s > 0.0)) s = 0.0; /* sums can drift a hair below 0 after take-backs */
    if (!(f > 0.0)) f = 0.0;
    double den = n0 + s + f;
    double m = den > 0.0 ? (n0 * prior + s) / den : prior;
    return m < 0.005 ? 0.005 : m > 0.995 ? 0.995 : m;
}

/* ---- the ledger column ---- */

void gr_route_learn_format(const char *model, const double mix[GR_LEARN_SKILLS], double predicted, double difficulty,
                           char *buf, size_t cap) {
    buf[0] = '\0';
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model", model);
    cJSON *a = cJSON_AddArrayToObject(o, "mix");
    for (int k = 0; k < GR_LEARN_SKILLS; k++)
        cJSON_AddItemToArray(a, cJSON_CreateNumber(round(mix[k] * 1e4) / 1e4));
    cJSON_AddNumberToObject(o, "predicted", round(predicted * 1e6) / 1e6);
    cJSON_AddNumberToObject(o, "difficulty", round(difficulty * 1e4) / 1e4);
    if (!cJSON_PrintPreallocated(o, buf, (int)(cap > 5 ? cap - 5 : 0), false)) buf[0] = '\0';
    cJSON_Delete(o);
}

gr_status gr_route_learn_parse(const char *text, char *model, size_t model_cap, double mix[GR_LEARN_SKILLS],
                               double *predicted) {
    for (int k = 0; k < GR_LEARN_SKILLS; k++) mix[k] = 0.0;
    if (!text || !*text) return GR_ERR_INVALID;
    cJSON *o = cJSON_Parse(text);
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "model");
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, "mix");
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(o, "predicted");
    gr_status rc = GR_ERR_INVALID;
    if (cJSON_IsString(m) && *m->valuestring && cJSON_IsArray(a) && cJSON_GetArraySize(a) == GR_LEARN_SKILLS &&
        cJSON_IsNumber(p) && p->valuedouble >= 0.0 && p->valuedouble <= 1.0) {
        *predicted = p->valuedouble;
        double total = 0.0;
        bool ok = true;
        for (int k = 0; k < GR_LEARN_SKILLS; k++) {
            const cJSON *v = cJSON_GetArrayItem(a, k);
            ok = ok && cJSON_IsNumber(v) && v->valuedouble >= 0.0 && v->valuedouble <= 1.0;
            mix[k] = ok ? v->valuedouble : 0.0;
            total += mix[k];
        }
        if (ok && fabs(total - 1.0) <= 0.01) {
            snprintf(model, model_cap, "%s", m->valuestring);
            rc = GR_OK;
        }
    }
    if (rc != GR_OK)
        for (int k = 0; k < GR_LEARN_SKILLS; k++) mix[k] = 0.0; /* a refused mixture learns nothing */
    cJSON_Delete(o);
    return rc;
}

/* ---- the snapshot ---- */

/* Replaced whole by the refresher (a few hundred bytes per model); readers
 * copy one record under the shared lock. */
static pthread_rwlock_t g_lock = PTHREAD_RWLOCK_INITIALIZER;
static gr_learned_rec *g_recs;
static size_t g_n;

void gr_route_learn_publish(const gr_learned_rec *recs, size_t n) {
    gr_learned_rec *copy = n ? gr_xmalloc(n * sizeof *copy) : NULL;
    if (n) memcpy(copy, recs, n * sizeof *copy);
    pthread_rwlock_wrlock(&g_lock);
    gr_learned_rec *old = g_recs;
    g_recs = copy;
    g_n = n;
    pthread_rwlock_unlock(&g_lock);
    free(old);
}

void gr_route_learn_clear(void) { gr_route_learn_publish(NULL, 0); }

bool gr_route_learn_lookup(const char *model, gr_learned_rec *out) {
    bool found = false;
    pthread_rwlock_rdlock(&g_lock);
    for (size_t i = 0; i < g_n && !found; i++)
        if (!strcmp(g_recs[i].model, model)) {
            *out = g_recs[i];
            found = out->ratings > 0;
        }
    pthread_rwlock_unlock(&g_lock);
    return found;
}

static double logit(double p) { return log(p / (1.0 - p)); }

double gr_route_learn_adjust(const gr_route_learn_conf *c, const char *model, const double mix[GR_LEARN_SKILLS], double q,
                             gr_route_learned *shown) {
    *shown = (gr_route_learned){q, q, 0.0, 0.0, 0};
    gr_learned_rec rec;
    if (!c || !c->enabled || !gr_route_learn_lookup(model, &rec)) return q;
    double shift = 0.0, wsum = 0.0;
    for (int k = 0; k < GR_LEARN_SKILLS; k++) {
        /* sums can drift a hair below 0 after take-backs */
        double sk = rec.s[k] > 0.0 ? rec.s[k] : 0.0, fk = rec.f[k] > 0.0 ? rec.f[k] : 0.0, n = sk + fk;
        if (!(n > 1e-9) || !(mix[k] > 0.0)) continue; /* no ratings in this skill: the prior stands */
        double expected = gr_route_learn_posterior(rec.e[k] / n, 0.0, 0.0, 0.0); /* clamped mean prediction */
        double theta = gr_route_learn_posterior(expected, c->prior_strength, sk, fk);
        shift += mix[k] * (logit(theta) - logit(expected));
        shown->observed += mix[k] * sk / n;
        shown->expected += mix[k] * expected;
        wsum += mix[k];
    }
    if (wsum > 0.0) {
        shown->observed /= wsum;
        shown->expected /= wsum;
    }
    double qc = q < 1e-9 ? 1e-9 : q > 1.0 - 1e-9 ? 1.0 - 1e-9 : q;
    shown->quality = 1.0 / (1.0 + exp(-(logit(qc) + shift)));
    shown->ratings = rec.ratings;
    return shown->quality;
}
