/* cluster_state.c — cluster-wide limits, budgets and one-time claims in Redis over
 * hiredis' async API on each worker's libevent loop (see cluster_state.h).
 *
 * The Lua scripts go to Redis once per connection (SCRIPT LOAD, queued right
 * after AUTH/SELECT) and are then called by their SHA-1 (EVALSHA), so an
 * admission sends its arguments, not 3 KB of script. Until the digest is back
 * (and after a NOSCRIPT: a SCRIPT FLUSH, a failover to a replica that never
 * saw it) a call goes as EVAL with the same arguments, so no request ever
 * fails for want of a loaded script. */
#include "cluster_state.h"

#include "health.h"
#include "instance_id.h"
#include "log.h"
#include "store.h"

#include <cjson/cJSON.h>
#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>

struct gr_shared {
    char *host;
    int port;
    char *password;
    int db;
    uint32_t timeout_ms;
    uint32_t reconnect_ms;
    uint32_t reservation_ttl_ms;
    bool rate_limits_fail_open;
};

enum { SCRIPT_ADMIT, SCRIPT_SETTLE, SCRIPT_RENEW, SCRIPT_COUNT };

struct gr_shared_conn;
typedef struct script_load {
    struct gr_shared_conn *c;
    int script;
} script_load;

struct gr_shared_conn {
    gr_shared *s;
    struct event_base *base;
    redisAsyncContext *ac;
    bool ready;
    struct event *reconnect;
    char sha[SCRIPT_COUNT][41]; /* SCRIPT LOAD's digest on this connection; "" = call with EVAL */
    script_load load[SCRIPT_COUNT];
};

/* A script call's arguments after the script itself (numkeys, keys, args),
 * kept by the op so a NOSCRIPT answer can be sent again as EVAL. */
#define SCRIPT_MAX_ARGS 24
typedef struct script_args {
    int argc;
    char *argv[SCRIPT_MAX_ARGS];
} script_args;

struct gr_shared_op {
    gr_shared_conn *c;
    gr_shared_cb cb;
    void *ud;
    struct event *deadline;
    int kind; /* 0 admit, 1 claim, 2 settle/set (no callback), 3 cache get */
    gr_shared_cache_cb cache_cb;
    bool replied, finished;
    int script;        /* SCRIPT_* of a script call, -1 otherwise */
    bool sent_as_eval; /* a NOSCRIPT answer is retried once, as EVAL */
    script_args args;
};

/* ---- scripts ---- */

/* Data per key id (hash tag {id}, so one slot):
 *   rpm:<minute>, tpm:<minute>      fixed one-minute windows (expire 120 s)
 *   spent, spent:d<day>, spent:m<month>
 *                                   settled spend; when missing (a new key, a
 *                                   new period, or Redis lost its data) it is
 *                                   seeded from the store's committed spend,
 *                                   never from one instance's memory; on every
 *                                   admission raised to the store's committed
 *                                   spend if below it (never lowered)
 *   res                             hash: field <instance> = that instance's
 *                                   live reservations, <instance>:e = their
 *                                   expiry (Redis clock, ms), renewed by that
 *                                   instance only (its admissions, settlements
 *                                   and gr_shared_renew), so a dead instance's
 *                                   reservations lapse within
 *                                   redis.reservation_ttl_ms
 * A reservation counts against every budget of the key. */

/* KEYS: rpm tpm spent spent_day spent_month res
 * ARGV: 1 rpm 2 tpm 3 est 4 cost 5 b_total 6 b_day 7 b_month 8 seed_total
 *       9 seed_day 10 seed_month 11 retry_s 12 instance 13 ttl_ms
 *       14 live (this instance's reservations, when Redis has lost them)
 *       15 seeds_fresh (1: the seeds were just read from the store)
 * Returns {status, reason, retry_s}; {409, 'reseed', 0} asks the caller to
 * read the store and call again with seeds_fresh = 1 (nothing was changed). */
