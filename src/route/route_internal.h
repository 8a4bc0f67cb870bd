/* route_internal.h — what the files of the router (route.c, route_input.c,
 * route_order.c, route_plan_auto.c, route_retry.c, route_explain.c) share:
 * limits, the strategy and the planning context, and the functions one file
 * calls in another. Private to them: the public face is route.h. */
#ifndef GR_ROUTE_INTERNAL_H
#define GR_ROUTE_INTERNAL_H

#include "route.h"

#define MAX_GROUP 64          /* deployments considered per model */
#define DEFAULT_OUT_TOKENS 512 /* output estimate when max_tokens is unset */
#define IMAGE_TOKENS 1000      /* prompt-token estimate per image part */
#define MAX_EXPLAIN_FILE (16u << 20)

enum { WHY_OK = 0, WHY_CAPS, WHY_CTX };

typedef enum {
    STRAT_WEIGHTED = 0,
    STRAT_ROUND_ROBIN,
    STRAT_LEAST_LATENCY,
    STRAT_LEAST_BUSY,
    STRAT_LEAST_COST,
} strategy;

typedef struct {
    const gr_config *cfg;
    const gr_route_request *req;
    gr_route_state *st;
    struct gr_route_plan *plan;
    uint64_t now;
    gr_route_sort sort;
} ctx;

/* ---- shared between the files ---- */
uint64_t route_mono_ns(void);
uint32_t route_model_caps(const gr_model_conf *m);
const gr_prices *route_dep_prices(const gr_model_conf *m, const gr_deployment *d);
int64_t route_est_cost(const gr_prices *p, const gr_route_request *req);
const char *route_dep_provider_name(const gr_deployment *d);
int route_list_pos(const gr_str *list, size_t n, const gr_deployment *d);
const char *route_model_reject_reason(const gr_model_conf *m, const gr_route_request *req, int *why);
void route_appendf(char *buf, size_t cap, const char *fmt, ...) GR_PRINTF(3, 4);
void route_set_result(struct gr_route_plan *p, gr_route_result r, const char *fmt, ...) GR_PRINTF(3, 4);
gr_route_refusal route_refusal_of(const ctx *c, const gr_model_conf *m, gr_str auto_policy);
size_t route_add_group(ctx *c, const gr_model_conf *m, gr_cand_kind kind, size_t *eligible_out,
                       const char **strat_name);
void route_plan_auto(ctx *c, gr_str policy);

#endif
