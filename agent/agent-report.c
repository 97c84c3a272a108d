/* SPDX-License-Identifier: MIT */
/* The running agent's reports: status.json, the POST to the controller, sd_notify STATUS=, the
 * metrics listener's answers. What a report says (state, errors) is agent-policy.c's. */
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <systemd/sd-daemon.h>

#include "agent-load.h"
#include "agent-run.h"

/* Handshakes and counters move between cycles: a report or a scrape re-observes (read only)
 * when the last observation is older than OBSERVE_MAX_AGE_USEC; with the cache (a monitor runs),
 * at most once per report_interval, so a cycle that changed one peer is not followed by a dump. */
#define OBSERVE_MAX_AGE_USEC (5 * USEC_PER_SEC)
static uint64_t observe_max_age(const struct agent *a) {
        if (!agentr_cached(a))
                return OBSERVE_MAX_AGE_USEC;
        return (uint64_t)a->ctx->cfg.report_interval * USEC_PER_SEC * 9 / 10;
}

static void refresh_live(struct agent *a) {
        struct wf_live_iface **obs, **live;
        struct wf_err e = {};
        size_t n;

        if (!a->p.doc || !a->backend || a->applying || agentr_mono_usec() - a->observed_usec < observe_max_age(a))
                return;
        n = a->p.doc->n_ifaces;
        if (agent_observe_all(a->ops, a->backend, a->p.doc, &obs, &e) < 0) {
                agent_live_free(obs, n); /* keep what the last cycle saw */
                return;
        }
        live = calloc(n + 1, sizeof(*live));
        if (!live) {
                agent_live_free(obs, n);
                return;
        }
        memcpy(live, obs, n * sizeof(*live));
        /* An apply planned against the cache reports the cache's peers: they get these times. */
        if (agentr_cached(a))
                (void)reconcile_cache_stats(&a->cache, obs, n);
        for (size_t i = 0; i < a->n_obs; i++)
                wf_live_iface_free(a->obs[i]);
        free(a->obs);
        free(a->live);
        a->obs = obs;
        a->n_obs = n;
        a->live = live;
        a->n_live = n;
        a->observed_usec = agentr_mono_usec();
}

/* Fills r; the string array is malloc'd into *errs (free with free(), strings borrowed). */
static int build_report(struct agent *a, struct status_report *r, const char ***errs) {
        int64_t now = agentr_now();
        const char **e;
        size_t n;

        refresh_live(a);
        agentr_strv_free(a->resolve_errors, a->n_resolve_errors);
        a->resolve_errors = NULL;
        a->n_resolve_errors = 0;
        (void)agentd_resolver_errors(a->resolver, a->p.doc, &a->resolve_errors, &a->n_resolve_errors);
        e = calloc(POLICY_MAX_ERRORS + a->n_notes + a->n_resolve_errors + 1, sizeof(char *));
        if (!e)
                return -ENOMEM;
        n = policy_report_errors(&a->p, now, e);
        for (size_t i = 0; i < a->n_notes; i++)
                e[n++] = a->notes[i];
        for (size_t i = 0; i < a->n_resolve_errors; i++)
                e[n++] = a->resolve_errors[i];
        if (a->report_problem)
                e[n++] = a->report_problem;
        *r = (struct status_report){
                .node = a->ctx->cfg.node,
                .state = policy_report_state(&a->p, a->applying),
                .applied_revision = a->p.st.applied_revision,
                .seen_revision = a->p.st.seen_revision,
                .last_fetch_ok = a->p.st.last_fetch_ok,
                .last_apply = a->p.st.last_apply,
                .expires_at = a->p.doc ? a->p.doc->expires_at : 0,
                .unconfirmed_revision = a->p.st.confirm_revision,
                .last_apply_cycle_us = a->last_cycle_usec,
                .errors = e,
                .n_errors = n,
                .drift = (const char *const *)a->drift,
                .n_drift = a->n_drift,
                .doc = a->p.doc,
                .live = a->live,
                .n_live = a->n_live,
                .now = now,
                .failover = agentr_watch_json(a), /* the caller's reference */
        };
        *errs = e;
        return 0;
}

