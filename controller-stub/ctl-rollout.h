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

#include "ctl-render.h"
#include "ctl-state.h"
#include "util.h"

#define CTL_ROLLOUT_FILE "rollout.json"
#define CTL_ROLLOUT_SETTLE 60
#define CTL_ROLLOUT_DEADLINE 600

/* The inventory's "rollout" object and nodes[].agent, read from the inventory file. */
struct ctl_rollout_cfg {
        bool enabled;          /* a "rollout" key is present */
        json_t *waves;         /* array of arrays of name patterns (fnmatch) */
        uint32_t settle, deadline;
        json_t *agentless;     /* object: names of nodes with "agent": false */
};

/* Errors name the field: `rollout.waves[1][0]: must be a node name or pattern`. */
/* Unknown fields of "rollout" go to warn. */
int ctl_rollout_cfg_parse(const char *json, size_t len, struct ctl_rollout_cfg *ret, struct wf_err *e,
                          wf_warn_fn warn, void *userdata);
int ctl_rollout_cfg_load(const char *path, struct ctl_rollout_cfg *ret, struct wf_err *e, wf_warn_fn warn,
                         void *userdata);
void ctl_rollout_cfg_done(struct ctl_rollout_cfg *c);
bool ctl_rollout_agentless(const struct ctl_rollout_cfg *c, const char *node);

struct ctl_rollout;

/* dir NULL: in memory only. A corrupt rollout.json is an error. */
int ctl_rollout_new(const char *state_dir, struct ctl_rollout **ret, struct wf_err *e);
void ctl_rollout_free(struct ctl_rollout *ro); /* takes NULL */
/* Takes over c (left zeroed). */
void ctl_rollout_set_cfg(struct ctl_rollout *ro, struct ctl_rollout_cfg *c);
const struct ctl_rollout_cfg *ctl_rollout_cfg(const struct ctl_rollout *ro);
/* Keeps what the gate needs from a validated status report. */
int ctl_rollout_report(struct ctl_rollout *ro, const char *node, const char *body, size_t len, int64_t received_at);

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

/* GET /v1/rollout: {"enabled", "state", "id", "wave", "waves": [[names]], "settle", "deadline",
 * "started_at", "wave_started_at", "reason", "holding": [{"node", "why"}], "nodes": {NODE:
 * {"wave", "served", "target"}}}. */
json_t *ctl_rollout_json(const struct ctl_rollout *ro, const struct ctl_render *target, int64_t now);
/* The fleet page's rollout section (escaped HTML); malloc'd. */
char *ctl_rollout_html(const struct ctl_rollout *ro, const struct ctl_render *target, int64_t now);
