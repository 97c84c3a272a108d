/* SPDX-License-Identifier: MIT */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "document-internal.h"
#include "document.h"
#include "dup-find.h"

/* The rules that look at more than one field: one function per rule of docs/protocol.md, in
 * tables run in order (the first violation wins, so the order is part of the contract).
 * Cross-peer rules run in O(n log n): a 10000-peer document parses in well under a second. */

/* ---- an index of one interface: every allowed IP, and the peers by name ---- */

/* Every allowed IP of an interface, in document order. */
struct aip {
        struct wf_prefix p;
        size_t peer, k, order;
};

struct iface_index {
        const struct wf_iface *f;
        struct aip *aips;       /* document order */
        struct aip *sorted;     /* by prefix, ties in document order */
        size_t n_aips;
        size_t *by_name;        /* peer indices sorted by name */
        bool lens4[33], lens6[129];
};

static void iface_index_done(struct iface_index *x) {
        free(x->aips);
        free(x->sorted);
        free(x->by_name);
}

static int sort_aip(const void *x, const void *y) {
        const struct aip *a = x, *b = y;
        int r = wf_prefix_cmp(&a->p, &b->p);

        if (r != 0)
                return r;
        return a->order < b->order ? -1 : a->order > b->order;
}

static int sort_name(const void *x, const void *y, void *arg) {
        const struct wf_iface *f = arg;
        return strcmp(f->peers[*(const size_t *)x].name, f->peers[*(const size_t *)y].name);
}

static int iface_index_build(struct iface_index *x, const struct wf_iface *f) {
        size_t n = 0;

        x->f = f;
        for (size_t i = 0; i < f->n_peers; i++)
                n += f->peers[i].n_allowed_ips;
        x->aips = calloc(n ? n : 1, sizeof(*x->aips));
        x->sorted = calloc(n ? n : 1, sizeof(*x->sorted));
        x->by_name = calloc(f->n_peers ? f->n_peers : 1, sizeof(*x->by_name));
        if (!x->aips || !x->sorted || !x->by_name)
                return -ENOMEM;
        for (size_t i = 0; i < f->n_peers; i++)
                for (size_t k = 0; k < f->peers[i].n_allowed_ips; k++) {
                        const struct wf_prefix *p = &f->peers[i].allowed_ips[k];
                        x->aips[x->n_aips] = (struct aip) { *p, i, k, x->n_aips };
                        x->n_aips++;
                        if (p->family == AF_INET)
                                x->lens4[p->len] = true;
                        else
                                x->lens6[p->len] = true;
                }
        memcpy(x->sorted, x->aips, n * sizeof(*x->aips));
        qsort(x->sorted, n, sizeof(*x->sorted), sort_aip);
        for (size_t i = 0; i < f->n_peers; i++)
                x->by_name[i] = i;
        qsort_r(x->by_name, f->n_peers, sizeof(size_t), sort_name, (void *)f);
        return 0;
}

