/* x402_preflight.h — before a paid request is served, ask whether its payer
 * can pay, off the event loop and within a deadline:
 *   settle: self         over the network's JSON-RPC, in one batch (x402_chain.h): the
 *                        authorization is unspent (EIP-3009
 *                        authorizationState / the Permit2 nonce bit: a
 *                        cancelled or used one is refused), the payer's
 *                        balance covers the value (upto: the maximum), and
 *                        for upto its allowance to Permit2 covers the maximum;
 *   settle: facilitator  POST {facilitator_url}/verify (x402 facilitator API).
 * Balances and allowances are cached per (payer, token) for cache_ms; the
 * authorization check is never cached. A payer whose settlement failed is
 * always checked on chain (never from the cache, even with preflight off)
 * until one of its settlements succeeds: refused while it cannot pay.
 *
 * The checks run on a pool of `threads` threads of their own (a
 * gr_store_exec with one curl handle per thread, store_exec.h): a request
 * waits for its answer on its loop, at most timeout_ms (then 503
 * x402_preflight_unavailable, nothing served; or served with fail_open). */
#ifndef GR_X402_PREFLIGHT_H
#define GR_X402_PREFLIGHT_H

#include "common.h"
#include "x402_chain.h"
#include "x402_settle.h"

typedef struct gr_x402_preflight gr_x402_preflight;

typedef struct gr_x402_preflight_opts {
    bool enabled;        /* x402.preflight.enabled (default true) */
    uint32_t timeout_ms; /* the request's wait for the answer */
    uint32_t cache_ms;   /* how long a payer's balance / allowance is reused (0 = never) */
    unsigned threads;
    unsigned queue_max;
    bool fail_open;      /* no answer in time: serve anyway (default: refuse with 503) */
} gr_x402_preflight_opts;

#define GR_X402_PREFLIGHT_TIMEOUT_MS 2000
#define GR_X402_PREFLIGHT_CACHE_MS 2000
#define GR_X402_PREFLIGHT_THREADS 2
#define GR_X402_PREFLIGHT_QUEUE_MAX 256

/* The answer. code: the refusal's error code ("" when ok or unknown). */
typedef enum { GR_PREFLIGHT_OK = 0, GR_PREFLIGHT_REFUSED, GR_PREFLIGHT_UNKNOWN } gr_preflight_verdict;

/* One check, filled by the caller; the pool thread writes verdict/code. */
typedef struct gr_x402_preflight_check {
    const gr_x402_network_conf *net;
    gr_x402_settle_mode mode;
    gr_x402_spend spend;      /* token = the network's asset */
    int version;
    const char *header_b64;   /* facilitator /verify: the client's payment (owned by the caller) */
    const char *requirement;  /* facilitator /verify: the matched requirement, JSON (owned by the caller) */
    /* results */
    gr_preflight_verdict verdict;
    char code[64];
    char why[160];
} gr_x402_preflight_check;

GR_MUST_CHECK gr_status gr_x402_preflight_new(const gr_x402_preflight_opts *o, gr_x402_preflight **out, char *err,
                                              size_t errlen);
void gr_x402_preflight_shutdown(gr_x402_preflight *pf); /* before the loops' mailboxes go; NULL-safe */
void gr_x402_preflight_free(gr_x402_preflight *pf);     /* NULL-safe */

/* Whether this payer must be checked (enabled, or its settlement failed). */
bool gr_x402_preflight_needed(gr_x402_preflight *pf, const char *payer);
/* Runs the check on a pool thread (blocking: the executor's run step). */
void gr_x402_preflight_run(gr_x402_preflight *pf, gr_x402_preflight_check *c, void *conn);
/* The executor the checks run on, and its deadline. */
struct gr_store_exec *gr_x402_preflight_exec(gr_x402_preflight *pf);
bool gr_x402_preflight_fail_open(const gr_x402_preflight *pf);
/* Settlement outcome of a payer (from the settler): failed -> always
 * checked on chain from now on; settled -> back to normal. */
void gr_x402_preflight_payer_outcome(void *pf, const char *payer, bool settled);

#endif
