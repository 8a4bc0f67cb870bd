/* json_edit.h — byte-level edits of a JSON object's top-level keys for the
 * forwarding fast path: locate the value of a top-level key without building
 * a tree, and splice a replacement. The input must already have been
 * validated by a real parser (cJSON); this only walks tokens to find spans. */
#ifndef GR_JSON_EDIT_H
#define GR_JSON_EDIT_H

#include "common.h"

/* Finds the value span [*start, *end) of top-level key `key` in the object
 * `json`. Returns false if absent or the input is not an object. */
bool gr_json_find_top_level(const char *json, size_t len, const char *key, size_t *start, size_t *end);

/* True when every top-level key is plain (no escapes) and unique, so byte
 * edits by key name see exactly what a JSON parser sees. When false, the
 * caller must edit a parsed tree instead (duplicates: parsers disagree on
 * which one wins; escapes: the bytes differ from the decoded name). */
bool gr_json_top_level_keys_plain(const char *json, size_t len);

/* Returns a malloc'd copy of json with [start,end) replaced by repl. */
char *gr_json_splice(const char *json, size_t len, size_t start, size_t end, const char *repl,
                     size_t repl_len, size_t *out_len);

/* Returns a malloc'd copy with `"key":value_json,` inserted as the object's
 * first member. */
char *gr_json_insert_first(const char *json, size_t len, const char *key, const char *value_json,
                           size_t *out_len);

/* Returns a malloc'd copy with the top-level member `key` (and one comma
 * next to it) removed, or NULL when the key is absent. The keys must be plain
 * (gr_json_top_level_keys_plain): the first match is the only one. */
char *gr_json_remove_top_level(const char *json, size_t len, const char *key, size_t *out_len);

#endif
