/* SPDX-License-Identifier: MIT */
/* One cycle of the running agent, as the event loop drives it: fetch -> verify -> the policy's
 * accept (persist, apply) -> confirm or roll back -> report; the drift check and endpoint
 * re-resolution between. This file supplies the policy's I/O (struct policy_io: state_dir and
 * the backend) and wires its verdicts to timers, logs and counters; agent-policy.c decides. */
#include <inttypes.h>
#include <malloc.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <systemd/sd-daemon.h>

#include "agent-load.h"
#include "agent-run.h"
#include "document.h"
#include "state.h"

#define DRIFT_MAX 100 /* drift lines kept until a report carrying them is delivered */

void agentr_confirm_ok(struct agent *a, const char *how) {
        uint64_t rev = policy_confirm(&a->p, &a->io);

        if (!rev)
                return;
        agentd_log(LOG_INFO, "revision %" PRIu64 " confirmed: %s succeeded after the apply", rev, how);
        agentr_timer_off(a->confirm_timer);
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
                /* Planned against the cache: its handshakes are as old as its last observation. */
                if (!ri->from_cache)
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
        if (kind == POLICY_APPLY_CHECK && a->res.gw.changes > 0 && a->n_drift < DRIFT_MAX)
                collect_plan_lines(&a->res.gw.plan, &a->drift, &a->n_drift);
        if (a->res.gw_error < 0 && !e->msg[0])
                wf_err_set(e, a->res.gw_error, "%s", a->res.gw_error_msg);
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
        } else if (kind != POLICY_APPLY_CHECK && kind != POLICY_APPLY_RESOLVE && kind != POLICY_APPLY_FAILOVER)
                agentd_log(LOG_INFO, "revision %" PRIu64 " applied (%zu change(s))", rev, changes);
}

/* Brings the node to p.doc. Returns the number of changes or -errno (e filled). */
static int apply_doc(struct agent *a, enum policy_apply kind, struct wf_err *e) {
        struct reconcile_result res = {};
        struct wf_doc *rdoc = NULL;
        size_t changes, exit_moves;
        uint64_t t0;
        bool quiet;
        int r;

        if (!a->p.doc)
                return 0;
        r = agentd_resolver_substitute(a->resolver, a->p.doc, &rdoc);
        if (r < 0)
                return wf_err_set(e, r, "apply revision %" PRIu64 ": out of memory", a->p.doc->revision);
        agentr_watch_adjust(a, rdoc);
        if (kind == POLICY_APPLY_NEW)
                agentd_log(LOG_INFO, "accepted revision %" PRIu64 " (was %" PRIu64 ")", a->p.doc->revision,
                           a->accepted_was);
        a->applying = true;
        if (kind != POLICY_APPLY_CHECK && kind != POLICY_APPLY_RESOLVE && kind != POLICY_APPLY_FAILOVER)
                sd_notifyf(0, "STATUS=applying revision %" PRIu64, a->p.doc->revision);
        t0 = agentr_mono_usec();
        if (agentr_cached(a)) {
                /* A check and the start read everything again: the cache is rebuilt from it. */
                if (kind == POLICY_APPLY_CHECK || kind == POLICY_APPLY_CACHED) {
                        agentr_live_free(a); /* the last result borrows from the cache */
                        reconcile_cache_drop(&a->cache);
                }
                r = reconcile_doc_cached(a->ops, a->backend, &a->ctx->cfg, rdoc, &a->cache, 0, &res, e);
        } else
                r = reconcile_doc(a->ops, a->backend, &a->ctx->cfg, rdoc, 0, &res, e);
        if (kind != POLICY_APPLY_CHECK)
                a->last_cycle_usec = agentr_mono_usec() - t0 + 1;
        a->applying = false;
        if (r >= 0 && res.error < 0)
                r = res.error;
        exit_moves = take_result(a, &res, rdoc, kind, e);
        changes = a->res.changes;

        /* A check that found nothing to do is not an apply. */
        quiet = (kind == POLICY_APPLY_CHECK || kind == POLICY_APPLY_RESOLVE || kind == POLICY_APPLY_FAILOVER) &&
                !changes && r >= 0;
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

const struct policy_io agentr_policy_io = {
        .save_state = io_save_state,
        .store_envelope = io_store_envelope,
        .swap_previous = io_swap_previous,
        .apply = io_apply,
};

/* Runs an apply outside the policy's sequences (cache, drift check, re-resolve). */
int agentr_apply_now(struct agent *a, enum policy_apply kind) {
        struct wf_err e = {};

        return apply_doc(a, kind, &e);
}

/* ---- endpoint names ---- */

void agentr_on_resolved(void *userdata, bool changed) {
        struct agent *a = userdata;

        if (changed && a->p.doc && !a->once && agentr_apply_now(a, POLICY_APPLY_RESOLVE) > 0)
                agentr_send_report(a);
}

int agentr_on_resolve_timer(_unused_ sd_event_source *s, _unused_ uint64_t usec, void *userdata) {
        struct agent *a = userdata;

        if (a->resolver && a->p.doc)
                (void)agentd_resolver_refresh(a->resolver, a->p.doc);
        if (a->ctx->cfg.resolve_interval)
                agentr_timer_arm(a, &a->resolve_timer, (uint64_t)a->ctx->cfg.resolve_interval * USEC_PER_SEC,
                                 agentr_on_resolve_timer);
        return 0;
}

/* ---- accept ---- */

static int on_confirm_timeout(sd_event_source *s, uint64_t usec, void *userdata);

/* A verified envelope from state_dir (expiry not checked): the policy decides on it. */
int agentr_open_state(struct agent *a, const char *name, struct wf_doc **ret, struct wf_err *e) {
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
                (void)agentr_open_state(a, STATE_CURRENT, &cached, NULL);
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
        (void)agentr_open_state(a, STATE_PREVIOUS, &prev, &e);
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

void agentr_start_fetch(struct agent *a) {
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
        agentr_start_fetch(userdata);
        return 0;
}

static uint64_t next_poll_usec(struct agent *a) {
        return http_next_poll_usec(a->ctx->cfg.poll_interval, a->failures, randombytes_random());
}

void agentr_notify_ready(struct agent *a) {
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
        if (a->p.doc && !a->applied_this_cycle && !a->once && agentr_poll_observes(a) &&
            agentr_apply_now(a, POLICY_APPLY_CHECK) > 0)
                agentr_send_report(a);
        if (r < 0 || resp->status != 200)
                (void)policy_save(&a->p, &a->io);
        agentr_notify_ready(a);

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

void agentr_arm_confirm(struct agent *a) {
        agentr_timer_arm(a, &a->confirm_timer, (uint64_t)a->p.confirm_timeout * USEC_PER_SEC, on_confirm_timeout);
}

