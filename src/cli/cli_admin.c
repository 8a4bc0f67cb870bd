/* cli_admin.c — the `gaterouter keys` and `gaterouter usage` commands, using
 * the same store, key table and JSON shapes as the admin API. */
#include "cli_admin.h"
#include "admin.h"
#include "keys.h"
#include "meter.h"
#include "store.h"

#include <stdlib.h>
#include <string.h>

static const char keys_usage[] =
    "usage: gaterouter keys create [--name N] [--budget USD] [--daily USD] [--monthly USD]\n"
    "                              [--rpm N] [--tpm N] [--models a,b] [--metadata JSON]\n"
    "                              [--expires YYYY-MM-DD | --expires-in-days N] [--json]\n"
    "       gaterouter keys list [--json]\n"
    "       gaterouter keys show <id> [--json]\n"
    "       gaterouter keys revoke <id>\n";

static const char usage_usage[] =
    "usage: gaterouter usage [--by key|model|provider|day] [--from T] [--to T] [--key ID] "
    "[--json]\n       T = unix seconds/ms or YYYY-MM-DD (--to is inclusive)\n";

static gr_store *open_store(const char *url, FILE *err) {
    gr_store *s = NULL;
    char msg[512];
    if (gr_store_open_migrated(url, &s, msg, sizeof msg) != GR_OK) {
        fprintf(err, "gaterouter: %s\n", msg);
        return NULL;
    }
    return s;
}

static void usd_text(int64_t nusd, char *buf) { gr_meter_format_usd(nusd, buf, GR_METER_USD_BUFSZ); }

static void print_key_line(FILE *out, const gr_key_info *in, int64_t now) {
    const gr_key_record *k = &in->rec;
    char spent[GR_METER_USD_BUFSZ], budget[GR_METER_USD_BUFSZ] = "-";
    usd_text(in->spent_total_nusd, spent);
    if (k->budget_total_nusd >= 0) usd_text(k->budget_total_nusd, budget);
    const char *state = k->revoked_at_ms ? "revoked"
                        : (k->expires_at_ms && now >= k->expires_at_ms) ? "expired"
                                                                         : "active";
    fprintf(out, "%-20s  %-10s  %-8s  %-20.20s  $%s / %s%s  rpm=%lld tpm=%lld\n", k->id,
            k->prefix, state, k->name ? k->name : "", spent, budget[0] == '-' ? "" : "$",
            budget, (long long)k->rpm, (long long)k->tpm);
}

static int print_info(FILE *out, const gr_key_info *in, int64_t now, bool json,
                      const char *plaintext) {
    cJSON *o = gr_keys_info_json(in, now);
    if (plaintext) cJSON_AddStringToObject(o, "key", plaintext);
    if (json) {
        char *s = cJSON_Print(o);
        fprintf(out, "%s\n", s);
        cJSON_free(s);
    } else {
        if (plaintext)
            fprintf(out, "key: %s\n(shown once: store it now; only its hash is kept)\n",
                    plaintext);
        char *s = cJSON_Print(o);
        fprintf(out, "%s\n", s);
        cJSON_free(s);
    }
    cJSON_Delete(o);
    return 0;
}

/* Turn --flags into the admin API's JSON spec. */
static int build_spec(int argc, char **argv, cJSON *spec, bool *json, FILE *err) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--json") == 0) {
            *json = true;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(err, "gaterouter keys: %s needs a value\n%s", a, keys_usage);
            return 2;
        }
        const char *v = argv[++i];
        if (strcmp(a, "--name") == 0) cJSON_AddStringToObject(spec, "name", v);
        else if (strcmp(a, "--budget") == 0) cJSON_AddStringToObject(spec, "budget_usd", v);
        else if (strcmp(a, "--daily") == 0) cJSON_AddStringToObject(spec, "budget_daily_usd", v);
        else if (strcmp(a, "--monthly") == 0)
            cJSON_AddStringToObject(spec, "budget_monthly_usd", v);
        else if (strcmp(a, "--rpm") == 0 || strcmp(a, "--tpm") == 0 ||
                 strcmp(a, "--expires-in-days") == 0) {
            char *end;
            double d = strtod(v, &end);
            if (*end || end == v) {
                fprintf(err, "gaterouter keys: %s expects a number\n", a);
                return 2;
            }
            cJSON_AddNumberToObject(
                spec, strcmp(a, "--expires-in-days") == 0 ? "expires_in_days" : a + 2, d);
        } else if (strcmp(a, "--expires") == 0) {
            cJSON_AddStringToObject(spec, "expires_at", v);
        } else if (strcmp(a, "--models") == 0) {
            cJSON *arr = cJSON_AddArrayToObject(spec, "models");
            for (const char *p = v; *p;) {
                const char *comma = strchr(p, ',');
                size_t len = comma ? (size_t)(comma - p) : strlen(p);
                if (len) {
                    char *name = gr_xstrndup(p, len);
                    cJSON_AddItemToArray(arr, cJSON_CreateString(name));
                    free(name);
                }
                p += len + (comma ? 1 : 0);
            }
        } else if (strcmp(a, "--metadata") == 0) {
            cJSON *m = cJSON_Parse(v);
            if (!cJSON_IsObject(m)) {
                cJSON_Delete(m);
                fprintf(err, "gaterouter keys: --metadata expects a JSON object\n");
                return 2;
            }
            cJSON_AddItemToObject(spec, "metadata", m);
        } else {
            fprintf(err, "gaterouter keys: unknown option %s\n%s", a, keys_usage);
            return 2;
        }
    }
    return 0;
}

