/* request_log.h — the finish handlers that record a request: the access-log
 * line and metrics (request_log.c), the ledger row (request_ledger.c). */
#ifndef GR_REQUEST_LOG_H
#define GR_REQUEST_LOG_H

#include "request.h"

void gr_request_log_register(void);
void gr_request_ledger_register(void);

#endif
