/* bench_route.c — the routing decision for one request on a 3-model config
 * (tests/unit/route_fixture.h): gr_route_request_from_json + gr_route_plan for
 * a named model and for model "auto" (feature extraction + the trained
 * router), from an already-parsed chat body, as the request path would call
 * them; and the auto decision for a 2 KB prompt (target: <= 20 us, no
 * embeddings): features + skill/difficulty/length model + per-model expected value. */
#include "bench_common.h"
#include "route_conf.h"
#include "route_fixture.h"
#include "route_learn.h"

#include <cjson/cJSON.h>

typedef struct {
    const gr_config *cfg;
    cJSON *body;
    gr_route_state st;
} ctx_t;

static void plan(void *p) {
    ctx_t *c = p;
    gr_route_request req;
    char err[256];
    if (gr_route_request_from_json(c->body, &req, err, sizeof err) != GR_OK) bench_fail(err);
    struct gr_route_plan out;
    (void)gr_route_plan(c->cfg, &req, &c->st, &out);
    if (out.result != GR_ROUTE_OK) bench_fail(out.error);
    bench_sink += out.ncand;
}

/* The learning hook alone, as the auto decision calls it for 3 models. */
static void adjust3(void *p) {
    static const char *const names[] = {"small", "medium", "large"};
    static const double mix[GR_LEARN_SKILLS] = {0.1, 0.1, 0.1, 0.5, 0.1, 0.1};
    gr_route_learned shown;
    for (int i = 0; i < 3; i++) bench_sink += (uint64_t)(1e6 * gr_route_learn_adjust(p, names[i], mix, 0.6, &shown));
}

int main(void) {
    static fixture f;
    fx_init(&f);
    uint32_t caps = GR_CAP_CHAT | GR_CAP_TOOLS | GR_CAP_JSON | GR_CAP_STREAM;
    gr_model_conf *s = fx_model(&f, "small", 55, 150000, 128000, caps, NULL);
    gr_model_conf *m = fx_model(&f, "medium", 75, 1000000, 128000, caps, NULL);
    gr_model_conf *l = fx_model(&f, "large", 95, 10000000, 200000, caps, NULL);
    fx_dep(&f, s, 0, "small-up", 1);
    fx_dep(&f, m, 1, "medium-up", 1);
    fx_dep(&f, l, 2, "large-up", 1);
    gr_health_reset_all();

    static const char body_named[] =
        "{\"model\":\"medium\",\"messages\":[{\"role\":\"system\",\"content\":\"You are a helpful assistant.\"},"
        "{\"role\":\"user\",\"content\":\"Write a Python function that merges two sorted lists and explain its "
        "complexity.\"}],\"max_tokens\":256}";
    static const char body_auto[] =
        "{\"model\":\"auto\",\"messages\":[{\"role\":\"system\",\"content\":\"You are a helpful assistant.\"},"
        "{\"role\":\"user\",\"content\":\"Write a Python function that merges two sorted lists and explain its "
        "complexity.\"}],\"max_tokens\":256}";
    ctx_t named = {&f.cfg, cJSON_Parse(body_named), {{0}, {0}, {{{0, 0, 0, 0, 0}}, 0}}};
    ctx_t autom = {&f.cfg, cJSON_Parse(body_auto), {{0}, {0}, {{{0, 0, 0, 0, 0}}, 0}}};
    if (!named.body || !autom.body) bench_fail("parse");
    gr_route_state_init(&named.st, 1);
    gr_route_state_init(&autom.st, 1);
    bench_run("route_plan_named_model_3_models", plan, &named);
    bench_run("route_plan_auto_3_models", plan, &autom);

    /* a 2 KB prompt: a code-review request of about 2,048 bytes */
    char prompt[2049];
    static const char chunk[] = "Review this C function for bugs and explain each fix step by step: "
                                "int sum(int *a, int n) { int s = 0; for (int i = 0; i <= n; i++) s += a[i]; return s; } ";
    size_t pl = 0;
    while (pl + sizeof chunk - 1 < sizeof prompt - 1) {
        memcpy(prompt + pl, chunk, sizeof chunk - 1);
        pl += sizeof chunk - 1;
    }
    while (pl < sizeof prompt - 1)
        prompt[pl++] = '.';
    prompt[pl] = '\0';
    cJSON *big = cJSON_CreateObject();
    cJSON_AddStringToObject(big, "model", "auto");
    cJSON *msgs = cJSON_AddArrayToObject(big, "messages");
    cJSON *um = cJSON_CreateObject();
    cJSON_AddStringToObject(um, "role", "user");
    cJSON_AddStringToObject(um, "content", prompt);
    cJSON_AddItemToArray(msgs, um);
    ctx_t auto2k = {&f.cfg, big, {{0}, {0}, {{{0, 0, 0, 0, 0}}, 0}}};
    gr_route_state_init(&auto2k.st, 1);
    bench_run("route_plan_auto_2kb_prompt_3_models", plan, &auto2k);

    /* the same with routing.auto.learning on and every model rated
     * (route_learn.h: a snapshot lookup and a logit shift per model) */
    static gr_route_conf learning;
    learning = *gr_route_conf_of(NULL);
    learning.learning.enabled = true;
    f.cfg.section[GR_CONF_SEC_ROUTING] = &learning;
    gr_learned_rec rated[3] = {{.model = "small"}, {.model = "medium"}, {.model = "large"}};
    for (int i = 0; i < 3; i++) { /* 40 ratings each, 2 in 3 good, 0.7 predicted */
        for (int k = 0; k < GR_LEARN_SKILLS; k++) {
            rated[i].s[k] = 40.0 / GR_LEARN_SKILLS * 2 / 3;
            rated[i].f[k] = 40.0 / GR_LEARN_SKILLS / 3;
            rated[i].e[k] = 40.0 / GR_LEARN_SKILLS * 0.7;
        }
        rated[i].ratings = 40;
    }
    gr_route_learn_publish(rated, 3);
    bench_run("route_plan_auto_2kb_prompt_3_models_learned", plan, &auto2k);
    bench_run("route_learn_adjust_3_models", adjust3, &learning.learning);
    gr_route_learn_clear();
    f.cfg.section[GR_CONF_SEC_ROUTING] = NULL;
    cJSON_Delete(big);
    cJSON_Delete(named.body);
    cJSON_Delete(autom.body);
    return 0;
}
