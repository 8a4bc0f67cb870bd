/* static_keys.c — a presented key among `auth.keys`, in constant time (static_keys.h). */
#include "static_keys.h"

#include <string.h>

const gr_api_key *gr_config_static_key(const gr_config *c, const char *presented) {
    if (!presented) return NULL;
    size_t klen = strlen(presented);
    const gr_api_key *match = NULL;
    for (size_t i = 0; i < c->nkeys; i++) /* no early exit: constant work per key */
        if (gr_secret_eq(presented, klen, c->keys[i].key, strlen(c->keys[i].key))) match = &c->keys[i];
    return match;
}
