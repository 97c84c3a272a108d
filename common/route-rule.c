/* SPDX-License-Identifier: MIT */
/* libnl-route-3's rtnl_rule has no invert flag nor suppress_prefixlength, so rules are built and
 * parsed here as raw fib_rule messages on the route context's socket. */
#include <stdlib.h>
#include <string.h>

#include <linux/fib_rules.h>
#include <linux/rtnetlink.h>
#include <netlink/attr.h>
#include <netlink/errno.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>

#include "route-rule.h"

#define NO_SUPPRESS UINT32_MAX

struct rule {
        int family;
        uint8_t dst[16], dst_len;
        uint8_t src[16], src_len;
        uint32_t prio, table, mark, mask, suppress;
        bool invert;
        uint8_t protocol;
};

struct rules {
        struct rule *v;
        size_t n, cap;
        int err;
};

static bool rules_push(struct rules *rs, const struct rule *r) {
        if (rs->n == rs->cap) {
                size_t nc = rs->cap ? rs->cap * 2 : 8;
                struct rule *x = realloc(rs->v, nc * sizeof(*x));
                if (!x)
                        return false;
                rs->v = x;
                rs->cap = nc;
        }
        rs->v[rs->n++] = *r;
        return true;
}

static bool rule_equal(const struct rule *a, const struct rule *b) {
        return a->family == b->family && a->prio == b->prio && a->table == b->table &&
               a->mark == b->mark && a->mask == b->mask && a->suppress == b->suppress &&
               a->invert == b->invert && a->dst_len == b->dst_len &&
               memcmp(a->dst, b->dst, sizeof(a->dst)) == 0 && a->src_len == b->src_len &&
               memcmp(a->src, b->src, sizeof(a->src)) == 0;
}

static int rule_parse(struct nl_msg *msg, void *arg) {
        struct rules *rs = arg;
        struct nlmsghdr *h = nlmsg_hdr(msg);
        struct nlattr *tb[FRA_MAX + 1];
        struct fib_rule_hdr *frh;
        struct rule r = { .suppress = NO_SUPPRESS };

        if (h->nlmsg_type != RTM_NEWRULE || nlmsg_parse(h, sizeof(*frh), tb, FRA_MAX, NULL) < 0)
                return NL_SKIP;
        frh = nlmsg_data(h);
        if (!tb[FRA_PROTOCOL] || nla_get_u8(tb[FRA_PROTOCOL]) != WF_RTPROT)
                return NL_SKIP;
        r.family = frh->family;
        r.dst_len = frh->dst_len;
        if (tb[FRA_DST] && nla_len(tb[FRA_DST]) <= (int)sizeof(r.dst))
                memcpy(r.dst, nla_data(tb[FRA_DST]), (size_t)nla_len(tb[FRA_DST]));
        r.src_len = frh->src_len;
        if (tb[FRA_SRC] && nla_len(tb[FRA_SRC]) <= (int)sizeof(r.src))
                memcpy(r.src, nla_data(tb[FRA_SRC]), (size_t)nla_len(tb[FRA_SRC]));
        r.protocol = WF_RTPROT;
        r.invert = frh->flags & FIB_RULE_INVERT;
        r.table = tb[FRA_TABLE] ? nla_get_u32(tb[FRA_TABLE]) : frh->table;
        r.prio = tb[FRA_PRIORITY] ? nla_get_u32(tb[FRA_PRIORITY]) : 0;
        r.mark = tb[FRA_FWMARK] ? nla_get_u32(tb[FRA_FWMARK]) : 0;
        r.mask = tb[FRA_FWMASK] ? nla_get_u32(tb[FRA_FWMASK]) : 0;
        if (tb[FRA_SUPPRESS_PREFIXLEN])
                r.suppress = nla_get_u32(tb[FRA_SUPPRESS_PREFIXLEN]);
        if (!rules_push(rs, &r))
                rs->err = -ENOMEM;
        return NL_OK;
}

static int rules_dump(struct nl_sock *sk, int family, struct rules *rs, struct wf_err *e) {
        struct fib_rule_hdr frh = { .family = (uint8_t)family };
        struct nl_cb *cb;
        int r;

        r = nl_send_simple(sk, RTM_GETRULE, NLM_F_DUMP, &frh, sizeof(frh));
        if (r < 0)
                return wf_err_set(e, -EIO, "rule dump: %s", nl_geterror(r));
        cb = nl_cb_alloc(NL_CB_DEFAULT);
        if (!cb)
                return -ENOMEM;
        nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, rule_parse, rs);
        r = nl_recvmsgs(sk, cb);
        nl_cb_put(cb);
        if (r < 0)
                return wf_err_set(e, -EIO, "rule dump: %s", nl_geterror(r));
        return rs->err;
}

