/* SPDX-License-Identifier: MIT */
/* Plan operations as plain device, peer, link and route changes (plan-change.h). */
#include <errno.h>
#include <stdlib.h>

#include "plan-change.h"

bool plan_peer_change(const struct plan_op *op, struct wgc_peer *ret) {
        const struct plan_peer *pp = op->peer;
        struct wgc_peer c = {};

        if (op->kind == PLAN_PEER_REMOVE) {
                if (!op->live_peer)
                        return false;
                *ret = (struct wgc_peer){ .public_key = op->live_peer->public_key, .flags = WGC_PEER_REMOVE };
                return true;
        }
        if ((op->kind != PLAN_PEER_ADD && op->kind != PLAN_PEER_UPDATE) || !pp)
                return false;
        c.public_key = pp->peer->public_key;
        if (op->kind == PLAN_PEER_ADD) {
                /* A new peer gets its full list: exact even if it raced in meanwhile. */
                c.flags = WGC_PEER_REPLACE_ALLOWEDIPS;
                c.allowed_ips = pp->peer->allowed_ips;
                c.n_allowed_ips = pp->peer->n_allowed_ips;
        } else if (op->flags & PLAN_PEER_ALLOWED_IPS_REPLACE) {
                c.flags = WGC_PEER_UPDATE_ONLY | WGC_PEER_REPLACE_ALLOWEDIPS;
                c.allowed_ips = pp->peer->allowed_ips;
                c.n_allowed_ips = pp->peer->n_allowed_ips;
        } else {
                c.flags = WGC_PEER_UPDATE_ONLY;
                if (op->flags & PLAN_PEER_ALLOWED_IPS_ADD) {
                        c.allowed_ips = op->allowed_ips_add;
                        c.n_allowed_ips = op->n_allowed_ips_add;
                }
        }
        if ((op->flags & PLAN_PEER_ENDPOINT) && pp->endpoint.ss_family != 0) {
                c.flags |= WGC_PEER_ENDPOINT;
                c.endpoint = pp->endpoint;
        }
        if (op->flags & PLAN_PEER_KEEPALIVE) {
                c.flags |= WGC_PEER_KEEPALIVE;
                c.keepalive = pp->peer->persistent_keepalive > 0 ? (uint16_t)pp->peer->persistent_keepalive : 0;
        }
        if (op->flags & PLAN_PEER_PRESHARED_KEY) {
                c.flags |= WGC_PEER_PRESHARED_KEY;
                c.preshared_key = pp->has_preshared_key ? pp->preshared_key : NULL;
        }
        *ret = c;
        return true;
}

int plan_wg_change(const struct plan *p, const struct plan_target *t, struct wgc_device *ret) {
        struct wgc_device d = { .ifname = p->iface };
        struct wgc_peer *peers;
        size_t n = 0;

        peers = calloc(p->n_ops ? p->n_ops : 1, sizeof(*peers));
        if (!peers)
                return -ENOMEM;
        for (size_t i = 0; i < p->n_ops; i++) {
                const struct plan_op *op = &p->ops[i];

                if (op->kind != PLAN_IFACE_SET) {
                        n += plan_peer_change(op, &peers[n]);
                        continue;
                }
                if ((op->flags & PLAN_SET_PRIVATE_KEY) && t->has_private_key) {
                        d.flags |= WGC_DEV_PRIVATE_KEY;
                        d.private_key = t->private_key;
                }
                if (op->flags & PLAN_SET_LISTEN_PORT) {
                        d.flags |= WGC_DEV_LISTEN_PORT;
                        d.listen_port = t->iface->listen_port;
                }
                if (op->flags & PLAN_SET_FWMARK) {
                        d.flags |= WGC_DEV_FWMARK;
                        d.fwmark = t->iface->fwmark;
                }
        }
        d.peers = peers;
        d.n_peers = n;
        *ret = d;
        return 0;
}

int plan_link_changes(const struct plan *p, const struct plan_target *t, struct route_change **ret,
                      size_t *ret_n) {
        struct route_change *ch = calloc(p->n_ops ? p->n_ops : 1, sizeof(*ch));
        size_t n = 0;

        if (!ch)
                return -ENOMEM;
        for (size_t i = 0; i < p->n_ops; i++) {
                const struct plan_op *op = &p->ops[i];
                struct route_change *x = &ch[n];

                switch (op->kind) {
                case PLAN_IFACE_SET:
                        *x = (struct route_change){ .kind = ROUTE_CHANGE_LINK,
                                                    .mtu = op->flags & PLAN_SET_MTU ? t->iface->mtu : 0,
                                                    .up = op->flags & PLAN_SET_UP };
                        break;
                case PLAN_ADDR_ADD:
                case PLAN_ADDR_DEL:
                        *x = (struct route_change){ .kind = op->kind == PLAN_ADDR_ADD ? ROUTE_CHANGE_ADDR_ADD :
                                                                                        ROUTE_CHANGE_ADDR_DEL,
                                                    .prefix = op->prefix };
                        break;
                case PLAN_ROUTE_ADD:
                        *x = (struct route_change){ .kind = ROUTE_CHANGE_ROUTE_ADD, .prefix = op->prefix,
                                                    .table = t->iface->route_table, .metric = t->iface->route_metric };
                        break;
                case PLAN_ROUTE_DEL:
                        if (!op->live_route)
                                continue;
                        *x = (struct route_change){ .kind = ROUTE_CHANGE_ROUTE_DEL, .prefix = op->prefix,
                                                    .live = op->live_route };
                        break;
                default:
                        continue;
                }
                n++;
        }
        *ret = ch;
        *ret_n = n;
        return 0;
}
