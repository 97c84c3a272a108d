/* SPDX-License-Identifier: MIT */
#pragma once

/* The agent's policy, without I/O: which fetched or cached document the node may run (older,
 * equal, newer, reverted, expired revision), the commit-confirmed window (open, confirm,
 * time out, revert or keep), the order of the persist and apply steps, and what a report and
 * `once` say. The clock is a parameter; the steps that touch disk or the node go through
 * struct policy_io, so tests/unit/test-policy.c drives every transition, and every crash point
 * between persist, apply and confirm, on a fake disk. agent-run.c supplies the real I/O. */

#include <stdbool.h>
#include <stdint.h>

#include "model.h"
#include "state.h"
#include "status.h"
#include "util.h"

enum policy_apply {
        POLICY_APPLY_NEW,     /* a newly accepted revision */
        POLICY_APPLY_CACHED,  /* the cached revision at start or reload */
        POLICY_APPLY_CHECK,   /* the same revision again: any change found is drift */
        POLICY_APPLY_REVERT,  /* the previous accepted revision (commit-confirmed) */
        POLICY_APPLY_RESOLVE, /* an endpoint name resolved to a new address */
        POLICY_APPLY_FAILOVER, /* the liveness watch moved an endpoint or an exit */
};

/* The report's error slots: each one line of errors[] while non-empty. */
struct policy_errors {
        char fetch[1024];
        char reject[1024];
        char apply[1024];
        char cache[1024];
        char persist[1024];   /* the last failed write of the state (cleared by a good one) */
        char expiry[256];     /* rendered by policy_report_errors */
};

struct policy {
        struct state st;      /* mirror of agent-state.json */
        struct wf_doc *doc;   /* the accepted document the node runs (owned), NULL: none */
        uint32_t confirm_timeout; /* s, 0: no commit-confirmed windows */
        struct policy_errors err;
};

/* The steps with side effects. Each returns >= 0 or -errno with e filled. */
struct policy_io {
        void *userdata;
        int (*save_state)(void *userdata, const struct state *st, struct wf_err *e);
        /* env becomes current.env; keep_previous: the old current.env becomes previous.env first. */
        int (*store_envelope)(void *userdata, const char *env, size_t len, bool keep_previous,
                              struct wf_err *e);
        /* previous.env becomes current.env, the old current.env reverted.env. */
        int (*swap_previous)(void *userdata, struct wf_err *e);
        /* Brings the node to p->doc and records the outcome with policy_applied. Returns the
         * number of changes or -errno. */
        int (*apply)(void *userdata, struct policy *p, enum policy_apply kind, struct wf_err *e);
};

void policy_done(struct policy *p);

/* Writes p->st; a failure is kept in p->err.persist (and returned), a success clears it. */
int policy_save(struct policy *p, const struct policy_io *io);

/* Records an apply of p->doc: last_apply (unless quiet: a drift check or re-resolve that changed
 * nothing), applied_revision on success, the apply error slot, and for a new revision the
 * last error is cleared. r: changes or -errno (e then says why). */
void policy_applied(struct policy *p, enum policy_apply kind, int r, bool quiet, const struct wf_err *e,
                    int64_t now);

enum policy_verdict {
        POLICY_REFUSED,        /* expired or older: nothing changes; p->err.reject says why */
        POLICY_SAME,           /* the revision the node runs, or the reverted one: nothing to do */
        POLICY_ACCEPTED,       /* stored and applied (see policy_outcome) */
        POLICY_NOT_PERSISTED,  /* a commit-confirmed window could not be persisted: not applied */
};

struct policy_outcome {
        struct wf_doc *old;    /* ACCEPTED: the document replaced (caller retires and frees it) */
        int applied;           /* ACCEPTED: the apply's result (changes or -errno) */
        bool arm;              /* ACCEPTED: start the confirm_timeout timer */
        uint64_t prev_expired; /* ACCEPTED: no window because this revision, replaced, had expired */
};

/* The accept decision alone: expired (against now) or older than the floor -> REFUSED (e says
 * why); the revision running, or the reverted one, -> SAME; newer, or the floor's revision when
 * it is not what the node runs (a lost cache, an accept interrupted between its steps) ->
 * ACCEPTED. */
enum policy_verdict policy_decide(const struct policy *p, const struct wf_doc *doc, int64_t now,
                                  struct wf_err *e);

/* A verified document for this node, fetched with etag (may be NULL) as envelope env. cached:
 * the verified current.env when p->doc is NULL (the revision to go back to), else NULL; borrowed.
 * Takes doc. Order: the state with the new revision and its window is persisted, then the
 * envelope, then the node is changed; a window that cannot be persisted stops the accept before
 * the node changes (NOT_PERSISTED, p unchanged). The window opens when confirm_timeout is set
 * and the revision replaced has not expired; it closes at once when the apply changed nothing
 * or failed. */
enum policy_verdict policy_accept(struct policy *p, const struct policy_io *io, struct wf_doc *doc,
                                  const char *env, size_t len, const char *etag,
                                  const struct wf_doc *cached, int64_t now,
                                  struct policy_outcome *out, struct wf_err *e);

/* A fetch (200 or 304) or a status report succeeded: closes the window. Returns the revision
 * confirmed, 0 when none was pending. */
uint64_t policy_confirm(struct policy *p, const struct policy_io *io);

enum policy_timeout {
        POLICY_TIMEOUT_NONE,     /* no window was open */
        POLICY_TIMEOUT_REVERTED, /* back on the previous revision */
        POLICY_TIMEOUT_KEPT,     /* nothing safe to go back to: the revision stays, reported */
};

/* confirm_timeout passed without a confirmation. prev: the verified previous.env (taken, NULL
 * when unusable; prev_err then says why). An expired previous revision is never gone back to.
 * REVERTED: *ret_old is the document replaced (caller retires and frees it). why (n bytes) gets
 * the line for the log and the report either way. */
enum policy_timeout policy_timeout(struct policy *p, const struct policy_io *io, struct wf_doc *prev,
                                   const char *prev_err, int64_t now, struct wf_doc **ret_old,
                                   char *why, size_t n);

/* Start or reload, after agent-state.json was loaded into p->st. cached: the verified current.env
 * (taken, expiry not yet checked; NULL when absent or unusable), reverted_rev: the revision of
 * a verified reverted.env (0: none). Raises the replay floor to both; keeps the cached document
 * as p->doc unless it expired (p->err.cache then says so). Returns whether the persisted
 * commit-confirmed window still applies to the cached revision (arm the timer). */
bool policy_start(struct policy *p, struct wf_doc *cached, uint64_t reverted_rev, int64_t now);

/* The report: its state, and its error lines (borrowed from p; out must hold POLICY_MAX_ERRORS). */
#define POLICY_MAX_ERRORS 7
enum status_state policy_report_state(const struct policy *p, bool applying);
size_t policy_report_errors(struct policy *p, int64_t now, const char **out);

/* `once`: 0 only when the node converged on an accepted, unexpired document this run (nothing
 * refused, nothing failed to persist, the apply succeeded), else 1. */
int policy_once_exit(const struct policy *p, int64_t now);
