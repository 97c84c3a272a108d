/* SPDX-License-Identifier: MIT */
/* `run` and `once`: the pull loop. One sd-event loop drives everything: the fetch and report
 * requests (libcurl multi), poll/report/confirm timers, signals, the metrics listener and the
 * watchdog. The backend calls (observe/apply) are the only synchronous work in the loop. This
 * file is the wiring and the I/O; what to accept, when to revert and what a report says is
 * agent-policy.c's, which calls back into the steps below (struct policy_io). */
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <sodium.h>
#include <sys/file.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "agent-load.h"
#include "agent-run.h"
#include "document.h"
#include "keys.h"
#include "state.h"

#define DRIFT_MAX 100 /* drift lines kept until a report carrying them is delivered */

void agentr_strv_free(char **v, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

int agentr_strv_push(char ***v, size_t *n, const char *s) {
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

void agentr_live_free(struct agent *a) {
        free(a->live);
        a->live = NULL;
        a->n_live = 0;
        agent_live_free(a->obs, a->n_obs);
        a->obs = NULL;
        a->n_obs = 0;
        reconcile_result_done(&a->res);
        agentd_doc_shallow_free(a->rdoc);
        a->rdoc = NULL;
}

int64_t agentr_now(void) {
        return (int64_t)time(NULL);
}

uint64_t agentr_mono_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * USEC_PER_SEC + (uint64_t)ts.tv_nsec / 1000;
}

static void timer_off(sd_event_source *s) {
        if (s)
                sd_event_source_set_enabled(s, SD_EVENT_OFF);
}

void agentr_confirm_ok(struct agent *a, const char *how) {
        uint64_t rev = policy_confirm(&a->p, &a->io);

        if (!rev)
                return;
        agentd_log(LOG_INFO, "revision %" PRIu64 " confirmed: %s succeeded after the apply", rev, how);
        timer_off(a->confirm_timer);
}

/* ---- the policy's I/O: state_dir and the backend ---- */

static int io_save_state(void *userdata, const struct state *st, struct wf_err *e) {
        struct agent *a = userdata;
        int r = state_save(a->ctx->cfg.state_dir, st, e);

        if (r < 0)
                agentd_log(LOG_ERR, "cannot persist the agent state: %s", e->msg);
        return r;
}

static int io_store_envelope(void *userdata, const char *env, size_t len, bool keep_previous,
                             struct wf_err *e) {
        struct agent *a = userdata;
        int r;

        /* A current.env that holds nothing to go back to must not become previous.env, which
         * revert and commit-confirmed restore. */
        if (keep_previous)
                r = state_store_accepted(a->ctx->cfg.state_dir, env, len, e);
        else
                r = state_replace_current(a->ctx->cfg.state_dir, env, len, e);
        if (r < 0)
                agentd_log(LOG_ERR, "cannot persist the accepted envelope: %s", e->msg);
        return r;
}

static int io_swap_previous(void *userdata, struct wf_err *e) {
        struct agent *a = userdata;

        return state_swap_previous(a->ctx->cfg.state_dir, a->ctx->cfg.max_document_size, e);
}

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
                (void)agentr_strv_push(v, n, line);
}

/* Takes res: the observations, notes and drift lines of an apply. Returns the changes that
 * were exit failovers (the exit selection at work, not drift). */
static size_t take_result(struct agent *a, struct reconcile_result *res, struct wf_doc *rdoc,
                          enum policy_apply kind, struct wf_err *e) {
        size_t exit_moves = 0;

        agentr_strv_free(a->notes, a->n_notes);
        a->notes = NULL;
        a->n_notes = 0;
        agentr_live_free(a);
        a->res = *res;
        a->rdoc = rdoc;
        a->live = calloc(res->n_ifaces ? res->n_ifaces : 1, sizeof(*a->live));
        for (size_t i = 0; a->live && i < res->n_ifaces; i++) {
                struct reconcile_iface *ri = &res->ifaces[i];

                if (ri->live)
                        a->live[a->n_live++] = ri->live;
                a->observed_usec = agentr_mono_usec();
                for (size_t j = 0; j < ri->n_notes; j++)
                        (void)agentr_strv_push(&a->notes, &a->n_notes, ri->notes[j]);
                if (ri->error < 0 && !e->msg[0])
                        wf_err_set(e, ri->error, "%s: %s", ri->name, ri->error_msg);
                if (ri->exit_moved) {
                        exit_moves += ri->changes;
                        for (size_t j = 0; j < ri->n_notes; j++)
                                if (strncmp(ri->notes[j], "exit:", 5) == 0)
                                        agentd_log(LOG_NOTICE, "%s: %s", ri->name, ri->notes[j]);
                } else if (kind == POLICY_APPLY_CHECK && ri->changes > 0 && a->n_drift < DRIFT_MAX)
                        collect_plan_lines(&ri->plan, &a->drift, &a->n_drift);
        }
        return exit_moves;
}

