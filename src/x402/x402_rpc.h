/* x402_rpc.h — a blocking JSON POST / Ethereum JSON-RPC client over one
 * libcurl easy handle (loaded on demand, curl_dl.h), for the threads that
 * talk to a chain or a facilitator: the settlement thread and the payer
 * preflight threads. Never used on a worker's event loop.
 *
 * A call is bounded by its timeout and, when the owner gives one, by a
 * deadline it may move at any time (deadline_fn, polled during the transfer:
 * a settler stopping on SIGTERM aborts its stalled RPC). */
#ifndef GR_X402_RPC_H
#define GR_X402_RPC_H

#include "common.h"
#include "evm.h"

#include <cjson/cJSON.h>

typedef void CURL_handle; /* a CURL * (curl.h is only included by the implementation) */

/* GR_RPC_REFUSED: the server answered with a JSON-RPC error object (a
 * revert, a refused transaction): not worth repeating as is. */
typedef enum { GR_RPC_OK = 0, GR_RPC_TRANSIENT, GR_RPC_REFUSED } gr_rpc_outcome;

typedef struct gr_x402_rpc {
    CURL_handle *curl;                   /* owned by the caller */
    uint64_t (*deadline_fn)(void *ud);   /* may be NULL; wall-clock ms, 0 = none */
    void *ud;
} gr_x402_rpc;

/* One pool thread's client (store_exec.h pools of blocking RPC work: the
 * preflight, Solana settlement): a curl handle and an RPC client bounded by
 * deadline_ms (wall clock, 0 = none; set by the work in progress). Its open
 * and close functions are a pool's gr_store_exec_open_fn / close_fn. */
typedef struct gr_x402_rpc_conn {
    CURL_handle *curl;
    gr_x402_rpc rpc;
    uint64_t deadline_ms;
} gr_x402_rpc_conn;
gr_status gr_x402_rpc_conn_open(void *ctx, void **out, char *err, size_t errlen);
void gr_x402_rpc_conn_close(void *ctx, void *conn);

/* POST body (JSON) to url. Returns the HTTP status (0: transport failure or
 * aborted, err set) and the response body in *out (malloc'd, NUL-terminated,
 * at most 1 MiB; may be NULL). */
long gr_x402_rpc_post_json(gr_x402_rpc *c, const char *url, const char *body, long timeout_ms, char **out,
                           char *err, size_t errlen);

/* x402 facilitator API: POST {base_url}/{op} with {x402Version,
 * paymentPayload: the decoded payment header, paymentRequirements} (60 s at
 * most). As gr_x402_rpc_post_json; -1 (err "invalid_payload") when the
 * header or the requirement does not decode. */
long gr_x402_facilitator_post(gr_x402_rpc *c, const char *base_url, const char *op, int version,
                              const char *header_b64, const char *requirement_json, char **out, char *err,
                              size_t errlen);

/* One JSON-RPC call (10 s at most). GR_RPC_OK: *result points into *root
 * (the caller deletes *root). */
gr_rpc_outcome gr_x402_rpc_call(gr_x402_rpc *c, const char *url, const char *method, const char *params,
                                cJSON **root, const cJSON **result, char *err, size_t errlen);
/* A call whose result is a quantity ("0x1a"). */
gr_rpc_outcome gr_x402_rpc_qty(gr_x402_rpc *c, const char *url, const char *method, const char *params, uint64_t *v,
                               char *err, size_t errlen);
/* "0x1a" -> 26; false when not a quantity fitting 64 bits. */
bool gr_x402_parse_qty(const cJSON *v, uint64_t *out);

/* eth_call(to, data) at "latest": the first 32-byte word of the result. */
gr_rpc_outcome gr_x402_eth_call_word(gr_x402_rpc *c, const char *url, const gr_evm_address *to, const uint8_t *data,
                                     size_t len, uint8_t word[32], char *err, size_t errlen);

/* n eth_calls at "latest" in one JSON-RPC batch (one round trip; n at most
 * 8): words[i] = the first 32-byte word of call i's result. A server that
 * does not answer batches gets the calls one by one. GR_RPC_OK only when
 * every call succeeded. */
gr_rpc_outcome gr_x402_eth_call_batch(gr_x402_rpc *c, const char *url, size_t n, const gr_evm_address *to,
                                      const uint8_t *const *data, const size_t *len, uint8_t (*words)[32], char *err,
                                      size_t errlen);

/* ABI helpers: the 4-byte selector of a function signature, an address as a
 * 32-byte word. */
void gr_x402_abi_selector(const char *signature, uint8_t out[4]);
void gr_x402_abi_address(const gr_evm_address *a, uint8_t w[32]);

#endif
