/* output_cap.h — the output-token cap an upstream attempt carries, so that
 * what a request can be billed for output never exceeds what was reserved
 * for it before it ran:
 *   - x402: the paid cap (r->cap_max_tokens), which wins over a larger or
 *     missing client cap (on the client's field, else `max_tokens`);
 *   - a key's budget hold (r->default_output_cap): a request that names no
 *     cap of its own reserved its model's `max_output_tokens` (or 4096); each
 *     attempt sends exactly that — the attempt's model's — as
 *     `max_completion_tokens` (`max_tokens` on /v1/completions,
 *     `max_output_tokens` on a relayed Responses request), since an
 *     upstream left to its own default may generate more than was held. */
#ifndef GR_OUTPUT_CAP_H
#define GR_OUTPUT_CAP_H

#include "request.h"

#include <cjson/cJSON.h>
#include <stdbool.h>

/* Whether body names an output cap of its own (max_completion_tokens,
 * max_tokens or max_output_tokens, a number >= 1). */
bool gr_output_cap_named(const cJSON *body);

/* Sets the attempt's cap on tree (the body about to be sent); field: the
 * field to use when the client named none (NULL: the endpoint's own). True
 * when tree changed and must be rendered again. */
bool gr_output_cap_apply(gr_request *r, cJSON *tree, const char *field);

/* The same for a call to `model` other than the attempt's (auto:verify's
 * cheap calls). */
bool gr_output_cap_apply_for(gr_request *r, const gr_model_conf *model, cJSON *tree, const char *field);

#endif