static void log_applied(struct agent *a, enum policy_apply kind, size_t changes, size_t exit_moves) {
        uint64_t rev = a->p.doc->revision;

        if (kind == POLICY_APPLY_RESOLVE && changes) {
                a->counters.resolve_changes++;
                agentd_log(LOG_INFO, "endpoint re-resolved: %zu change(s) applied", changes);
        } else if (kind == POLICY_APPLY_CHECK && changes > exit_moves) {
                a->counters.drift++;
                agentd_log(LOG_WARNING, "drift: the live state changed underneath revision %" PRIu64
                           ", %zu change(s) re-applied", rev, changes);
        } else if (kind != POLICY_APPLY_CHECK && kind != POLICY_APPLY_RESOLVE)
                agentd_log(LOG_INFO, "revision %" PRIu64 " applied (%zu change(s))", rev, changes);
}

/* Brings the node to p.doc. Returns the number of changes or -errno (e filled). */
static int apply_doc(struct agent *a, enum policy_apply kind, struct wf_err *e) {
        struct reconcile_result res = {};
        struct wf_doc *rdoc = NULL;
        size_t changes, exit_moves;
        bool quiet;
        int r;

        if (!a->p.doc)
                return 0;
        r = agentd_resolver_substitute(a->resolver, a->p.doc, &rdoc);
        if (r < 0)
                return wf_err_set(e, r, "apply revision %" PRIu64 ": out of memory", a->p.doc->revision);
        if (kind == POLICY_APPLY_NEW)
                agentd_log(LOG_INFO, "accepted revision %" PRIu64 " (was %" PRIu64 ")", a->p.doc->revision,
                           a->accepted_was);
        a->applying = true;
        if (kind != POLICY_APPLY_CHECK && kind != POLICY_APPLY_RESOLVE)
                sd_notifyf(0, "STATUS=applying revision %" PRIu64, a->p.doc->revision);
        r = reconcile_doc(a->ops, a->backend, &a->ctx->cfg, rdoc, 0, &res, e);
        a->applying = false;
        if (r >= 0 && res.error < 0)
                r = res.error;
        exit_moves = take_result(a, &res, rdoc, kind, e);
        changes = a->res.changes;

        /* A check that found nothing to do is not an apply. */
        quiet = (kind == POLICY_APPLY_CHECK || kind == POLICY_APPLY_RESOLVE) && !changes && r >= 0;
        policy_applied(&a->p, kind, r, quiet, e, agentr_now());
        if (r < 0) {
                a->counters.apply[STATUS_APPLY_FAILED]++;
                agentd_log(LOG_ERR, "%s", a->p.err.apply);
        } else {
                a->counters.apply[changes ? STATUS_APPLY_CHANGED : STATUS_APPLY_UNCHANGED]++;
                log_applied(a, kind, changes, exit_moves);
        }
        if (!quiet)
                (void)policy_save(&a->p, &a->io);
        return r < 0 ? r : (int)changes;
}

static int io_apply(void *userdata, struct policy *p, enum policy_apply kind, struct wf_err *e) {
        struct agent *a = userdata;

        (void)p; /* the same as &a->p */
        return apply_doc(a, kind, e);
}

/* Runs an apply outside the policy's sequences (cache, drift check, re-resolve). */
static int apply_now(struct agent *a, enum policy_apply kind) {
        struct wf_err e = {};

        return apply_doc(a, kind, &e);
}

/* ---- endpoint names ---- */

static void on_resolved(void *userdata, bool changed) {
        struct agent *a = userdata;

        if (changed && a->p.doc && !a->once && apply_now(a, POLICY_APPLY_RESOLVE) > 0)
                agentr_send_report(a);
}

