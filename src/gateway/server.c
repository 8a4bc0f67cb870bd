/* server.c — workers, listeners, signals, reload and drain (requests go to
 * endpoints.c)
 * (see server.h). */
#include "config_load.h"
#include "server.h"
#include "vertex_token.h"

#include "config_reload.h"
#include "endpoints.h"
#include "feature_list.h"
#include "alerts.h"
#include "log_sink.h"
#include "otel_trace.h"
#include "http_reply.h"
#include "http_server.h"
#include "listen.h"
#include "json_arena.h"
#include "log.h"
#include "metrics.h"
#include "mock_upstream.h"
#include "pay_x402.h"
#include "services.h"
#include "service_metrics.h"
#include "route.h"
#include "health.h"
#include "instance_id.h"
#include "cluster_state.h"
#include "upstream.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

struct gr_server {
    gr_worker *workers;
    size_t nworkers;
    struct event_base *main_base;
    gr_mock *mock;
    uint16_t mock_port;
    char *config_path;
    gr_services svc;
    atomic_bool draining;
};

/* ---- workers ---- */

static void worker_wake(evutil_socket_t fd, short what, void *arg) {
    gr_worker *w = arg;
    if (!atomic_load(&w->draining)) return;
    if (w->http) gr_http_server_drain(w->http); /* stop accepting; idle connections close */
    gr_worker_maybe_drained(w);
}

/* Every third of redis.reservation_ttl_ms: keep this live instance's
 * reservations in Redis from lapsing while its requests run (a dead
 * instance's stop being renewed and lapse; see cluster_state.h). */
static void renew_tick(evutil_socket_t fd, short what, void *arg) {
    gr_worker *w = arg;
    char (*ids)[GR_KEY_ID_MAX] = NULL;
    size_t n = gr_keys_shared_ids(w->svc->keys, &ids);
    for (size_t i = 0; i < n; i++) gr_shared_renew(w->shared, ids[i]);
    free(ids);
}

/* Every second: which of this config's deployments did another instance
 * find broken? (Redis hints; see cluster_state.h) */
static void hints_tick(evutil_socket_t fd, short what, void *arg) {
    gr_worker *w = arg;
    gr_config *c = gr_config_current_acquire();
    size_t n = 0;
    for (size_t i = 0; i < c->nmodels; i++) n += c->models[i].ndeployments;
    gr_health **h = gr_xcalloc(n ? n : 1, sizeof(*h));
    size_t k = 0;
    for (size_t i = 0; i < c->nmodels; i++)
        for (size_t d = 0; d < c->models[i].ndeployments; d++) {
            const gr_deployment *dep = &c->models[i].deployments[d];
            gr_health *x = gr_health_get2(dep->provider->name, dep->upstream_model);
            bool seen = false;
            for (size_t j = 0; j < k && !seen; j++) seen = h[j] == x;
            if (!seen) h[k++] = x;
        }
    gr_config_release(c);
    gr_shared_hints_poll(w->shared, h, k); /* takes the array */
}

static void log_flush_tick(evutil_socket_t fd, short what, void *arg) { gr_access_log_flush(); }

static void *worker_main(void *arg) {
    gr_worker *w = arg;
    gr_access_log_buffer_begin(w->access_log_buffer); /* the buffer is this thread's */
    event_base_loop(w->base, EVLOOP_NO_EXIT_ON_EMPTY);
    gr_access_log_buffer_end(); /* drained: every finished request's line is written */
    return NULL;
}

