/* x402_discovery.h — what the gateway sells, readable before the first
 * payment: the `bazaar` extension in every 402 (the endpoint's input and
 * output, as the x402 bazaar spec defines them) and the /.well-known/x402
 * document. Built from the running config by pay_x402.c (the same feature
 * unit), which owns prices, networks and assets (docs/X402.md "Discovery"). */
#ifndef GR_X402_DISCOVERY_H
#define GR_X402_DISCOVERY_H

#include "request.h"

#include <cjson/cJSON.h>

/* The endpoints x402 pays for. */
typedef struct gr_x402_paid_endpoint {
    const char *path;
    gr_endpoint ep;
} gr_x402_paid_endpoint;
const gr_x402_paid_endpoint *gr_x402_paid_endpoints(size_t *n);

/* extensions.bazaar = {info: {input, output}, schema} for endpoint ep, with
 * an example body for model (max_tokens > 0: in the example). false: ep is
 * not a paid model endpoint (nothing added). */
bool gr_x402_bazaar_add(cJSON *extensions, gr_endpoint ep, const char *model, int64_t max_tokens);

/* The /.well-known/x402 document: the resources under base (an absolute URL
 * prefix), each with its bazaar metadata for example_model, beside what the
 * offer (pay_x402's pricing object, taken over) lists. */
cJSON *gr_x402_well_known(cJSON *offer, const char *base, const char *example_model, int64_t max_tokens);

#endif
