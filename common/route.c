/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/rtnetlink.h>
#include <netlink/addr.h>
#include <netlink/cache.h>
#include <netlink/attr.h>
#include <netlink/errno.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/nexthop.h>
#include <netlink/route/route.h>
#include <netlink/socket.h>

#include "route.h"

struct route_ctx {
        struct nl_sock *sk;      /* owned, NETLINK_ROUTE */
        /* owned: route dumps with kernel-side filtering (NETLINK_GET_STRICT_CHK, Linux 4.20+),
         * so a full routing table is not copied out on every observation. A separate socket:
         * strict checking rejects libnl's legacy link and address dump requests. NULL when
         * the kernel has no strict checking: full dumps, filtered here. Read with libmnl into
         * dump_buf and parsed in place: libnl's per-route objects cost more than the kernel's
         * side of a 20 000-route dump. */
        struct mnl_socket *dump;
        uint8_t *dump_buf;       /* owned, DUMP_BUF_SIZE */
        uint32_t dump_seq;
        uint64_t requests;       /* rtnetlink requests sent (route_ctx_requests) */
};

enum { DUMP_BUF_SIZE = 64 * 1024 };

/* libnl speaks -NLE_*; everything above this file speaks -errno. */
static int nlerr_to_errno(int nle) {
        switch (nle < 0 ? -nle : nle) {
        case 0: return 0;
        case NLE_INTR: return -EINTR;
        case NLE_AGAIN: case NLE_DUMP_INTR: return -EAGAIN;
        case NLE_NOMEM: return -ENOMEM;
        case NLE_EXIST: return -EEXIST;
        case NLE_INVAL: return -EINVAL;
        case NLE_RANGE: return -ERANGE;
        case NLE_MSGSIZE: return -EMSGSIZE;
        case NLE_OPNOTSUPP: case NLE_MSGTYPE_NOSUPPORT: return -EOPNOTSUPP;
        case NLE_AF_NOSUPPORT: return -EAFNOSUPPORT;
        case NLE_OBJ_NOTFOUND: return -ENOENT;
        case NLE_NOADDR: return -EADDRNOTAVAIL;
        case NLE_BUSY: return -EBUSY;
        case NLE_NOACCESS: case NLE_PERM: return -EPERM;
        case NLE_NODEV: return -ENODEV;
        default: return -EIO;
        }
}

static int nl_fail(struct wf_err *e, int nle, const char *what) {
        return wf_err_set(e, nlerr_to_errno(nle), "%s: %s", what, nl_geterror(nle));
}

static void nl_addr_putp(struct nl_addr **a) { if (*a) nl_addr_put(*a); }
static void nl_cache_freep(struct nl_cache **c) { if (*c) nl_cache_free(*c); }
static void rtnl_link_putp(struct rtnl_link **l) { if (*l) rtnl_link_put(*l); }
static void rtnl_addr_putp(struct rtnl_addr **a) { if (*a) rtnl_addr_put(*a); }
static void rtnl_route_putp(struct rtnl_route **r) { if (*r) rtnl_route_put(*r); }

static size_t family_len(int family) {
        return family == AF_INET ? 4 : 16;
}

static struct nl_addr *prefix_to_nl(const struct wf_prefix *p) {
        struct nl_addr *a = nl_addr_build(p->family, p->addr, family_len(p->family));

        if (a)
                nl_addr_set_prefixlen(a, p->len);
        return a;
}

/* A route without RTA_DST (default route) comes back as a zero-length address. */
static bool nl_to_prefix(struct nl_addr *a, int family, struct wf_prefix *ret) {
        struct wf_prefix p = { .family = family };
        size_t n;

        if (family != AF_INET && family != AF_INET6)
                return false;
        if (a) {
                n = nl_addr_get_len(a);
                if (n > family_len(family))
                        return false;
                memcpy(p.addr, nl_addr_get_binary_addr(a), n);
                p.len = (uint8_t)nl_addr_get_prefixlen(a);
        }
        *ret = p;
        return true;
}

