/* SPDX-License-Identifier: MIT */
/* The live state `run` keeps between full observations: each entry is the last full observation
 * of an interface with every plan applied since folded in, and monitor events are checked
 * against it (docs/operations.md, "Observation in run"). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "reconcile.h"
#include "rtmon.h"

void reconcile_cache_drop(struct reconcile_cache *c) {
        for (size_t i = 0; i < c->n; i++)
                wf_live_iface_free(c->live[i]);
        free(c->live);
        c->live = NULL;
        c->n = 0;
}

void reconcile_cache_done(struct reconcile_cache *c) {
        if (c)
                reconcile_cache_drop(c);
}

static int peer_ptr_cmp(const void *a, const void *b) {
        const struct wf_live_peer *const *x = a, *const *y = b;

        return memcmp((*x)->public_key, (*y)->public_key, WF_KEY_LEN);
}

static int stats_into(struct wf_live_iface *l, const struct wf_live_iface *fresh) {
        _cleanup_free_ struct wf_live_peer **idx = calloc(l->n_peers + 1, sizeof(*idx));

        if (!idx)
                return -ENOMEM;
        for (size_t i = 0; i < l->n_peers; i++)
                idx[i] = &l->peers[i];
        qsort(idx, l->n_peers, sizeof(*idx), peer_ptr_cmp);
        for (size_t i = 0; i < fresh->n_peers; i++) {
                const struct wf_live_peer *f = &fresh->peers[i], *key = f;
                struct wf_live_peer **hit = bsearch(&key, idx, l->n_peers, sizeof(*idx), peer_ptr_cmp);

                if (!hit)
                        continue;
                (*hit)->last_handshake = f->last_handshake;
                (*hit)->rx_bytes = f->rx_bytes;
                (*hit)->tx_bytes = f->tx_bytes;
        }
        return 0;
}

int reconcile_cache_stats(struct reconcile_cache *c, struct wf_live_iface *const *obs, size_t n) {
        for (size_t i = 0; i < n; i++)
                for (size_t k = 0; obs[i] && obs[i]->name && k < c->n; k++)
                        if (c->live[k] && c->live[k]->name && strcmp(c->live[k]->name, obs[i]->name) == 0) {
                                int r = stats_into(c->live[k], obs[i]);
                                if (r < 0)
                                        return r;
                                break;
                        }
        return 0;
}

int reconcile_cache_rekey(struct reconcile_cache *c, const struct wf_doc *doc) {
        struct wf_live_iface **nl = calloc(doc->n_ifaces + 1, sizeof(*nl));

        if (!nl)
                return -ENOMEM;
        for (size_t i = 0; i < doc->n_ifaces; i++)
                for (size_t k = 0; k < c->n; k++)
                        if (c->live[k] && c->live[k]->name && strcmp(c->live[k]->name, doc->ifaces[i].name) == 0) {
                                nl[i] = c->live[k];
                                c->live[k] = NULL;
                                break;
                        }
        reconcile_cache_drop(c);
        c->live = nl;
        c->n = doc->n_ifaces;
        return 0;
}

/* ---- folding an applied plan into an entry ---- */

static int prefixes_dup(const struct wf_prefix *src, size_t n, struct wf_prefix **ret) {
        struct wf_prefix *x = n ? malloc(n * sizeof(*x)) : NULL;

        if (n && !x)
                return -ENOMEM;
        if (n)
                memcpy(x, src, n * sizeof(*x));
        *ret = x;
        return 0;
}

static int prefix_cmp_void(const void *a, const void *b) {
        return wf_prefix_cmp(a, b);
}

/* Allowed IPs another peer took: the kernel moved them when that peer added them. */
static void drop_claimed(struct wf_live_iface *l, const struct wf_prefix *claimed, size_t n) {
        for (size_t i = 0; i < l->n_peers; i++) {
                struct wf_live_peer *p = &l->peers[i];
                size_t k = 0;

                for (size_t j = 0; j < p->n_allowed_ips; j++)
                        if (!bsearch(&p->allowed_ips[j], claimed, n, sizeof(*claimed), prefix_cmp_void))
                                p->allowed_ips[k++] = p->allowed_ips[j];
                p->n_allowed_ips = k;
        }
}

