/* SPDX-License-Identifier: MIT */
/* `run` and `once`: the pull loop. One sd-event loop drives everything: the fetch and report
 * requests (libcurl multi), poll/report/confirm timers, signals, the metrics listener and the
 * watchdog. The backend calls (observe/apply) are the only synchronous work in the loop. */
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <sodium.h>
#include <sys/file.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>
#include <time.h>

#include "agent-daemon.h"
#include "agent.h"
#include "backend.h"
#include "document.h"
#include "dsse.h"
#include "http.h"
#include "keys.h"
#include "reconcile.h"
#include "state.h"
#include "status.h"

#define USEC_PER_SEC 1000000ULL
#define DRIFT_MAX 100 /* drift lines kept until a report carrying them is delivered */

enum apply_kind {
        APPLY_NEW,     /* a newly accepted revision */
        APPLY_CACHED,  /* the cached revision at start */
        APPLY_CHECK,   /* same revision again: any change found is drift */
        APPLY_REVERT,  /* the previous accepted revision */
        APPLY_RESOLVE, /* an endpoint name resolved to a new address */
};

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

        struct state st;
        struct wf_doc *doc;            /* the accepted document the node runs */
        struct agentd_resolver *resolver;
        struct wf_doc *rdoc;           /* doc with endpoint names resolved; the last reconcile borrows it */
        char **resolve_errors;         /* names failing right now (report lines) */
        size_t n_resolve_errors;
        struct reconcile_result res;   /* the last reconcile: owns the observations below */
        struct wf_live_iface **live;   /* last observation per interface: from res, or obs */
        struct wf_live_iface **obs;    /* owned: a fresher observation for reports and scrapes */
        size_t n_obs;
        uint64_t observed_usec;        /* CLOCK_MONOTONIC of the last observation */
        size_t n_live;

        /* Error slots: each is one line of the report's errors[] while set. */
        char fetch_error[1024];
        char reject_error[1024];
        char *reject_etag;             /* ETag of the refused document: idle polls stay 304 */
        char apply_error[1024];
        char cache_error[1024];
        char expiry_error[256];
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

static void strv_free(char **v, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

static int strv_push(char ***v, size_t *n, const char *s) {
        char **nv = realloc(*v, (*n + 1) * sizeof(char *));

        if (!nv)
                return -ENOMEM;
        *v = nv;
        nv[*n] = strdup(s);
        if (!nv[*n])
                return -ENOMEM;
        (*n)++;
        return 0;
}

static void obs_free(struct agent *a) {
        for (size_t i = 0; i < a->n_obs; i++)
                wf_live_iface_free(a->obs[i]);
        free(a->obs);
        a->obs = NULL;
        a->n_obs = 0;
}

static void live_free(struct agent *a) {
        free(a->live);
        a->live = NULL;
        a->n_live = 0;
        obs_free(a);
        reconcile_result_done(&a->res);
        agentd_doc_shallow_free(a->rdoc);
        a->rdoc = NULL;
}

/* One line into an error slot; long inputs are cut. */
static void slot_printf(char *buf, size_t n, const char *fmt, ...) _printf_(3, 4);
static void slot_printf(char *buf, size_t n, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(buf, n, fmt, ap);
        va_end(ap);
}

static int64_t now_s(void) {
        return (int64_t)time(NULL);
}

static void timer_arm(struct agent *a, sd_event_source **s, uint64_t usec, sd_event_time_handler_t cb) {
        int r;

        if (*s) {
                r = sd_event_source_set_time_relative(*s, usec);
                if (r >= 0)
                        r = sd_event_source_set_enabled(*s, SD_EVENT_ONESHOT);
        } else
                r = sd_event_add_time_relative(a->event, s, CLOCK_MONOTONIC, usec, USEC_PER_SEC / 10, cb, a);
        if (r < 0)
                agentd_log(LOG_ERR, "cannot arm a timer: %s", strerror(-r));
}

static void timer_off(sd_event_source *s) {
        if (s)
                sd_event_source_set_enabled(s, SD_EVENT_OFF);
}

/* ---- report ---- */

static enum status_state agent_state(const struct agent *a) {
        if (a->applying)
                return STATUS_APPLYING;
        if (a->apply_error[0])
                return STATUS_DEGRADED;
        if (a->reject_error[0])
                return STATUS_REJECTED;
        if (a->st.last_error)
                return STATUS_DEGRADED;
        if (a->fetch_error[0] || !a->doc)
                return STATUS_OFFLINE;
        return STATUS_CONVERGED;
}

static uint64_t mono_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * USEC_PER_SEC + (uint64_t)ts.tv_nsec / 1000;
}

/* Handshakes and counters move between cycles: a report or a scrape re-observes (read only)
 * when the last observation is older than OBSERVE_MAX_AGE_USEC. */
