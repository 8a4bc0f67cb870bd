/* service_metrics.c — scrape-time gauges of the services (service_metrics.h). */
#include "service_metrics.h"

#include "health.h"
#include "metrics.h"

static void collect_queues(gr_metrics_text *out, void *ud) {
    gr_services *s = ud;
    char labels[GR_METRICS_LABELS_CAP];
    gr_metrics_text_family(out, "gaterouter_queue_depth", "gauge",
                           "Work waiting in a queue now: store-executor jobs, ledger rows.");
    gr_store_exec_stats es = {0};
    if (s->exec) gr_store_exec_get_stats(s->exec, &es);
    gr_metrics_label(labels, 0, sizeof labels, "queue", "store_executor");
    gr_metrics_text_sample(out, "gaterouter_queue_depth", labels, es.queued);
    gr_ledger_stats ls = {0};
    if (s->ledger) gr_ledger_stats_get(s->ledger, &ls);
    gr_metrics_label(labels, 0, sizeof labels, "queue", "ledger");
    gr_metrics_text_sample(out, "gaterouter_queue_depth", labels, (double)ls.depth);
    gr_metrics_text_family(out, "gaterouter_queue_capacity", "gauge", "The bound of each queue (past it work is refused).");
    gr_metrics_label(labels, 0, sizeof labels, "queue", "ledger");
    gr_metrics_text_sample(out, "gaterouter_queue_capacity", labels, (double)ls.capacity);
    gr_metrics_text_family(out, "gaterouter_store_executor_jobs_total", "counter",
                           "Store-executor jobs by outcome: delivered, timed_out, rejected (queue full), late, skipped.");
    static const char *const outcome[] = {"delivered", "timed_out", "rejected", "late", "skipped"};
    const uint64_t v[] = {es.delivered, es.timed_out, es.rejected, es.late, es.skipped};
    for (size_t i = 0; i < GR_ARRAY_LEN(outcome); i++) {
        gr_metrics_label(labels, 0, sizeof labels, "outcome", outcome[i]);
        gr_metrics_text_sample(out, "gaterouter_store_executor_jobs_total", labels, (double)v[i]);
    }
    gr_metrics_text_family(out, "gaterouter_ledger_rows_total", "counter",
                           "Ledger rows by outcome: written, failed (the store refused the batch).");
    gr_metrics_label(labels, 0, sizeof labels, "outcome", "written");
    gr_metrics_text_sample(out, "gaterouter_ledger_rows_total", labels, (double)ls.written);
    gr_metrics_label(labels, 0, sizeof labels, "outcome", "failed");
    gr_metrics_text_sample(out, "gaterouter_ledger_rows_total", labels, (double)ls.failed);
}

static void breaker_sample(gr_health *h, void *ud) {
    gr_health_snapshot snap;
    gr_health_snapshot_get(h, &snap);
    char labels[GR_METRICS_LABELS_CAP];
    gr_metrics_label(labels, 0, sizeof labels, "deployment", gr_health_key(h));
    gr_metrics_text_sample(ud, "gaterouter_breaker_state", labels, (double)snap.state);
}

static void collect_breakers(gr_metrics_text *out, void *ud) {
    (void)ud;
    gr_metrics_text_family(out, "gaterouter_breaker_state", "gauge",
                           "Circuit breaker per deployment (provider/upstream_model): 0 closed, 1 open, 2 half-open.");
    gr_health_each(breaker_sample, out);
}

void gr_service_metrics_start(gr_services *s) {
    gr_metrics_collector_add(collect_queues, s);
    gr_metrics_collector_add(collect_breakers, NULL);
}

void gr_service_metrics_stop(gr_services *s) {
    gr_metrics_collector_remove(collect_queues, s);
    gr_metrics_collector_remove(collect_breakers, NULL);
}