static int on_resolve_timer(_unused_ sd_event_source *s, _unused_ uint64_t usec, void *userdata) {
        struct agent *a = userdata;

        if (a->resolver && a->p.doc)
                (void)agentd_resolver_refresh(a->resolver, a->p.doc);
        if (a->ctx->cfg.resolve_interval)
                agentr_timer_arm(a, &a->resolve_timer, (uint64_t)a->ctx->cfg.resolve_interval * USEC_PER_SEC,
                                 on_resolve_timer);
        return 0;
}

/* ---- accept ---- */

static int on_confirm_timeout(sd_event_source *s, uint64_t usec, void *userdata);

/* A verified envelope from state_dir (expiry not checked): the policy decides on it. */
static int open_state(struct agent *a, const char *name, struct wf_doc **ret, struct wf_err *e) {
        const struct agent_open o = { .warn = agentd_warn_log };

        return agent_open_state(&a->ctx->cfg, &a->trust, name, &o, ret, e);
}

static void refused(struct agent *a, const char *etag) {
        a->counters.fetch[STATUS_FETCH_REJECTED]++;
        agentd_log(LOG_ERR, "%s", a->p.err.reject);
        a->reject_etag = etag ? strdup(etag) : NULL;
}

/* Interfaces the old revision had and the new one does not: remove what the agent owns there. */
static void retire(struct agent *a, struct wf_doc *old) {
        struct wf_err e = {};

        if (!old)
                return;
        if (a->p.doc && reconcile_retire(a->ops, a->backend, old, a->p.doc, &e) < 0)
                agentd_log(LOG_ERR, "retiring interfaces of revision %" PRIu64 ": %s", old->revision, e.msg);
        wf_doc_free(old);
}

/* Verify, parse, node name and key, and the lockout lint against the address the controller
 * actually answered from (the URL may name it by a DNS name). Expiry is the policy's. */
static int open_fetched(struct agent *a, const struct http_response *resp, struct wf_doc **ret,
                        struct wf_err *e) {
        const struct agent_open o = { .flags = AGENT_OPEN_ACCEPT, .warn = agentd_warn_log };
        struct wf_doc *doc = NULL;
        struct wf_prefix ctl;
        const char *why;
        int r;

        r = agent_open_envelope(&a->ctx->cfg, &a->trust, resp->body, resp->len, &o, &doc, e);
        if (r >= 0 && resp->primary_ip[0] && wf_prefix_parse(resp->primary_ip, false, &ctl, &why) >= 0)
                r = doc_check_underlay(doc, &ctl, "the controller", e);
        if (r < 0) {
                wf_doc_free(doc);
                return r;
        }
        *ret = doc;
        return 0;
}

static void handle_document(struct agent *a, const struct http_response *resp) {
        struct wf_doc *doc = NULL, *cached = NULL;
        struct policy_outcome out;
        struct wf_err e = {};
        enum policy_verdict v;

        free(a->reject_etag);
        a->reject_etag = NULL;
        if (open_fetched(a, resp, &doc, &e) < 0) {
                snprintf(a->p.err.reject, sizeof(a->p.err.reject), "document rejected: %s", e.msg);
                refused(a, resp->etag);
                return;
        }
        /* Without a running document, a verifiable current.env is still one to go back to. */
        if (!a->p.doc)
                (void)open_state(a, STATE_CURRENT, &cached, NULL);
        a->accepted_was = a->p.st.accepted_revision;
        v = policy_accept(&a->p, &a->io, doc, resp->body, resp->len, resp->etag, cached, agentr_now(), &out, &e);
        wf_doc_free(cached);
        switch (v) {
        case POLICY_REFUSED:
                refused(a, resp->etag);
                return;
        case POLICY_SAME:
                a->counters.fetch[STATUS_FETCH_NOT_MODIFIED]++;
                return;
        case POLICY_NOT_PERSISTED:
                agentd_log(LOG_ERR, "%s", a->p.err.persist);
                agentr_send_report(a);
                return;
        case POLICY_ACCEPTED:
                break;
        }
        a->counters.fetch[STATUS_FETCH_OK]++;
        a->p.err.cache[0] = 0;
        a->applied_this_cycle = true;
        retire(a, out.old);
        /* New names get an address from the loop's resolver from now on. */
        if (a->resolver)
                (void)agentd_resolver_refresh(a->resolver, a->p.doc);
        if (out.prev_expired)
                agentd_log(LOG_NOTICE, "revision %" PRIu64 ": no commit-confirmed window, the revision it replaces "
                           "(%" PRIu64 ") has expired and is never gone back to", a->p.doc->revision, out.prev_expired);
        if (out.arm)
                agentr_timer_arm(a, &a->confirm_timer, (uint64_t)a->p.confirm_timeout * USEC_PER_SEC,
                                 on_confirm_timeout);
        agentr_send_report(a);
}

