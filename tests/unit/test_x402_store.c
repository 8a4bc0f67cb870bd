/* test_x402_store.c — the x402 payment store (x402_store.h) on the store's
 * backend: nonce reservation (once, and exactly one winner among 20 threads
 * on 20 connections), pruning, credit that never goes negative under
 * concurrent takes, settlement jobs, upto records, payment lookups and the
 * ledger update, the sending lease of a settlement job, payment-identifier
 * ids (taken once among 20 threads, the kept reply, freed, expired). SQLite by default, PostgreSQL when GR_TEST_STORE_URL is set
 * (test_x402_store_pg, store_test_url.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "store.h"
#include "store_test_url.h"
#include "x402_store.h"

#define NTHREADS 20

typedef struct fixture {
    char dir[64];
    char url[256];
    gr_x402_store *xs;
} fixture;

static gr_x402_store *open_x(const fixture *f) {
    char err[256] = "";
    gr_x402_store *xs = NULL;
    if (gr_x402_store_open(f->url, &xs, err, sizeof err) != GR_OK) fprintf(stderr, "x402 store: %s\n", err);
    return xs;
}

static int setup(void **st) {
    fixture *f = gr_xcalloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/gr_test_x402st_XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    gr_test_store_url(f->url, sizeof f->url, f->dir, "x402.db");
    /* the main store's schema first, as the gateway does: the ledger table */
    char err[256];
    gr_store *main_store = NULL;
    if (gr_store_open_migrated(f->url, &main_store, err, sizeof err) != GR_OK) {
        fprintf(stderr, "%s\n", err);
        free(f);
        return -1;
    }
    gr_store_close(main_store);
    f->xs = open_x(f);
    if (!f->xs) {
        free(f);
        return -1;
    }
    *st = f;
    return 0;
}

static int teardown(void **st) {
    fixture *f = *st;
    gr_x402_store_close(f->xs);
    gr_test_store_cleanup();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    int rc = system(cmd);
    free(f);
    return rc == 0 ? 0 : -1;
}

static void nonce_once(void **st) {
    fixture *f = *st;
    const char *k = "84532:0xasset:0xfrom:0x01";
    assert_int_equal(gr_x402_store_nonce_reserve(f->xs, k, 100), GR_OK);
    assert_int_equal(gr_x402_store_nonce_reserve(f->xs, k, 100), GR_ERR_INVALID);
    /* a second handle (another instance on the same store) sees it too */
    gr_x402_store *other = open_x(f);
    assert_non_null(other);
    assert_int_equal(gr_x402_store_nonce_reserve(other, k, 100), GR_ERR_INVALID);
    assert_int_equal(gr_x402_store_nonce_reserve(other, "84532:0xasset:0xfrom:0x02", 5000), GR_OK);
    gr_x402_store_close(other);
    /* pruned once validBefore has passed; the other stays */
    gr_x402_store_nonce_prune(f->xs, 200);
    assert_int_equal(gr_x402_store_nonce_reserve(f->xs, k, 100), GR_OK);
    assert_int_equal(gr_x402_store_nonce_reserve(f->xs, "84532:0xasset:0xfrom:0x02", 5000), GR_ERR_INVALID);
}

typedef struct race {
    const fixture *f;
    pthread_barrier_t *go;
    gr_x402_store *xs;
    int won, lost, failed;
    const char *payer;
} race;

static void *nonce_racer(void *arg) {
    race *r = arg;
    pthread_barrier_wait(r->go);
    gr_status rc = gr_x402_store_nonce_reserve(r->xs, "84532:0xasset:0xfrom:0xrace", 4000000000LL);
    if (rc == GR_OK) r->won++;
    else if (rc == GR_ERR_INVALID) r->lost++;
    else r->failed++;
    return NULL;
}

static void *credit_taker(void *arg) {
    race *r = arg;
    pthread_barrier_wait(r->go);
    for (int i = 0; i < 10; i++) {
        gr_status rc = gr_x402_store_credit_take(r->xs, r->payer, 7);
        if (rc == GR_OK) r->won++;
        else if (rc == GR_ERR_INVALID) r->lost++;
        else r->failed++;
    }
    return NULL;
}

/* NTHREADS threads, each on its own connection, released together. */
static void race_run(fixture *f, void *(*fn)(void *), race *rs) {
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, NTHREADS);
    pthread_t th[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        rs[i] = (race){.f = f, .go = &go, .xs = open_x(f), .payer = "0xpayer-race"};
        assert_non_null(rs[i].xs);
    }
    for (int i = 0; i < NTHREADS; i++) assert_int_equal(pthread_create(&th[i], NULL, fn, &rs[i]), 0);
    for (int i = 0; i < NTHREADS; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < NTHREADS; i++) gr_x402_store_close(rs[i].xs);
    pthread_barrier_destroy(&go);
}

