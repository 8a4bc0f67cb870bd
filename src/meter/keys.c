/* keys.c — virtual API keys: generation and hashing (OpenSSL), the in-memory
 * key table, per-key budget/RPM/TPM admission and settlement. */
#include "keys.h"
#include "meter.h"
#include "config_schema.h"

#include <math.h>
#include <stdarg.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define WINDOW_SECS 60

typedef struct window {
    int64_t sec[WINDOW_SECS];
    int64_t val[WINDOW_SECS];
} window;

struct gr_key_entry {
    pthread_mutex_t mu;
    /* immutable after insertion: */
    char id[GR_KEY_ID_MAX];
    bool is_static;
    /* the table's index (under the table lock; a rotation changes them):
     * the current secret's hash and the previous one's, valid until prev_until */
    char hash[GR_KEY_HASH_HEX];
    char prev_hash[GR_KEY_HASH_HEX];
    int64_t prev_until;
    /* under mu: */
    gr_key_record rec;
    char **models; /* NULL + all_models when unrestricted */
    size_t nmodels;
    bool all_models;
    double auto_value_usd; /* rec's metadata.auto_value_usd (>= 0); -1 = unset */
    double auto_cost_per_1k_usd; /* rec's metadata.auto_cost_per_1k_usd (> 0); -1 = unset */
    int64_t spent_total, spent_day, spent_month, day, month;
    /* what the store had committed when last read (day/month: of e->day and
     * e->month): the seed of the cluster-wide counters in Redis (cluster_state.h) */
    int64_t committed_total, committed_day, committed_month;
    int64_t reserved;
    int64_t shared_reserved; /* this process's reservations Redis admitted, not yet settled */
    int64_t requests;
    window rpm, tpm;
    struct gr_key_entry *next_all; /* list of every entry (under table lock) */
};

/* One index slot: an entry under its current or its previous hash. */
typedef struct key_slot {
    gr_key_entry *e;
    bool prev;
} key_slot;

struct gr_keys {
    gr_store *store;
    pthread_rwlock_t lock; /* guards slots/nslots/count/all and the entries' index hashes */
    key_slot *slots;       /* open addressing by hash */
    size_t nslots, count;
    gr_key_entry *all;
};

/* ---- hashing and generation ---- */

