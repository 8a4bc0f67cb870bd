/* doc_block.h — for unit tests of generated docs: a file of docs/ must embed,
 * between its begin and end markers, exactly what a writer prints (the config
 * key reference in CONFIG.md, the error table in ERRORS.md). Include after
 * <cmocka.h>. */
#ifndef GR_TEST_DOC_BLOCK_H
#define GR_TEST_DOC_BLOCK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* doc: path under the source tree ("docs/ERRORS.md"); begin: the begin
 * marker's prefix (the line may go on); regen: the command that regenerates it. */
static void assert_doc_block(const char *doc, const char *begin, const char *end, void (*write)(FILE *),
                             const char *regen) {
    char *printed = NULL;
    size_t plen = 0;
    FILE *m = open_memstream(&printed, &plen);
    write(m);
    fclose(m);
    const char *src = getenv("GR_SOURCE_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", src ? src : ".", doc);
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    static char text[1 << 20];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    const char *b = strstr(text, begin);
    const char *e = strstr(text, end);
    if (!b || !e) fail_msg("%s lacks the markers %s / %s", doc, begin, end);
    b = strchr(b, '\n') + 1;
    size_t dlen = (size_t)(e - b);
    if (dlen != plen || memcmp(b, printed, plen)) fail_msg("%s is stale: regenerate it with `%s`", doc, regen);
    free(printed);
}

#endif
