/* feature_list.c — the features registered into the request pipeline, in the
 * order their handlers run within one stage (see feature_list.h). */
#include "feature_list.h"

#include "pay_x402.h"
#include "proxy.h"
#include "request_log.h"

#include <pthread.h>

static void register_all(void) {
    gr_proxy_register();         /* cost, key and cluster settlement, route headers, response cache */
    gr_pay_x402_register();      /* receipt headers, settlement and the ledger's x402 columns */
    gr_request_log_register();   /* access log, metrics */
    gr_request_ledger_register(); /* the ledger row */
}

void gr_features_register(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, register_all);
}
