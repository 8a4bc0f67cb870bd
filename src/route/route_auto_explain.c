/* route_auto_explain.c — the auto decision in numbers (see route_auto_explain.h). */
#include "route_auto_explain.h"
#include "route_auto_config.h"

#include <math.h>
#include <string.h>

/* Appends s, truncating at cap (the reason stays NUL-terminated). */
static void append(char *buf, size_t cap, const char *s)
{
    size_t l = strlen(buf), n = strlen(s);
    if (l + 1 >= cap)
        return;
    if (n > cap - l - 1)
        n = cap - l - 1;
    memcpy(buf + l, s, n);
    buf[l + n] = '\0';
}

/* Appends a non-negative x with `dec` decimals using integer arithmetic only
 * (printf of doubles costs about 0.3 us each; a large pool prints dozens). */
static void append_fixed(char *buf, size_t cap, double x, int dec)
{
    static const uint64_t pow10[] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000};
    if (!(x >= 0.0) || x > 1e12) {
        append(buf, cap, x > 0 ? "inf" : "0");
        return;
    }
    uint64_t scale = pow10[dec], v = (uint64_t)(x * (double)scale + 0.5);
    char tmp[40];
    int n = 0;
    for (int d = 0; d < dec; d++, v /= 10)
        tmp[n++] = (char)('0' + v % 10);
    if (dec)
        tmp[n++] = '.';
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    size_t l = strlen(buf);
    if (l + (size_t)n + 1 >= cap)
        return;
    while (n)
        buf[l++] = tmp[--n];
    buf[l] = '\0';
}

void gr_route_auto_reason(const struct gr_route_plan *p, char *buf, size_t cap)
{
    append(buf, cap, " value=");
    if (isinf(p->value_usd))
        append(buf, cap, "inf");
    else {
        append(buf, cap, "$");
        append_fixed(buf, cap, p->value_usd, 6);
    }
    append(buf, cap, " skill=");
    append(buf, cap, p->skill ? p->skill : "-");
    append(buf, cap, " task=");
    append(buf, cap, p->task ? p->task : "-");
    append(buf, cap, " est=");
    for (size_t k = 0; k < p->nautoc; k++) {
        size_t i = p->auto_chosen >= 0 ? (k == 0 ? (size_t)p->auto_chosen
                                                 : (k <= (size_t)p->auto_chosen ? k - 1 : k))
                                       : k;
        const gr_route_auto_cand *a = &p->autoc[i];
        if (k)
            append(buf, cap, ",");
        append(buf, cap, a->model->name ? a->model->name : "?");
        append(buf, cap, ":");
        append_fixed(buf, cap, a->quality, 3);
        append(buf, cap, "/$");
        append_fixed(buf, cap, a->cost_usd, 6);
        append(buf, cap, "/");
        append_fixed(buf, cap, a->bar > 9.999 ? 9.999 : a->bar < 0 ? 0 : a->bar, 3);
    }
}

void gr_route_auto_to_json(const struct gr_route_plan *plan, cJSON *o)
{
    cJSON *a = cJSON_AddObjectToObject(o, "auto");
    cJSON_AddStringToObject(a, "task", plan->task ? plan->task : "general");
    cJSON_AddStringToObject(a, "skill", plan->skill ? plan->skill : "knowledge");
    cJSON_AddNumberToObject(a, "difficulty", plan->difficulty);
    cJSON_AddNumberToObject(a, "expected_output_tokens", plan->out_tokens);
    if (plan->knob >= 0)
        cJSON_AddNumberToObject(a, "quality_knob", plan->knob);
    if (isinf(plan->value_usd))
        cJSON_AddStringToObject(a, "value_usd_per_good_answer", "inf");
    else
        cJSON_AddNumberToObject(a, "value_usd_per_good_answer", plan->value_usd);
    cJSON *ms = cJSON_AddArrayToObject(a, "models");
    for (size_t i = 0; i < plan->nautoc; i++) {
        const gr_route_auto_cand *ac = &plan->autoc[i];
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "model", ac->model->name ? ac->model->name : "");
        cJSON_AddNumberToObject(e, "predicted_quality", ac->quality);
        cJSON_AddNumberToObject(e, "expected_cost_usd", ac->cost_usd);
        cJSON_AddNumberToObject(e, "quality_bar", ac->bar);
        cJSON_AddBoolToObject(e, "chosen", (int)i == plan->auto_chosen);
        cJSON_AddStringToObject(e, "abilities_from",
                                gr_route_auto_ability_from_name((gr_auto_ability_from)ac->ability_from));
        cJSON_AddItemToArray(ms, e);
    }
}

void gr_route_auto_explain_print(const struct gr_route_plan *p, FILE *out)
{
    fprintf(out, "auto:     skill=%s task=%s difficulty=%.2f expected output=%.0f tokens value=$%.4g per good answer\n",
            p->skill ? p->skill : "-", p->task ? p->task : "general", p->difficulty, p->out_tokens,
            p->value_usd);
    for (size_t i = 0; i < p->nautoc; i++)
        fprintf(out, "    %s %-24s P(good)=%.3f expected cost=$%.6f bar=%.3f (abilities: %s)\n",
                (int)i == p->auto_chosen ? "*" : " ",
                p->autoc[i].model->name ? p->autoc[i].model->name : "?", p->autoc[i].quality,
                p->autoc[i].cost_usd, p->autoc[i].bar,
                gr_route_auto_ability_from_name((gr_auto_ability_from)p->autoc[i].ability_from));
}