static void nonce_race_one_winner(void **st) {
    fixture *f = *st;
    race rs[NTHREADS];
    race_run(f, nonce_racer, rs);
    int won = 0, lost = 0, failed = 0;
    for (int i = 0; i < NTHREADS; i++) won += rs[i].won, lost += rs[i].lost, failed += rs[i].failed;
    assert_int_equal(failed, 0);
    assert_int_equal(won, 1);
    assert_int_equal(lost, NTHREADS - 1);
}

static void credit_never_negative(void **st) {
    fixture *f = *st;
    const char *payer = "0xpayer-race";
    int64_t v = -1;
    assert_int_equal(gr_x402_store_credit_get(f->xs, payer, &v), GR_OK);
    assert_int_equal(v, 0);
    assert_int_equal(gr_x402_store_credit_take(f->xs, payer, 1), GR_ERR_INVALID); /* no row */
    assert_int_equal(gr_x402_store_credit_add(f->xs, payer, -50), GR_OK);          /* floors at 0 */
    assert_int_equal(gr_x402_store_credit_get(f->xs, payer, &v), GR_OK);
    assert_int_equal(v, 0);
    assert_int_equal(gr_x402_store_credit_add(f->xs, payer, 1000), GR_OK);
    race rs[NTHREADS];
    race_run(f, credit_taker, rs);
    int won = 0, lost = 0, failed = 0;
    for (int i = 0; i < NTHREADS; i++) won += rs[i].won, lost += rs[i].lost, failed += rs[i].failed;
    assert_int_equal(failed, 0);
    assert_int_equal(won, 1000 / 7); /* 200 attempts of 7 for 1000: exactly 142 fit */
    assert_int_equal(won + lost, NTHREADS * 10);
    assert_int_equal(gr_x402_store_credit_get(f->xs, payer, &v), GR_OK);
    assert_int_equal(v, 1000 - 7 * (1000 / 7));
    assert_int_equal(gr_x402_store_credit_add(f->xs, payer, -100), GR_OK);
    assert_int_equal(gr_x402_store_credit_get(f->xs, payer, &v), GR_OK);
    assert_int_equal(v, 0);
}

/* Every live job (none of them owned by a live instance in these tests). */
static gr_status live_jobs(gr_x402_store *xs, gr_x402_settle_rec **arr, size_t *n) {
    return gr_x402_store_settlements_orphaned(xs, "test-reader", 0, INT64_MAX, INT64_MAX, 1000, arr, n);
}

static void fill_settle(gr_x402_settle_rec *r, const char *id, const char *state, int64_t created) {
    memset(r, 0, sizeof *r);
    snprintf(r->request_id, sizeof r->request_id, "%s", id);
    snprintf(r->payer, sizeof r->payer, "0xpayer-s");
    r->chain_id = 84532;
    snprintf(r->asset, sizeof r->asset, "0xasset");
    snprintf(r->amount, sizeof r->amount, "10000");
    r->version = 2;
    r->header_b64 = (char *)"eyJ4IjoxfQ==";
    r->requirement_json = (char *)"{\"scheme\":\"exact\"}";
    r->paid_nusd = 10000000;
    r->credit_used_nusd = 5;
    r->cost_nusd = 4000000;
    snprintf(r->state, sizeof r->state, "%s", state);
    r->created_ms = created;
}

/* x402st-5: two instances (two handles) finishing the same job: exactly one
 * wins (and grants the credit, in the same transaction); a finished job is
 * not live any more and cannot be finished again. */
static void settlement_claimed_once(void **st) {
    fixture *f = *st;
    gr_x402_store *other = open_x(f);
    assert_non_null(other);
    gr_x402_settle_rec r;
    fill_settle(&r, "req-claim", "pending", 500);
    assert_int_equal(gr_x402_store_settlement_put(f->xs, &r), GR_OK);
    snprintf(r.state, sizeof r.state, "settled");
    bool a = false, b = false, l = false;
    assert_int_equal(gr_x402_store_settlement_finish(f->xs, &r, 70, false, 0, true, &a, &l), GR_ERR_NOT_FOUND);
    assert_false(a); /* no ledger row yet: nothing written, asked to retry */
    assert_int_equal(gr_x402_store_settlement_finish(f->xs, &r, 70, false, 0, false, &a, &l), GR_OK);
    assert_int_equal(gr_x402_store_settlement_finish(other, &r, 70, false, 0, false, &b, &l), GR_OK);
    assert_true(a != b); /* exactly one winner */
    assert_true(a);
    int64_t credit = 0;
    assert_int_equal(gr_x402_store_credit_get(f->xs, "0xpayer-s", &credit), GR_OK);
    assert_int_equal(credit, 70); /* granted once */
    gr_x402_settle_rec *arr = NULL;
    size_t n = 0;
    assert_int_equal(live_jobs(other, &arr, &n), GR_OK);
    for (size_t i = 0; i < n; i++) {
        assert_string_not_equal(arr[i].request_id, "req-claim");
        gr_x402_settle_rec_dispose(&arr[i]);
    }
    free(arr);
    assert_int_equal(gr_x402_store_settlement_finish(other, &r, 70, false, 0, false, &b, &l), GR_OK);
    assert_false(b); /* a finished job cannot be finished again */
    gr_x402_store_close(other);
}