static const char k_admit_lua[] =
    "local function num(k) return tonumber(redis.call('GET', k) or '0') end\n"
    "local rpm, tpm, est, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])\n"
    "if rpm > 0 and num(KEYS[1]) + 1 > rpm then return {429, 'rpm', tonumber(ARGV[11])} end\n"
    "if tpm > 0 and num(KEYS[2]) + est > tpm then return {429, 'tpm', tonumber(ARGV[11])} end\n"
    "local b = {{KEYS[3], ARGV[5], ARGV[8], 0, 'budget_total'},\n"
    "           {KEYS[4], ARGV[6], ARGV[9], 172800, 'budget_day'},\n"
    "           {KEYS[5], ARGV[7], ARGV[10], 2764800, 'budget_month'}}\n"
    "local budgets = false\n"
    "for _, x in ipairs(b) do\n"
    "  if tonumber(x[2]) >= 0 then\n"
    "    budgets = true\n"
    "    if redis.call('EXISTS', x[1]) == 0 and ARGV[15] ~= '1' then return {409, 'reseed', 0} end\n"
    "  end\n"
    "end\n"
    "local inst, ttl = ARGV[12], tonumber(ARGV[13])\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local mine = 0\n"
    "if budgets then\n"
    "  for _, x in ipairs(b) do\n"
    "    local cur = redis.call('GET', x[1])\n"
    "    if tonumber(x[2]) >= 0 and (not cur or tonumber(cur) < tonumber(x[3])) then\n"
    "      redis.call('SET', x[1], x[3])\n"
    "      if x[4] > 0 then redis.call('EXPIRE', x[1], x[4]) end\n"
    "    end\n"
    "  end\n"
    "  local h = redis.call('HGETALL', KEYS[6])\n"
    "  local amt, exp = {}, {}\n"
    "  for i = 1, #h, 2 do\n"
    "    if string.sub(h[i], -2) == ':e' then exp[string.sub(h[i], 1, -3)] = tonumber(h[i + 1])\n"
    "    else amt[h[i]] = tonumber(h[i + 1]) end\n"
    "  end\n"
    "  local reserved = 0\n"
    "  for f, v in pairs(amt) do\n"
    "    if f ~= inst then\n"
    "      if (exp[f] or 0) > now then reserved = reserved + v\n"
    "      else redis.call('HDEL', KEYS[6], f, f .. ':e') end\n"
    "    end\n"
    "  end\n"
    "  mine = amt[inst]\n"
    "  if mine == nil or (exp[inst] or 0) <= now then mine = tonumber(ARGV[14]) end\n"
    "  for _, x in ipairs(b) do\n"
    "    if tonumber(x[2]) >= 0 and num(x[1]) + reserved + mine + cost > tonumber(x[2]) then return {402, x[5], 0} end\n"
    "  end\n"
    "end\n"
    "if rpm > 0 then redis.call('INCR', KEYS[1]); redis.call('EXPIRE', KEYS[1], 120) end\n"
    "if tpm > 0 then redis.call('INCRBY', KEYS[2], est); redis.call('EXPIRE', KEYS[2], 120) end\n"
    "if budgets then\n"
    "  redis.call('HSET', KEYS[6], inst, mine + cost, inst .. ':e', now + ttl)\n"
    "  redis.call('PEXPIRE', KEYS[6], ttl)\n"
    "end\n"
    "return {200, 'ok', 0}\n";

/* KEYS as above; ARGV: 1 reserved 2 actual 3 tokens_delta 4 b_total 5 b_day
 * 6 b_month 7 tpm 8 instance 9 ttl_ms. A spent counter Redis no longer has
 * is left missing: the next admission seeds it from the store, which will
 * have this request's row. */
static const char k_settle_lua[] =
    "local res, act, dt = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "local budgets = false\n"
    "for i, x in ipairs({{KEYS[3], ARGV[4]}, {KEYS[4], ARGV[5]}, {KEYS[5], ARGV[6]}}) do\n"
    "  if tonumber(x[2]) >= 0 then\n"
    "    budgets = true\n"
    "    if redis.call('EXISTS', x[1]) == 1 then redis.call('INCRBY', x[1], act) end\n"
    "  end\n"
    "end\n"
    "if budgets then\n"
    "  local cur = redis.call('HGET', KEYS[6], ARGV[8])\n"
    "  if cur then\n"
    "    local t = redis.call('TIME')\n"
    "    local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "    local v = tonumber(cur) - res\n"
    "    if v < 0 then v = 0 end\n"
    "    redis.call('HSET', KEYS[6], ARGV[8], v, ARGV[8] .. ':e', now + tonumber(ARGV[9]))\n"
    "    redis.call('PEXPIRE', KEYS[6], tonumber(ARGV[9]))\n"
    "  end\n"
    "end\n"
    "if tonumber(ARGV[7]) > 0 and dt ~= 0 and redis.call('EXISTS', KEYS[2]) == 1 then redis.call('INCRBY', KEYS[2], dt) end\n"
    "return 1\n";

