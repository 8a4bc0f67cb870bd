/* alerts.h — webhook alerts (alerts.c): a key crossing a share of one of its
 * budgets, a deployment's breaker opening and closing, an x402 settlement
 * failing, the ledger writer falling behind. Each event is one signed JSON
 * POST to `alerts.url`.
 *
 * Producers never wait: budget crossings are seen in a finish handler
 * (after the key's reservation settled), breakers and settlements arrive
 * through ops_event.h, the ledger's depth is polled by the sender. Each event
 * gets an idempotency key (key + budget + period + threshold; deployment +
 * transition; request id; ledger episode) and goes into a bounded queue
 * (full: dropped and counted). The sender thread writes it to the store's
 * alert outbox (store.h alert_put, migration 6) — a key already there was
 * raised before and is not sent again — then POSTs it, signed
 * (X-GateRouter-Signature: t=<unix s>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>),
 * retrying with exponential back-off and jitter up to max_attempts, and marks
 * the row delivered or given up. Pending rows are loaded at start, so a
 * restart (or kill -9) delivers what was pending and never repeats what was
 * delivered. A store that cannot be written does not stop an alert: it is
 * delivered from memory (without the restart guarantee).
 *
 * Counts: gaterouter_export_records_total{sink="alerts",result=
 * exported|failed|dropped|deduplicated}. Started with the start-up config,
 * stopped after the workers. */
#ifndef GR_ALERTS_H
#define GR_ALERTS_H

#include "config_schema.h"
#include "ledger.h"
#include "request.h"

extern const gr_conf_key gr_conf_alerts_keys[];
void *gr_alerts_conf_parse(const cJSON *sec, const gr_config *c, gr_conf_err *e);
void gr_alerts_conf_free(void *conf);

void gr_alerts_register(void);
/* store_url: the main store (the sender opens its own handle); ledger: polled for depth (borrowed, may be NULL). */
GR_MUST_CHECK gr_status gr_alerts_start(const gr_config *cfg, const char *store_url, gr_ledger *ledger, char *err,
                                        size_t errlen);
void gr_alerts_stop(void);

#endif