int route_ctx_new(struct route_ctx **ret, struct wf_err *e) {
        struct route_ctx *c;
        int r;

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->sk = nl_socket_alloc();
        if (!c->sk) {
                free(c);
                return -ENOMEM;
        }
        r = nl_connect(c->sk, NETLINK_ROUTE);
        if (r < 0) {
                route_ctx_free(c);
                return nl_fail(e, r, "rtnetlink socket");
        }
        /* Dumps of large routing tables arrive in bursts; a small buffer drops them. */
        (void)nl_socket_set_buffer_size(c->sk, 4 * 1024 * 1024, 0);

        c->dump_buf = malloc(DUMP_BUF_SIZE);
        if (!c->dump_buf) {
                route_ctx_free(c);
                return -ENOMEM;
        }
        int one = 1, rcvbuf = 4 * 1024 * 1024;
        c->dump = mnl_socket_open(NETLINK_ROUTE);
        if (c->dump && (mnl_socket_bind(c->dump, 0, MNL_SOCKET_AUTOPID) < 0 ||
                        mnl_socket_setsockopt(c->dump, NETLINK_GET_STRICT_CHK, &one, sizeof(one)) < 0)) {
                mnl_socket_close(c->dump);
                c->dump = NULL;
        }
        if (c->dump)
                (void)setsockopt(mnl_socket_get_fd(c->dump), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
        *ret = c;
        return 0;
}

struct route_ctx *route_ctx_free(struct route_ctx *c) {
        if (!c)
                return NULL;
        if (c->sk)
                nl_socket_free(c->sk);
        if (c->dump)
                mnl_socket_close(c->dump);
        free(c->dump_buf);
        free(c);
        return NULL;
}

int route_link_get(struct route_ctx *c, const char *ifname, struct route_link *ret, struct wf_err *e) {
        _cleanup_(rtnl_link_putp) struct rtnl_link *l = NULL;
        int r;

        c->requests++;
        r = rtnl_link_get_kernel(c->sk, 0, ifname, &l);
        if (r < 0) {
                r = nlerr_to_errno(r);
                if (r == -ENODEV || r == -ENOENT)
                        return -ENODEV;
                return wf_err_set(e, r, "link %s: %s", ifname, strerror(-r));
        }
        *ret = (struct route_link){
                .ifindex = rtnl_link_get_ifindex(l),
                .up = rtnl_link_get_flags(l) & IFF_UP,
                .mtu = rtnl_link_get_mtu(l),
        };
        return 0;
}

int route_link_set(struct route_ctx *c, int ifindex, uint32_t mtu, bool up, struct wf_err *e) {
        _cleanup_(rtnl_link_putp) struct rtnl_link *orig = rtnl_link_alloc();
        _cleanup_(rtnl_link_putp) struct rtnl_link *chg = rtnl_link_alloc();
        int r;

        if (!orig || !chg)
                return -ENOMEM;
        if (mtu == 0 && !up)
                return 0;
        rtnl_link_set_ifindex(orig, ifindex);
        if (mtu)
                rtnl_link_set_mtu(chg, mtu);
        if (up)
                rtnl_link_set_flags(chg, IFF_UP);
        c->requests++;
        r = rtnl_link_change(c->sk, orig, chg, 0);
        if (r < 0)
                return wf_err_set(e, nlerr_to_errno(r), "set link %d (mtu %u%s): %s", ifindex, mtu,
                                  up ? ", up" : "", nl_geterror(r));
        return 0;
}

static bool prefix_push(struct wf_prefix **arr, size_t *n, size_t *cap, const struct wf_prefix *p) {
        if (*n == *cap) {
                size_t nc = *cap ? *cap * 2 : 8;
                struct wf_prefix *x = realloc(*arr, nc * sizeof(**arr));
                if (!x)
                        return false;
                *arr = x;
                *cap = nc;
        }
        (*arr)[(*n)++] = *p;
        return true;
}

int route_addr_list(struct route_ctx *c, int ifindex, struct wf_prefix **ret, size_t *ret_n,
                    struct wf_err *e) {
        _cleanup_(nl_cache_freep) struct nl_cache *cache = NULL;
        _cleanup_free_ struct wf_prefix *arr = NULL;
        size_t n = 0, cap = 0;
        int r;

        c->requests++;
        r = rtnl_addr_alloc_cache(c->sk, &cache);
        if (r < 0)
                return nl_fail(e, r, "dump addresses");
        for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
                struct rtnl_addr *a = (struct rtnl_addr *)o;
                struct wf_prefix p;

                if (rtnl_addr_get_ifindex(a) != ifindex)
                        continue;
                if (!nl_to_prefix(rtnl_addr_get_local(a), rtnl_addr_get_family(a), &p))
                        continue;
                p.len = (uint8_t)rtnl_addr_get_prefixlen(a);
                if (!prefix_push(&arr, &n, &cap, &p))
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(arr);
        *ret_n = n;
        return 0;
}

static int addr_change(struct route_ctx *c, int ifindex, const struct wf_prefix *p, bool add,
                       struct wf_err *e) {
        _cleanup_(rtnl_addr_putp) struct rtnl_addr *a = rtnl_addr_alloc();
        _cleanup_(nl_addr_putp) struct nl_addr *local = prefix_to_nl(p);
        char buf[64];
        int r;

        if (!a || !local)
                return -ENOMEM;
        rtnl_addr_set_ifindex(a, ifindex);
        rtnl_addr_set_family(a, p->family);
        r = rtnl_addr_set_local(a, local);
        if (r < 0)
                return nl_fail(e, r, "address");
        rtnl_addr_set_prefixlen(a, p->len);
        c->requests++;
        r = add ? rtnl_addr_add(c->sk, a, NLM_F_CREATE | NLM_F_REPLACE) : rtnl_addr_delete(c->sk, a, 0);
        if (r < 0) {
                wf_prefix_format(p, buf);
                return wf_err_set(e, nlerr_to_errno(r), "%s address %s: %s", add ? "add" : "delete",
                                  buf, nl_geterror(r));
        }
        return 0;
}

int route_addr_add(struct route_ctx *c, int ifindex, const struct wf_prefix *p, struct wf_err *e) {
        return addr_change(c, ifindex, p, true, e);
}

int route_addr_del(struct route_ctx *c, int ifindex, const struct wf_prefix *p, struct wf_err *e) {
        return addr_change(c, ifindex, p, false, e);
}

static int prefix_cmp_void(const void *a, const void *b) {
        return wf_prefix_cmp(a, b);
}

static int route_oif(struct rtnl_route *rt) {
        struct rtnl_nexthop *nh;

        if (rtnl_route_get_nnexthops(rt) != 1)
                return 0;
        nh = rtnl_route_nexthop_n(rt, 0);
        return nh ? rtnl_route_nh_get_ifindex(nh) : 0;
}

/* What route_list collects, shared by the full and the filtered dump. */
struct collect {
        int ifindex;
        uint32_t table;
        const struct wf_prefix *want;
        size_t n_want;
        unsigned which;          /* COLLECT_OURS | COLLECT_FOREIGN */
        struct wf_live_route **routes;
        size_t *n_routes, cap;
        int error;
};

enum { COLLECT_OURS = 1, COLLECT_FOREIGN = 2 };

/* Keeps lr when it is one of ours on k->ifindex, or a foreign route to a wanted destination. */
static int collect_live(const struct wf_live_route *lr, struct collect *k) {
        if (lr->ours) {
                if (!(k->which & COLLECT_OURS) || lr->ifindex != k->ifindex)
                        return 0;
        } else if (!(k->which & COLLECT_FOREIGN) || lr->table != k->table || k->n_want == 0 ||
                   !bsearch(&lr->dst, k->want, k->n_want, sizeof(*k->want), prefix_cmp_void))
                return 0;
        if (*k->n_routes == k->cap) {
                size_t nc = k->cap ? k->cap * 2 : 16;
                struct wf_live_route *x = realloc(*k->routes, nc * sizeof(**k->routes));
                if (!x)
                        return -ENOMEM;
                *k->routes = x;
                k->cap = nc;
        }
        (*k->routes)[(*k->n_routes)++] = *lr;
        return 0;
}

static int collect_route(struct rtnl_route *rt, struct collect *k) {
        struct wf_live_route lr = {};

        if (rtnl_route_get_type(rt) != RTN_UNICAST)
                return 0;
        if (!nl_to_prefix(rtnl_route_get_dst(rt), rtnl_route_get_family(rt), &lr.dst))
                return 0;
        lr.table = rtnl_route_get_table(rt);
        lr.metric = rtnl_route_get_priority(rt);
        lr.protocol = rtnl_route_get_protocol(rt);
        lr.ifindex = route_oif(rt);
        lr.ours = lr.protocol == WF_RTPROT;
        return collect_live(&lr, k);
}

/* One RTM_NEWROUTE of a dump, read in place (what libnl's parser would make of it: the table
 * from RTA_TABLE or the header, the output interface only for a single path). */
static int collect_msg(const struct nlmsghdr *nlh, struct collect *k) {
        const struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
        struct wf_live_route lr = {};
        const struct nlattr *a;
        size_t alen = rtm->rtm_family == AF_INET ? 4 : 16;

        if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*rtm)))
                return 0;
        if (rtm->rtm_type != RTN_UNICAST || (rtm->rtm_family != AF_INET && rtm->rtm_family != AF_INET6))
                return 0;
        lr.protocol = rtm->rtm_protocol;
        lr.ours = lr.protocol == WF_RTPROT;
        /* Cheap exits before any attribute is read: most of a table is neither. */
        if (lr.ours ? !(k->which & COLLECT_OURS) : !(k->which & COLLECT_FOREIGN) || k->n_want == 0)
                return 0;
        lr.dst.family = rtm->rtm_family;
        lr.dst.len = rtm->rtm_dst_len;
        lr.table = rtm->rtm_table;
        mnl_attr_for_each(a, nlh, sizeof(*rtm)) {
                uint16_t len = mnl_attr_get_payload_len(a);

                switch (mnl_attr_get_type(a)) {
                case RTA_DST:
                        if (len > alen)
                                return 0;
                        memcpy(lr.dst.addr, mnl_attr_get_payload(a), len);
                        break;
                case RTA_TABLE:
                        if (len >= 4)
                                lr.table = mnl_attr_get_u32(a);
                        break;
                case RTA_PRIORITY:
                        if (len >= 4)
                                lr.metric = mnl_attr_get_u32(a);
                        break;
                case RTA_OIF:
                        if (len >= 4)
                                lr.ifindex = (int)mnl_attr_get_u32(a);
                        break;
                case RTA_MULTIPATH: {
                        const struct rtnexthop *nh = mnl_attr_get_payload(a);
                        /* One hop is a single path; more have no single output interface. */
                        lr.ifindex = len >= sizeof(*nh) && nh->rtnh_len >= sizeof(*nh) &&
                                     RTNH_ALIGN(nh->rtnh_len) >= len ? nh->rtnh_ifindex : 0;
                        break;
                }
                default:
                        break;
                }
        }
        return collect_live(&lr, k);
}