#define OBSERVE_MAX_AGE_USEC (5 * USEC_PER_SEC)
static void refresh_live(struct agent *a) {
        struct wf_live_iface **obs, **live;
        size_t n = 0;

        if (!a->doc || !a->backend || a->applying || mono_usec() - a->observed_usec < OBSERVE_MAX_AGE_USEC)
                return;
        obs = calloc(a->doc->n_ifaces + 1, sizeof(*obs));
        live = calloc(a->doc->n_ifaces + 1, sizeof(*live));
        if (!obs || !live) {
                free(obs);
                free(live);
                return;
        }
        for (size_t i = 0; i < a->doc->n_ifaces; i++) {
                struct wf_err e = {};

                if (a->ops->observe(a->backend, a->doc->ifaces[i].name, &a->doc->ifaces[i], &obs[n], &e) < 0) {
                        /* keep what the last cycle saw */
                        for (size_t j = 0; j < n; j++)
                                wf_live_iface_free(obs[j]);
                        free(obs);
                        free(live);
                        return;
                }
                live[n] = obs[n];
                n++;
        }
        obs_free(a);
        free(a->live);
        a->obs = obs;
        a->n_obs = n;
        a->live = live;
        a->n_live = n;
        a->observed_usec = mono_usec();
}

/* Fills r; the string array is malloc'd into *errs (free with free(), strings borrowed). */
static int build_report(struct agent *a, struct status_report *r, const char ***errs) {
        const char **e;
        size_t n = 0;

        refresh_live(a);
        strv_free(a->resolve_errors, a->n_resolve_errors);
        a->resolve_errors = NULL;
        a->n_resolve_errors = 0;
        (void)agentd_resolver_errors(a->resolver, a->doc, &a->resolve_errors, &a->n_resolve_errors);
        e = calloc(6 + a->n_notes + a->n_resolve_errors, sizeof(char *));
        if (!e)
                return -ENOMEM;
        if (a->cache_error[0])
                e[n++] = a->cache_error;
        if (a->fetch_error[0])
                e[n++] = a->fetch_error;
        if (a->reject_error[0])
                e[n++] = a->reject_error;
        if (a->apply_error[0])
                e[n++] = a->apply_error;
        if (a->st.last_error)
                e[n++] = a->st.last_error;
        if (a->doc && a->doc->expires_at <= now_s()) {
                char t[32];

                /* Kept: tearing the tunnels down would cut the node off for good. */
                wf_format_rfc3339(a->doc->expires_at, t);
                slot_printf(a->expiry_error, sizeof(a->expiry_error), "revision %" PRIu64 " expired at %s; "
                            "kept until the controller publishes a newer one", a->doc->revision, t);
                e[n++] = a->expiry_error;
        }
        for (size_t i = 0; i < a->n_notes; i++)
                e[n++] = a->notes[i];
        for (size_t i = 0; i < a->n_resolve_errors; i++)
                e[n++] = a->resolve_errors[i];
        *r = (struct status_report){
                .node = a->ctx->cfg.node,
                .state = agent_state(a),
                .applied_revision = a->st.applied_revision,
                .seen_revision = a->st.seen_revision,
                .last_fetch_ok = a->st.last_fetch_ok,
                .last_apply = a->st.last_apply,
                .expires_at = a->doc ? a->doc->expires_at : 0,
                .unconfirmed_revision = a->st.confirm_revision,
                .errors = e,
                .n_errors = n,
                .drift = (const char *const *)a->drift,
                .n_drift = a->n_drift,
                .doc = a->doc,
                .live = a->live,
                .n_live = a->n_live,
                .now = now_s(),
        };
        *errs = e;
        return 0;
}

static int render(void *userdata, bool json, char **ret, size_t *ret_len) {
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
                return k;
        }
        return status_metrics_text(&r, &a->counters, ret, ret_len);
}

static void confirm_ok(struct agent *a, const char *how) {
        if (!a->st.confirm_revision)
                return;
        agentd_log(LOG_INFO, "revision %" PRIu64 " confirmed: %s succeeded after the apply", a->st.confirm_revision, how);
        a->st.confirm_revision = 0;
        timer_off(a->confirm_timer);
        (void)state_save(a->ctx->cfg.state_dir, &a->st, NULL);
}

static void maybe_exit_once(struct agent *a);

static void on_report_done(struct http_request *req, int r, const struct http_response *resp,
                           const struct wf_err *e, void *userdata);

