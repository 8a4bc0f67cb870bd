/* admin_report.h — the web console's read endpoints (docs/KEYS.md §6):
 * reports computed from raw ledger rows (gr_store_ledger_scan) and the x402
 * store, as JSON or CSV. Transport-free like admin.c; run on the store
 * executor (api_admin.c).
 *
 *   GET /admin/report/whoami       who the bearer is: {"role":"admin"} or its key
 *   GET /admin/report/usage        ?by=A[,B] (key|model|provider|day) &from&to&key_id&model&provider
 *                                  &format=json|csv: sums per group (one or two dimensions)
 *   GET /admin/report/rows         ?from&to&key_id&model&provider&status=ok|error&limit&format:
 *                                  raw ledger rows, newest first
 *   GET /admin/report/timeseries   ?range=hour|day|month&key_id: requests, errors, p50/p99
 *                                  latency and TTFT, tokens, spend per bucket, spend by model
 *                                  and provider
 *   GET /admin/report/routing      ?from&to: share per model under `auto`, recent decisions
 *   GET /admin/report/payments     ?from&to: x402 quotes (402 answers), payments by payer,
 *                                  settlements, credit, revenue per day (admin only)
 *
 * Who may read: the admin key reads everything; a virtual key reads its own
 * rows only (its key_id is forced; asking for another key's is 403), and
 * not the routing and payments reports (403). Each report reads at most
 * ctx->report_max_rows ledger rows (newest first) and says "truncated"
 * when there were more. */
#ifndef GR_ADMIN_REPORT_H
#define GR_ADMIN_REPORT_H

#include "admin.h"

#define GR_ADMIN_REPORT_DEFAULT_MAX_ROWS 100000

/* True for the paths above. */
bool gr_admin_report_owns(const char *path);

/* Returns the HTTP status; *out is the malloc'd body (*out_len bytes) and
 * *ctype its content type (static). */
int gr_admin_report_handle(gr_admin_ctx *ctx, const char *method, const char *path, const char *query,
                           const char *bearer, char **out, size_t *out_len, const char **ctype);

#endif