/* KEYS: res; ARGV: instance ttl_ms. Only an instance's own, still present
 * field is renewed (a lapsed one is re-registered by the next admission). */
static const char k_renew_lua[] =
    "if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "redis.call('HSET', KEYS[1], ARGV[1] .. ':e', now + tonumber(ARGV[2]))\n"
    "if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2])) end\n"
    "return 1\n";

static const char *const k_scripts[SCRIPT_COUNT] = {
    [SCRIPT_ADMIT] = k_admit_lua, [SCRIPT_SETTLE] = k_settle_lua, [SCRIPT_RENEW] = k_renew_lua};

/* ---- config: the `redis:` section (parsed at config load, config_sections.c) ---- */

typedef struct {
    char *url;
    uint32_t timeout_ms, reconnect_ms, reservation_ttl_ms;
    bool rate_limits_fail_open;
} redis_scalars;

const gr_conf_key gr_conf_redis_keys[] = {
    {"url", GR_CONF_STRING, GR_CONF_F(redis_scalars, url), 0, 0, NULL, NULL,
     "redis://[:password@]host[:port][/db]; required"},
    {"timeout_ms", GR_CONF_MS, GR_CONF_F(redis_scalars, timeout_ms), 1, 60000, "50", NULL,
     "one Redis call's deadline"},
    {"reconnect_ms", GR_CONF_MS, GR_CONF_F(redis_scalars, reconnect_ms), 10, 600000, "500", NULL,
     "delay between reconnection attempts"},
    {"rate_limits_fail_open", GR_CONF_BOOL, GR_CONF_F(redis_scalars, rate_limits_fail_open), 0, 1, "false", NULL,
     "admit by local limits when Redis is down (budgets always fail closed)"},
    {"reservation_ttl_ms", GR_CONF_MS, GR_CONF_F(redis_scalars, reservation_ttl_ms), 1000, 86400000, "60000", NULL,
     "a live instance renews its budget reservations every third of this; a dead instance's lapse within it"},
    GR_CONF_END,
};

static bool parse_url(gr_shared *s, const char *url, gr_conf_err *e) {
    if (strncmp(url, "redis://", 8)) {
        gr_conf_fail(e, "redis.url: expected redis://[:password@]host[:port][/db], got '%s'", url);
        return false;
    }
    const char *p = url + 8;
    const char *at = strrchr(p, '@');
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *pw = colon ? colon + 1 : p;
        s->password = gr_xstrndup(pw, (size_t)(at - pw));
        p = at + 1;
    }
    const char *slash = strchr(p, '/');
    const char *colon = strchr(p, ':');
    if (colon && slash && colon > slash) colon = NULL;
    size_t hlen = colon ? (size_t)(colon - p) : slash ? (size_t)(slash - p) : strlen(p);
    s->host = hlen ? gr_xstrndup(p, hlen) : gr_xstrdup("127.0.0.1");
    uint64_t port = 6379, db = 0;
    char num[16] = "";
    bool ok = true;
    if (colon) {
        size_t n = slash ? (size_t)(slash - colon - 1) : strlen(colon + 1);
        ok = n > 0 && n < sizeof num;
        if (ok) {
            memcpy(num, colon + 1, n);
            num[n] = '\0';
            ok = gr_conf_parse_uint(num, GR_CONF_COUNT, &port) == GR_OK && port >= 1 && port <= 65535;
        }
    }
    if (ok && slash && slash[1]) ok = gr_conf_parse_uint(slash + 1, GR_CONF_COUNT, &db) == GR_OK && db <= 1000000;
    if (!ok) {
        gr_conf_fail(e, "redis.url: bad port or database in '%s'", url);
        return false;
    }
    s->port = (int)port;
    s->db = (int)db;
    return true;
}

static void shared_conf_free(gr_shared *s) {
    if (!s) return;
    free(s->host);
    free(s->password);
    free(s);
}

