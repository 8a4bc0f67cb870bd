/* route_verify.c — the `auto:verify` cascade's config, plan, worst case and
 * explanation (see route_verify.h). */
#include "route_verify.h"

#include "route_conf.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- config ---- */

static const char *const agree_names[] = {"normalised", "exact", NULL}; /* order of gr_agree_mode */

#define V(f) GR_CONF_F(gr_verify_conf, f)
const gr_conf_key gr_conf_routing_auto_verify_keys[] = {
    {"cheap_models", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL,
     "models asked first (names or aliases); default: the cheapest capable models"},
    {"max_cheap", GR_CONF_COUNT, V(max_cheap), 1, GR_ROUTE_VERIFY_MAX_CHEAP, "2", NULL,
     "cheap calls per request, in parallel: 2 must agree; 1 is checked like code (verifier or self-check)"},
    {"verifier", GR_CONF_STRING, V(verifier), 0, 0, NULL, NULL,
     "model that checks code answers; default: the cheap model checks its own answer"},
    {"agree", GR_CONF_ENUM, V(agree), 0, 0, "normalised", agree_names,
     "how answers are compared: final short answers normalised, or whole replies"},
    {"timeout_ms", GR_CONF_MS, V(timeout_ms), 100, 600000, "30s", NULL,
     "the cheap calls and the check must end within this, else the request escalates"},
    {"check_max_tokens", GR_CONF_COUNT, V(check_max_tokens), 1, 256, "16", NULL,
     "output cap of the code check call (it answers PASS or FAIL)"},
    GR_CONF_END,
};
#undef V

static const gr_model_conf *find_model(const gr_config *cfg, const char *name) {
    return gr_model_lookup(cfg->models, cfg->nmodels, name, strlen(name));
}

void gr_verify_conf_parse(const cJSON *sec, const gr_config *cfg, gr_verify_conf *out, gr_conf_err *e) {
    memset(out, 0, sizeof *out);
    gr_conf_load_keys(sec, "routing.auto.verify", gr_conf_routing_auto_verify_keys, out, e);
    if (e->failed) return;
    if (out->verifier) {
        const gr_model_conf *m = find_model(cfg, out->verifier);
        if (!m) {
            gr_conf_fail(e, "routing.auto.verify.verifier: unknown model '%s'", out->verifier);
            return;
        }
        free(out->verifier);
        out->verifier = gr_xstrdup(m->name);
    }
    const cJSON *list = cJSON_IsObject(sec) ? cJSON_GetObjectItemCaseSensitive(sec, "cheap_models") : NULL;
    if (list && !cJSON_IsNull(list))
        (void)gr_route_conf_model_list(list, cfg, "routing.auto.verify.cheap_models", &out->cheap_models,
                                       &out->ncheap_models, e);
}

void gr_verify_conf_dispose(gr_verify_conf *c) {
    if (!c) return;
    for (size_t i = 0; i < c->ncheap_models; i++) free(c->cheap_models[i]);
    free(c->cheap_models);
    gr_conf_free_keys(gr_conf_routing_auto_verify_keys, c);
    memset(c, 0, sizeof *c);
}

const gr_verify_conf *gr_verify_conf_of(const gr_config *cfg) { return &gr_route_conf_of(cfg)->verify; }

/* ---- plan ---- */

static int first_cand_of(const struct gr_route_plan *p, const gr_model_conf *m) {
    for (size_t i = 0; i < p->ncand; i++)
        if (p->cand[i].model == m) return (int)i;
    return -1;
}

static bool listed(const gr_verify_conf *vc, const gr_model_conf *m) {
    if (!vc->ncheap_models) return true;
    for (size_t i = 0; i < vc->ncheap_models; i++)
        if (m->name && !strcmp(vc->cheap_models[i], m->name)) return true;
    return false;
}

