/* SPDX-License-Identifier: MIT */
#pragma once

/* exit: which of an interface's exit peers carries the default route (docs/backends.md, "Exit
 * selection"). Pure: live state and the clock in, a choice and an adjusted target out. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model.h"
#include "plan.h"

/* The fwmark (and routing table) an interface uses for exit policy routing when its document
 * sets no fwmark: its listen port, or this when the port is random. */
#define EXIT_DEFAULT_MARK 51820
/* Priorities of the policy rules: the main table without default routes first, then everything
 * not marked by the tunnel itself into the exit table. Below main's 32766. */
#define EXIT_RULE_PRIO_MGMT 31999
#define EXIT_RULE_PRIO_SUPPRESS 32000
#define EXIT_RULE_PRIO_MARK 32001

/* WireGuard renews a session's handshake only every REKEY_AFTER_TIME (120 s), on the next
 * packet sent after that (a persistent keepalive at the latest), with 5 s retries: a healthy
 * session's latest handshake can be 120 s + keepalive + a retry old. Below that, a handshake
 * age says nothing, so the stale threshold is never lower (else exits would flap every rekey). */
#define EXIT_REKEY_S 120
#define EXIT_REKEY_SLACK_S 10

struct exit_candidate {
        bool active;            /* holds a default route (/0) in its live allowed IPs */
        int64_t last_handshake; /* unix seconds, 0 = never */
        uint16_t keepalive;     /* its persistent keepalive, s (0: none) */
};

/* Seconds after which a handshake is stale: failover_after, but at least
 * EXIT_REKEY_S + keepalive + EXIT_REKEY_SLACK_S. */
uint32_t exit_stale_after(uint32_t failover_after, uint16_t keepalive);
/* Healthy: handshaked, and no longer than stale_after seconds ago. */
bool exit_healthy(int64_t last_handshake, int64_t now, uint32_t stale_after);

/* Index of the exit to keep active, -1 when n == 0. The current one (the first active) stays
 * while healthy; otherwise the first healthy one in order; when none is healthy, the current
 * one stays, or the first becomes active. Health: exit_stale_after(failover_after, keepalive). */
int exit_choose(const struct exit_candidate *c, size_t n, int64_t now, uint32_t failover_after);

/* The policy-routing mark and table of an interface with exits. */
uint32_t exit_mark(const struct wf_iface *iface);

/* An adjusted plan target: exit candidates other than the chosen one lose their /0 allowed IPs,
 * and the device gets the policy-routing fwmark. */
struct exit_target {
        struct wf_iface iface;   /* shallow copy of the document's; fwmark set */
        struct wf_peer *peers;   /* shallow copies of the target's peers (n_peers); allowed_ips
                                  * owned where stripped[] */
        size_t n_peers;
        bool *stripped;
        int active;              /* index in iface.peers, -1: no exit */
        int previous;            /* the peer that held /0 live, -1: none */
        bool v4, v6;             /* the active exit's default route families */
        uint32_t mark;           /* fwmark = routing table */
        int64_t active_handshake, previous_handshake;
};

/* t->peers must be filled (t->iface the document's interface). live may be NULL or absent
 * (no handshakes yet). When the interface has exits, points t->iface and the non-active
 * candidates' t->peers[].peer into ret; otherwise ret->active = -1 and t is left alone.
 * Candidates: peers named in exit[] with a /0 allowed IP that are not held. Returns 0 or
 * -ENOMEM. ret must outlive t's use. */
int exit_target_build(struct plan_target *t, const struct wf_live_iface *live, int64_t now,
                      uint32_t failover_after, struct exit_target *ret);
void exit_target_done(struct exit_target *x);

/* What the policy routing of one interface should be (the backend's exit_sync input). The
 * host-wide part: the controller's addresses (the management path), looked up in main before
 * anything else, so a controller reached through the underlay's default route stays off the
 * exit too. */
struct exit_route {
        const char *ifname;      /* borrowed */
        bool v4, v6;             /* default route wanted per family; both false: none */
        uint32_t mark;           /* fwmark and table */
        uint32_t metric;
        /* exit_sources: only traffic from these goes to the exit (from SRC lookup T, instead of
         * "not fwmark T lookup T"); borrowed, n_sources 0 = all unmarked traffic */
        const struct wf_prefix *sources;
        size_t n_sources;
        /* false: no default route wanted and the last observation showed none of ours, so the
         * interface's routes need not be listed again (a fleet without exits pays nothing). */
        bool check_routes;
};
