/* SPDX-License-Identifier: MIT */
/* RouterOS backend: the plan's operations as API commands. Peers are changed in place with
 * set (only the differing properties), found by the .id the observation recorded. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "plan-change.h"
#include "ros-backend.h"

static int ros_ensure_firewall(struct backend *b, const char *iface, uint16_t port, struct wf_err *e) {
        char id[32], drop[32];
        struct ros_words w = {};
        int r = ros_firewall_state(b, iface, port, id, drop, e);
        if (r != 0)
                return r;
        if (id[0]) {
                /* ours but wrong or misplaced: replace it in one remove + add */
                ros_words_add(&w, "/ip/firewall/filter/remove");
                ros_words_add(&w, "=.id=%s", id);
                if ((r = ros_simple(b, &w, e)) < 0)
                        return r;
                if (strcmp(drop, id) == 0)
                        drop[0] = 0;
        }
        ros_words_add(&w, "/ip/firewall/filter/add");
        ros_words_add(&w, "=chain=input");
        ros_words_add(&w, "=action=accept");
        ros_words_add(&w, "=protocol=udp");
        ros_words_add(&w, "=dst-port=%u", port);
        ros_words_add(&w, "=comment=" ROS_COMMENT_PREFIX "%s allow udp", iface);
        if (drop[0])
                ros_words_add(&w, "=place-before=%s", drop);
        return ros_simple(b, &w, e);
}

static void fmt_endpoint(const struct sockaddr_storage *ss, char host[64], unsigned *port) {
        if (ss->ss_family == AF_INET) {
                inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, host, 64);
                *port = ntohs(((const struct sockaddr_in *)ss)->sin_port);
        } else {
                inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, host, 64);
                *port = ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
        }
}

/* "=key=a,b,c": the prefixes of a then b, each once (RouterOS takes the whole list). */
static int add_prefix_list(struct ros_words *w, const char *key, const struct wf_prefix *a, size_t na,
                           const struct wf_prefix *b2, size_t nb) {
        size_t cap = (na + nb) * 64 + 1, o = 0;
        _cleanup_free_ char *s = calloc(1, cap);
        if (!s)
                return (w->err = -ENOMEM);
        for (size_t i = 0; i < na + nb; i++) {
                const struct wf_prefix *p = i < na ? &a[i] : &b2[i - na];
                bool seen = false;
                for (size_t k = 0; k < i && !seen; k++)
                        seen = wf_prefix_equal(k < na ? &a[k] : &b2[k - na], p);
                if (seen)
                        continue;
                char one[64];
                wf_prefix_format(p, one);
                o += (size_t)snprintf(s + o, cap - o, "%s%s", o ? "," : "", one);
        }
        return ros_words_add(w, "=%s=%s", key, s);
}

static void add_endpoint(struct ros_words *w, const struct wgc_peer *pc, const struct wf_live_peer *lp) {
        char host[64], lhost[64] = "";
        unsigned port, lport = 0;

        fmt_endpoint(&pc->endpoint, host, &port);
        if (lp && lp->endpoint.ss_family != 0)
                fmt_endpoint(&lp->endpoint, lhost, &lport);
        /* RouterOS keeps address and port apart: set only the one that differs */
        if (strcmp(host, lhost) != 0)
                ros_words_add(w, "=endpoint-address=%s", host);
        if (port != lport)
                ros_words_add(w, "=endpoint-port=%u", port);
}

/* RouterOS takes the whole list: the replacement, or the live one plus additions. */
static void add_allowed(struct ros_words *w, const struct wgc_peer *pc, const struct wf_live_peer *lp) {
        if (pc->flags & WGC_PEER_REPLACE_ALLOWEDIPS)
                add_prefix_list(w, "allowed-address", pc->allowed_ips, pc->n_allowed_ips, NULL, 0);
        else if (pc->n_allowed_ips > 0 && lp)
                add_prefix_list(w, "allowed-address", lp->allowed_ips, lp->n_allowed_ips, pc->allowed_ips,
                                pc->n_allowed_ips);
}

