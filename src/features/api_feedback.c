/* api_feedback.c — ratings of generations (see api_feedback.h): POST
 * /v1/feedback, validated on the loop and stored on the store executor, and
 * the ledger column that lets a rating be attributed to the auto decision
 * it rates (the served model and the prompt's skill mixture). */
#include "api_feedback.h"

#include "http_server.h"
#include "pipeline.h"
#include "route.h"
#include "route_conf.h"
#include "route_learn.h"
#include "route_learn_sync.h"
#include "services.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

/* ---- the ledger column ---- */

static void fill_route_learn(gr_request *r, gr_finish_info *f) {
    const struct gr_route_plan *p = r->plan;
    if (!f->row || !p || p->auto_chosen < 0 || !r->model || !r->model->name) return;
    for (size_t i = 0; i < p->nautoc; i++) /* the model that answered (a fallback may have) */
        if (p->autoc[i].model == r->model)
            gr_route_learn_format(r->model->name, p->skill_mix, p->autoc[i].prior_quality, p->difficulty,
                                  f->row->route_learn, sizeof f->row->route_learn);
}

void gr_api_feedback_register(void) { gr_pipeline_on_finish(GR_FINISH_LEDGER_FILL, fill_route_learn); }

/* ---- POST /v1/feedback on the store executor ---- */

typedef struct feedback_job {
    gr_feedback_rec fb;   /* request_id as given; key_id, model, mix filled from the ledger row */
    char *comment;        /* owned copy */
    char owner[GR_KEY_ID_MAX + 64]; /* the caller's key id; "" = admin (any generation) */
    gr_status rc;         /* GR_ERR_NOT_FOUND: no such generation for this caller */
    bool replaced, learned;
    struct gr_route_learn_sync *sync;
} feedback_job;

static void feedback_job_free(void *arg) {
    feedback_job *j = arg;
    free(j->comment);
    free(j);
}

static void feedback_run(void *conn, void *arg) {
    feedback_job *j = arg;
    gr_store *st = ((gr_store_conns *)conn)->store;
    gr_ledger_row row;
    j->rc = gr_store_generation_get(st, j->fb.request_id, &row);
    if (j->rc == GR_OK && j->owner[0] && strcmp(row.key_id, j->owner) != 0) j->rc = GR_ERR_NOT_FOUND;
    if (j->rc != GR_OK) return;
    /* one rating per generation, whichever id (the gateway's or the client's) named it */
    gr_store_strlcpy(j->fb.request_id, row.request_id, sizeof j->fb.request_id);
    gr_store_strlcpy(j->fb.key_id, row.key_id, sizeof j->fb.key_id);
    j->learned = gr_route_learn_parse(row.route_learn, j->fb.model, sizeof j->fb.model, j->fb.mix, &j->fb.predicted) ==
                 GR_OK;
    if (!j->learned) j->fb.model[0] = '\0';
    j->rc = gr_store_feedback_put(st, &j->fb, &j->replaced);
    if (j->rc == GR_OK && j->learned) gr_route_learn_sync_kick(j->sync); /* this instance sees it at once */
}

static void feedback_resume(gr_request *r, void *arg, const char *err) {
    feedback_job *j = arg;
    if (err) {
        gr_request_fail_code(r, GR_EC_STORE_UNAVAILABLE, NULL, "The store did not answer within %u ms; retry later.",
                             gr_store_exec_op_timeout_ms(r->w->exec));
        return;
    }
    if (j->rc == GR_ERR_NOT_FOUND) {
        gr_request_fail_code(
                r, GR_EC_GENERATION_NOT_FOUND, "id",
                "No generation with id '%s' for this key (rows appear shortly after the request completes).",
                j->fb.request_id);
        return;
    }
    if (j->rc != GR_OK) {
        gr_request_fail_code(r, j->rc == GR_ERR_UNAVAILABLE ? GR_EC_STORE_ERROR_UNAVAILABLE : GR_EC_STORE_ERROR, NULL,
                             "The rating could not be stored (%s); retry later.", gr_status_str(j->rc));
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "feedback");
    cJSON_AddStringToObject(o, "id", j->fb.request_id);
    cJSON_AddNumberToObject(o, "score", j->fb.score);
    cJSON_AddBoolToObject(o, "replaced", j->replaced);
    if (j->learned) cJSON_AddStringToObject(o, "model", j->fb.model);
    else cJSON_AddNullToObject(o, "model");
    cJSON_AddBoolToObject(o, "learned", j->learned); /* false: not an auto decision, stored only */
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    gr_request_reply_json(r, 200, s, strlen(s));
    cJSON_free(s);
}