static ssize_t peer_lookup(const struct iface_index *x, const char *name) {
        size_t lo = 0, hi = x->f->n_peers;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int r = strcmp(x->f->peers[x->by_name[mid]].name, name);
                if (r == 0)
                        return (ssize_t)x->by_name[mid];
                if (r < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return -1;
}

/* The allowed IP (earliest in document order) that contains p, skipping /0 and, when
 * only_peer is not SIZE_MAX, other peers' prefixes. NULL when none does. Looks up each
 * prefix length present instead of scanning every prefix. */
static const struct aip *aip_containing(const struct iface_index *x, const struct wf_prefix *p,
                                        size_t only_peer) {
        const struct aip *best = NULL;
        const bool *lens = p->family == AF_INET ? x->lens4 : x->lens6;

        for (unsigned l = 1; l <= p->len; l++) {
                struct wf_prefix m = *p;
                size_t lo = 0, hi = x->n_aips;

                if (!lens[l])
                        continue;
                m.len = (uint8_t)l;
                wf_prefix_mask(&m);
                while (lo < hi) {
                        size_t mid = lo + (hi - lo) / 2;
                        if (wf_prefix_cmp(&x->sorted[mid].p, &m) < 0)
                                lo = mid + 1;
                        else
                                hi = mid;
                }
                for (; lo < x->n_aips && wf_prefix_equal(&x->sorted[lo].p, &m); lo++) {
                        const struct aip *a = &x->sorted[lo];
                        if (only_peer != SIZE_MAX && a->peer != only_peer)
                                continue;
                        if (!best || a->order < best->order)
                                best = a;
                        break;
                }
        }
        return best;
}

static bool is_exit(const struct wf_iface *f, const char *peer) {
        for (size_t i = 0; i < f->n_exit; i++)
                if (strcmp(f->exit[i], peer) == 0)
                        return true;
        return false;
}

static bool host_prefix(const char *host, struct wf_prefix *ret) {
        const char *why;

        /* Only literal addresses; names resolve later and are checked by the agent then. */
        return wf_prefix_parse(host, false, ret, &why) == 0 && !strchr(host, '/');
}

/* ---- comparisons and hashes for dup_find ---- */

static int cmp_addr(const void *ctx, size_t a, size_t b) {
        const struct wf_prefix *l = ctx;

        /* Interface addresses: the same address twice, whatever the prefix lengths. */
        if (l[a].family != l[b].family)
                return l[a].family < l[b].family ? -1 : 1;
        return memcmp(l[a].addr, l[b].addr, sizeof(l[a].addr));
}

static int cmp_peer_name(const void *ctx, size_t a, size_t b) {
        const struct wf_iface *f = ctx;
        return strcmp(f->peers[a].name, f->peers[b].name);
}

static uint64_t hash_peer_name(const void *ctx, size_t a) {
        const struct wf_iface *f = ctx;
        return dup_hash_bytes(DUP_HASH_INIT, f->peers[a].name, strlen(f->peers[a].name));
}

static int cmp_peer_key(const void *ctx, size_t a, size_t b) {
        const struct wf_iface *f = ctx;
        return memcmp(f->peers[a].public_key, f->peers[b].public_key, WF_KEY_LEN);
}

static uint64_t hash_peer_key(const void *ctx, size_t a) {
        const struct wf_iface *f = ctx;
        uint64_t h;

        memcpy(&h, f->peers[a].public_key, sizeof(h));
        return h;
}

/* A default route may be offered by several exit peers (the exit selection gives it to one at a
 * time); any other prefix belongs to one peer. */
static int cmp_aip(const void *ctx, size_t a, size_t b) {
        const struct aip *l = ctx;
        int r = wf_prefix_cmp(&l[a].p, &l[b].p);

        if (r != 0 || l[a].p.len != 0)
                return r;
        return l[a].peer < l[b].peer ? -1 : l[a].peer > l[b].peer;
}

static uint64_t hash_aip(const void *ctx, size_t a) {
        const struct aip *l = ctx;
        return dup_hash_prefix(&l[a].p) ^ (l[a].p.len == 0 ? dup_mix64(l[a].peer + 1) : 0);
}

static int cmp_route(const void *ctx, size_t a, size_t b) {
        const struct wf_route *l = ctx;
        return wf_prefix_cmp(&l[a].dst, &l[b].dst);
}

static int cmp_str(const void *ctx, size_t a, size_t b) {
        char *const *l = ctx;
        return strcmp(l[a], l[b]);
}

/* ---- interface rules ---- */

struct iface_check {
        struct jr_ctx *c;
        const json_t *o;                /* the interface object */
        const struct jr_path *p;        /* its path, "interfaces[i]" */
        const struct wf_iface *f;
        struct iface_index x;
};

static int fail_in(struct iface_check *k, const char *list, size_t i, const char *key, const char *fmt, ...)
        _printf_(5, 6);

/* "interfaces[i].LIST[I].KEY: VALUE why" (KEY may be NULL). */
static int fail_in(struct iface_check *k, const char *list, size_t i, const char *key, const char *fmt, ...) {
        const struct jr_path lp = JR_KEY(k->p, list), ep = JR_IDX(&lp, i), kp = JR_KEY(&ep, key);
        const json_t *v = json_array_get(json_object_get(k->o, list), i);
        char why[384];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(why, sizeof(why), fmt, ap);
        va_end(ap);
        if (key)
                v = json_object_get(v, key);
        return jr_fail(k->c, key ? &kp : &ep, v, "%s", why);
}

static int fail_aip(struct iface_check *k, const struct aip *ai, const char *fmt, ...) _printf_(3, 4);

/* "interfaces[i].peers[P].allowed_ips[K]: VALUE why" */
static int fail_aip(struct iface_check *k, const struct aip *ai, const char *fmt, ...) {
        const struct jr_path pl = JR_KEY(k->p, "peers"), pp = JR_IDX(&pl, ai->peer),
                             al = JR_KEY(&pp, "allowed_ips"), ap2 = JR_IDX(&al, ai->k);
        const json_t *v = json_array_get(json_object_get(json_array_get(json_object_get(k->o, "peers"),
                                                                         ai->peer), "allowed_ips"), ai->k);
        char why[384];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(why, sizeof(why), fmt, ap);
        va_end(ap);
        return jr_fail(k->c, &ap2, v, "%s", why);
}

/* Rule 12: the same address twice, whatever the prefix lengths. */
static int rule_addresses_once(struct iface_check *k, _unused_ size_t unused) {
        size_t i, j;
        int r = dup_find(k->f->n_addresses, cmp_addr, k->f->addresses, &i, &j);

        if (r <= 0)
                return r;
        return fail_in(k, "addresses", i, NULL, "is listed twice (also [%zu])", j);
}

/* Rule 25. */
static int rule_peer_names_once(struct iface_check *k, _unused_ size_t unused) {
        size_t i, j;
        int r = dup_find_hashed(k->f->n_peers, cmp_peer_name, hash_peer_name, k->f, &i, &j);

        if (r <= 0)
                return r;
        return fail_in(k, "peers", i, "name", "is a duplicate peer name (also peers[%zu])", j);
}

/* Rule 25. */
static int rule_peer_keys_once(struct iface_check *k, _unused_ size_t unused) {
        size_t i, j;
        int r = dup_find_hashed(k->f->n_peers, cmp_peer_key, hash_peer_key, k->f, &i, &j);

        if (r <= 0)
                return r;
        return fail_in(k, "peers", i, "public_key", "is a duplicate public key (also peers[%zu] \"%s\")", j,
                       k->f->peers[j].name);
}

/* Rule 26: WireGuard ignores such a peer. */
static int rule_peer_key_not_own(struct iface_check *k, size_t i) {
        if (!k->f->has_public_key || memcmp(k->f->peers[i].public_key, k->f->public_key, WF_KEY_LEN) != 0)
                return 0;
        return fail_in(k, "peers", i, "public_key",
                       "is this interface's own public key (WireGuard ignores such a peer)");
}

/* Rule 27: the kernel moves a prefix to the last peer that claims it, silently. */
static int rule_one_prefix_one_peer(struct iface_check *k, _unused_ size_t unused) {
        const struct aip *later, *earlier;
        size_t i, j;
        int r = dup_find_hashed(k->x.n_aips, cmp_aip, hash_aip, k->x.aips, &i, &j);

        if (r <= 0)
                return r;
        later = &k->x.aips[i];
        earlier = &k->x.aips[j];
        if (later->peer == earlier->peer)
                return fail_aip(k, later, "is listed twice (also [%zu])", earlier->k);
        return fail_aip(k, later, "is also an allowed IP of peer \"%s\" (one prefix, one peer)",
                        k->f->peers[earlier->peer].name);
}

/* Rule 29. */
static int rule_default_route_exit(struct iface_check *k, size_t n) {
        const struct aip *ai = &k->x.aips[n];
        const char *peer = k->f->peers[ai->peer].name;
        char path[JR_PATH_MAX];

        if (ai->p.len != 0 || is_exit(k->f, peer))
                return 0;
        jr_path_format(k->c, k->p, path);
        return fail_aip(k, ai, "would carry the default route and swallow the underlay; "
                        "list peer \"%s\" in %s.exit to allow it", peer, path);
}

/* Rule 30: the interface's subnet, or a wider one through a hub, is normal; a narrower prefix
 * claims this node's own address. */
static int rule_own_address(struct iface_check *k, size_t n) {
        const struct aip *ai = &k->x.aips[n];

        for (size_t m = 0; m < k->f->n_addresses; m++) {
                const struct wf_prefix *ad = &k->f->addresses[m];
                struct wf_prefix host = *ad;
                size_t max = ad->family == AF_INET ? 32 : 128;
                char a[64];

                host.len = (uint8_t)max;
                if (!wf_prefix_contains(&ai->p, &host))
                        continue;
                if (ai->p.len > ad->len || ai->p.len == max) {
                        wf_prefix_format(ad, a);
                        return fail_aip(k, ai, "contains this interface's own address %s (addresses[%zu])", a, m);
                }
        }
        return 0;
}

/* Rule 31: an endpoint inside a tunnel prefix: the encrypted packets would be routed into the
 * tunnel itself and the peer is never reached. Routes need not be checked: each lies inside an
 * allowed IP of its via peer (rule 34). The default route of an exit peer is kept off the
 * underlay with policy routing. */
static int rule_endpoint_outside(struct iface_check *k, size_t i) {
        const struct wf_peer *p = &k->f->peers[i];
        const struct aip *hit;
        struct wf_prefix ep;
        char a[64];

        if (!p->endpoint || !host_prefix(p->endpoint_host, &ep))
                return 0;
        hit = aip_containing(&k->x, &ep, SIZE_MAX);
        if (!hit)
                return 0;
        wf_prefix_format(&hit->p, a);
        return fail_in(k, "peers", i, "endpoint", "lies inside allowed IP %s of peer \"%s\" "
                       "(the tunnel would carry its own packets)", a, k->f->peers[hit->peer].name);
}

/* Rule 32. */
static int rule_exit_is_peer(struct iface_check *k, size_t i) {
        if (peer_lookup(&k->x, k->f->exit[i]) >= 0)
                return 0;
        return fail_in(k, "exit", i, NULL, "is not a peer of this interface");
}

/* Rule 32. */
static int rule_exit_once(struct iface_check *k, _unused_ size_t unused) {
        size_t i, j;
        int r = dup_find(k->f->n_exit, cmp_str, k->f->exit, &i, &j);

        if (r <= 0)
                return r;
        return fail_in(k, "exit", i, NULL, "is listed twice (also exit[%zu])", j);
}

/* Rule 33. */
static int rule_route_via_peer(struct iface_check *k, size_t i) {
        if (peer_lookup(&k->x, k->f->routes[i].via) >= 0)
                return 0;
        return fail_in(k, "routes", i, "via", "is not a peer of this interface");
}

/* Rule 35. */
static int rule_route_default_exit(struct iface_check *k, size_t i) {
        const struct wf_route *rt = &k->f->routes[i];
        char path[JR_PATH_MAX];

        if (rt->dst.len != 0 || is_exit(k->f, rt->via))
                return 0;
        jr_path_format(k->c, k->p, path);
        return fail_in(k, "routes", i, "dst", "is the default route; list peer \"%s\" in %s.exit instead",
                       rt->via, path);
}

/* Rule 34: WireGuard picks the peer by allowed IPs: a route to a prefix the via peer does not
 * accept would end in the interface and be dropped there. Default routes are rule 35's. */
static int rule_route_inside_via(struct iface_check *k, size_t i) {
        const struct wf_route *rt = &k->f->routes[i];

        if (rt->dst.len == 0 || aip_containing(&k->x, &rt->dst, (size_t)peer_lookup(&k->x, rt->via)))
                return 0;
        return fail_in(k, "routes", i, "dst", "is not inside the allowed IPs of peer \"%s\" (WireGuard would "
                       "drop it)", rt->via);
}

/* Rule 33. */
static int rule_route_once(struct iface_check *k, _unused_ size_t unused) {
        size_t i, j;
        int r = dup_find(k->f->n_routes, cmp_route, k->f->routes, &i, &j);

        if (r <= 0)
                return r;
        return fail_in(k, "routes", i, "dst", "is a duplicate route (also routes[%zu])", j);
}

/* What a rule runs over: once per interface, or once per element. Consecutive rules over the
 * same elements run element by element (all of them on the first element, then the next). */
enum scope {
        SCOPE_IFACE,
        SCOPE_PEER,
        SCOPE_ALLOWED_IP,
        SCOPE_EXIT,
        SCOPE_ROUTE,
};

static const struct {
        unsigned rule;
        enum scope scope;
        int (*check)(struct iface_check *k, size_t i);
} iface_rules[] = {
        { 12, SCOPE_IFACE, rule_addresses_once },
        { 25, SCOPE_IFACE, rule_peer_names_once },
        { 25, SCOPE_IFACE, rule_peer_keys_once },
        { 26, SCOPE_PEER, rule_peer_key_not_own },
        { 27, SCOPE_IFACE, rule_one_prefix_one_peer },
        { 29, SCOPE_ALLOWED_IP, rule_default_route_exit },
        { 30, SCOPE_ALLOWED_IP, rule_own_address },
        { 31, SCOPE_PEER, rule_endpoint_outside },
        { 32, SCOPE_EXIT, rule_exit_is_peer },
        { 32, SCOPE_IFACE, rule_exit_once },
        { 33, SCOPE_ROUTE, rule_route_via_peer },
        { 35, SCOPE_ROUTE, rule_route_default_exit },
        { 34, SCOPE_ROUTE, rule_route_inside_via },
        { 33, SCOPE_IFACE, rule_route_once },
};

static size_t scope_size(const struct iface_check *k, enum scope s) {
        switch (s) {
        case SCOPE_IFACE:
                return 1;
        case SCOPE_PEER:
                return k->f->n_peers;
        case SCOPE_ALLOWED_IP:
                return k->x.n_aips;
        case SCOPE_EXIT:
                return k->f->n_exit;
        case SCOPE_ROUTE:
                return k->f->n_routes;
        }
        return 0;
}

static void iface_check_done(struct iface_check *k) {
        iface_index_done(&k->x);
}

int doc_rules_iface(struct jr_ctx *c, const json_t *o, const struct jr_path *p, const struct wf_iface *f) {
        _cleanup_(iface_check_done) struct iface_check k = { .c = c, .o = o, .p = p, .f = f };
        int r;

        r = iface_index_build(&k.x, f);
        if (r < 0)
                return r;
        for (size_t a = 0, b; a < ELEMENTSOF(iface_rules); a = b) {
                enum scope s = iface_rules[a].scope;
                size_t n = scope_size(&k, s);

                for (b = a + 1; s != SCOPE_IFACE && b < ELEMENTSOF(iface_rules) && iface_rules[b].scope == s; b++)
                        ;
                for (size_t i = 0; i < n; i++)
                        for (size_t j = a; j < b; j++) {
                                r = iface_rules[j].check(&k, i);
                                if (r < 0)
                                        return r;
                        }
        }
        return 0;
}

/* ---- rules across interfaces ---- */

struct doc_check {
        struct jr_ctx *c;
        const json_t *ifaces;           /* the "interfaces" array */
        const struct wf_doc *d;
};

/* "interfaces[I].KEY: VALUE why" */
static int fail_iface(struct doc_check *k, size_t i, const char *key, const json_t *v, const char *fmt, ...)
        _printf_(5, 6);
static int fail_iface(struct doc_check *k, size_t i, const char *key, const json_t *v, const char *fmt, ...) {
        const struct jr_path l = JR_KEY(NULL, "interfaces"), e = JR_IDX(&l, i);
        char why[384];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(why, sizeof(why), fmt, ap);
        va_end(ap);
        return jr_fail(k->c, &JR_KEY(&e, key), v, "%s", why);
}

static const json_t *jiface(const struct doc_check *k, size_t i, const char *key) {
        return json_object_get(json_array_get(k->ifaces, i), key);
}

static int cmp_iface_name(const void *ctx, size_t a, size_t b) {
        const struct wf_iface *l = ctx;
        return strcmp(l[a].name, l[b].name);
}

static int cmp_iface_port(const void *ctx, size_t a, size_t b) {
        const struct wf_iface *l = ctx;
        return (int)l[a].listen_port - (int)l[b].listen_port;
}

/* Rule 24. */
static int rule_iface_names_once(struct doc_check *k) {
        size_t i, j;
        int r = dup_find(k->d->n_ifaces, cmp_iface_name, k->d->ifaces, &i, &j);

        if (r <= 0)
                return r;
        return fail_iface(k, i, "name", jiface(k, i, "name"), "is a duplicate interface (also interfaces[%zu])", j);
}

/* Rule 24: two devices cannot bind one UDP port. */
static int rule_iface_ports_once(struct doc_check *k) {
        size_t i, j;
        int r = dup_find(k->d->n_ifaces, cmp_iface_port, k->d->ifaces, &i, &j);

        if (r <= 0)
                return r;
        return fail_iface(k, i, "listen_port", jiface(k, i, "listen_port"),
                          "is also the port of interfaces[%zu] \"%s\"", j, k->d->ifaces[j].name);
}

struct doc_addr {
        const struct wf_prefix *p;
        size_t iface, k;
};

static int cmp_doc_addr(const void *ctx, size_t a, size_t b) {
        const struct doc_addr *l = ctx;

        if (l[a].p->family != l[b].p->family)
                return l[a].p->family < l[b].p->family ? -1 : 1;
        return memcmp(l[a].p->addr, l[b].p->addr, sizeof(l[a].p->addr));
}

/* Rule 24: one address on two interfaces: replies leave through whichever connected route
 * wins. */
static int rule_addresses_across(struct doc_check *k) {
        const struct wf_doc *d = k->d;
        _cleanup_free_ struct doc_addr *l = NULL;
        size_t n = 0, i, j;
        int r;

        for (size_t f = 0; f < d->n_ifaces; f++)
                n += d->ifaces[f].n_addresses;
        if (d->n_ifaces < 2 || n < 2)
                return 0;
        l = calloc(n, sizeof(*l));
        if (!l)
                return -ENOMEM;
        n = 0;
        for (size_t f = 0; f < d->n_ifaces; f++)
                for (size_t a = 0; a < d->ifaces[f].n_addresses; a++)
                        l[n++] = (struct doc_addr) { &d->ifaces[f].addresses[a], f, a };
        r = dup_find(n, cmp_doc_addr, l, &i, &j);
        if (r <= 0 || l[i].iface == l[j].iface)
                return r; /* within one interface: rule 12 already refused it */
        const struct jr_path al = JR_KEY(NULL, "interfaces"), ai = JR_IDX(&al, l[i].iface),
                             aa = JR_KEY(&ai, "addresses");
        return jr_fail(k->c, &JR_IDX(&aa, l[i].k), json_array_get(jiface(k, l[i].iface, "addresses"), l[i].k),
                       "is also an address of interfaces[%zu] \"%s\"", l[j].iface, d->ifaces[l[j].iface].name);
}

/* An allowed IP as a route: its table, and where it came from. */
struct doc_route {
        const struct wf_prefix *p;
        uint32_t table;
        size_t iface, peer, k;
};

static uint64_t hash_doc_route(const void *ctx, size_t a) {
        const struct doc_route *l = ctx;
        return dup_hash_prefix(l[a].p) ^ dup_mix64(l[a].table);
}

static int cmp_doc_route(const void *ctx, size_t a, size_t b) {
        const struct doc_route *l = ctx;

        if (l[a].table != l[b].table)
                return l[a].table < l[b].table ? -1 : 1;
        return wf_prefix_cmp(l[a].p, l[b].p);
}

/* Rule 28: the agent installs a route for every allowed IP: the same prefix on two interfaces
 * in one table would send its traffic to whichever route wins, never to the other peer.
 * Default routes are left to the exit selection, which keeps one active. */
static int rule_routes_across(struct doc_check *k) {
        const struct wf_doc *d = k->d;
        _cleanup_free_ struct doc_route *l = NULL;
        size_t n = 0, i, j;
        int r;

        for (size_t f = 0; f < d->n_ifaces; f++)
                for (size_t p = 0; p < d->ifaces[f].n_peers; p++)
                        n += d->ifaces[f].peers[p].n_allowed_ips;
        if (d->n_ifaces < 2 || n < 2)
                return 0;
        l = calloc(n, sizeof(*l));
        if (!l)
                return -ENOMEM;
        n = 0;
        for (size_t f = 0; f < d->n_ifaces; f++)
                for (size_t p = 0; p < d->ifaces[f].n_peers; p++)
                        for (size_t a = 0; a < d->ifaces[f].peers[p].n_allowed_ips; a++)
                                if (d->ifaces[f].peers[p].allowed_ips[a].len > 0)
                                        l[n++] = (struct doc_route) { &d->ifaces[f].peers[p].allowed_ips[a],
                                                                      d->ifaces[f].route_table, f, p, a };
        r = dup_find_hashed(n, cmp_doc_route, hash_doc_route, l, &i, &j);
        if (r <= 0 || l[i].iface == l[j].iface)
                return r; /* within one interface: rule 27 already refused it */
        const struct jr_path il = JR_KEY(NULL, "interfaces"), ie = JR_IDX(&il, l[i].iface),
                             pl = JR_KEY(&ie, "peers"), pe = JR_IDX(&pl, l[i].peer),
                             al = JR_KEY(&pe, "allowed_ips");
        const json_t *v = json_array_get(json_object_get(json_array_get(jiface(k, l[i].iface, "peers"), l[i].peer),
                                                         "allowed_ips"), l[i].k);
        return jr_fail(k->c, &JR_IDX(&al, l[i].k), v,
                       "is also an allowed IP of interfaces[%zu] \"%s\" peer \"%s\" in the same route table",
                       l[j].iface, d->ifaces[l[j].iface].name, d->ifaces[l[j].iface].peers[l[j].peer].name);
}

static const struct {
        unsigned rule;
        int (*check)(struct doc_check *k);
} doc_rules[] = {
        { 24, rule_iface_names_once },
        { 24, rule_iface_ports_once },
        { 24, rule_addresses_across },
        { 28, rule_routes_across },
};

int doc_rules_doc(struct jr_ctx *c, const json_t *ifaces, const struct wf_doc *d) {
        struct doc_check k = { .c = c, .ifaces = ifaces, .d = d };

        for (size_t i = 0; i < ELEMENTSOF(doc_rules); i++) {
                int r = doc_rules[i].check(&k);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ---- rules the agent checks after parsing (36-38) ---- */

/* Rules 37 and 36. */
int doc_check_fresh(const struct wf_doc *d, const char *node, int64_t now, struct wf_err *e) {
        char t[32];

        if (node && strcmp(d->node, node) != 0)
                return wf_err_set(e, -EINVAL, "node: \"%s\" is not this node (\"%s\")", d->node, node);
        if (d->expires_at <= now) {
                wf_format_rfc3339(d->expires_at, t);
                return wf_err_set(e, -ESTALE, "expires_at: \"%s\" has passed (%" PRId64 " s ago)", t,
                                  now - d->expires_at);
        }
        return 0;
}

int doc_check_lockout(const struct wf_iface *f, const struct wf_prefix *addr, struct doc_lockout *ret) {
        for (size_t j = 0; j < f->n_peers; j++)
                for (size_t k = 0; k < f->peers[j].n_allowed_ips; k++) {
                        const struct wf_prefix *p = &f->peers[j].allowed_ips[k];
                        if (p->len == 0 || !wf_prefix_contains(p, addr))
                                continue;
                        *ret = (struct doc_lockout) { DOC_LOCKOUT_ALLOWED_IP, j, k, *p };
                        return 1;
                }
        for (size_t j = 0; j < f->n_routes; j++) {
                const struct wf_prefix *p = &f->routes[j].dst;
                if (p->len == 0 || !wf_prefix_contains(p, addr))
                        continue;
                *ret = (struct doc_lockout) { DOC_LOCKOUT_ROUTE, SIZE_MAX, j, *p };
                return 1;
        }
        /* The address's subnet becomes a connected route on the tunnel: with no peer carrying
         * the address, its packets are dropped there. */
        for (size_t j = 0; j < f->n_addresses; j++) {
                struct wf_prefix net = f->addresses[j];

                wf_prefix_mask(&net);
                if (!wf_prefix_contains(&net, addr))
                        continue;
                *ret = (struct doc_lockout) { DOC_LOCKOUT_ADDRESS, SIZE_MAX, j, net };
                return 1;
        }
        return 0;
}

/* Rule 38. */
int doc_check_underlay(const struct wf_doc *d, const struct wf_prefix *addr, const char *what,
                       struct wf_err *e) {
        char a[64], x[64];

        wf_prefix_format(addr, a);
        for (size_t i = 0; i < d->n_ifaces; i++) {
                const struct wf_iface *f = &d->ifaces[i];
                struct doc_lockout l;

                if (doc_check_lockout(f, addr, &l) == 0)
                        continue;
                switch (l.kind) {
                case DOC_LOCKOUT_ALLOWED_IP:
                        wf_prefix_format(&l.prefix, x);
                        return wf_err_set(e, -EINVAL, "interfaces[%zu].peers[%zu].allowed_ips[%zu]: "
                                          "\"%s\" covers %s %s (lockout)", i, l.peer, l.idx, x, what, a);
                case DOC_LOCKOUT_ROUTE:
                        wf_prefix_format(&l.prefix, x);
                        return wf_err_set(e, -EINVAL, "interfaces[%zu].routes[%zu].dst: \"%s\" covers "
                                          "%s %s (lockout)", i, l.idx, x, what, a);
                case DOC_LOCKOUT_ADDRESS:
                        wf_prefix_format(&f->addresses[l.idx], x);
                        return wf_err_set(e, -EINVAL, "interfaces[%zu].addresses[%zu]: \"%s\" puts %s %s "
                                          "on the tunnel (lockout)", i, l.idx, x, what, a);
                }
        }
        return 0;
}