void *gr_redis_conf_parse(const cJSON *r, const gr_config *cfg, gr_conf_err *e) {
    (void)cfg;
    if (!r || cJSON_IsNull(r)) return NULL;
    redis_scalars sc = {0};
    gr_conf_load_keys_or_url(r, "redis", gr_conf_redis_keys, &sc, e); /* or redis: "redis://..." */
    gr_shared *s = gr_xcalloc(1, sizeof(*s));
    s->timeout_ms = sc.timeout_ms;
    s->reconnect_ms = sc.reconnect_ms;
    s->reservation_ttl_ms = sc.reservation_ttl_ms;
    s->rate_limits_fail_open = sc.rate_limits_fail_open;
    if (!e->failed && !sc.url) gr_conf_fail(e, "redis.url: required (redis://host:port/db)");
    if (!e->failed) parse_url(s, sc.url, e);
    gr_conf_free_keys(gr_conf_redis_keys, &sc);
    if (e->failed) {
        shared_conf_free(s);
        return NULL;
    }
    return s;
}

void gr_redis_conf_free(void *conf) { shared_conf_free(conf); }

gr_shared *gr_shared_new(const gr_config *cfg, char *err, size_t errlen) {
    if (err && errlen) err[0] = '\0';
    const gr_shared *conf = cfg->section[GR_CONF_SEC_REDIS];
    if (!conf) return NULL;
    gr_shared *s = gr_xcalloc(1, sizeof(*s));
    *s = *conf;
    s->host = gr_xstrdup(conf->host);
    s->password = conf->password ? gr_xstrdup(conf->password) : NULL;
    return s;
}

void gr_shared_free(gr_shared *s) { shared_conf_free(s); }

bool gr_shared_rate_limits_fail_open(const gr_shared *s) { return s && s->rate_limits_fail_open; }

/* ---- connection ---- */

static void connect_now(gr_shared_conn *c);
static void script_load_queue(gr_shared_conn *c, int script);
static int script_send(gr_shared_op *op, bool as_eval);

static void reconnect_cb(evutil_socket_t fd, short what, void *arg) { connect_now(arg); }

static void schedule_reconnect(gr_shared_conn *c) {
    struct timeval tv = {c->s->reconnect_ms / 1000, (c->s->reconnect_ms % 1000) * 1000};
    evtimer_add(c->reconnect, &tv);
}

static void on_connect(const redisAsyncContext *ac, int status) {
    gr_shared_conn *c = ac->data;
    if (status != REDIS_OK) {
        GR_WARN("redis %s:%d: connect failed: %s", c->s->host, c->s->port, ac->errstr);
        c->ac = NULL; /* hiredis frees the context after this callback */
        c->ready = false;
        schedule_reconnect(c);
        return;
    }
    c->ready = true;
}

static void on_disconnect(const redisAsyncContext *ac, int status) {
    gr_shared_conn *c = ac->data;
    if (!c) return;
    if (status != REDIS_OK) GR_WARN("redis %s:%d: connection lost: %s", c->s->host, c->s->port, ac->errstr);
    c->ac = NULL;
    c->ready = false;
    schedule_reconnect(c);
}