static int rule_change(struct nl_sock *sk, const struct rule *ru, bool add, struct wf_err *e) {
        struct fib_rule_hdr frh = {
                .family = (uint8_t)ru->family,
                .dst_len = ru->dst_len,
                .src_len = ru->src_len,
                .action = FR_ACT_TO_TBL,
                .table = ru->table < 256 ? (uint8_t)ru->table : RT_TABLE_UNSPEC,
                .flags = ru->invert ? FIB_RULE_INVERT : 0,
        };
        struct nl_msg *msg;
        int r;

        msg = nlmsg_alloc_simple(add ? RTM_NEWRULE : RTM_DELRULE, add ? NLM_F_CREATE | NLM_F_EXCL : 0);
        if (!msg)
                return -ENOMEM;
        if (nlmsg_append(msg, &frh, sizeof(frh), NLMSG_ALIGNTO) < 0 ||
            nla_put_u32(msg, FRA_PRIORITY, ru->prio) < 0 ||
            nla_put_u32(msg, FRA_TABLE, ru->table) < 0 ||
            (ru->dst_len && nla_put(msg, FRA_DST, ru->family == AF_INET ? 4 : 16, ru->dst) < 0) ||
            (ru->src_len && nla_put(msg, FRA_SRC, ru->family == AF_INET ? 4 : 16, ru->src) < 0) ||
            (ru->mark && (nla_put_u32(msg, FRA_FWMARK, ru->mark) < 0 ||
                          nla_put_u32(msg, FRA_FWMASK, ru->mask) < 0)) ||
            (ru->suppress != NO_SUPPRESS && nla_put_u32(msg, FRA_SUPPRESS_PREFIXLEN, ru->suppress) < 0) ||
            nla_put_u8(msg, FRA_PROTOCOL, WF_RTPROT) < 0) {
                nlmsg_free(msg);
                return -ENOMEM;
        }
        r = nl_send_auto(sk, msg);
        nlmsg_free(msg);
        if (r >= 0)
                r = nl_wait_for_ack(sk);
        if (r < 0 && !(add && r == -NLE_EXIST))
                return wf_err_set(e, r == -NLE_PERM || r == -NLE_NOACCESS ? -EPERM : -EIO,
                                  "%s rule %s%s fwmark 0x%x table %u priority %u: %s",
                                  add ? "add" : "delete", ru->family == AF_INET ? "-4" : "-6",
                                  ru->invert ? " not" : "", ru->mark, ru->table, ru->prio, nl_geterror(r));
        return 0;
}

static bool is_suppress(const struct rule *r) {
        return r->suppress != NO_SUPPRESS && r->mark == 0;
}

static int sync_rules(struct nl_sock *sk, int family, const struct exit_route *want, size_t n,
                      const struct wf_prefix *mgmt, size_t n_mgmt, bool dry_run, size_t *changes,
                      struct wf_err *e) {
        _cleanup_free_ struct rule *desired = NULL;
        struct rules have = {};
        size_t nd = 0, cap = n + n_mgmt + 1;
        int r;

        for (size_t i = 0; i < n; i++)
                cap += want[i].n_sources;
        desired = calloc(cap, sizeof(*desired));
        if (!desired)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                if (!(family == AF_INET ? want[i].v4 : want[i].v6))
                        continue;
                /* With exit_sources only the LAN behind the node goes to the exit: the node's own
                 * traffic (and WireGuard's, from the underlay address) keeps main's default. */
                for (size_t s = 0; s < (want[i].n_sources ? want[i].n_sources : 1); s++) {
                        struct rule m = { .family = family, .prio = EXIT_RULE_PRIO_MARK, .table = want[i].mark,
                                          .mark = want[i].mark, .mask = UINT32_MAX, .invert = true,
                                          .suppress = NO_SUPPRESS };
                        bool dup = false;

                        if (want[i].n_sources) {
                                const struct wf_prefix *src = &want[i].sources[s];
                                if (src->family != family)
                                        continue;
                                m.mark = m.mask = 0;
                                m.invert = false;
                                m.src_len = src->len;
                                memcpy(m.src, src->addr, family == AF_INET ? 4 : 16);
                        }
                        for (size_t k = 0; k < nd; k++)
                                dup |= rule_equal(&desired[k], &m);
                        if (!dup)
                                desired[nd++] = m;
                }
        }
        for (size_t i = 0; nd > 0 && i < n_mgmt; i++) {
                if (mgmt[i].family != family)
                        continue;
                struct rule m = { .family = family, .prio = EXIT_RULE_PRIO_MGMT, .table = RT_TABLE_MAIN,
                                  .suppress = NO_SUPPRESS, .dst_len = mgmt[i].len };
                memcpy(m.dst, mgmt[i].addr, family == AF_INET ? 4 : 16);
                bool dup = false;
                for (size_t k = 0; k < nd; k++)
                        dup |= rule_equal(&desired[k], &m);
                if (!dup)
                        desired[nd++] = m;
        }
        r = rules_dump(sk, family, &have, e);
        if (r < 0) {
                free(have.v);
                /* A kernel without policy routing (or IPv6) holds no rules of ours either:
                 * only a wanted rule makes that an error. */
                if (nd == 0 && r != -ENOMEM) {
                        if (e)
                                e->msg[0] = '\0';
                        return 0;
                }
                return r;
        }
        /* The kernel reports an absent suppress_prefixlength as -1, absent marks as 0. */
        struct rule sup = { .family = family, .prio = EXIT_RULE_PRIO_SUPPRESS, .table = RT_TABLE_MAIN,
                            .suppress = 0 };
        /* Suppress first, so a mark rule never sees traffic the main table should keep. */
        struct rule *order = calloc(nd + 2, sizeof(*order));
        size_t no = 0;
        if (!order) {
                free(have.v);
                return -ENOMEM;
        }
        if (nd > 0)
                order[no++] = sup;
        for (size_t k = 0; k < nd; k++)
                order[no++] = desired[k];
        /* Deletions of stale mark rules first, then additions; the suppress rule goes last when
         * the exits are gone. */
        for (size_t i = 0; r >= 0 && i < have.n; i++) {
                bool keep = false;
                for (size_t k = 0; k < no; k++)
                        keep |= rule_equal(&have.v[i], &order[k]);
                if (keep || is_suppress(&have.v[i]))
                        continue;
                (*changes)++;
                if (!dry_run)
                        r = rule_change(sk, &have.v[i], false, e);
        }
        for (size_t k = 0; r >= 0 && k < no; k++) {
                bool present = false;
                for (size_t i = 0; i < have.n; i++)
                        present |= rule_equal(&have.v[i], &order[k]);
                if (present)
                        continue;
                (*changes)++;
                if (!dry_run)
                        r = rule_change(sk, &order[k], true, e);
        }
        for (size_t i = 0; r >= 0 && i < have.n; i++) {
                if (!is_suppress(&have.v[i]) ||
                    (no > 0 && rule_equal(&have.v[i], &sup)))
                        continue;
                (*changes)++;
                if (!dry_run)
                        r = rule_change(sk, &have.v[i], false, e);
        }
        free(order);
        free(have.v);
        return r;
}