void gr_keys_hash(const char *key, size_t len, char out[GR_KEY_HASH_HEX]) {
    unsigned char md[32];
    unsigned int mdlen = 0;
    static const char hex[] = "0123456789abcdef";
    if (!EVP_Digest(key, len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32) abort();
    for (int i = 0; i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
}

gr_status gr_keys_generate(char plaintext[GR_KEY_PLAINTEXT_SIZE], gr_key_record *rec) {
    static const char b62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    static const char hex[] = "0123456789abcdef";
    memcpy(plaintext, "gr-", 3);
    size_t n = 3;
    unsigned char buf[64];
    while (n < GR_KEY_PLAINTEXT_LEN) {
        if (RAND_bytes(buf, sizeof buf) != 1) return GR_ERR_CRYPTO;
        for (size_t i = 0; i < sizeof buf && n < GR_KEY_PLAINTEXT_LEN; i++)
            if (buf[i] < 248) plaintext[n++] = b62[buf[i] % 62]; /* no modulo bias */
    }
    plaintext[n] = '\0';
    unsigned char idb[8];
    if (RAND_bytes(idb, sizeof idb) != 1) return GR_ERR_CRYPTO;
    memcpy(rec->id, "key_", 4);
    for (int i = 0; i < 8; i++) {
        rec->id[4 + 2 * i] = hex[idb[i] >> 4];
        rec->id[5 + 2 * i] = hex[idb[i] & 15];
    }
    rec->id[20] = '\0';
    gr_keys_hash(plaintext, GR_KEY_PLAINTEXT_LEN, rec->hash);
    memcpy(rec->prefix, plaintext, 9);
    rec->prefix[9] = '\0';
    return GR_OK;
}

/* ---- windows ---- */

static void window_add(window *w, int64_t s, int64_t v) {
    int i = (int)(s % WINDOW_SECS);
    if (w->sec[i] != s) {
        w->sec[i] = s;
        w->val[i] = 0;
    }
    w->val[i] += v;
    if (w->val[i] < 0) w->val[i] = 0;
}

static int64_t window_sum(const window *w, int64_t s) {
    int64_t sum = 0;
    for (int i = 0; i < WINDOW_SECS; i++)
        if (w->sec[i] > s - WINDOW_SECS && w->sec[i] <= s) sum += w->val[i];
    return sum;
}

/* Seconds until sum + need <= limit, as buckets age out (oldest first). */
static int64_t window_retry(const window *w, int64_t s, int64_t need, int64_t limit) {
    int64_t sum = window_sum(w, s);
    for (int64_t t = s - WINDOW_SECS + 1; t <= s; t++) {
        const int i = (int)(t % WINDOW_SECS);
        if (w->sec[i] != t) continue;
        sum -= w->val[i];
        if (sum + need <= limit) return t + WINDOW_SECS - s;
    }
    return WINDOW_SECS;
}

/* ---- entries ---- */

static void free_models(gr_key_entry *e) {
    for (size_t i = 0; i < e->nmodels; i++) free(e->models[i]);
    free(e->models);
    e->models = NULL;
    e->nmodels = 0;
}

/* metadata {"<name>": number >= min (> min when strict)}; -1 when unset or not such a number. */
static double metadata_number(const char *metadata_json, const char *name, double min, bool strict) {
    double v = -1.0;
    if (metadata_json && strstr(metadata_json, name)) {
        cJSON *meta = cJSON_Parse(metadata_json);
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(meta, name);
        if (cJSON_IsNumber(x) && (strict ? x->valuedouble > min : x->valuedouble >= min)) v = x->valuedouble;
        cJSON_Delete(meta);
    }
    return v;
}

/* Set rec (deep copy) and re-derive the parsed model list and auto value.
 * Under e->mu. */
static void entry_set_record(gr_key_entry *e, const gr_key_record *rec) {
    gr_key_record_dispose(&e->rec);
    gr_key_record_copy(&e->rec, rec);
    e->auto_value_usd = metadata_number(rec->metadata_json, "auto_value_usd", 0.0, false);
    e->auto_cost_per_1k_usd = metadata_number(rec->metadata_json, "auto_cost_per_1k_usd", 0.0, true);
    free_models(e);
    e->all_models = true;
    cJSON *arr = rec->models_json ? cJSON_Parse(rec->models_json) : NULL;
    if (cJSON_IsArray(arr)) {
        e->all_models = false;
        e->models = gr_xcalloc((size_t)cJSON_GetArraySize(arr) + 1, sizeof *e->models);
        const cJSON *m;
        cJSON_ArrayForEach(m, arr) {
            if (!cJSON_IsString(m)) continue;
            if (strcmp(m->valuestring, "*") == 0) e->all_models = true;
            e->models[e->nmodels++] = gr_xstrdup(m->valuestring);
        }
    }
    cJSON_Delete(arr);
}

static gr_key_entry *entry_new(const gr_key_record *rec) {
    gr_key_entry *e = gr_xcalloc(1, sizeof *e);
    pthread_mutex_init(&e->mu, NULL);
    gr_store_strlcpy(e->id, rec->id, sizeof e->id);
    gr_store_strlcpy(e->hash, rec->hash, sizeof e->hash);
    gr_store_strlcpy(e->prev_hash, rec->prev_hash, sizeof e->prev_hash);
    e->prev_until = rec->prev_until_ms;
    gr_key_record_init(&e->rec);
    entry_set_record(e, rec);
    return e;
}

static void entry_free(gr_key_entry *e) {
    free_models(e);
    gr_key_record_dispose(&e->rec);
    pthread_mutex_destroy(&e->mu);
    free(e);
}

static size_t hash_slot(const char *hex, size_t nslots) {
    uint64_t h = 0;
    for (int i = 0; i < 16 && hex[i]; i++) h = h * 31 + (unsigned char)hex[i];
    return (size_t)(h & (nslots - 1));
}

static const char *slot_hash(const key_slot *s) { return s->prev ? s->e->prev_hash : s->e->hash; }

/* Under write lock. */
static void slots_put(gr_keys *t, gr_key_entry *e, bool prev) {
    size_t i = hash_slot(prev ? e->prev_hash : e->hash, t->nslots);
    while (t->slots[i].e) i = (i + 1) & (t->nslots - 1);
    t->slots[i] = (key_slot){e, prev};
}

/* Under write lock: the index rebuilt from the entry list, with room for
 * every entry under two hashes (a rotation adds one without a rebuild of its
 * own being needed for space). Rare: growth and rotations only. */
static void slots_rebuild_locked(gr_keys *t) {
    size_t n = 64;
    while (n < (t->count + 1) * 4) n *= 2;
    free(t->slots);
    t->nslots = n;
    t->slots = gr_xcalloc(n, sizeof *t->slots);
    for (gr_key_entry *e = t->all; e; e = e->next_all) {
        slots_put(t, e, false);
        if (e->prev_hash[0]) slots_put(t, e, true);
    }
}

static void table_insert_locked(gr_keys *t, gr_key_entry *e) {
    t->count++;
    e->next_all = t->all;
    t->all = e;
    if ((t->count + 1) * 4 > t->nslots) {
        slots_rebuild_locked(t);
        return;
    }
    slots_put(t, e, false);
    if (e->prev_hash[0]) slots_put(t, e, true);
}

/* The entry whose current (or, *via_prev, previous) secret hashes to hex. */
static gr_key_entry *lookup_hash_locked(gr_keys *t, const char *hex, bool *via_prev) {
    *via_prev = false;
    if (!t->nslots) return NULL;
    size_t i = hash_slot(hex, t->nslots);
    while (t->slots[i].e) {
        if (gr_secret_eq(slot_hash(&t->slots[i]), 64, hex, 64)) {
            *via_prev = t->slots[i].prev;
            return t->slots[i].e;
        }
        i = (i + 1) & (t->nslots - 1);
    }
    return NULL;
}

/* A record whose secrets differ from e's index (a rotation here or on
 * another instance sharing the store): the index follows it. */
static void index_follow(gr_keys *t, gr_key_entry *e, const gr_key_record *rec) {
    pthread_rwlock_wrlock(&t->lock);
    if (strcmp(e->hash, rec->hash) || strcmp(e->prev_hash, rec->prev_hash) || e->prev_until != rec->prev_until_ms) {
        gr_store_strlcpy(e->hash, rec->hash, sizeof e->hash);
        gr_store_strlcpy(e->prev_hash, rec->prev_hash, sizeof e->prev_hash);
        e->prev_until = rec->prev_until_ms;
        slots_rebuild_locked(t);
    }
    pthread_rwlock_unlock(&t->lock);
}

gr_key_entry *gr_keys_find_id(gr_keys *t, const char *id) {
    gr_key_entry *found = NULL;
    pthread_rwlock_rdlock(&t->lock);
    for (gr_key_entry *e = t->all; e; e = e->next_all)
        if (strcmp(e->id, id) == 0) { found = e; break; }
    pthread_rwlock_unlock(&t->lock);
    return found;
}

const char *gr_keys_id(const gr_key_entry *k) { return k->id; }

double gr_keys_auto_value_usd(gr_key_entry *k) {
    pthread_mutex_lock(&k->mu);
    double v = k->auto_value_usd; /* parsed when the record was set */
    pthread_mutex_unlock(&k->mu);
    return v;
}

double gr_keys_auto_cost_per_1k_usd(gr_key_entry *k) {
    pthread_mutex_lock(&k->mu);
    double v = k->auto_cost_per_1k_usd; /* parsed when the record was set */
    pthread_mutex_unlock(&k->mu);
    return v;
}

/* ---- table life cycle ---- */

gr_keys *gr_keys_new(gr_store *store) {
    gr_keys *t = gr_xcalloc(1, sizeof *t);
    t->store = store;
    pthread_rwlock_init(&t->lock, NULL);
    return t;
}

void gr_keys_free(gr_keys *t) {
    if (!t) return;
    gr_key_entry *e = t->all;
    while (e) {
        gr_key_entry *next = e->next_all;
        entry_free(e);
        e = next;
    }
    free(t->slots);
    pthread_rwlock_destroy(&t->lock);
    free(t);
}

static void roll_periods(gr_key_entry *e, int64_t now_ms) {
    int64_t d = gr_store_utc_day(now_ms), m = gr_store_utc_month(now_ms);
    if (d > e->day) {
        e->day = d;
        e->spent_day = 0;
        e->committed_day = 0;
    }
    if (m > e->month) {
        e->month = m;
        e->spent_month = 0;
        e->committed_month = 0;
    }
}

/* Add or refresh one record; spend from the store for new entries. */
static gr_status upsert_record(gr_keys *t, const gr_key_record *rec, int64_t now_ms,
                               bool is_static) {
    gr_key_entry *e = gr_keys_find_id(t, rec->id);
    if (e) {
        if (!e->is_static) index_follow(t, e, rec);
        pthread_mutex_lock(&e->mu);
        entry_set_record(e, rec);
        pthread_mutex_unlock(&e->mu);
        return GR_OK;
    }
    e = entry_new(rec);
    e->is_static = is_static;
    e->day = gr_store_utc_day(now_ms);
    e->month = gr_store_utc_month(now_ms);
    if (t->store) {
        gr_key_spend sp;
        if (gr_store_key_spend(t->store, rec->id, e->day, e->month, &sp) == GR_OK) {
            e->spent_total = e->committed_total = sp.total_nusd;
            e->spent_day = e->committed_day = sp.day_nusd;
            e->spent_month = e->committed_month = sp.month_nusd;
            e->requests = sp.requests;
        }
    }
    pthread_rwlock_wrlock(&t->lock);
    gr_key_entry *race = NULL;
    for (gr_key_entry *x = t->all; x; x = x->next_all)
        if (strcmp(x->id, rec->id) == 0) { race = x; break; }
    if (!race) table_insert_locked(t, e);
    pthread_rwlock_unlock(&t->lock);
    if (race) entry_free(e); /* someone else added it first */
    return GR_OK;
}

gr_status gr_keys_load(gr_keys *t, int64_t now_ms) {
    if (!t->store) return GR_OK;
    gr_key_record *recs = NULL;
    size_t n = 0;
    gr_status rc = gr_store_key_list(t->store, &recs, &n);
    if (rc) return rc;
    for (size_t i = 0; i < n && rc == GR_OK; i++) rc = upsert_record(t, &recs[i], now_ms, false);
    gr_key_records_free(recs, n);
    return rc;
}

gr_status gr_keys_refresh_spend(gr_keys *t, int64_t now_ms) {
    if (!t->store) return GR_OK;
    pthread_rwlock_rdlock(&t->lock);
    size_t n = 0;
    for (gr_key_entry *e = t->all; e; e = e->next_all) n++;
    gr_key_entry **arr = gr_xcalloc(n ? n : 1, sizeof *arr);
    size_t i = 0;
    for (gr_key_entry *e = t->all; e && i < n; e = e->next_all) arr[i++] = e;
    pthread_rwlock_unlock(&t->lock);
    /* Entries are never freed before the table, so the snapshot stays valid. */
    int64_t day = gr_store_utc_day(now_ms), month = gr_store_utc_month(now_ms);
    gr_status rc = GR_OK;
    for (i = 0; i < n && rc == GR_OK; i++) {
        gr_key_entry *e = arr[i];
        gr_key_spend sp;
        rc = gr_store_key_spend(t->store, e->id, day, month, &sp);
        if (rc != GR_OK) break;
        gr_keys_note_committed(e, &sp, now_ms);
    }
    free(arr);
    return rc;
}

void gr_keys_note_committed(gr_key_entry *e, const gr_key_spend *sp, int64_t now_ms) {
    int64_t day = gr_store_utc_day(now_ms), month = gr_store_utc_month(now_ms);
    pthread_mutex_lock(&e->mu);
    roll_periods(e, now_ms);
    /* Both numbers are lower bounds of what the key really spent (the store
     * lacks rows still queued anywhere, this process lacks other instances'
     * requests): the larger one is the better bound. Never lowered. */
    if (sp->total_nusd > e->committed_total) e->committed_total = sp->total_nusd;
    if (sp->total_nusd > e->spent_total) e->spent_total = sp->total_nusd;
    if (e->day == day) {
        if (sp->day_nusd > e->committed_day) e->committed_day = sp->day_nusd;
        if (sp->day_nusd > e->spent_day) e->spent_day = sp->day_nusd;
    }
    if (e->month == month) {
        if (sp->month_nusd > e->committed_month) e->committed_month = sp->month_nusd;
        if (sp->month_nusd > e->spent_month) e->spent_month = sp->month_nusd;
    }
    if (sp->requests > e->requests) e->requests = sp->requests;
    pthread_mutex_unlock(&e->mu);
}

gr_status gr_keys_create(gr_keys *t, const gr_key_record *spec, int64_t now_ms,
                         char plaintext[GR_KEY_PLAINTEXT_SIZE], gr_key_record *created) {
    gr_key_record rec;
    gr_key_record_copy(&rec, spec);
    gr_status rc = gr_keys_generate(plaintext, &rec);
    if (rc) goto out;
    rec.created_at_ms = rec.updated_at_ms = now_ms;
    rec.revoked_at_ms = 0;
    if (t->store && (rc = gr_store_key_insert(t->store, &rec)) != GR_OK) goto out;
    rc = upsert_record(t, &rec, now_ms, false);
    if (rc == GR_OK && created) gr_key_record_copy(created, &rec);
out:
    if (rc) memset(plaintext, 0, GR_KEY_PLAINTEXT_SIZE);
    gr_key_record_dispose(&rec);
    return rc;
}

/* Virtual key id's entry and a copy of its record, for a change; NULL with
 * *rc = GR_ERR_NOT_FOUND, or GR_ERR_UNSUPPORTED for a config key. */
static gr_key_entry *entry_for_change(gr_keys *t, const char *id, gr_key_record *rec, gr_status *rc) {
    gr_key_entry *e = gr_keys_find_id(t, id);
    if (!e || e->is_static) {
        *rc = e ? GR_ERR_UNSUPPORTED : GR_ERR_NOT_FOUND;
        return NULL;
    }
    pthread_mutex_lock(&e->mu);
    gr_key_record_copy(rec, &e->rec);
    pthread_mutex_unlock(&e->mu);
    return e;
}

gr_status gr_keys_update(gr_keys *t, const gr_key_record *in, int64_t now_ms) {
    gr_key_record rec;
    gr_status rc;
    gr_key_entry *e = entry_for_change(t, in->id, &rec, &rc);
    if (!e) return rc;
    /* mutable fields only */
    free(rec.name);
    free(rec.models_json);
    free(rec.metadata_json);
    rec.name = in->name ? gr_xstrdup(in->name) : NULL;
    rec.models_json = in->models_json ? gr_xstrdup(in->models_json) : NULL;
    rec.metadata_json = in->metadata_json ? gr_xstrdup(in->metadata_json) : NULL;
    rec.budget_total_nusd = in->budget_total_nusd;
    rec.budget_daily_nusd = in->budget_daily_nusd;
    rec.budget_monthly_nusd = in->budget_monthly_nusd;
    rec.rpm = in->rpm;
    rec.tpm = in->tpm;
    rec.expires_at_ms = in->expires_at_ms;
    rec.updated_at_ms = now_ms;
    rc = t->store ? gr_store_key_update(t->store, &rec) : GR_OK;
    if (rc == GR_OK) {
        pthread_mutex_lock(&e->mu);
        entry_set_record(e, &rec);
        pthread_mutex_unlock(&e->mu);
    }
    gr_key_record_dispose(&rec);
    return rc;
}

gr_status gr_keys_revoke(gr_keys *t, const char *id, int64_t now_ms) {
    gr_key_record rec;
    gr_status rc;
    gr_key_entry *e = entry_for_change(t, id, &rec, &rc);
    if (!e) return rc;
    if (!rec.revoked_at_ms) rec.revoked_at_ms = now_ms;
    rec.updated_at_ms = now_ms;
    rc = t->store ? gr_store_key_update(t->store, &rec) : GR_OK;
    if (rc == GR_OK) {
        pthread_mutex_lock(&e->mu);
        e->rec.revoked_at_ms = rec.revoked_at_ms;
        e->rec.updated_at_ms = now_ms;
        pthread_mutex_unlock(&e->mu);
    }
    gr_key_record_dispose(&rec);
    return rc;
}

/* A changed secret (rotation, its revert), stamped now_ms: to the store
 * first, then into the table (re-indexed by hash). */
static gr_status write_through(gr_keys *t, gr_key_record *rec, int64_t now_ms) {
    rec->updated_at_ms = now_ms;
    gr_status rc = t->store ? gr_store_key_update(t->store, rec) : GR_OK;
    return rc == GR_OK ? upsert_record(t, rec, now_ms, false) : rc;
}

gr_status gr_keys_rotate(gr_keys *t, const char *id, int64_t grace_ms, int64_t now_ms,
                         char plaintext[GR_KEY_PLAINTEXT_SIZE]) {
    gr_key_record rec;
    gr_status rc;
    gr_key_entry *e = entry_for_change(t, id, &rec, &rc);
    if (!e) return rc;
    rc = GR_ERR_INVALID;
    if (rec.revoked_at_ms) goto out; /* a revoked key stays revoked */
    char old_hash[GR_KEY_HASH_HEX];
    gr_store_strlcpy(old_hash, rec.hash, sizeof old_hash);
    if ((rc = gr_keys_generate(plaintext, &rec)) != GR_OK) goto out;
    gr_store_strlcpy(rec.id, e->id, sizeof rec.id); /* the same key: only its secret changes */
    if (grace_ms > 0) {
        gr_store_strlcpy(rec.prev_hash, old_hash, sizeof rec.prev_hash);
        rec.prev_until_ms = now_ms + grace_ms;
    } else {
        rec.prev_hash[0] = '\0';
        rec.prev_until_ms = 0;
    }
    rc = write_through(t, &rec, now_ms);
out:
    if (rc) memset(plaintext, 0, GR_KEY_PLAINTEXT_SIZE);
    gr_key_record_dispose(&rec);
    return rc;
}

gr_status gr_keys_rotate_revert(gr_keys *t, const char *id, int64_t now_ms) {
    gr_key_record rec;
    gr_status rc;
    if (!entry_for_change(t, id, &rec, &rc)) return rc;
    rc = GR_ERR_INVALID;
    if (rec.prev_hash[0]) { /* else rotated without grace: the old secret is gone */
        gr_store_strlcpy(rec.hash, rec.prev_hash, sizeof rec.hash);
        rec.prev_hash[0] = '\0';
        rec.prev_until_ms = 0;
        rc = write_through(t, &rec, now_ms);
    }
    gr_key_record_dispose(&rec);
    return rc;
}

static gr_status spec_from_json(const cJSON *obj, bool patch, bool config_entry, int64_t now_ms,
                                gr_key_record *rec, char *err, size_t errlen);

gr_status gr_keys_add_static(gr_keys *t, const char *name, const char *plaintext,
                             const cJSON *limits, int64_t now_ms, char *err, size_t errlen) {
    if (!name || !*name || !plaintext || strlen(plaintext) < 16) {
        snprintf(err, errlen, "keys: '%s' needs a name and a key of at least 16 characters",
                 name ? name : "");
        return GR_ERR_INVALID;
    }
    gr_key_record rec;
    gr_key_record_init(&rec);
    gr_status rc = GR_OK;
    if (limits && (rc = spec_from_json(limits, false, true, now_ms, &rec, err, errlen)))
        goto out;
    snprintf(rec.id, sizeof rec.id, "cfg_%.34s", name);
    gr_keys_hash(plaintext, strlen(plaintext), rec.hash);
    snprintf(rec.prefix, sizeof rec.prefix, "%.6s", plaintext);
    if (!rec.name) rec.name = gr_xstrdup(name);
    rec.created_at_ms = rec.updated_at_ms = now_ms;
    rc = upsert_record(t, &rec, now_ms, true);
    gr_key_entry *e = gr_keys_find_id(t, rec.id);
    if (e) e->is_static = true;
out:
    gr_key_record_dispose(&rec);
    return rc;
}

/* The `keys:` section at config load: every entry checked as start-up adds
 * it (name, key length, limits); the live table is built at service start. */
void *gr_keys_conf_parse(const cJSON *keys, const gr_config *cfg, gr_conf_err *e) {
    (void)cfg;
    if (!keys || cJSON_IsNull(keys)) return NULL;
    if (!cJSON_IsArray(keys)) {
        gr_conf_fail(e, "keys: must be a list");
        return NULL;
    }
    int i = 0;
    const cJSON *k;
    cJSON_ArrayForEach(k, keys) {
        char sub[200] = "";
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(k, "name");
        const cJSON *key = cJSON_GetObjectItemCaseSensitive(k, "key");
        gr_key_record rec;
        gr_key_record_init(&rec);
        if (!cJSON_IsObject(k)) snprintf(sub, sizeof sub, "expected a mapping {name, key, ...}");
        else if (!cJSON_IsString(name) || !*name->valuestring || !cJSON_IsString(key) || strlen(key->valuestring) < 16)
            snprintf(sub, sizeof sub, "needs a name and a key of at least 16 characters");
        else
            (void)spec_from_json(k, false, true, 0, &rec, sub, sizeof sub);
        gr_key_record_dispose(&rec);
        if (sub[0]) {
            gr_conf_fail(e, "keys[%d]: %s", i, sub);
            return NULL;
        }
        i++;
    }
    return NULL;
}

void gr_keys_conf_free(void *conf) { (void)conf; }

gr_status gr_keys_load_config(gr_keys *t, const cJSON *tree, int64_t now_ms, char *err,
                              size_t errlen) {
    const cJSON *keys = cJSON_GetObjectItemCaseSensitive(tree, "keys");
    if (!keys) return GR_OK;
    if (!cJSON_IsArray(keys)) {
        snprintf(err, errlen, "keys: must be a list");
        return GR_ERR_INVALID;
    }
    int i = 0;
    const cJSON *k;
    cJSON_ArrayForEach(k, keys) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(k, "name");
        const cJSON *key = cJSON_GetObjectItemCaseSensitive(k, "key");
        char sub[200];
        gr_status rc = gr_keys_add_static(t, cJSON_IsString(name) ? name->valuestring : NULL,
                                          cJSON_IsString(key) ? key->valuestring : NULL, k,
                                          now_ms, sub, sizeof sub);
        if (rc) {
            snprintf(err, errlen, "keys[%d]: %s", i, sub);
            return rc;
        }
        i++;
    }
    return GR_OK;
}

/* ---- hot path ---- */

static void verdict_ok(gr_key_verdict *v) {
    memset(v, 0, sizeof *v);
    v->status = 200;
}

static void verdict(gr_key_verdict *v, int status, const char *type, const char *code,
                    int64_t retry_after, const char *fmt, ...) GR_PRINTF(6, 7);

static void verdict(gr_key_verdict *v, int status, const char *type, const char *code,
                    int64_t retry_after, const char *fmt, ...) {
    v->status = status;
    v->type = type;
    v->code = code;
    v->retry_after_s = retry_after;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->message, sizeof v->message, fmt, ap);
    va_end(ap);
}

