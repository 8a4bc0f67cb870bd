/* route_features.c — prints the auto router's feature vectors (the exact C
 * extractor used in serving) for JSONL requests, for offline training and
 * evaluation (tools/route/train.mjs, eval.mjs).
 *
 * Input: one JSON object per line, a canonical OpenAI chat request
 * ({"messages": [...]}, extra fields ignored), from FILE or stdin.
 * Output: one CSV line per input line:
 *   score,percentile,task,prior,x0,...,x{N-1}
 * where score = P(strong needed) with the compiled-in weights. A line that is
 * not a JSON object prints "ERR". --names prints the header line only. */
#include "route_auto.h"

#include <stdio.h>
#include <stdlib.h>

static void print_names(FILE *out)
{
    fputs("score,percentile,task,prior", out);
    for (size_t i = 0; i < GR_AUTO_NFEAT; i++)
        fprintf(out, ",%s", gr_route_auto_feature_name(i));
    fputc('\n', out);
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--names") == 0) {
            print_names(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fprintf(stdout, "usage: route_features [--names] [FILE.jsonl]   (stdin if no FILE)\n");
            return 0;
        }
        path = argv[i];
    }
    FILE *in = stdin;
    if (path && strcmp(path, "-") != 0) {
        in = fopen(path, "r");
        if (!in) {
            fprintf(stderr, "route_features: cannot open %s\n", path);
            return 1;
        }
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int rc = 0;
    while ((n = getline(&line, &cap, in)) >= 0) {
        if (n == 0 || (n == 1 && line[0] == '\n'))
            continue;
        cJSON *body = cJSON_ParseWithLength(line, (size_t)n);
        gr_auto_features f;
        if (!body || gr_route_auto_features(body, &f) != GR_OK) {
            fputs("ERR\n", stdout);
            cJSON_Delete(body);
            continue;
        }
        double p = gr_route_auto_predict(&f);
        fprintf(stdout, "%.6f,%.6f,%s,%.6f", p, gr_route_auto_percentile(p),
                gr_route_auto_task_name(f.task), gr_route_auto_prior(&f));
        for (size_t i = 0; i < GR_AUTO_NFEAT; i++)
            fprintf(stdout, ",%.6g", (double)f.x[i]);
        fputc('\n', stdout);
        cJSON_Delete(body);
    }
    if (ferror(in))
        rc = 1;
    free(line);
    if (in != stdin)
        fclose(in);
    return rc;
}