void gr_route_verify_choose(const gr_config *cfg, struct gr_route_plan *plan) {
    const gr_verify_conf *vc = gr_verify_conf_of(cfg);
    gr_route_verify_plan *v = &plan->verify;
    v->asked = true;
    v->on = false;
    v->ncheap = 0;
    v->checker = -1;
    v->check_max_tokens = vc->check_max_tokens;
    v->timeout_ms = vc->timeout_ms;
    v->agree = (uint8_t)vc->agree;
    if (plan->result != GR_ROUTE_OK || plan->auto_chosen < 0 || !plan->ncand) {
        v->off = "no-plan";
        return;
    }
    const gr_route_auto_cand *strong = &plan->autoc[plan->auto_chosen];
    /* the cheapest capable models below the escalation's expected cost, with a candidate */
    bool used[GR_ROUTE_MAX_CANDIDATES] = {false};
    uint32_t want = vc->max_cheap ? vc->max_cheap : GR_ROUTE_VERIFY_MAX_CHEAP;
    while (v->ncheap < want) {
        int best = -1, best_cand = -1;
        for (size_t i = 0; i < plan->nautoc; i++) {
            const gr_route_auto_cand *a = &plan->autoc[i];
            if (used[i] || (int)i == plan->auto_chosen || !listed(vc, a->model) || !(a->cost_usd < strong->cost_usd))
                continue;
            int ci = first_cand_of(plan, a->model);
            if (ci <= 0) continue; /* no available deployment (or it is the escalation itself) */
            if (best < 0 || a->cost_usd < plan->autoc[best].cost_usd) best = (int)i, best_cand = ci;
        }
        if (best < 0) break;
        used[best] = true;
        v->cheap[v->ncheap++] = (int8_t)best_cand;
    }
    if (!v->ncheap) {
        v->off = plan->nautoc > 1 ? "no-cheaper-candidate" : "one-model";
        return;
    }
    v->on = true;
    v->checker = v->cheap[0];
    if (vc->verifier) {
        const gr_model_conf *m = find_model(cfg, vc->verifier);
        int ci = m ? first_cand_of(plan, m) : -1;
        if (ci >= 0) {
            v->checker = (int8_t)ci;
            v->checker_is_verifier = true;
        }
    }
}

/* ---- worst case ---- */

static int64_t add_sat(int64_t a, int64_t b) { return a > INT64_MAX - b ? INT64_MAX : a + b; }

int64_t gr_route_plan_max_cost(const struct gr_route_plan *plan, int64_t answer_max, gr_route_call_max_fn fn,
                               void *arg) {
    int64_t worst = 0;
    if (!plan) return 0;
    for (size_t i = 0; i < plan->ncand; i++) {
        int64_t m = fn(&plan->cand[i], 0, 0, arg);
        if (m > worst) worst = m;
    }
    const gr_route_verify_plan *v = &plan->verify;
    if (!v->on) return worst;
    for (uint8_t i = 0; i < v->ncheap; i++) worst = add_sat(worst, fn(&plan->cand[v->cheap[i]], 0, 0, arg));
    if (v->checker >= 0) {
        int64_t extra = add_sat(answer_max > 0 ? answer_max : 0, GR_VERIFY_CHECK_PROMPT_TOKENS);
        worst = add_sat(worst, fn(&plan->cand[v->checker], extra, v->check_max_tokens, arg));
    }
    return worst;
}

int64_t gr_route_plan_max_tokens(const struct gr_route_plan *plan, int64_t prompt, int64_t out_max) {
    int64_t one = add_sat(prompt > 0 ? prompt : 0, out_max > 0 ? out_max : 0);
    if (!plan || !plan->verify.on) return one;
    int64_t total = one;
    for (uint8_t i = 0; i < plan->verify.ncheap; i++) total = add_sat(total, one);
    if (plan->verify.checker >= 0) /* the question, the answer, the instructions, the verdict */
        total = add_sat(total, add_sat(one, GR_VERIFY_CHECK_PROMPT_TOKENS + (int64_t)plan->verify.check_max_tokens));
    return total;
}

/* ---- explain ---- */

static void appendf(char *buf, size_t cap, const char *fmt, ...) GR_PRINTF(3, 4);
static void appendf(char *buf, size_t cap, const char *fmt, ...) {
    size_t l = strlen(buf);
    if (l + 1 >= cap) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + l, cap - l, fmt, ap);
    va_end(ap);
}