static void on_script_loaded(redisAsyncContext *ac, void *reply, void *privdata) {
    script_load *l = privdata;
    redisReply *r = reply;
    if (!ac->data) return; /* the connection is being freed */
    if (r && r->type == REDIS_REPLY_STRING && r->len == 40) memcpy(l->c->sha[l->script], r->str, 41);
    else if (r) GR_WARN("redis: SCRIPT LOAD failed (%s); the script goes as EVAL", r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
}

/* Until its digest is back, the script is called with EVAL. */
static void script_load_queue(gr_shared_conn *c, int script) {
    c->sha[script][0] = '\0';
    c->load[script] = (script_load){c, script};
    redisAsyncCommand(c->ac, on_script_loaded, &c->load[script], "SCRIPT LOAD %s", k_scripts[script]);
}

static void connect_now(gr_shared_conn *c) {
    redisAsyncContext *ac = redisAsyncConnect(c->s->host, c->s->port);
    if (!ac || ac->err) {
        if (ac) redisAsyncFree(ac);
        schedule_reconnect(c);
        return;
    }
    ac->data = c;
    redisLibeventAttach(ac, c->base);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    c->ac = ac;
    /* Commands queue until the connection is up; AUTH/SELECT go first. */
    if (c->s->password) redisAsyncCommand(ac, NULL, NULL, "AUTH %s", c->s->password);
    if (c->s->db) redisAsyncCommand(ac, NULL, NULL, "SELECT %d", c->s->db);
    for (int i = 0; i < SCRIPT_COUNT; i++) script_load_queue(c, i);
}

gr_shared_conn *gr_shared_conn_new(gr_shared *s, struct event_base *base) {
    if (!s) return NULL;
    gr_shared_conn *c = gr_xcalloc(1, sizeof(*c));
    c->s = s;
    c->base = base;
    c->reconnect = evtimer_new(base, reconnect_cb, c);
    connect_now(c);
    return c;
}

void gr_shared_conn_free(gr_shared_conn *c) {
    if (!c) return;
    if (c->ac) {
        c->ac->data = NULL; /* no reconnect from the disconnect callback */
        redisAsyncFree(c->ac); /* pending callbacks run with a NULL reply */
    }
    event_free(c->reconnect);
    free(c);
}

/* Commands may be queued while the connection is being made: hiredis sends
 * them once it is up, and the deadline covers a connect that never succeeds. */
bool gr_shared_conn_ready(const gr_shared_conn *c) { return c && c->ac; }
bool gr_shared_conn_connected(const gr_shared_conn *c) { return c && c->ac && c->ready; }

/* ---- operations ---- */

static void op_free(gr_shared_op *op) {
    if (op->deadline) event_free(op->deadline);
    for (int i = 0; i < op->args.argc; i++) free(op->args.argv[i]);
    free(op);
}

static void op_free_if_done(gr_shared_op *op) {
    if (op->replied && op->finished) op_free(op);
}

static void op_deliver(gr_shared_op *op, const gr_shared_verdict *v) {
    if (op->finished) return;
    op->finished = true;
    if (op->deadline) event_del(op->deadline);
    if (op->cb) op->cb(op->ud, v);
}

static void op_deadline_cb(evutil_socket_t fd, short what, void *arg) {
    gr_shared_op *op = arg;
    if (op->kind == 3) { /* a slow cache is a miss */
        if (!op->finished) {
            op->finished = true;
            op->cache_cb(op->ud, false, NULL, 0);
        }
        op_free_if_done(op);
        return;
    }
    gr_shared_verdict v = {503, true, 0, "timeout", false};
    op_deliver(op, &v);
    op_free_if_done(op);
}

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata) {
    gr_shared_op *op = privdata;
    redisReply *r = reply;
    op->replied = true;
    if (!ac->data) { /* the connection is being freed: nobody is waiting any more */
        op->finished = true;
        op_free_if_done(op);
        return;
    }
    if (r && r->type == REDIS_REPLY_ERROR && op->script >= 0 && !op->sent_as_eval && !strncmp(r->str, "NOSCRIPT", 8)) {
        /* The server lost the script (SCRIPT FLUSH, failover): load it again
         * for the next calls and send this one as EVAL, arguments unchanged. */
        script_load_queue(op->c, op->script);
        op->replied = false;
        if (script_send(op, true) == REDIS_OK) return;
        op->replied = true;
    }
    gr_shared_verdict v = {503, true, 0, "error", false};
    if (r && op->kind == 0 && r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
        r->element[0]->type == REDIS_REPLY_INTEGER) {
        v.status = (int)r->element[0]->integer;
        v.store_down = false;
        v.reason = v.status == 200 ? "ok" : v.status == 402 ? "budget" : "rate";
        if (r->element[1]->type == REDIS_REPLY_STRING) {
            const char *why = r->element[1]->str;
            v.reason = !strcmp(why, "rpm") ? "rpm" : !strcmp(why, "tpm") ? "tpm" : !strcmp(why, "budget_day") ? "budget_day"
                     : !strcmp(why, "budget_month") ? "budget_month" : !strcmp(why, "budget_total") ? "budget_total"
                     : !strcmp(why, "reseed") ? "reseed" : "ok";
        }
        v.need_seed = v.status == 409;
        if (r->element[2]->type == REDIS_REPLY_INTEGER) v.retry_after_s = (int)r->element[2]->integer;
    } else if (op->kind == 3) { /* cache get: deliver the bytes (or a miss) */
        if (op->finished) { op_free_if_done(op); return; }
        op->finished = true;
        if (op->deadline) event_del(op->deadline);
        if (r && r->type == REDIS_REPLY_STRING) op->cache_cb(op->ud, true, r->str, (size_t)r->len);
        else op->cache_cb(op->ud, false, NULL, 0); /* miss, error or store down: just serve */
        op_free_if_done(op);
        return;
    } else if (r && op->kind == 1) {
        if (r->type == REDIS_REPLY_STATUS && !strcmp(r->str, "OK")) v = (gr_shared_verdict){200, false, 0, "claimed", false};
        else if (r->type == REDIS_REPLY_NIL) v = (gr_shared_verdict){409, false, 0, "already_claimed", false};
    } else if (r && r->type == REDIS_REPLY_ERROR) {
        GR_WARN("redis: %s", r->str);
    }
    op_deliver(op, &v);
    op_free_if_done(op);
}