int gr_cli_keys_fp(int argc, char **argv, const char *store_url, FILE *out, FILE *err) {
    if (argc < 1) {
        fputs(keys_usage, err);
        return 2;
    }
    const char *cmd = argv[0];
    bool json = false;
    int64_t now = (int64_t)gr_wall_ms();
    int rc = 1;
    gr_store *s = NULL;
    gr_keys *t = NULL;
    cJSON *spec = NULL;

    if (strcmp(cmd, "create") == 0) {
        spec = cJSON_CreateObject();
        if ((rc = build_spec(argc, argv, spec, &json, err)) != 0) goto out;
        rc = 1;
        gr_key_record rec;
        gr_key_record_init(&rec);
        char msg[256];
        if (gr_keys_spec_from_json(spec, false, now, &rec, msg, sizeof msg) != GR_OK) {
            fprintf(err, "gaterouter keys create: %s\n", msg);
            gr_key_record_dispose(&rec);
            rc = 2;
            goto out;
        }
        if (!(s = open_store(store_url, err))) {
            gr_key_record_dispose(&rec);
            goto out;
        }
        t = gr_keys_new(s);
        char plaintext[GR_KEY_PLAINTEXT_SIZE];
        gr_key_record created;
        gr_status st = gr_keys_create(t, &rec, now, plaintext, &created);
        gr_key_record_dispose(&rec);
        if (st) {
            fprintf(err, "gaterouter keys create: %s\n", gr_status_str(st));
            goto out;
        }
        gr_key_info info;
        gr_keys_info(gr_keys_find_id(t, created.id), now, &info);
        gr_key_record_dispose(&created);
        rc = print_info(out, &info, now, json, plaintext);
        gr_key_record_dispose(&info.rec);
        memset(plaintext, 0, sizeof plaintext);
        goto out;
    }

    if (strcmp(cmd, "list") == 0 || strcmp(cmd, "show") == 0 || strcmp(cmd, "revoke") == 0) {
        const char *id = NULL;
        for (int i = 1; i < argc; i++) {
            if (strcmp(argv[i], "--json") == 0) json = true;
            else if (!id && argv[i][0] != '-') id = argv[i];
            else {
                fprintf(err, "gaterouter keys %s: unexpected argument %s\n%s", cmd, argv[i],
                        keys_usage);
                rc = 2;
                goto out;
            }
        }
        bool need_id = strcmp(cmd, "list") != 0;
        if (need_id != (id != NULL)) {
            fputs(keys_usage, err);
            rc = 2;
            goto out;
        }
        if (!(s = open_store(store_url, err))) goto out;
        t = gr_keys_new(s);
        if (gr_keys_load(t, now) != GR_OK) {
            fprintf(err, "gaterouter keys: cannot read keys from the store\n");
            goto out;
        }
        if (!need_id) {
            gr_key_info *infos;
            size_t n;
            gr_keys_list(t, now, &infos, &n);
            if (json) {
                cJSON *arr = cJSON_CreateArray();
                for (size_t i = 0; i < n; i++)
                    cJSON_AddItemToArray(arr, gr_keys_info_json(&infos[i], now));
                char *txt = cJSON_Print(arr);
                fprintf(out, "%s\n", txt);
                cJSON_free(txt);
                cJSON_Delete(arr);
            } else {
                for (size_t i = 0; i < n; i++) print_key_line(out, &infos[i], now);
                if (n == 0) fprintf(out, "no keys\n");
            }
            gr_keys_infos_free(infos, n);
            rc = 0;
            goto out;
        }
        gr_key_entry *e = gr_keys_find_id(t, id);
        if (!e) {
            fprintf(err, "gaterouter keys %s: no key with id '%s'\n", cmd, id);
            goto out;
        }
        if (strcmp(cmd, "revoke") == 0) {
            gr_status st = gr_keys_revoke(t, id, now);
            if (st) {
                fprintf(err, "gaterouter keys revoke: %s\n", gr_status_str(st));
                goto out;
            }
            fprintf(out, "revoked %s\n", id);
            rc = 0;
            goto out;
        }
        gr_key_info info;
        gr_keys_info(e, now, &info);
        rc = print_info(out, &info, now, json, NULL);
        gr_key_record_dispose(&info.rec);
        goto out;
    }
    fprintf(err, "gaterouter keys: unknown command '%s'\n%s", cmd, keys_usage);
    rc = 2;
out:
    cJSON_Delete(spec);
    gr_keys_free(t);
    gr_store_close(s);
    return rc;
}

