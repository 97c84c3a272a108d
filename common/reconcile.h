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
        bool live_cached;             /* live (and observed, when the same) belong to the cache */
        bool from_cache;              /* planned against the cache: no full observation */
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

/* The live state `run` keeps between full observations (docs/operations.md, "Observation in
 * run"): per interface of the running document, the last full observation with every plan
 * applied since folded in; NULL where nothing is known (observed fully next time). */
struct reconcile_cache {
        struct wf_live_iface **live;  /* owned entries */
        size_t n;
        bool gateway;                 /* the last document synced had gateway fields */
};

/* reconcile_doc with a cache (cache may be NULL: reconcile_doc). An interface with a cache entry
 * that exists is planned against it instead of being observed, its plan applied without
 * observing again, and the plan folded into the entry; an apply that fails drops the entry and
 * falls back to observing. An interface without an entry, or with exits (their selection needs
 * fresh handshakes), is observed as reconcile_doc does and its last observation becomes the
 * entry. Exit policy routing and gateways are synced only when the document (or, for exits, the
 * cache) has any. The result's live pointers are then borrowed from the cache: ret must be
 * done with before the cache changes. */
int reconcile_doc_cached(const struct backend_ops *ops, struct backend *b, const struct config *cfg,
                         const struct wf_doc *doc, struct reconcile_cache *cache, unsigned flags,
                         struct reconcile_result *ret, struct wf_err *e);
void reconcile_cache_done(struct reconcile_cache *c);
/* Copies the handshake times and transfer counters of a fresh read-only observation (obs[i],
 * n entries, matched by interface name and peer key) into the cache: nothing the agent does
 * moves them, so the entries only learn them when somebody observes. */
int reconcile_cache_stats(struct reconcile_cache *c, struct wf_live_iface *const *obs, size_t n);
/* Whether any interface of doc has exits (their selection needs fresh observations). */
bool reconcile_doc_has_exits(const struct wf_doc *doc);
/* Forgets every entry: the next reconcile_doc_cached observes everything. */
void reconcile_cache_drop(struct reconcile_cache *c);
/* Entries in the order of doc's interfaces (by name); the others are dropped. */
int reconcile_cache_rekey(struct reconcile_cache *c, const struct wf_doc *doc);
/* Whether a monitor event contradicts the cache: something the agent did not do on a link it
 * manages (a route of ours deleted or added by hand, a foreign route meeting one of ours, an
 * address, the link's state, the link itself). Echoes of the agent's own changes do not. */
struct rtmon_event;
bool reconcile_cache_contradicts(const struct reconcile_cache *c, const struct rtmon_event *ev);
/* reconcile-cache.c internals for reconcile.c: the entry after plan p (built from t) was applied
 * (-EINVAL when p creates the link: observe it instead); peers sorted by key (plan walks them in
 * that order) and routes by table and destination (the event checks). */
int reconcile_cache_fold(struct wf_live_iface *l, const struct plan *p, const struct plan_target *t);
void reconcile_cache_index(struct wf_live_iface *l);

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