static gr_shared_op *op_new(gr_shared_conn *c, int kind, gr_shared_cb cb, void *ud) {
    gr_shared_op *op = gr_xcalloc(1, sizeof(*op));
    op->c = c;
    op->kind = kind;
    op->cb = cb;
    op->ud = ud;
    op->script = -1;
    if (cb) {
        op->deadline = evtimer_new(c->base, op_deadline_cb, op);
        struct timeval tv = {c->s->timeout_ms / 1000, (c->s->timeout_ms % 1000) * 1000};
        evtimer_add(op->deadline, &tv);
    } else {
        op->finished = true;
    }
    return op;
}

/* Store down before sending: answer on the next loop turn, never inside the call. */
static void fail_soon(gr_shared_op *op) {
    op->replied = true;
    struct timeval zero = {0, 0};
    if (op->deadline) evtimer_add(op->deadline, &zero);
    else op_free(op);
}

static void arg_str(script_args *a, const char *v) {
    if (a->argc >= SCRIPT_MAX_ARGS) abort(); /* the callers' counts are fixed: a programming error */
    a->argv[a->argc++] = gr_xstrdup(v);
}

static void arg_int(script_args *a, long long v) {
    char b[24];
    snprintf(b, sizeof b, "%lld", v);
    arg_str(a, b);
}

/* EVALSHA <digest> (or EVAL <script>) followed by the op's arguments. */
static int script_send(gr_shared_op *op, bool as_eval) {
    gr_shared_conn *c = op->c;
    const char *argv[SCRIPT_MAX_ARGS + 2];
    size_t argl[SCRIPT_MAX_ARGS + 2];
    bool sha = !as_eval && c->sha[op->script][0];
    argv[0] = sha ? "EVALSHA" : "EVAL";
    argv[1] = sha ? c->sha[op->script] : k_scripts[op->script];
    op->sent_as_eval = !sha;
    for (int i = 0; i < op->args.argc; i++) argv[i + 2] = op->args.argv[i];
    for (int i = 0; i < op->args.argc + 2; i++) argl[i] = strlen(argv[i]);
    return redisAsyncCommandArgv(c->ac, on_reply, op, op->args.argc + 2, argv, argl);
}

/* A script call on op: `nkeys` keys of k, then the arguments already in op->args. */
static int script_call(gr_shared_op *op, int script, char (*k)[160], int nkeys) {
    script_args tail = op->args;
    op->args.argc = 0;
    arg_int(&op->args, nkeys);
    for (int i = 0; i < nkeys; i++) arg_str(&op->args, k[i]);
    if (op->args.argc + tail.argc > SCRIPT_MAX_ARGS) abort();
    for (int i = 0; i < tail.argc; i++) op->args.argv[op->args.argc++] = tail.argv[i];
    op->script = script;
    return script_send(op, false);
}

static void key_names(char k[6][160], const char *id, int64_t now_ms) {
    int64_t minute = now_ms / 60000, day = gr_store_utc_day(now_ms), month = gr_store_utc_month(now_ms);
    snprintf(k[0], 160, "gr:k:{%s}:rpm:%lld", id, (long long)minute);
    snprintf(k[1], 160, "gr:k:{%s}:tpm:%lld", id, (long long)minute);
    snprintf(k[2], 160, "gr:k:{%s}:spent", id);
    snprintf(k[3], 160, "gr:k:{%s}:spent:d%lld", id, (long long)day);
    snprintf(k[4], 160, "gr:k:{%s}:spent:m%lld", id, (long long)month);
    snprintf(k[5], 160, "gr:k:{%s}:res", id);
}

