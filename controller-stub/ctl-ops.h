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

/* Appends the rollout, history and wg-quick sections to the fleet page (takes and returns page). */
char *ctl_ops_fleet_html(char *page, const struct ctl_rollout *ro, const struct ctl_render *target,
                         const char *state_dir, int64_t now);
/* Adds "rollout" (taken) and per node "target_revision" and "wave" (arrays in the order of
 * fleet's nodes) to /v1/fleet. */
void ctl_ops_fleet_json(json_t *fleet, json_t *rollout, const uint64_t *target, const unsigned *wave);
