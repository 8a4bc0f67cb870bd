/* server.c — workers, listeners, request dispatch, signals, reload and drain
 * (see server.h). */
#include "server.h"

#include "auth.h"
#include "body_decode.h"
#include "cors.h"
#include "http_reply.h"
#include "http_server.h"
#include "json_arena.h"
#include "log.h"
#include "metrics.h"
#include "mock_upstream.h"
#include "pay_x402.h"
#include "request.h"
#include "services.h"
#include "route.h"
#include "health.h"
#include "instance_id.h"
#include "shared.h"
#include "upstream.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/http.h> /* evhttp_uridecode */
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

/* ---- dispatch ---- */

static void reply_text(gr_request *r, int status, const char *ctype, const char *body, size_t len) {
    r->status = status;
    r->bytes_out += len;
    gr_client_req_reply(r->req, status, ctype, body, len);
    r->req = NULL;
    gr_request_finish(r);
}

/* ---- admin API on the store executor ---- */

/* One admin call: everything the handler reads is copied here (the request
 * may be answered at the deadline while the call still runs). */
typedef struct admin_job {
    gr_request *r; /* touched on the loop only */
    gr_admin_ctx ctx;
    char *method, *path, *query, *body, *authz;
    size_t blen;
    int status;
    char *json;
} admin_job;

static void admin_job_free(void *arg) {
    admin_job *a = arg;
    free(a->method);
    free(a->path);
    free(a->query);
    free(a->body);
    free(a->authz);
    free(a->json);
    free(a);
}

static void admin_run(void *conn, void *arg) {
    admin_job *a = arg;
    gr_store_conns *c = conn;
    if (c && c->store) a->ctx.store = c->store; /* this thread's own connection */
    a->status = gr_admin_handle(&a->ctx, a->method, a->path, a->query, a->body, a->blen, a->authz, &a->json);
}

/* Ran after its deadline: the caller got 503. A key created then was never
 * shown to anyone (the plaintext is gone): revoke it rather than leave a
 * live key nobody holds. Updates and revocations that land late stand. */
static void admin_late(void *conn, void *arg) {
    (void)conn;
    admin_job *a = arg;
    if (a->status != 201 || strcmp(a->method, "POST") || strcmp(a->path, "/admin/keys") || !a->json) return;
    cJSON *o = cJSON_Parse(a->json);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
    if (cJSON_IsString(id) && gr_keys_revoke(a->ctx.keys, id->valuestring, (int64_t)gr_wall_ms()) == GR_OK)
        GR_WARN("admin: key %s was created after the caller had been answered 503 (store too slow); revoked it",
                id->valuestring);
    cJSON_Delete(o);
}

static void admin_reply_unavailable(gr_request *r, const char *why) {
    char *json = gr_admin_error_json(why, "api_error", NULL, "store_unavailable");
    r->error_type = "api_error";
    gr_request_reply_json(r, 503, json, strlen(json));
    free(json);
}

static void admin_done(void *arg, const char *err) {
    admin_job *a = arg;
    gr_request *r = a->r;
    if (!gr_request_unhold(r)) return;
    if (r->client_gone) {
        gr_request_abandon(r);
        return;
    }
    if (err) {
        char msg[160];
        snprintf(msg, sizeof msg, "The store did not answer within %u ms; retry later.",
                 gr_store_exec_op_timeout_ms(r->w->svc->exec));
        admin_reply_unavailable(r, msg);
        return;
    }
    gr_request_reply_json(r, a->status, a->json ? a->json : "{}", a->json ? strlen(a->json) : 2);
}

static void admin_submit(gr_request *r, const char *path, const char *query, const char *body, size_t blen,
                         const char *authz) {
    gr_services *svc = r->w->svc;
    admin_job *a = gr_xcalloc(1, sizeof *a);
    a->r = r;
    a->ctx = svc->admin;
    a->method = gr_xstrdup(r->method);
    a->path = gr_xstrdup(path);
    a->query = gr_xstrdup(query);
    a->body = gr_xstrndup(body, blen);
    a->blen = blen;
    a->authz = authz ? gr_xstrdup(authz) : NULL;
    if (!svc->exec) { /* no executor (never in the server): answer inline */
        admin_run(NULL, a);
        gr_request_reply_json(r, a->status, a->json ? a->json : "{}", a->json ? strlen(a->json) : 2);
        admin_job_free(a);
        return;
    }
    gr_store_job_spec js = {.run = admin_run, .done = admin_done, .late = admin_late, .free_arg = admin_job_free,
                            .arg = a};
    gr_status rc = gr_store_exec_submit(svc->exec, r->w->store_mb, &js);
    if (rc != GR_OK) {
        admin_job_free(a);
        admin_reply_unavailable(r, "The store is overloaded (store.queue_max jobs waiting); retry later.");
        return;
    }
    gr_request_hold(r); /* continues in admin_done */
}

