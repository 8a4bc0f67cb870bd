/* preset_quirks.h — the request rewrite of an OpenAI-compatible preset
 * (config/provider_preset.h): the table's drops, renames, message-field
 * drops, n > 1 refusal, Mistral's 9-character tool-call ids, OpenRouter's
 * usage object, and the few model-dependent rules data cannot express
 * (xAI's reasoning models). One rewrite for every preset — the fast path
 * stays the one OpenAI path. */
#ifndef GR_PRESET_QUIRKS_H
#define GR_PRESET_QUIRKS_H

#include "provider.h"
#include "provider_preset.h"

/* Rewrites `body` (a canonical chat request the caller owns, `model` already
 * the upstream's) in place for preset `p`. GR_OK, or GR_ERR_INVALID with err
 * set (400 invalid_request_error) for a request the service cannot serve. */
gr_status gr_preset_rewrite(const gr_provider_preset *p, cJSON *body, gr_upstream_error *err);

/* Response side of reasoning_alias: in every choice's `message` and `delta`
 * of a chat completion (or chunk), a string `reasoning` becomes
 * `reasoning_content` (dropped when that is there already). Returns whether
 * anything changed. */
bool gr_preset_alias_reasoning(cJSON *response);

/* Removes `field` from every message of `body` (e.g. reasoning_content). */
void gr_preset_drop_message_field(cJSON *body, const char *field);

/* Mistral's tool-call id for `id` (out: 10 bytes): `id` itself when it is
 * already 9 characters of [a-zA-Z0-9], else 9 such characters derived from a
 * hash of it — the same id always maps to the same one, so an assistant
 * turn's tool_calls[].id and its tool messages' tool_call_id still match. */
void gr_preset_short_tool_id(const char *id, char out[10]);

#endif