/* 401 checks; under e->mu. */
static bool check_active(gr_key_entry *e, int64_t now_ms, gr_key_verdict *v) {
    if (e->rec.revoked_at_ms) {
        verdict(v, 401, "invalid_request_error", "key_revoked", 0,
                "This API key (%s...) has been revoked.", e->rec.prefix);
        return false;
    }
    if (e->rec.expires_at_ms && now_ms >= e->rec.expires_at_ms) {
        verdict(v, 401, "invalid_request_error", "key_expired", 0,
                "This API key (%s...) expired at %lld ms since the epoch.", e->rec.prefix,
                (long long)e->rec.expires_at_ms);
        return false;
    }
    return true;
}

bool gr_keys_authenticate(gr_keys *t, const char *bearer, size_t len, int64_t now_ms,
                          gr_key_entry **handle, gr_key_verdict *v) {
    *handle = NULL;
    verdict_ok(v);
    if (!bearer || len == 0 || len > 512) {
        verdict(v, 401, "invalid_request_error", "invalid_api_key", 0,
                "Missing API key. Send it as 'Authorization: Bearer gr-...'.");
        return false;
    }
    char hex[GR_KEY_HASH_HEX];
    gr_keys_hash(bearer, len, hex);
    bool via_prev = false, prev_expired = false;
    pthread_rwlock_rdlock(&t->lock);
    gr_key_entry *e = lookup_hash_locked(t, hex, &via_prev);
    if (e && via_prev && now_ms >= e->prev_until) prev_expired = true;
    pthread_rwlock_unlock(&t->lock);
    if (prev_expired) {
        verdict(v, 401, "invalid_request_error", "key_rotated", 0,
                "This API key was rotated and its grace period has ended; use the new key.");
        return false;
    }
    if (!e) {
        verdict(v, 401, "invalid_request_error", "invalid_api_key", 0,
                "Incorrect API key provided.");
        return false;
    }
    pthread_mutex_lock(&e->mu);
    bool ok = check_active(e, now_ms, v);
    pthread_mutex_unlock(&e->mu);
    if (ok) *handle = e;
    return ok;
}

