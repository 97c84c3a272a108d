/* SPDX-License-Identifier: MIT */
/* The diff: both sides sorted by key (public key, prefix), one pass, operations only for what
 * differs. Unchanged peers produce nothing, so their sessions are never disturbed. */
#include <endian.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "gateway.h"
#include "plan.h"
#include "util.h"

struct ops_buf {
        struct plan_op *ops;
        size_t n, cap;
};

static struct plan_op *ops_push(struct ops_buf *b, enum plan_op_kind kind) {
        if (b->n == b->cap) {
                size_t nc = b->cap ? b->cap * 2 : 16;
                struct plan_op *x = realloc(b->ops, nc * sizeof(*x));
                if (!x)
                        return NULL;
                b->ops = x;
                b->cap = nc;
        }
        b->ops[b->n] = (struct plan_op){ .kind = kind };
        return &b->ops[b->n++];
}

static void ops_buf_freep(struct ops_buf *b) {
        free(b->ops); /* the lists of its ops have moved on, or been freed */
}

static int prefix_cmp_void(const void *a, const void *b) {
        return wf_prefix_cmp(a, b);
}

/* Sorts a in place and drops duplicates; returns the new count. Peers hold one or two prefixes
 * and the kernel dumps tables in order, so the small and the sorted cases skip qsort. */
static bool prefixes_in_order(const struct wf_prefix *a, size_t n) {
        for (size_t i = 1; i < n; i++)
                if (wf_prefix_cmp(&a[i - 1], &a[i]) > 0)
                        return false;
        return true;
}

static size_t prefixes_sort_unique(struct wf_prefix *a, size_t n) {
        size_t k = 0, n4 = 0;
        bool sorted = prefixes_in_order(a, n);

        /* Documents list each peer's IPv4 and IPv6 prefixes together, usually in address order:
         * apart by family, each half is often in order already. */
        if (!sorted && n > 8) {
                _cleanup_free_ struct wf_prefix *v6 = malloc(n * sizeof(*v6));
                size_t n6 = 0;

                if (v6) {
                        for (size_t i = 0; i < n; i++)
                                if (a[i].family < AF_INET6)
                                        a[n4++] = a[i];
                                else
                                        v6[n6++] = a[i];
                        memcpy(a + n4, v6, n6 * sizeof(*v6));
                        if (!prefixes_in_order(a, n4))
                                qsort(a, n4, sizeof(*a), prefix_cmp_void);
                        if (!prefixes_in_order(a + n4, n6))
                                qsort(a + n4, n6, sizeof(*a), prefix_cmp_void);
                        sorted = n4 == 0 || n6 == 0 || wf_prefix_cmp(&a[n4 - 1], &a[n4]) <= 0;
                }
        }
        if (!sorted && n <= 8) {
                for (size_t i = 1; i < n; i++) {
                        struct wf_prefix x = a[i];
                        size_t j = i;
                        for (; j > 0 && wf_prefix_cmp(&a[j - 1], &x) > 0; j--)
                                a[j] = a[j - 1];
                        a[j] = x;
                }
        } else if (!sorted)
                qsort(a, n, sizeof(*a), prefix_cmp_void);
        for (size_t i = 0; i < n; i++)
                if (k == 0 || wf_prefix_cmp(&a[k - 1], &a[i]) != 0)
                        a[k++] = a[i];
        return k;
}

static struct wf_prefix *prefixes_sorted(const struct wf_prefix *in, size_t n, size_t *ret_n) {
        struct wf_prefix *out = malloc((n ? n : 1) * sizeof(*out));

        if (!out)
                return NULL;
        if (n)
                memcpy(out, in, n * sizeof(*out));
        *ret_n = prefixes_sort_unique(out, n);
        return out;
}

/* Every allowed IP of every desired peer, sorted and unique: computed once per plan, used by
 * the peer diff (a prefix moving to another peer) and the route diff. */
static struct wf_prefix *allowed_ips_all(const struct plan_target *t, size_t *ret_n) {
        struct wf_prefix *flat;
        size_t n = 0, k = 0;

        for (size_t i = 0; i < t->n_peers; i++)
                n += t->peers[i].peer->n_allowed_ips;
        flat = malloc((n ? n : 1) * sizeof(*flat));
        if (!flat)
                return NULL;
        for (size_t i = 0; i < t->n_peers; i++)
                for (size_t j = 0; j < t->peers[i].peer->n_allowed_ips; j++)
                        flat[k++] = t->peers[i].peer->allowed_ips[j];
        *ret_n = prefixes_sort_unique(flat, k);
        return flat;
}

