/* bench_meter.c — metering on the request path: the exact integer cost of a
 * finished request (gr_meter_cost), the prompt-token estimate used for budget
 * reservations (gr_meter_estimate_request on a parsed chat body), and
 * formatting the cost for usage.cost / x-gaterouter-cost. */
#include "bench_common.h"
#include "meter.h"

#include <cjson/cJSON.h>
#include <string.h>

typedef struct {
    gr_prices prices;
    gr_usage usage;
    cJSON *body;
    int64_t cost;
} ctx_t;

static void cost(void *p) {
    ctx_t *c = p;
    c->usage.completion_tokens = (c->usage.completion_tokens + 1) & 1023; /* vary the input */
    c->cost = gr_meter_cost(&c->prices, &c->usage);
    bench_sink += (uint64_t)c->cost;
}

static void estimate(void *p) {
    ctx_t *c = p;
    bench_sink += (uint64_t)gr_meter_estimate_request(c->body);
}

static void format_usd(void *p) {
    ctx_t *c = p;
    char buf[GR_METER_USD_BUFSZ];
    bench_sink += gr_meter_format_usd(c->cost + (int64_t)(bench_sink & 7), buf, sizeof buf);
}

int main(void) {
    ctx_t c;
    memset(&c, 0, sizeof c);
    c.prices = (gr_prices){.input_uusd_per_mtok = 150000, .output_uusd_per_mtok = 600000,
                           .cached_input_uusd_per_mtok = 75000, .set = true};
    c.usage = (gr_usage){.prompt_tokens = 1234, .completion_tokens = 321, .cached_tokens = 200, .present = true};
    c.body = cJSON_Parse("{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"system\",\"content\":\"You are a "
                         "helpful assistant.\"},{\"role\":\"user\",\"content\":\"Write one sentence about the sea, "
                         "then translate it to French and German.\"}],\"max_tokens\":64}");
    if (!c.body) bench_fail("parse");
    bench_run("meter_cost", cost, &c);
    bench_run("meter_estimate_request_small_chat", estimate, &c);
    bench_run("meter_format_usd", format_usd, &c);
    cJSON_Delete(c.body);
    return 0;
}