static void send_report(struct agent *a) {
        _cleanup_free_ const char **errs = NULL;
        _cleanup_free_ char *body = NULL;
        char path[PATH_MAX];
        struct status_report r;
        struct wf_err e = {};
        int k;

        if (build_report(a, &r, &errs) < 0 || status_to_json_text(&r, &body) < 0) {
                agentd_log(LOG_ERR, "status report: out of memory");
                return;
        }
        /* `wgfleet-agent status` reads the last report for the agent's state and errors. */
        snprintf(path, sizeof(path), "%s/status.json", a->ctx->cfg.state_dir);
        k = wf_write_file_atomic(path, body, strlen(body), 0644);
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

static void on_report_done(struct http_request *req, int r, const struct http_response *resp,
                           const struct wf_err *e, void *userdata) {
        struct agent *a = userdata;

        a->report_req = NULL;
        if (r < 0) {
                a->counters.report_error++;
                agentd_log(LOG_WARNING, "status report to %s: %s", a->status_url, e->msg);
        } else if (resp->status < 200 || resp->status >= 300) {
                a->counters.report_error++;
                agentd_log(LOG_WARNING, "status report to %s: HTTP %ld", a->status_url, resp->status);
        } else {
                a->counters.report_ok++;
                confirm_ok(a, "a status report");
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
                send_report(a);
        }
        maybe_exit_once(a);
}

static int on_report_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        struct agent *a = userdata;

        send_report(a);
        timer_arm(a, &a->report_timer, (uint64_t)a->ctx->cfg.report_interval * USEC_PER_SEC, on_report_timer);
        return 0;
}

/* ---- apply ---- */

static void collect_plan_lines(const struct plan *p, char ***v, size_t *n) {
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        char *line, *save = NULL;

        if (!f)
                return;
        plan_print_text(p, f);
        if (fclose(f) != 0 || !text)
                return;
        for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
                (void)strv_push(v, n, line);
}

/* Brings the node to a->doc. Returns the number of changes or -errno. */
static int apply_doc(struct agent *a, enum apply_kind kind) {
        struct reconcile_result res = {};
        size_t exit_moves = 0;
        struct wf_doc *rdoc = NULL;
        struct wf_err e = {};
        size_t changes;
        int r;

        if (!a->doc)
                return 0;
        r = agentd_resolver_substitute(a->resolver, a->doc, &rdoc);
        if (r < 0)
                return r;
        a->applying = true;
        if (kind != APPLY_CHECK && kind != APPLY_RESOLVE)
                sd_notifyf(0, "STATUS=applying revision %" PRIu64, a->doc->revision);
        r = reconcile_doc(a->ops, a->backend, &a->ctx->cfg, rdoc, 0, &res, &e);
        a->applying = false;
        if (r >= 0 && res.error < 0)
                r = res.error;

        strv_free(a->notes, a->n_notes);
        a->notes = NULL;
        a->n_notes = 0;
        live_free(a);
        a->res = res;
        a->rdoc = rdoc;
        a->live = calloc(res.n_ifaces ? res.n_ifaces : 1, sizeof(*a->live));
        for (size_t i = 0; a->live && i < res.n_ifaces; i++) {
                struct reconcile_iface *ri = &res.ifaces[i];

                if (ri->live)
                        a->live[a->n_live++] = ri->live;
                a->observed_usec = mono_usec();
                for (size_t j = 0; j < ri->n_notes; j++)
                        (void)strv_push(&a->notes, &a->n_notes, ri->notes[j]);
                if (ri->error < 0 && !e.msg[0])
                        slot_printf(e.msg, sizeof(e.msg), "%s: %s", ri->name, ri->error_msg);
                /* An exit failover is the exit selection at work, not drift. */
                if (ri->exit_moved) {
                        exit_moves += ri->changes;
                        for (size_t j = 0; j < ri->n_notes; j++)
                                if (strncmp(ri->notes[j], "exit:", 5) == 0)
                                        agentd_log(LOG_NOTICE, "%s: %s", ri->name, ri->notes[j]);
                } else if (kind == APPLY_CHECK && ri->changes > 0 && a->n_drift < DRIFT_MAX)
                        collect_plan_lines(&ri->plan, &a->drift, &a->n_drift);
        }
        if (kind == APPLY_CHECK && a->res.gw.changes > 0 && a->n_drift < DRIFT_MAX)
                collect_plan_lines(&a->res.gw.plan, &a->drift, &a->n_drift);
        if (a->res.gw_error < 0 && !e.msg[0])
                slot_printf(e.msg, sizeof(e.msg), "%s", a->res.gw_error_msg);
        changes = res.changes;

        /* A check that found nothing to do is not an apply. */
        bool quiet = (kind == APPLY_CHECK || kind == APPLY_RESOLVE) && !changes && r >= 0;

        if (!quiet)
                a->st.last_apply = now_s();
        if (r < 0) {
                a->counters.apply[STATUS_APPLY_FAILED]++;
                slot_printf(a->apply_error, sizeof(a->apply_error), "apply revision %" PRIu64 ": %s",
                         a->doc->revision, e.msg[0] ? e.msg : strerror(-r));
                agentd_log(LOG_ERR, "%s", a->apply_error);
        } else {
                a->apply_error[0] = 0;
                a->st.applied_revision = a->doc->revision;
                a->counters.apply[changes ? STATUS_APPLY_CHANGED : STATUS_APPLY_UNCHANGED]++;
                if (kind == APPLY_RESOLVE && changes) {
                        a->counters.resolve_changes++;
                        agentd_log(LOG_INFO, "endpoint re-resolved: %zu change(s) applied", changes);
                } else if (kind == APPLY_CHECK && changes > exit_moves) {
                        a->counters.drift++;
                        agentd_log(LOG_WARNING, "drift: the live state changed underneath revision %" PRIu64
                                   ", %zu change(s) re-applied", a->doc->revision, changes);
                } else if (kind != APPLY_CHECK && kind != APPLY_RESOLVE)
                        agentd_log(LOG_INFO, "revision %" PRIu64 " applied (%zu change(s))", a->doc->revision, changes);
                if (kind == APPLY_NEW)
                        (void)state_set_error(&a->st, NULL);
        }
        if (!quiet) {
                int k = state_save(a->ctx->cfg.state_dir, &a->st, &e);

                if (k < 0)
                        agentd_log(LOG_ERR, "%s", e.msg);
        }
        return r < 0 ? r : (int)changes;
}

