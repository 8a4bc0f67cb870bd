/* api_admin.c — the admin API and GET /v1/key on the request path (see
 * api_admin.h): a static key's own description, or one admin call run on
 * the store executor. */
#include "api_admin.h"

#include "admin_report.h"
#include "console_conf.h"
#include "http_reply.h"
#include "http_server.h"
#include "log.h"
#include "services.h"
#include "static_keys.h"

#include <stdio.h>
#include <stdlib.h>

/* ---- admin API on the store executor ---- */

/* One admin call: everything the handler reads is copied here (the request
 * may be answered at the deadline while the call still runs). */
typedef struct admin_job {
    gr_admin_ctx ctx;
    char *method, *path, *query, *body, *authz;
    char *explorer_tx_url; /* copy: the job may outlive the request's config */
    size_t blen;
    int status;
    char *json;              /* the reply body (JSON, or CSV for a report) */
    size_t json_len;
    const char *ctype;       /* NULL = application/json */
} admin_job;

static void admin_job_free(void *arg) {
    admin_job *a = arg;
    free(a->method);
    free(a->path);
    free(a->query);
    free(a->body);
    free(a->authz);
    free(a->explorer_tx_url);
    free(a->json);
    free(a);
}

static void admin_run(void *conn, void *arg) {
    admin_job *a = arg;
    gr_store_conns *c = conn;
    if (c && c->store) a->ctx.store = c->store; /* this thread's own connection */
    if (c) a->ctx.x402 = c->x402;
    if (gr_admin_report_owns(a->path)) {
        a->status = gr_admin_report_handle(&a->ctx, a->method, a->path, a->query, a->authz, &a->json, &a->json_len,
                                           &a->ctype);
        return;
    }
    a->status = gr_admin_handle(&a->ctx, a->method, a->path, a->query, a->body, a->blen, a->authz, &a->json);
    a->json_len = a->json ? strlen(a->json) : 0;
}

/* Ran after its deadline: the caller got 503. A key created then was never
 * shown to anyone (the plaintext is gone): revoke it rather than leave a
 * live key nobody holds; a rotation then is undone (its new secret is gone
 * too). Updates and revocations that land late stand. */
static void admin_late(void *conn, void *arg) {
    (void)conn;
    admin_job *a = arg;
    size_t plen = strlen(a->path);
    if (a->status == 200 && !strcmp(a->method, "POST") && !strncmp(a->path, "/admin/keys/", 12) && plen > 19 &&
        !strcmp(a->path + plen - 7, "/rotate")) { /* the new secret was never shown: the old one stays */
        char id[GR_KEY_ID_MAX];
        snprintf(id, sizeof id, "%.*s", (int)(plen - 19), a->path + 12);
        if (gr_keys_rotate_revert(a->ctx.keys, id, (int64_t)gr_wall_ms()) == GR_OK)
            GR_WARN("admin: key %s was rotated after the caller had been answered 503; its old secret is back", id);
        else
            GR_WARN("admin: key %s was rotated after the caller had been answered 503 and had no grace; "
                    "rotate it again", id);
        return;
    }
    if (a->status != 201 || strcmp(a->method, "POST") || strcmp(a->path, "/admin/keys") || !a->json) return;
    cJSON *o = cJSON_Parse(a->json);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
    if (cJSON_IsString(id) && gr_keys_revoke(a->ctx.keys, id->valuestring, (int64_t)gr_wall_ms()) == GR_OK)
        GR_WARN("admin: key %s was created after the caller had been answered 503 (store too slow); revoked it",
                id->valuestring);
    cJSON_Delete(o);
}

static void admin_reply_unavailable(gr_request *r, const char *why) {
    char *json = gr_error_json(why, "api_error", NULL, "store_unavailable");
    r->error_type = "api_error";
    gr_request_reply_json(r, 503, json, strlen(json));
    free(json);
}

static void admin_resume(gr_request *r, void *arg, const char *err) {
    admin_job *a = arg;
    if (err) {
        char msg[160];
        snprintf(msg, sizeof msg, "The store did not answer within %u ms; retry later.",
                 gr_store_exec_op_timeout_ms(r->w->exec));
        admin_reply_unavailable(r, msg);
        return;
    }
    if (a->ctype && strcmp(a->ctype, "application/json")) { /* a CSV export */
        gr_client_req_add_header(r->req, "Content-Disposition", "attachment; filename=\"gaterouter-report.csv\"");
        gr_client_req_add_header(r->req, "X-Content-Type-Options", "nosniff");
        gr_request_reply_body(r, a->status, a->ctype, a->json, a->json_len);
        return;
    }
    gr_request_reply_json(r, a->status, a->json ? a->json : "{}", a->json ? a->json_len : 2);
}

static void admin_submit(gr_request *r, const char *path, const char *query, const char *body, size_t blen,
                         const char *authz) {
    gr_services *svc = r->w->svc;
    admin_job *a = gr_xcalloc(1, sizeof *a);
    a->ctx = svc->admin;
    const gr_console_conf *cc = gr_console_conf_of(r->cfg);
    a->ctx.report_max_rows = (int64_t)cc->max_report_rows;
    a->ctx.rotation_grace_ms = (int64_t)cc->key_rotation_grace_ms;
    a->explorer_tx_url = cc->explorer_tx_url ? gr_xstrdup(cc->explorer_tx_url) : NULL;
    a->ctx.explorer_tx_url = a->explorer_tx_url;
    a->method = gr_xstrdup(r->method);
    a->path = gr_xstrdup(path);
    a->query = gr_xstrdup(query);
    a->body = gr_xstrndup(body, blen);
    a->blen = blen;
    a->authz = authz ? gr_xstrdup(authz) : NULL;
    gr_request_job job = {.run = admin_run, .late = admin_late, .free_arg = admin_job_free, .resume = admin_resume,
                          .arg = a};
    if (gr_request_store_job(r, &job) != GR_OK) /* continues in admin_resume */
        admin_reply_unavailable(r, "The store is overloaded (store.queue_max jobs waiting); retry later.");
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

void gr_api_admin_handle(gr_request *r, const char *path, const char *query) {
    const gr_api_key *sk = NULL;
    if (!strcmp(path, "/v1/key") && (!strcmp(r->method, "GET") || !strcmp(r->method, "HEAD")) &&
        (sk = gr_config_static_key(r->cfg, gr_request_presented_key(r)))) {
        static_key_info(r, sk);
        return;
    }
    size_t blen = 0;
    const char *body = gr_client_req_body(r->req, &blen);
    const char *authz = gr_client_req_header(r->req, "Authorization");
    r->key_name = "admin";
    admin_submit(r, path, query, body, blen, authz);
}
