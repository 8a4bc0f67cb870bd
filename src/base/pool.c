/* pool.c — bump-pointer arena with a cleanup stack (see pool.h). */
#include "pool.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

struct chunk {
    struct chunk *next;
    size_t size, used;
    _Alignas(16) unsigned char data[];
};

struct cleanup {
    struct cleanup *next;
    gr_cleanup_fn fn;
    void *arg;
};

struct gr_pool {
    struct chunk *head;
    struct cleanup *cleanups;
    size_t chunk_size;
    size_t reserved;
};

static struct chunk *chunk_new(size_t size) {
    struct chunk *c = gr_xmalloc(sizeof(*c) + size);
    c->next = NULL;
    c->size = size;
    c->used = 0;
    return c;
}

gr_pool *gr_pool_new(size_t chunk_size) {
    gr_pool *p = gr_xcalloc(1, sizeof(*p));
    p->chunk_size = chunk_size ? chunk_size : 4096;
    return p;
}

void gr_pool_free(gr_pool *p) {
    if (!p) return;
    struct cleanup *c = p->cleanups;
    while (c) { /* cleanup records live in the pool's own chunks */
        c->fn(c->arg);
        c = c->next;
    }
    struct chunk *k = p->head;
    while (k) {
        struct chunk *next = k->next;
        free(k);
        k = next;
    }
    free(p);
}

void *gr_pool_alloc(gr_pool *p, size_t n) {
    n = (n + 15u) & ~(size_t)15u;
    struct chunk *c = p->head;
    if (!c || c->size - c->used < n) {
        /* Large requests get their own chunk, linked behind the current one
         * so the current chunk's free space is not wasted. */
        size_t size = n > p->chunk_size / 2 ? n : p->chunk_size;
        struct chunk *nc = chunk_new(size);
        p->reserved += size;
        if (c && size != p->chunk_size) {
            nc->next = c->next;
            c->next = nc;
            nc->used = n;
            return nc->data;
        }
        nc->next = c;
        p->head = nc;
        c = nc;
    }
    void *r = c->data + c->used;
    c->used += n;
    return r;
}

void *gr_pool_calloc(gr_pool *p, size_t n) {
    void *r = gr_pool_alloc(p, n);
    memset(r, 0, n);
    return r;
}

char *gr_pool_strndup(gr_pool *p, const char *s, size_t n) {
    char *d = gr_pool_alloc(p, n + 1);
    if (n) memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *gr_pool_strdup(gr_pool *p, const char *s) { return gr_pool_strndup(p, s, strlen(s)); }

char *gr_pool_printf(gr_pool *p, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return gr_pool_strdup(p, "");
    char *d = gr_pool_alloc(p, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(d, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return d;
}

void gr_pool_cleanup_add(gr_pool *p, gr_cleanup_fn fn, void *arg) {
    struct cleanup *c = gr_pool_alloc(p, sizeof(*c));
    c->fn = fn;
    c->arg = arg;
    c->next = p->cleanups;
    p->cleanups = c;
}

size_t gr_pool_bytes(const gr_pool *p) { return p->reserved; }

void gr_pool_reset(gr_pool *p) {
    struct cleanup *c = p->cleanups;
    p->cleanups = NULL;
    while (c) {
        c->fn(c->arg);
        c = c->next;
    }
    /* keep one standard-size chunk; release the rest */
    struct chunk *keep = NULL, *k = p->head;
    while (k) {
        struct chunk *next = k->next;
        if (!keep && k->size == p->chunk_size) keep = k;
        else free(k);
        k = next;
    }
    p->head = keep;
    p->reserved = keep ? keep->size : 0;
    if (keep) {
        keep->next = NULL;
        keep->used = 0;
    }
}
