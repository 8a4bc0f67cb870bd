/* auth.c — client authentication: static keys from `auth.keys` (no limits)
 * and the key table (virtual keys from the store and `keys:` in config, with
 * budgets and rate limits), all compared in constant time. It fails closed:
 * only `auth.mode: open` admits a request without a known key, and with x402
 * on a request either pays (x402's own authenticator, registered before this
 * one) or presents a known key (an unknown one is 401). */
#include "auth.h"

#include "pipeline.h"
#include "services.h"
#include "static_keys.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static void mask(const char *k, char *out, size_t cap) {
    size_t n = strlen(k);
    if (n <= 8) snprintf(out, cap, "****");
    else snprintf(out, cap, "%.4s****%s", k, k + n - 4);
}

/* AUTHENTICATE, last: decides by auth.mode; a payment authenticator
 * (x402) registered before it has already taken the requests it pays for. */
static gr_phase_rc phase_authenticate(gr_request *r) {
    const gr_config *c = r->cfg;
    /* Never open while x402 is on (config.c refuses the pair; a reload cannot
     * sneak it in, the payment service lives from start to exit). */
    bool open = c->auth_mode == GR_AUTH_OPEN && !(r->w->svc && r->w->svc->x402);
    const char *k = gr_request_presented_key(r);
    if (!k || !*k) {
        if (open) {
            r->key_name = "open";
            return GR_PHASE_DONE;
        }
        gr_request_fail_code(
                r, GR_EC_MISSING_API_KEY, NULL,
                "You didn't provide an API key. You need to provide your API key in an Authorization header "
                "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).");
        return GR_PHASE_STOP;
    }
    size_t klen = strlen(k);
    const gr_api_key *match = gr_config_static_key(c, k);
    if (match) {
        r->key_name = match->name;
        return GR_PHASE_DONE;
    }
    gr_keys *table = r->w->svc ? r->w->svc->keys : NULL;
    if (table && gr_keys_count(table) > 0) {
        gr_key_verdict v = {0};
        gr_key_entry *e = NULL;
        if (gr_keys_authenticate(table, k, klen, (int64_t)gr_wall_ms(), &e, &v)) {
            r->key = e;
            r->key_name = gr_keys_id(e);
            return GR_PHASE_DONE;
        }
        /* a known key that may not be used: revoked or expired (401 with its
         * own code), over a limit (429/402)... — say which */
        if (v.status && (v.status != 401 || v.error != GR_EC_INVALID_API_KEY)) {
            gr_request_fail_code(r, v.error, NULL, "%s", v.message);
            return GR_PHASE_STOP;
        }
    }
    if (open) { /* an unknown key on an open gateway (SDKs always send one) */
        r->key_name = "open";
        return GR_PHASE_DONE;
    }
    char masked[32];
    mask(k, masked, sizeof(masked));
    gr_request_fail_code(r, GR_EC_INVALID_API_KEY, NULL, "Incorrect API key provided: %s.", masked);
    return GR_PHASE_STOP;
}

void gr_auth_register(void) { gr_pipeline_on_phase(GR_PHASE_AUTHENTICATE, phase_authenticate); }
