/* SPDX-License-Identifier: MIT */
#pragma once

/* Status reports from agents ("wgfleet/status/v1") and the fleet health view built from them.
 * Pure: JSON text in, structs and JSON/HTML text out. */

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "util.h"

#define CTL_STATUS_MAX_SIZE (1024u * 1024)

/* What the controller keeps from a node's last status report. */
struct ctl_report {
        uint64_t applied_revision; /* 0: nothing applied */
        int64_t received_at;       /* unix s, when the controller took the report */
        char state[16];
        unsigned peers_healthy;
        unsigned peers_total;
};

/* Validates a status report for node (the body's node must match). On error -EINVAL and e
 * names the JSON path. */
int ctl_status_parse(const char *json, size_t len, const char *node, int64_t now,
                     struct ctl_report *ret, struct wf_err *e);

struct ctl_fleet_row {
        const char *name;
        uint64_t current_revision;
        const struct ctl_report *report; /* NULL: never reported */
        bool agentless;                  /* "agent": false: it never reports */
        int config_stale;                /* agentless: ctl_wgquick_stale() (1 stale, 0 current, -1 never downloaded) */
        uint64_t target_revision;        /* what the inventory says it should run (rollouts serve in waves) */
        unsigned wave;                   /* its rollout wave */
};

/* stale: applied != current (behind, or ahead of what this controller issued), never reported,
 * or last report older than 3 poll intervals. A node without an agent is stale when the
 * wg-quick configuration it last downloaded is not the current one (or it never downloaded). */
bool ctl_fleet_stale(const struct ctl_fleet_row *row, uint32_t poll_interval, int64_t now);
/* {"generated_at", "poll_interval", "nodes": [{"name", "current_revision", "stale", "peers_healthy",
 * "peers_total", "agent", "config_stale" (agentless nodes only), "applied_revision", "last_report",
 * "state", "target_revision", "wave"}], "rollout" (when not NULL)} as text, in the form
 * json_dumps(JSON_INDENT(2) | JSON_PRESERVE_ORDER) gives, written straight from the rows: 10 000
 * rows as a tree of JSON objects cost ~280 ms of CPU a view, as text a few ms. malloc'd, NULL
 * on ENOMEM; *ret_len its length. */
char *ctl_fleet_json_text(const struct ctl_fleet_row *rows, size_t n, uint32_t poll_interval, int64_t now,
                          const json_t *rollout, size_t *ret_len);
/* The same table as a small self-refreshing HTML page; malloc'd, NULL on ENOMEM. */
char *ctl_fleet_html(const struct ctl_fleet_row *rows, size_t n, const char *wan_name,
                     uint32_t poll_interval, int64_t now);
/* Writes s with < > & " ' escaped for HTML (the fleet page and its rollout sections). */
void ctl_html_escape(FILE *f, const char *s);