/* ---- commit-confirmed ---- */

static int on_confirm_timeout(_unused_ sd_event_source *s, _unused_ uint64_t usec, void *userdata) {
        struct agent *a = userdata;
        struct wf_doc *prev = NULL, *old = NULL;
        struct wf_err e = {};
        enum policy_timeout t;
        char why[1024];

        if (!a->p.st.confirm_revision)
                return 0;
        /* previous.env is verified before anything moves: swapping in a corrupt one would leave
         * garbage as current.env and nothing to start from. */
        (void)open_state(a, STATE_PREVIOUS, &prev, &e);
        t = policy_timeout(&a->p, &a->io, prev, e.msg, agentr_now(), &old, why, sizeof(why));
        if (t == POLICY_TIMEOUT_NONE)
                return 0;
        if (t == POLICY_TIMEOUT_REVERTED) {
                agentd_log(LOG_WARNING, "%s", why);
                a->counters.reverts++;
                retire(a, old);
        } else
                agentd_log(LOG_ERR, "%s", why);
        agentr_send_report(a);
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
        r = http_get(a->http, a->ctx->cfg.url, a->reject_etag ? a->reject_etag : a->p.doc ? a->p.st.etag : NULL,
                     on_fetch_done, a, &a->fetch_req, &e);
        if (r < 0) {
                struct http_response none = {};

                on_fetch_done(NULL, r, &none, &e, a);
        }
}