static bool prefix_in(const struct wf_prefix *set, size_t n, const struct wf_prefix *p) {
        return n && bsearch(p, set, n, sizeof(*set), prefix_cmp_void);
}

/* Sort orders for index arrays. qsort has no context argument, so keys are compared through
 * small structs that carry the pointer. */
struct tpeer_ref { const struct plan_peer *p; };
struct lpeer_ref { const struct wf_live_peer *p; };

/* memcmp's order; keys are random, so the first eight bytes nearly always decide. */
static int key_cmp(const uint8_t *a, const uint8_t *b) {
        uint64_t x, y;

        memcpy(&x, a, 8);
        memcpy(&y, b, 8);
        if (x != y)
                return be64toh(x) < be64toh(y) ? -1 : 1;
        return memcmp(a + 8, b + 8, WF_KEY_LEN - 8);
}

static int tpeer_cmp(const void *a, const void *b) {
        return key_cmp(((const struct tpeer_ref *)a)->p->peer->public_key,
                       ((const struct tpeer_ref *)b)->p->peer->public_key);
}

static int lpeer_cmp(const void *a, const void *b) {
        return key_cmp(((const struct lpeer_ref *)a)->p->public_key,
                       ((const struct lpeer_ref *)b)->p->public_key);
}

static const uint8_t zero_key[WF_KEY_LEN];

/* Fills op->flags and the allowed-IP lists for a peer present on both sides. other_wanted: every
 * allowed IP any desired peer has (sorted); a prefix leaving this peer for another one moves by
 * itself when the other peer adds it, so it needs no removal here. */
static int peer_diff(const struct plan_peer *t, const struct wf_live_peer *l,
                     const struct wf_prefix *all_wanted, size_t n_all_wanted, struct plan_op *op) {
        enum { SMALL = 8 }; /* most peers: no allocation unless something changes */
        const struct wf_peer *dp = t->peer;
        struct wf_prefix want_s[SMALL], have_s[SMALL], *want, *have;
        _cleanup_free_ struct wf_prefix *want_h = NULL, *have_h = NULL, *add = NULL, *del = NULL;
        size_t n_want = dp->n_allowed_ips, n_have = l->n_allowed_ips, n_add = 0, n_del = 0, i, j;
        uint16_t ka = dp->persistent_keepalive > 0 ? (uint16_t)dp->persistent_keepalive : 0;
        unsigned flags = 0;

        if (t->endpoint.ss_family != 0 && !wf_sockaddr_equal(&t->endpoint, &l->endpoint))
                flags |= PLAN_PEER_ENDPOINT;
        if (ka != l->persistent_keepalive)
                flags |= PLAN_PEER_KEEPALIVE;
        {
                const uint8_t *tk = t->has_preshared_key ? t->preshared_key : zero_key;
                const uint8_t *lk = l->has_preshared_key ? l->preshared_key : zero_key;
                if (memcmp(tk, lk, WF_KEY_LEN) != 0)
                        flags |= PLAN_PEER_PRESHARED_KEY;
        }

        want = n_want <= SMALL ? want_s : (want_h = malloc(n_want * sizeof(*want)));
        have = n_have <= SMALL ? have_s : (have_h = malloc(n_have * sizeof(*have)));
        if (!want || !have)
                return -ENOMEM;
        if (n_want)
                memcpy(want, dp->allowed_ips, n_want * sizeof(*want));
        if (n_have)
                memcpy(have, l->allowed_ips, n_have * sizeof(*have));
        n_want = prefixes_sort_unique(want, n_want);
        n_have = prefixes_sort_unique(have, n_have);
        /* One merge pass: a wanted prefix not held is added; a held one not wanted by this peer
         * (nor by any other, which would move it by adding it) is dropped. */
        for (i = 0, j = 0; i < n_want || j < n_have;) {
                int c = i >= n_want ? 1 : j >= n_have ? -1 : wf_prefix_cmp(&want[i], &have[j]);
                if (c == 0) {
                        i++, j++;
                        continue;
                }
                if (c < 0) {
                        if (!add && !(add = malloc(n_want * sizeof(*add))))
                                return -ENOMEM;
                        add[n_add++] = want[i++];
                        continue;
                }
                if (!prefix_in(all_wanted, n_all_wanted, &have[j])) {
                        if (!del && !(del = malloc(n_have * sizeof(*del))))
                                return -ENOMEM;
                        del[n_del++] = have[j];
                }
                j++;
        }
        if (n_del > 0)
                flags |= PLAN_PEER_ALLOWED_IPS_REPLACE;
        else if (n_add > 0)
                flags |= PLAN_PEER_ALLOWED_IPS_ADD;
        if (n_add > 0) {
                op->allowed_ips_add = TAKE_PTR(add);
                op->n_allowed_ips_add = n_add;
        }
        if (n_del > 0) {
                op->allowed_ips_del = TAKE_PTR(del);
                op->n_allowed_ips_del = n_del;
        }
        op->flags = flags;
        return 0;
}

