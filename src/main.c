/* main.c — the `gaterouter` command line: run the gateway, check a config,
 * run the standalone mock upstream. */
#include "common.h"
#include "config.h"
#include "config_load.h"
#include "error_catalogue.h"
#include "meter_defaults.h"
#include "route_auto_config.h"
#include "log.h"
#include "mock_upstream.h"
#include "pay_x402.h"
#include "server.h"
#include "cli_admin.h"
#include "route.h"
#include "route_embed.h"
#include "route_embed_cli.h"
#include "route_learn.h"
#include "route_learn_cli.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
            "GateRouter %s — OpenAI-compatible LLM gateway, router and x402 payment layer\n\n"
            "Usage:\n"
            "  gaterouter [--config|-c FILE]        run the gateway (default config: config/gaterouter.yaml)\n"
            "  gaterouter --check-config FILE       validate a config exactly as start-up and SIGHUP do, and exit\n"
            "                                       (0 = valid, 1 = invalid: the message names the key)\n"
            "  gaterouter mock [--port N] [--host H] [--latency-ms N] [--tokens-per-sec N]\n"
            "                                       run the mock OpenAI-compatible upstream standalone\n"
            "  gaterouter keys [--config FILE] create|list|show|revoke ...\n"
            "                                       manage virtual keys in the store (gaterouter keys --help)\n"
            "  gaterouter usage [--config FILE] [--by key|model|provider|day] [--from T] [--to T] [--key ID] [--json]\n"
            "                                       usage summaries from the ledger (gaterouter usage --help)\n"
            "  gaterouter route [--config FILE] --explain REQUEST.json\n"
            "                                       explain a routing decision (no upstream call)\n"
            "  gaterouter route [--config FILE] calibrate FILE.jsonl [--dry-run]\n"
            "                                       learn auto's estimates from prompts with per-model outcomes\n"
            "  gaterouter route [--config FILE] train FILE.jsonl [--base-url URL] [--out BANK]\n"
            "                                       build routing.auto.embeddings' labelled bank\n"
            "  gaterouter migrate [--config FILE]   apply store schema migrations\n"
            "  gaterouter x402 reconcile [--config FILE] [--all]\n"
            "                                       settle or reconcile with the chain the x402 payments\n"
            "                                       of dead instances (--all: of every instance)\n"
            "  gaterouter --config-reference        print every config key with its type, range and default\n"
            "  gaterouter --error-catalogue         print every error the gateway answers with (status, type, code)\n"
            "  gaterouter --version|-V | --help|-h\n\n"
            "Signals: SIGHUP reloads the config (an invalid one is logged and the running one kept);\n"
            "SIGTERM drains and exits.\n",
            GR_VERSION);
}

/* `gaterouter <command> --help` prints that command's usage and exits 0
 * before any config is read. */
