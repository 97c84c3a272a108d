/* SPDX-License-Identifier: MIT */
#pragma once

/* Health-gated rollout waves (docs/rollout.md). The renderer decides what each node should run
 * (the target); this module decides what each node is served: a changed document reaches one
 * wave at a time, the next wave only once every changed node of the wave reports it applied and
 * the fleet's peers that were healthy before the change stayed healthy for `settle` seconds. A
 * node reporting degraded/rejected, reverting by itself, a peer going unhealthy or the deadline
 * halts the rollout and rolls the wave back (a pin, ctl-history.h); nothing newer reaches later
 * waves until the operator resumes or aborts. State: STATE_DIR/rollout.json. */

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "ctl-inventory.h"
#include "ctl-render.h"
#include "ctl-state.h"
#include "util.h"

#define CTL_ROLLOUT_FILE "rollout.json"

struct ctl_rollout;

/* dir NULL: in memory only. A corrupt rollout.json is an error. */
int ctl_rollout_new(const char *state_dir, struct ctl_rollout **ret, struct wf_err *e);
void ctl_rollout_free(struct ctl_rollout *ro); /* takes NULL */
/* Takes the waves (inv->rollout, referenced) and which nodes have no agent (copied) from the
 * inventory, read by ctl-inventory.h like every other key. */
int ctl_rollout_set_inventory(struct ctl_rollout *ro, const struct ctl_inventory *inv);
const struct ctl_rollout_cfg *ctl_rollout_cfg(const struct ctl_rollout *ro);
bool ctl_rollout_agentless(const struct ctl_rollout *ro, const char *node);
/* The wave node is in, from 1. */
unsigned ctl_rollout_wave(const struct ctl_rollout *ro, const char *node);
/* Keeps what the gate needs from a validated status report. */
int ctl_rollout_report(struct ctl_rollout *ro, const char *node, const char *body, size_t len, int64_t received_at);
/* The same in two steps, so that the report is read without the controller's lock: what the
 * gate needs (NULL on ENOMEM or not an object), then kept (taken). */
json_t *ctl_rollout_report_digest(const char *body, size_t len, int64_t received_at);
int ctl_rollout_report_keep(struct ctl_rollout *ro, const char *node, json_t *digest);

struct ctl_rollout_step {
        bool served_changed; /* some node's served revision moved: rebuild the served view */
        bool rerender;       /* pins were set: render again, then step again */
};

/* Decides what every node of target is served now; persists the rollout state. Halting sets
 * rollback pins in st (the caller saves st and renders again). log gets one line per event. */
int ctl_rollout_run(struct ctl_rollout *ro, const struct ctl_render *target, struct ctl_state *st,
                    const char *state_dir, int64_t now, struct ctl_rollout_step *ret, struct wf_err *e,
                    wf_warn_fn log, void *userdata);
/* The revision served to node; 0 when unknown. */
uint64_t ctl_rollout_served(const struct ctl_rollout *ro, const char *node);
/* The content hash served to node ("" when unknown); whether rev was ever served to it. */
const char *ctl_rollout_served_hash(const struct ctl_rollout *ro, const char *node);
bool ctl_rollout_was_served(const struct ctl_rollout *ro, const char *node, uint64_t rev);
/* A render-shaped view of what is served: target's entries, or envelopes from the history. */
int ctl_rollout_served_view(const struct ctl_rollout *ro, const struct ctl_render *target, const char *state_dir,
                            struct ctl_render **ret, struct wf_err *e);

/* Operator commands. resume: drop the halted wave's rollback and start again at the first wave.
 * abort: keep every node on what it is served now (pins until the inventory changes). */
int ctl_rollout_resume(struct ctl_rollout *ro, struct ctl_state *st, int64_t now, struct wf_err *e);
int ctl_rollout_abort(struct ctl_rollout *ro, const struct ctl_render *target, struct ctl_state *st,
                      const char *state_dir, struct wf_err *e);

/* GET /v1/rollout (target NULL: without "nodes"): {"enabled", "state", "id", "wave", "waves": [[names]], "settle", "deadline",
 * "started_at", "wave_started_at", "reason", "holding": [{"node", "why"}], "nodes": {NODE:
 * {"wave", "served", "target"}}}. */
json_t *ctl_rollout_json(const struct ctl_rollout *ro, const struct ctl_render *target, int64_t now);
/* The fleet page's rollout section (escaped HTML); malloc'd. */
char *ctl_rollout_html(const struct ctl_rollout *ro, const struct ctl_render *target, int64_t now);
