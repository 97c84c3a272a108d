/* SPDX-License-Identifier: MIT */
#pragma once

/* route-rule: the policy routing of exit selection (docs/backends.md, "Exit selection"), like
 * wg-quick's: per family with an exit, "ip rule add table main suppress_prefixlength 0" and
 * "ip rule add not fwmark MARK table MARK", plus "default dev IFACE table MARK". Rules and routes
 * carry protocol WF_RTPROT; rules with that protocol are all the agent's on this host. The
 * controller's addresses get "ip rule add to ADDR table main" ahead of both. */

#include "exit.h"
#include "route.h"

/* Makes the host's rules (protocol WF_RTPROT) exactly those want[] needs and each want[]
 * interface's default routes (protocol WF_RTPROT, oif) exactly its v4/v6 ones in table mark.
 * An interface whose link is missing is skipped. With dry_run only counts. *ret_changes: rules
 * and routes added or deleted (or that would be). */
int route_exit_sync(struct route_ctx *c, const struct exit_route *want, size_t n,
                    const struct wf_prefix *mgmt, size_t n_mgmt, bool dry_run,
                    size_t *ret_changes, struct wf_err *e);
