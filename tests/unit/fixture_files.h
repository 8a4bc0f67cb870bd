/* fixture_files.h — reading fixture files for the data-driven unit tests
 * (test_provider_fixtures.c, test_preset_fixtures.c). Include after cmocka.h. */
#ifndef GR_TEST_FIXTURE_FILES_H
#define GR_TEST_FIXTURE_FILES_H

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>

/* The whole of <dir>/<name> (NUL-terminated, *len its length), or NULL when absent. */
static char *read_file(const char *dir, const char *name, size_t *len) {
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    size_t got = fread(b, 1, (size_t)n, f);
    fclose(f);
    b[got] = '\0';
    if (len) *len = got;
    return b;
}

/* The parsed JSON of <dir>/<name>, NULL when absent; invalid JSON fails the test. */
static cJSON *read_json(const char *dir, const char *name) {
    char *s = read_file(dir, name, NULL);
    if (!s) return NULL;
    cJSON *j = cJSON_Parse(s);
    if (!j) fail_msg("%s/%s: invalid JSON", dir, name);
    free(s);
    return j;
}

#endif