static int collect_claimed(const struct plan *p, struct wf_prefix **ret, size_t *ret_n) {
        struct wf_prefix *all = NULL;
        size_t n = 0;

        for (size_t i = 0; i < p->n_ops; i++) {
                const struct plan_op *op = &p->ops[i];
                const struct wf_prefix *src = op->allowed_ips_add;
                size_t k = op->n_allowed_ips_add;
                struct wf_prefix *x;

                if (op->kind == PLAN_PEER_ADD) {
                        src = op->peer->peer->allowed_ips;
                        k = op->peer->peer->n_allowed_ips;
                } else if (op->kind != PLAN_PEER_UPDATE)
                        continue;
                if (k == 0)
                        continue;
                x = realloc(all, (n + k) * sizeof(*x));
                if (!x) {
                        free(all);
                        return -ENOMEM;
                }
                all = x;
                memcpy(all + n, src, k * sizeof(*x));
                n += k;
        }
        if (n)
                qsort(all, n, sizeof(*all), prefix_cmp_void);
        *ret = all;
        *ret_n = n;
        return 0;
}

static void peer_set_from(struct wf_live_peer *lp, const struct plan_op *op, struct wf_prefix *ips) {
        const struct plan_peer *pp = op->peer;
        const struct wf_peer *dp = pp->peer;

        if (op->flags & PLAN_PEER_ENDPOINT)
                lp->endpoint = pp->endpoint;
        if (op->flags & PLAN_PEER_KEEPALIVE)
                lp->persistent_keepalive = dp->persistent_keepalive > 0 ? (uint16_t)dp->persistent_keepalive : 0;
        if (op->flags & PLAN_PEER_PRESHARED_KEY) {
                lp->has_preshared_key = pp->has_preshared_key;
                memcpy(lp->preshared_key, pp->preshared_key, WF_KEY_LEN);
        }
        if (op->flags & (PLAN_PEER_ALLOWED_IPS_ADD | PLAN_PEER_ALLOWED_IPS_REPLACE)) {
                free(lp->allowed_ips);
                lp->allowed_ips = ips;
                lp->n_allowed_ips = dp->n_allowed_ips;
        } else
                free(ips);
}

/* The peers after the plan: updates in place, removals dropped, additions appended (then 1 is
 * returned: the order by key is lost, else 0). Without
 * additions the array is compacted where it is and its vacated tail wiped (a one-peer change
 * among 10 000 touches one entry, not 2.5 MB); with them a new array is built and the old one
 * wiped before it is freed (preshared keys). */
