/* SPDX-License-Identifier: MIT */
#pragma once

/* The operator's commands (`wgfleet-controller revert|rollout`) reach a running `serve` through
 * its state dir: the command writes STATE_DIR/requests/ID.json, serve takes it within a second
 * and answers in ID.done. `render` takes queued reverts too. Also the fleet views' rollout,
 * history and wg-quick columns. */

#include <jansson.h>
#include <stdint.h>

#include "ctl-render.h"
#include "ctl-rollout.h"
#include "ctl-state.h"
#include "util.h"

#define CTL_OPS_DIR "requests"

struct ctl_ops_ctx {
        struct ctl_state *st;
        const char *state_dir;
        struct ctl_rollout *ro; /* NULL: render (no rollout commands) */
        const struct ctl_render *render;
};

/* Runs one request ({"op": "revert"|"resume"|"abort", "node", "to"}); the answer in msg. 1 when
 * pins or the rollout changed (render again); -EALREADY (nothing to resume/abort), -EINVAL,
 * -ENOENT, -EOPNOTSUPP (resume/abort without a rollout context). */
int ctl_ops_run(struct ctl_ops_ctx *ctx, json_t *req, int64_t now, char *msg, size_t sz);
/* Runs the queued requests; 1 when pins or the rollout changed (render again), 0 when none ran. */
int ctl_ops_take_requests(struct ctl_ops_ctx *ctx, int64_t now, wf_warn_fn log, void *userdata);
/* Queues req ({"op": "revert"|"resume"|"abort", "node", "to"}) and waits up to wait_s seconds for
 * the answer: 1 and ret_ok, ret_msg (malloc'd) when answered, 0 when still queued. */
int ctl_ops_request(const char *state_dir, json_t *req, unsigned wait_s, bool *ret_ok, char **ret_msg,
                    struct wf_err *e);

/* What the fleet page's history section shows of a node, taken with the controller's lock. */
struct ctl_ops_history_row {
        char *node;
        uint64_t served;
        bool agentless;
        int config_stale; /* agentless: ctl_wgquick_stale() */
};
/* One row per node of target, in its order; malloc'd (free with ctl_ops_history_rows_free), NULL
 * on ENOMEM. */
struct ctl_ops_history_row *ctl_ops_history_rows(const struct ctl_rollout *ro, const struct ctl_render *target,
                                                 const char *state_dir);
void ctl_ops_history_rows_free(struct ctl_ops_history_row *rows, size_t n);
/* Appends the rollout section (rollout_html, from ctl_rollout_html()), and the history and
 * wg-quick sections to the fleet page (takes and returns page). Reads a directory per node
 * (the revisions kept): call it without the controller's lock, from rows taken with it. */
char *ctl_ops_fleet_html(char *page, const char *rollout_html, const struct ctl_ops_history_row *rows, size_t n,
                         const char *state_dir);
