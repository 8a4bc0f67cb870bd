/* route_features.c — prints the auto router's features (the exact C extractor
 * used in serving) and its compiled-in predictions for JSONL requests, for
 * offline training and evaluation (tools/route/train.mjs, eval.mjs).
 *
 * Input: one JSON object per line, a canonical OpenAI chat request
 * ({"messages": [...]}, extra fields ignored), from FILE or stdin.
 * Output: one line per input line, fields separated by ',':
 *   task,prior,question_chars,skill_0..skill_5,difficulty,out_tokens,x0,...,x{N-1},h
 * where h is the hashed n-grams as space-separated "bucket:value" pairs.
 * A line that is not a JSON object prints "ERR". --names prints the header. */
#include "route_auto.h"

#include <stdio.h>
#include <stdlib.h>

static void print_names(FILE *out)
{
    fputs("task,prior,question_chars", out);
    for (int k = 0; k < GR_SKILL_COUNT_; k++)
        fprintf(out, ",p_%s", gr_route_auto_skill_name((gr_skill)k));
    fputs(",difficulty,out_tokens", out);
    for (size_t i = 0; i < GR_AUTO_NFEAT; i++)
        fprintf(out, ",%s", gr_route_auto_feature_name(i));
    fputs(",hashed\n", out);
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
    static gr_auto_features f;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int rc = 0;
    while ((n = getline(&line, &cap, in)) >= 0) {
        if (n == 0 || (n == 1 && line[0] == '\n'))
            continue;
        cJSON *body = cJSON_ParseWithLength(line, (size_t)n);
        if (!body || gr_route_auto_features(body, &f) != GR_OK) {
            fputs("ERR\n", stdout);
            cJSON_Delete(body);
            continue;
        }
        gr_auto_prediction p;
        gr_route_auto_predict(&f, &p);
        fprintf(stdout, "%s,%.6f,%u", gr_route_auto_task_name(f.task), gr_route_auto_prior(&f),
                f.question_chars);
        for (int k = 0; k < GR_SKILL_COUNT_; k++)
            fprintf(stdout, ",%.6f", p.skill[k]);
        fprintf(stdout, ",%.6f,%.3f", p.difficulty, p.out_tokens);
        for (size_t i = 0; i < GR_AUTO_NFEAT; i++)
            fprintf(stdout, ",%.6g", (double)f.x[i]);
        fputc(',', stdout);
        for (uint32_t i = 0; i < f.nh; i++)
            fprintf(stdout, "%s%u:%.6g", i ? " " : "", f.hidx[i], (double)f.hval[i]);
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