/* x402st-10: durable before served. The admission transaction keeps the
 * nonce, the credit taken and the job together: a replay and a payer out of
 * credit leave nothing behind (the nonce of the latter is free again). The
 * job is open and owned by its instance: while that instance beats, nobody
 * takes it (not even when its lease is old: its request may be streaming);
 * once it stops beating (or is gone), another instance takes it over, once
 * (compare-and-set), as pending; its own next run takes it at once. The
 * request's end closes an open job (credit back with it) exactly once. */
static void settlement_durable_admit_takeover(void **st) {
    fixture *f = *st;
    gr_x402_store *other = open_x(f);
    assert_non_null(other);
    const int64_t t = 1700000000000;
    gr_x402_settle_rec r;
    fill_settle(&r, "req-dur", "open", t);
    gr_x402_admit_result res;
    assert_int_equal(gr_x402_store_credit_add(f->xs, "0xpayer-s", 10), GR_OK);
    assert_int_equal(gr_x402_store_admit(f->xs, "k-dur", 4000000000, "0xpayer-s", 5, &r, NULL, "inst-a", 60000, &res),
                     GR_OK);
    assert_int_equal(res, GR_X402_ADMITTED);
    assert_int_equal(gr_x402_store_admit(other, "k-dur", 4000000000, "0xpayer-s", 0, &r, NULL, "inst-b", 60000, &res),
                     GR_OK);
    assert_int_equal(res, GR_X402_ADMIT_REPLAY);
    fill_settle(&r, "req-poor", "open", t);
    assert_int_equal(gr_x402_store_admit(f->xs, "k-poor", 4000000000, "0xpayer-s", 6, &r, NULL, "inst-a", 60000, &res),
                     GR_OK);
    assert_int_equal(res, GR_X402_ADMIT_NO_CREDIT); /* 5 left, 6 wanted */
    assert_int_equal(gr_x402_store_nonce_reserve(f->xs, "k-poor", 4000000000), GR_OK); /* not kept */
    int64_t credit = 0;
    assert_int_equal(gr_x402_store_credit_get(f->xs, "0xpayer-s", &credit), GR_OK);
    assert_int_equal(credit, 5);
    cJSON *o = cJSON_CreateObject();
    assert_int_equal(gr_x402_store_payment_get(f->xs, "req-poor", o), GR_ERR_NOT_FOUND);
    assert_int_equal(gr_x402_store_payment_get(f->xs, "req-dur", o), GR_OK);
    assert_string_equal(cJSON_GetObjectItem(o, "state")->valuestring, "pending"); /* open reads as pending */
    cJSON_Delete(o);

    /* inst-a beats: inst-b finds nothing to take, even far past the lease */
    assert_int_equal(gr_x402_store_heartbeat(f->xs, "inst-a", t), GR_OK);
    gr_x402_settle_rec *arr = NULL;
    size_t n = 0;
    assert_int_equal(gr_x402_store_settlements_orphaned(other, "inst-b", 0, t - 5000, t + 3600000, 100, &arr, &n),
                     GR_OK);
    assert_int_equal(n, 0);
    free(arr);
    /* inst-a stops beating: inst-b takes it, once */
    assert_int_equal(gr_x402_store_settlements_orphaned(other, "inst-b", 0, t + 1, t + 10000, 100, &arr, &n), GR_OK);
    assert_int_equal(n, 1);
    assert_string_equal(arr[0].state, "open");
    assert_string_equal(arr[0].claimed_by, "inst-a");
    bool taken = false;
    assert_int_equal(gr_x402_store_settlement_take(other, &arr[0], "inst-b", t + 10000, 60000, &taken), GR_OK);
    assert_true(taken);
    assert_int_equal(gr_x402_store_settlement_take(f->xs, &arr[0], "inst-c", t + 10000, 60000, &taken), GR_OK);
    assert_false(taken); /* changed since it was seen */
    gr_x402_settle_rec_dispose(&arr[0]);
    free(arr);
    /* taken over as pending: the request's late end does not reopen or change it */
    fill_settle(&r, "req-dur", "skipped", t);
    bool closed = true;
    assert_int_equal(gr_x402_store_settlement_close(f->xs, &r, 5, NULL, &closed), GR_OK);
    assert_false(closed);
    assert_int_equal(gr_x402_store_credit_get(f->xs, "0xpayer-s", &credit), GR_OK);
    assert_int_equal(credit, 5); /* no refund applied */

    /* an open job of inst-c, closed by its request's end with credit back, once */
    fill_settle(&r, "req-end", "open", t);
    assert_int_equal(gr_x402_store_admit(f->xs, "k-end", 4000000000, "0xpayer-s", 0, &r, NULL, "inst-c", 60000, &res),
                     GR_OK);
    fill_settle(&r, "req-end", "credit", t);
    assert_int_equal(gr_x402_store_settlement_close(f->xs, &r, 3, NULL, &closed), GR_OK);
    assert_true(closed);
    assert_int_equal(gr_x402_store_settlement_close(f->xs, &r, 3, NULL, &closed), GR_OK);
    assert_false(closed);
    assert_int_equal(gr_x402_store_credit_get(f->xs, "0xpayer-s", &credit), GR_OK);
    assert_int_equal(credit, 8);

    /* inst-d restarts: its previous run's open job is its own at once (mine = 1), not with mine = 2 */
    fill_settle(&r, "req-mine", "open", t);
    assert_int_equal(gr_x402_store_admit(f->xs, "k-mine", 4000000000, "0xpayer-s", 0, &r, NULL, "inst-d", 60000, &res),
                     GR_OK);
    assert_int_equal(gr_x402_store_heartbeat(f->xs, "inst-d", t + 20000), GR_OK);
    assert_int_equal(gr_x402_store_settlements_orphaned(f->xs, "inst-d", 2, t + 15000, t + 20000, 100, &arr, &n), GR_OK);
    for (size_t i = 0; i < n; i++) {
        assert_string_not_equal(arr[i].request_id, "req-mine");
        gr_x402_settle_rec_dispose(&arr[i]);
    }
    free(arr);
    assert_int_equal(gr_x402_store_settlements_orphaned(f->xs, "inst-d", 1, t + 15000, t + 20000, 100, &arr, &n), GR_OK);
    bool found = false;
    for (size_t i = 0; i < n; i++) {
        found |= !strcmp(arr[i].request_id, "req-mine");
        gr_x402_settle_rec_dispose(&arr[i]);
    }
    free(arr);
    assert_true(found);
    /* gone cleanly: others take its jobs at once */
    assert_int_equal(gr_x402_store_instance_gone(f->xs, "inst-d"), GR_OK);
    assert_int_equal(gr_x402_store_settlements_orphaned(other, "inst-b", 0, t + 15000, t + 20000, 100, &arr, &n), GR_OK);
    found = false;
    for (size_t i = 0; i < n; i++) {
        found |= !strcmp(arr[i].request_id, "req-mine");
        gr_x402_settle_rec_dispose(&arr[i]);
    }
    free(arr);
    assert_true(found);
    gr_x402_store_close(other);
}

