/* console_config.c — the console's Config page endpoints (see
 * console_config.h): the running config with its secrets masked, the last
 * reload's outcome, --check-config of an uploaded file, a reload. */
#include "console_config.h"

#include "config_load.h"
#include "config_reload.h"
#include "http_server.h"
#include "redact.h"
#include "store.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <unistd.h>

/* A URL keeps its shape; user info passwords and credential-named query
 * parameters are masked. */
static char *mask_url(const char *u) {
    char safe[1024];
    gr_store_url_redact(u, safe, sizeof safe);
    char *q = strchr(safe, '?');
    if (q) {
        static const char *const names[] = {"key=", "token=", "secret=", "signature=", "sig=", "auth"};
        for (size_t i = 0; i < GR_ARRAY_LEN(names); i++)
            if (strcasestr(q, names[i])) {
                snprintf(q, sizeof safe - (size_t)(q - safe), "?%s", GR_REDACT_MARK);
                break;
            }
    }
    return gr_xstrdup(safe);
}

/* Walks a copy of the config tree: credential-named string values become
 * GR_REDACT_MARK, URLs lose their passwords. */
static void mask_tree(cJSON *node) {
    cJSON *c;
    cJSON_ArrayForEach(c, node) {
        if (cJSON_IsString(c)) {
            char *masked = NULL;
            if (c->string && gr_redact_credential_name(c->string)) masked = gr_xstrdup(GR_REDACT_MARK);
            else if (strstr(c->valuestring, "://")) masked = mask_url(c->valuestring);
            if (masked) {
                cJSON_SetValuestring(c, masked);
                free(masked);
            }
        } else if (cJSON_IsObject(c) || cJSON_IsArray(c)) {
            mask_tree(c);
        }
    }
}

cJSON *gr_console_config_masked(const gr_config *cfg) {
    cJSON *t = cfg->tree ? cJSON_Duplicate(cfg->tree, true) : cJSON_CreateObject();
    mask_tree(t);
    return t;
}

static void reply(gr_request *r, int status, cJSON *root) {
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    gr_request_reply_json(r, status, s, strlen(s));
    free(s);
}

static void add_last_reload(cJSON *root) {
    gr_config_reload_result lr;
    gr_config_reload_last(&lr);
    if (!lr.count) {
        cJSON_AddNullToObject(root, "last_reload");
        return;
    }
    cJSON *o = cJSON_AddObjectToObject(root, "last_reload");
    cJSON_AddNumberToObject(o, "count", (double)lr.count);
    cJSON_AddBoolToObject(o, "ok", lr.ok);
    cJSON_AddNumberToObject(o, "at", (double)lr.at_ms);
    if (lr.ok) cJSON_AddNullToObject(o, "error");
    else cJSON_AddStringToObject(o, "error", lr.error);
}

static void show(gr_request *r) {
    cJSON *root = cJSON_CreateObject();
    if (r->cfg->path) cJSON_AddStringToObject(root, "path", r->cfg->path);
    else cJSON_AddNullToObject(root, "path");
    cJSON_AddNumberToObject(root, "loaded_at", (double)r->cfg->loaded_at_ms);
    cJSON_AddNumberToObject(root, "generation", (double)r->cfg->generation);
    add_last_reload(root);
    cJSON_AddItemToObject(root, "config", gr_console_config_masked(r->cfg));
    reply(r, 200, root);
}

/* The same load --check-config runs (config.c), on the uploaded text. */
static void check(gr_request *r) {
    size_t len = 0;
    const char *body = gr_client_req_body(r->req, &len);
    if (!len) {
        gr_request_fail_code(r, GR_EC_MISSING_BODY, NULL, "Send the config file (YAML or JSON) as the request body.");
        return;
    }
    char err[1024] = "";
    gr_config *c = gr_config_load_string(body, len, "upload", err, sizeof err);
    cJSON *root = cJSON_CreateObject();
    cJSON_AddBoolToObject(root, "ok", c != NULL);
    if (c) {
        char summary[160];
        snprintf(summary, sizeof summary, "%zu providers, %zu models, %zu config keys", c->nproviders, c->nmodels,
                 c->nkeys);
        cJSON_AddStringToObject(root, "summary", summary);
        cJSON_AddNullToObject(root, "error");
        gr_config_release(c);
    } else {
        cJSON_AddStringToObject(root, "error", err);
    }
    reply(r, 200, root);
}

/* The main loop reloads on SIGHUP (server.c) exactly as an operator's
 * signal would; the page then reads the outcome from GET /admin/config. */
static void reload(gr_request *r) {
    gr_config_reload_result lr;
    gr_config_reload_last(&lr);
    if (kill(getpid(), SIGHUP) != 0) {
        gr_request_fail_code(r, GR_EC_RELOAD_FAILED, NULL, "Could not signal the reload.");
        return;
    }
    cJSON *root = cJSON_CreateObject();
    cJSON_AddBoolToObject(root, "requested", true);
    cJSON_AddNumberToObject(root, "previous_count", (double)lr.count);
    reply(r, 202, root);
}

void gr_console_config_handle(gr_request *r, const char *path) {
    const char *want = r->cfg->admin_key;
    r->key_name = "admin";
    if (!want || !*want) {
        gr_request_fail_code(r, GR_EC_NOT_FOUND, NULL, "The admin API is disabled (no admin_key configured).");
        return;
    }
    const char *authz = gr_client_req_header(r->req, "Authorization");
    const char *tok = authz && !strncasecmp(authz, "Bearer ", 7) ? authz + 7 : NULL;
    if (!tok || !gr_secret_eq(tok, strlen(tok), want, strlen(want))) {
        gr_request_fail_code(r, GR_EC_INVALID_ADMIN_KEY, NULL,
                             "The admin API needs 'Authorization: Bearer <admin key>'.");
        return;
    }
    bool get = !strcmp(r->method, "GET") || !strcmp(r->method, "HEAD"), post = !strcmp(r->method, "POST");
    if (!strcmp(path, "/admin/config") && get) show(r);
    else if (!strcmp(path, "/admin/config/check") && post) check(r);
    else if (!strcmp(path, "/admin/config/reload") && post) reload(r);
    else
        gr_request_fail_code(r, GR_EC_METHOD_NOT_ALLOWED, NULL,
                             "Use GET /admin/config, POST /admin/config/check or POST /admin/config/reload.");
}
