/* provider_preset.c — the table of OpenAI-compatible service presets
 * (`providers[].preset`). Pure data: what each service refuses or names
 * differently, as its API reference documents it (docs/PROVIDERS.md,
 * "Presets", gives the source of every row). */
#include "provider_preset.h"

#include <stddef.h>

/* Fields OpenAI added after most compatible servers froze their schemas. */
static const gr_field_rename max_tokens_only[] = {{"max_completion_tokens", "max_tokens"}, {NULL, NULL}};

/* DeepSeek: logprobs/top_logprobs are an error in thinking mode (on by default). */
static const char *const deepseek_drop[] = {"logprobs", "top_logprobs", NULL};

/* Mistral validates strictly (422 "Extra inputs are not permitted"): everything
 * OpenAI-only goes; seed is random_seed there. */
static const char *const mistral_drop[] = {"logprobs", "top_logprobs", "logit_bias", "user", "service_tier", "store",
                                           "metadata", "reasoning_effort", "modalities", "audio", NULL};
static const gr_field_rename mistral_renames[] = {
    {"max_completion_tokens", "max_tokens"}, {"seed", "random_seed"}, {NULL, NULL}};

/* Groq: "will result in a 400 error if they are supplied" (n is checked apart). */
static const char *const groq_drop[] = {"logprobs", "logit_bias", "top_logprobs", NULL};
static const char *const groq_message_drop[] = {"name", "reasoning_content", NULL};

/* Mistral's message schemas have no reasoning_content, and `name` only on tool
 * messages (where it is optional): both go. */
static const char *const mistral_message_drop[] = {"reasoning_content", "name", NULL};

static const gr_provider_preset presets[] = {
    {.name = "deepseek", .base_url = "https://api.deepseek.com/v1", .key_required = true, .stream_options = true,
     .stream_usage = true, .drop_fields = deepseek_drop, .renames = max_tokens_only, .reasoning_echo = true},
    {.name = "mistral", .base_url = "https://api.mistral.ai/v1", .key_required = true, .stream_options = false,
     .stream_usage = true, .short_tool_ids = true, .drop_fields = mistral_drop, .renames = mistral_renames,
     .drop_message_fields = mistral_message_drop},
    {.name = "groq", .base_url = "https://api.groq.com/openai/v1", .key_required = true, .stream_options = true,
     .stream_usage = true, .single_choice = true, .drop_fields = groq_drop, .drop_message_fields = groq_message_drop},
    {.name = "together", .base_url = "https://api.together.xyz/v1", .key_required = true, .stream_options = true,
     .stream_usage = true, .renames = max_tokens_only},
    {.name = "fireworks", .base_url = "https://api.fireworks.ai/inference/v1", .key_required = true,
     .stream_options = true, .stream_usage = true, .renames = max_tokens_only},
    {.name = "xai", .base_url = "https://api.x.ai/v1", .key_required = true, .stream_options = true,
     .stream_usage = true, .hook = GR_PRESET_HOOK_XAI_REASONING},
    {.name = "openrouter", .base_url = "https://openrouter.ai/api/v1", .key_required = true, .stream_options = true,
     .stream_usage = true, .ask_usage_object = true},
    {.name = "vllm", .base_url = "http://localhost:8000/v1", .stream_options = true, .stream_usage = true,
     .reasoning_alias = true},
    {.name = "ollama", .base_url = "http://localhost:11434/v1", .stream_options = true, .stream_usage = true,
     .single_choice = true, .renames = max_tokens_only, .reasoning_alias = true},
    {.name = "llamacpp", .base_url = "http://localhost:8080/v1", .stream_options = true, .stream_usage = true,
     .single_choice = true, .renames = max_tokens_only},
    {.name = "lmstudio", .base_url = "http://localhost:1234/v1", .stream_options = true, .stream_usage = true,
     .single_choice = true, .renames = max_tokens_only},
};

const char *const gr_provider_preset_names[] = {"none",   "deepseek", "mistral", "groq",     "together", "fireworks",
                                                "xai",    "openrouter", "vllm",  "ollama",   "llamacpp", "lmstudio",
                                                NULL};

const gr_provider_preset *gr_provider_preset_at(int id) {
    if (id <= 0 || (size_t)id > sizeof presets / sizeof presets[0]) return NULL;
    return &presets[id - 1];
}
