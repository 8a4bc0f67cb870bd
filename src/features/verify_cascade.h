/* verify_cascade.h — the request side of `model: "auto:verify"`: the cheap
 * calls (in parallel, non-streamed), the accept rule (verify_agree.h; code
 * and single answers are checked by the configured verifier or a self-check
 * call), then either the accepted answer (JSON, or replayed as SSE chunks in
 * the client's format) or the escalation to plan->cand[0] through the
 * proxy's ordinary attempts (streamed live). Part of the proxy feature (its
 * UPSTREAM handler runs just before the proxy's; proxy.c reports costs and
 * usage through the functions below).
 *
 * Billing: every call is metered; r->cost_nusd is their sum (usage.cost),
 * usage.verify itemises them, the route header says what happened, the
 * ledger has one row per call: the served call under the request id, the
 * others under "<id>.v1", "<id>.v2", "<id>.chk".
 *
 * State: one cascade per request in the feature's context slot (request
 * pool); its transfers and timer are cancelled at GR_FINISH_UPSTREAM, the
 * answers' trees freed at GR_FINISH_RELEASE. */
#ifndef GR_VERIFY_CASCADE_H
#define GR_VERIFY_CASCADE_H

#include "request.h"

/* Registers the UPSTREAM handler and the finish handlers (from gr_proxy_register, before its UPSTREAM handler). */
void gr_verify_cascade_register(void);

/* true when r ran a cascade (usage.verify then itemises its calls). */
bool gr_verify_cascade_ran(const gr_request *r);
/* true when a cheap answer was accepted (r->cand is that cheap call's candidate). */
bool gr_verify_cascade_accepted(const gr_request *r);

/* nano-USD of r's cascade calls other than the one being served (0 without a cascade). */
int64_t gr_verify_cascade_prior_cost(const gr_request *r);

/* Adds usage.verify {outcome, reason, calls: [...]} to a response's usage
 * object (no-op without a cascade or when usage is not an object). */
void gr_verify_cascade_annotate(gr_request *r, cJSON *usage);

#endif