int gr_cli_usage_fp(int argc, char **argv, const char *store_url, FILE *out, FILE *err) {
    gr_usage_query q = {.by = GR_USAGE_BY_MODEL};
    bool json = false;
    static const char *const by_names[] = {"key", "model", "provider", "day"};
    int i = 0;
    if (argc > 0 && strcmp(argv[0], "summary") == 0) i = 1; /* "usage summary" alias */
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--json") == 0) {
            json = true;
            continue;
        }
        if (i + 1 >= argc) {
            fputs(usage_usage, err);
            return 2;
        }
        const char *v = argv[++i];
        if (strcmp(a, "--by") == 0) {
            size_t k;
            for (k = 0; k < GR_ARRAY_LEN(by_names); k++)
                if (strcmp(v, by_names[k]) == 0) break;
            if (k == GR_ARRAY_LEN(by_names)) {
                fputs(usage_usage, err);
                return 2;
            }
            q.by = (gr_usage_group_by)k;
        } else if (strcmp(a, "--from") == 0) {
            if (gr_admin_parse_time(v, false, &q.from_ms)) {
                fputs(usage_usage, err);
                return 2;
            }
        } else if (strcmp(a, "--to") == 0) {
            if (gr_admin_parse_time(v, true, &q.to_ms)) {
                fputs(usage_usage, err);
                return 2;
            }
        } else if (strcmp(a, "--key") == 0) {
            q.key_id = v;
        } else {
            fputs(usage_usage, err);
            return 2;
        }
    }
    gr_store *s = open_store(store_url, err);
    if (!s) return 1;
    gr_usage_group *g = NULL;
    size_t n = 0;
    int rc = 1;
    if (gr_store_usage_summary(s, &q, &g, &n) != GR_OK) {
        fprintf(err, "gaterouter usage: query failed\n");
        goto out;
    }
    if (json) {
        char *txt = gr_admin_usage_json(&q, g, n);
        fprintf(out, "%s\n", txt);
        cJSON_free(txt);
    } else {
        fprintf(out, "%-32s %10s %8s %14s %14s %14s\n", by_names[q.by], "requests", "errors",
                "prompt_tok", "complet_tok", "cost_usd");
        int64_t tr = 0, te = 0, ti = 0, to = 0, tc = 0;
        for (size_t k = 0; k < n; k++) {
            char usd[GR_METER_USD_BUFSZ];
            usd_text(g[k].cost_nusd, usd);
            fprintf(out, "%-32.32s %10lld %8lld %14lld %14lld %14s\n", g[k].group,
                    (long long)g[k].requests, (long long)g[k].errors, (long long)g[k].tokens_in,
                    (long long)g[k].tokens_out, usd);
            tr += g[k].requests;
            te += g[k].errors;
            ti += g[k].tokens_in;
            to += g[k].tokens_out;
            tc += g[k].cost_nusd;
        }
        char usd[GR_METER_USD_BUFSZ];
        usd_text(tc, usd);
        fprintf(out, "%-32s %10lld %8lld %14lld %14lld %14s\n", "TOTAL", (long long)tr,
                (long long)te, (long long)ti, (long long)to, usd);
    }
    rc = 0;
out:
    free(g);
    gr_store_close(s);
    return rc;
}

void gr_cli_keys_help(FILE *out) { fputs(keys_usage, out); }
void gr_cli_usage_help(FILE *out) { fputs(usage_usage, out); }

int gr_cli_keys(int argc, char **argv, const char *store_url) {
    return gr_cli_keys_fp(argc, argv, store_url, stdout, stderr);
}

int gr_cli_usage(int argc, char **argv, const char *store_url) {
    return gr_cli_usage_fp(argc, argv, store_url, stdout, stderr);
}
