/* SPDX-License-Identifier: MIT */
#pragma once

/* The agent's report, in three forms built from the same inputs: the status JSON
 * ("wgfleet/status/v1", POSTed to the controller), the Prometheus text exposition
 * (wgfleet_* metrics) and the table `wgfleet-agent status` prints. Plus a small metrics
 * listener (libmicrohttpd) driven by an sd-event loop. */

#include <stdint.h>
#include <stdio.h>
#include <systemd/sd-event.h>

#include "model.h"
#include "util.h"

enum status_state {
        STATUS_CONVERGED,
        STATUS_APPLYING,
        STATUS_DEGRADED,
        STATUS_OFFLINE,
        STATUS_REJECTED,
        _STATUS_STATE_MAX,
};

enum status_fetch_result {
        STATUS_FETCH_OK,           /* 200 with an accepted document */
        STATUS_FETCH_NOT_MODIFIED, /* 304, or the same revision again */
        STATUS_FETCH_REJECTED,     /* signature, node, revision, expiry or validation */
        STATUS_FETCH_ERROR,        /* transport or HTTP error */
        _STATUS_FETCH_MAX,
};

enum status_apply_result {
        STATUS_APPLY_CHANGED,
        STATUS_APPLY_UNCHANGED,
        STATUS_APPLY_FAILED,
        _STATUS_APPLY_MAX,
};

enum status_resync_cause {
        STATUS_RESYNC_TIMER,      /* resync_interval passed */
        STATUS_RESYNC_MONITOR,    /* the monitor saw a change the agent did not make */
        STATUS_RESYNC_LOST,       /* the monitor lost events (ENOBUFS) */
        _STATUS_RESYNC_MAX,
};

/* Counters for the metrics; the agent increments them. */
struct status_counters {
        uint64_t fetch[_STATUS_FETCH_MAX];
        uint64_t apply[_STATUS_APPLY_MAX];
        uint64_t report_ok, report_error;
        uint64_t drift;     /* cycles that found drift and re-applied */
        uint64_t reverts;   /* commit-confirmed or manual rollbacks */
        uint64_t resolve_changes; /* endpoints re-resolved to a new address */
        uint64_t resync[_STATUS_RESYNC_MAX]; /* full re-reads of the live state in `run`, by cause */
        struct {                  /* what the backend sent (struct backend_stats) */
                uint64_t wg_set, wg_get, rtnl;
        } netlink;
        uint64_t endpoint_switches; /* endpoint failovers and returns to the primary */
        uint64_t exit_switches;   /* default route moved by the liveness watch */
};

struct status_report {
        const char *node;
        enum status_state state;
        uint64_t applied_revision;
        uint64_t seen_revision;
        int64_t last_fetch_ok;    /* unix s; 0 = never (JSON null) */
        int64_t last_apply;       /* unix s; 0 = never (JSON null) */
        int64_t expires_at;       /* of the applied document; 0 = unknown */
        uint64_t unconfirmed_revision; /* applied, waiting for a fetch or report (0 = none) */
        uint64_t last_apply_cycle_us;  /* `run`: duration of the last apply cycle; 0 = none (JSON null) */
        const char *const *errors;
        size_t n_errors;
        const char *const *drift;
        size_t n_drift;
        const struct wf_doc *doc; /* borrowed, may be NULL: gives peer names */
        struct wf_live_iface *const *live; /* borrowed observations, may contain NULL */
        size_t n_live;
        int64_t now;              /* unix s */
        /* borrowed, may be NULL: the running agent's liveness view (docs/protocol.md, "failover") */
        struct json_t *failover;
};

const char *status_state_to_string(enum status_state s);
const char *status_fetch_result_to_string(enum status_fetch_result r);
const char *status_apply_result_to_string(enum status_apply_result r);

/* The status document: returns a json_t * (jansson, new reference) or NULL on ENOMEM. */
struct json_t;
struct json_t *status_to_json(const struct status_report *s);
/* The same as compact JSON text (malloc'd). */
int status_to_json_text(const struct status_report *s, char **ret);
/* Prometheus text exposition format 0.0.4 (malloc'd). c may be NULL (one-shot commands). */
int status_metrics_text(const struct status_report *s, const struct status_counters *c,
                        char **ret, size_t *ret_len);
/* The human table: agent line, then one row per peer. */
void status_print_table(const struct status_report *s, FILE *f);

/* Metrics listener. The callback fills *ret (malloc'd) for GET /metrics (json=false) or
 * GET /status (json=true); it runs in the event loop, single-threaded. */
typedef int (*status_render_fn)(void *userdata, bool json, char **ret, size_t *ret_len);
struct status_server;
/* listen: "127.0.0.1:9586", "[::1]:9586" or ":9586" (all addresses). */
int status_server_new(sd_event *event, const char *listen, status_render_fn fn, void *userdata,
                      struct status_server **ret, struct wf_err *e);
struct status_server *status_server_free(struct status_server *s); /* takes NULL */
