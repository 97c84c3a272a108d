/* SPDX-License-Identifier: MIT */
#pragma once

/* The agent's persistent state under state_dir: the last accepted envelope (current.env), the
 * one before it (previous.env, for revert and commit-confirmed rollback) and a small JSON file
 * with revisions, the ETag and timestamps. Every write is atomic (temp, fsync, rename, fsync
 * dir). A corrupt file is reported (-EBADMSG with a message) and treated as absent. */

#include <stdint.h>

#include "util.h"

#define STATE_CURRENT "current.env"
#define STATE_PREVIOUS "previous.env"
#define STATE_REVERTED "reverted.env"
#define STATE_FILE "agent-state.json"

struct state {
        uint64_t accepted_revision; /* highest revision ever accepted: the replay floor */
        uint64_t applied_revision;  /* revision the node was last brought to, 0 = none */
        uint64_t seen_revision;     /* last revision fetched, accepted or not */
        uint64_t reverted_revision; /* last revision rolled back (0 = none) */
        uint64_t confirm_revision;  /* applied, not yet confirmed by a fetch or report (0 = none) */
        char *etag;                 /* ETag of the last accepted 200 answer */
        int64_t last_fetch_ok;      /* unix s, 0 = never */
        int64_t last_apply;         /* unix s, 0 = never */
        char *last_error;           /* why the last revert/rejection happened, NULL = none */
};

void state_done(struct state *s);
/* A missing file gives an empty state and 0. */
int state_load(const char *dir, struct state *ret, struct wf_err *e);
int state_save(const char *dir, const struct state *s, struct wf_err *e);
/* Sets s->last_error (copied; NULL clears). Returns -ENOMEM or 0. */
int state_set_error(struct state *s, const char *msg);

/* Reads state_dir/name (STATE_CURRENT, STATE_PREVIOUS); -ENOENT when absent. */
int state_read_envelope(const char *dir, const char *name, size_t max, char **ret, size_t *ret_len,
                        struct wf_err *e);
/* Keeps current.env as previous.env, then writes env as current.env. */
int state_store_accepted(const char *dir, const char *env, size_t len, struct wf_err *e);
/* Writes env as current.env and leaves previous.env alone: for a current.env that holds nothing
 * to go back to (corrupt, not verifiable). */
int state_replace_current(const char *dir, const char *env, size_t len, struct wf_err *e);
/* previous.env becomes current.env; the old current.env is kept as reverted.env.
 * -ENOENT when there is no previous.env. */
int state_swap_previous(const char *dir, size_t max, struct wf_err *e);
