/* SPDX-License-Identifier: MIT */
#pragma once

/* Renders one desired-state document ("wgfleet/desired-state/v1") per node from the inventory,
 * allocates tunnel IPs, decides revisions, and signs the documents into DSSE envelopes. */

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "ctl-inventory.h"
#include "ctl-state.h"
#include "util.h"

struct ctl_rendered {
        char *node;
        uint64_t revision;
        bool changed;      /* a new revision in this render */
        char *payload;     /* the document, compact JSON with sorted keys */
        size_t payload_len;
        char *envelope;    /* DSSE envelope JSON, NULL when rendered without a key */
        size_t envelope_len;
        char etag[48];     /* strong ETag with quotes: "REVISION-HASH8" */
        char inventory_hash[65]; /* hash of the content the inventory renders (before any pin) */
};

struct ctl_render {
        struct ctl_rendered *nodes;
        size_t n_nodes;
        json_t *index;     /* node name -> position in nodes (ctl_render_index); NULL: searched */
};

/* Allocates tunnel IPs (persisted in st), renders every node of inv (enrolled keys come from
 * st), assigns revisions (unchanged content keeps its revision, issued_at and expires_at until
 * half of the validity has passed) and signs with sk (64-byte ed25519 secret key; NULL: no
 * envelopes). st is updated in memory; the caller saves it. */
int ctl_render_all(const struct ctl_inventory *inv, struct ctl_state *st, int64_t now, const uint8_t *sk,
                   struct ctl_render **ret, struct wf_err *e, wf_warn_fn warn, void *userdata);
void ctl_render_free(struct ctl_render *r); /* takes NULL */
const struct ctl_rendered *ctl_render_find(const struct ctl_render *r, const char *node);
/* Indexes r by node name, so that ctl_render_find is a hash lookup (the fleet view looks up
 * every node: 10k nodes were 50M string compares). */
int ctl_render_index(struct ctl_render *r);

/* Writes DIR/NODE.env for every node whose file differs (an unchanged file keeps its mtime, so
 * static servers keep their ETag) and removes *.env files of nodes no longer in the inventory. */
int ctl_render_write(const struct ctl_render *r, const char *dir, struct wf_err *e);