/* One RTM_GETROUTE dump the kernel filters by table (0: all), protocol (0: any) and output
 * interface (0: any). A table that does not exist yet is simply empty. An interrupted dump
 * (the table changed meanwhile) is read to its end and reported as -EAGAIN. */
static int dump_filtered(struct route_ctx *c, int family, uint32_t table, uint8_t protocol,
                         int oif, struct collect *k) {
        uint8_t req[256] __attribute__((aligned(NLMSG_ALIGNTO)));
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(req);
        struct rtmsg *rtm;
        uint32_t seq = ++c->dump_seq, portid = mnl_socket_get_portid(c->dump);
        int r = 0;
        bool done = false;

        c->requests++;
        nlh->nlmsg_type = RTM_GETROUTE;
        nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
        nlh->nlmsg_seq = seq;
        rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
        rtm->rtm_family = (uint8_t)family;
        rtm->rtm_table = table < 256 ? (uint8_t)table : RT_TABLE_UNSPEC;
        rtm->rtm_protocol = protocol;
        if (table)
                mnl_attr_put_u32(nlh, RTA_TABLE, table);
        if (oif)
                mnl_attr_put_u32(nlh, RTA_OIF, (uint32_t)oif);
        if (mnl_socket_sendto(c->dump, nlh, nlh->nlmsg_len) < 0)
                return -errno;
        while (!done) {
                ssize_t n = mnl_socket_recvfrom(c->dump, c->dump_buf, DUMP_BUF_SIZE);
                int len;

                if (n < 0)
                        return -errno;
                len = (int)n;
                for (const struct nlmsghdr *h = (const void *)c->dump_buf; mnl_nlmsg_ok(h, len);
                     h = mnl_nlmsg_next(h, &len)) {
                        if (h->nlmsg_seq != seq || (h->nlmsg_pid && h->nlmsg_pid != portid))
                                continue; /* not this request's */
                        if (h->nlmsg_flags & NLM_F_DUMP_INTR)
                                r = r < 0 ? r : -EAGAIN;
                        if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) {
                                const int *err = mnl_nlmsg_get_payload(h);
                                if (h->nlmsg_len >= NLMSG_LENGTH(sizeof(int)) && *err < 0 && r >= 0)
                                        r = *err;
                                done = true;
                                break;
                        }
                        if (h->nlmsg_type == RTM_NEWROUTE && r >= 0 && k->error >= 0)
                                k->error = collect_msg(h, k);
                }
        }
        if (k->error < 0)
                return k->error;
        return r == -ENOENT ? 0 : r;
}