gr_shared_op *gr_shared_admit(gr_shared_conn *c, const char *key_id, const gr_key_limits *lim, int64_t est_tokens,
                              int64_t max_cost_nusd, int64_t now_ms, bool seeds_fresh, gr_shared_cb cb, void *ud) {
    gr_shared_op *op = op_new(c, 0, cb, ud);
    if (!gr_shared_conn_ready(c)) {
        fail_soon(op);
        return op;
    }
    char k[6][160];
    key_names(k, key_id, now_ms);
    int retry = (int)(60 - (now_ms / 1000) % 60); /* the RPM/TPM window is the calendar minute */
    /* Seeds: the store's committed spend; right after a fresh read this
     * process's own view is added as a floor (it also holds its requests
     * settled since and not yet in the store). */
    int64_t seed_t = lim->committed_total_nusd, seed_d = lim->committed_day_nusd, seed_m = lim->committed_month_nusd;
    if (seeds_fresh) {
        if (lim->spent_total_nusd > seed_t) seed_t = lim->spent_total_nusd;
        if (lim->spent_day_nusd > seed_d) seed_d = lim->spent_day_nusd;
        if (lim->spent_month_nusd > seed_m) seed_m = lim->spent_month_nusd;
    }
    script_args *a = &op->args;
    const long long argn[] = {lim->rpm, lim->tpm, est_tokens, max_cost_nusd, lim->budget_total_nusd,
                              lim->budget_daily_nusd, lim->budget_monthly_nusd, seed_t, seed_d, seed_m, retry};
    for (size_t i = 0; i < GR_ARRAY_LEN(argn); i++) arg_int(a, argn[i]);
    arg_str(a, gr_instance_id_hex());
    arg_int(a, c->s->reservation_ttl_ms);
    arg_int(a, lim->live_reserved_nusd);
    arg_int(a, seeds_fresh ? 1 : 0);
    if (script_call(op, SCRIPT_ADMIT, k, 6) != REDIS_OK) fail_soon(op);
    return op;
}

void gr_shared_settle(gr_shared_conn *c, const char *key_id, const gr_key_limits *lim, int64_t reserved_nusd,
                      int64_t actual_nusd, int64_t est_tokens, int64_t actual_tokens, int64_t now_ms) {
    if (!gr_shared_conn_ready(c)) return; /* the reservation lapses (redis.reservation_ttl_ms) */
    gr_shared_op *op = op_new(c, 2, NULL, NULL);
    char k[6][160];
    key_names(k, key_id, now_ms);
    const long long argn[] = {reserved_nusd,           actual_nusd,           actual_tokens - est_tokens,
                              lim->budget_total_nusd, lim->budget_daily_nusd, lim->budget_monthly_nusd,
                              lim->tpm};
    for (size_t i = 0; i < GR_ARRAY_LEN(argn); i++) arg_int(&op->args, argn[i]);
    arg_str(&op->args, gr_instance_id_hex());
    arg_int(&op->args, c->s->reservation_ttl_ms);
    if (script_call(op, SCRIPT_SETTLE, k, 6) != REDIS_OK) op_free(op);
}


void gr_shared_renew(gr_shared_conn *c, const char *key_id) {
    if (!gr_shared_conn_ready(c)) return;
    gr_shared_op *op = op_new(c, 2, NULL, NULL);
    char k[6][160];
    key_names(k, key_id, 0);
    arg_str(&op->args, gr_instance_id_hex());
    arg_int(&op->args, c->s->reservation_ttl_ms);
    if (script_call(op, SCRIPT_RENEW, &k[5], 1) != REDIS_OK) op_free(op);
}

uint32_t gr_shared_reservation_ttl_ms(const gr_shared *s) { return s ? s->reservation_ttl_ms : 0; }

gr_shared_op *gr_shared_claim(gr_shared_conn *c, const char *token, uint32_t ttl_s, gr_shared_cb cb, void *ud) {
    gr_shared_op *op = op_new(c, 1, cb, ud);
    if (!gr_shared_conn_ready(c)) {
        fail_soon(op);
        return op;
    }
    if (redisAsyncCommand(c->ac, on_reply, op, "SET gr:once:%s 1 NX EX %u", token, ttl_s ? ttl_s : 1) != REDIS_OK)
        fail_soon(op);
    return op;
}

