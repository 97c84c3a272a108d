/* SPDX-License-Identifier: MIT */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

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

static int filled(struct wf_err *e, int r, const char *op) {
        if (r < 0 && e && !e->msg[0])
                return wf_err_set(e, r, "%s: %s", op, strerror(-r));
        return r;
}

int backend_observe(const struct backend_ops *ops, struct backend *b, const char *iface,
                    const struct wf_iface *desired, struct wf_live_iface **ret, struct wf_err *e) {
        if (e)
                e->msg[0] = '\0';
        return filled(e, ops->observe(b, iface, desired, ret, e), "observe");
}

int backend_apply(const struct backend_ops *ops, struct backend *b, const struct plan *p,
                  const struct plan_target *t, struct wf_err *e) {
        if (e)
                e->msg[0] = '\0';
        return filled(e, ops->apply(b, p, t, e), "apply");
}

int backend_exit_sync(const struct backend_ops *ops, struct backend *b, const struct exit_route *want,
                      size_t n, const struct wf_prefix *mgmt, size_t n_mgmt, bool dry_run, size_t *changes,
                      struct wf_err *e) {
        if (e)
                e->msg[0] = '\0';
        return filled(e, ops->exit_sync(b, want, n, mgmt, n_mgmt, dry_run, changes, e), "exit_sync");
}

int backend_gateway(const struct backend_ops *ops, struct backend *b, const struct wf_doc *doc, bool dry_run,
                    struct gw_result *ret, struct wf_err *e) {
        if (e)
                e->msg[0] = '\0';
        return filled(e, ops->gateway(b, doc, dry_run, ret, e), "gateway");
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
