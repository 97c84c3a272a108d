/* SPDX-License-Identifier: MIT */
#pragma once

/* plan-change: a plan's operations as the plain changes the data planes take (wg-change.h for
 * WireGuard devices, route.h for links, addresses and routes). The one place that says which
 * fields an operation carries: every backend translates through it, so the layers below never
 * see a plan. Pure; order is the plan's (plan.h), never re-sorted here. */

#include <stdbool.h>
#include <stddef.h>

#include "plan.h"
#include "route.h"
#include "wg-change.h"

/* The change a peer operation makes (PLAN_PEER_ADD, _UPDATE, _REMOVE), from op->flags:
 * an add carries its full allowed-IP list (REPLACE_ALLOWEDIPS) and the fields the planner
 * flagged; an update carries UPDATE_ONLY, only its flagged fields, and either the full list
 * (PLAN_PEER_ALLOWED_IPS_REPLACE) or the prefixes to add; a remove carries only the key. An
 * endpoint flagged but unresolved is left out. Returns false for any other operation (or one
 * without its peer). Everything in ret is borrowed from op. */
bool plan_peer_change(const struct plan_op *op, struct wgc_peer *ret);

/* The WireGuard part of p as one device change: PLAN_IFACE_SET's private key, listen port and
 * fwmark, then every peer operation in plan order. ret->peers is malloc'd (free it); the rest
 * is borrowed from p and t. ret->flags == 0 && ret->n_peers == 0: nothing to send. */
int plan_wg_change(const struct plan *p, const struct plan_target *t, struct wgc_device *ret);

/* The link part of p, in plan order: PLAN_IFACE_SET's MTU and up flag, addresses, route adds
 * (in the target's table with its metric) and deletions of ours. *ret is malloc'd. */
int plan_link_changes(const struct plan *p, const struct plan_target *t, struct route_change **ret,
                      size_t *ret_n);