const char gr_keys_models_checked[] = "(every candidate checked by the router)";

static bool model_allowed(const gr_key_entry *e, const char *model) {
    if (e->all_models || model == gr_keys_models_checked) return true;
    for (size_t i = 0; i < e->nmodels; i++)
        if (model && strcmp(e->models[i], model) == 0) return true;
    return false;
}

bool gr_keys_restricted(gr_key_entry *e) {
    pthread_mutex_lock(&e->mu);
    bool r = !e->all_models;
    pthread_mutex_unlock(&e->mu);
    return r;
}

bool gr_keys_model_allowed(gr_key_entry *e, const char *name, const char *const *aliases, size_t naliases) {
    bool ok = false;
    pthread_mutex_lock(&e->mu);
    ok = e->all_models;
    for (size_t i = 0; !ok && i < e->nmodels; i++) {
        ok = name && strcmp(e->models[i], name) == 0;
        for (size_t a = 0; !ok && a < naliases; a++) ok = aliases[a] && strcmp(e->models[i], aliases[a]) == 0;
    }
    pthread_mutex_unlock(&e->mu);
    return ok;
}

bool gr_keys_auto_allowed(gr_key_entry *e, const char *policy, size_t len) {
    bool plain = len == 4 && memcmp(policy, "auto", 4) == 0;
    bool ok = false;
    pthread_mutex_lock(&e->mu);
    ok = e->all_models;
    for (size_t i = 0; !ok && i < e->nmodels; i++) {
        const char *m = e->models[i];
        ok = strcmp(m, "auto:*") == 0 || (strlen(m) == len && memcmp(m, policy, len) == 0) ||
             (plain && strcmp(m, "auto") == 0);
    }
    pthread_mutex_unlock(&e->mu);
    return ok;
}