/* Content-Encoding of the request body: inflated here, once, so every
 * endpoint reads plain bytes; unknown codings are 415. False = answered. */
static bool decode_body(gr_request *r, gr_client_req *req) {
    gr_body_encoding enc = gr_body_encoding_of(gr_client_req_header(req, "Content-Encoding"));
    if (enc == GR_BODY_IDENTITY) return true;
    if (enc == GR_BODY_UNSUPPORTED) {
        gr_request_fail(r, 415, "invalid_request_error", "unsupported_content_encoding", NULL,
                        "Content-Encoding '%s' is not supported: send gzip, deflate or identity.",
                        gr_client_req_header(req, "Content-Encoding"));
        return false;
    }
    size_t len = 0, out_len = 0;
    const char *body = gr_client_req_body(req, &len);
    if (!len) return true;
    char *out = NULL;
    uint64_t max = r->cfg->server.max_decompressed_body_bytes;
    gr_status rc = gr_body_inflate(body, len, enc, (size_t)max, &out, &out_len);
    if (rc == GR_ERR_TOO_LARGE) {
        gr_request_fail(r, 413, "invalid_request_error", "request_too_large", NULL,
                        "The request body inflates to more than %llu bytes (server.max_decompressed_body_bytes).",
                        (unsigned long long)max);
        return false;
    }
    if (rc != GR_OK) {
        gr_request_fail(r, 400, "invalid_request_error", "invalid_content_encoding", NULL,
                        "The request body is not valid %s data.", enc == GR_BODY_GZIP ? "gzip" : "deflate");
        return false;
    }
    gr_client_req_set_body(req, out, out_len);
    return true;
}

/* GET /v1/key for a key from `auth.keys`: it lives in the config, not in the
 * key table, and has no limits; say so in the shape virtual keys use. */
static void static_key_info(gr_request *r, const gr_api_key *k) {
    cJSON *root = cJSON_CreateObject();
    cJSON *d = cJSON_AddObjectToObject(root, "data");
    char id[96], prefix[8];
    snprintf(id, sizeof id, "static_%.80s", k->name);
    snprintf(prefix, sizeof prefix, "%.6s", k->key);
    cJSON_AddStringToObject(d, "id", id);
    cJSON_AddStringToObject(d, "object", "api_key");
    cJSON_AddStringToObject(d, "name", k->name);
    cJSON_AddStringToObject(d, "key_prefix", prefix);
    cJSON_AddStringToObject(d, "source", "config");
    cJSON_AddStringToObject(d, "status", "active");
    cJSON_AddNullToObject(d, "expires_at");
    cJSON_AddNullToObject(d, "models");
    cJSON *l = cJSON_AddObjectToObject(d, "limits");
    static const char *const unlimited[] = {"budget_usd", "budget_daily_usd", "budget_monthly_usd", "rpm", "tpm"};
    for (size_t i = 0; i < GR_ARRAY_LEN(unlimited); i++) cJSON_AddNullToObject(l, unlimited[i]);
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    r->key_name = k->name;
    gr_request_reply_json(r, 200, s, strlen(s));
    cJSON_free(s);
}

/* The metrics label of a path: one of the routes served, or "other" (NULL).
 * Never the raw path, so junk paths cannot grow the series table. */
static const char *route_template(const char *p) {
    static const char *const exact[] = {"/", "/health", "/ready", "/metrics", "/v1/chat/completions", "/v1/completions",
                                        "/v1/embeddings", "/v1/messages", "/v1/messages/count_tokens", "/v1/route",
                                        "/v1/models", "/v1/key",
                                        "/v1/generation", "/v1/x402/pricing", "/v1/x402/credit", NULL};
    for (size_t i = 0; exact[i]; i++)
        if (!strcmp(p, exact[i])) return exact[i];
    if (!strcmp(p, "/chat/completions")) return "/v1/chat/completions";
    if (!strcmp(p, "/completions")) return "/v1/completions";
    if (!strcmp(p, "/embeddings")) return "/v1/embeddings";
    if (!strncmp(p, "/v1/models/", 11)) return "/v1/models/{id}";
    if (!strncmp(p, "/admin/", 7)) return "/admin/*";
    return NULL;
}

