/* SPDX-License-Identifier: MIT */
#pragma once

/* gateway: forwarding, NAT and published services of a whole document (docs/gateways.md).
 * Host-wide, like the exit policy routing: one wanted state for the document, one observed
 * state, a pure plan between them made of ordinary plan operations (PLAN_GW_*), and a bounded
 * apply/re-observe loop. The backend supplies how rules look (nftables JSON, RouterOS
 * attributes) and how they are read and written (struct gw_driver). */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "model.h"
#include "plan.h"
#include "util.h"

/* One firewall rule the agent owns. Identity is (chain, comment); body is the backend's
 * canonical form of the rule's matches and action, compared byte for byte with the live one,
 * so a rule edited in place is found too. */
struct gw_rule {
        char *iface;      /* the interface it serves; NULL for a stray rule of ours */
        char *chain;      /* "forward", "prerouting", "postrouting" (RouterOS: filter/nat chain) */
        char *comment;    /* "wgfleet:wg0:service:nas-web" */
        char *body;       /* backend-specific canonical text */
        char *text;       /* for people: "dnat tcp 10.0.5.7:443 to 192.168.1.10:8443" */
        uint64_t handle;  /* observed: nftables handle */
        char *backend_id; /* observed: RouterOS .id */
};

/* A kernel setting under /proc/sys, e.g. "net/ipv4/ip_forward" = "1". */
struct gw_sysctl {
        char *key;
        char *value;      /* NULL: unreadable (observed) */
};

struct gw_state {
        bool table;              /* observed: the agent's table exists */
        bool chains_ok;          /* observed: its chains are exactly the agent's */
        struct gw_rule *rules;
        size_t n_rules;
        struct gw_sysctl *sysctls; /* wanted values, or the observed values of the wanted keys */
        size_t n_sysctls;
        struct gw_sysctl *saved; /* observed: the values found before the agent first changed them */
        size_t n_saved;
};

void gw_state_done(struct gw_state *s);
int gw_state_add_rule(struct gw_state *s, const char *iface, const char *chain, const char *comment,
                      const char *body, const char *text);
int gw_state_add_sysctl(struct gw_state *s, const char *key, const char *value);

/* The operations that turn live into want, in execution order: the table deleted (nothing is
 * wanted, or its chains are not ours any more: then everything is added back), rules deleted,
 * rules added, sysctls set; when no sysctl is wanted, the saved ones are restored. op->gw_rule /
 * op->gw_sysctl borrow from want or live, which must outlive the plan. */
int gw_plan_compute(const struct gw_state *want, const struct gw_state *live, struct plan *ret);

/* Printing hooks for plan.c: the PLAN_GW_* operations. */
void gw_op_print(const struct plan_op *op, FILE *f);
int gw_op_to_json(const struct plan_op *op, struct json_t *o);

/* What a backend provides. ctx is its own. want: doc NULL means nothing (clear). */
struct gw_driver {
        int (*want)(void *ctx, const struct wf_doc *doc, struct gw_state *ret, struct wf_err *e);
        int (*observe)(void *ctx, const struct gw_state *want, struct gw_state *ret, struct wf_err *e);
        int (*apply)(void *ctx, const struct plan *p, struct wf_err *e);
};

/* The outcome of one sync: the first plan, and what it borrows from. */
struct gw_result {
        struct gw_state want, live;
        struct plan plan;
        size_t changes;
        unsigned attempts;
};
void gw_result_done(struct gw_result *r);

#define GW_MAX_ATTEMPTS 3
/* want -> observe -> plan -> apply, then observe and plan again until nothing is left (at most
 * GW_MAX_ATTEMPTS applies). dry_run: plan only. Returns 0 or the last error (e set). */
int gw_sync(const struct gw_driver *d, void *ctx, const struct wf_doc *doc, bool dry_run,
            struct gw_result *ret, struct wf_err *e);