/* The listening address: the first result, for the probe and every worker alike. */
static bool worker_init(gr_server *s, gr_worker *w, const gr_config *cfg) {
    size_t nworkers = s->nworkers ? s->nworkers : 1;
    w->srv = s;
    w->svc = &s->svc;
    w->exec = s->svc.exec;
    w->route_state = gr_xcalloc(1, sizeof(*w->route_state));
    w->json_shard = gr_json_shard_new();
    gr_route_state_init(w->route_state, gr_now_us() ^ ((uint64_t)w->id << 32));
    w->base = event_base_new();
    gr_upstream_opts uo = {.curl_only = cfg->server.upstream_curl_only,
                           .keepalive_max = cfg->server.upstream_keepalive,
                           .keepalive_ms = cfg->server.upstream_keepalive_ms};
    w->up = gr_upstream_new(w->base, &uo);
    w->shared = gr_shared_conn_new(s->svc.shared, w->base);
    if (w->shared) {
        w->hints = event_new(w->base, -1, EV_PERSIST, hints_tick, w);
        event_add(w->hints, &(struct timeval){1, 0});
    }
    if (w->shared && w->id == 0) { /* one worker per instance is enough: the expiry is per instance */
        uint32_t ms = gr_shared_reservation_ttl_ms(s->svc.shared) / 3;
        w->renew = event_new(w->base, -1, EV_PERSIST, renew_tick, w);
        event_add(w->renew, &(struct timeval){ms / 1000, (ms % 1000) * 1000});
    }
    w->wake = event_new(w->base, -1, EV_PERSIST, worker_wake, w);
    event_add(w->wake, NULL);
    w->access_log_buffer = (size_t)cfg->log.access_log_buffer;
    if (w->access_log_buffer) {
        uint32_t ms = cfg->log.access_log_flush_ms;
        w->log_flush = event_new(w->base, -1, EV_PERSIST, log_flush_tick, w);
        event_add(w->log_flush, &(struct timeval){ms / 1000, (ms % 1000) * 1000});
    }
    w->store_mb = gr_store_mailbox_new(w->base);
    int fd = gr_listen_socket(cfg->server.host, cfg->server.port, true);
    if (fd < 0) return false;
    gr_http_server_limits lim = {.max_header_bytes = cfg->server.max_header_bytes,
                                 .max_body_bytes = cfg->server.max_body_bytes,
                                 .client_timeout_ms = cfg->server.client_timeout_ms,
                                 .body_timeout_ms = cfg->server.body_timeout_ms,
                                 .accept_backoff_ms = cfg->server.accept_backoff_ms,
                                 /* the process-wide cap, split evenly: each worker accepts its share */
                                 .max_connections = cfg->server.max_connections
                                                        ? (uint32_t)((cfg->server.max_connections + nworkers - 1) / nworkers)
                                                        : 0};
    w->http = gr_http_server_new(w->base, fd, &lim, gr_endpoints_dispatch, w);
    if (!w->http) close(fd);
    return w->http != NULL;
}

static void worker_dispose(gr_worker *w) {
    free(w->route_state);
    gr_pool_free(w->spare_pool);
    gr_json_shard_free(w->json_shard);
    gr_http_server_free(w->http);
    gr_upstream_free(w->up);
    if (w->hints) event_free(w->hints);
    if (w->renew) event_free(w->renew);
    gr_shared_conn_free(w->shared);
    if (w->wake) event_free(w->wake);
    if (w->log_flush) event_free(w->log_flush);
    gr_store_mailbox_free(w->store_mb); /* after the executor drained (gr_server_run) */
    if (w->base) event_base_free(w->base);
}

/* ---- main thread: signals ---- */

void gr_server_patch_mock_urls(gr_config *cfg, uint16_t mock_port) {
    for (size_t i = 0; i < cfg->nproviders; i++) {
        gr_provider_conf *p = &cfg->providers[i];
        if (p->kind != GR_PROVIDER_MOCK || p->base_url) continue;
        char url[64];
        snprintf(url, sizeof(url), "http://127.0.0.1:%u/v1", mock_port);
        p->base_url = gr_xstrdup(url);
    }
}

static void on_reload(evutil_socket_t sig, short what, void *arg) {
    gr_server *s = arg;
    char err[1024];
    gr_config *c = gr_config_load_file(s->config_path, err, sizeof(err));
    if (!c) {
        GR_ERROR("reload failed, keeping the running config: %s", err);
        gr_metrics_add(GR_M_CONFIG_RELOADS, "result=\"error\"", 1);
        gr_config_reload_note(false, err);
        return;
    }
    gr_server_patch_mock_urls(c, s->mock_port);
    gr_services_reload(&s->svc, c);
    gr_log_set_level(gr_log_level_parse(c->log.level));
    if (!gr_access_log_open(c->log.access_log)) GR_WARN("log.access_log: cannot open %s; keeping the old target", c->log.access_log);
    gr_config_current_set(c);
    gr_metrics_add(GR_M_CONFIG_RELOADS, "result=\"ok\"", 1);
    gr_config_reload_note(true, NULL);
    GR_INFO("config reloaded from %s: %zu providers, %zu models", s->config_path, c->nproviders, c->nmodels);
}

/* Keys created or revoked through another instance (shared PostgreSQL store)
 * become visible here within store_refresh_ms, without a SIGHUP. */
static void on_keys_refresh(evutil_socket_t fd, short what, void *arg) {
    gr_server *s = arg;
    int64_t now = (int64_t)gr_wall_ms();
    gr_status rc = gr_keys_reload(s->svc.keys, now);
    gr_store_health_note(rc);
    if (rc != GR_OK) {
        GR_WARN("keys: periodic refresh from the store failed (%s)", gr_status_str(rc));
        return;
    }
    /* Other instances' spend (shared store): views and the Redis seed. */
    gr_store_health_note(gr_keys_refresh_spend(s->svc.keys, now));
}