static int64_t secs_until(int64_t from_ms, int64_t to_ms) {
    int64_t d = to_ms - from_ms;
    return d <= 0 ? 1 : (d + 999) / 1000;
}

/* Budget check for one period; under e->mu. */
static bool check_budget(gr_key_entry *e, const char *label, int64_t budget, int64_t spent,
                         int64_t max_cost, int64_t reset_ms, int64_t now_ms, gr_key_verdict *v) {
    if (budget < 0) return true;
    __int128 need = (__int128)spent + e->reserved + max_cost;
    if (need <= budget && spent < budget) return true;
    char b[GR_METER_USD_BUFSZ], s[GR_METER_USD_BUFSZ], r[GR_METER_USD_BUFSZ],
        m[GR_METER_USD_BUFSZ];
    gr_meter_format_usd(budget, b, sizeof b);
    gr_meter_format_usd(spent, s, sizeof s);
    gr_meter_format_usd(e->reserved, r, sizeof r);
    gr_meter_format_usd(max_cost, m, sizeof m);
    int64_t retry = reset_ms ? secs_until(now_ms, reset_ms) : 0;
    if (spent >= budget)
        verdict(v, 402, "insufficient_quota", "budget_exceeded", retry,
                "Budget exhausted for this API key: %s budget $%s, spent $%s.%s", label, b, s,
                reset_ms ? " It resets at the start of the next UTC period." : "");
    else
        verdict(v, 402, "insufficient_quota", "budget_exceeded", retry,
                "Insufficient budget for this request: %s budget $%s, spent $%s, reserved by "
                "in-flight requests $%s, this request may cost up to $%s. Lower max_tokens or "
                "raise the budget.",
                label, b, s, r, m);
    return false;
}