static void op_free_lists(struct plan_op *op) {
        free(op->allowed_ips_add);
        free(op->allowed_ips_del);
        op->allowed_ips_add = op->allowed_ips_del = NULL;
}

/* Peer operations in execution order: new peers and add-only updates first, then updates that
 * drop prefixes, then removals. A prefix moving between peers is thus always held by one. */
static int plan_peers(const struct plan_target *t, const struct wf_live_iface *live,
                      const struct wf_prefix *all, size_t n_all, struct ops_buf *b) {
        _cleanup_free_ struct tpeer_ref *tp = NULL;
        _cleanup_free_ struct lpeer_ref *lp = NULL;
        /* Grown as needed: sized for every live peer they cost megabytes of zeroed pages. */
        _cleanup_(ops_buf_freep) struct ops_buf replace = {}, removes = {};
        size_t n_t = t->n_peers, n_l = live->exists ? live->n_peers : 0, i = 0,
               j = 0;
        int r = 0;

        tp = calloc(n_t + 1, sizeof(*tp));
        lp = calloc(n_l + 1, sizeof(*lp));
        if (!tp || !lp)
                return -ENOMEM;
        for (size_t k = 0; k < n_t; k++)
                tp[k].p = &t->peers[k];
        for (size_t k = 0; k < n_l; k++)
                lp[k].p = &live->peers[k];
        qsort(tp, n_t, sizeof(*tp), tpeer_cmp);
        qsort(lp, n_l, sizeof(*lp), lpeer_cmp);

        while (i < n_t || j < n_l) {
                int c;

                if (i < n_t && i > 0 && tpeer_cmp(&tp[i - 1], &tp[i]) == 0) {
                        i++; /* a duplicate key in the target: validation refuses it; be safe */
                        continue;
                }
                c = i >= n_t ? 1 : j >= n_l ? -1 :
                    key_cmp(tp[i].p->peer->public_key, lp[j].p->public_key);
                if (c <= 0 && tp[i].p->hold) {
                        i++;
                        j += c == 0;
                        continue;
                }
                if (c < 0) {
                        const struct plan_peer *pp = tp[i++].p;
                        struct plan_op *op = ops_push(b, PLAN_PEER_ADD);
                        if (!op)
                                return -ENOMEM;
                        op->peer = pp;
                        op->peer_name = pp->peer->name;
                        if (pp->endpoint.ss_family != 0)
                                op->flags |= PLAN_PEER_ENDPOINT;
                        if (pp->peer->persistent_keepalive > 0)
                                op->flags |= PLAN_PEER_KEEPALIVE;
                        if (pp->has_preshared_key)
                                op->flags |= PLAN_PEER_PRESHARED_KEY;
                        if (pp->peer->n_allowed_ips > 0)
                                op->flags |= PLAN_PEER_ALLOWED_IPS_ADD;
                } else if (c > 0) {
                        struct plan_op *x = ops_push(&removes, PLAN_PEER_REMOVE);
                        if (!x) {
                                r = -ENOMEM;
                                break;
                        }
                        x->live_peer = lp[j++].p;
                } else {
                        struct plan_op op = {
                                .kind = PLAN_PEER_UPDATE,
                                .peer = tp[i].p,
                                .live_peer = lp[j].p,
                                .peer_name = tp[i].p->peer->name,
                        };
                        r = peer_diff(tp[i].p, lp[j].p, all, n_all, &op);
                        i++, j++;
                        if (r < 0) {
                                op_free_lists(&op);
                                break;
                        }
                        if (op.flags == 0)
                                continue;
                        if (op.flags & PLAN_PEER_ALLOWED_IPS_REPLACE) {
                                struct plan_op *x = ops_push(&replace, PLAN_PEER_UPDATE);
                                if (!x) {
                                        op_free_lists(&op);
                                        r = -ENOMEM;
                                        break;
                                }
                                *x = op;
                                continue;
                        }
                        struct plan_op *slot = ops_push(b, PLAN_PEER_UPDATE);
                        if (!slot) {
                                op_free_lists(&op);
                                r = -ENOMEM;
                                break;
                        }
                        *slot = op;
                }
        }
        for (size_t k = 0; k < replace.n; k++) {
                struct plan_op *slot = r < 0 ? NULL : ops_push(b, PLAN_PEER_UPDATE);
                if (!slot) {
                        op_free_lists(&replace.ops[k]);
                        r = r < 0 ? r : -ENOMEM;
                        continue;
                }
                *slot = replace.ops[k];
        }
        for (size_t k = 0; k < removes.n && r >= 0; k++) {
                struct plan_op *slot = ops_push(b, PLAN_PEER_REMOVE);
                if (!slot)
                        return -ENOMEM;
                *slot = removes.ops[k];
        }
        return r;
}

