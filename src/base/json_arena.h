/* json_arena.h — cJSON trees parsed on a worker's hot path (the client's
 * request body, the upstream's reply) allocate their nodes and strings from
 * 4 KiB blocks instead of malloc, and freeing them costs nothing: the blocks
 * go back whole when the request ends.
 *
 * Why: of the ~120 mallocs of a small fast-path chat request, ~70 were cJSON's
 * (the request body and the upstream's reply), and as many frees: the largest user-space cost per request after the kernel.
 *
 * How: gr_json_arena_setup() reserves one address range for the process
 * (virtual, MAP_NORESERVE) and installs cJSON hooks before any thread starts.
 * Each worker owns a shard (a slice of the range and a free list of blocks);
 * each request owns a gr_json_arena (its chain of blocks). While
 * gr_json_arena_parse runs, cJSON's allocations come from the request's
 * blocks (the thread-local "current arena" is set for exactly that call);
 * every other cJSON allocation is plain malloc. The free hook ignores
 * pointers inside the reserved range and free()s the rest, so trees may mix
 * both kinds and be deleted anywhere — but a tree holding arena nodes must
 * be deleted (or no longer used) before its arena is released. Allocations
 * over 1 KiB, and any once a shard's slice is used up, fall back to malloc.
 * Without setup (unit tests, tools) parsing is plain cJSON. */
#ifndef GR_JSON_ARENA_H
#define GR_JSON_ARENA_H

#include "common.h"

#include <cjson/cJSON.h>

typedef struct gr_json_shard gr_json_shard;

typedef struct gr_json_arena {
    void *blocks;    /* chain of blocks held by this arena */
    char *cur, *end; /* bump range in the newest block */
} gr_json_arena;

/* Once, before any thread: reserves room for `shards` shards and installs
 * the cJSON hooks. */
void gr_json_arena_setup(size_t shards);
/* A worker's shard (NULL without setup, or when all are taken). */
gr_json_shard *gr_json_shard_new(void);
void gr_json_shard_free(gr_json_shard *s);
/* cJSON_ParseWithLengthOpts(text, len, endp, 0) with the tree's memory from
 * a (on shard's blocks). shard NULL: plain cJSON. */
cJSON *gr_json_arena_parse(gr_json_arena *a, gr_json_shard *shard, const char *text, size_t len,
                           const char **endp);
/* Gives a's blocks back to the shard; a is empty afterwards. */
void gr_json_arena_release(gr_json_arena *a, gr_json_shard *shard);

#endif