/* ---- endpoint names ---- */

static void on_resolved(void *userdata, bool changed) {
        struct agent *a = userdata;

        if (changed && a->doc && !a->once && apply_doc(a, APPLY_RESOLVE) > 0)
                send_report(a);
}

static int on_resolve_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        struct agent *a = userdata;

        if (a->resolver && a->doc)
                (void)agentd_resolver_refresh(a->resolver, a->doc);
        if (a->ctx->cfg.resolve_interval)
                timer_arm(a, &a->resolve_timer, (uint64_t)a->ctx->cfg.resolve_interval * USEC_PER_SEC, on_resolve_timer);
        return 0;
}

/* ---- accept ---- */

static int on_confirm_timeout(sd_event_source *s, uint64_t usec, void *userdata);

static void reject(struct agent *a, const char *fmt, ...) _printf_(2, 3);
static void reject(struct agent *a, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(a->reject_error, sizeof(a->reject_error), fmt, ap);
        va_end(ap);
        a->counters.fetch[STATUS_FETCH_REJECTED]++;
        agentd_log(LOG_ERR, "%s", a->reject_error);
}

/* Interfaces the old revision had and the new one does not: remove what the agent owns there. */
static void retire(struct agent *a, struct wf_doc *old) {
        struct wf_err e = {};

        if (!old)
                return;
        if (a->doc && reconcile_retire(a->ops, a->backend, old, a->doc, &e) < 0)
                agentd_log(LOG_ERR, "retiring interfaces of revision %" PRIu64 ": %s", old->revision, e.msg);
        wf_doc_free(old);
}

/* Whether current.env holds a revision to go back to: verified and for this node, expired or not. */
static bool current_usable(struct agent *a) {
        _cleanup_free_ char *env = NULL;
        struct wf_doc *doc = NULL;
        struct wf_err e = {};
        size_t len;

        if (state_read_envelope(a->ctx->cfg.state_dir, STATE_CURRENT, a->ctx->cfg.max_document_size,
                                &env, &len, &e) < 0 ||
            agentd_open_envelope(&a->ctx->cfg, &a->trust, env, len, now_s(), false, &doc, &e) < 0)
                return false;
        wf_doc_free(doc);
        return true;
}

