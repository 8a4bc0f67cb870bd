/* pay_x402.c — x402 on the request path (see pay_x402.h). Until the x402
 * section is implemented this reports "disabled" and every hook is a no-op. */
#include "pay_x402.h"

#include "request.h"
#include "services.h"

gr_pay_x402 *gr_pay_x402_new(const gr_config *cfg, gr_store *store, char *err, size_t errlen) {
    if (err && errlen) err[0] = '\0';
    return NULL;
}

void gr_pay_x402_free(gr_pay_x402 *p) { (void)p; }

bool gr_pay_x402_applies(gr_request *r) { return r->w->svc && r->w->svc->x402 != NULL && false; }
bool gr_pay_x402_admit(gr_request *r) { return true; }
void gr_pay_x402_before_reply(gr_request *r) {}
void gr_pay_x402_finish(gr_request *r, gr_ledger_row *row) {}
