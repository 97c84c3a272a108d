/* SPDX-License-Identifier: MIT */
/* Backend uapi: WireGuard configuration over DIR/IFACE.sock (wireguard-go, boringtun), links,
 * addresses and routes through route.c. The implementation owns the interface's life: the agent
 * never creates or deletes it, it only configures what exists. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "nft-gateway.h"
#include "plan-change.h"
#include "route.h"
#include "route-rule.h"
#include "uapi.h"

#define UAPI_TIMEOUT_MS 10000

struct backend {
        struct nftgw *gw;      /* owned */
        struct route_ctx *rt;  /* owned */
        char *dir;             /* owned */
        struct backend_stats stats; /* wg_set, wg_get: transactions; rtnl from rt */
};

static void uapi_backend_close(struct backend *b) {
        if (!b)
                return;
        route_ctx_free(b->rt);
        nftgw_free(b->gw);
        free(b->dir);
        free(b);
}

static int uapi_backend_open(struct backend **ret, const struct config *c, struct wf_err *e) {
        struct backend *b = calloc(1, sizeof(*b));
        int r;

        if (!b)
                return -ENOMEM;
        b->dir = strdup(c && c->uapi_dir ? c->uapi_dir : UAPI_DEFAULT_DIR);
        if (!b->dir) {
                uapi_backend_close(b);
                return -ENOMEM;
        }
        r = route_ctx_new(&b->rt, e);
        if (r >= 0)
                r = nftgw_new(&b->gw, c ? c->state_dir : NULL, e);
        if (r < 0) {
                uapi_backend_close(b);
                return r;
        }
        *ret = b;
        return 0;
}

static int uapi_backend_observe(struct backend *b, const char *iface, const struct wf_iface *desired,
                                struct wf_live_iface **ret, struct wf_err *e) {
        struct wf_live_iface *live = calloc(1, sizeof(*live));
        char *reply = NULL;
        size_t len = 0;
        int r;

        if (!live)
                return -ENOMEM;
        live->name = strdup(iface);
        if (!live->name) {
                wf_live_iface_free(live);
                return -ENOMEM;
        }
        r = route_observe(b->rt, iface, desired, live, e);
        if (r < 0)
                goto fail;
        if (!live->exists) {
                *ret = live;
                return 0;
        }
        b->stats.wg_get++;
        r = uapi_transact(b->dir, iface, "get=1\n\n", 7, UAPI_TIMEOUT_MS, &reply, &len, e);
        if (r == -ENOENT || r == -ECONNREFUSED) {
                /* A link without a serving implementation cannot be configured: treat it as
                 * absent, apply then says what to start. */
                live->exists = false;
                *ret = live;
                return 0;
        }
        if (r < 0)
                goto fail;
        r = uapi_parse_get(reply, len, live, e);
        uapi_request_free(reply, len);
        if (r < 0)
                goto fail;
        *ret = live;
        return 0;
fail:
        wf_live_iface_free(live);
        return r;
}

static int uapi_backend_apply(struct backend *b, const struct plan *p, const struct plan_target *t,
                              struct wf_err *e) {
        struct wgc_device wg;
        char *req = NULL, *reply = NULL;
        size_t req_len = 0, len = 0;
        int r, err = 0;

        for (size_t i = 0; i < p->n_ops; i++)
                if (p->ops[i].kind == PLAN_IFACE_CREATE)
                        return wf_err_set(e, -ENODEV, "%s: no userspace WireGuard serves %s/%s.sock "
                                          "(start it first, e.g. wireguard-go %s; the uapi backend "
                                          "does not create interfaces)", p->iface, b->dir, p->iface, p->iface);

        r = plan_wg_change(p, t, &wg);
        if (r < 0)
                return r;
        r = uapi_format_set(&wg, &req, &req_len);
        free((void *)wg.peers);
        if (r < 0)
                return r;
        if (req) {
                b->stats.wg_set++;
                r = uapi_transact(b->dir, p->iface, req, req_len, UAPI_TIMEOUT_MS, &reply, &len, e);
                uapi_request_free(req, req_len);
                if (r < 0)
                        return r;
                r = uapi_parse_errno(reply, len, &err);
                uapi_request_free(reply, len);
                if (r < 0)
                        return wf_err_set(e, r, "%s: uapi set: reply without errno", p->iface);
                if (err != 0)
                        return wf_err_set(e, -err, "%s: uapi set failed: errno=%d (%s)", p->iface, err,
                                          strerror(err));
        }
        return backend_link_apply(b->rt, p, t, e);
}

static int uapi_backend_clear(struct backend *b, const char *iface, struct wf_err *e) {
        _cleanup_free_ struct wf_prefix *addrs = NULL;
        struct wf_live_route *routes = NULL;
        size_t n_routes = 0, n_addrs = 0;
        struct route_link l;
        char *reply = NULL;
        size_t len = 0;
        int r, err = 0;

        r = route_link_get(b->rt, iface, &l, e);
        if (r == -ENODEV)
                return 0;
        if (r < 0)
                return r;
        r = route_list(b->rt, l.ifindex, 0, NULL, 0, &routes, &n_routes, e);
        for (size_t i = 0; r >= 0 && i < n_routes; i++)
                if (routes[i].ours)
                        r = route_del(b->rt, &routes[i], e);
        free(routes);
        if (r < 0)
                return r;
        r = route_addr_list(b->rt, l.ifindex, &addrs, &n_addrs, e);
        for (size_t i = 0; r >= 0 && i < n_addrs; i++)
                if (!(addrs[i].family == AF_INET6 && addrs[i].addr[0] == 0xfe && (addrs[i].addr[1] & 0xc0) == 0x80))
                        r = route_addr_del(b->rt, l.ifindex, &addrs[i], e);
        if (r < 0)
                return r;
        r = uapi_transact(b->dir, iface, "set=1\nreplace_peers=true\n\n", strlen("set=1\nreplace_peers=true\n\n"), UAPI_TIMEOUT_MS, &reply, &len, e);
        if (r == -ENOENT || r == -ECONNREFUSED)
                return 0;
        if (r < 0)
                return r;
        r = uapi_parse_errno(reply, len, &err);
        uapi_request_free(reply, len);
        if (r >= 0 && err)
                return wf_err_set(e, -err, "%s: uapi clear peers: errno=%d", iface, err);
        return r;
}

static int uapi_backend_exit_sync(struct backend *b, const struct exit_route *want, size_t n,
                             const struct wf_prefix *mgmt, size_t n_mgmt, bool dry_run,
                             size_t *changes, struct wf_err *e) {
        return route_exit_sync(b->rt, want, n, mgmt, n_mgmt, dry_run, changes, e);
}

static int uapi_backend_gateway(struct backend *b, const struct wf_doc *doc, bool dry_run, struct gw_result *ret,
                     struct wf_err *e) {
        return gw_sync(&nftgw_driver, b->gw, doc, dry_run, ret, e);
}

static void uapi_backend_stats(struct backend *b, struct backend_stats *ret) {
        *ret = b->stats;
        ret->rtnl = route_ctx_requests(b->rt);
}

const struct backend_ops backend_uapi_ops = {
        .name = "uapi",
        .open = uapi_backend_open,
        .close = uapi_backend_close,
        .observe = uapi_backend_observe,
        .apply = uapi_backend_apply,
        .clear = uapi_backend_clear,
        .exit_sync = uapi_backend_exit_sync,
        .gateway = uapi_backend_gateway,
        .stats = uapi_backend_stats,
};