/* x402st-7: the sending lease of a settlement job: one owner at a time; the
 * owner renews it; re-putting the job (an attempt recorded) keeps it; another
 * instance (resuming at start) takes it only once it expired; a finished job
 * has none to take. Times are parameters: no clock is read. */
static void settlement_lease(void **st) {
    fixture *f = *st;
    gr_x402_store *other = open_x(f);
    assert_non_null(other);
    gr_x402_settle_rec r;
    fill_settle(&r, "req-lease", "pending", 700);
    assert_int_equal(gr_x402_store_settlement_put(f->xs, &r), GR_OK);
    const int64_t t = 1700000000000, L = 60000;
    bool held = false;
    assert_int_equal(gr_x402_store_settlement_lease(f->xs, "req-lease", "inst-a", t, L, &held), GR_OK);
    assert_true(held); /* free: taken */
    assert_int_equal(gr_x402_store_settlement_lease(other, "req-lease", "inst-b", t + 1000, L, &held), GR_OK);
    assert_false(held); /* A's lease runs until t + 60 s */
    assert_int_equal(gr_x402_store_settlement_lease(f->xs, "req-lease", "inst-a", t + 30000, L, &held), GR_OK);
    assert_true(held); /* renewed until t + 90 s */
    r.attempts = 2;    /* an attempt recorded: the row is written again */
    assert_int_equal(gr_x402_store_settlement_put(f->xs, &r), GR_OK);
    assert_int_equal(gr_x402_store_settlement_lease(other, "req-lease", "inst-b", t + 61000, L, &held), GR_OK);
    assert_false(held); /* the renewal (and the re-put) kept it */
    assert_int_equal(gr_x402_store_settlement_lease(other, "req-lease", "inst-b", t + 90001, L, &held), GR_OK);
    assert_true(held); /* expired: B takes over */
    assert_int_equal(gr_x402_store_settlement_lease(f->xs, "req-lease", "inst-a", t + 90002, L, &held), GR_OK);
    assert_false(held); /* A must not send any more */
    snprintf(r.state, sizeof r.state, "settled");
    assert_int_equal(gr_x402_store_settlement_put(other, &r), GR_OK);
    assert_int_equal(gr_x402_store_settlement_lease(f->xs, "req-lease", "inst-a", t + 999999, L, &held), GR_OK);
    assert_false(held); /* finished: nothing to send */
    assert_int_equal(gr_x402_store_settlement_lease(f->xs, "req-none", "inst-a", t, L, &held), GR_OK);
    assert_false(held);
    gr_x402_store_close(other);
}