bool gr_keys_admit(gr_key_entry *e, const char *model, int64_t max_cost, int64_t est_tokens,
                   int64_t now_ms, gr_key_reservation *res, gr_key_verdict *v) {
    memset(res, 0, sizeof *res);
    verdict_ok(v);
    if (max_cost < 0) max_cost = 0;
    if (est_tokens < 0) est_tokens = 0;
    int64_t now_s = now_ms / 1000;
    bool ok = false;
    pthread_mutex_lock(&e->mu);
    if (!check_active(e, now_ms, v)) goto out;
    if (!model_allowed(e, model)) {
        verdict(v, 403, "permission_error", "model_not_allowed", 0,
                "This API key is not allowed to use model '%s'.", model ? model : "");
        goto out;
    }
    roll_periods(e, now_ms);
    int64_t next_day_ms = (e->day + 1) * 86400000;
    int64_t next_month_ms = gr_store_utc_month_start_ms(e->month + 1);
    if (!check_budget(e, "total", e->rec.budget_total_nusd, e->spent_total, max_cost, 0, now_ms,
                      v) ||
        !check_budget(e, "daily", e->rec.budget_daily_nusd, e->spent_day, max_cost, next_day_ms,
                      now_ms, v) ||
        !check_budget(e, "monthly", e->rec.budget_monthly_nusd, e->spent_month, max_cost,
                      next_month_ms, now_ms, v))
        goto out;
    if (e->rec.rpm > 0 && window_sum(&e->rpm, now_s) + 1 > e->rec.rpm) {
        verdict(v, 429, "rate_limit_error", "rate_limit_exceeded",
                window_retry(&e->rpm, now_s, 1, e->rec.rpm),
                "Rate limit reached for this API key: %lld requests per minute.",
                (long long)e->rec.rpm);
        goto out;
    }
    if (e->rec.tpm > 0) {
        if (est_tokens > e->rec.tpm) {
            verdict(v, 429, "rate_limit_error", "tokens_exceed_limit", 0,
                    "This request needs about %lld tokens, more than this API key's limit of "
                    "%lld tokens per minute. Shorten the prompt or lower max_tokens.",
                    (long long)est_tokens, (long long)e->rec.tpm);
            goto out;
        }
        if (window_sum(&e->tpm, now_s) + est_tokens > e->rec.tpm) {
            verdict(v, 429, "rate_limit_error", "rate_limit_exceeded",
                    window_retry(&e->tpm, now_s, est_tokens, e->rec.tpm),
                    "Rate limit reached for this API key: %lld tokens per minute.",
                    (long long)e->rec.tpm);
            goto out;
        }
    }
    /* every check passed: commit the reservation and the window counts */
    e->reserved += max_cost;
    window_add(&e->rpm, now_s, 1);
    window_add(&e->tpm, now_s, est_tokens);
    res->key = e;
    res->reserved_nusd = max_cost;
    res->tokens_est = est_tokens;
    res->window_sec = now_s;
    res->active = true;
    ok = true;
out:
    pthread_mutex_unlock(&e->mu);
    return ok;
}

void gr_keys_settle(gr_key_reservation *res, int64_t actual_cost, int64_t actual_tokens,
                    int64_t now_ms) {
    if (!res || !res->active) return;
    gr_key_entry *e = res->key;
    if (actual_cost < 0) actual_cost = 0;
    if (actual_tokens < 0) actual_tokens = 0;
    pthread_mutex_lock(&e->mu);
    e->reserved -= res->reserved_nusd;
    roll_periods(e, now_ms);
    e->spent_total += actual_cost;
    e->spent_day += actual_cost;
    e->spent_month += actual_cost;
    e->requests++;
    int i = (int)(res->window_sec % WINDOW_SECS);
    if (e->tpm.sec[i] == res->window_sec) {
        e->tpm.val[i] += actual_tokens - res->tokens_est;
        if (e->tpm.val[i] < 0) e->tpm.val[i] = 0;
    }
    pthread_mutex_unlock(&e->mu);
    res->active = false;
}

void gr_keys_cancel(gr_key_reservation *res) {
    if (!res || !res->active) return;
    gr_key_entry *e = res->key;
    pthread_mutex_lock(&e->mu);
    e->reserved -= res->reserved_nusd;
    int i = (int)(res->window_sec % WINDOW_SECS);
    if (e->rpm.sec[i] == res->window_sec && e->rpm.val[i] > 0) e->rpm.val[i]--;
    if (e->tpm.sec[i] == res->window_sec) {
        e->tpm.val[i] -= res->tokens_est;
        if (e->tpm.val[i] < 0) e->tpm.val[i] = 0;
    }
    pthread_mutex_unlock(&e->mu);
    res->active = false;
}

size_t gr_keys_shared_ids(gr_keys *t, char (**out)[GR_KEY_ID_MAX]) {
    *out = NULL;
    size_t n = 0, cap = 0;
    pthread_rwlock_rdlock(&t->lock);
    for (gr_key_entry *e = t->all; e; e = e->next_all) {
        pthread_mutex_lock(&e->mu);
        bool live = e->shared_reserved > 0;
        pthread_mutex_unlock(&e->mu);
        if (!live) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            *out = gr_xrealloc(*out, cap * sizeof **out);
        }
        memcpy((*out)[n++], e->id, GR_KEY_ID_MAX);
    }
    pthread_rwlock_unlock(&t->lock);
    return n;
}

void gr_keys_note_shared(gr_key_entry *k, int64_t delta_nusd) {
    pthread_mutex_lock(&k->mu);
    k->shared_reserved += delta_nusd;
    if (k->shared_reserved < 0) k->shared_reserved = 0;
    pthread_mutex_unlock(&k->mu);
}

/* ---- introspection ---- */

void gr_keys_info(gr_key_entry *e, int64_t now_ms, gr_key_info *out) {
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&e->mu);
    roll_periods(e, now_ms);
    gr_key_record_copy(&out->rec, &e->rec);
    out->spent_total_nusd = e->spent_total;
    out->spent_day_nusd = e->spent_day;
    out->spent_month_nusd = e->spent_month;
    out->reserved_nusd = e->reserved;
    out->requests = e->requests;
    out->rpm_used = window_sum(&e->rpm, now_ms / 1000);
    out->tpm_used = window_sum(&e->tpm, now_ms / 1000);
    pthread_mutex_unlock(&e->mu);
}

void gr_keys_list(gr_keys *t, int64_t now_ms, gr_key_info **out, size_t *n) {
    pthread_rwlock_rdlock(&t->lock);
    size_t cnt = t->count, i = 0;
    gr_key_entry **tmp = gr_xcalloc(cnt ? cnt : 1, sizeof *tmp);
    for (gr_key_entry *e = t->all; e && i < cnt; e = e->next_all) tmp[i++] = e;
    pthread_rwlock_unlock(&t->lock);
    gr_key_info *arr = gr_xcalloc(i ? i : 1, sizeof *arr);
    /* oldest first (list is newest first) */
    for (size_t j = 0; j < i; j++) gr_keys_info(tmp[i - 1 - j], now_ms, &arr[j]);
    free(tmp);
    *out = arr;
    *n = i;
}

void gr_keys_infos_free(gr_key_info *arr, size_t n) {
    if (!arr) return;
    for (size_t i = 0; i < n; i++) gr_key_record_dispose(&arr[i].rec);
    free(arr);
}

/* ---- JSON ---- */

static void add_usd_opt(cJSON *o, const char *name, int64_t nusd) {
    if (nusd < 0) cJSON_AddNullToObject(o, name);
    else gr_meter_add_usd_json(o, name, nusd);
}

static void add_int_opt(cJSON *o, const char *name, int64_t v) {
    if (v <= 0) cJSON_AddNullToObject(o, name);
    else cJSON_AddNumberToObject(o, name, (double)v);
}