static int plan_addresses(const struct wf_iface *iface, const struct wf_live_iface *live,
                          struct ops_buf *b) {
        _cleanup_free_ struct wf_prefix *want = NULL, *have = NULL;
        size_t n_want, n_have;

        want = prefixes_sorted(iface->addresses, iface->n_addresses, &n_want);
        have = prefixes_sorted(live->exists ? live->addresses : NULL,
                               live->exists ? live->n_addresses : 0, &n_have);
        if (!want || !have)
                return -ENOMEM;
        for (size_t i = 0; i < n_have; i++)
                if (!prefix_in(want, n_want, &have[i])) {
                        struct plan_op *op = ops_push(b, PLAN_ADDR_DEL);
                        if (!op)
                                return -ENOMEM;
                        op->prefix = have[i];
                }
        for (size_t i = 0; i < n_want; i++)
                if (!prefix_in(have, n_have, &want[i])) {
                        struct plan_op *op = ops_push(b, PLAN_ADDR_ADD);
                        if (!op)
                                return -ENOMEM;
                        op->prefix = want[i];
                }
        return 0;
}

int plan_routes_wanted(const struct wf_iface *iface, struct wf_prefix **ret, size_t *ret_n) {
        _cleanup_free_ struct wf_prefix *flat = NULL;
        size_t n = iface->n_routes, k = 0;
        struct wf_prefix *out;

        for (size_t i = 0; i < iface->n_peers; i++)
                n += iface->peers[i].n_allowed_ips;
        flat = malloc((n ? n : 1) * sizeof(*flat));
        if (!flat)
                return -ENOMEM;
        /* A default route is the exit selection's (policy routing), never a plain table entry:
         * it would swallow the management path. */
        for (size_t i = 0; i < iface->n_peers; i++)
                for (size_t j = 0; j < iface->peers[i].n_allowed_ips; j++)
                        if (iface->peers[i].allowed_ips[j].len > 0)
                                flat[k++] = iface->peers[i].allowed_ips[j];
        for (size_t i = 0; i < iface->n_routes; i++)
                if (iface->routes[i].dst.len > 0)
                        flat[k++] = iface->routes[i].dst;
        out = prefixes_sorted(flat, k, ret_n);
        if (!out)
                return -ENOMEM;
        *ret = out;
        return 0;
}

struct lroute_ref { const struct wf_live_route *r; };

static int lroute_cmp(const void *a, const void *b) {
        return wf_prefix_cmp(&((const struct lroute_ref *)a)->r->dst, &((const struct lroute_ref *)b)->r->dst);
}

