/* SPDX-License-Identifier: MIT */
#pragma once

/* reconcile: one document -> for each interface: build the target (node key, preshared keys
 * from secrets_dir, endpoints resolved with a bounded timeout) -> observe -> plan -> apply,
 * re-observing and re-planning after a partial failure (bounded attempts). Shared by the
 * agent's plan/apply/once/run commands, whatever the backend. */

#include "backend.h"
#include "config.h"
#include "exit.h"
#include "model.h"
#include "plan.h"

struct reconcile_iface {
        char *name;
        struct wf_live_iface *live;   /* last observation (after apply when not dry-run) */
        struct plan plan;             /* the plan computed from the first observation */
        size_t changes;               /* operations that changed something */
        char **notes;                 /* per-peer problems: unresolved names, bad psk files... */
        size_t n_notes;
        int error;                    /* 0 or -errno */
        char error_msg[512];
        unsigned attempts;            /* applies done */
        /* Exit selection: the peer that carries the default route (borrowed from the document),
         * NULL when the interface has no exits. */
        const char *exit_active;
        bool exit_moved;              /* this reconcile moves the default route to exit_active */
        /* private: what plan borrows from (the target is wiped of its private key on return) */
        struct plan_target target;
        struct wf_live_iface *observed;
        struct exit_target exit;
        bool exit_selected;           /* exit_target_build ran on an observation */
};

struct reconcile_result {
        struct reconcile_iface *ifaces;
        size_t n_ifaces;
        size_t changes;               /* total, policy-routing changes for exits included */
        size_t exit_changes;          /* exit rules and default routes added or deleted */
        struct gw_result gw;          /* forwarding, NAT, services (backends with a gateway op) */
        int gw_error;
        char gw_error_msg[512];
        int error;                    /* first error, 0 when every interface converged */
};

enum {
        RECONCILE_DRY_RUN = 1 << 0,   /* observe and plan only */
};

#define RECONCILE_MAX_ATTEMPTS 3

/* Per interface: target -> observe -> plan -> apply, then observe and plan again until nothing
 * is left to change (at most RECONCILE_MAX_ATTEMPTS applies). Returns 0 when every interface
 * converged (dry run: when every plan was computed), else the first error (also in ret->error
 * and the interface's error_msg); ret is filled either way once this returns >= 0 or a per-
 * interface error. A failure before any interface was touched (node key unreadable) returns it
 * with e set and ret empty. doc must outlive ret. */
int reconcile_doc(const struct backend_ops *ops, struct backend *b, const struct config *cfg,
                  const struct wf_doc *doc, unsigned flags, struct reconcile_result *ret,
                  struct wf_err *e);
void reconcile_result_done(struct reconcile_result *r);

/* Interfaces in old but not in new: the backend's clear removes what the agent owns there (our
 * routes, the addresses and peers it configured); foreign routes stay. The interface itself
 * stays unless the backend created it (see docs/backends.md). Returns the first error. */
int reconcile_retire(const struct backend_ops *ops, struct backend *b, const struct wf_doc *old,
                     const struct wf_doc *new, struct wf_err *e);

#define RECONCILE_RESOLVE_TIMEOUT_MS 5000
/* Resolves every peer endpoint of target (t->peers[].peer must be set) within timeout_ms in
 * total, in parallel: numeric addresses at once, names through getaddrinfo_a. A name that
 * fails or is not answered in time gets endpoint_keep and a note. Returns 0 or -ENOMEM. */
int reconcile_resolve(struct plan_target *t, int timeout_ms, char ***notes, size_t *n_notes);
