/* json_arena.c — block arena for hot-path cJSON parses (see json_arena.h). */
#include "json_arena.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>

#define BLOCK_BYTES 4096u
#define BLOCK_HEAD 16u            /* the chain link, keeps 16-byte alignment */
#define SMALL_MAX 1024u           /* bigger allocations go to malloc */
#define SHARD_BYTES (32u << 20)   /* virtual; only touched blocks are resident */
#define RESIDENT_FREE_MAX 256u    /* free blocks kept resident per shard (1 MiB) */

struct gr_json_shard {
    char *fresh, *hi; /* never-used blocks: [fresh, hi) */
    void **free_blocks;
    size_t nfree, cap;
};

/* The reserved range: written once by gr_json_arena_setup before any thread
 * starts, read-only afterwards (the free hook tests pointers against it). */
static struct {
    char *base;
    size_t size;
    atomic_size_t next_shard;
} g_json_region;

/* The arena the current thread's gr_json_arena_parse call allocates from;
 * NULL outside such a call. */
static _Thread_local gr_json_arena *tl_arena;
static _Thread_local gr_json_shard *tl_shard;

static bool in_region(const void *p) {
    const char *c = p;
    return g_json_region.base && c >= g_json_region.base && c < g_json_region.base + g_json_region.size;
}

static char *block_get(gr_json_shard *s) {
    if (s->nfree) return s->free_blocks[--s->nfree];
    if (s->fresh + BLOCK_BYTES > s->hi) return NULL;
    char *b = s->fresh;
    s->fresh += BLOCK_BYTES;
    return b;
}

static void *hook_malloc(size_t n) {
    gr_json_arena *a = tl_arena;
    if (!a || n > SMALL_MAX) return malloc(n);
    n = (n + 15u) & ~(size_t)15u;
    if ((size_t)(a->end - a->cur) < n) {
        char *b = block_get(tl_shard);
        if (!b) return malloc(n);
        *(void **)b = a->blocks;
        a->blocks = b;
        a->cur = b + BLOCK_HEAD;
        a->end = b + BLOCK_BYTES;
    }
    void *p = a->cur;
    a->cur += n;
    return p;
}

static void hook_free(void *p) {
    if (!in_region(p)) free(p);
}

void gr_json_arena_setup(size_t shards) {
    if (g_json_region.base || !shards) return;
    size_t size = shards * (size_t)SHARD_BYTES;
    void *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) return; /* plain cJSON then */
    g_json_region.base = m;
    g_json_region.size = size;
    cJSON_Hooks h = {.malloc_fn = hook_malloc, .free_fn = hook_free};
    cJSON_InitHooks(&h);
}

gr_json_shard *gr_json_shard_new(void) {
    if (!g_json_region.base) return NULL;
    size_t i = atomic_fetch_add(&g_json_region.next_shard, 1);
    if ((i + 1) * (size_t)SHARD_BYTES > g_json_region.size) return NULL;
    gr_json_shard *s = gr_xcalloc(1, sizeof *s);
    s->fresh = g_json_region.base + i * (size_t)SHARD_BYTES;
    s->hi = s->fresh + SHARD_BYTES;
    s->cap = SHARD_BYTES / BLOCK_BYTES;
    s->free_blocks = gr_xmalloc(s->cap * sizeof(void *));
    return s;
}

void gr_json_shard_free(gr_json_shard *s) {
    if (!s) return;
    free(s->free_blocks);
    free(s); /* its slice stays reserved: the region lives as long as the process */
}

cJSON *gr_json_arena_parse(gr_json_arena *a, gr_json_shard *shard, const char *text, size_t len,
                           const char **endp) {
    if (!shard) return cJSON_ParseWithLengthOpts(text, len, endp, 0);
    tl_arena = a;
    tl_shard = shard;
    cJSON *j = cJSON_ParseWithLengthOpts(text, len, endp, 0);
    tl_arena = NULL;
    tl_shard = NULL;
    return j;
}

void gr_json_arena_release(gr_json_arena *a, gr_json_shard *shard) {
    char *b = a->blocks;
    while (b && shard) {
        char *next = *(void **)b;
        if (shard->nfree >= RESIDENT_FREE_MAX) madvise(b, BLOCK_BYTES, MADV_DONTNEED);
        shard->free_blocks[shard->nfree++] = b;
        b = next;
    }
    a->blocks = NULL;
    a->cur = a->end = NULL;
}
