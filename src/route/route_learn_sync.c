/* route_learn_sync.c — the refresher thread of the learned estimates (see
 * route_learn_sync.h). */
#include "route_learn_sync.h"

#include "config.h"
#include "log.h"
#include "route_conf.h"
#include "route_learn.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

struct gr_route_learn_sync {
    gr_store *store;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop, kicked, failing;
};

gr_status gr_route_learn_sync_once(gr_store *s) {
    gr_learned_rec *recs = NULL;
    size_t n = 0;
    gr_status rc = gr_store_learned_list(s, &recs, &n);
    if (rc == GR_OK) gr_route_learn_publish(recs, n);
    free(recs);
    return rc;
}

/* The current snapshot's period; learning off -> 0 (the thread only waits). */
static uint64_t current_period_ms(void) {
    gr_config *cfg = gr_config_current_acquire();
    const gr_route_learn_conf *lc = cfg ? &gr_route_conf_of(cfg)->learning : NULL;
    uint64_t ms = lc && lc->enabled ? lc->refresh_ms : 0;
    if (cfg) gr_config_release(cfg);
    return ms;
}

/* Waits on cv until stop, a kick, or ms milliseconds (with mu held). */
static void wait_ms(gr_route_learn_sync *s, uint64_t ms) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += (time_t)(ms / 1000);
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    int w = 0;
    while (!s->stop && !s->kicked && w != ETIMEDOUT) w = pthread_cond_timedwait(&s->cv, &s->mu, &until);
}

/* Refreshes when kicked or when a period (read from the current config each
 * second, so a reload applies within one) has passed since the last read. */
static void *sync_main(void *arg) {
    gr_route_learn_sync *s = arg;
    uint64_t last_us = gr_now_us();
    pthread_mutex_lock(&s->mu);
    while (!s->stop) {
        uint64_t period = current_period_ms(), since_ms = (gr_now_us() - last_us) / 1000;
        bool due = period && since_ms >= period;
        if (!s->kicked && !due) {
            uint64_t left = period ? period - since_ms : 1000;
            wait_ms(s, left < 1000 ? left : 1000);
            continue;
        }
        s->kicked = false;
        pthread_mutex_unlock(&s->mu);
        gr_status rc = gr_route_learn_sync_once(s->store);
        last_us = gr_now_us();
        pthread_mutex_lock(&s->mu);
        if (rc != GR_OK && !s->failing)
            GR_WARN("routing.auto.learning: cannot re-read the learned estimates (%s); keeping the last ones",
                    gr_status_str(rc));
        else if (rc == GR_OK && s->failing)
            GR_INFO("routing.auto.learning: learned estimates re-read again");
        s->failing = rc != GR_OK;
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

gr_status gr_route_learn_sync_start(const char *store_url, gr_route_learn_sync **out, char *err, size_t errlen) {
    *out = NULL;
    gr_route_learn_sync *s = gr_xcalloc(1, sizeof *s);
    gr_status rc = gr_store_open(store_url, &s->store, err, errlen);
    if (rc != GR_OK) {
        free(s);
        return rc;
    }
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    if (gr_route_learn_sync_once(s->store) != GR_OK) {
        s->failing = true;
        GR_WARN("routing.auto.learning: the learned estimates could not be read at start; auto uses its priors "
                "until they can");
    }
    if (pthread_create(&s->thread, NULL, sync_main, s) != 0) {
        snprintf(err, errlen, "cannot start the learned-estimates refresher thread");
        gr_store_close(s->store);
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->cv);
        free(s);
        return GR_ERR_IO;
    }
    *out = s;
    return GR_OK;
}

/* Wakes the thread: to refresh now, or to stop. */
static void wake(gr_route_learn_sync *s, bool stop) {
    pthread_mutex_lock(&s->mu);
    if (stop) s->stop = true;
    else s->kicked = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

void gr_route_learn_sync_kick(gr_route_learn_sync *s) {
    if (s) wake(s, false);
}

void gr_route_learn_sync_stop(gr_route_learn_sync *s) {
    if (!s) return;
    wake(s, true);
    pthread_join(s->thread, NULL);
    gr_store_close(s->store);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}