static void handle_document(struct agent *a, const struct http_response *resp) {
        const char *body = resp->body, *etag = resp->etag;
        size_t len = resp->len;
        struct wf_doc *doc = NULL, *old;
        struct wf_prefix ctl;
        const char *why;
        struct wf_err e = {};
        uint64_t rev;
        bool pending = false;
        int r;

        free(a->reject_etag);
        a->reject_etag = NULL;

        r = agentd_open_envelope(&a->ctx->cfg, &a->trust, body, len, now_s(), true, &doc, &e);
        /* Lockout lint against the address the controller actually answered from (the URL may
         * name it by a DNS name). */
        if (r >= 0 && resp->primary_ip[0] && wf_prefix_parse(resp->primary_ip, false, &ctl, &why) >= 0) {
                r = doc_check_underlay(doc, &ctl, "the controller", &e);
                if (r < 0) {
                        wf_doc_free(doc);
                        doc = NULL;
                }
        }
        if (r < 0) {
                reject(a, "document rejected: %s", e.msg);
                a->reject_etag = etag ? strdup(etag) : NULL;
                return;
        }
        rev = doc->revision;
        a->st.seen_revision = rev;
        if (rev < a->st.accepted_revision) {
                reject(a, "document rejected: revision %" PRIu64 " is older than the accepted revision %" PRIu64
                       " (a replayed document must not roll the node back)", rev, a->st.accepted_revision);
                a->reject_etag = etag ? strdup(etag) : NULL;
                wf_doc_free(doc);
                return;
        }
        a->reject_error[0] = 0;
        a->st.last_fetch_ok = now_s();
        if (rev == a->st.accepted_revision && (a->doc || rev == a->st.reverted_revision)) {
                /* Equal: nothing to do. A reverted revision stays reverted until a newer one. */
                a->counters.fetch[STATUS_FETCH_NOT_MODIFIED]++;
                free(a->st.etag);
                a->st.etag = etag ? strdup(etag) : NULL;
                wf_doc_free(doc);
                (void)state_save(a->ctx->cfg.state_dir, &a->st, NULL);
                return;
        }
        /* A corrupt current.env is nothing to go back to: it must not become previous.env, which
         * revert and commit-confirmed restore. */
        if (a->doc || current_usable(a))
                r = state_store_accepted(a->ctx->cfg.state_dir, body, len, &e);
        else
                r = state_replace_current(a->ctx->cfg.state_dir, body, len, &e);
        if (r < 0)
                agentd_log(LOG_ERR, "cannot persist revision %" PRIu64 ": %s", rev, e.msg);
        a->counters.fetch[STATUS_FETCH_OK]++;
        agentd_log(LOG_INFO, "accepted revision %" PRIu64 " (was %" PRIu64 ")", rev, a->st.accepted_revision);
        a->st.accepted_revision = rev;
        a->st.reverted_revision = 0;
        free(a->st.etag);
        a->st.etag = etag ? strdup(etag) : NULL;
        old = a->doc;
        a->doc = doc;
        a->cache_error[0] = 0;
        /* The confirmation window is persisted before the first change reaches the node: a crash
         * or SIGTERM in the middle of the apply must still leave a restart that reverts. */
        if (a->ctx->cfg.confirm_timeout > 0) {
                _cleanup_free_ char *prev = NULL;
                size_t plen;

                if (state_read_envelope(a->ctx->cfg.state_dir, STATE_PREVIOUS, a->ctx->cfg.max_document_size,
                                        &prev, &plen, NULL) >= 0)
                        pending = true;
        }
        if (pending) {
                a->st.confirm_revision = rev;
                (void)state_save(a->ctx->cfg.state_dir, &a->st, NULL);
        }
        r = apply_doc(a, APPLY_NEW);
        a->applied_this_cycle = true;
        retire(a, old);
        /* New names get an address from the loop's resolver from now on. */
        if (a->resolver)
                (void)agentd_resolver_refresh(a->resolver, a->doc);
        if (pending && r > 0)
                timer_arm(a, &a->confirm_timer, (uint64_t)a->ctx->cfg.confirm_timeout * USEC_PER_SEC,
                          on_confirm_timeout);
        else if (pending) {
                /* Nothing changed on the node: nothing to confirm. */
                a->st.confirm_revision = 0;
                (void)state_save(a->ctx->cfg.state_dir, &a->st, NULL);
        }
        send_report(a);
}

/* ---- revert ---- */

static int load_current(struct agent *a, bool check_expiry, struct wf_err *e) {
        _cleanup_free_ char *env = NULL;
        struct wf_doc *doc = NULL;
        size_t len;
        int r;

        r = state_read_envelope(a->ctx->cfg.state_dir, STATE_CURRENT, a->ctx->cfg.max_document_size, &env, &len, e);
        if (r < 0)
                return r;
        r = agentd_open_envelope(&a->ctx->cfg, &a->trust, env, len, now_s(), check_expiry, &doc, e);
        if (r < 0)
                return r;
        live_free(a); /* the last reconcile borrows from the document */
        wf_doc_free(a->doc);
        a->doc = doc;
        return 0;
}

static int on_confirm_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        struct agent *a = userdata;
        const char *dir = a->ctx->cfg.state_dir;
        _cleanup_free_ char *env = NULL;
        struct wf_doc *old, *prev = NULL;
        uint64_t bad = a->st.confirm_revision;
        char why[512];
        struct wf_err e = {};
        size_t len;
        int r;

        if (!bad)
                return 0;
        a->st.confirm_revision = 0;
        /* previous.env is verified before anything moves: swapping in a corrupt one would leave
         * garbage as current.env and nothing to start from. */
        r = state_read_envelope(dir, STATE_PREVIOUS, a->ctx->cfg.max_document_size, &env, &len, &e);
        if (r >= 0)
                r = agentd_open_envelope(&a->ctx->cfg, &a->trust, env, len, now_s(), false, &prev, &e);
        if (r >= 0)
                r = state_swap_previous(dir, a->ctx->cfg.max_document_size, &e);
        if (r < 0) {
                char msg[sizeof(e.msg) + 128];

                wf_doc_free(prev);
                snprintf(msg, sizeof(msg), "commit-confirmed: cannot revert revision %" PRIu64
                         ", the previous revision is unusable: %s", bad, e.msg);
                agentd_log(LOG_ERR, "%s", msg);
                (void)state_set_error(&a->st, msg);
                (void)state_save(dir, &a->st, NULL);
                send_report(a);
                return 0;
        }
        live_free(a); /* the last reconcile borrows from the document */
        old = TAKE_PTR(a->doc);
        a->doc = prev;
        snprintf(why, sizeof(why), "reverted revision %" PRIu64 " to %" PRIu64 ": neither a fetch nor a status "
                 "report succeeded within confirm_timeout (%" PRIu32 " s) after the apply",
                 bad, a->doc->revision, a->ctx->cfg.confirm_timeout);
        agentd_log(LOG_WARNING, "%s", why);
        a->st.reverted_revision = bad;
        a->counters.reverts++;
        (void)apply_doc(a, APPLY_REVERT);
        retire(a, old);
        (void)state_set_error(&a->st, why);
        (void)state_save(a->ctx->cfg.state_dir, &a->st, NULL);
        send_report(a);
        return 0;
}

