/* dl_table.c — dlopen + dlsym into a function table (see dl_table.h). */
#include "dl_table.h"

#include <dlfcn.h>
#include <stdio.h>

bool gr_dl_fill(const char *soname, const gr_dl_sym *syms, size_t n, void *table, char *why, size_t whylen) {
    /* RTLD_LOCAL: nothing else resolves against the library's symbols. */
    void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(why, whylen, "cannot load %s: %s", soname, dlerror());
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        void *f = dlsym(h, syms[i].name);
        if (!f) {
            snprintf(why, whylen, "%s has no %s (too old a version?)", soname, syms[i].name);
            return false;
        }
        memcpy((char *)table + syms[i].off, &f, sizeof f); /* POSIX: data and function pointers convert */
    }
    return true;
}

gr_status gr_dl_load(gr_dl_lib *lib, void (*init)(void), const char *what, char *err, size_t errlen) {
    pthread_once(&lib->once, init);
    if (atomic_load(&lib->loaded)) return GR_OK;
    if (err && errlen) snprintf(err, errlen, "%s unavailable: %s", what, lib->why);
    return GR_ERR_UNSUPPORTED;
}