static int sync_default_routes(struct route_ctx *c, const struct exit_route *w, bool dry_run,
                               size_t *changes, struct wf_err *e) {
        struct wf_live_route *routes = NULL;
        size_t n_routes = 0;
        struct route_link l;
        bool have4 = false, have6 = false;
        int r;

        r = route_link_get(c, w->ifname, &l, e);
        if (r == -ENODEV)
                return 0;
        if (r < 0)
                return r;
        r = route_list(c, l.ifindex, 0, NULL, 0, &routes, &n_routes, e);
        if (r < 0)
                goto out;
        for (size_t i = 0; i < n_routes; i++) {
                const struct wf_live_route *lr = &routes[i];
                bool want;

                if (!lr->ours || lr->dst.len != 0)
                        continue;
                want = (lr->dst.family == AF_INET ? w->v4 : w->v6) && lr->table == w->mark &&
                       lr->metric == w->metric;
                if (want) {
                        if (lr->dst.family == AF_INET)
                                have4 = true;
                        else
                                have6 = true;
                        continue;
                }
                (*changes)++;
                if (!dry_run && (r = route_del(c, lr, e)) < 0)
                        goto out;
        }
        for (int f = 0; f < 2; f++) {
                struct wf_prefix dflt = { .family = f == 0 ? AF_INET : AF_INET6 };
                if (!(f == 0 ? w->v4 && !have4 : w->v6 && !have6))
                        continue;
                (*changes)++;
                if (!dry_run && (r = route_add(c, l.ifindex, &dflt, w->mark, w->metric, e)) < 0)
                        goto out;
        }
out:
        for (size_t i = 0; i < n_routes; i++)
                free(routes[i].backend_id);
        free(routes);
        return r;
}

int route_exit_sync(struct route_ctx *c, const struct exit_route *want, size_t n,
                    const struct wf_prefix *mgmt, size_t n_mgmt, bool dry_run,
                    size_t *ret_changes, struct wf_err *e) {
        struct nl_sock *sk = route_ctx_sock(c);
        size_t changes = 0;
        int r;

        /* Routes first: a mark rule then never points at an empty table for long. */
        for (size_t i = 0; i < n; i++) {
                if (!want[i].check_routes)
                        continue;
                r = sync_default_routes(c, &want[i], dry_run, &changes, e);
                if (r < 0)
                        return r;
        }
        r = sync_rules(sk, AF_INET, want, n, mgmt, n_mgmt, dry_run, &changes, e);
        if (r >= 0)
                r = sync_rules(sk, AF_INET6, want, n, mgmt, n_mgmt, dry_run, &changes, e);
        if (r < 0)
                return r;
        *ret_changes = changes;
        return 0;
}
