/* console.c — serves the web console's compiled-in files (see console.h). */
#include "console.h"

#include "console_assets.h"
#include "http_server.h"

#include <string.h>
#include <strings.h>

static const gr_console_asset *find_asset(const char *path) {
    if (!strcmp(path, "/ui")) path = "/ui/index.html";
    for (size_t i = 0; i < gr_console_nassets; i++)
        if (!strcmp(gr_console_assets[i].path, path)) return &gr_console_assets[i];
    return NULL;
}

/* Whether Accept-Encoding allows gzip (a "gzip;q=0" refuses it). */
static bool accepts_gzip(const char *ae) {
    for (const char *p = ae; p && (p = strcasestr(p, "gzip")) != NULL; p += 4) {
        const char *q = p + 4;
        while (*q == ' ') q++;
        if (*q != ';') return true;
        q++;
        while (*q == ' ') q++;
        if (strncasecmp(q, "q=0", 3) != 0) return true;
        q += 3;
        if (*q == '.') q++;
        while (*q == '0') q++;
        if (*q >= '1' && *q <= '9') return true;
    }
    return false;
}

/* Whether If-None-Match names etag (or is "*"). */
static bool etag_matches(const char *inm, const char *etag) {
    if (!inm) return false;
    if (!strcmp(inm, "*")) return true;
    size_t n = strlen(etag);
    for (const char *p = strstr(inm, etag); p; p = strstr(p + 1, etag))
        if (p[n] == '\0' || p[n] == ',' || p[n] == ' ') return true;
    return false;
}

void gr_console_serve(gr_request *r, const char *path) {
    const gr_console_asset *a = find_asset(path);
    if (!a) {
        gr_request_fail(r, 404, "invalid_request_error", "unknown_url", NULL, "No console file at %s.", path);
        return;
    }
    gr_request_add_header(r, "Content-Security-Policy", GR_CONSOLE_CSP);
    gr_request_add_header(r, "X-Content-Type-Options", "nosniff");
    gr_request_add_header(r, "Referrer-Policy", "no-referrer");
    gr_request_add_header(r, "X-Frame-Options", "DENY");
    gr_request_add_header(r, "Cache-Control", "no-cache"); /* revalidate: the ETag makes it a 304 */
    gr_request_add_header(r, "ETag", a->etag);
    if (a->gz) gr_request_add_header(r, "Vary", "Accept-Encoding");
    if (etag_matches(gr_client_req_header(r->req, "If-None-Match"), a->etag)) {
        gr_request_reply_body(r, 304, NULL, "", 0);
        return;
    }
    if (a->gz && accepts_gzip(gr_client_req_header(r->req, "Accept-Encoding"))) {
        gr_request_add_header(r, "Content-Encoding", "gzip");
        gr_request_reply_body(r, 200, a->content_type, a->gz, a->gz_len);
        return;
    }
    gr_request_reply_body(r, 200, a->content_type, a->data, a->len);
}
