/* store_alert_sql.h — internal to the store backends: the statements of the
 * alert outbox (migration 6; store.h alert_put, alert_pending, alert_done),
 * written once in the SQL both SQLite and PostgreSQL accept. Not a public
 * header.
 *
 * One row per alert event, keyed by its idempotency key (features/alerts.c):
 * state 0 = pending, 1 = delivered, 2 = given up. The primary key is the
 * dedupe: an event raised again (after a restart, or on another instance
 * sharing the store) finds its row and is not sent twice. */
#ifndef GR_STORE_ALERT_SQL_H
#define GR_STORE_ALERT_SQL_H

/* $1 event key, $2 kind, $3 body, $4 now: a new pending alert, or nothing when the key exists */
#define GR_SQL_ALERT_PUT                                                                   \
    "INSERT INTO alert_outbox(event_key,kind,body,state,attempts,created_ms,updated_ms)"     \
    " VALUES($1,$2,$3,0,0,$4,$4) ON CONFLICT(event_key) DO NOTHING"

/* $1 limit -> event key, kind, body, attempts: the oldest pending alerts */
#define GR_SQL_ALERT_PENDING                                                               \
    "SELECT event_key,kind,body,attempts FROM alert_outbox WHERE state=0 ORDER BY created_ms, event_key LIMIT $1"

/* $1 state, $2 attempts, $3 now, $4 event key (numbered in order of first use: SQLite numbers $N so) */
#define GR_SQL_ALERT_DONE "UPDATE alert_outbox SET state=$1,attempts=$2,updated_ms=$3 WHERE event_key=$4"

#endif