/* Both sides sorted by destination, one merge pass: linear in routes, whatever the fleet size. */
static int plan_routes(const struct wf_iface *iface, const struct wf_live_iface *live,
                       const struct wf_prefix *all, size_t n_all, struct ops_buf *b) {
        _cleanup_free_ struct wf_prefix *want = NULL;
        _cleanup_free_ struct lroute_ref *lr = NULL;
        size_t n_want = 0, n_live = live->exists ? live->n_routes : 0, j = 0;
        bool sorted = true;

        /* plan_routes_wanted's set, from the allowed IPs already sorted: no /0, plus routes[]. */
        want = malloc((n_all + iface->n_routes + 1) * sizeof(*want));
        if (!want)
                return -ENOMEM;
        for (size_t k = 0; k < n_all; k++)
                if (all[k].len > 0)
                        want[n_want++] = all[k];
        for (size_t k = 0; k < iface->n_routes; k++)
                if (iface->routes[k].dst.len > 0)
                        want[n_want++] = iface->routes[k].dst;
        if (iface->n_routes > 0)
                n_want = prefixes_sort_unique(want, n_want);
        lr = calloc(n_live + 1, sizeof(*lr));
        if (!lr)
                return -ENOMEM;
        for (size_t k = 0; k < n_live; k++) {
                lr[k].r = &live->routes[k];
                if (k > 0 && sorted)
                        sorted = lroute_cmp(&lr[k - 1], &lr[k]) <= 0;
        }
        if (!sorted)
                qsort(lr, n_live, sizeof(*lr), lroute_cmp);

        for (size_t i = 0; i < n_want; i++) {
                bool have = false, blocked = false;

                while (j < n_live && wf_prefix_cmp(&lr[j].r->dst, &want[i]) < 0)
                        j++;
                for (size_t k = j; k < n_live && wf_prefix_equal(&lr[k].r->dst, &want[i]); k++) {
                        const struct wf_live_route *r = lr[k].r;
                        if (r->table != iface->route_table)
                                continue;
                        if (r->ours && r->metric == iface->route_metric)
                                have = true;
                        else if (!r->ours) {
                                struct plan_op *op = ops_push(b, PLAN_ROUTE_CONFLICT);
                                if (!op)
                                        return -ENOMEM;
                                op->prefix = want[i];
                                op->live_route = r;
                                /* Same table, destination and metric: the kernel keeps one. */
                                if (r->metric == iface->route_metric)
                                        blocked = true;
                        }
                }
                if (!have && !blocked) {
                        struct plan_op *op = ops_push(b, PLAN_ROUTE_ADD);
                        if (!op)
                                return -ENOMEM;
                        op->prefix = want[i];
                }
        }
        /* Live routes in order again, against want with a second cursor. */
        j = 0;
        for (size_t k = 0; k < n_live; k++) {
                const struct wf_live_route *r = lr[k].r;
                while (j < n_want && wf_prefix_cmp(&want[j], &r->dst) < 0)
                        j++;
                /* Our default routes are the exit selection's (common/route-rule.c). */
                if (!r->ours || r->dst.len == 0)
                        continue;
                if (r->table == iface->route_table && r->metric == iface->route_metric &&
                    j < n_want && wf_prefix_cmp(&want[j], &r->dst) == 0)
                        continue;
                struct plan_op *op = ops_push(b, PLAN_ROUTE_DEL);
                if (!op)
                        return -ENOMEM;
                op->prefix = r->dst;
                op->live_route = r;
        }
        return 0;
}

int plan_compute(const struct plan_target *target, const struct wf_live_iface *live, struct plan *ret) {
        const struct wf_iface *iface = target->iface;
        _cleanup_free_ struct wf_prefix *all = NULL;
        struct plan p = {};
        struct ops_buf b = {};
        size_t n_all = 0;
        unsigned set = 0;
        int r;

        p.iface = strdup(iface->name);
        if (!p.iface)
                return -ENOMEM;
        p.route_table = iface->route_table;
        p.route_metric = iface->route_metric;
        if (!live->exists && !ops_push(&b, PLAN_IFACE_CREATE))
                goto oom;

        if (target->has_private_key &&
            (!live->exists || !live->has_private_key ||
             memcmp(live->public_key, target->public_key, WF_KEY_LEN) != 0))
                set |= PLAN_SET_PRIVATE_KEY;
        if (iface->listen_port && (!live->exists || live->listen_port != iface->listen_port))
                set |= PLAN_SET_LISTEN_PORT;
        if (live->exists ? live->fwmark != iface->fwmark : iface->fwmark != 0)
                set |= PLAN_SET_FWMARK;
        if (iface->mtu && (!live->exists || live->mtu != iface->mtu))
                set |= PLAN_SET_MTU;
        if (!live->exists || !live->up)
                set |= PLAN_SET_UP;
        if (set) {
                struct plan_op *op = ops_push(&b, PLAN_IFACE_SET);
                if (!op)
                        goto oom;
                op->flags = set;
        }

        all = allowed_ips_all(target, &n_all);
        if (!all)
                goto oom;
        r = plan_addresses(iface, live, &b);
        if (r >= 0)
                r = plan_peers(target, live, all, n_all, &b);
        /* target->peers mirror iface->peers (plan.h); anything else: the routes' own set. */
        if (r >= 0 && target->n_peers != iface->n_peers) {
                free(all);
                all = NULL;
                r = plan_routes_wanted(iface, &all, &n_all);
        }
        if (r >= 0)
                r = plan_routes(iface, live, all, n_all, &b);
        p.ops = b.ops;
        p.n_ops = b.n;
        if (r < 0) {
                plan_done(&p);
                return r;
        }
        *ret = p;
        return 0;
oom:
        p.ops = b.ops;
        p.n_ops = b.n;
        plan_done(&p);
        return -ENOMEM;
}

