/* SPDX-License-Identifier: MIT */
#pragma once

/* route: links, addresses and routes through libnl-route-3 (rtnetlink), shared by the linux and
 * uapi backends. One context holds the netlink socket (no globals); it works in the network
 * namespace of the thread that created it. Routes the agent owns carry protocol WF_RTPROT and
 * are bound to the WireGuard interface (oif); routes with any other protocol are never changed. */

#include <stdbool.h>
#include <stdint.h>

#include "model.h"
#include "util.h"

struct route_ctx;

int route_ctx_new(struct route_ctx **ret, struct wf_err *e);
struct route_ctx *route_ctx_free(struct route_ctx *c); /* takes NULL, returns NULL */

/* The context's rtnetlink socket (borrowed), for route-rule.c. */
struct nl_sock;
struct nl_sock *route_ctx_sock(struct route_ctx *c);

/* rtnetlink requests (dumps and changes) this context has sent: the agent's metrics. */
uint64_t route_ctx_requests(const struct route_ctx *c);

static inline void route_ctx_freep(struct route_ctx **c) { route_ctx_free(*c); }
#define _cleanup_route_ctx_ _cleanup_(route_ctx_freep)

struct route_link {
        int ifindex;
        bool up;
        uint32_t mtu;
};

/* -ENODEV when the link does not exist. */
int route_link_get(struct route_ctx *c, const char *ifname, struct route_link *ret, struct wf_err *e);
/* Sets the MTU (0: leave as is) and brings the link up when up is true. */
int route_link_set(struct route_ctx *c, int ifindex, uint32_t mtu, bool up, struct wf_err *e);

/* Addresses on ifindex (host bits kept, e.g. 10.0.0.1/24); malloc'd array. Link-local IPv6
 * addresses the kernel adds by itself are left out: they are not the agent's to manage. */
int route_addr_list(struct route_ctx *c, int ifindex, struct wf_prefix **ret, size_t *ret_n,
                    struct wf_err *e);
int route_addr_add(struct route_ctx *c, int ifindex, const struct wf_prefix *p, struct wf_err *e);
int route_addr_del(struct route_ctx *c, int ifindex, const struct wf_prefix *p, struct wf_err *e);

/* Routes relevant to one interface: every route with protocol WF_RTPROT whose output interface is
 * ifindex (any table; ours = true), plus every route with another protocol in table whose
 * destination equals one of want[] (ours = false: conflicts to report). Appends to *routes. */
int route_list(struct route_ctx *c, int ifindex, uint32_t table, const struct wf_prefix *want,
               size_t n_want, struct wf_live_route **routes, size_t *n_routes, struct wf_err *e);
/* Adds dst via ifindex (scope link, protocol WF_RTPROT) in table with metric. */
int route_add(struct route_ctx *c, int ifindex, const struct wf_prefix *dst, uint32_t table,
              uint32_t metric, struct wf_err *e);
/* Deletes one route we own (refuses with -EPERM when r->protocol is not WF_RTPROT). */
int route_del(struct route_ctx *c, const struct wf_live_route *r, struct wf_err *e);

/* Fills the link part of an observation: exists, ifindex, up, mtu, addresses and routes (ours,
 * plus foreign ones to the destinations desired wants, wf_iface_routes_wanted; desired may be
 * NULL). */
int route_observe(struct route_ctx *c, const char *ifname, const struct wf_iface *desired,
                  struct wf_live_iface *live, struct wf_err *e);

/* One change to a link, its addresses or its routes (plan-change.c makes them from a plan). */
enum route_change_kind {
        ROUTE_CHANGE_LINK,       /* mtu (0: leave as is), up */
        ROUTE_CHANGE_ADDR_ADD,   /* prefix */
        ROUTE_CHANGE_ADDR_DEL,
        ROUTE_CHANGE_ROUTE_ADD,  /* prefix via the link, in table with metric */
        ROUTE_CHANGE_ROUTE_DEL,  /* live: one route we own */
};

struct route_change {
        enum route_change_kind kind;
        struct wf_prefix prefix;
        uint32_t mtu;
        bool up;
        uint32_t table, metric;
        const struct wf_live_route *live; /* borrowed */
};

/* Executes changes on ifname (which must exist by now), in the order given: link state and
 * addresses before routes (a route with a source hint finds its address), new routes before old
 * ones go (a route moving table or metric never has a gap). */
int route_apply(struct route_ctx *c, const char *ifname, const struct route_change *ch, size_t n,
                struct wf_err *e);
