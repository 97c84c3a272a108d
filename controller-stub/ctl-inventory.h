/* SPDX-License-Identifier: MIT */
#pragma once

/* The fleet inventory (docs/inventory.md): one WireGuard network ("wan") and its nodes. Parsing
 * is pure (JSON text in, struct out) so the tests feed it directly. */

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "model.h"
#include "util.h"

enum ctl_topology {
        CTL_TOPOLOGY_MESH,
        CTL_TOPOLOGY_HUB_SPOKE,
};

struct ctl_subnet {
        struct wf_prefix prefix;
        bool routed;
        bool auto_nat;            /* translated from wan.nat_pool when it overlaps another node's */
        bool has_nat;
        struct wf_prefix nat;     /* "nat": the translated prefix, given */
};

/* nodes[].services[] (docs/inventory.md): published at address (allocated from
 * wan.services_cidr unless given), forwarded to target:target_port. */
struct ctl_service {
        char *name;
        int protocol;             /* IPPROTO_TCP, IPPROTO_UDP */
        uint16_t port;
        bool has_address;
        struct wf_prefix address; /* host prefix */
        struct wf_prefix target;  /* host prefix */
        uint16_t target_port;
};

struct ctl_node {
        char *name;
        bool hub;
        char *endpoint;           /* "host:port", NULL: behind CGNAT */
        char **endpoint_alt;      /* alternates, "host:port" */
        size_t n_endpoint_alt;
        struct wf_prefix *exit_sources; /* only these sources take the exits it peers */
        size_t n_exit_sources;
        bool has_public_key;
        uint8_t public_key[32];
        bool has_tunnel_ip;
        struct wf_prefix tunnel_ip; /* host address, len = 32/128 */
        bool has_tunnel_ip6;
        struct wf_prefix tunnel_ip6; /* in tunnel_cidr6 */
        struct ctl_subnet *subnets;
        size_t n_subnets;
        char *backend;            /* informational: linux, uapi, routeros */
        char *iface;              /* interface name (node override or wan.interface) */
        uint16_t listen_port;     /* node override or wan.listen_port */
        struct ctl_service *services;
        size_t n_services;
        char *exit_out;           /* exit.out_interface, NULL: not an exit */
        bool agent;               /* "agent": false: a phone or laptop, served a wg-quick configuration */
};

/* The inventory's "rollout" object: health-gated waves (docs/rollout.md). */
struct ctl_rollout_cfg {
        bool enabled;             /* a "rollout" key is present */
        json_t *waves;            /* owned: array of non-empty arrays of node names or fnmatch patterns */
        uint32_t settle, deadline; /* s */
};

struct ctl_inventory {
        char *name;
        struct wf_prefix tunnel_cidr;
        bool has_tunnel_cidr6;
        struct wf_prefix tunnel_cidr6; /* optional second (IPv6) range: dual-stack tunnels */
        enum ctl_topology topology;
        char *iface;
        uint16_t listen_port;
        uint32_t validity_days;   /* expires_at = issued_at + validity, default 30 */
        uint32_t poll_interval;   /* s, the agents' poll interval (staleness), default 30 */
        uint32_t keepalive;       /* persistent_keepalive for nodes behind CGNAT, default 25 */
        uint32_t mtu;             /* 0: absent */
        char *route_table;        /* NULL: absent; "main" or a table number as text */
        bool route_table_numeric;
        uint32_t route_metric;    /* 0: absent */
        char *exit_policy;        /* "latency", "manual", NULL: absent */
        char *exit_primary;       /* an exit node's name, NULL: absent */
        bool has_services_cidr;
        struct wf_prefix services_cidr;
        struct wf_prefix nat_pool;  /* default 172.16.0.0/12 */
        struct ctl_node *nodes;
        size_t n_nodes;
        json_t *index; /* name -> position in nodes (the first of a name); NULL: search */
        struct ctl_rollout_cfg rollout;
};

#define CTL_DEFAULT_PORT 51820
#define CTL_DEFAULT_VALIDITY_DAYS 30
#define CTL_DEFAULT_POLL_INTERVAL 30
#define CTL_DEFAULT_KEEPALIVE 25
#define CTL_ROLLOUT_SETTLE 60
#define CTL_ROLLOUT_DEADLINE 600

/* Parses and checks an inventory. Errors (-EINVAL) name the node and the field, e.g.
 * `node site1: subnet 10.99.0.0/28 overlaps tunnel_cidr 10.99.0.0/24`. Unknown fields and
 * soft problems (hub-spoke without a hub) go to warn. */
int ctl_inventory_parse(const char *json, size_t len, struct ctl_inventory **ret, struct wf_err *e,
                        wf_warn_fn warn, void *userdata);
int ctl_inventory_load(const char *path, struct ctl_inventory **ret, struct wf_err *e,
                       wf_warn_fn warn, void *userdata);
void ctl_inventory_free(struct ctl_inventory *inv); /* takes NULL */

const struct ctl_node *ctl_inventory_find(const struct ctl_inventory *inv, const char *name);
/* A node of inv with "agent": false. */
bool ctl_inventory_agentless(const struct ctl_inventory *inv, const char *name);
/* Node names are used in URLs and file names: [a-z0-9][a-z0-9._-]{0,62}, case-insensitive. */
bool ctl_node_name_valid(const char *name);
