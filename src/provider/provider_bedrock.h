/* provider_bedrock.h — what the Bedrock adapter's two halves share: the
 * Converse chat adapter (provider_bedrock.c, which owns gr_bedrock_ops) and
 * InvokeModel embeddings for Titan and Cohere (provider_bedrock_embed.c). */
#ifndef GR_PROVIDER_BEDROCK_H
#define GR_PROVIDER_BEDROCK_H

#include "provider_native.h"

/* With out->body set: out->url = <base_url>/model/<model id, percent-encoded>/<operation>
 * and the SigV4-signed headers (content-type, accept, x-amz-date, the
 * session token, authorization) for the context's provider and time. False
 * (err set, out untouched but its body) when the request cannot be signed. */
bool gr_bedrock_finish_request(const gr_adapter_ctx *ctx, const char *model, const char *operation,
                               const char *accept, gr_http_request *out, gr_upstream_error *err);

gr_status gr_bedrock_build_embeddings(const gr_adapter_ctx *ctx, const cJSON *req, gr_http_request *out,
                                      gr_upstream_error *err);
gr_status gr_bedrock_parse_embeddings(const gr_adapter_ctx *ctx, const cJSON *req, const char *body, size_t len,
                                      cJSON **out, gr_usage *usage, gr_upstream_error *err);

#endif
