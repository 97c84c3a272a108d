/* SPDX-License-Identifier: MIT */
/* `run` and `once`: the pull loop. One sd-event loop drives everything: the fetch and report
 * requests (libcurl multi), poll/report/confirm timers, signals, the metrics listener and the
 * watchdog. The backend calls (observe/apply) are the only synchronous work in the loop. This
 * file sets the loop up (configuration, cache, lock, signals, reload) and tears it down; one
 * cycle is agent-cycle.c's, the reports agent-report.c's, every decision agent-policy.c's. */
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
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

void agentr_timer_off(sd_event_source *s) {
        if (s)
                sd_event_source_set_enabled(s, SD_EVENT_OFF);
}

void agentr_timer_arm(struct agent *a, sd_event_source **s, uint64_t usec, sd_event_time_handler_t cb) {
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

/* ---- setup, reload, teardown ---- */

static void agent_close(struct agent *a) {
        if (a->http) {
                a->http = http_client_free(a->http);
                a->fetch_req = a->report_req = NULL;
        }
        a->metrics = status_server_free(a->metrics);
        agentr_observe_close(a);
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
                r = agentr_observe_open(a);
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
        r = agentr_open_state(a, STATE_CURRENT, &cached, &e);
        if (r < 0 && r != -ENOENT) {
                snprintf(a->p.err.cache, sizeof(a->p.err.cache), "cached document ignored: %s", e.msg);
                agentd_log(LOG_WARNING, "%s", a->p.err.cache);
        }
        if (agentr_open_state(a, STATE_REVERTED, &reverted, NULL) >= 0) {
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
                agentr_timer_off(a->confirm_timer);
        else if (pending != a->p.st.confirm_revision)
                agentr_arm_confirm(a);
        agentd_log(LOG_INFO, "configuration and state reloaded");
        if (a->p.doc)
                (void)agentr_apply_now(a, POLICY_APPLY_CACHED);
        agentr_resync_arm(a);
        sd_notify(0, "READY=1");
        agentr_timer_off(a->poll_timer);
        agentr_start_fetch(a);
        return 0;
}

/* One agent per state directory: two would fight over the interfaces and the cache. */
static int lock_state_dir(const char *dir, int *ret_fd) {
        char lock[PATH_MAX];
        int fd;

        snprintf(lock, sizeof(lock), "%s/agent.lock", dir);
        fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        /* `once` as root must not leave a lock the service's user cannot open. */
        if (fd < 0 || wf_adopt_dir_owner(fd, lock) < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0) {
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
                r = agentd_resolver_new(a->event, agentr_on_resolved, a, &a->resolver);
                if (r < 0)
                        agentd_log(LOG_WARNING, "sd-resolve: %s; endpoint names resolve at each apply only", strerror(-r));
        }
        r = backend_ops_for(cfg->backend)->own_keys ? 0 : keys_ensure(cfg->state_dir, &e);
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
                (void)agentr_apply_now(a, POLICY_APPLY_CACHED);
                agentr_notify_ready(a);
        }
        if (arm) {
                agentd_log(LOG_INFO, "revision %" PRIu64 " is still unconfirmed: waiting %" PRIu32 " s for the controller",
                           a->p.st.confirm_revision, a->p.confirm_timeout);
                agentr_arm_confirm(a);
        }
        if (!a->once)
                agentr_timer_arm(a, &a->report_timer, (uint64_t)cfg->report_interval * USEC_PER_SEC,
                                 agentr_on_report_timer);
        agentr_resync_arm(a);
        if (a->resolver) {
                (void)agentd_resolver_refresh(a->resolver, a->p.doc);
                if (cfg->resolve_interval)
                        agentr_timer_arm(a, &a->resolve_timer, (uint64_t)cfg->resolve_interval * USEC_PER_SEC,
                                         agentr_on_resolve_timer);
        }
        if (!a->once && agentr_watch_start(a) < 0)
                agentd_log(LOG_WARNING, "liveness watch: out of memory");
        agentr_start_fetch(a);
        return 0;
}

static int agent_main(struct agent_ctx *ctx, bool once) {
        struct agent a = {
                .ctx = ctx, .once = once, .exit_code = 1,
                .io = agentr_policy_io,
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
        sd_event_source_disable_unref(a.resync_timer);
        sd_event_source_disable_unref(a.resync_soon);
        agentr_live_free(&a);
        reconcile_cache_done(&a.cache);
        agentr_watch_free(&a);
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