static const char *cand_model(const struct gr_route_plan *p, int i) {
    return i >= 0 && (size_t)i < p->ncand && p->cand[i].model->name ? p->cand[i].model->name : "?";
}

void gr_route_verify_reason(const struct gr_route_plan *plan, char *buf, size_t cap) {
    const gr_route_verify_plan *v = &plan->verify;
    if (!v->asked) return;
    if (!v->on) {
        appendf(buf, cap, " verify=off:%s", v->off ? v->off : "?");
        return;
    }
    appendf(buf, cap, " verify=plan:");
    for (uint8_t i = 0; i < v->ncheap; i++) appendf(buf, cap, "%s%s", i ? "+" : "", cand_model(plan, v->cheap[i]));
    appendf(buf, cap, ">%s", cand_model(plan, 0));
}

static const gr_route_auto_cand *autoc_of(const struct gr_route_plan *p, const gr_model_conf *m) {
    for (size_t i = 0; i < p->nautoc; i++)
        if (p->autoc[i].model == m) return &p->autoc[i];
    return NULL;
}

static cJSON *model_json(const struct gr_route_plan *p, int ci) {
    cJSON *o = cJSON_CreateObject();
    const gr_route_candidate *c = &p->cand[ci];
    cJSON_AddStringToObject(o, "model", c->model->name ? c->model->name : "?");
    cJSON_AddStringToObject(o, "upstream_model", c->dep->upstream_model ? c->dep->upstream_model : "?");
    const gr_route_auto_cand *a = autoc_of(p, c->model);
    if (a) {
        cJSON_AddNumberToObject(o, "predicted_quality", a->quality);
        cJSON_AddNumberToObject(o, "expected_cost_usd", a->cost_usd);
    }
    return o;
}

void gr_route_verify_to_json(const struct gr_route_plan *plan, cJSON *o) {
    const gr_route_verify_plan *v = &plan->verify;
    if (!v->asked) return;
    cJSON *j = cJSON_AddObjectToObject(o, "verify");
    cJSON_AddBoolToObject(j, "cascade", v->on);
    if (!v->on) {
        cJSON_AddStringToObject(j, "off", v->off ? v->off : "?");
        return;
    }
    cJSON_AddStringToObject(j, "agree", v->agree == GR_AGREE_EXACT ? "exact" : "normalised");
    cJSON_AddNumberToObject(j, "timeout_ms", v->timeout_ms);
    cJSON *cheap = cJSON_AddArrayToObject(j, "cheap");
    double cheap_cost = 0, p_accept = 1;
    for (uint8_t i = 0; i < v->ncheap; i++) {
        cJSON_AddItemToArray(cheap, model_json(plan, v->cheap[i]));
        const gr_route_auto_cand *a = autoc_of(plan, plan->cand[v->cheap[i]].model);
        if (a) cheap_cost += a->cost_usd;
        p_accept *= a ? a->quality : 0; /* every cheap answer good (agreement on a wrong answer ignored) */
    }
    cJSON *esc = model_json(plan, 0);
    cJSON_AddItemToObject(j, "escalate_to", esc);
    cJSON *chk = model_json(plan, v->checker);
    cJSON_AddStringToObject(chk, "role", v->checker_is_verifier ? "verifier" : "self-check");
    cJSON_AddNumberToObject(chk, "max_tokens", v->check_max_tokens);
    cJSON_AddItemToObject(j, "code_check", chk);
    const gr_route_auto_cand *s = autoc_of(plan, plan->cand[0].model);
    /* what the two outcomes are expected to cost (the check call only for code answers) */
    cJSON_AddNumberToObject(j, "expected_cost_if_accepted_usd", cheap_cost);
    cJSON_AddNumberToObject(j, "expected_cost_if_escalated_usd", cheap_cost + (s ? s->cost_usd : 0));
    cJSON_AddNumberToObject(j, "expected_cost_direct_usd", s ? s->cost_usd : 0);
    /* a rough expectation from the predicted qualities: the cheap answers are all good that often */
    cJSON_AddNumberToObject(j, "p_accept_estimate", p_accept);
    cJSON_AddNumberToObject(j, "expected_cost_usd", cheap_cost + (1 - p_accept) * (s ? s->cost_usd : 0));
}