static void add_remaining(cJSON *o, const char *name, int64_t budget, int64_t spent) {
    if (budget < 0) cJSON_AddNullToObject(o, name);
    else gr_meter_add_usd_json(o, name, budget > spent ? budget - spent : 0);
}

cJSON *gr_keys_info_json(const gr_key_info *in, int64_t now_ms) {
    const gr_key_record *k = &in->rec;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", k->id);
    cJSON_AddStringToObject(o, "object", "api_key");
    if (k->name) cJSON_AddStringToObject(o, "name", k->name);
    else cJSON_AddNullToObject(o, "name");
    cJSON_AddStringToObject(o, "key_prefix", k->prefix);
    cJSON_AddNumberToObject(o, "created_at", (double)k->created_at_ms);
    cJSON_AddNumberToObject(o, "updated_at", (double)k->updated_at_ms);
    add_int_opt(o, "expires_at", k->expires_at_ms);
    add_int_opt(o, "revoked_at", k->revoked_at_ms);
    const char *state = k->revoked_at_ms ? "revoked"
                        : (k->expires_at_ms && now_ms >= k->expires_at_ms) ? "expired"
                                                                            : "active";
    cJSON_AddStringToObject(o, "status", state);
    cJSON *models = k->models_json ? cJSON_Parse(k->models_json) : NULL;
    if (models) cJSON_AddItemToObject(o, "models", models);
    else cJSON_AddNullToObject(o, "models");
    cJSON *meta = k->metadata_json ? cJSON_Parse(k->metadata_json) : NULL;
    if (meta) cJSON_AddItemToObject(o, "metadata", meta);
    else cJSON_AddNullToObject(o, "metadata");
    cJSON *lim = cJSON_AddObjectToObject(o, "limits");
    add_usd_opt(lim, "budget_usd", k->budget_total_nusd);
    add_usd_opt(lim, "budget_daily_usd", k->budget_daily_nusd);
    add_usd_opt(lim, "budget_monthly_usd", k->budget_monthly_nusd);
    add_int_opt(lim, "rpm", k->rpm);
    add_int_opt(lim, "tpm", k->tpm);
    cJSON *sp = cJSON_AddObjectToObject(o, "spend");
    gr_meter_add_usd_json(sp, "total_usd", in->spent_total_nusd);
    gr_meter_add_usd_json(sp, "daily_usd", in->spent_day_nusd);
    gr_meter_add_usd_json(sp, "monthly_usd", in->spent_month_nusd);
    gr_meter_add_usd_json(sp, "reserved_usd", in->reserved_nusd);
    cJSON_AddNumberToObject(sp, "requests", (double)in->requests);
    cJSON *rem = cJSON_AddObjectToObject(o, "remaining");
    add_remaining(rem, "total_usd", k->budget_total_nusd, in->spent_total_nusd);
    add_remaining(rem, "daily_usd", k->budget_daily_nusd, in->spent_day_nusd);
    add_remaining(rem, "monthly_usd", k->budget_monthly_nusd, in->spent_month_nusd);
    cJSON *win = cJSON_AddObjectToObject(o, "rate_window");
    cJSON_AddNumberToObject(win, "requests_last_minute", (double)in->rpm_used);
    cJSON_AddNumberToObject(win, "tokens_last_minute", (double)in->tpm_used);
    return o;
}