/* The other fields plan_peer_change says the operation carries, as properties. */
static void add_peer_fields(struct ros_words *w, const struct wgc_peer *pc, const struct wf_live_peer *lp) {
        char key[45];

        if (pc->flags & WGC_PEER_ENDPOINT)
                add_endpoint(w, pc, lp);
        if (pc->flags & WGC_PEER_KEEPALIVE)
                ros_words_add(w, "=persistent-keepalive=%us", pc->keepalive);
        if (pc->flags & WGC_PEER_PRESHARED_KEY) {
                if (pc->preshared_key) {
                        wf_key_to_b64(pc->preshared_key, key);
                        ros_words_add(w, "=preshared-key=%s", key);
                        sodium_memzero(key, sizeof key);
                } else
                        ros_words_add(w, "=preshared-key=");
        }
}

static int op_peer_add(struct backend *b, const char *iface, const struct plan_op *op, struct wf_err *e) {
        const struct wf_peer *dp = op->peer->peer;
        struct ros_words w = {};
        struct wgc_peer pc;
        char key[45];

        if (!plan_peer_change(op, &pc))
                return 0;
        ros_words_add(&w, "/interface/wireguard/peers/add");
        ros_words_add(&w, "=interface=%s", iface);
        wf_key_to_b64(pc.public_key, key);
        ros_words_add(&w, "=public-key=%s", key);
        add_allowed(&w, &pc, NULL);
        add_peer_fields(&w, &pc, NULL);
        ros_words_add(&w, "=comment=" ROS_COMMENT_PREFIX "%s peer %s", iface, dp->name ? dp->name : "");
        return ros_simple(b, &w, e);
}

static int op_peer_update(struct backend *b, const struct plan_op *op, struct wf_err *e) {
        const struct wf_live_peer *lp = op->live_peer;
        struct ros_words w = {};
        struct wgc_peer pc;
        size_t before;

        if (!plan_peer_change(op, &pc))
                return 0;
        if (!lp->backend_id || !*lp->backend_id)
                return wf_err_set(e, -EINVAL, "routeros: peer %s has no .id", op->peer_name ? op->peer_name : "?");
        if (!ros_is_ours(lp->comment))
                return wf_err_set(e, -EEXIST,
                                  "routeros: peer %s (%s) exists on the router without a \"%s\" comment: not changed (set its comment to adopt it)",
                                  op->peer_name ? op->peer_name : "?", lp->backend_id, ROS_COMMENT_PREFIX);
        ros_words_add(&w, "/interface/wireguard/peers/set");
        ros_words_add(&w, "=.id=%s", lp->backend_id);
        before = w.n;
        add_peer_fields(&w, &pc, lp);
        add_allowed(&w, &pc, lp);
        if (w.err == 0 && w.n == before) {
                ros_words_done(&w);
                return 0;
        }
        return ros_simple(b, &w, e);
}

static int op_iface(struct backend *b, const struct plan *p, const struct plan_op *op, const struct plan_target *t,
                    bool create, struct wf_err *e) {
        const struct wf_iface *d = t->iface;
        struct ros_words w = {};
        char key[45];

        if (create) {
                ros_words_add(&w, "/interface/wireguard/add");
                ros_words_add(&w, "=name=%s", p->iface);
                ros_words_add(&w, "=comment=" ROS_COMMENT_PREFIX "%s", p->iface);
        } else {
                char id[32];
                _cleanup_free_ char *q = NULL;
                if (asprintf(&q, "?name=%s", p->iface) < 0)
                        return -ENOMEM;
                int r = ros_find_id(b, "/interface/wireguard", q, NULL, id, e);
                if (r < 0)
                        return r;
                if (r == 0)
                        return wf_err_set(e, -ENOENT, "routeros: interface %s vanished", p->iface);
                ros_words_add(&w, "/interface/wireguard/set");
                ros_words_add(&w, "=.id=%s", id);
        }
        size_t before = w.n;
        if ((create || (op->flags & PLAN_SET_LISTEN_PORT)) && d->listen_port)
                ros_words_add(&w, "=listen-port=%u", d->listen_port);
        if ((create || (op->flags & PLAN_SET_MTU)) && d->mtu)
                ros_words_add(&w, "=mtu=%u", d->mtu);
        if ((create || (op->flags & PLAN_SET_PRIVATE_KEY)) && t->has_private_key) {
                wf_key_to_b64(t->private_key, key);
                ros_words_add(&w, "=private-key=%s", key);
                sodium_memzero(key, sizeof key);
        }
        if (!create && (op->flags & PLAN_SET_UP))
                ros_words_add(&w, "=disabled=no");
        if (!create && w.err == 0 && w.n == before) {
                ros_words_done(&w);
                return 0;
        }
        return ros_simple(b, &w, e);
}

