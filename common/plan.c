/* SPDX-License-Identifier: MIT */
/* The diff: both sides sorted by key (public key, prefix), one pass, operations only for what
 * differs. Unchanged peers produce nothing, so their sessions are never disturbed. */
#include <endian.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static struct wf_prefix *prefixes_sorted(const struct wf_prefix *in, size_t n, size_t *ret_n) {
        struct wf_prefix *out = malloc((n ? n : 1) * sizeof(*out));

        if (!out)
                return NULL;
        if (n)
                memcpy(out, in, n * sizeof(*out));
        *ret_n = wf_prefixes_sort_unique(out, n);
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
        *ret_n = wf_prefixes_sort_unique(flat, k);
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
        n_want = wf_prefixes_sort_unique(want, n_want);
        n_have = wf_prefixes_sort_unique(have, n_have);
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
static bool refs_sorted(const void *v, size_t n, size_t size, int (*cmp)(const void *, const void *)) {
        for (size_t k = 1; k < n; k++)
                if (cmp((const char *)v + (k - 1) * size, (const char *)v + k * size) > 0)
                        return false;
        return true;
}

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
        /* The event cache keeps its peers by key (reconcile_cache_index): checked, not sorted. */
        if (!refs_sorted(tp, n_t, sizeof(*tp), tpeer_cmp))
                qsort(tp, n_t, sizeof(*tp), tpeer_cmp);
        if (!refs_sorted(lp, n_l, sizeof(*lp), lpeer_cmp))
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

struct lroute_ref { const struct wf_live_route *r; };

static int lroute_cmp(const void *a, const void *b) {
        return wf_prefix_cmp(&((const struct lroute_ref *)a)->r->dst, &((const struct lroute_ref *)b)->r->dst);
}

/* Both sides sorted by destination, one merge pass: linear in routes, whatever the fleet size. */
static int plan_routes(const struct plan_target *t, const struct wf_live_iface *live,
                       const struct wf_prefix *all, size_t n_all, struct ops_buf *b) {
        const struct wf_iface *iface = t->iface;
        _cleanup_free_ struct wf_prefix *want = NULL;
        _cleanup_free_ struct lroute_ref *lr = NULL;
        size_t n_want = 0, n_live = live->exists ? live->n_routes : 0, j = 0;
        bool sorted = true;

        /* wf_iface_routes_wanted's set, from the allowed IPs already sorted: no /0, plus routes[]. */
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
                n_want = wf_prefixes_sort_unique(want, n_want);
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
                                bool demote = r->metric < t->route_demote_below;
                                struct plan_op *op = ops_push(b, demote ? PLAN_ROUTE_DEMOTE : PLAN_ROUTE_CONFLICT);
                                if (!op)
                                        return -ENOMEM;
                                op->prefix = want[i];
                                op->live_route = r;
                                /* Same table, destination and metric: the kernel keeps one. */
                                if (!demote && r->metric == iface->route_metric)
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
                bool wanted = j < n_want && wf_prefix_cmp(&want[j], &r->dst) == 0;
                /* A foreign route we demoted goes back once nothing of ours needs it out of
                 * the way. Our default routes are the exit selection's (common/route-rule.c). */
                if (!r->ours && !(r->demoted && !wanted))
                        continue;
                if (r->ours && (r->dst.len == 0 || (r->table == iface->route_table &&
                                                    r->metric == iface->route_metric && wanted)))
                        continue;
                struct plan_op *op = ops_push(b, r->ours ? PLAN_ROUTE_DEL : PLAN_ROUTE_RESTORE);
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
        p.route_demote_to = target->route_demote_to;
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
                r = wf_iface_routes_wanted(iface, &all, &n_all);
        }
        if (r >= 0)
                r = plan_routes(target, live, all, n_all, &b);
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