int route_list(struct route_ctx *c, int ifindex, uint32_t table, const struct wf_prefix *want,
               size_t n_want, struct wf_live_route **routes, size_t *n_routes, struct wf_err *e) {
        struct collect k = {
                .ifindex = ifindex, .table = table, .want = want, .n_want = n_want,
                .which = COLLECT_OURS | COLLECT_FOREIGN,
                .routes = routes, .n_routes = n_routes, .cap = *n_routes,
        };
        static const int families[] = { AF_INET, AF_INET6 };
        size_t n0 = *n_routes;
        int r;

        if (c->dump) {
                r = 0;
                for (size_t i = 0; r >= 0 && i < ELEMENTSOF(families); i++) {
                        k.which = COLLECT_OURS;
                        r = dump_filtered(c, families[i], 0, WF_RTPROT, ifindex, &k);
                        if (r >= 0 && n_want > 0) {
                                k.which = COLLECT_FOREIGN;
                                r = dump_filtered(c, families[i], table, 0, 0, &k);
                        }
                }
                if (r >= 0)
                        return 0;
                if (r == -ENOMEM)
                        return r;
                /* A kernel that refuses the filtered form: fall back to one full dump. */
                *n_routes = n0;
                k.which = COLLECT_OURS | COLLECT_FOREIGN;
        }

        _cleanup_(nl_cache_freep) struct nl_cache *cache = NULL;
        c->requests++;
        r = rtnl_route_alloc_cache(c->sk, AF_UNSPEC, 0, &cache);
        if (r < 0)
                return nl_fail(e, r, "dump routes");
        for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
                r = collect_route((struct rtnl_route *)o, &k);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int route_build(int ifindex, const struct wf_prefix *dst, uint32_t table, uint32_t metric,
                       struct rtnl_route **ret) {
        _cleanup_(rtnl_route_putp) struct rtnl_route *rt = rtnl_route_alloc();
        _cleanup_(nl_addr_putp) struct nl_addr *a = prefix_to_nl(dst);
        struct rtnl_nexthop *nh;
        int r;

        if (!rt || !a)
                return -ENOMEM;
        r = rtnl_route_set_family(rt, (uint8_t)dst->family);
        if (r < 0)
                return nlerr_to_errno(r);
        r = rtnl_route_set_dst(rt, a);
        if (r < 0)
                return nlerr_to_errno(r);
        rtnl_route_set_table(rt, table);
        rtnl_route_set_protocol(rt, WF_RTPROT);
        rtnl_route_set_priority(rt, metric);
        rtnl_route_set_scope(rt, RT_SCOPE_LINK);
        (void)rtnl_route_set_type(rt, RTN_UNICAST);
        nh = rtnl_route_nh_alloc();
        if (!nh)
                return -ENOMEM;
        rtnl_route_nh_set_ifindex(nh, ifindex);
        rtnl_route_add_nexthop(rt, nh); /* takes nh */
        *ret = TAKE_PTR(rt);
        return 0;
}

int route_add(struct route_ctx *c, int ifindex, const struct wf_prefix *dst, uint32_t table,
              uint32_t metric, struct wf_err *e) {
        _cleanup_(rtnl_route_putp) struct rtnl_route *rt = NULL;
        char buf[64];
        int r;

        r = route_build(ifindex, dst, table, metric, &rt);
        if (r < 0)
                return r;
        c->requests++;
        r = rtnl_route_add(c->sk, rt, NLM_F_CREATE | NLM_F_EXCL);
        if (r < 0) {
                wf_prefix_format(dst, buf);
                return wf_err_set(e, nlerr_to_errno(r), "add route %s table %u metric %u: %s", buf,
                                  table, metric, nl_geterror(r));
        }
        return 0;
}

int route_del(struct route_ctx *c, const struct wf_live_route *lr, struct wf_err *e) {
        _cleanup_(rtnl_route_putp) struct rtnl_route *rt = NULL;
        char buf[64];
        int r;

        wf_prefix_format(&lr->dst, buf);
        if (lr->protocol != WF_RTPROT)
                return wf_err_set(e, -EPERM, "route %s has protocol %u, not ours (%d)", buf,
                                  lr->protocol, WF_RTPROT);
        r = route_build(lr->ifindex, &lr->dst, lr->table, lr->metric, &rt);
        if (r < 0)
                return r;
        c->requests++;
        r = rtnl_route_delete(c->sk, rt, 0);
        if (r < 0) {
                r = nlerr_to_errno(r);
                if (r == -ESRCH || r == -ENOENT)
                        return 0; /* already gone: the goal is reached */
                return wf_err_set(e, r, "delete route %s table %u metric %u: %s", buf, lr->table,
                                  lr->metric, strerror(-r));
        }
        return 0;
}

/* The kernel gives tunnels an IPv6 link-local address by itself; unless the document asks for
 * one, it is not ours to add or remove. */
static bool addr_is_foreign_ll(const struct wf_prefix *p, const struct wf_iface *desired) {
        if (p->family != AF_INET6 || p->addr[0] != 0xfe || (p->addr[1] & 0xc0) != 0x80)
                return false;
        for (size_t i = 0; desired && i < desired->n_addresses; i++)
                if (wf_prefix_equal(&desired->addresses[i], p) &&
                    memcmp(desired->addresses[i].addr, p->addr, 16) == 0)
                        return false;
        return true;
}

int route_observe(struct route_ctx *c, const char *ifname, const struct wf_iface *desired,
                  struct wf_live_iface *live, struct wf_err *e) {
        _cleanup_free_ struct wf_prefix *want = NULL, *addrs = NULL;
        struct route_link l;
        size_t n_want = 0, n_addrs = 0, k = 0;
        int r;

        r = route_link_get(c, ifname, &l, e);
        if (r == -ENODEV) {
                live->exists = false;
                return 0;
        }
        if (r < 0)
                return r;
        live->exists = true;
        live->ifindex = l.ifindex;
        live->up = l.up;
        live->mtu = l.mtu;

        r = route_addr_list(c, l.ifindex, &addrs, &n_addrs, e);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n_addrs; i++)
                if (!addr_is_foreign_ll(&addrs[i], desired))
                        addrs[k++] = addrs[i];
        free(live->addresses);
        live->addresses = TAKE_PTR(addrs);
        live->n_addresses = k;

        if (desired) {
                r = wf_iface_routes_wanted(desired, &want, &n_want);
                if (r < 0)
                        return r;
        }
        return route_list(c, l.ifindex, desired ? desired->route_table : RT_TABLE_MAIN, want,
                          n_want, &live->routes, &live->n_routes, e);
}