static void drain_timeout(evutil_socket_t fd, short what, void *arg) {
    gr_server *s = arg;
    GR_WARN("drain timeout reached: stopping with requests still in flight");
    for (size_t i = 0; i < s->nworkers; i++) event_base_loopbreak(s->workers[i].base);
}

static void on_terminate(evutil_socket_t sig, short what, void *arg) {
    gr_server *s = arg;
    if (atomic_exchange(&s->draining, true)) {
        GR_WARN("second termination signal: exiting now");
        _exit(1);
    }
    GR_INFO("signal %d: draining in-flight requests", (int)sig);
    for (size_t i = 0; i < s->nworkers; i++) {
        atomic_store(&s->workers[i].draining, true);
        event_active(s->workers[i].wake, 0, 0);
    }
    gr_config *c = gr_config_current_acquire();
    uint32_t ms = c->server.drain_timeout_ms;
    gr_config_release(c);
    /* Settlement gets the drain time too, less a second for an RPC in flight to notice: its
     * jobs are in the store, the next run or another instance carries on. */
    gr_pay_x402_stop_by(s->svc.x402, gr_wall_ms() + (ms > 1000 ? ms - 1000 : 0));
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_base_once(s->main_base, -1, EV_TIMEOUT, drain_timeout, s, &tv);
    event_base_loopexit(s->main_base, NULL);
}