static int fold_peers(struct wf_live_iface *l, const struct plan *p) {
        _cleanup_free_ bool *gone = NULL;
        struct wf_live_peer *np = NULL;
        size_t n_add = 0, n_gone = 0, k = 0;
        int r;

        for (size_t i = 0; i < p->n_ops; i++) {
                n_add += p->ops[i].kind == PLAN_PEER_ADD;
                n_gone += p->ops[i].kind == PLAN_PEER_REMOVE;
        }
        if (n_gone) {
                gone = calloc(l->n_peers + 1, sizeof(*gone));
                if (!gone)
                        return -ENOMEM;
        }
        if (n_add) {
                np = calloc(l->n_peers + n_add + 1, sizeof(*np));
                if (!np)
                        return -ENOMEM;
        }
        /* Indexes into l->peers, taken before anything moves. */
        for (size_t i = 0; i < p->n_ops; i++) {
                const struct plan_op *op = &p->ops[i];
                size_t idx;
                struct wf_prefix *ips;

                if (op->kind != PLAN_PEER_UPDATE && op->kind != PLAN_PEER_REMOVE)
                        continue;
                idx = (size_t)(op->live_peer - l->peers);
                if (idx >= l->n_peers) {
                        free(np);
                        return -EINVAL;
                }
                if (op->kind == PLAN_PEER_REMOVE) {
                        gone[idx] = true;
                        continue;
                }
                r = prefixes_dup(op->peer->peer->allowed_ips, op->peer->peer->n_allowed_ips, &ips);
                if (r < 0) {
                        free(np);
                        return r;
                }
                peer_set_from(&l->peers[idx], op, ips);
        }
        if (!n_add) {
                if (!n_gone)
                        return 0;
                for (size_t i = 0; i < l->n_peers; i++) {
                        if (gone[i]) {
                                free(l->peers[i].allowed_ips);
                                free(l->peers[i].backend_id);
                                free(l->peers[i].comment);
                                continue;
                        }
                        if (k != i)
                                l->peers[k] = l->peers[i];
                        k++;
                }
                explicit_bzero(l->peers + k, (l->n_peers - k) * sizeof(*l->peers));
                l->n_peers = k;
                return 0;
        }
        for (size_t i = 0; i < l->n_peers; i++) {
                if (gone && gone[i]) {
                        free(l->peers[i].allowed_ips);
                        free(l->peers[i].backend_id);
                        free(l->peers[i].comment);
                        continue;
                }
                np[k++] = l->peers[i];
        }
        for (size_t i = 0; i < p->n_ops; i++) {
                const struct plan_op *op = &p->ops[i];
                struct wf_live_peer *lp = &np[k];
                struct wf_prefix *ips;

                if (op->kind != PLAN_PEER_ADD)
                        continue;
                r = prefixes_dup(op->peer->peer->allowed_ips, op->peer->peer->n_allowed_ips, &ips);
                if (r < 0)
                        ips = NULL; /* the entry is still consistent, minus this list: resync fixes it */
                memcpy(lp->public_key, op->peer->peer->public_key, WF_KEY_LEN);
                peer_set_from(lp, op, ips);
                if (r < 0)
                        lp->n_allowed_ips = 0;
                k++;
        }
        if (l->peers)
                explicit_bzero(l->peers, l->n_peers * sizeof(*l->peers));
        free(l->peers);
        l->peers = np;
        l->n_peers = k;
        return 1;
}

/* The routes after the plan, compacted in place and grown only for additions. Returns 1 when
 * routes were appended (the order reconcile_cache_index keeps is then lost), else 0. */
static int fold_routes(struct wf_live_iface *l, const struct plan *p) {
        _cleanup_free_ bool *gone = NULL;
        size_t n_add = 0, n_del = 0, k = 0;

        for (size_t i = 0; i < p->n_ops; i++) {
                n_add += p->ops[i].kind == PLAN_ROUTE_ADD;
                n_del += p->ops[i].kind == PLAN_ROUTE_DEL && p->ops[i].live_route;
        }
        if (n_del) {
                gone = calloc(l->n_routes + 1, sizeof(*gone));
                if (!gone)
                        return -ENOMEM;
        }
        for (size_t i = 0; n_del && i < p->n_ops; i++) {
                const struct plan_op *op = &p->ops[i];
                size_t idx;

                if (op->kind != PLAN_ROUTE_DEL || !op->live_route)
                        continue;
                idx = (size_t)(op->live_route - l->routes);
                if (idx >= l->n_routes)
                        return -EINVAL;
                gone[idx] = true;
        }
        if (n_add) {
                struct wf_live_route *nr = realloc(l->routes, (l->n_routes + n_add + 1) * sizeof(*nr));

                if (!nr)
                        return -ENOMEM;
                l->routes = nr;
        }
        for (size_t i = 0; i < l->n_routes; i++)
                if (gone && gone[i])
                        free(l->routes[i].backend_id);
                else if (k++ != i)
                        l->routes[k - 1] = l->routes[i];
        for (size_t i = 0; i < p->n_ops; i++)
                if (p->ops[i].kind == PLAN_ROUTE_ADD)
                        l->routes[k++] = (struct wf_live_route){
                                .dst = p->ops[i].prefix, .table = p->route_table, .metric = p->route_metric,
                                .protocol = WF_RTPROT, .ours = true, .ifindex = l->ifindex,
                        };
        l->n_routes = k;
        return n_add > 0;
}