/* x402st-9 (SQLite): the x402 connections run on the store executor, i.e. on
 * the paid request's path, so their commits must not run SQLite's WAL
 * auto-checkpoint (two fdatasync, several ms: the x402 row's p99 at c=1 in the
 * bench); the ledger writer's connection does it. 2,500 single-row commits
 * (one frame or more each) leave well over SQLite's default 1000 frames in
 * the WAL; with the default threshold the WAL restarts every ~1000 frames. */
static void sqlite_request_path_no_checkpoint(void **st) {
    fixture *f = *st;
    if (gr_test_store_is_pg()) return;
    char key[96];
    for (int i = 0; i < 2500; i++) {
        snprintf(key, sizeof key, "84532:0xasset:0xfrom:0x%06x", i);
        assert_int_equal(gr_x402_store_nonce_reserve(f->xs, key, 100), GR_OK);
    }
    char path[128];
    snprintf(path, sizeof path, "%s/x402.db", f->dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA wal_checkpoint(PASSIVE)", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    int wal_frames = sqlite3_column_int(q, 1);
    sqlite3_finalize(q);
    sqlite3_close(db);
    if (wal_frames < 2000) fprintf(stderr, "WAL frames after 2500 commits: %d\n", wal_frames);
    assert_true(wal_frames >= 2000);
}

/* x402st-8 (SQLite): a database written before the lease existed gets its
 * columns at open, and keeps its rows. */
static void sqlite_lease_columns_added(void **st) {
    fixture *f = *st;
    if (gr_test_store_is_pg()) return; /* PostgreSQL: the versioned migration, run by every _pg test */
    char path[128], url[160], err[256];
    snprintf(path, sizeof path, "%s/old.db", f->dir);
    snprintf(url, sizeof url, "sqlite://%s", path);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "CREATE TABLE x402_settlements(request_id TEXT PRIMARY KEY, payer TEXT NOT NULL,"
                                  " chain_id INTEGER NOT NULL, asset TEXT NOT NULL, amount TEXT NOT NULL, version INTEGER NOT NULL,"
                                  " header_b64 TEXT NOT NULL, requirement TEXT NOT NULL, paid_nusd INTEGER NOT NULL,"
                                  " credit_used_nusd INTEGER NOT NULL, cost_nusd INTEGER NOT NULL, state TEXT NOT NULL, tx_hash TEXT,"
                                  " attempts INTEGER NOT NULL, error TEXT, created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL);"
                                  "INSERT INTO x402_settlements VALUES('req-old','0xp',1,'0xa','5',1,'h','{}',1,0,1,'pending',"
                                  "NULL,0,NULL,1,1);",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    gr_x402_store *xs = NULL;
    assert_int_equal(gr_x402_store_open(url, &xs, err, sizeof err), GR_OK);
    bool held = false;
    assert_int_equal(gr_x402_store_settlement_lease(xs, "req-old", "inst-a", 1000, 60000, &held), GR_OK);
    assert_true(held);
    gr_x402_store_close(xs);
    assert_int_equal(gr_x402_store_open(url, &xs, err, sizeof err), GR_OK); /* a second open adds nothing */
    assert_int_equal(gr_x402_store_settlement_lease(xs, "req-old", "inst-b", 2000, 60000, &held), GR_OK);
    assert_false(held);
    gr_x402_store_close(xs);
}

static void settlements_upto_payments(void **st) {
    fixture *f = *st;
    gr_x402_settle_rec r;
    fill_settle(&r, "req-a", "pending", 1000);
    assert_int_equal(gr_x402_store_settlement_put(f->xs, &r), GR_OK);
    fill_settle(&r, "req-b", "pending", 2000);
    /* an error cut inside a multi-byte character (PostgreSQL wants UTF-8) */
    snprintf(r.error, sizeof r.error, "rpc: caf\xc3");
    assert_int_equal(gr_x402_store_settlement_put(f->xs, &r), GR_OK);
    gr_x402_settle_rec *arr = NULL;
    size_t n = 0;
    assert_int_equal(live_jobs(f->xs, &arr, &n), GR_OK);
    assert_int_equal(n, 2);
    assert_string_equal(arr[0].request_id, "req-a");
    assert_string_equal(arr[1].request_id, "req-b");
    assert_int_equal(arr[0].chain_id, 84532);
    assert_int_equal(arr[0].version, 2);
    assert_string_equal(arr[0].header_b64, "eyJ4IjoxfQ==");
    assert_string_equal(arr[0].requirement_json, "{\"scheme\":\"exact\"}");
    assert_int_equal(arr[0].paid_nusd, 10000000);
    assert_int_equal(arr[0].credit_used_nusd, 5);
    assert_int_equal(arr[0].cost_nusd, 4000000);
    assert_int_equal(arr[0].created_ms, 1000);
    for (size_t i = 0; i < n; i++) gr_x402_settle_rec_dispose(&arr[i]);
    free(arr);

    /* replace req-a: settled */
    fill_settle(&r, "req-a", "settled", 1000);
    snprintf(r.tx_hash, sizeof r.tx_hash, "0x%064d", 1);
    r.attempts = 1;
    assert_int_equal(gr_x402_store_settlement_put(f->xs, &r), GR_OK);
    assert_int_equal(live_jobs(f->xs, &arr, &n), GR_OK);
    assert_int_equal(n, 1);
    assert_string_equal(arr[0].request_id, "req-b");
    gr_x402_settle_rec_dispose(&arr[0]);
    free(arr);

    /* upto record for req-c, then its settlement */
    gr_x402_upto_rec u;
    memset(&u, 0, sizeof u);
    snprintf(u.request_id, sizeof u.request_id, "req-c");
    snprintf(u.payer, sizeof u.payer, "0xpayer-s");
    u.chain_id = 84532;
    snprintf(u.asset, sizeof u.asset, "0xasset");
    snprintf(u.max_amount, sizeof u.max_amount, "50000");
    snprintf(u.settled_amount, sizeof u.settled_amount, "1234");
    u.cost_nusd = 1234000;
    snprintf(u.state, sizeof u.state, "verified");
    snprintf(u.nonce_key, sizeof u.nonce_key, "84532:permit2:0xpayer-s:7");
    assert_int_equal(gr_x402_store_upto_put(f->xs, &u), GR_OK);
    cJSON *o = cJSON_CreateObject();
    assert_int_equal(gr_x402_store_payment_get(f->xs, "req-c", o), GR_OK);
    assert_string_equal(cJSON_GetObjectItem(o, "scheme")->valuestring, "upto");
    assert_string_equal(cJSON_GetObjectItem(o, "max_amount")->valuestring, "50000");
    assert_string_equal(cJSON_GetObjectItem(o, "amount")->valuestring, "1234");
    assert_string_equal(cJSON_GetObjectItem(o, "state")->valuestring, "verified");
    assert_string_equal(cJSON_GetObjectItem(o, "transaction")->valuestring, "");
    assert_string_equal(cJSON_GetObjectItem(o, "network")->valuestring, "eip155:84532");
    cJSON_Delete(o);
    assert_int_equal(gr_x402_store_upto_state(f->xs, "req-c", "settled", "0xabc"), GR_OK);
    fill_settle(&r, "req-c", "settled", 3000);
    snprintf(r.amount, sizeof r.amount, "1234");
    assert_int_equal(gr_x402_store_settlement_put(f->xs, &r), GR_OK);

    o = cJSON_CreateObject();
    assert_int_equal(gr_x402_store_payment_get(f->xs, "req-a", o), GR_OK);
    assert_string_equal(cJSON_GetObjectItem(o, "scheme")->valuestring, "exact");
    assert_null(cJSON_GetObjectItem(o, "max_amount"));
    assert_string_equal(cJSON_GetObjectItem(o, "state")->valuestring, "settled");
    assert_int_equal(cJSON_GetObjectItem(o, "attempts")->valueint, 1);
    assert_int_equal(strlen(cJSON_GetObjectItem(o, "transaction")->valuestring), 66);
    cJSON_Delete(o);
    o = cJSON_CreateObject();
    assert_int_equal(gr_x402_store_payment_get(f->xs, "req-b", o), GR_OK);
    assert_non_null(cJSON_GetObjectItem(o, "error"));
    cJSON_Delete(o);
    o = cJSON_CreateObject();
    assert_int_equal(gr_x402_store_payment_get(f->xs, "nope", o), GR_ERR_NOT_FOUND);
    cJSON_Delete(o);

    cJSON *list = cJSON_CreateArray();
    assert_int_equal(gr_x402_store_settlements_recent(f->xs, "0xpayer-s", 2, list), GR_OK);
    assert_int_equal(cJSON_GetArraySize(list), 2);
    cJSON *first = cJSON_GetArrayItem(list, 0);
    assert_string_equal(cJSON_GetObjectItem(first, "request_id")->valuestring, "req-c");
    assert_string_equal(cJSON_GetObjectItem(first, "scheme")->valuestring, "upto");
    assert_string_equal(cJSON_GetObjectItem(first, "max_amount")->valuestring, "50000");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(list, 1), "scheme")->valuestring, "exact");
    cJSON_Delete(list);

    /* the ledger update: no row yet -> changed false; then the row */
    bool changed = true;
    assert_int_equal(gr_x402_store_ledger_update(f->xs, "req-a", "settled", "0xabc", -5, &changed), GR_OK);
    assert_false(changed);
    gr_store *ms = NULL;
    char err[256];
    assert_int_equal(gr_store_open(f->url, &ms, err, sizeof err), GR_OK);
    gr_ledger_row row;
    memset(&row, 0, sizeof row);
    snprintf(row.request_id, sizeof row.request_id, "req-a");
    row.ts_ms = 1700000000000LL;
    snprintf(row.model_asked, sizeof row.model_asked, "m");
    snprintf(row.payer, sizeof row.payer, "0xpayer-s");
    row.status = 200;
    assert_int_equal(gr_store_ledger_insert(ms, &row, 1), GR_OK);
    assert_int_equal(gr_x402_store_ledger_update(f->xs, "req-a", "settled", "0xabc", -5, &changed), GR_OK);
    assert_true(changed);
    gr_ledger_row got;
    assert_int_equal(gr_store_generation_get(ms, "req-a", &got), GR_OK);
    assert_string_equal(got.x402_settlement, "settled");
    assert_string_equal(got.x402_tx_hash, "0xabc");
    assert_int_equal(got.x402_credit_delta_nusd, -5);
    gr_store_close(ms);
}

