/* fuzz_json_edit.c — the fast path's byte-level JSON edits (src/base/json_edit.c),
 * on inputs cJSON accepts (the handler parses every body before editing).
 * For the keys the fast path edits ("model", "stream_options") and one chosen
 * from the input:
 *   - gr_json_find_top_level's span lies inside the input, and when cJSON sees
 *     the key (unescaped, not duplicated) the span is found and parses to the
 *     same value cJSON reports;
 *   - splicing a replacement there yields JSON that parses, where the key now
 *     has the replacement value;
 *   - gr_json_insert_first yields JSON that parses with the new key first.
 * Inputs with duplicate or escaped top-level keys are where a byte-level edit
 * and a tree parser can disagree; see docs/SECURITY.md ("duplicate keys"). */
#include "fuzz.h"
#include "json_edit.h"

#include <cjson/cJSON.h>

/* Number of top-level members named exactly `key` per cJSON (escapes decoded). */
static int count_key(const cJSON *o, const char *key) {
    int n = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, o) if (it->string && strcmp(it->string, key) == 0) n++;
    return n;
}

static void check_key(const char *s, size_t n, const cJSON *root, const char *key) {
    size_t st = 0, en = 0;
    bool found = gr_json_find_top_level(s, n, key, &st, &en);
    int cnt = count_key(root, key);
    if (found) {
        GR_FUZZ_ASSERT(st <= en && en <= n);
        /* the span is the value cJSON saw (unambiguous: one member of that name) */
        if (cnt == 1) {
            cJSON *v = cJSON_ParseWithLength(s + st, en - st);
            GR_FUZZ_ASSERT(v != NULL);
            /* compare renderings: cJSON_Compare is unreliable with duplicate nested keys */
            char *a = cJSON_PrintUnformatted(v);
            char *b = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(root, key));
            GR_FUZZ_ASSERT(a && b && strcmp(a, b) == 0);
            free(a);
            free(b);
            cJSON_Delete(v);
        }
        static const char repl[] = "\"fuzz-replacement\"";
        size_t ol = 0;
        char *o = gr_json_splice(s, n, st, en, repl, sizeof repl - 1, &ol);
        GR_FUZZ_ASSERT(o && ol == n - (en - st) + sizeof repl - 1);
        cJSON *j = cJSON_ParseWithLength(o, ol);
        GR_FUZZ_ASSERT(j != NULL);
        if (cnt == 1) {
            const char *got = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, key));
            GR_FUZZ_ASSERT(got && strcmp(got, "fuzz-replacement") == 0);
        }
        cJSON_Delete(j);
        free(o);
    } else if (cnt >= 1) {
        /* cJSON sees the key but the raw walk does not: only possible when the
         * key is written with escapes ("mod\u0065l"). The canonical rendering
         * has it literally, and there it must be found. */
        char *canon = cJSON_PrintUnformatted(root);
        GR_FUZZ_ASSERT(canon != NULL);
        GR_FUZZ_ASSERT(gr_json_find_top_level(canon, strlen(canon), key, &st, &en));
        free(canon);
    }
}

/* A key cJSON prints as-is: printable ASCII, no quote or backslash (a raw
 * control byte or NUL in a key is rendered escaped, or cut by C strings). */
static bool plain_key(const char *k) {
    for (; *k; k++)
        if ((unsigned char)*k < 0x20 || (unsigned char)*k > 0x7e || *k == '"' || *k == '\\') return false;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *s = (const char *)data;
    cJSON *root = cJSON_ParseWithLength(s, size);
    if (!root) return 0;
    if (!cJSON_IsObject(root)) {
        size_t a, b;
        GR_FUZZ_ASSERT(!gr_json_find_top_level(s, size, "model", &a, &b));
        cJSON_Delete(root);
        return 0;
    }
    check_key(s, size, root, "model");
    check_key(s, size, root, "stream_options");
    if (root->child && root->child->string && plain_key(root->child->string))
        check_key(s, size, root, root->child->string);

    size_t ol = 0;
    char *o = gr_json_insert_first(s, size, "stream_options", "{\"include_usage\":true}", &ol);
    GR_FUZZ_ASSERT(o != NULL);
    cJSON *j = cJSON_ParseWithLength(o, ol);
    GR_FUZZ_ASSERT(j != NULL && j->child && strcmp(j->child->string, "stream_options") == 0);
    cJSON_Delete(j);
    free(o);
    cJSON_Delete(root);
    return 0;
}
