/* doc_cache.c — a document cached per config snapshot (doc_cache.h). */
#include "doc_cache.h"

#include <stdlib.h>

char *gr_doc_cache_get(gr_doc_cache *c, uint64_t generation, const char *base) {
    char *out = NULL;
    pthread_mutex_lock(&c->mu);
    if (c->text && c->generation == generation && !strcmp(c->base, base ? base : "")) out = gr_xstrdup(c->text);
    pthread_mutex_unlock(&c->mu);
    return out;
}

void gr_doc_cache_put(gr_doc_cache *c, uint64_t generation, const char *base, const char *text) {
    char *b = gr_xstrdup(base ? base : ""), *t = gr_xstrdup(text);
    pthread_mutex_lock(&c->mu);
    char *ob = c->base, *ot = c->text;
    c->generation = generation;
    c->base = b;
    c->text = t;
    pthread_mutex_unlock(&c->mu);
    free(ob);
    free(ot);
}

char *gr_doc_cache_render(gr_doc_cache *c, uint64_t generation, const char *base, cJSON *doc) {
    char *t = cJSON_PrintUnformatted(doc);
    cJSON_Delete(doc);
    if (!t) abort();
    char *text = gr_xstrdup(t);
    cJSON_free(t);
    if (c) gr_doc_cache_put(c, generation, base, text);
    return text;
}

void gr_doc_cache_clear(gr_doc_cache *c) {
    pthread_mutex_lock(&c->mu);
    free(c->base);
    free(c->text);
    c->base = c->text = NULL;
    pthread_mutex_unlock(&c->mu);
}