static int on_poll_timer(_unused_ sd_event_source *s, _unused_ uint64_t usec, void *userdata) {
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

static void fetch_failed(struct agent *a, const char *fmt, ...) _printf_(2, 3);
static void fetch_failed(struct agent *a, const char *fmt, ...) {
        va_list ap;

        a->failures++;
        a->counters.fetch[STATUS_FETCH_ERROR]++;
        va_start(ap, fmt);
        vsnprintf(a->p.err.fetch, sizeof(a->p.err.fetch), fmt, ap);
        va_end(ap);
        agentd_log(LOG_WARNING, "%s", a->p.err.fetch);
}

static void on_fetch_done(_unused_ struct http_request *req, int r, const struct http_response *resp,
                          const struct wf_err *e, void *userdata) {
        struct agent *a = userdata;

        a->fetch_req = NULL;
        if (r < 0)
                fetch_failed(a, "fetch %s: %s", a->ctx->cfg.url, e->msg);
        else if (resp->status != 200 && resp->status != 304)
                fetch_failed(a, "fetch %s: HTTP %ld", a->ctx->cfg.url, resp->status);
        else {
                a->failures = 0;
                a->p.err.fetch[0] = 0;
                agentr_confirm_ok(a, "a fetch");
                if (resp->status == 304) {
                        a->counters.fetch[STATUS_FETCH_NOT_MODIFIED]++;
                        a->p.st.last_fetch_ok = agentr_now();
                } else
                        handle_document(a, resp);
        }

        /* The same revision as before: re-observe, so drift is found and repaired. */
        if (a->p.doc && !a->applied_this_cycle && !a->once && apply_now(a, POLICY_APPLY_CHECK) > 0)
                agentr_send_report(a);
        if (r < 0 || resp->status != 200)
                (void)policy_save(&a->p, &a->io);
        notify_ready(a);

        if (a->once) {
                a->once_fetch_done = true;
                if (!a->report_req)
                        agentr_send_report(a);
                agentr_maybe_exit_once(a);
                return;
        }
        /* Parsing a document and observing thousands of peers leaves the heap fragmented:
         * hand the free pages back, so the resident size reflects what the agent holds. */
        malloc_trim(0);
        agentr_timer_arm(a, &a->poll_timer, next_poll_usec(a), on_poll_timer);
}

void agentr_maybe_exit_once(struct agent *a) {
        if (!a->once || !a->once_fetch_done || a->report_req)
                return;
        a->exit_code = policy_once_exit(&a->p, agentr_now());
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
        free(a->report_problem);
        a->report_problem = NULL;
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

        a->p.confirm_timeout = c->confirm_timeout;
        if (!c->node)
                r = wf_err_set(&e, -EINVAL, "[agent] node is not set");
        else if (!c->url)
                r = wf_err_set(&e, -EINVAL, "[controller] url is not set");
        else
                r = agent_load_trust(c, NULL, &a->trust, &e);
        if (r >= 0)
                r = agent_backend_open(c, &a->ops, &a->backend, &e);
        if (r >= 0)
                r = http_client_new(a->event, &ho, &a->http, &e);
        if (r >= 0 && c->metrics_listen && !a->once)
                r = status_server_new(a->event, c->metrics_listen, agentr_render, a, &a->metrics, &e);
        if (r < 0) {
                agentd_log(LOG_ERR, "%s", e.msg);
                return r;
        }
        a->status_url = agentd_status_url(c);
        if (!a->status_url)
                agentd_log(LOG_ERR, "[controller] status_url is not set and url %s does not end in /desired-state: "
                           "no status reports will be sent (set status_url)", c->url);
        return 0;
}

/* Loads agent-state.json and the cached document; the policy keeps it unless it expired.
 * Returns whether a persisted commit-confirmed window applies to it. */
static bool load_cache(struct agent *a) {
        struct wf_doc *cached = NULL, *reverted = NULL;
        uint64_t reverted_rev = 0, was_reverted;
        struct wf_err e = {};
        bool arm;
        int r;

        a->p.err.cache[0] = 0;
        state_done(&a->p.st);
        r = state_load(a->ctx->cfg.state_dir, &a->p.st, &e);
        if (r < 0) {
                snprintf(a->p.err.cache, sizeof(a->p.err.cache), "cache: %s", e.msg);
                agentd_log(LOG_WARNING, "%s", a->p.err.cache);
        }
        agentr_live_free(a); /* the last reconcile borrows from the document */
        r = open_state(a, STATE_CURRENT, &cached, &e);
        if (r < 0 && r != -ENOENT) {
                snprintf(a->p.err.cache, sizeof(a->p.err.cache), "cached document ignored: %s", e.msg);
                agentd_log(LOG_WARNING, "%s", a->p.err.cache);
        }
        if (open_state(a, STATE_REVERTED, &reverted, NULL) >= 0) {
                reverted_rev = reverted->revision;
                wf_doc_free(reverted);
        }
        was_reverted = a->p.st.reverted_revision;
        arm = policy_start(&a->p, cached, reverted_rev, agentr_now());
        if (cached && !a->p.doc)
                agentd_log(LOG_WARNING, "%s", a->p.err.cache);
        if (a->p.st.reverted_revision != was_reverted)
                agentd_log(LOG_NOTICE, "revision %" PRIu64 " was reverted: it stays refused until a newer one",
                           a->p.st.reverted_revision);
        return arm;
}

static int on_signal(_unused_ sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        struct agent *a = userdata;

        agentd_log(LOG_INFO, "signal %s: exiting", strsignal((int)si->ssi_signo));
        sd_notify(0, "STOPPING=1");
        sd_event_exit(a->event, 0);
        return 0;
}

static void arm_confirm(struct agent *a) {
        agentr_timer_arm(a, &a->confirm_timer, (uint64_t)a->p.confirm_timeout * USEC_PER_SEC, on_confirm_timeout);
}

static int on_sighup(_unused_ sd_event_source *s, _unused_ const struct signalfd_siginfo *si, void *userdata) {
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
        /* The state on disk may have changed (e.g. `wgfleet-agent revert`). A window still open
         * for the same revision keeps its timer running. */
        pending = a->p.st.confirm_revision;
        if (!load_cache(a))
                timer_off(a->confirm_timer);
        else if (pending != a->p.st.confirm_revision)
                arm_confirm(a);
        agentd_log(LOG_INFO, "configuration and state reloaded");
        if (a->p.doc)
                (void)apply_now(a, POLICY_APPLY_CACHED);
        sd_notify(0, "READY=1");
        timer_off(a->poll_timer);
        start_fetch(a);
        return 0;
}

/* One agent per state directory: two would fight over the interfaces and the cache. */
static int lock_state_dir(const char *dir, int *ret_fd) {
        char lock[PATH_MAX];
        int fd;

        snprintf(lock, sizeof(lock), "%s/agent.lock", dir);
        fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0) {
                int r = -errno;

                agentd_log(LOG_ERR, "%s: %s", lock, r == -EWOULDBLOCK ?
                           "another wgfleet-agent run/once is using this state directory" : strerror(-r));
                if (fd >= 0)
                        close(fd);
                return r;
        }
        *ret_fd = fd;
        return 0;
}

