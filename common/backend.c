/* SPDX-License-Identifier: MIT */
#include <stddef.h>
#include <stdlib.h>

#include "backend.h"
#include "plan-change.h"
#include "route.h"

const struct backend_ops *backend_ops_for(enum config_backend b) {
        switch (b) {
        case CONFIG_BACKEND_LINUX:
                return &backend_linux_ops;
        case CONFIG_BACKEND_UAPI:
                return &backend_uapi_ops;
        case CONFIG_BACKEND_ROUTEROS:
                return &backend_routeros_ops;
        default:
                return NULL;
        }
}

int backend_link_apply(struct route_ctx *rt, const struct plan *p, const struct plan_target *t,
                       struct wf_err *e) {
        _cleanup_free_ struct route_change *ch = NULL;
        size_t n = 0;
        int r;

        r = plan_link_changes(p, t, &ch, &n);
        if (r < 0)
                return wf_err_set(e, r, "%s: out of memory", p->iface);
        return route_apply(rt, p->iface, ch, n, e);
}
