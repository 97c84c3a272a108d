/* SPDX-License-Identifier: MIT */
/* Backend linux: kernel WireGuard. The device and its peers go over generic netlink
 * (wg-netlink), the link state, addresses and routes over rtnetlink (route). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "nft-gateway.h"
#include "plan-change.h"
#include "route.h"
#include "route-rule.h"
#include "wg-netlink.h"

struct backend {
        struct wgnl *wg;         /* owned */
        struct nftgw *gw;      /* owned */
        struct route_ctx *rt;    /* owned */
};

static void linux_close(struct backend *b) {
        if (!b)
                return;
        wgnl_close(b->wg);
        route_ctx_free(b->rt);
        nftgw_free(b->gw);
        free(b);
}

static int linux_open(struct backend **ret, _unused_ const struct config *c, struct wf_err *e) {
        struct backend *b;
        int r;

        b = calloc(1, sizeof(*b));
        if (!b)
                return -ENOMEM;
        r = wgnl_open(&b->wg, e);
        if (r >= 0)
                r = route_ctx_new(&b->rt, e);
        if (r >= 0)
                r = nftgw_new(&b->gw, c ? c->state_dir : NULL, e);
        if (r < 0) {
                linux_close(b);
                return r;
        }
        *ret = b;
        return 0;
}

static int linux_observe(struct backend *b, const char *iface, const struct wf_iface *desired,
                         struct wf_live_iface **ret, struct wf_err *e) {
        struct wf_live_iface *l;
        int r;

        l = calloc(1, sizeof(*l));
        if (!l)
                return -ENOMEM;
        r = route_observe(b->rt, iface, desired, l, e);
        if (r >= 0 && l->exists) {
                /* The dump sets the name; keep one copy. */
                r = wgnl_get_device(b->wg, iface, l, e);
                if (r == -ENODEV) {
                        /* Gone between the two reads: report it as absent. */
                        l->exists = false;
                        r = 0;
                }
        }
        if (r >= 0 && !l->name) {
                l->name = strdup(iface);
                if (!l->name)
                        r = -ENOMEM;
        }
        if (r < 0) {
                wf_live_iface_free(l);
                return r;
        }
        *ret = l;
        return 0;
}

static int linux_apply(struct backend *b, const struct plan *p, const struct plan_target *t,
                       struct wf_err *e) {
        struct wgc_device wg;
        int r;

        for (size_t i = 0; i < p->n_ops; i++)
                if (p->ops[i].kind == PLAN_IFACE_CREATE) {
                        r = wgnl_link_create(b->wg, p->iface, e);
                        if (r < 0 && r != -EEXIST)
                                return r;
                        break;
                }
        /* Keys and peers before the link goes up and routes point at it. */
        r = plan_wg_change(p, t, &wg);
        if (r < 0)
                return r;
        r = wgnl_set(b->wg, &wg, e);
        free((void *)wg.peers);
        if (r < 0)
                return r;
        return backend_link_apply(b->rt, p, t, e);
}

static int linux_clear(struct backend *b, const char *iface, struct wf_err *e) {
        int r;

        /* The agent created the link; deleting it takes its addresses and routes along. */
        r = wgnl_link_delete(b->wg, iface, e);
        if (r == -ENODEV)
                return 0;
        return r;
}

static int linux_exit_sync(struct backend *b, const struct exit_route *want, size_t n,
                             const struct wf_prefix *mgmt, size_t n_mgmt, bool dry_run,
                             size_t *changes, struct wf_err *e) {
        return route_exit_sync(b->rt, want, n, mgmt, n_mgmt, dry_run, changes, e);
}

static int linux_gateway(struct backend *b, const struct wf_doc *doc, bool dry_run, struct gw_result *ret,
                     struct wf_err *e) {
        return gw_sync(&nftgw_driver, b->gw, doc, dry_run, ret, e);
}

static void linux_stats(struct backend *b, struct backend_stats *ret) {
        struct wgnl_stats w;

        wgnl_get_stats(b->wg, &w);
        *ret = (struct backend_stats){
                .wg_set = w.set_messages,
                .wg_get = w.get_requests,
                .rtnl = route_ctx_requests(b->rt) + w.link_messages,
        };
}

const struct backend_ops backend_linux_ops = {
        .name = "linux",
        .open = linux_open,
        .close = linux_close,
        .observe = linux_observe,
        .apply = linux_apply,
        .clear = linux_clear,
        .exit_sync = linux_exit_sync,
        .gateway = linux_gateway,
        .stats = linux_stats,
};
