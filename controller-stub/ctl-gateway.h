/* SPDX-License-Identifier: MIT */
#pragma once

/* Gateways in the inventory (docs/inventory.md, docs/gateways.md): wan.services_cidr and
 * wan.nat_pool, subnets' auto_nat / nat, nodes[].services and nodes[].exit. Parsing and the
 * fleet-wide conflict checks for ctl-inventory.c; translated prefixes and service addresses
 * (stable, kept in the state file) and the document fields for ctl-render.c. */

#include <jansson.h>

#include "ctl-inventory.h"
#include "ctl-state.h"
#include "json-read.h"

#define CTL_NAT "nat"           /* state section: "NODE CIDR" -> translated prefix */
#define CTL_SERVICES "services" /* state section: "NODE/NAME" -> service address */

int ctl_gw_parse_wan(struct jr_ctx *c, const json_t *wan, const struct jr_path *wp, struct ctl_inventory *inv);
/* sn: the subnet's object (NULL for a bare string). */
int ctl_gw_parse_subnet(struct jr_ctx *c, const json_t *sn, const struct jr_path *ep, const struct ctl_node *n,
                        struct ctl_subnet *sub);
int ctl_gw_parse_node(struct jr_ctx *c, const json_t *o, const struct jr_path *np, const struct ctl_inventory *inv,
                      struct ctl_node *n);
void ctl_gw_node_done(struct ctl_node *n);
/* Conflicts, each message naming both sides. */
int ctl_gw_check(const struct ctl_inventory *inv, struct wf_err *e);
/* True when two routed subnets may overlap (one of them is translated). */
bool ctl_gw_overlap_ok(const struct ctl_subnet *a, const struct ctl_subnet *b);

/* Per node, what the render needs. */
struct ctl_gw_node {
        struct wf_prefix *overlay; /* per subnet: what the others see (the subnet itself when untranslated) */
        bool *translated;          /* per subnet */
        struct wf_prefix *svc;     /* per service: its address */
};
int ctl_gw_allocate(const struct ctl_inventory *inv, struct ctl_state *st, struct ctl_gw_node **ret,
                    struct wf_err *e);
void ctl_gw_free(struct ctl_gw_node *g, size_t n);
/* The node's own document: forwarding, masquerade, netmap, services. */
int ctl_gw_render_iface(const struct ctl_inventory *inv, size_t idx, const struct ctl_gw_node *g, json_t *iface);
