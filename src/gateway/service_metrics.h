/* service_metrics.h — the /metrics families read at scrape time from the
 * process's services: store-executor and ledger queue depths, and each
 * deployment's circuit-breaker state (service_metrics.c). Registered as
 * metrics collectors (metrics.h) after the services open, removed before
 * they close. */
#ifndef GR_SERVICE_METRICS_H
#define GR_SERVICE_METRICS_H

#include "services.h"

void gr_service_metrics_start(gr_services *s);
void gr_service_metrics_stop(gr_services *s);

#endif
