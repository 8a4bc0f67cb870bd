/* instance_id.c — the random per-process instance id and the request ids
 * built from it (see instance_id.h). */
#include "instance_id.h"

#include <openssl/rand.h>
#include <stdio.h>

static uint64_t g_instance_id;
static char g_instance_hex[GR_INSTANCE_ID_HEX];

bool gr_instance_id_init(void) {
    if (g_instance_hex[0]) return true; /* once per process (tests may call it again) */
    unsigned char b[8];
    if (RAND_bytes(b, sizeof b) != 1) return false;
    uint64_t v = 0;
    for (size_t i = 0; i < sizeof b; i++) v = v << 8 | b[i];
    g_instance_id = v;
    snprintf(g_instance_hex, sizeof g_instance_hex, "%016llx", (unsigned long long)v);
    return true;
}

uint64_t gr_instance_id(void) { return g_instance_id; }

const char *gr_instance_id_hex(void) { return g_instance_hex; }

void gr_request_id_make(char out[GR_REQUEST_ID_MAX], uint64_t wall_ms, unsigned worker, uint64_t seq) {
    snprintf(out, GR_REQUEST_ID_MAX, "req_%011llx%016llx%02x%llx", (unsigned long long)(wall_ms & 0xfffffffffffull),
             (unsigned long long)g_instance_id, worker & 0xffu, (unsigned long long)seq);
}