/* GET /metrics: open, or with server.metrics_token a matching bearer token. */
static void serve_metrics(gr_request *r, gr_client_req *req, gr_ledger *ledger) {
    const char *want = r->cfg->server.metrics_token;
    if (want && want[0]) {
        const char *authz = gr_client_req_header(req, "Authorization");
        const char *tok = authz && !strncasecmp(authz, "Bearer ", 7) ? authz + 7 : NULL;
        if (!tok || !gr_secret_eq(tok, strlen(tok), want, strlen(want))) {
            gr_request_add_header(r, "WWW-Authenticate", "Bearer realm=\"metrics\"");
            gr_request_fail(r, 401, "invalid_request_error", "invalid_metrics_token", NULL,
                            "GET /metrics needs `Authorization: Bearer <server.metrics_token>`.");
            return;
        }
    }
    size_t len;
    char *text = gr_metrics_render(&len);
    gr_ledger_stats ls;
    gr_ledger_stats_get(ledger, &ls);
    char extra[512];
    int n = snprintf(extra, sizeof extra,
                     "# HELP gaterouter_ledger_conflicts_total Ledger rows whose request id was already stored "
                     "(not written again; logged as an error).\n"
                     "# TYPE gaterouter_ledger_conflicts_total counter\n"
                     "gaterouter_ledger_conflicts_total %llu\n"
                     "# HELP gaterouter_store_up Whether the store answered its last call (0 = unreachable).\n"
                     "# TYPE gaterouter_store_up gauge\n"
                     "gaterouter_store_up %d\n",
                     (unsigned long long)ls.conflicts, gr_store_health_up() ? 1 : 0);
    if (n > 0 && (size_t)n < sizeof extra) {
        text = gr_xrealloc(text, len + (size_t)n + 1);
        memcpy(text + len, extra, (size_t)n + 1);
        len += (size_t)n;
    }
    reply_text(r, 200, "text/plain; version=0.0.4", text, len);
    free(text);
}