char *gr_keys_verdict_json(const gr_key_verdict *v) {
    cJSON *root = cJSON_CreateObject();
    cJSON *err = cJSON_AddObjectToObject(root, "error");
    cJSON_AddStringToObject(err, "message", v->message);
    cJSON_AddStringToObject(err, "type", v->type ? v->type : "api_error");
    cJSON_AddNullToObject(err, "param");
    if (v->code) cJSON_AddStringToObject(err, "code", v->code);
    else cJSON_AddNullToObject(err, "code");
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

/* ---- spec parsing ---- */

static gr_status usd_field(const cJSON *v, int64_t *out) {
    if (!v || cJSON_IsNull(v)) {
        *out = -1;
        return GR_OK;
    }
    if (cJSON_IsString(v)) return gr_meter_parse_usd(v->valuestring, out);
    if (cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 9e9) {
        char *txt = cJSON_PrintUnformatted(v); /* "%1.15g": exact for decimal literals */
        gr_status rc = txt ? gr_meter_parse_usd(txt, out) : GR_ERR_NOMEM;
        cJSON_free(txt);
        if (rc == GR_OK) return GR_OK;
        *out = (int64_t)llround(v->valuedouble * 1e9);
        return GR_OK;
    }
    return GR_ERR_INVALID;
}

static gr_status count_field(const cJSON *v, int64_t *out) {
    if (!v || cJSON_IsNull(v)) {
        *out = 0;
        return GR_OK;
    }
    if (cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble <= 9e15 &&
        v->valuedouble == floor(v->valuedouble)) {
        *out = (int64_t)v->valuedouble;
        return GR_OK;
    }
    return GR_ERR_INVALID;
}

static gr_status time_field(const cJSON *v, int64_t *out) {
    if (!v || cJSON_IsNull(v)) {
        *out = 0;
        return GR_OK;
    }
    if (cJSON_IsNumber(v) && v->valuedouble >= 0) {
        double d = v->valuedouble;
        *out = (int64_t)(d < 1e11 ? d * 1000 : d); /* seconds or ms */
        return GR_OK;
    }
    if (cJSON_IsString(v)) {
        struct tm tm;
        memset(&tm, 0, sizeof tm);
        const char *s = v->valuestring;
        const char *end = strptime(s, "%Y-%m-%d", &tm);
        if (!end) return GR_ERR_INVALID;
        if (*end == 'T' || *end == ' ') {
            end = strptime(end + 1, "%H:%M:%S", &tm);
            if (!end) return GR_ERR_INVALID;
            if (*end == 'Z') end++;
        }
        if (*end) return GR_ERR_INVALID;
        *out = (int64_t)timegm(&tm) * 1000;
        return GR_OK;
    }
    return GR_ERR_INVALID;
}

#define FIELD(name) cJSON_GetObjectItemCaseSensitive(obj, name)

/* The fields of a key spec (admin API, CLI, `keys:` entries). */
const gr_conf_key gr_conf_key_spec_keys[] = {
    {"name", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL, "a label"},
    {"models", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL, "allowed public model names, or \"*\""},
    {"metadata", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL, "free-form object, at most 8 KiB"},
    {"budget_usd", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL, "total budget, decimal USD"},
    {"budget_daily_usd", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL, "UTC-day budget, decimal USD"},
    {"budget_monthly_usd", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL, "UTC-month budget, decimal USD"},
    {"rpm", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL, "requests per minute; 0 = unlimited"},
    {"tpm", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL, "tokens per minute; 0 = unlimited"},
    {"expires_at", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL, "unix s or ms, or YYYY-MM-DD[THH:MM:SSZ]"},
    {"expires_in_days", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL, "overrides expires_at"},
    {"key", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL, "`keys:` entries only: the plaintext, >= 16 characters"},
    GR_CONF_END,
};

/* An unknown field is an error (a typo such as budget_daily must not create
 * an unlimited key); `key` is only for entries of the config's `keys:`. */
static gr_status check_spec_keys(const cJSON *obj, bool config_entry, char *err, size_t errlen) {
    gr_conf_err ce = {err, errlen, false};
    gr_conf_check_keys(obj, "", gr_conf_key_spec_keys, &ce);
    if (!ce.failed && !config_entry && cJSON_GetObjectItemCaseSensitive(obj, "key"))
        gr_conf_fail(&ce, "key: unknown key (a virtual key's plaintext is generated by the gateway)");
    return ce.failed ? GR_ERR_INVALID : GR_OK;
}

static gr_status spec_from_json(const cJSON *obj, bool patch, bool config_entry, int64_t now_ms,
                                gr_key_record *rec, char *err, size_t errlen);

gr_status gr_keys_spec_from_json(const cJSON *obj, bool patch, int64_t now_ms,
                                 gr_key_record *rec, char *err, size_t errlen) {
    return spec_from_json(obj, patch, false, now_ms, rec, err, errlen);
}

static gr_status spec_from_json(const cJSON *obj, bool patch, bool config_entry, int64_t now_ms,
                                gr_key_record *rec, char *err, size_t errlen) {
    if (!cJSON_IsObject(obj)) {
        snprintf(err, errlen, "expected a JSON object");
        return GR_ERR_INVALID;
    }
    if (check_spec_keys(obj, config_entry, err, errlen) != GR_OK) return GR_ERR_INVALID;
    const cJSON *v;
    if ((v = FIELD("name")) || !patch) {
        if (v && !cJSON_IsNull(v) && !cJSON_IsString(v)) {
            snprintf(err, errlen, "name: expected a string");
            return GR_ERR_INVALID;
        }
        free(rec->name);
        rec->name = cJSON_IsString(v) ? gr_xstrndup(v->valuestring, strnlen(v->valuestring, 200))
                                      : NULL;
    }
    if ((v = FIELD("models")) || !patch) {
        free(rec->models_json);
        rec->models_json = NULL;
        if (cJSON_IsArray(v)) {
            const cJSON *m;
            cJSON_ArrayForEach(m, v) {
                if (!cJSON_IsString(m) || !*m->valuestring) {
                    snprintf(err, errlen, "models: expected a list of model names");
                    return GR_ERR_INVALID;
                }
            }
            char *txt = cJSON_PrintUnformatted(v);
            rec->models_json = gr_xstrdup(txt);
            cJSON_free(txt);
        } else if (v && !cJSON_IsNull(v) &&
                   !(cJSON_IsString(v) && strcmp(v->valuestring, "*") == 0)) {
            snprintf(err, errlen, "models: expected a list of model names or \"*\"");
            return GR_ERR_INVALID;
        }
    }
    if ((v = FIELD("metadata")) || !patch) {
        free(rec->metadata_json);
        rec->metadata_json = NULL;
        if (cJSON_IsObject(v)) {
            char *txt = cJSON_PrintUnformatted(v);
            if (strlen(txt) > 8192) {
                cJSON_free(txt);
                snprintf(err, errlen, "metadata: larger than 8 KiB");
                return GR_ERR_TOO_LARGE;
            }
            rec->metadata_json = gr_xstrdup(txt);
            cJSON_free(txt);
        } else if (v && !cJSON_IsNull(v)) {
            snprintf(err, errlen, "metadata: expected an object");
            return GR_ERR_INVALID;
        }
    }
    static const struct {
        const char *name;
        size_t off;
    } usd[] = {
        {"budget_usd", offsetof(gr_key_record, budget_total_nusd)},
        {"budget_daily_usd", offsetof(gr_key_record, budget_daily_nusd)},
        {"budget_monthly_usd", offsetof(gr_key_record, budget_monthly_nusd)},
    };
    for (size_t i = 0; i < GR_ARRAY_LEN(usd); i++) {
        v = FIELD(usd[i].name);
        if (!v && patch) continue;
        if (usd_field(v, (int64_t *)((char *)rec + usd[i].off)) != GR_OK) {
            snprintf(err, errlen, "%s: expected a decimal USD amount like \"10.50\" or null",
                     usd[i].name);
            return GR_ERR_INVALID;
        }
    }
    if ((v = FIELD("rpm")) || !patch) {
        if (count_field(v, &rec->rpm)) {
            snprintf(err, errlen, "rpm: expected a non-negative integer or null");
            return GR_ERR_INVALID;
        }
    }
    if ((v = FIELD("tpm")) || !patch) {
        if (count_field(v, &rec->tpm)) {
            snprintf(err, errlen, "tpm: expected a non-negative integer or null");
            return GR_ERR_INVALID;
        }
    }
    const cJSON *days = FIELD("expires_in_days");
    if (days) {
        if (!cJSON_IsNumber(days) || days->valuedouble <= 0 || days->valuedouble > 36500) {
            snprintf(err, errlen, "expires_in_days: expected a positive number of days");
            return GR_ERR_INVALID;
        }
        rec->expires_at_ms = now_ms + (int64_t)(days->valuedouble * 86400000.0);
    } else if ((v = FIELD("expires_at")) || !patch) {
        if (time_field(v, &rec->expires_at_ms)) {
            snprintf(err, errlen,
                     "expires_at: expected unix time (s or ms), \"YYYY-MM-DD[THH:MM:SSZ]\" "
                     "or null");
            return GR_ERR_INVALID;
        }
    }
    return GR_OK;
}

size_t gr_keys_count(gr_keys *t) {
    pthread_rwlock_rdlock(&t->lock);
    size_t n = t->count;
    pthread_rwlock_unlock(&t->lock);
    return n;
}

void gr_keys_limits(gr_key_entry *k, gr_key_limits *out) {
    pthread_mutex_lock(&k->mu);
    out->rpm = k->rec.rpm;
    out->tpm = k->rec.tpm;
    out->budget_total_nusd = k->rec.budget_total_nusd;
    out->budget_daily_nusd = k->rec.budget_daily_nusd;
    out->budget_monthly_nusd = k->rec.budget_monthly_nusd;
    out->spent_total_nusd = k->spent_total;
    out->spent_day_nusd = k->spent_day;
    out->spent_month_nusd = k->spent_month;
    out->committed_total_nusd = k->committed_total;
    out->committed_day_nusd = k->committed_day;
    out->committed_month_nusd = k->committed_month;
    out->live_reserved_nusd = k->shared_reserved;
    pthread_mutex_unlock(&k->mu);
}