/* ---- fetch cycle ---- */

static void on_fetch_done(struct http_request *req, int r, const struct http_response *resp,
                          const struct wf_err *e, void *userdata);

static void start_fetch(struct agent *a) {
        struct wf_err e = {};
        int r;

        if (a->fetch_req || !a->http)
                return;
        a->applied_this_cycle = false;
        /* If-None-Match: the refused document when one was refused (an idle poll stays a 304 and
         * the refusal stands), else the accepted one while it is held. */
        r = http_get(a->http, a->ctx->cfg.url, a->reject_etag ? a->reject_etag : a->doc ? a->st.etag : NULL,
                     on_fetch_done, a, &a->fetch_req, &e);
        if (r < 0) {
                struct http_response none = {};

                on_fetch_done(NULL, r, &none, &e, a);
        }
}

static int on_poll_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        start_fetch(userdata);
        return 0;
}

static uint64_t next_poll_usec(struct agent *a) {
        return http_next_poll_usec(a->ctx->cfg.poll_interval, a->failures, randombytes_random());
}

static void notify_ready(struct agent *a) {
        if (a->ready)
                return;
        a->ready = true;
        sd_notify(0, "READY=1");
}

static void on_fetch_done(struct http_request *req, int r, const struct http_response *resp,
                          const struct wf_err *e, void *userdata) {
        struct agent *a = userdata;

        a->fetch_req = NULL;
        if (r < 0) {
                a->failures++;
                a->counters.fetch[STATUS_FETCH_ERROR]++;
                slot_printf(a->fetch_error, sizeof(a->fetch_error), "fetch %s: %s", a->ctx->cfg.url, e->msg);
                agentd_log(LOG_WARNING, "%s", a->fetch_error);
        } else if (resp->status == 304) {
                a->failures = 0;
                a->fetch_error[0] = 0;
                a->counters.fetch[STATUS_FETCH_NOT_MODIFIED]++;
                a->st.last_fetch_ok = now_s();
                confirm_ok(a, "a fetch");
        } else if (resp->status != 200) {
                a->failures++;
                a->counters.fetch[STATUS_FETCH_ERROR]++;
                slot_printf(a->fetch_error, sizeof(a->fetch_error), "fetch %s: HTTP %ld", a->ctx->cfg.url, resp->status);
                agentd_log(LOG_WARNING, "%s", a->fetch_error);
        } else {
                a->failures = 0;
                a->fetch_error[0] = 0;
                confirm_ok(a, "a fetch");
                handle_document(a, resp);
        }

        /* The same revision as before: re-observe, so drift is found and repaired. */
        if (a->doc && !a->applied_this_cycle && !a->once) {
                int k = apply_doc(a, APPLY_CHECK);

                if (k > 0)
                        send_report(a);
        }
        if (r < 0 || resp->status != 200)
                (void)state_save(a->ctx->cfg.state_dir, &a->st, NULL);
        notify_ready(a);

        if (a->once) {
                a->once_fetch_done = true;
                if (!a->report_req)
                        send_report(a);
                maybe_exit_once(a);
                return;
        }
        /* Parsing a document and observing thousands of peers leaves the heap fragmented:
         * hand the free pages back, so the resident size reflects what the agent holds. */
        malloc_trim(0);
        timer_arm(a, &a->poll_timer, next_poll_usec(a), on_poll_timer);
}

static void maybe_exit_once(struct agent *a) {
        if (!a->once || !a->once_fetch_done || a->report_req)
                return;
        a->exit_code = a->doc && !a->apply_error[0] && a->st.applied_revision == a->doc->revision &&
                       a->doc->expires_at > now_s() ? 0 : 1;
        sd_event_exit(a->event, a->exit_code);
}

/* ---- setup, reload, teardown ---- */

static void agent_close(struct agent *a) {
        if (a->http) {
                a->http = http_client_free(a->http);
                a->fetch_req = a->report_req = NULL;
        }
        a->metrics = status_server_free(a->metrics);
        if (a->backend) {
                a->ops->close(a->backend);
                a->backend = NULL;
        }
        dsse_trust_done(&a->trust);
        free(a->status_url);
        a->status_url = NULL;
}