static bool wants_help(int argc, char **argv) {
    for (int i = 2; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return true;
    return false;
}

static int command_help(const char *cmd) {
    if (!strcmp(cmd, "keys")) gr_cli_keys_help(stdout);
    else if (!strcmp(cmd, "usage")) gr_cli_usage_help(stdout);
    else if (!strcmp(cmd, "mock"))
        puts("usage: gaterouter mock [--port N] [--host H] [--latency-ms N] [--tokens-per-sec N]");
    else if (!strcmp(cmd, "route"))
        puts("usage: gaterouter route [--config FILE] --explain REQUEST.json\n"
             "       gaterouter route [--config FILE] calibrate FILE.jsonl [--dry-run]\n"
             "       gaterouter route [--config FILE] train FILE.jsonl [--base-url URL] [--out BANK]");
    else puts("usage: gaterouter migrate [--config FILE]");
    return 0;
}

static int parse_u32(const char *s, uint32_t max, uint32_t *out) {
    char *end = NULL;
    unsigned long v = strtoul(s, &end, 10);
    if (!*s || *end || v > max) return -1;
    *out = (uint32_t)v;
    return 0;
}

static int run_mock(int argc, char **argv) {
    gr_mock_options o = {"127.0.0.1", 9000, 0, 0};
    for (int i = 2; i < argc; i++) {
        uint32_t v = 0;
        if (i + 1 >= argc) {
            fprintf(stderr, "gaterouter mock: %s needs a value\n", argv[i]);
            return 2;
        }
        if (!strcmp(argv[i], "--host")) {
            o.host = argv[++i];
            continue;
        }
        if (parse_u32(argv[i + 1], 10000000, &v)) {
            fprintf(stderr, "gaterouter mock: bad number for %s: %s\n", argv[i], argv[i + 1]);
            return 2;
        }
        if (!strcmp(argv[i], "--port") && v <= 65535) o.port = (uint16_t)v;
        else if (!strcmp(argv[i], "--latency-ms")) o.latency_ms = v;
        else if (!strcmp(argv[i], "--tokens-per-sec")) o.tokens_per_sec = v;
        else {
            fprintf(stderr, "gaterouter mock: unknown option %s\n", argv[i]);
            return 2;
        }
        i++;
    }
    return gr_mock_run_forever(&o);
}

/* The config for a subcommand; NULL (the reason printed) when invalid. */
static gr_config *load_config(const char *path) {
    char err[1024];
    gr_config *cfg = gr_config_load_file(path, err, sizeof(err));
    if (!cfg) fprintf(stderr, "gaterouter: invalid config: %s\n", err);
    return cfg;
}

int main(int argc, char **argv) {
    const char *config = "config/gaterouter.yaml";
    bool check_only = false;
    if (argc > 1 && (!strcmp(argv[1], "mock") || !strcmp(argv[1], "keys") || !strcmp(argv[1], "usage") ||
                     !strcmp(argv[1], "route") || !strcmp(argv[1], "migrate")) &&
        wants_help(argc, argv))
        return command_help(argv[1]);
    if (argc > 1 && !strcmp(argv[1], "mock")) return run_mock(argc, argv);
    if (argc > 1 && !strcmp(argv[1], "route")) {
        const char *file = NULL, *calibrate = NULL, *train = NULL, *base_url = NULL, *out = NULL;
        bool dry_run = false;
        for (int i = 2; i < argc; i++) {
            if (!strcmp(argv[i], "--dry-run")) dry_run = true;
            else if (i + 1 >= argc) break;
            else if (!strcmp(argv[i], "--config")) config = argv[++i];
            else if (!strcmp(argv[i], "--explain")) file = argv[++i];
            else if (!strcmp(argv[i], "calibrate")) calibrate = argv[++i];
            else if (!strcmp(argv[i], "train")) train = argv[++i];
            else if (!strcmp(argv[i], "--base-url")) base_url = argv[++i];
            else if (!strcmp(argv[i], "--out")) out = argv[++i];
        }
        if ((file != NULL) + (calibrate != NULL) + (train != NULL) != 1) {
            fprintf(stderr, "usage: gaterouter route [--config FILE] --explain REQUEST.json\n"
                            "       gaterouter route [--config FILE] calibrate FILE.jsonl [--dry-run]\n"
                            "       gaterouter route [--config FILE] train FILE.jsonl [--base-url URL] [--out BANK]\n");
            return 2;
        }
        if (train) gr_route_embed_bank_optional(true); /* the bank is what train writes */
        gr_config *cfg = load_config(config);
        if (!cfg) return 1;
        if (train) {
            int rc = gr_route_embed_train_cli(cfg, train, base_url, out, stdout, stderr);
            gr_config_release(cfg);
            return rc;
        }
        if (calibrate) {
            int rc = gr_route_learn_calibrate_cli(cfg, calibrate, dry_run, stdout, stderr);
            gr_config_release(cfg);
            return rc;
        }
        gr_route_learn_cli_load(cfg, stderr); /* the estimates the gateway would use */
        int rc = gr_route_explain_cli(cfg, file, stdout);
        gr_route_learn_clear();
        gr_config_release(cfg);
        return rc;
    }
    if (argc > 2 && !strcmp(argv[1], "x402") && !strcmp(argv[2], "reconcile")) {
        bool all = false;
        for (int i = 3; i < argc; i++) {
            if (!strcmp(argv[i], "--config") && i + 1 < argc) config = argv[++i];
            else if (!strcmp(argv[i], "--all")) all = true;
            else {
                fprintf(stderr, "usage: gaterouter x402 reconcile [--config FILE] [--all]\n");
                return 2;
            }
        }
        gr_config *cfg = load_config(config);
        if (!cfg) return 1;
        int rc = gr_pay_x402_reconcile_cli(cfg, all, stdout);
        gr_config_release(cfg);
        return rc;
    }
    if (argc > 1 && !strcmp(argv[1], "migrate")) { /* apply schema migrations and exit */
        if (argc > 3 && !strcmp(argv[2], "--config")) config = argv[3];
        char err[1024];
        gr_config *cfg = gr_config_load_file(config, err, sizeof(err));
        if (!cfg) {
            fprintf(stderr, "gaterouter: invalid config: %s\n", err);
            return 1;
        }
        int rc = gr_store_migrate_cli(gr_store_url(cfg));
        gr_config_release(cfg);
        return rc;
    }
    if (argc > 1 && (!strcmp(argv[1], "keys") || !strcmp(argv[1], "usage"))) {
        /* Same store as the gateway: read its URL from the config. */
        int skip = 2;
        if (argc > 3 && !strcmp(argv[2], "--config")) {
            config = argv[3];
            skip = 4;
        }
        char err[1024];
        gr_config *cfg = gr_config_load_file(config, err, sizeof(err));
        if (!cfg) {
            fprintf(stderr, "gaterouter: invalid config: %s\n", err);
            return 1;
        }
        const char *url = gr_store_url(cfg);
        int rc = !strcmp(argv[1], "keys") ? gr_cli_keys(argc - skip, argv + skip, url)
                                          : gr_cli_usage(argc - skip, argv + skip, url);
        gr_config_release(cfg);
        return rc;
    }
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--config-reference")) { /* the key tables, as docs/CONFIG.md embeds them */
            gr_conf_write_reference(stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--error-catalogue")) { /* the error table, as docs/ERRORS.md embeds it */
            gr_error_catalogue_write_reference(stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--version") || !strcmp(argv[i], "-V")) {
            printf("gaterouter %s\n", GR_VERSION);
            return 0;
        }
        if ((!strcmp(argv[i], "--config") || !strcmp(argv[i], "-c") || !strcmp(argv[i], "--check-config")) && i + 1 < argc) {
            check_only = check_only || !strcmp(argv[i], "--check-config");
            config = argv[++i];
            continue;
        }
        fprintf(stderr, "gaterouter: unknown or incomplete argument '%s'\n\n", argv[i]);
        usage(stderr);
        return 2;
    }
    char err[1024];
    gr_config *cfg = gr_config_load_file(config, err, sizeof(err));
    if (!cfg) {
        fprintf(stderr, "gaterouter: invalid config: %s\n", err);
        return 1;
    }
    if (check_only) {
        printf("%s: OK (%zu providers, %zu models, %zu keys, auth.mode %s)\n", config, cfg->nproviders, cfg->nmodels,
               cfg->nkeys, cfg->auth_mode == GR_AUTH_OPEN ? "open" : "keys");
        (void)gr_route_auto_config_notes(cfg, stdout);
        (void)gr_meter_price_notes(cfg, stdout);
        gr_config_release(cfg);
        return 0;
    }
    return gr_server_run(cfg);
}
