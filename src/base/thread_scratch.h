/* thread_scratch.h — one scratch buffer per thread for each user, allocated
 * on the thread's first use and freed when the thread exits (a pthread key
 * with free as destructor): per-request encoders (trace export, log sinks)
 * reuse it instead of allocating per request, and nothing leaks when a
 * worker ends. Declare it static with GR_THREAD_SCRATCH_INIT(size). */
#ifndef GR_THREAD_SCRATCH_H
#define GR_THREAD_SCRATCH_H

#include "common.h"

#include <pthread.h>
#include <stdatomic.h>

typedef struct gr_thread_scratch {
    size_t size;
    atomic_bool ready;
    pthread_key_t key;
} gr_thread_scratch;

#define GR_THREAD_SCRATCH_INIT(bytes) {(bytes), false, 0}

/* The calling thread's buffer of s->size bytes. */
char *gr_thread_scratch_get(gr_thread_scratch *s);

#endif
