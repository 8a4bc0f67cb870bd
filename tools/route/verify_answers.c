/* verify_answers.c — prints the auto:verify accept rule's final answer (the
 * exact C normaliser used in serving, src/verify_agree.c) for each input
 * line, for the offline cascade measurement (tools/route/verify_eval.mjs).
 *
 * Input: one JSON string per line (a model's reply), from FILE or stdin.
 * Output: one line per input line, "kind<TAB>answer" (kind: none, choice,
 * number, yes/no, text, code); a line that is not a JSON string prints
 * "ERR". */
#include "verify_agree.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    FILE *in = stdin;
    if (argc > 1 && !(in = fopen(argv[1], "r"))) {
        perror(argv[1]);
        return 2;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, in)) >= 0) {
        cJSON *j = cJSON_ParseWithLength(line, (size_t)n);
        if (!cJSON_IsString(j)) {
            puts("ERR");
        } else {
            char out[GR_VERIFY_ANSWER_MAX];
            gr_answer_kind k = gr_verify_final_answer(j->valuestring, strlen(j->valuestring), out, sizeof out);
            for (char *p = out; *p; p++)
                if (*p == '\t' || *p == '\n') *p = ' ';
            printf("%s\t%s\n", gr_answer_kind_name(k), out);
        }
        cJSON_Delete(j);
    }
    free(line);
    if (in != stdin) fclose(in);
    return 0;
}
