/* console_assets.h — the web console's static files, compiled into the
 * binary: the table is generated at build time (tools/embed/embed_assets.c,
 * cmake/area_console.cmake) from the files under console/ and the pinned
 * charting library in node_modules, so nothing is read from disk or fetched
 * at run time. */
#ifndef GR_CONSOLE_ASSETS_H
#define GR_CONSOLE_ASSETS_H

#include <stddef.h>

typedef struct gr_console_asset {
    const char *path;         /* URL path, e.g. "/ui/app.js" */
    const char *content_type;
    const char *etag;         /* strong, quoted: SHA-256 prefix of the bytes */
    const unsigned char *data;
    size_t len;
    const unsigned char *gz;  /* gzip copy, NULL when it would not be smaller */
    size_t gz_len;
} gr_console_asset;

extern const gr_console_asset gr_console_assets[];
extern const size_t gr_console_nassets;

#endif
