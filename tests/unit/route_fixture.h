/* route_fixture.h — builds small gr_config snapshots in C for the routing tests. */
#ifndef GR_ROUTE_FIXTURE_H
#define GR_ROUTE_FIXTURE_H

#include "config.h"
#include "health.h"
#include "route.h"

#include <stdlib.h>

#define FX_MAX_MODELS 8
#define FX_MAX_DEPS 4

typedef struct fixture {
    gr_config cfg;
    gr_provider_conf prov[4];
    gr_model_conf models[FX_MAX_MODELS];
    gr_deployment deps[FX_MAX_MODELS][FX_MAX_DEPS];
    char *fallbacks[FX_MAX_MODELS][4];
    char *aliases[FX_MAX_MODELS][2];
} fixture;

static inline void fx_init(fixture *f)
{
    memset(f, 0, sizeof *f);
    static const char *pn[4] = {"p1", "p2", "p3", "p4"};
    for (int i = 0; i < 4; i++)
        f->prov[i].name = (char *)pn[i];
    f->cfg.providers = f->prov;
    f->cfg.nproviders = 4;
    f->cfg.models = f->models;
}

/* price in micro-USD per Mtok (input = output = price) */
static inline gr_model_conf *fx_model(fixture *f, const char *name, uint32_t quality, int64_t price,
                                      uint32_t ctx, uint32_t caps, const char *strategy)
{
    size_t i = f->cfg.nmodels++;
    gr_model_conf *m = &f->models[i];
    m->name = (char *)name;
    m->quality = quality;
    m->prices.input_uusd_per_mtok = price;
    m->prices.output_uusd_per_mtok = price;
    m->prices.set = true;
    m->context_window = ctx;
    m->caps = caps;
    m->strategy = (char *)strategy;
    m->deployments = f->deps[i];
    m->fallbacks = f->fallbacks[i];
    m->aliases = f->aliases[i];
    return m;
}

static inline gr_deployment *fx_dep(fixture *f, gr_model_conf *m, int prov, const char *upstream,
                                    uint32_t weight)
{
    gr_deployment *d = &m->deployments[m->ndeployments++];
    d->provider = &f->prov[prov];
    d->upstream_model = (char *)upstream;
    d->weight = weight;
    return d;
}

static inline void fx_fallback(gr_model_conf *m, const char *name)
{
    m->fallbacks[m->nfallbacks++] = (char *)name;
}

/* Parse a JSON request and plan it (the request body stays alive in *doc). */
static inline gr_status fx_plan_json(const gr_config *cfg, const char *json, gr_route_state *st,
                                     struct gr_route_plan *plan, cJSON **doc, double quality)
{
    *doc = cJSON_Parse(json);
    gr_route_request req;
    char err[256];
    gr_status rc = gr_route_request_from_json(*doc, &req, err, sizeof err);
    if (rc) {
        memset(plan, 0, sizeof *plan);
        plan->result = GR_ROUTE_INVALID;
        snprintf(plan->error, sizeof plan->error, "%s", err);
        return rc;
    }
    req.quality = quality;
    req.now_us = 1000000;
    return gr_route_plan(cfg, &req, st, plan);
}

#endif