/* (Re)opens what depends on the configuration. */
static int agent_open(struct agent *a) {
        struct config *c = &a->ctx->cfg;
        struct http_options ho = {
                .ca_file = c->ca_file,
                .client_cert = c->client_cert,
                .client_key = c->client_key,
                .token_file = c->token_file,
                .max_size = c->max_document_size,
        };
        struct wf_err e = {};
        int r;

        if (!c->node) {
                agentd_log(LOG_ERR, "[agent] node is not set");
                return -EINVAL;
        }
        if (!c->url) {
                agentd_log(LOG_ERR, "[controller] url is not set");
                return -EINVAL;
        }
        a->ops = backend_ops_for(c->backend);
        if (!a->ops) {
                agentd_log(LOG_ERR, "backend %s is not available", config_backend_to_string(c->backend));
                return -EOPNOTSUPP;
        }
        r = agentd_load_trust(c, &a->trust, &e);
        if (r < 0) {
                agentd_log(LOG_ERR, "%s", e.msg);
                return r;
        }
        r = a->ops->open(&a->backend, c, &e);
        if (r < 0) {
                agentd_log(LOG_ERR, "backend %s: %s", a->ops->name, e.msg);
                return r;
        }
        r = http_client_new(a->event, &ho, &a->http, &e);
        if (r < 0) {
                agentd_log(LOG_ERR, "%s", e.msg);
                return r;
        }
        a->status_url = agentd_status_url(c);
        if (c->metrics_listen && !a->once) {
                r = status_server_new(a->event, c->metrics_listen, render, a, &a->metrics, &e);
                if (r < 0) {
                        agentd_log(LOG_ERR, "%s", e.msg);
                        return r;
                }
        }
        return 0;
}

/* A lost or corrupt agent-state.json must not make a reverted revision acceptable again:
 * reverted.env, when it verifies (expired or not), keeps the replay floor and the refusal. */
static void restore_reverted_floor(struct agent *a) {
        _cleanup_free_ char *env = NULL;
        struct wf_doc *doc = NULL;
        struct wf_err e = {};
        size_t len;

        if (state_read_envelope(a->ctx->cfg.state_dir, STATE_REVERTED, a->ctx->cfg.max_document_size,
                                &env, &len, &e) < 0)
                return;
        if (agentd_open_envelope(&a->ctx->cfg, &a->trust, env, len, now_s(), false, &doc, &e) < 0)
                return;
        if (doc->revision > a->st.accepted_revision) {
                agentd_log(LOG_NOTICE, "revision %" PRIu64 " was reverted: it stays refused until a newer one",
                           doc->revision);
                a->st.accepted_revision = doc->revision;
                a->st.reverted_revision = doc->revision;
        }
        wf_doc_free(doc);
}

/* Loads persisted state and the cached document (verified, not expired, our node). */
static void load_cache(struct agent *a) {
        struct wf_err e = {};
        int r;

        state_done(&a->st);
        r = state_load(a->ctx->cfg.state_dir, &a->st, &e);
        if (r < 0) {
                slot_printf(a->cache_error, sizeof(a->cache_error), "cache: %s", e.msg);
                agentd_log(LOG_WARNING, "%s", a->cache_error);
        }
        live_free(a); /* the last reconcile borrows from the document */
        wf_doc_free(a->doc);
        a->doc = NULL;
        r = load_current(a, true, &e);
        if (r == -ENOENT)
                return;
        if (r < 0) {
                slot_printf(a->cache_error, sizeof(a->cache_error), "cached document ignored: %s", e.msg);
                agentd_log(LOG_WARNING, "%s", a->cache_error);
                return;
        }
        if (a->doc->revision > a->st.accepted_revision)
                a->st.accepted_revision = a->doc->revision;
        restore_reverted_floor(a);
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        struct agent *a = userdata;

        agentd_log(LOG_INFO, "signal %s: exiting", strsignal((int)si->ssi_signo));
        sd_notify(0, "STOPPING=1");
        sd_event_exit(a->event, 0);
        return 0;
}

static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        struct agent *a = userdata;
        struct config nc;
        struct wf_err e = {};
        uint64_t pending;
        int r;

        sd_notify(0, "RELOADING=1");
        config_init(&nc);
        r = config_load(&nc, a->ctx->config_path ? a->ctx->config_path : CONFIG_DEFAULT_PATH, &e, NULL, NULL);
        if (r < 0) {
                agentd_log(LOG_ERR, "reload: %s; keeping the running configuration", e.msg);
                config_done(&nc);
                sd_notify(0, "READY=1");
                return 0;
        }
        agent_close(a);
        config_done(&a->ctx->cfg);
        a->ctx->cfg = nc;
        r = agent_open(a);
        if (r < 0) {
                agentd_log(LOG_ERR, "reload failed; exiting so the service manager restarts the agent");
                sd_event_exit(a->event, 1);
                return 0;
        }
        /* New trust keys may accept what was refused. */
        free(a->reject_etag);
        a->reject_etag = NULL;
        /* The state on disk may have changed (e.g. `wgfleet-agent revert`). */
        pending = a->st.confirm_revision;
        load_cache(a);
        if (pending && a->doc && a->doc->revision == pending)
                a->st.confirm_revision = pending; /* its timer keeps running */
        else {
                a->st.confirm_revision = 0;
                timer_off(a->confirm_timer);
        }
        agentd_log(LOG_INFO, "configuration and state reloaded");
        if (a->doc)
                (void)apply_doc(a, APPLY_CACHED);
        sd_notify(0, "READY=1");
        timer_off(a->poll_timer);
        start_fetch(a);
        return 0;
}