void plan_done(struct plan *p) {
        if (!p)
                return;
        for (size_t i = 0; i < p->n_ops; i++)
                op_free_lists(&p->ops[i]);
        free(p->ops);
        free(p->iface);
        *p = (struct plan){};
}

size_t plan_changes(const struct plan *p) {
        size_t n = 0;

        for (size_t i = 0; i < p->n_ops; i++)
                if (p->ops[i].kind != PLAN_ROUTE_CONFLICT)
                        n++;
        return n;
}

const char *plan_op_kind_to_string(enum plan_op_kind k) {
        static const char *const names[_PLAN_OP_MAX] = {
                [PLAN_IFACE_CREATE] = "iface_create",
                [PLAN_IFACE_SET] = "iface_set",
                [PLAN_ADDR_ADD] = "address_add",
                [PLAN_ADDR_DEL] = "address_del",
                [PLAN_PEER_ADD] = "peer_add",
                [PLAN_PEER_UPDATE] = "peer_update",
                [PLAN_PEER_REMOVE] = "peer_remove",
                [PLAN_ROUTE_ADD] = "route_add",
                [PLAN_ROUTE_DEL] = "route_del",
                [PLAN_ROUTE_CONFLICT] = "route_conflict",
                [PLAN_GW_TABLE_DEL] = "firewall_table_del",
                [PLAN_GW_RULE_DEL] = "firewall_rule_del",
                [PLAN_GW_RULE_ADD] = "firewall_rule_add",
                [PLAN_GW_SYSCTL_SET] = "sysctl_set",
                [PLAN_GW_SYSCTL_RESTORE] = "sysctl_restore",
        };
        return (unsigned)k < _PLAN_OP_MAX ? names[k] : "unknown";
}

/* ---- printing ---- */

static const uint8_t *op_key(const struct plan_op *op) {
        return op->peer ? op->peer->peer->public_key : op->live_peer ? op->live_peer->public_key : zero_key;
}

static void print_prefixes(FILE *f, const char *label, const struct wf_prefix *a, size_t n, bool *first) {
        char buf[64];

        if (n == 0)
                return;
        fprintf(f, "%s%s", *first ? "" : ", ", label);
        for (size_t i = 0; i < n; i++) {
                wf_prefix_format(&a[i], buf);
                fprintf(f, "%s%s", i ? "," : " ", buf);
        }
        *first = false;
}

static void print_peer_fields(FILE *f, const struct plan_op *op) {
        const struct plan_peer *pp = op->peer;
        bool first = true;
        char buf[64];

        if (!pp)
                return;
        if (op->flags & PLAN_PEER_ENDPOINT) {
                wf_sockaddr_format(&pp->endpoint, buf);
                fprintf(f, "endpoint %s", buf);
                first = false;
        }
        if (op->flags & PLAN_PEER_KEEPALIVE) {
                fprintf(f, "%skeepalive %d", first ? "" : ", ",
                        pp->peer->persistent_keepalive > 0 ? pp->peer->persistent_keepalive : 0);
                first = false;
        }
        if (op->flags & PLAN_PEER_PRESHARED_KEY) {
                fprintf(f, "%spreshared key %s", first ? "" : ", ",
                        pp->has_preshared_key ? "(set)" : "(cleared)");
                first = false;
        }
        if (op->kind == PLAN_PEER_ADD)
                print_prefixes(f, "allowed ips", pp->peer->allowed_ips, pp->peer->n_allowed_ips, &first);
        else if (op->flags & PLAN_PEER_ALLOWED_IPS_REPLACE) {
                print_prefixes(f, "allowed ips replaced by", pp->peer->allowed_ips,
                               pp->peer->n_allowed_ips, &first);
                print_prefixes(f, "dropping", op->allowed_ips_del, op->n_allowed_ips_del, &first);
        } else
                print_prefixes(f, "allowed ips +", op->allowed_ips_add, op->n_allowed_ips_add, &first);
}