/* Validates the body into j; false = answered 400. */
static bool read_body(gr_request *r, const cJSON *o, feedback_job *j) {
    if (!cJSON_IsObject(o)) {
        gr_request_fail_code(r, GR_EC_INVALID_JSON, NULL,
                             "The body must be a JSON object: {\"id\": \"<generation id>\", \"score\": 0..1, "
                             "\"comment\"?: string}.");
        return false;
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, o) {
        if (strcmp(e->string, "id") && strcmp(e->string, "score") && strcmp(e->string, "comment")) {
            char name[65]; /* echoed, so bounded */
            snprintf(name, sizeof name, "%s", e->string);
            gr_request_fail_code(r, GR_EC_UNKNOWN_PARAMETER, name, "Unknown field '%s' (expected id, score, comment).",
                                 name);
            return false;
        }
    }
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
    if (!cJSON_IsString(id) || !id->valuestring[0] || strlen(id->valuestring) >= sizeof j->fb.request_id) {
        gr_request_fail_code(
                r, GR_EC_INVALID_ID, "id",
                "id must be the generation's id (x-gaterouter-request-id or your X-Request-Id), 1..%zu characters.",
                sizeof j->fb.request_id - 1);
        return false;
    }
    const cJSON *score = cJSON_GetObjectItemCaseSensitive(o, "score");
    if (!cJSON_IsNumber(score) || !isfinite(score->valuedouble) || score->valuedouble < 0.0 || score->valuedouble > 1.0) {
        gr_request_fail_code(r, GR_EC_INVALID_SCORE, "score",
                             "score must be a number from 0 (bad answer) to 1 (good answer).");
        return false;
    }
    const cJSON *comment = cJSON_GetObjectItemCaseSensitive(o, "comment");
    uint64_t cap = gr_route_conf_of(r->cfg)->learning.max_comment_bytes;
    if (comment && !cJSON_IsNull(comment) && (!cJSON_IsString(comment) || strlen(comment->valuestring) > cap)) {
        gr_request_fail_code(
                r, GR_EC_INVALID_COMMENT, "comment",
                "comment must be a string of at most %llu bytes (routing.auto.learning.max_comment_bytes).",
                (unsigned long long)cap);
        return false;
    }
    gr_store_strlcpy(j->fb.request_id, id->valuestring, sizeof j->fb.request_id);
    j->fb.score = score->valuedouble;
    if (cJSON_IsString(comment)) j->comment = gr_xstrdup(comment->valuestring);
    j->fb.comment = j->comment;
    j->fb.at_ms = (int64_t)gr_wall_ms();
    return true;
}

/* The caller: the admin key rates any generation; otherwise the request is
 * authenticated as a model call and rates its own key's. false = answered. */
static bool identify(gr_request *r, feedback_job *j) {
    const char *admin = r->w->svc ? r->w->svc->admin_key : NULL;
    const char *tok = gr_request_presented_key(r);
    if (admin && *admin && tok && gr_secret_eq(tok, strlen(tok), admin, strlen(admin))) {
        r->key_name = "admin";
        return true;
    }
    if (!gr_pipeline_run(r, GR_PHASE_AUTHENTICATE, GR_PHASE_PARSE)) return false;
    if (r->pay_x402 || !r->key_name) { /* a payment is not an identity generations are filed under */
        gr_request_fail_code(r, GR_EC_FEEDBACK_NEEDS_KEY, NULL,
                             "Rating a generation needs the API key that made it (or the admin key).");
        return false;
    }
    snprintf(j->owner, sizeof j->owner, "%s", r->key ? gr_keys_id(r->key) : r->key_name);
    return true;
}

void gr_api_feedback_handle(gr_request *r) {
    feedback_job *j = gr_xcalloc(1, sizeof *j);
    if (!identify(r, j)) {
        feedback_job_free(j);
        return;
    }
    size_t len = 0;
    const char *body = gr_client_req_body(r->req, &len);
    cJSON *o = len ? cJSON_ParseWithLength(body, len) : NULL;
    bool ok = read_body(r, o, j);
    cJSON_Delete(o);
    if (!ok) {
        feedback_job_free(j);
        return;
    }
    j->sync = r->w->svc ? r->w->svc->learn_sync : NULL;
    gr_request_job job = {.run = feedback_run, .free_arg = feedback_job_free, .resume = feedback_resume, .arg = j};
    if (gr_request_store_job(r, &job) != GR_OK) /* continues in feedback_resume; j is freed either way */
        gr_request_fail_code(r, GR_EC_STORE_UNAVAILABLE, NULL,
                             "The store is overloaded (store.queue_max jobs waiting); retry later.");
}