int gr_server_run(gr_config *cfg) {
    gr_features_register();
    gr_server s = {0};
    int rc = 1;
    s.config_path = cfg->path;
    signal(SIGPIPE, SIG_IGN);
    evthread_use_pthreads();
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    /* Before any thread exists (services start threads too): installs the cJSON hooks. */
    gr_json_arena_setup(cfg->server.workers ? cfg->server.workers : (size_t)(ncpu > 0 ? ncpu : 1));
    gr_log_set_level(gr_log_level_parse(cfg->log.level));
    if (!gr_instance_id_init()) { /* ids unique across instances need it */
        GR_ERROR("cannot draw the instance id (RAND_bytes failed)");
        gr_config_release(cfg);
        return 1;
    }
    GR_INFO("instance %s", gr_instance_id_hex());
    if (!gr_access_log_open(cfg->log.access_log)) {
        GR_ERROR("log.access_log: cannot open %s", cfg->log.access_log);
        gr_config_release(cfg);
        return 1;
    }

    if (!cfg->server.reuse_port && !gr_listen_port_free(cfg->server.host, cfg->server.port)) {
        gr_config_release(cfg);
        return 1;
    }
    bool need_mock = false;
    for (size_t i = 0; i < cfg->nproviders; i++)
        if (cfg->providers[i].kind == GR_PROVIDER_MOCK) need_mock = true;
    if (need_mock) {
        const gr_provider_conf *mp = NULL;
        for (size_t i = 0; i < cfg->nproviders && !mp; i++)
            if (cfg->providers[i].kind == GR_PROVIDER_MOCK) mp = &cfg->providers[i];
        gr_mock_options mo = {"127.0.0.1", (uint16_t)cfg->server.mock_port, mp->mock_latency_ms, mp->mock_tokens_per_sec};
        s.mock = gr_mock_start(&mo);
        if (!s.mock) {
            gr_config_release(cfg);
            return 1;
        }
        s.mock_port = gr_mock_port(s.mock);
        GR_INFO("built-in mock provider on 127.0.0.1:%u", s.mock_port);
    }
    gr_server_patch_mock_urls(cfg, s.mock_port);
    char err[1024];
    if (gr_services_open(&s.svc, cfg, err, sizeof(err)) != GR_OK) {
        GR_ERROR("%s", err);
        gr_mock_stop(s.mock);
        gr_config_release(cfg);
        return 1;
    }
    gr_service_metrics_start(&s.svc);
    if (gr_otel_trace_start(cfg, err, sizeof(err)) != GR_OK || gr_log_sink_start(cfg, err, sizeof(err)) != GR_OK ||
        gr_alerts_start(cfg, s.svc.store_url, s.svc.ledger, err, sizeof(err)) != GR_OK) {
        GR_ERROR("exporter: %s", err);
        gr_otel_trace_stop();
        gr_log_sink_stop();
        gr_service_metrics_stop(&s.svc);
        gr_services_close(&s.svc);
        gr_mock_stop(s.mock);
        gr_config_release(cfg);
        return 1;
    }
    if (cfg->auth_mode == GR_AUTH_OPEN)
        GR_WARN("auth.mode is open: the gateway is OPEN to anyone who can reach %s:%u", cfg->server.host, cfg->server.port);
    else if (cfg->nkeys == 0 && gr_keys_count(s.svc.keys) == 0 && !s.svc.x402)
        GR_WARN("auth.mode is keys and no API key exists yet: model requests get 401 until one is created "
                "(auth.keys, keys:, the admin API or `gaterouter keys create`), or set auth.mode: open");

    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    s.nworkers = cfg->server.workers ? cfg->server.workers : (size_t)(cores > 0 ? cores : 1);
    s.workers = gr_xcalloc(s.nworkers, sizeof(gr_worker));
    struct rlimit nofile;
    if (cfg->server.max_connections && !getrlimit(RLIMIT_NOFILE, &nofile) && nofile.rlim_cur != RLIM_INFINITY &&
        2ull * cfg->server.max_connections + 64 > (unsigned long long)nofile.rlim_cur)
        GR_WARN("server.max_connections (%u) needs about %llu descriptors (one per client, one per upstream request) but "
                "the open-file limit is %llu: at that limit accepting pauses (EMFILE back-off); raise `ulimit -n` or lower "
                "server.max_connections",
                (unsigned)cfg->server.max_connections, 2ull * cfg->server.max_connections + 64,
                (unsigned long long)nofile.rlim_cur);
    gr_config_current_set(cfg); /* the snapshot now belongs to the current pointer */
    s.config_path = gr_xstrdup(cfg->path);
    for (size_t i = 0; i < s.nworkers; i++) {
        s.workers[i].id = (int)i;
        if (!worker_init(&s, &s.workers[i], cfg)) goto out;
    }
    s.main_base = event_base_new();
    struct event *ev_hup = evsignal_new(s.main_base, SIGHUP, on_reload, &s);
    struct event *ev_term = evsignal_new(s.main_base, SIGTERM, on_terminate, &s);
    struct event *ev_int = evsignal_new(s.main_base, SIGINT, on_terminate, &s);
    evsignal_add(ev_hup, NULL);
    evsignal_add(ev_term, NULL);
    evsignal_add(ev_int, NULL);
    struct event *ev_refresh = NULL;
    if (cfg->server.keys_refresh_ms) {
        ev_refresh = event_new(s.main_base, -1, EV_PERSIST, on_keys_refresh, &s);
        struct timeval rtv = {cfg->server.keys_refresh_ms / 1000, (cfg->server.keys_refresh_ms % 1000) * 1000};
        event_add(ev_refresh, &rtv);
    }

    /* Workers must not take process signals: block them before spawning. */
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    for (size_t i = 0; i < s.nworkers; i++) pthread_create(&s.workers[i].thread, NULL, worker_main, &s.workers[i]);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    bool v6 = strchr(cfg->server.host, ':') != NULL; /* an IPv6 address goes in brackets in a URL */
    GR_INFO("gaterouter %s listening on http://%s%s%s:%u with %zu workers (%zu providers, %zu models)", GR_VERSION,
            v6 ? "[" : "", cfg->server.host, v6 ? "]" : "", cfg->server.port, s.nworkers, cfg->nproviders, cfg->nmodels);

    event_base_dispatch(s.main_base); /* returns once draining started */
    /* Wait for workers, with the drain timer still able to fire. */
    for (size_t i = 0; i < s.nworkers; i++) {
        while (pthread_tryjoin_np(s.workers[i].thread, NULL) == EBUSY) {
            event_base_loop(s.main_base, EVLOOP_NONBLOCK);
            usleep(2000);
        }
    }
    if (ev_refresh) event_free(ev_refresh);
    event_free(ev_hup);
    event_free(ev_term);
    event_free(ev_int);
    GR_INFO("drained; bye");
    rc = 0;
out:
    /* Store jobs still queued (post-response bookkeeping: credit refunds,
     * payment records) complete before the loops and the store go away. */
    gr_store_exec_shutdown(s.svc.exec);
    gr_pay_x402_quiesce(s.svc.x402); /* the preflight pool too, before the mailboxes go */
    for (size_t i = 0; i < s.nworkers; i++) worker_dispose(&s.workers[i]);
    free(s.workers);
    if (s.main_base) event_base_free(s.main_base);
    gr_mock_stop(s.mock);
    gr_otel_trace_stop(); /* after the workers: the last spans and records are flushed */
    gr_log_sink_stop();
    gr_alerts_stop(); /* after the workers and the settler; before the ledger goes */
    gr_service_metrics_stop(&s.svc);
    gr_services_close(&s.svc);
    gr_config_current_set(NULL);
    free(s.config_path);
    gr_vertex_tokens_shutdown(); /* the token refresher, before libcurl goes */
    gr_upstream_global_cleanup();
    libevent_global_shutdown();
    return rc;
}
