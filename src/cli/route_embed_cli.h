/* route_embed_cli.h — `gaterouter route [--config F] train FILE.jsonl
 * [--base-url URL] [--out BANK]`: the bank of routing.auto.embeddings
 * (route_embed_cli.c). */
#ifndef GR_ROUTE_EMBED_CLI_H
#define GR_ROUTE_EMBED_CLI_H

#include "config.h"

#include <stdio.h>

/* The process exit code. cfg must have been loaded after
 * gr_route_embed_bank_optional(true). */
int gr_route_embed_train_cli(const gr_config *cfg, const char *path, const char *base_url, const char *out_path,
                             FILE *out, FILE *err);

#endif