int agentr_render(void *userdata, bool json, char **ret, size_t *ret_len) {
        struct agent *a = userdata;
        _cleanup_free_ const char **errs = NULL;
        struct status_report r;
        int k;

        k = build_report(a, &r, &errs);
        if (k < 0)
                return k;
        if (json) {
                k = status_to_json_text(&r, ret);
                if (k >= 0)
                        *ret_len = strlen(*ret);
        } else {
                agentr_netlink_counters(a);
                k = status_metrics_text(&r, &a->counters, ret, ret_len);
        }
        json_decref(r.failover);
        return k;
}

static void on_report_done(struct http_request *req, int r, const struct http_response *resp,
                           const struct wf_err *e, void *userdata);

void agentr_send_report(struct agent *a) {
        _cleanup_free_ const char **errs = NULL;
        _cleanup_free_ char *body = NULL;
        char path[PATH_MAX];
        struct status_report r;
        struct wf_err e = {};
        int k;

        k = build_report(a, &r, &errs);
        if (k >= 0) {
                k = status_to_json_text(&r, &body);
                json_decref(r.failover);
        }
        if (k < 0) {
                agentd_log(LOG_ERR, "status report: out of memory");
                return;
        }
        /* `wgfleet-agent status` reads the last report for the agent's state and errors. */
        snprintf(path, sizeof(path), "%s/status.json", a->ctx->cfg.state_dir);
        k = wf_write_file_atomic(path, body, strlen(body), 0644 | WF_DIR_OWNER);
        if (k < 0)
                agentd_log(LOG_WARNING, "%s: %s", path, strerror(-k));

        sd_notifyf(0, "STATUS=%s, revision %" PRIu64 " applied, %zu error(s)",
                   status_state_to_string(r.state), r.applied_revision, r.n_errors);

        if (!a->status_url || !a->http)
                return;
        if (a->report_req) {
                a->report_again = true;
                return;
        }
        a->n_drift_sent = a->n_drift;
        k = http_post_json(a->http, a->status_url, body, strlen(body), on_report_done, a, &a->report_req, &e);
        if (k < 0) {
                a->counters.report_error++;
                agentd_log(LOG_WARNING, "status report: %s", e.msg);
        }
}

static void on_report_done(_unused_ struct http_request *req, int r, const struct http_response *resp,
                           const struct wf_err *e, void *userdata) {
        struct agent *a = userdata;

        a->report_req = NULL;
        if (r < 0) {
                a->counters.report_error++;
                agentd_log(LOG_WARNING, "status report to %s: %s", a->status_url, e->msg);
        } else if (resp->status < 200 || resp->status >= 300) {
                /* Refused for good (wrong URL, credential or node): an error, in the log and in
                 * the report's errors[], not a transient warning. */
                bool lasting = resp->status == 404 || resp->status == 401 || resp->status == 403 ||
                               resp->status == 405 || resp->status == 400;
                a->counters.report_error++;
                free(a->report_problem);
                a->report_problem = NULL;
                if (asprintf(&a->report_problem, "status report to %s: HTTP %ld%s", a->status_url, resp->status,
                             resp->status == 404 ? " (no such endpoint or node: check [controller] status_url)"
                             : resp->status == 401 || resp->status == 403 ? " (credential or token refused)"
                                                                           : "") < 0)
                        a->report_problem = NULL;
                agentd_log(lasting ? LOG_ERR : LOG_WARNING, "%s", a->report_problem ? a->report_problem : "status report refused");
        } else {
                free(a->report_problem);
                a->report_problem = NULL;
                a->counters.report_ok++;
                agentr_confirm_ok(a, "a status report");
                /* Delivered drift lines are done; newer ones wait for the next report. */
                for (size_t i = 0; i < a->n_drift_sent && i < a->n_drift; i++)
                        free(a->drift[i]);
                if (a->n_drift_sent > 0 && a->n_drift_sent <= a->n_drift) {
                        memmove(a->drift, a->drift + a->n_drift_sent, (a->n_drift - a->n_drift_sent) * sizeof(char *));
                        a->n_drift -= a->n_drift_sent;
                }
                a->n_drift_sent = 0;
        }
        if (a->report_again) {
                a->report_again = false;
                agentr_send_report(a);
        }
        agentr_maybe_exit_once(a);
}

int agentr_on_report_timer(_unused_ sd_event_source *s, _unused_ uint64_t usec, void *userdata) {
        struct agent *a = userdata;

        agentr_send_report(a);
        agentr_timer_arm(a, &a->report_timer, (uint64_t)a->ctx->cfg.report_interval * USEC_PER_SEC,
                         agentr_on_report_timer);
        return 0;
}