gr_shared_op *gr_shared_cache_get(gr_shared_conn *c, const char *key, gr_shared_cache_cb cb, void *ud) {
    gr_shared_op *op = op_new(c, 3, (gr_shared_cb)NULL, ud);
    op->cache_cb = cb;
    op->finished = false; /* op_new marks callback-less ops finished */
    op->deadline = evtimer_new(c->base, op_deadline_cb, op);
    struct timeval tv = {c->s->timeout_ms / 1000, (c->s->timeout_ms % 1000) * 1000};
    if (!gr_shared_conn_ready(c) ||
        redisAsyncCommand(c->ac, on_reply, op, "GET gr:cache:%s", key) != REDIS_OK) {
        op->replied = true;
        tv = (struct timeval){0, 0};
    }
    evtimer_add(op->deadline, &tv);
    return op;
}

void gr_shared_cache_set(gr_shared_conn *c, const char *key, const char *data, size_t len, uint32_t ttl_s) {
    if (!gr_shared_conn_ready(c) || !ttl_s) return;
    gr_shared_op *op = op_new(c, 2, NULL, NULL);
    if (redisAsyncCommand(c->ac, on_reply, op, "SET gr:cache:%s %b EX %u", key, data, len, ttl_s) != REDIS_OK) op_free(op);
}

/* ---- circuit-breaker hints ---- */

void gr_shared_hint_open(gr_shared_conn *c, const char *dep_key, uint64_t open_ms) {
    if (!gr_shared_conn_ready(c) || !open_ms) return;
    gr_shared_op *op = op_new(c, 2, NULL, NULL);
    /* value = wall-clock end of the open period, so readers need no shared clock */
    if (redisAsyncCommand(c->ac, on_reply, op, "SET gr:hint:%s %llu PX %llu", dep_key,
                          (unsigned long long)(gr_wall_ms() + open_ms), (unsigned long long)open_ms) != REDIS_OK)
        op_free(op);
}

typedef struct hint_poll {
    gr_health **h;
    size_t n;
} hint_poll;

static void on_hints(redisAsyncContext *ac, void *reply, void *privdata) {
    hint_poll *hp = privdata;
    redisReply *r = reply;
    if (ac->data && r && r->type == REDIS_REPLY_ARRAY && r->elements == hp->n) {
        uint64_t now_wall = gr_wall_ms(), now_us = gr_now_us();
        for (size_t i = 0; i < hp->n; i++) {
            if (r->element[i]->type != REDIS_REPLY_STRING) continue;
            unsigned long long until = strtoull(r->element[i]->str, NULL, 10);
            if (until > now_wall) gr_health_hint_open(hp->h[i], now_us + (until - now_wall) * 1000u);
        }
    }
    free(hp->h);
    free(hp);
}

void gr_shared_hints_poll(gr_shared_conn *c, gr_health **h, size_t n) {
    if (!gr_shared_conn_ready(c) || n == 0) {
        free(h);
        return;
    }
    const char **argv = gr_xcalloc(n + 1, sizeof(char *));
    size_t *argl = gr_xcalloc(n + 1, sizeof(size_t));
    char **keys = gr_xcalloc(n, sizeof(char *));
    argv[0] = "MGET";
    argl[0] = 4;
    for (size_t i = 0; i < n; i++) {
        size_t kl = strlen(gr_health_key(h[i])) + 9;
        keys[i] = gr_xmalloc(kl);
        snprintf(keys[i], kl, "gr:hint:%s", gr_health_key(h[i]));
        argv[i + 1] = keys[i];
        argl[i + 1] = strlen(keys[i]);
    }
    hint_poll *hp = gr_xcalloc(1, sizeof(*hp));
    hp->h = h;
    hp->n = n;
    if (redisAsyncCommandArgv(c->ac, on_hints, hp, (int)(n + 1), argv, argl) != REDIS_OK) {
        free(hp->h);
        free(hp);
    }
    for (size_t i = 0; i < n; i++) free(keys[i]);
    free(keys);
    free(argv);
    free(argl);
}

void gr_shared_op_cancel(gr_shared_op *op) {
    if (!op || op->finished) return;
    op->finished = true;
    if (op->deadline) event_del(op->deadline);
    op_free_if_done(op);
}
