/* SPDX-License-Identifier: MIT */
#pragma once

/* One facade over the data planes: linux (netlink), uapi (wireguard-go socket), routeros.
 * plan/apply code talks only to this table. */

#include <stdint.h>
#include <sys/socket.h>

#include "config.h"
#include "exit.h"
#include "gateway.h"
#include "model.h"
#include "plan.h"
#include "util.h"

struct backend;

/* What a backend has sent since it was opened (debug counters; the agent exports them as
 * wgfleet_netlink_messages_total). */
struct backend_stats {
        uint64_t wg_set;   /* WireGuard SET_DEVICE messages (uapi: set transactions) */
        uint64_t wg_get;   /* WireGuard dumps (uapi: get transactions) */
        uint64_t rtnl;     /* rtnetlink requests: link, address and route reads and changes */
};

struct backend_ops {
        const char *name;
        /* The device generates and keeps its own private key (RouterOS: an interface added
         * without private-key): no node key is loaded or sent, the live public key is the node's
         * key, and a document's public_key is checked against it. */
        bool own_keys;
        /* Where a foreign route below ours wins (RouterOS: by distance alone), the planner demotes
         * it (plan.h, route_demote_below/_to); 0 for data planes where it never does. */
        uint32_t route_demote_below, route_demote_to;
        int (*open)(struct backend **ret, const struct config *c, struct wf_err *e);
        void (*close)(struct backend *b);
        /* Reads the live state of one interface (exists=false when absent), including our
         * routes and foreign routes to the destinations in want_routes (may be NULL). */
        int (*observe)(struct backend *b, const char *iface, const struct wf_iface *desired,
                       struct wf_live_iface **ret, struct wf_err *e);
        /* Executes a plan. A partial failure returns -errno; the caller re-observes and re-plans. */
        int (*apply)(struct backend *b, const struct plan *p, const struct plan_target *t,
                     struct wf_err *e);
        /* Removes everything the agent created on this interface (RouterOS: comment prefix). */
        int (*clear)(struct backend *b, const char *iface, struct wf_err *e);
        /* Optional (NULL when a backend has none; routeros has it): after a deploy, waits a
         * bounded time for any managed peer of iface to handshake. 1: one did; 0: none did and e
         * holds the warning to show (not a failure); -errno on error. */
        int (*probe)(struct backend *b, const char *iface, struct wf_err *e);
        /* Optional (linux, uapi; NULL elsewhere): makes the exit policy routing (rules and
         * default routes, docs/backends.md "Exit selection") match want[], one entry per
         * interface of the document; mgmt[]: controller addresses kept on the main table.
         * *changes: what changed (dry_run: what would). */
        int (*exit_sync)(struct backend *b, const struct exit_route *want, size_t n,
                         const struct wf_prefix *mgmt, size_t n_mgmt, bool dry_run,
                         size_t *changes, struct wf_err *e);
        /* Optional: makes forwarding, NAT and services (docs/gateways.md) match the whole
         * document (NULL: remove everything, as clear does); dry_run: plan only. */
        int (*gateway)(struct backend *b, const struct wf_doc *doc, bool dry_run, struct gw_result *ret,
                       struct wf_err *e);
        /* own_keys backends: the public key the device holds for iface, read back (its private
         * key is never asked for). create: an absent interface is created, without a key, so the
         * device generates one. 1: created, 0: it existed, -errno (-ENOENT: absent, !create). */
        int (*device_key)(struct backend *b, const char *iface, bool create, uint8_t pub[WF_KEY_LEN],
                          struct wf_err *e);
        /* Optional (linux, uapi): the counters above. */
        void (*stats)(struct backend *b, struct backend_stats *ret);
        /* Optional (routeros; NULL where the agent's host is on the tunnels and pings itself):
         * one ICMP echo sent by the data plane to addr (a peer's tunnel address, or an
         * endpoint's host on the underlay), a reply waited for wait_ms at most. 1: answered,
         * *rtt_us set; 0: not answered; -EPERM: the data plane refuses to ping (e prefilled);
         * other -errno: no answer this time (connection). */
        int (*ping)(struct backend *b, const struct sockaddr_storage *addr, uint32_t wait_ms, uint32_t *rtt_us,
                    struct wf_err *e);
};

extern const struct backend_ops backend_linux_ops;
extern const struct backend_ops backend_uapi_ops;
extern const struct backend_ops backend_routeros_ops;

const struct backend_ops *backend_ops_for(enum config_backend b);

/* The facade's calls (ops->observe, apply, exit_sync, gateway): a failing one always leaves e
 * filled, so callers print e->msg as it is. Backends fill it; a bare -errno that slips out of
 * one (an allocation deep inside) is named here, once, as "OP: strerror". */
int backend_observe(const struct backend_ops *ops, struct backend *b, const char *iface,
                    const struct wf_iface *desired, struct wf_live_iface **ret, struct wf_err *e);
int backend_apply(const struct backend_ops *ops, struct backend *b, const struct plan *p,
                  const struct plan_target *t, struct wf_err *e);
int backend_exit_sync(const struct backend_ops *ops, struct backend *b, const struct exit_route *want,
                      size_t n, const struct wf_prefix *mgmt, size_t n_mgmt, bool dry_run, size_t *changes,
                      struct wf_err *e);
int backend_gateway(const struct backend_ops *ops, struct backend *b, const struct wf_doc *doc, bool dry_run,
                    struct gw_result *ret, struct wf_err *e);

/* The link part of a plan (MTU, up, addresses, routes) through rtnetlink, translated by
 * plan-change.c: the step the linux and uapi backends share. */
struct route_ctx;
int backend_link_apply(struct route_ctx *rt, const struct plan *p, const struct plan_target *t,
                       struct wf_err *e);
