/* SPDX-License-Identifier: MIT */
#pragma once

/* reconcile: one document -> for each interface: build the target (node key, preshared keys
 * from secrets_dir, endpoints resolved with a bounded timeout) -> observe -> plan -> apply,
 * re-observing and re-planning after a partial failure (bounded attempts). Shared by the
 * agent's plan/apply/once/run commands, whatever the backend. */

#include "backend.h"
#include "config.h"
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
};

struct reconcile_result {
        struct reconcile_iface *ifaces;
        size_t n_ifaces;
        size_t changes;               /* total */
        int error;                    /* first error, 0 when every interface converged */
};

enum {
        RECONCILE_DRY_RUN = 1 << 0,   /* observe and plan only */
};

#define RECONCILE_MAX_ATTEMPTS 3

int reconcile_doc(const struct backend_ops *ops, struct backend *b, const struct config *cfg,
                  const struct wf_doc *doc, unsigned flags, struct reconcile_result *ret,
                  struct wf_err *e);
void reconcile_result_done(struct reconcile_result *r);