static int op_route_add(struct backend *b, const char *iface, const struct plan *p, const struct plan_op *op,
                        struct wf_err *e) {
        char dst[64];
        struct ros_words w = {};

        wf_prefix_format(&op->prefix, dst);
        ros_words_add(&w, "%s/add", ros_route_menu(op->prefix.family));
        ros_words_add(&w, "=dst-address=%s", dst);
        ros_words_add(&w, "=gateway=%s", iface);
        ros_words_add(&w, "=distance=%u", p->route_metric);
        ros_words_add(&w, "=comment=" ROS_COMMENT_PREFIX "%s route", iface);
        return ros_simple(b, &w, e);
}

int ros_apply_ops(struct backend *b, const struct plan *p, const struct plan_target *t, struct wf_err *e) {
        const char *iface = p->iface;
        bool created = false;
        int r = 0;

        for (size_t i = 0; i < p->n_ops; i++) {
                const struct plan_op *op = &p->ops[i];
                struct ros_words w = {};
                char a[64], id[32];
                _cleanup_free_ char *q1 = NULL, *q2 = NULL;

                switch (op->kind) {
                case PLAN_IFACE_CREATE:
                        r = op_iface(b, p, op, t, true, e);
                        created = true;
                        break;
                case PLAN_IFACE_SET:
                        /* a fresh interface got everything in its add */
                        r = created ? 0 : op_iface(b, p, op, t, false, e);
                        if (r >= 0 && t->iface->listen_port)
                                r = ros_ensure_firewall(b, iface, t->iface->listen_port, e);
                        break;
                case PLAN_ADDR_ADD:
                        wf_prefix_format(&op->prefix, a);
                        ros_words_add(&w, "%s/add", ros_addr_menu(op->prefix.family));
                        ros_words_add(&w, "=address=%s", a);
                        ros_words_add(&w, "=interface=%s", iface);
                        if (op->prefix.family == AF_INET6)
                                ros_words_add(&w, "=advertise=no");
                        ros_words_add(&w, "=comment=" ROS_COMMENT_PREFIX "%s address", iface);
                        r = ros_simple(b, &w, e);
                        break;
                case PLAN_ADDR_DEL:
                        wf_prefix_format(&op->prefix, a);
                        if (asprintf(&q1, "?address=%s", a) < 0 || asprintf(&q2, "?interface=%s", iface) < 0)
                                return -ENOMEM;
                        r = ros_find_id(b, ros_addr_menu(op->prefix.family), q1, q2, id, e);
                        if (r > 0) {
                                ros_words_add(&w, "%s/remove", ros_addr_menu(op->prefix.family));
                                ros_words_add(&w, "=.id=%s", id);
                                r = ros_simple(b, &w, e);
                        }
                        break;
                case PLAN_PEER_ADD:
                        r = op_peer_add(b, iface, op, e);
                        break;
                case PLAN_PEER_UPDATE:
                        r = op_peer_update(b, op, e);
                        break;
                case PLAN_PEER_REMOVE:
                        if (!op->live_peer || !ros_is_ours(op->live_peer->comment))
                                break;
                        ros_words_add(&w, "/interface/wireguard/peers/remove");
                        ros_words_add(&w, "=.id=%s", op->live_peer->backend_id);
                        r = ros_simple(b, &w, e);
                        break;
                case PLAN_ROUTE_ADD:
                        r = op_route_add(b, iface, p, op, e);
                        break;
                case PLAN_ROUTE_DEL:
                        if (!op->live_route || !op->live_route->ours)
                                break;
                        ros_words_add(&w, "%s/remove", ros_route_menu(op->prefix.family));
                        ros_words_add(&w, "=.id=%s", op->live_route->backend_id);
                        r = ros_simple(b, &w, e);
                        break;
                case PLAN_ROUTE_DEMOTE:
                        r = ros_route_demote(b, iface, &op->prefix, op->live_route, p->route_demote_to, e);
                        break;
                case PLAN_ROUTE_RESTORE:
                        if (op->live_route && op->live_route->backend_id)
                                r = ros_route_restore(b, iface, op->prefix.family, op->live_route->backend_id,
                                                      op->live_route->metric, op->live_route->comment, e);
                        break;
                default:
                        break;
                }
                ros_words_done(&w);
                if (r < 0)
                        return r;
        }
        return 0;
}
