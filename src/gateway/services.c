/* services.c — start-up, reload and shutdown of store, keys, ledger and the
 * admin context (see services.h). */
#include "services.h"

#include "health.h"
#include "log.h"
#include "pay_x402.h"
#include "route_conf.h"
#include "route_learn.h"
#include "route_learn_sync.h"

#include <stdio.h>
#include <stdlib.h>

/* Applies `routing.health` (breaker thresholds, cooldowns) process-wide;
 * validated at config load (route_conf.c). */
static void configure_health(const gr_config *cfg) { gr_health_configure(&gr_route_conf_of(cfg)->health); }

static void conns_close(void *ctx, void *conn) {
    (void)ctx;
    gr_store_conns *c = conn;
    gr_x402_store_close(c->x402);
    gr_responses_store_close(c->responses);
    gr_store_close(c->store);
    free(c);
}

static gr_status conns_open(void *ctx, void **out, char *err, size_t errlen) {
    gr_services *s = ctx;
    gr_store_conns *c = gr_xcalloc(1, sizeof *c);
    gr_status rc = gr_store_open(s->store_url, &c->store, err, errlen);
    if (rc == GR_OK && s->x402) rc = gr_x402_store_open(s->store_url, &c->x402, err, errlen);
    if (rc == GR_OK) rc = gr_responses_store_open(s->store_url, &c->responses, err, errlen);
    if (rc != GR_OK) {
        conns_close(NULL, c);
        return rc;
    }
    *out = c;
    return GR_OK;
}

gr_status gr_services_open(gr_services *s, const gr_config *cfg, char *err, size_t errlen) {
    memset(s, 0, sizeof(*s));
    configure_health(cfg);
    const char *url = gr_store_url(cfg);
    gr_status rc = gr_store_open_migrated(url, &s->store, err, errlen);
    if (rc) return rc;
    rc = gr_store_open_migrated(url, &s->admin_store, err, errlen);
    if (rc) goto fail;
    s->keys = gr_keys_new(s->store);
    int64_t now = (int64_t)gr_wall_ms();
    rc = gr_keys_load(s->keys, now);
    if (rc) {
        char shown[512];
        gr_store_url_redact(url, shown, sizeof(shown));
        snprintf(err, errlen, "store %s: cannot load keys: %s", shown, gr_status_str(rc));
        goto fail;
    }
    rc = gr_keys_load_config(s->keys, cfg->tree, now, err, errlen);
    if (rc) goto fail;
    rc = gr_ledger_new(s->store, 0, &s->ledger);
    if (rc) {
        snprintf(err, errlen, "cannot start the ledger writer: %s", gr_status_str(rc));
        goto fail;
    }
    s->shared = gr_shared_new(cfg, err, errlen);
    if (!s->shared && err[0]) {
        rc = GR_ERR_INVALID;
        goto fail;
    }
    s->x402 = gr_pay_x402_new(cfg, s->store, err, errlen);
    if (!s->x402 && err[0]) {
        rc = GR_ERR_INVALID;
        goto fail;
    }
    s->admin_key = cfg->admin_key ? gr_xstrdup(cfg->admin_key) : NULL;
    s->admin = (gr_admin_ctx){.keys = s->keys, .store = s->admin_store, .admin_key = s->admin_key};
    const gr_store_conf *sc = gr_store_conf_of(cfg);
    gr_store_exec_opts eo = {sc->threads, sc->queue_max, sc->op_timeout_ms, "store"};
    s->store_url = gr_xstrdup(url);
    rc = gr_store_exec_new(&eo, conns_open, conns_close, s, &s->exec, err, errlen);
    if (rc) goto fail;
    rc = gr_route_learn_sync_start(url, &s->learn_sync, err, errlen);
    if (rc) goto fail;
    char shown[512];
    gr_store_url_redact(url, shown, sizeof(shown)); /* never log a password */
    GR_INFO("store %s open; %zu keys loaded", shown, gr_keys_count(s->keys));
    return GR_OK;
fail:
    gr_services_close(s);
    return rc ? rc : GR_ERR_IO;
}

void gr_services_reload(gr_services *s, const gr_config *cfg) {
    char err[512];
    int64_t now = (int64_t)gr_wall_ms();
    if (gr_keys_reload(s->keys, now) != GR_OK) GR_WARN("reload: keys could not be re-read from the store");
    if (gr_keys_load_config(s->keys, cfg->tree, now, err, sizeof(err)) != GR_OK) GR_WARN("reload: %s", err);
    configure_health(cfg);
    /* The admin key is read once at start: changing it needs a restart. */
}

void gr_services_close(gr_services *s) {
    gr_store_exec_free(s->exec); /* drains: bookkeeping still queued completes first */
    gr_route_learn_sync_stop(s->learn_sync); /* after the executor: a draining rating may kick it */
    s->learn_sync = NULL;
    gr_route_learn_clear();
    gr_pay_x402_free(s->x402);
    gr_shared_free(s->shared);
    gr_ledger_free(s->ledger); /* drains the queue first */
    gr_keys_free(s->keys);
    gr_store_close(s->admin_store);
    gr_store_close(s->store);
    free(s->admin_key);
    free(s->store_url);
    memset(s, 0, sizeof(*s));
}