static void bad_urls(void **st) {
    (void)st;
    char err[256];
    gr_x402_store *xs = NULL;
    assert_int_equal(gr_x402_store_open("mysql://u:secret@h/db", &xs, err, sizeof err), GR_ERR_INVALID);
    assert_null(xs);
    assert_null(strstr(err, "secret"));
#ifdef GR_HAVE_PG
    /* nothing listens on port 1: the message names the store without the password */
    assert_int_not_equal(
        gr_x402_store_open("postgres://u:secret@127.0.0.1:1/db?connect_timeout=2", &xs, err, sizeof err), GR_OK);
    assert_null(xs);
    assert_null(strstr(err, "secret"));
    assert_non_null(strstr(err, "***"));
#endif
}

/* payment-identifier: an id is taken once (one winner among NTHREADS
 * connections), the others see it pending; done keeps the reply for the same
 * id and request only; drop frees only a pending id of its own request; an
 * expired id is free again. */
typedef struct pid_race {
    const fixture *f;
    int idx;
    gr_x402_pid_state state;
} pid_race;

static void *pid_racer(void *arg) {
    pid_race *a = arg;
    gr_x402_store *xs = open_x(a->f);
    char rid[32];
    snprintf(rid, sizeof rid, "req-%d", a->idx);
    gr_x402_pid_rec rec;
    a->state = GR_X402_PID_DONE; /* a failure shows as neither NEW nor PENDING */
    if (xs && gr_x402_store_pid_begin(xs, "pay_race_0123456789", "0xpayer", "fp", rid, 60000, &rec) == GR_OK)
        a->state = rec.state;
    gr_x402_pid_rec_dispose(&rec);
    gr_x402_store_close(xs);
    return NULL;
}

