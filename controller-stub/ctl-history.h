/* SPDX-License-Identifier: MIT */
#pragma once

/* Deployment history and pins. Every signed document the controller issues is kept as
 * STATE_DIR/history/NODE/REVISION.env (the newest N per node). A pin (state.json "pins") makes
 * the renderer publish an older content under a new, higher revision for as long as the
 * inventory renders the same content for that node: `revert`, and a halted rollout rolling its
 * wave back (docs/rollout.md). */

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "ctl-render.h"
#include "ctl-state.h"
#include "util.h"

#define CTL_HISTORY_KEEP 20
#define CTL_HISTORY_DIR "history"

/* Writes each rendered envelope not held yet, keeps the newest keep per node and forgets nodes
 * no longer rendered. */
int ctl_history_record(const char *state_dir, const struct ctl_render *r, unsigned keep, struct wf_err *e);
/* The revisions held for node, ascending; *ret malloc'd (NULL when none). */
int ctl_history_revisions(const char *state_dir, const char *node, uint64_t **ret, size_t *ret_n);
int ctl_history_envelope(const char *state_dir, const char *node, uint64_t revision, char **ret, size_t *ret_len);
/* The content of a signed document as the renderer hashes it (the payload without revision and
 * issued_at, expires_at as the validity in seconds) and that hash. */
int ctl_history_content(const char *envelope, size_t len, json_t **ret_content, char ret_hash[65]);
/* {"node", "revisions": [{"revision", "issued_at", "expires_at", "hash", "peers", "served",
 * "current"}]} newest first; NULL on ENOMEM. */
json_t *ctl_history_json(const char *state_dir, const char *node, uint64_t served, uint64_t current);

/* Pins the content of revision `revision` (from the history) on node while the inventory renders
 * while_hash for it. by: "operator" (revert, abort) or "rollout" (a halted wave's rollback). */
int ctl_pin_set(struct ctl_state *st, const char *state_dir, const char *node, uint64_t revision,
                const char *while_hash, const char *by, struct wf_err *e);
/* For the renderer: 1 and a new reference to the pinned content when node is pinned for hash;
 * a pin made for another hash (the inventory changed since) is dropped and 0 returned. */
int ctl_pin_apply(struct ctl_state *st, const char *node, const char *hash, json_t **ret_content);
/* 1 and who pinned it and which revision it restores when node is pinned. */
int ctl_pin_get(const struct ctl_state *st, const char *node, const char **ret_by, uint64_t *ret_revision);
void ctl_pin_drop_by(struct ctl_state *st, const char *by);

/* Pins node (by "operator") to the content of revision to, or with to 0 to the newest kept
 * revision that was served (was_served NULL: every kept one was) and whose content differs from
 * served_hash, the content node is served now. The next render publishes it under a new revision. */
int ctl_revert(struct ctl_state *st, const char *state_dir, const struct ctl_render *r, const char *node,
               uint64_t to, const char *served_hash, bool (*was_served)(void *ud, const char *node, uint64_t rev),
               void *ud, uint64_t *ret_revision, struct wf_err *e);