static int fold_addresses(struct wf_live_iface *l, const struct plan *p) {
        size_t n_add = 0, k = 0;
        struct wf_prefix *na;

        for (size_t i = 0; i < p->n_ops; i++)
                n_add += p->ops[i].kind == PLAN_ADDR_ADD;
        na = calloc(l->n_addresses + n_add + 1, sizeof(*na));
        if (!na)
                return -ENOMEM;
        for (size_t i = 0; i < l->n_addresses; i++) {
                bool del = false;
                for (size_t j = 0; j < p->n_ops && !del; j++)
                        del = p->ops[j].kind == PLAN_ADDR_DEL && p->ops[j].prefix.len == l->addresses[i].len &&
                              memcmp(&p->ops[j].prefix, &l->addresses[i], sizeof(struct wf_prefix)) == 0;
                if (!del)
                        na[k++] = l->addresses[i];
        }
        for (size_t i = 0; i < p->n_ops; i++)
                if (p->ops[i].kind == PLAN_ADDR_ADD)
                        na[k++] = p->ops[i].prefix;
        free(l->addresses);
        l->addresses = na;
        l->n_addresses = k;
        return 0;
}

static void index_peers(struct wf_live_iface *l);
static void index_routes(struct wf_live_iface *l);

int reconcile_cache_fold(struct wf_live_iface *l, const struct plan *p, const struct plan_target *t) {
        _cleanup_free_ struct wf_prefix *claimed = NULL;
        size_t n_claimed = 0;
        int r;

        if (!l->exists)
                return -EINVAL; /* a created link has no ifindex here: observe it */
        for (size_t i = 0; i < p->n_ops; i++) {
                const struct plan_op *op = &p->ops[i];

                if (op->kind == PLAN_IFACE_CREATE)
                        return -EINVAL;
                if (op->kind != PLAN_IFACE_SET)
                        continue;
                if (op->flags & PLAN_SET_PRIVATE_KEY) {
                        l->has_private_key = true;
                        memcpy(l->public_key, t->public_key, WF_KEY_LEN);
                }
                if (op->flags & PLAN_SET_LISTEN_PORT)
                        l->listen_port = t->iface->listen_port;
                if (op->flags & PLAN_SET_FWMARK)
                        l->fwmark = t->iface->fwmark;
                if (op->flags & PLAN_SET_MTU)
                        l->mtu = t->iface->mtu;
                if (op->flags & PLAN_SET_UP)
                        l->up = true;
        }
        r = collect_claimed(p, &claimed, &n_claimed);
        if (r < 0)
                return r;
        /* Before the peers move: the claimed prefixes leave every peer, then each peer the plan
         * touched gets its full desired list back. */
        if (n_claimed)
                drop_claimed(l, claimed, n_claimed);
        /* Updates and removals keep the order; only appended entries need the sort again. */
        r = fold_peers(l, p);
        if (r != 0)
                index_peers(l);
        if (r >= 0) {
                r = fold_routes(l, p);
                if (r != 0)
                        index_routes(l);
        }
        if (r >= 0)
                r = fold_addresses(l, p);
        return r < 0 ? r : 0;
}

/* ---- monitor events against the cache ---- */

static bool same_addr(const struct wf_prefix *a, const struct wf_prefix *b) {
        return a->family == b->family && a->len == b->len && memcmp(a->addr, b->addr, 16) == 0;
}

static int route_key_cmp(const struct wf_live_route *a, uint32_t table, const struct wf_prefix *dst) {
        if (a->table != table)
                return a->table < table ? -1 : 1;
        return wf_prefix_cmp(&a->dst, dst);
}

static int route_sort_cmp(const void *a, const void *b) {
        const struct wf_live_route *y = b;

        return route_key_cmp(a, y->table, &y->dst);
}

