/* provider_preset.h — the known OpenAI-compatible services (`providers[].preset`):
 * for each, its default base URL, whether it needs a key, and its quirks as
 * data — request fields it refuses (dropped) or names differently (renamed),
 * message fields it refuses, whether it takes stream_options, n > 1 and
 * arbitrary tool-call ids. The request-side rewrite that applies a preset
 * lives in provider/preset_quirks.c; this table sits in the config layer so
 * the loader can default base_url and refuse a preset without its key.
 * Sources for every fact: docs/PROVIDERS.md, "Presets". */
#ifndef GR_PROVIDER_PRESET_H
#define GR_PROVIDER_PRESET_H

#include "common.h"

typedef struct gr_field_rename {
    const char *from;
    const char *to;
} gr_field_rename;

typedef enum {
    GR_PRESET_HOOK_NONE = 0,
    GR_PRESET_HOOK_XAI_REASONING, /* grok-4: no reasoning_effort/penalties/stop; grok-3-mini: effort low|high */
} gr_preset_hook;

typedef struct gr_provider_preset {
    const char *name;
    const char *base_url;           /* default when the provider gives none */
    bool key_required;              /* hosted service: api_key (sent as Authorization: Bearer) */
    bool stream_options;            /* accepts stream_options.include_usage (else it is dropped) */
    bool stream_usage;              /* usage arrives on streams (asked or unasked); else estimated */
    bool single_choice;             /* n > 1 refused (400 from the gateway, not the provider) */
    bool short_tool_ids;            /* tool-call ids must be 9 characters [a-zA-Z0-9] (Mistral) */
    bool ask_usage_object;          /* send usage:{include:true} (OpenRouter: usage with cost) */
    bool reasoning_alias;           /* answers name the reasoning `reasoning`: renamed reasoning_content */
    bool reasoning_echo;            /* wants assistant reasoning_content back (DeepSeek tool-call turns); the
                                       thinking of a translated /v1/messages turn goes to no one else */
    const char *const *drop_fields; /* top-level request fields removed; NULL-terminated */
    const gr_field_rename *renames; /* top-level renames; {NULL, NULL}-terminated */
    const char *const *drop_message_fields; /* fields removed from every message */
    gr_preset_hook hook;
} gr_provider_preset;

/* `providers[].preset` choices: "none" first, then every preset by name. */
extern const char *const gr_provider_preset_names[];

/* The preset of choice index `id` (0 = none -> NULL). */
const gr_provider_preset *gr_provider_preset_at(int id);

#endif
