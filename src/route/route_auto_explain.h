/* route_auto_explain.h — the auto router's decision in numbers, for the
 * x-gaterouter-route header, POST /v1/route and `gaterouter route --explain`:
 * the value knob (USD per good answer), the prompt's skill and difficulty, and
 * per capable model its predicted quality, expected cost and bar (the quality
 * it would need to be chosen at this value). Reads a finished plan only. */
#ifndef GR_ROUTE_AUTO_EXPLAIN_H
#define GR_ROUTE_AUTO_EXPLAIN_H

#include "route.h"

#include <stdio.h>

/* Appends " value=$V skill=S task=T est=name:q/$cost/bar,..." (the choice first)
 * to the NUL-terminated buf of capacity cap; truncates safely. */
void gr_route_auto_reason(const struct gr_route_plan *p, char *buf, size_t cap);

/* Adds the "auto" object to a plan's JSON. */
void gr_route_auto_to_json(const struct gr_route_plan *p, cJSON *o);

/* The auto lines of `gaterouter route --explain`. */
void gr_route_auto_explain_print(const struct gr_route_plan *p, FILE *out);

#endif