void plan_print_text(const struct plan *p, FILE *f) {
        char key[45], buf[64];

        for (size_t i = 0; i < p->n_ops; i++) {
                const struct plan_op *op = &p->ops[i];

                if (op->kind >= PLAN_GW_TABLE_DEL) {
                        gw_op_print(op, f);
                        continue;
                }
                fprintf(f, "%s: ", p->iface);
                switch (op->kind) {
                case PLAN_IFACE_CREATE:
                        fprintf(f, "create interface\n");
                        continue;
                case PLAN_IFACE_SET:
                        fprintf(f, "set");
                        if (op->flags & PLAN_SET_PRIVATE_KEY)
                                fprintf(f, " private-key");
                        if (op->flags & PLAN_SET_LISTEN_PORT)
                                fprintf(f, " listen-port");
                        if (op->flags & PLAN_SET_FWMARK)
                                fprintf(f, " fwmark");
                        if (op->flags & PLAN_SET_MTU)
                                fprintf(f, " mtu");
                        if (op->flags & PLAN_SET_UP)
                                fprintf(f, " up");
                        fputc('\n', f);
                        continue;
                case PLAN_ADDR_ADD:
                case PLAN_ADDR_DEL:
                        wf_prefix_format(&op->prefix, buf);
                        fprintf(f, "%s address %s\n", op->kind == PLAN_ADDR_ADD ? "add" : "delete", buf);
                        continue;
                case PLAN_PEER_ADD:
                case PLAN_PEER_UPDATE:
                case PLAN_PEER_REMOVE:
                        wf_key_to_b64(op_key(op), key);
                        fprintf(f, "%s peer ", op->kind == PLAN_PEER_ADD ? "add" :
                                op->kind == PLAN_PEER_UPDATE ? "update" : "remove");
                        if (op->peer_name)
                                fprintf(f, "%s [%s]", op->peer_name, key);
                        else
                                fprintf(f, "%s", key);
                        if (op->kind != PLAN_PEER_REMOVE) {
                                fprintf(f, " (");
                                print_peer_fields(f, op);
                                fputc(')', f);
                        }
                        fputc('\n', f);
                        continue;
                case PLAN_ROUTE_ADD:
                        wf_prefix_format(&op->prefix, buf);
                        fprintf(f, "add route %s table %u metric %u (proto %d)\n", buf,
                                p->route_table, p->route_metric, WF_RTPROT);
                        continue;
                case PLAN_ROUTE_DEL:
                        wf_prefix_format(&op->prefix, buf);
                        fprintf(f, "delete route %s table %u metric %u (proto %d)\n", buf,
                                op->live_route ? op->live_route->table : 0,
                                op->live_route ? op->live_route->metric : 0, WF_RTPROT);
                        continue;
                case PLAN_ROUTE_CONFLICT:
                        wf_prefix_format(&op->prefix, buf);
                        fprintf(f, "conflict: foreign route %s table %u metric %u proto %u is not ours, left alone\n",
                                buf, op->live_route ? op->live_route->table : 0,
                                op->live_route ? op->live_route->metric : 0,
                                op->live_route ? op->live_route->protocol : 0);
                        continue;
                default:
                        fprintf(f, "?\n");
                }
        }
}

static json_t *prefixes_json(const struct wf_prefix *a, size_t n) {
        json_t *arr = json_array();
        char buf[64];

        for (size_t i = 0; arr && i < n; i++) {
                wf_prefix_format(&a[i], buf);
                if (json_array_append_new(arr, json_string(buf)) < 0) {
                        json_decref(arr);
                        return NULL;
                }
        }
        return arr;
}

static int set_new(json_t *o, const char *k, json_t *v) {
        return v && json_object_set_new(o, k, v) == 0 ? 0 : -ENOMEM;
}