int route_apply(struct route_ctx *c, const char *ifname, const struct route_change *ch, size_t n,
                struct wf_err *e) {
        struct route_link l;
        int r;

        r = route_link_get(c, ifname, &l, e);
        if (r == -ENODEV)
                return wf_err_set(e, r, "link %s does not exist", ifname);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                const struct route_change *x = &ch[i];

                switch (x->kind) {
                case ROUTE_CHANGE_LINK:
                        r = route_link_set(c, l.ifindex, x->mtu, x->up, e);
                        break;
                case ROUTE_CHANGE_ADDR_DEL:
                        r = route_addr_del(c, l.ifindex, &x->prefix, e);
                        break;
                case ROUTE_CHANGE_ADDR_ADD:
                        r = route_addr_add(c, l.ifindex, &x->prefix, e);
                        break;
                case ROUTE_CHANGE_ROUTE_ADD:
                        r = route_add(c, l.ifindex, &x->prefix, x->table, x->metric, e);
                        break;
                case ROUTE_CHANGE_ROUTE_DEL:
                        r = x->live ? route_del(c, x->live, e) : 0;
                        break;
                default:
                        r = 0;
                }
                if (r < 0)
                        return r;
        }
        return 0;
}

uint64_t route_ctx_requests(const struct route_ctx *c) {
        return c->requests;
}

struct nl_sock *route_ctx_sock(struct route_ctx *c) {
        return c->sk;
}