static void handle(gr_client_req *req, void *arg) {
    gr_worker *w = arg;
    gr_request *r = gr_request_new(w, req);
    r->method = gr_client_req_method(req);
    const char *uri = gr_client_req_uri(req);
    size_t i = 0;
    for (; uri[i] && uri[i] != '?' && i + 1 < sizeof(r->path); i++) r->path[i] = uri[i];
    bool path_fits = !uri[i] || uri[i] == '?';
    r->path[i] = '\0';
    while (i > 1 && r->path[i - 1] == '/') r->path[--i] = '\0';
    const char *p = r->path;
    bool count_tokens = !strcmp(p, "/v1/messages/count_tokens");
    if (!strcmp(p, "/v1/messages") || count_tokens) r->ep = GR_EP_MESSAGES; /* every error from here on in Anthropic's shape */
    r->route_template = route_template(p);
    const char *code = NULL, *why = NULL;
    int refused = gr_client_req_error(req, &code, &why);
    if (refused) { /* malformed, or over a limit: answered in the API's error shape, then closed */
        gr_request_fail(r, refused, "invalid_request_error", code, NULL, "%s", why);
        return;
    }
    if (gr_cors_handle(r)) return; /* a preflight from an allowed origin */
    if (!decode_body(r, req)) return;
    if (!path_fits) { /* a cut path must never match a shorter route */
        gr_request_fail(r, 404, "invalid_request_error", "unknown_url", NULL, "Invalid URL (%s %s...): no route is this long",
                        r->method, r->path);
        return;
    }
    bool get = !strcmp(r->method, "GET") || !strcmp(r->method, "HEAD"), post = !strcmp(r->method, "POST");

    if (!strcmp(p, "/")) { /* clients probe the base URL (Claude Code: HEAD /) */
        if (!get) goto method;
        reply_text(r, 200, "application/json", "{\"status\":\"ok\"}\n", 16);
        return;
    }
    if (!strcmp(p, "/health")) {
        if (!get) goto method;
        reply_text(r, 200, "application/json", "{\"status\":\"ok\"}\n", 16);
        return;
    }
    if (!strcmp(p, "/ready")) {
        if (!get) goto method;
        if (atomic_load(&w->draining)) reply_text(r, 503, "application/json", "{\"status\":\"draining\"}\n", 22);
        else if (!gr_store_health_up()) /* as last seen by the ledger, the admin API or the keys refresh */
            reply_text(r, 503, "application/json", "{\"status\":\"store_unavailable\"}\n", 31);
        else reply_text(r, 200, "application/json", "{\"status\":\"ready\"}\n", 19);
        return;
    }
    if (!strcmp(p, "/metrics")) {
        if (!get) goto method;
        serve_metrics(r, req, w->svc->ledger);
        return;
    }
    if (!strcmp(p, "/v1/key") && get && gr_auth_static_key(r->cfg, gr_auth_presented_key(req))) {
        static_key_info(r, gr_auth_static_key(r->cfg, gr_auth_presented_key(req)));
        return;
    }
    if (gr_admin_owns_path(p)) {
        size_t blen = 0;
        const char *body = gr_client_req_body(req, &blen);
        const char *q = strchr(uri, '?');
        const char *authz = gr_client_req_header(req, "Authorization");
        r->key_name = "admin";
        admin_submit(r, p, q ? q + 1 : "", body, blen, authz);
        return;
    }
    /* ---- x402 discovery and credit: GET /v1/x402/{pricing,credit} (owner: pay_x402.c) ---- */
    if (!strncmp(p, "/v1/x402/", 9)) {
        const char *q = strchr(uri, '?');
        gr_pay_x402_serve(r, p, q ? q + 1 : "");
        return;
    }
    /* ---- end x402 ---- */
    if (!strcmp(p, "/v1/models") || !strncmp(p, "/v1/models/", 11)) {
        if (!get) goto method;
        if (!gr_auth_check(r)) return;
        char *id = NULL;
        if (p[10] == '/') id = evhttp_uridecode(p + 11, 0, NULL);
        gr_models_handle(r, id);
        free(id);
        return;
    }
    if (!strcmp(p, "/v1/chat/completions") || !strcmp(p, "/chat/completions")) r->ep = GR_EP_CHAT;
    else if (!strcmp(p, "/v1/completions") || !strcmp(p, "/completions")) r->ep = GR_EP_COMPLETIONS;
    else if (!strcmp(p, "/v1/embeddings") || !strcmp(p, "/embeddings")) r->ep = GR_EP_EMBEDDINGS;
    else if (!strcmp(p, "/v1/messages")) r->ep = GR_EP_MESSAGES;
    else if (count_tokens) {
        r->ep = GR_EP_MESSAGES;
        r->count_tokens = true;
    }
    else if (!strcmp(p, "/v1/route")) r->ep = GR_EP_ROUTE; /* dry run: the decision, no upstream call */
    if (r->ep != GR_EP_OTHER) {
        if (!post) goto method;
        if (!gr_auth_check(r)) return;
        gr_proxy_handle(r);
        return;
    }
    gr_request_fail(r, 404, "invalid_request_error", "unknown_url", NULL, "Invalid URL (%s %s)", r->method, r->path);
    return;
method:
    gr_request_add_header(r, "Allow", !strcmp(p, "/") || !strcmp(p, "/health") || !strcmp(p, "/ready") || !strcmp(p, "/metrics") ||
                                             !strncmp(p, "/v1/models", 10) ? "GET, HEAD" : "POST");
    gr_request_fail(r, 405, "invalid_request_error", "method_not_allowed", NULL, "Method %s is not allowed for %s",
                    r->method, r->path);
}

/* ---- workers ---- */

/* A drain ends when no request is alive AND every reply has reached its
 * socket: exiting at the first condition alone truncates streams that were
 * finished but not yet flushed. */
static void maybe_drained(gr_worker *w) {
    if (atomic_load(&w->draining) && atomic_load(&w->inflight) == 0 && atomic_load(&w->unflushed) <= 0)
        event_base_loopexit(w->base, NULL);
}

void gr_worker_request_done(gr_worker *w) {
    atomic_fetch_sub_explicit(&w->inflight, 1, memory_order_relaxed);
    maybe_drained(w);
}

void gr_worker_reply_flushed(gr_worker *w) {
    atomic_fetch_sub_explicit(&w->unflushed, 1, memory_order_relaxed);
    maybe_drained(w);
}

static void worker_wake(evutil_socket_t fd, short what, void *arg) {
    gr_worker *w = arg;
    if (!atomic_load(&w->draining)) return;
    if (w->http) gr_http_server_drain(w->http); /* stop accepting; idle connections close */
    maybe_drained(w);
}

