/* cli_admin.h — `gaterouter keys …` and `gaterouter usage …`: key management
 * and usage summaries from the command line, straight on the store (no
 * running server needed; a running server picks CLI changes up on reload,
 * gr_keys_reload).
 *
 * argv starts at the subcommand: for "gaterouter keys create --rpm 60" pass
 * argc=3, argv={"create","--rpm","60"}. Returns a process exit status
 * (0 ok, 1 failure, 2 usage error).
 *
 *   keys create [--name N] [--budget USD] [--daily USD] [--monthly USD]
 *               [--rpm N] [--tpm N] [--models a,b,c] [--metadata JSON]
 *               [--expires YYYY-MM-DD | --expires-in-days N] [--json]
 *   keys list [--json]
 *   keys show <id> [--json]
 *   keys revoke <id>
 *   usage [--by key|model|provider|day] [--from T] [--to T] [--key <id>] [--json] */
#ifndef GR_CLI_ADMIN_H
#define GR_CLI_ADMIN_H

#include <stdio.h>

/* The usage text of `gaterouter keys` / `gaterouter usage` (for --help). */
void gr_cli_keys_help(FILE *out);
void gr_cli_usage_help(FILE *out);
int gr_cli_keys(int argc, char **argv, const char *store_url);
int gr_cli_usage(int argc, char **argv, const char *store_url);

/* Same, writing to the given streams (tests). */
int gr_cli_keys_fp(int argc, char **argv, const char *store_url, FILE *out, FILE *err);
int gr_cli_usage_fp(int argc, char **argv, const char *store_url, FILE *out, FILE *err);

#endif
