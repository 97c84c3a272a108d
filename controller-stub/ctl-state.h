/* SPDX-License-Identifier: MIT */
#pragma once

/* The controller's memory between renders (STATE_DIR/state.json): tunnel IP allocations,
 * enrolled node keys, and per node the last rendered revision and content hash, so that an
 * unchanged inventory renders byte-identical documents and no revision moves. */

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "util.h"

#define CTL_STATE_FILE "state.json"
/* render's state directory without --state: never the output directory, which is usually a
 * web root (state.json holds the fleet's address allocations); the same as the unit's. */
#define CTL_STATE_DIR_DEFAULT "/var/lib/wgfleet-controller"

struct ctl_state {
        char *path; /* NULL: in memory only (tests) */
        json_t *root;
        json_t *owners; /* credential hash -> node, built from "credentials" on first use; NULL: to build */
};

struct ctl_node_rev {
        uint64_t revision;
        int64_t issued_at;
        int64_t expires_at;
        char hash[65]; /* hex SHA-256 of the content without revision and timestamps */
};

/* dir NULL: an empty in-memory state. A missing file is an empty state; a corrupt one is an
 * error (losing allocations would renumber the fleet). */
int ctl_state_load(const char *dir, struct ctl_state **ret, struct wf_err *e);
int ctl_state_save(const struct ctl_state *st, struct wf_err *e);
void ctl_state_free(struct ctl_state *st); /* takes NULL */

/* Allocations from tunnel_cidr (CTL_ALLOC) and from tunnel_cidr6 (CTL_ALLOC6). */
#define CTL_ALLOC "allocations"
#define CTL_ALLOC6 "allocations6"
const char *ctl_state_allocation(const struct ctl_state *st, const char *section, const char *node);
int ctl_state_set_allocation(struct ctl_state *st, const char *section, const char *node, const char *addr);
/* Forgets allocations of nodes for which keep(node, userdata) is false. */
void ctl_state_prune_allocations(struct ctl_state *st, const char *section,
                                 bool (*keep)(const char *node, void *userdata), void *userdata);

/* 1 and the key when enrolled, 0 when not. */
int ctl_state_enrolled(const struct ctl_state *st, const char *node, uint8_t ret_key[32]);
int ctl_state_set_enrolled(struct ctl_state *st, const char *node, const uint8_t key[32]);

/* Per-node credentials (STATE "credentials": node -> hex SHA-256 of the credential). The
 * credential itself is handed to the node once, at enrolment, and never stored here. */
#define CTL_CREDENTIAL_HASH_LEN 64
/* 1 and the hash when the node holds a credential, 0 when not. */
int ctl_state_credential(const struct ctl_state *st, const char *node, char ret_hash[CTL_CREDENTIAL_HASH_LEN + 1]);
/* hash NULL: forget the node's credential. */
int ctl_state_set_credential(struct ctl_state *st, const char *node, const char *hash);
/* The node whose credential hash is hash, NULL when none (borrowed from st). O(1): a reverse
 * index kept next to "credentials" (a scan compared 10 000 hashes per request under the
 * controller's lock). */
const char *ctl_state_credential_owner(struct ctl_state *st, const char *hash);

/* 1 and the record when the node was rendered before, 0 when not. */
int ctl_state_node_rev(const struct ctl_state *st, const char *node, struct ctl_node_rev *ret);
int ctl_state_set_node_rev(struct ctl_state *st, const char *node, const struct ctl_node_rev *rev);
