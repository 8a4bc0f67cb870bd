/* route_learn_cli.h — the command line of routing.auto.learning:
 * `gaterouter route [--config FILE] calibrate FILE.jsonl [--dry-run]` and the
 * learned estimates behind `gaterouter route --explain` (route_learn_cli.c). */
#ifndef GR_ROUTE_LEARN_CLI_H
#define GR_ROUTE_LEARN_CLI_H

#include "config.h"

#include <stdio.h>

/* Calibrates from path (see route_learn_cli.c); the process exit code. */
int gr_route_learn_calibrate_cli(const gr_config *cfg, const char *path, bool dry_run, FILE *out, FILE *err);

/* With routing.auto.learning enabled, loads the store's estimates into the
 * process snapshot (a note on err when it cannot). */
void gr_route_learn_cli_load(const gr_config *cfg, FILE *err);

#endif