static int agent_main(struct agent_ctx *ctx, bool once) {
        struct agent a = { .ctx = ctx, .once = once, .exit_code = 1 };
        _cleanup_close_ int lock_fd = -1;
        sigset_t mask;
        struct wf_err e = {};
        int r;

        if (sodium_init() < 0)
                return 1;
        r = sd_event_default(&a.event);
        if (r < 0) {
                agentd_log(LOG_ERR, "sd_event: %s", strerror(-r));
                return 1;
        }
        /* A peer closing a TLS connection must not kill the agent (OpenSSL writes with write()). */
        signal(SIGPIPE, SIG_IGN);
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        (void)sd_event_add_signal(a.event, NULL, SIGTERM, on_signal, &a);
        (void)sd_event_add_signal(a.event, NULL, SIGINT, on_signal, &a);
        if (!once)
                (void)sd_event_add_signal(a.event, NULL, SIGHUP, on_sighup, &a);
        (void)sd_event_set_watchdog(a.event, true);

        r = agent_open(&a);
        if (r < 0)
                goto finish;
        if (!once) {
                r = agentd_resolver_new(a.event, on_resolved, &a, &a.resolver);
                if (r < 0)
                        agentd_log(LOG_WARNING, "sd-resolve: %s; endpoint names resolve at each apply only", strerror(-r));
        }
        r = keys_ensure(ctx->cfg.state_dir, &e);
        if (r < 0) {
                agentd_log(LOG_ERR, "%s", e.msg);
                goto finish;
        }
        /* One agent per state directory: two would fight over the interfaces and the cache. */
        {
                char lock[PATH_MAX];

                snprintf(lock, sizeof(lock), "%s/agent.lock", ctx->cfg.state_dir);
                lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
                if (lock_fd < 0 || flock(lock_fd, LOCK_EX | LOCK_NB) < 0) {
                        r = -errno;
                        agentd_log(LOG_ERR, "%s: %s", lock, errno == EWOULDBLOCK ?
                                   "another wgfleet-agent run/once is using this state directory" : strerror(errno));
                        goto finish;
                }
        }
        load_cache(&a);
        if (a.doc) {
                agentd_log(LOG_INFO, "applying cached revision %" PRIu64 " before the first fetch", a.doc->revision);
                (void)apply_doc(&a, APPLY_CACHED);
                notify_ready(&a);
        }
        if (a.st.confirm_revision && a.doc && a.doc->revision == a.st.confirm_revision && ctx->cfg.confirm_timeout) {
                agentd_log(LOG_INFO, "revision %" PRIu64 " is still unconfirmed: waiting %" PRIu32 " s for the controller",
                           a.st.confirm_revision, ctx->cfg.confirm_timeout);
                timer_arm(&a, &a.confirm_timer, (uint64_t)ctx->cfg.confirm_timeout * USEC_PER_SEC, on_confirm_timeout);
        } else
                a.st.confirm_revision = 0;
        if (!once)
                timer_arm(&a, &a.report_timer, (uint64_t)ctx->cfg.report_interval * USEC_PER_SEC, on_report_timer);
        if (a.resolver) {
                (void)agentd_resolver_refresh(a.resolver, a.doc);
                if (ctx->cfg.resolve_interval)
                        timer_arm(&a, &a.resolve_timer, (uint64_t)ctx->cfg.resolve_interval * USEC_PER_SEC,
                                  on_resolve_timer);
        }
        start_fetch(&a);

        r = sd_event_loop(a.event);
        a.exit_code = r < 0 ? 1 : r;
finish:
        (void)state_save(ctx->cfg.state_dir, &a.st, NULL);
        agent_close(&a);
        sd_event_source_disable_unref(a.poll_timer);
        sd_event_source_disable_unref(a.report_timer);
        sd_event_source_disable_unref(a.confirm_timer);
        sd_event_source_disable_unref(a.resolve_timer);
        live_free(&a);
        free(a.reject_etag);
        a.resolver = agentd_resolver_free(a.resolver);
        strv_free(a.resolve_errors, a.n_resolve_errors);
        strv_free(a.notes, a.n_notes);
        strv_free(a.drift, a.n_drift);
        wf_doc_free(a.doc);
        state_done(&a.st);
        sd_event_unref(a.event);
        return r < 0 && a.exit_code == 1 ? 1 : a.exit_code;
}

static int no_args(const char *cmd, int argc, char **argv) {
        if (argc > 1) {
                fprintf(stderr, "wgfleet-agent %s: unexpected argument %s\n", cmd, argv[1]);
                return 2;
        }
        return 0;
}

int agent_cmd_run(struct agent_ctx *ctx, int argc, char **argv) {
        int r = no_args("run", argc, argv);

        return r ? r : agent_main(ctx, false);
}

int agent_cmd_once(struct agent_ctx *ctx, int argc, char **argv) {
        int r = no_args("once", argc, argv);

        return r ? r : agent_main(ctx, true);
}
