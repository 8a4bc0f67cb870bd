/* thread_scratch.c — per-thread scratch buffers freed at thread exit (thread_scratch.h). */
#include "thread_scratch.h"

#include <stdlib.h>

static pthread_mutex_t g_init_mu = PTHREAD_MUTEX_INITIALIZER;

char *gr_thread_scratch_get(gr_thread_scratch *s) {
    if (!atomic_load_explicit(&s->ready, memory_order_acquire)) {
        pthread_mutex_lock(&g_init_mu);
        if (!atomic_load_explicit(&s->ready, memory_order_relaxed)) {
            if (pthread_key_create(&s->key, free)) abort(); /* out of keys: a build-time mistake */
            atomic_store_explicit(&s->ready, true, memory_order_release);
        }
        pthread_mutex_unlock(&g_init_mu);
    }
    char *buf = pthread_getspecific(s->key);
    if (!buf) {
        buf = gr_xmalloc(s->size);
        pthread_setspecific(s->key, buf);
    }
    return buf;
}