static int live_peer_cmp(const void *a, const void *b) {
        return memcmp(((const struct wf_live_peer *)a)->public_key, ((const struct wf_live_peer *)b)->public_key,
                      WF_KEY_LEN);
}

static void index_peers(struct wf_live_iface *l) {
        if (l && l->n_peers > 1)
                qsort(l->peers, l->n_peers, sizeof(*l->peers), live_peer_cmp);
}

static void index_routes(struct wf_live_iface *l) {
        if (l && l->n_routes > 1)
                qsort(l->routes, l->n_routes, sizeof(*l->routes), route_sort_cmp);
}

/* Peers by key (the order plan_compute walks them in, so that it need not sort them again) and
 * routes by table and destination (for the event checks). */
void reconcile_cache_index(struct wf_live_iface *l) {
        index_peers(l);
        index_routes(l);
}

/* The first route of l (sorted by reconcile_cache_index) with this table and destination, and
 * how many there are (ours at other metrics, foreign ones). */
static const struct wf_live_route *find_routes(const struct wf_live_iface *l, const struct rtmon_event *ev,
                                               size_t *ret_n) {
        size_t lo = 0, hi = l->n_routes, n = 0;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (route_key_cmp(&l->routes[mid], ev->table, &ev->prefix) < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        while (lo + n < l->n_routes && route_key_cmp(&l->routes[lo + n], ev->table, &ev->prefix) == 0)
                n++;
        *ret_n = n;
        return n ? &l->routes[lo] : NULL;
}

static bool route_contradicts(const struct wf_live_iface *l, const struct rtmon_event *ev) {
        size_t n;
        const struct wf_live_route *lr = find_routes(l, ev, &n);

        if (ev->protocol != WF_RTPROT)
                /* A foreign route matters only where it meets one of ours (a conflict). */
                return lr != NULL;
        if (ev->ifindex != l->ifindex)
                return false;
        for (size_t i = 0; i < n; i++)
                if (lr[i].ours && lr[i].metric == ev->metric)
                        return ev->del; /* ours and deleted: drift; added: our own echo */
        return !ev->del; /* one of ours the agent did not add */
}

static bool addr_contradicts(const struct wf_live_iface *l, const struct rtmon_event *ev) {
        bool have = false;

        if (ev->ifindex != l->ifindex)
                return false;
        for (size_t i = 0; i < l->n_addresses && !have; i++)
                have = same_addr(&l->addresses[i], &ev->prefix);
        /* The kernel's own IPv6 link-local address is not the agent's (route_observe). */
        if (!have && ev->prefix.family == AF_INET6 && ev->prefix.addr[0] == 0xfe &&
            (ev->prefix.addr[1] & 0xc0) == 0x80)
                return false;
        return ev->del ? have : !have;
}

static bool link_contradicts(const struct wf_live_iface *l, const struct rtmon_event *ev) {
        bool named = ev->ifname[0] && l->name && strcmp(ev->ifname, l->name) == 0;

        if (!l->exists)
                return named && !ev->del; /* the link appeared */
        if (ev->ifindex != l->ifindex)
                return named; /* the same name on another link: recreated */
        if (ev->del)
                return true;
        return ev->up != l->up || (ev->mtu && ev->mtu != l->mtu);
}

bool reconcile_cache_contradicts(const struct reconcile_cache *c, const struct rtmon_event *ev) {
        for (size_t i = 0; i < c->n; i++) {
                const struct wf_live_iface *l = c->live[i];
                bool x;

                if (!l)
                        continue;
                switch (ev->kind) {
                case RTMON_LINK:
                        x = link_contradicts(l, ev);
                        break;
                case RTMON_ADDR:
                        x = l->exists && addr_contradicts(l, ev);
                        break;
                case RTMON_ROUTE:
                        x = l->exists && route_contradicts(l, ev);
                        break;
                default:
                        x = false;
                }
                if (x)
                        return true;
        }
        return false;
}