static int op_to_json(const struct plan *p, const struct plan_op *op, json_t *o) {
        char key[45], buf[64];
        int r = 0;

        r |= set_new(o, "op", json_string(plan_op_kind_to_string(op->kind)));
        if (op->kind >= PLAN_GW_TABLE_DEL)
                return gw_op_to_json(op, o) < 0 || r < 0 ? -ENOMEM : 0;
        r |= set_new(o, "interface", json_string(p->iface));
        switch (op->kind) {
        case PLAN_IFACE_SET: {
                json_t *fields = json_array();
                static const struct { unsigned bit; const char *name; } names[] = {
                        { PLAN_SET_PRIVATE_KEY, "private_key" }, { PLAN_SET_LISTEN_PORT, "listen_port" },
                        { PLAN_SET_FWMARK, "fwmark" }, { PLAN_SET_MTU, "mtu" }, { PLAN_SET_UP, "up" },
                };
                for (size_t i = 0; fields && i < ELEMENTSOF(names); i++)
                        if (op->flags & names[i].bit)
                                r |= json_array_append_new(fields, json_string(names[i].name)) ? -ENOMEM : 0;
                r |= set_new(o, "fields", fields);
                break;
        }
        case PLAN_ADDR_ADD:
        case PLAN_ADDR_DEL:
                wf_prefix_format(&op->prefix, buf);
                r |= set_new(o, "address", json_string(buf));
                break;
        case PLAN_PEER_ADD:
        case PLAN_PEER_UPDATE:
        case PLAN_PEER_REMOVE: {
                wf_key_to_b64(op_key(op), key);
                r |= set_new(o, "public_key", json_string(key));
                if (op->peer_name)
                        r |= set_new(o, "peer", json_string(op->peer_name));
                if (op->kind == PLAN_PEER_REMOVE || !op->peer)
                        break;
                json_t *fields = json_array();
                if (!fields)
                        return -ENOMEM;
                if (op->flags & PLAN_PEER_ENDPOINT) {
                        wf_sockaddr_format(&op->peer->endpoint, buf);
                        r |= set_new(o, "endpoint", json_string(buf));
                        json_array_append_new(fields, json_string("endpoint"));
                }
                if (op->flags & PLAN_PEER_KEEPALIVE) {
                        int ka = op->peer->peer->persistent_keepalive;
                        r |= set_new(o, "persistent_keepalive", json_integer(ka > 0 ? ka : 0));
                        json_array_append_new(fields, json_string("persistent_keepalive"));
                }
                if (op->flags & PLAN_PEER_PRESHARED_KEY)
                        json_array_append_new(fields, json_string("preshared_key"));
                if (op->kind == PLAN_PEER_ADD || (op->flags & PLAN_PEER_ALLOWED_IPS_REPLACE))
                        r |= set_new(o, "allowed_ips", prefixes_json(op->peer->peer->allowed_ips,
                                                                     op->peer->peer->n_allowed_ips));
                if (op->kind == PLAN_PEER_UPDATE && op->n_allowed_ips_add)
                        r |= set_new(o, "allowed_ips_add", prefixes_json(op->allowed_ips_add,
                                                                         op->n_allowed_ips_add));
                if (op->n_allowed_ips_del)
                        r |= set_new(o, "allowed_ips_remove", prefixes_json(op->allowed_ips_del,
                                                                            op->n_allowed_ips_del));
                if (op->flags & PLAN_PEER_ALLOWED_IPS_REPLACE)
                        json_array_append_new(fields, json_string("allowed_ips_replace"));
                else if (op->flags & PLAN_PEER_ALLOWED_IPS_ADD)
                        json_array_append_new(fields, json_string("allowed_ips_add"));
                r |= set_new(o, "fields", fields);
                break;
        }
        case PLAN_ROUTE_ADD:
        case PLAN_ROUTE_DEL:
        case PLAN_ROUTE_CONFLICT:
                wf_prefix_format(&op->prefix, buf);
                r |= set_new(o, "dst", json_string(buf));
                if (op->live_route) {
                        r |= set_new(o, "table", json_integer(op->live_route->table));
                        r |= set_new(o, "metric", json_integer(op->live_route->metric));
                        r |= set_new(o, "protocol", json_integer(op->live_route->protocol));
                } else {
                        r |= set_new(o, "table", json_integer(p->route_table));
                        r |= set_new(o, "metric", json_integer(p->route_metric));
                        r |= set_new(o, "protocol", json_integer(WF_RTPROT));
                }
                break;
        default:
                break;
        }
        return r < 0 ? -ENOMEM : 0;
}

static int to_json(const struct plan *p, json_t *array, bool conflicts) {
        for (size_t i = 0; i < p->n_ops; i++) {
                json_t *o;
                int r;

                if ((p->ops[i].kind == PLAN_ROUTE_CONFLICT) != conflicts)
                        continue;
                o = json_object();
                if (!o)
                        return -ENOMEM;
                r = op_to_json(p, &p->ops[i], o);
                if (r < 0 || json_array_append_new(array, o) < 0)
                        return -ENOMEM;
        }
        return 0;
}

int plan_to_json(const struct plan *p, json_t *array) {
        return to_json(p, array, false);
}

int plan_conflicts_to_json(const struct plan *p, json_t *array) {
        return to_json(p, array, true);
}