static void payment_ids(void **st) {
    fixture *f = *st;
    gr_x402_store *xs = f->xs;
    gr_x402_pid_rec rec;
    assert_int_equal(gr_x402_store_pid_begin(xs, "pay_aaaaaaaaaaaaaaaa", "0xp", "fp1", "r1", 60000, &rec), GR_OK);
    assert_int_equal(rec.state, GR_X402_PID_NEW);
    gr_x402_pid_rec_dispose(&rec);
    assert_int_equal(gr_x402_store_pid_begin(xs, "pay_aaaaaaaaaaaaaaaa", "0xq", "fp2", "r2", 60000, &rec), GR_OK);
    assert_int_equal(rec.state, GR_X402_PID_PENDING);
    assert_string_equal(rec.payer, "0xp"); /* the row of the first, not the asker's */
    assert_string_equal(rec.fingerprint, "fp1");
    assert_string_equal(rec.request_id, "r1");
    gr_x402_pid_rec_dispose(&rec);
    /* another request cannot complete or free it */
    assert_int_equal(gr_x402_store_pid_done(xs, "pay_aaaaaaaaaaaaaaaa", "r2", 200, "s", "{\"x\":2}"), GR_OK);
    assert_int_equal(gr_x402_store_pid_drop(xs, "pay_aaaaaaaaaaaaaaaa", "r2"), GR_OK);
    assert_int_equal(gr_x402_store_pid_begin(xs, "pay_aaaaaaaaaaaaaaaa", "0xp", "fp1", "r3", 60000, &rec), GR_OK);
    assert_int_equal(rec.state, GR_X402_PID_PENDING);
    gr_x402_pid_rec_dispose(&rec);
    /* its own request completes it: the reply is kept */
    assert_int_equal(gr_x402_store_pid_done(xs, "pay_aaaaaaaaaaaaaaaa", "r1", 200, "settle-b64", "{\"x\":1}"), GR_OK);
    assert_int_equal(gr_x402_store_pid_begin(xs, "pay_aaaaaaaaaaaaaaaa", "0xp", "fp1", "r4", 60000, &rec), GR_OK);
    assert_int_equal(rec.state, GR_X402_PID_DONE);
    assert_int_equal(rec.status, 200);
    assert_string_equal(rec.settlement, "settle-b64");
    assert_string_equal(rec.body, "{\"x\":1}");
    gr_x402_pid_rec_dispose(&rec);
    /* a done id is not freed by a drop */
    assert_int_equal(gr_x402_store_pid_drop(xs, "pay_aaaaaaaaaaaaaaaa", "r1"), GR_OK);
    assert_int_equal(gr_x402_store_pid_begin(xs, "pay_aaaaaaaaaaaaaaaa", "0xp", "fp1", "r5", 60000, &rec), GR_OK);
    assert_int_equal(rec.state, GR_X402_PID_DONE);
    gr_x402_pid_rec_dispose(&rec);
    /* done without a body (too large): kept as done, body NULL */
    assert_int_equal(gr_x402_store_pid_begin(xs, "pay_bbbbbbbbbbbbbbbb", "0xp", "fp", "r6", 60000, &rec), GR_OK);
    gr_x402_pid_rec_dispose(&rec);
    assert_int_equal(gr_x402_store_pid_done(xs, "pay_bbbbbbbbbbbbbbbb", "r6", 200, NULL, NULL), GR_OK);
    assert_int_equal(gr_x402_store_pid_begin(xs, "pay_bbbbbbbbbbbbbbbb", "0xp", "fp", "r7", 60000, &rec), GR_OK);
    assert_int_equal(rec.state, GR_X402_PID_DONE);
    assert_null(rec.body);
    assert_null(rec.settlement);
    gr_x402_pid_rec_dispose(&rec);
    /* a pending id freed by its request is new again */
    assert_int_equal(gr_x402_store_pid_begin(xs, "pay_cccccccccccccccc", "0xp", "fp", "r8", 60000, &rec), GR_OK);
    gr_x402_pid_rec_dispose(&rec);
    assert_int_equal(gr_x402_store_pid_drop(xs, "pay_cccccccccccccccc", "r8"), GR_OK);
    assert_int_equal(gr_x402_store_pid_begin(xs, "pay_cccccccccccccccc", "0xz", "other", "r9", 60000, &rec), GR_OK);
    assert_int_equal(rec.state, GR_X402_PID_NEW);
    gr_x402_pid_rec_dispose(&rec);
    /* an expired id is free again (ttl < 0: expired at once) */
    assert_int_equal(gr_x402_store_pid_begin(xs, "pay_dddddddddddddddd", "0xp", "fp", "r10", -1000, &rec), GR_OK);
    gr_x402_pid_rec_dispose(&rec);
    assert_int_equal(gr_x402_store_pid_begin(xs, "pay_dddddddddddddddd", "0xq", "fp2", "r11", 60000, &rec), GR_OK);
    assert_int_equal(rec.state, GR_X402_PID_NEW);
    gr_x402_pid_rec_dispose(&rec);
    /* one winner among NTHREADS connections */
    pthread_t th[NTHREADS];
    pid_race a[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        a[i] = (pid_race){.f = f, .idx = i};
        assert_int_equal(pthread_create(&th[i], NULL, pid_racer, &a[i]), 0);
    }
    int won = 0, pending = 0;
    for (int i = 0; i < NTHREADS; i++) {
        pthread_join(th[i], NULL);
        won += a[i].state == GR_X402_PID_NEW;
        pending += a[i].state == GR_X402_PID_PENDING;
    }
    assert_int_equal(won, 1);
    assert_int_equal(pending, NTHREADS - 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(nonce_once, setup, teardown),
        cmocka_unit_test_setup_teardown(nonce_race_one_winner, setup, teardown),
        cmocka_unit_test_setup_teardown(credit_never_negative, setup, teardown),
        cmocka_unit_test_setup_teardown(settlement_claimed_once, setup, teardown),
        cmocka_unit_test_setup_teardown(settlement_lease, setup, teardown),
        cmocka_unit_test_setup_teardown(settlement_durable_admit_takeover, setup, teardown),
        cmocka_unit_test_setup_teardown(sqlite_lease_columns_added, setup, teardown),
        cmocka_unit_test_setup_teardown(sqlite_request_path_no_checkpoint, setup, teardown),
        cmocka_unit_test_setup_teardown(settlements_upto_payments, setup, teardown),
        cmocka_unit_test_setup_teardown(payment_ids, setup, teardown),
        cmocka_unit_test(bad_urls),
    };
    fprintf(stderr, "x402 store backend: %s\n", gr_test_store_backend());
    return cmocka_run_group_tests(tests, NULL, NULL);
}
