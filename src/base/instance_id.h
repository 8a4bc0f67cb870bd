/* instance_id.h — this process's identity in a cluster, and the request ids
 * built from it.
 *
 * The instance id is 64 random bits (OpenSSL RAND_bytes) drawn once per
 * process start, so two instances, or one instance before and after a
 * restart, never share it (a collision needs ~2^32 starts). A request id is
 * "req_" + the wall-clock ms (11 hex digits, so ids sort by time) + the
 * instance id (16 hex) + the worker index (2 hex) + that worker's counter
 * (hex): unique by construction within the process (one counter per worker,
 * worker-local) and across processes by the instance id. It is the ledger's
 * key and the x402 settlement records' key; the client's X-Request-Id is kept
 * beside it, never in its place.
 *
 * Threading: gr_instance_id_init runs once on the main thread before any
 * worker starts; everything else only reads. */
#ifndef GR_INSTANCE_ID_H
#define GR_INSTANCE_ID_H

#include "common.h"

#define GR_INSTANCE_ID_HEX 17 /* 16 hex digits + NUL */
#define GR_REQUEST_ID_MAX 64  /* a request id fits the ledger's request_id[64] */

/* Draws the instance id; false when the random generator failed (then the
 * process must not serve: its ids could collide with another instance's). */
GR_MUST_CHECK bool gr_instance_id_init(void);
uint64_t gr_instance_id(void);
const char *gr_instance_id_hex(void); /* "0123456789abcdef" */

/* Writes a request id for worker `worker`'s seq-th request at wall_ms. */
void gr_request_id_make(char out[GR_REQUEST_ID_MAX], uint64_t wall_ms, unsigned worker, uint64_t seq);

#endif
