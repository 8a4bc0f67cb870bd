/* route_embed.h — the embeddings signal of the auto router: a labelled bank
 * of prompt embeddings with per-model outcomes (built offline by
 * `gaterouter route train`), and the k nearest neighbours of a new prompt's
 * embedding as a per-model estimate of a good answer, which the decision
 * blends with the text-feature prediction (route.c plan_auto):
 *     logit P'(x) = (1 - w) * logit P(x) + w * logit knn_m(x)
 * knn_m(x) = sum_j s_j * o_jm / sum_j s_j over the k most similar bank
 * prompts j (cosine similarity s_j > 0) that have an outcome o_jm for m.
 *
 * Config `routing.auto.embeddings` (a mapping, or just the model's name):
 *   model          an embeddings model of the config (OpenAI-compatible or mock provider)
 *   bank           the bank file (default ./data/route_bank.jsonl), read at config load
 *   k, weight, timeout_ms, cache_entries  (see the key table)
 * The bank is read with the config (start-up, SIGHUP, --check-config), so
 * a missing or malformed bank, or one built with other dimensions, refuses
 * the config. The request path (route_embed_call.c) gets the prompt's
 * embedding asynchronously and reads the bank without locks (it belongs to
 * the config snapshot).
 *
 * Bank file (JSON lines): a header
 *   {"gaterouter_route_bank":1,"embedding_model":"<upstream id>","dims":D,"models":["a",...]}
 * then one line per prompt {"e":[D numbers],"o":[outcome per model, 0..1 or null]}. */
#ifndef GR_ROUTE_EMBED_H
#define GR_ROUTE_EMBED_H

#include "config.h"
#include "config_schema.h"

#include <stdio.h>

#define GR_EMBED_MAX_DIMS 8192
#define GR_EMBED_MAX_K 256
#define GR_EMBED_DEFAULT_BANK "./data/route_bank.jsonl"

typedef struct gr_route_embed_bank {
    uint32_t n, dims;
    uint32_t nmodels;  /* = cfg->nmodels: outcome columns in config order */
    float *vec;        /* n x dims, unit length */
    float *outcome;    /* n x nmodels, NAN = no outcome */
} gr_route_embed_bank;

typedef struct gr_route_embed_conf {
    bool enabled;            /* the section is present */
    char *model;             /* the embeddings model (config name) */
    char *bank_path;
    uint64_t k;
    double weight;
    uint64_t timeout_ms;
    uint64_t cache_entries;  /* per worker thread */
    gr_route_embed_bank *bank;
} gr_route_embed_conf;

extern const gr_conf_key gr_conf_routing_embeddings_keys[];

/* `route train` builds the bank the config names: it loads the config with
 * a missing bank allowed (the signal is then off). Process-wide; CLI only. */
void gr_route_embed_bank_optional(bool optional);

/* Parses and validates routing.auto.embeddings (NULL = off) into c, loading
 * the bank. Errors go to e. */
void gr_route_embed_conf_parse(const cJSON *sec, const gr_config *cfg, gr_route_embed_conf *c, gr_conf_err *e);
void gr_route_embed_conf_dispose(gr_route_embed_conf *c);

/* The config model an outcome column names: configured name, alias or a
 * deployment's upstream id (lower case, after the last '/'); -1 = none. */
int gr_route_embed_match_model(const gr_config *cfg, const char *name);

/* Reads a bank file for cfg's models; GR_OK or an error with a message. */
GR_MUST_CHECK gr_status gr_route_embed_bank_load(const char *path, const gr_config *cfg, gr_route_embed_bank **out,
                                                 char *err, size_t errlen);
void gr_route_embed_bank_free(gr_route_embed_bank *b);

/* Scales v (dims) to unit length; false when it is all zero or not finite. */
bool gr_route_embed_normalize(float *v, uint32_t dims);

/* The k-nearest-neighbour estimate per model (est[cfg model index], NAN when
 * no neighbour has an outcome for it) for unit vector q of the bank's dims. */
void gr_route_embed_knn(const gr_route_embed_bank *b, const float *q, uint32_t k, double *est);

/* Blends a text-feature P(good) q with a neighbour estimate (see above). */
double gr_route_embed_blend(double q, double knn, double weight);

#endif