static void setup_signals(struct agent *a) {
        sigset_t mask;

        /* A peer closing a TLS connection must not kill the agent (OpenSSL writes with write()). */
        signal(SIGPIPE, SIG_IGN);
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        (void)sd_event_add_signal(a->event, NULL, SIGTERM, on_signal, a);
        (void)sd_event_add_signal(a->event, NULL, SIGINT, on_signal, a);
        if (!a->once)
                (void)sd_event_add_signal(a->event, NULL, SIGHUP, on_sighup, a);
        (void)sd_event_set_watchdog(a->event, true);
}

/* Everything up to the loop: the cache applied, the timers armed, the first fetch started. */
static int agent_start(struct agent *a, int *lock_fd) {
        const struct config *cfg = &a->ctx->cfg;
        struct wf_err e = {};
        bool arm;
        int r;

        r = agent_open(a);
        if (r < 0)
                return r;
        if (!a->once) {
                r = agentd_resolver_new(a->event, on_resolved, a, &a->resolver);
                if (r < 0)
                        agentd_log(LOG_WARNING, "sd-resolve: %s; endpoint names resolve at each apply only", strerror(-r));
        }
        r = keys_ensure(cfg->state_dir, &e);
        if (r < 0) {
                agentd_log(LOG_ERR, "%s", e.msg);
                return r;
        }
        r = lock_state_dir(cfg->state_dir, lock_fd);
        if (r < 0)
                return r;
        arm = load_cache(a);
        if (a->p.doc) {
                agentd_log(LOG_INFO, "applying cached revision %" PRIu64 " before the first fetch", a->p.doc->revision);
                (void)apply_now(a, POLICY_APPLY_CACHED);
                notify_ready(a);
        }
        if (arm) {
                agentd_log(LOG_INFO, "revision %" PRIu64 " is still unconfirmed: waiting %" PRIu32 " s for the controller",
                           a->p.st.confirm_revision, a->p.confirm_timeout);
                arm_confirm(a);
        }
        if (!a->once)
                agentr_timer_arm(a, &a->report_timer, (uint64_t)cfg->report_interval * USEC_PER_SEC,
                                 agentr_on_report_timer);
        if (a->resolver) {
                (void)agentd_resolver_refresh(a->resolver, a->p.doc);
                if (cfg->resolve_interval)
                        agentr_timer_arm(a, &a->resolve_timer, (uint64_t)cfg->resolve_interval * USEC_PER_SEC,
                                         on_resolve_timer);
        }
        start_fetch(a);
        return 0;
}

static int agent_main(struct agent_ctx *ctx, bool once) {
        struct agent a = {
                .ctx = ctx, .once = once, .exit_code = 1,
                .io = {
                        .save_state = io_save_state, .store_envelope = io_store_envelope,
                        .swap_previous = io_swap_previous, .apply = io_apply,
                },
        };
        _cleanup_close_ int lock_fd = -1;
        int r;

        a.io.userdata = &a;
        if (sodium_init() < 0)
                return 1;
        r = sd_event_default(&a.event);
        if (r < 0) {
                agentd_log(LOG_ERR, "sd_event: %s", strerror(-r));
                return 1;
        }
        setup_signals(&a);
        r = agent_start(&a, &lock_fd);
        if (r >= 0) {
                r = sd_event_loop(a.event);
                a.exit_code = r < 0 ? 1 : r;
        }
        /* Only the agent holding the lock owns agent-state.json. */
        if (lock_fd >= 0)
                (void)policy_save(&a.p, &a.io);
        agent_close(&a);
        sd_event_source_disable_unref(a.poll_timer);
        sd_event_source_disable_unref(a.report_timer);
        sd_event_source_disable_unref(a.confirm_timer);
        sd_event_source_disable_unref(a.resolve_timer);
        agentr_live_free(&a);
        free(a.reject_etag);
        a.resolver = agentd_resolver_free(a.resolver);
        agentr_strv_free(a.resolve_errors, a.n_resolve_errors);
        agentr_strv_free(a.notes, a.n_notes);
        agentr_strv_free(a.drift, a.n_drift);
        policy_done(&a.p);
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