/* Every third of redis.reservation_ttl_ms: keep this live instance's
 * reservations in Redis from lapsing while its requests run (a dead
 * instance's stop being renewed and lapse; see shared.h). */
static void renew_tick(evutil_socket_t fd, short what, void *arg) {
    gr_worker *w = arg;
    char (*ids)[GR_KEY_ID_MAX] = NULL;
    size_t n = gr_keys_shared_ids(w->svc->keys, &ids);
    for (size_t i = 0; i < n; i++) gr_shared_renew(w->shared, ids[i]);
    free(ids);
}

/* Every second: which of this config's deployments did another instance
 * find broken? (Redis hints; see shared.h) */
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

static void *worker_main(void *arg) {
    gr_worker *w = arg;
    event_base_loop(w->base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

/* The listening address: the first result, for the probe and every worker alike. */
static int resolve_listen(const char *host, uint16_t port, struct addrinfo **res) {
    struct addrinfo hints = {0};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char ps[8];
    snprintf(ps, sizeof(ps), "%u", port);
    *res = NULL;
    return getaddrinfo(host, ps, &hints, res);
}

int gr_listen_socket(const char *host, uint16_t port, bool reuseport) {
    struct addrinfo *res = NULL;
    int rc = resolve_listen(host, port, &res);
    if (rc) {
        GR_ERROR("server.host %s: %s", host, gai_strerror(rc));
        return -1;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (reuseport) setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)); /* inherited by accepted sockets */
        if (bind(fd, res->ai_addr, res->ai_addrlen) || listen(fd, 4096)) {
            GR_ERROR("cannot listen on %s:%u: %s", host, port, strerror(errno));
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    return fd;
}

/* The workers' listeners share the port through SO_REUSEPORT, which would
 * also let a second gateway (same user) bind it and take half the traffic.
 * Unless server.reuse_port asks for that, bind once without SO_REUSEPORT
 * first: any listener already there makes that fail. */
static bool port_is_ours(const char *host, uint16_t port) {
    struct addrinfo *res = NULL;
    if (resolve_listen(host, port, &res)) return true; /* the listener reports lookup errors */
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool ok = true;
    if (fd >= 0) {
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, res->ai_addr, res->ai_addrlen) && errno == EADDRINUSE) {
            GR_ERROR("cannot listen on %s:%u: address already in use (another gaterouter or program is listening "
                     "there; set server.reuse_port: true to share the port on purpose)", host, port);
            ok = false;
        }
        close(fd);
    }
    freeaddrinfo(res);
    return ok;
}

static bool worker_init(gr_server *s, gr_worker *w, const gr_config *cfg) {
    size_t nworkers = s->nworkers ? s->nworkers : 1;
    w->srv = s;
    w->svc = &s->svc;
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
    w->store_mb = gr_store_mailbox_new(w->base);
    int fd = gr_listen_socket(cfg->server.host, cfg->server.port, true);
    if (fd < 0) return false;
    gr_http_server_limits lim = {.max_header_bytes = cfg->server.max_header_bytes,
                                 .max_body_bytes = cfg->server.max_body_bytes,
                                 .client_timeout_ms = cfg->server.client_timeout_ms,
                                 .body_timeout_ms = cfg->server.body_timeout_ms,
                                 /* the process-wide cap, split evenly: each worker accepts its share */
                                 .max_connections = cfg->server.max_connections
                                                        ? (uint32_t)((cfg->server.max_connections + nworkers - 1) / nworkers)
                                                        : 0};
    w->http = gr_http_server_new(w->base, fd, &lim, handle, w);
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
        return;
    }
    gr_server_patch_mock_urls(c, s->mock_port);
    gr_services_reload(&s->svc, c);
    gr_log_set_level(gr_log_level_parse(c->log.level));
    if (!gr_access_log_open(c->log.access_log)) GR_WARN("log.access_log: cannot open %s; keeping the old target", c->log.access_log);
    gr_config_current_set(c);
    gr_metrics_add(GR_M_CONFIG_RELOADS, "result=\"ok\"", 1);
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

    if (!cfg->server.reuse_port && !port_is_ours(cfg->server.host, cfg->server.port)) {
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
    gr_services_close(&s.svc);
    gr_config_current_set(NULL);
    free(s.config_path);
    gr_upstream_global_cleanup();
    libevent_global_shutdown();
    return rc;
}
