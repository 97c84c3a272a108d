/* SPDX-License-Identifier: MIT */
#include <dlfcn.h>
#include <errno.h>

#include "dlib.h"

int dlib_load(const char *soname, const char *const *names, void **fns, size_t n, struct wf_err *e) {
        void *h;

        if (n > 0 && fns[0])
                return 0;
        h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
        if (!h)
                return wf_err_set(e, -ELIBACC, "%s", dlerror());
        for (size_t i = 0; i < n; i++) {
                fns[i] = dlsym(h, names[i]);
                if (!fns[i]) {
                        for (size_t k = 0; k < i; k++)
                                fns[k] = NULL;
                        dlclose(h);
                        return wf_err_set(e, -ELIBACC, "%s: no symbol %s", soname, names[i]);
                }
        }
        /* never closed: the library stays for the life of the process */
        return 0;
}
