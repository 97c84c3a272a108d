/* SPDX-License-Identifier: MIT */
#pragma once

/* The running agent (`run`, `once`), shared by its three files: agent-run.c (setup, reload,
 * teardown, signals), agent-cycle.c (fetch -> accept -> apply -> confirm wiring, the policy's
 * state_dir and backend I/O) and agent-report.c (reports, metrics, sd_notify status). Every
 * decision is agent-policy.c's. */

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "agent-daemon.h"
#include "agent-policy.h"
#include "agent-watch.h"
#include "agent.h"
#include "backend.h"
#include "http.h"
#include "reconcile.h"
#include "status.h"

#define USEC_PER_SEC 1000000ULL

struct agent {
        struct agent_ctx *ctx;
        bool once;
        int exit_code;
        sd_event *event;
        struct http_client *http;
        struct status_server *metrics;
        const struct backend_ops *ops;
        struct backend *backend;
        struct dsse_trust trust;
        char *status_url;
        char *report_problem;          /* why the last status report was refused (a report line) */

        struct policy p;               /* state, the running document, the report's error slots */
        struct policy_io io;           /* agent-run.c's state_dir and backend steps */
        struct agentd_resolver *resolver;
        struct agent_watch *watch;     /* liveness, endpoint failover, exit policies (run only) */
        struct wf_doc *rdoc;           /* p.doc with endpoint names resolved; the last reconcile borrows it */
        char **resolve_errors;         /* names failing right now (report lines) */
        size_t n_resolve_errors;
        struct reconcile_result res;   /* the last reconcile: owns the observations below (or
                                        * borrows them from cache) */
        struct reconcile_cache cache;  /* `run` with a monitor: the live state between resyncs */
        struct rtmon *mon;             /* NULL: no cache, every poll observes everything */
        sd_event_source *mon_source, *resync_timer, *resync_soon;
        bool resync_pending;
        enum status_resync_cause resync_cause;
        struct backend_stats netlink_base; /* counters of backends closed by a reload */
        uint64_t last_cycle_usec;      /* duration of the last apply of a document */
        struct wf_live_iface **live;   /* last observation per interface: from res, or obs */
        struct wf_live_iface **obs;    /* owned: a fresher observation for reports and scrapes */
        size_t n_obs;
        uint64_t observed_usec;        /* CLOCK_MONOTONIC of the last observation */
        size_t n_live;

        char *reject_etag;             /* ETag of the refused document: idle polls stay 304 */
        uint64_t accepted_was;         /* the floor before the accept in progress (for the log) */
        char **notes;                  /* per-peer problems from the last apply */
        size_t n_notes;
        char **drift;                  /* what the last drift check changed */
        size_t n_drift;

        struct status_counters counters;
        bool applying;
        bool ready;
        bool applied_this_cycle;
        unsigned failures;             /* consecutive failed fetches */

        sd_event_source *poll_timer, *report_timer, *confirm_timer, *resolve_timer;
        struct http_request *fetch_req, *report_req;
        bool report_again;
        size_t n_drift_sent;           /* drift lines in the report in flight */
        bool once_fetch_done;
};

/* agent-run.c: small helpers of the loop */
int64_t agentr_now(void);
uint64_t agentr_mono_usec(void);
void agentr_strv_free(char **v, size_t n);
int agentr_strv_push(char ***v, size_t *n, const char *s);
/* Frees the last observations and the reconcile result (they borrow from p.doc). */
void agentr_live_free(struct agent *a);
void agentr_timer_arm(struct agent *a, sd_event_source **s, uint64_t usec, sd_event_time_handler_t cb);
void agentr_timer_off(sd_event_source *s);

/* agent-cycle.c */
extern const struct policy_io agentr_policy_io; /* userdata: the struct agent */
/* An apply outside the policy's sequences (cache, drift check, re-resolve): changes or -errno. */
int agentr_apply_now(struct agent *a, enum policy_apply kind);
/* A verified envelope from state_dir, expiry not checked (the policy decides on it). */
int agentr_open_state(struct agent *a, const char *name, struct wf_doc **ret, struct wf_err *e);
void agentr_start_fetch(struct agent *a);
void agentr_notify_ready(struct agent *a);
void agentr_arm_confirm(struct agent *a);
void agentr_confirm_ok(struct agent *a, const char *how);
void agentr_maybe_exit_once(struct agent *a);
void agentr_on_resolved(void *userdata, bool changed);
int agentr_on_resolve_timer(sd_event_source *s, uint64_t usec, void *userdata);

/* agent-observe.c: the monitor, the cache's resyncs */
int agentr_observe_open(struct agent *a);
void agentr_observe_close(struct agent *a);
void agentr_resync_arm(struct agent *a);
/* Applies plan against the cache (a monitor is running). */
bool agentr_cached(const struct agent *a);
/* Whether a poll that brings no new document re-observes everything (no monitor, or exits). */
bool agentr_poll_observes(const struct agent *a);
/* counters.netlink from the backend's counters. */
void agentr_netlink_counters(struct agent *a);

/* agent-report.c */
/* Writes status.json, updates STATUS=, POSTs the report when a status URL is configured. */
void agentr_send_report(struct agent *a);
/* status_render_fn for the metrics listener: JSON report or Prometheus text. */
int agentr_render(void *userdata, bool json, char **ret, size_t *ret_len);
int agentr_on_report_timer(sd_event_source *s, uint64_t usec, void *userdata);
