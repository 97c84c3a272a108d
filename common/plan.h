/* SPDX-License-Identifier: MIT */
#pragma once

/* plan: a pure function (target, live) -> operations. No I/O; every backend uses it. */

#include <stdio.h>

#include "model.h"

struct gw_rule;
struct gw_sysctl;

/* A desired peer made concrete for one apply: endpoint resolved, preshared key loaded. */
struct plan_peer {
        const struct wf_peer *peer;      /* borrowed from the document */
        bool has_preshared_key;
        uint8_t preshared_key[WF_KEY_LEN];
        /* ss_family == 0 and endpoint_keep: a DNS name that did not resolve: leave the live
         * endpoint as it is. ss_family == 0 and !endpoint_keep: no endpoint in the document. */
        struct sockaddr_storage endpoint;
        bool endpoint_keep;
        /* Its configuration could not be built (e.g. an unreadable preshared key file): leave
         * the live peer exactly as it is, neither add, update nor remove it. */
        bool hold;
};

struct plan_target {
        const struct wf_iface *iface;    /* borrowed */
        bool has_private_key;
        uint8_t private_key[WF_KEY_LEN]; /* never printed */
        uint8_t public_key[WF_KEY_LEN];
        struct plan_peer *peers;         /* same order as iface->peers */
        size_t n_peers;
        /* Data planes that pick a route by metric alone (RouterOS distance) let a foreign route
         * below ours win: one to a wanted destination with a metric below route_demote_below is
         * demoted to route_demote_to (PLAN_ROUTE_DEMOTE), and put back once that destination is
         * no longer wanted (PLAN_ROUTE_RESTORE). 0: never (the kernel's routes). */
        uint32_t route_demote_below, route_demote_to;
};

enum plan_op_kind {
        PLAN_IFACE_CREATE,  /* create the link */
        PLAN_IFACE_SET,     /* device attributes: see fields */
        PLAN_ADDR_ADD,
        PLAN_ADDR_DEL,
        PLAN_PEER_ADD,
        PLAN_PEER_UPDATE,   /* in place; only the flagged fields */
        PLAN_PEER_REMOVE,
        PLAN_ROUTE_ADD,
        PLAN_ROUTE_DEL,     /* only routes we own */
        PLAN_ROUTE_CONFLICT, /* report only: a foreign route to the same destination */
        PLAN_ROUTE_DEMOTE,   /* a foreign route that would win: metric to route_demote_to */
        PLAN_ROUTE_RESTORE,  /* a foreign route we demoted, no longer in the way: metric back */
        /* gateway (host-wide, common/gateway.c): op->gw_rule / op->gw_sysctl */
        PLAN_GW_TABLE_DEL,   /* the agent's whole table */
        PLAN_GW_RULE_DEL,
        PLAN_GW_RULE_ADD,
        PLAN_GW_SYSCTL_SET,  /* the value found is saved first, for clear */
        PLAN_GW_SYSCTL_RESTORE, /* back to the value found before the first set */
        _PLAN_OP_MAX,
};

enum {
        PLAN_SET_PRIVATE_KEY = 1 << 0,
        PLAN_SET_LISTEN_PORT = 1 << 1,
        PLAN_SET_FWMARK = 1 << 2,
        PLAN_SET_MTU = 1 << 3,
        PLAN_SET_UP = 1 << 4,
};

enum {
        PLAN_PEER_ENDPOINT = 1 << 0,
        PLAN_PEER_KEEPALIVE = 1 << 1,
        PLAN_PEER_PRESHARED_KEY = 1 << 2,
        PLAN_PEER_ALLOWED_IPS_ADD = 1 << 3,  /* add allowed_ips_add incrementally */
        PLAN_PEER_ALLOWED_IPS_REPLACE = 1 << 4, /* some must go: replace with the full list */
};

struct plan_op {
        enum plan_op_kind kind;
        unsigned flags;                  /* PLAN_SET_* or PLAN_PEER_* */
        const struct plan_peer *peer;    /* borrowed from the target (add/update) */
        const struct wf_live_peer *live_peer; /* borrowed from the live state (update/remove) */
        struct wf_prefix prefix;         /* address or route destination */
        const struct wf_live_route *live_route; /* borrowed (route del/conflict/demote/restore) */
        struct wf_prefix *allowed_ips_add; /* owned: the ones to add (PLAN_PEER_ALLOWED_IPS_ADD) */
        size_t n_allowed_ips_add;
        /* owned: with PLAN_PEER_ALLOWED_IPS_REPLACE, the live prefixes no desired peer keeps; a
         * backend that can remove single prefixes (WGALLOWEDIP_F_REMOVE_ME) removes these and
         * adds allowed_ips_add instead of replacing the whole list. */
        struct wf_prefix *allowed_ips_del;
        size_t n_allowed_ips_del;
        const char *peer_name;           /* borrowed: for display */
        const struct gw_rule *gw_rule;   /* borrowed (PLAN_GW_RULE_*) */
        const struct gw_sysctl *gw_sysctl; /* borrowed: the wanted or saved value */
        const struct gw_sysctl *gw_live_sysctl; /* borrowed: the value found (NULL: unknown) */
};

struct plan {
        char *iface;                     /* owned copy of the interface name */
        uint32_t route_table, route_metric; /* the target's, for PLAN_ROUTE_ADD */
        uint32_t route_demote_to;        /* the target's, for PLAN_ROUTE_DEMOTE */
        struct plan_op *ops;
        size_t n_ops;
};

/* Computes the operations that turn live into target. Order is execution order: create, set,
 * address del/add, peer add, add-only peer updates, updates that drop allowed IPs, peer removes,
 * per wanted destination: conflicts, demotions, then our route add; then route del (ours only)
 * and restores of foreign routes we demoted. PLAN_PEER_ADD carries the peer's full allowed-IP
 * list in op->peer; a prefix that moves to another peer is not dropped from the old one (adding
 * it to the new one moves it), so no prefix is ever left without a peer. A foreign route with the
 * same destination, table and metric blocks our route (the kernel holds one): conflict only,
 * unless it is demoted (see route_demote_below).
 * live may describe a missing interface (exists == false). Returns 0 or -ENOMEM. target and
 * live must outlive the plan. */
int plan_compute(const struct plan_target *target, const struct wf_live_iface *live, struct plan *ret);
void plan_done(struct plan *p);
/* Number of operations that change something (conflicts are reports, not changes; a demotion
 * or a restore is a change). */
size_t plan_changes(const struct plan *p);
/* One line per operation, e.g. "wg0: update peer site-b [KEY] (endpoint 192.0.2.1:51820)";
 * conflicts as "wg0: conflict: foreign route ... left alone". */
void plan_print_text(const struct plan *p, FILE *f);
/* Appends the ops that change something to a JSON array (json_t *, from jansson) as objects
 * {"op", "interface", ...}; an empty array means live already matches. Conflicts are not
 * changes: plan_conflicts_to_json appends those ({"op": "route_conflict", "dst", "protocol"...}). */
struct json_t;
int plan_to_json(const struct plan *p, struct json_t *array);
int plan_conflicts_to_json(const struct plan *p, struct json_t *array);
const char *plan_op_kind_to_string(enum plan_op_kind k);
/* The metric a PLAN_ROUTE_DEMOTE or PLAN_ROUTE_RESTORE sets (0 for other operations). */
uint32_t plan_op_metric_to(const struct plan *p, const struct plan_op *op);
