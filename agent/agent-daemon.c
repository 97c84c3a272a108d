/* SPDX-License-Identifier: MIT */
/* Helpers for the daemon commands, and the offline ones: `status [--json]`, `revert`, `clear`. */
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "agent-daemon.h"
#include "agent-load.h"
#include "agent.h"
#include "backend.h"
#include "document.h"
#include "reconcile.h"
#include "state.h"
#include "status.h"
#include "agent-watch.h"

void agentd_log(int prio, const char *fmt, ...) {
        static int journal = -1;
        va_list ap;

        if (journal < 0)
                journal = getenv("JOURNAL_STREAM") != NULL;
        if (journal)
                fprintf(stderr, "<%d>", prio);
        else
                fputs("wgfleet-agent: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
}

void agentd_warn_log(_unused_ void *userdata, const char *msg) {
        agentd_log(LOG_WARNING, "%s", msg);
}

char *agentd_status_url(const struct config *cfg) {
        static const char suffix[] = "/desired-state";
        size_t n, k = sizeof(suffix) - 1;
        char *s;

        if (cfg->status_url)
                return strdup(cfg->status_url);
        if (!cfg->url)
                return NULL;
        n = strlen(cfg->url);
        if (n < k || strcmp(cfg->url + n - k, suffix) != 0)
                return NULL;
        if (asprintf(&s, "%.*s/status", (int)(n - k), cfg->url) < 0)
                return NULL;
        return s;
}

/* Reads current.env without checking expiry (status, clear). */
static int read_current(const struct config *cfg, struct wf_doc **ret, struct wf_err *e) {
        _cleanup_(dsse_trust_done) struct dsse_trust t = {};
        const struct agent_open o = { .flags = 0 };
        _cleanup_free_ char *env = NULL;
        size_t len;
        int r;

        /* No cache is no error, whatever the trust configuration. */
        r = state_read_envelope(cfg->state_dir, STATE_CURRENT, cfg->max_document_size, &env, &len, e);
        if (r >= 0)
                r = agent_load_trust(cfg, NULL, &t, e);
        if (r >= 0)
                r = agent_open_envelope(cfg, &t, env, len, &o, ret, e);
        return r;
}

static enum status_state state_from_string(const char *s) {
        for (int i = 0; i < _STATUS_STATE_MAX; i++)
                if (s && strcmp(s, status_state_to_string(i)) == 0)
                        return i;
        return STATUS_OFFLINE;
}

int agent_cmd_status(struct agent_ctx *ctx, int argc, char **argv) {
        static const struct option opts[] = { { "json", no_argument, NULL, 'j' }, {} };
        const struct config *cfg = &ctx->cfg;
        const struct backend_ops *ops = NULL;
        struct backend *b = NULL;
        struct wf_doc *doc = NULL;
        struct wf_live_iface **live = NULL;
        struct state st = {};
        struct wf_err e = {};
        struct status_report rep;
        json_t *last = NULL, *errs_j = NULL, *drift_j = NULL;
        const char **errs = NULL, **drift = NULL;
        size_t n_errs = 0, n_drift = 0;
        char path[PATH_MAX];
        bool json = false;
        int c, r, ret = 0;

        while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0)
                switch (c) {
                case 'j': json = true; break;
                default: return 2;
                }
        if (optind < argc) {
                fprintf(stderr, "wgfleet-agent status: unexpected argument %s\n", argv[optind]);
                return 2;
        }
        if (sodium_init() < 0)
                return 1;

        r = state_load(cfg->state_dir, &st, &e);
        if (r < 0)
                fprintf(stderr, "wgfleet-agent: %s\n", e.msg);
        r = read_current(cfg, &doc, &e);
        if (r < 0 && r != -ENOENT)
                fprintf(stderr, "wgfleet-agent: cached document: %s\n", e.msg);

        /* The running agent's last report gives its state, errors and drift. */
        snprintf(path, sizeof(path), "%s/status.json", cfg->state_dir);
        last = json_load_file(path, 0, NULL);
        errs_j = json_object_get(last, "errors");
        drift_j = json_object_get(last, "drift");
        errs = calloc(json_array_size(errs_j) + 2, sizeof(char *));
        drift = calloc(json_array_size(drift_j) + 1, sizeof(char *));
        for (size_t i = 0; errs && i < json_array_size(errs_j); i++)
                if (json_is_string(json_array_get(errs_j, i)))
                        errs[n_errs++] = json_string_value(json_array_get(errs_j, i));
        for (size_t i = 0; drift && i < json_array_size(drift_j); i++)
                if (json_is_string(json_array_get(drift_j, i)))
                        drift[n_drift++] = json_string_value(json_array_get(drift_j, i));
        if (!last && errs)
                errs[n_errs++] = "no report from a running agent yet (state_dir/status.json missing)";

        if (doc) {
                r = agent_backend_open(cfg, &ops, &b, &e);
                if (r >= 0)
                        r = agent_observe_all(ops, b, doc, &live, &e);
                if (r < 0) {
                        fprintf(stderr, "wgfleet-agent: %s\n", e.msg);
                        ret = 1;
                }
        }

        rep = (struct status_report){
                .node = cfg->node ? cfg->node : (doc ? doc->node : NULL),
                .state = last ? state_from_string(json_string_value(json_object_get(last, "state"))) :
                                STATUS_OFFLINE,
                .applied_revision = st.applied_revision,
                .seen_revision = st.seen_revision,
                .last_fetch_ok = st.last_fetch_ok,
                .last_apply = st.last_apply,
                .expires_at = doc ? doc->expires_at : 0,
                .errors = errs,
                .n_errors = n_errs,
                .drift = drift,
                .n_drift = n_drift,
                .doc = doc,
                .live = live,
                .n_live = live ? doc->n_ifaces : 0,
                .now = (int64_t)time(NULL),
                .failover = json_object_get(last, "failover"),
        };
        if (json) {
                _cleanup_free_ char *text = NULL;
                json_t *o = status_to_json(&rep);

                text = o ? json_dumps(o, JSON_INDENT(2)) : NULL;
                json_decref(o);
                if (!text)
                        ret = 1;
                else
                        puts(text);
        } else
                status_print_table(&rep, stdout);

        agent_live_free(live, doc ? doc->n_ifaces : 0);
        free(errs);
        free(drift);
        json_decref(last);
        if (b)
                ops->close(b);
        wf_doc_free(doc);
        state_done(&st);
        return ret;
}

int agent_cmd_revert(struct agent_ctx *ctx, int argc, char **argv) {
        const struct config *cfg = &ctx->cfg;
        const struct backend_ops *ops;
        struct backend *b = NULL;
        struct reconcile_result res = {};
        struct wf_doc *doc = NULL, *cur = NULL;
        struct state st = {};
        struct wf_err e = {};
        char why[512];
        int r, ret = 1;

        if (argc > 1) {
                fprintf(stderr, "wgfleet-agent revert: unexpected argument %s\n", argv[1]);
                return 2;
        }
        if (sodium_init() < 0)
                return 1;
        r = state_load(cfg->state_dir, &st, &e);
        if (r < 0)
                fprintf(stderr, "wgfleet-agent: %s\n", e.msg);
        (void)read_current(cfg, &cur, &e);
        {
                _cleanup_(dsse_trust_done) struct dsse_trust t = {};
                const struct agent_open o = {
                        .flags = AGENT_OPEN_EXPIRY | AGENT_OPEN_ACCEPT, .now = (int64_t)time(NULL),
                };

                r = agent_load_trust(cfg, NULL, &t, &e);
                if (r < 0) {
                        fprintf(stderr, "wgfleet-agent revert: %s\n", e.msg);
                        goto fail;
                }
                r = agent_open_state(cfg, &t, STATE_PREVIOUS, &o, &doc, &e);
                if (r == -ENOENT) {
                        fprintf(stderr, "wgfleet-agent revert: no previous accepted revision in %s\n", cfg->state_dir);
                        goto fail;
                }
                if (r < 0) {
                        fprintf(stderr, "wgfleet-agent revert: previous revision unusable: %s\n", e.msg);
                        goto fail;
                }
        }
        r = agent_backend_open(cfg, &ops, &b, &e);
        if (r < 0) {
                fprintf(stderr, "wgfleet-agent revert: %s\n", e.msg);
                goto fail;
        }
        r = reconcile_doc(ops, b, cfg, doc, 0, &res, &e);
        if (r >= 0 && res.error < 0)
                r = res.error;
        if (r < 0) {
                fprintf(stderr, "wgfleet-agent revert: apply revision %" PRIu64 ": %s\n", doc->revision, e.msg);
                goto fail;
        }
        if (cur && reconcile_retire(ops, b, cur, doc, &e) < 0)
                fprintf(stderr, "wgfleet-agent revert: retiring interfaces of revision %" PRIu64 ": %s\n",
                        cur->revision, e.msg);
        r = state_swap_previous(cfg->state_dir, cfg->max_document_size, &e);
        if (r < 0) {
                fprintf(stderr, "wgfleet-agent revert: %s\n", e.msg);
                goto fail;
        }
        snprintf(why, sizeof(why), "reverted revision %" PRIu64 " to %" PRIu64 " by the operator",
                 cur ? cur->revision : st.applied_revision, doc->revision);
        st.reverted_revision = cur ? cur->revision : st.applied_revision;
        st.applied_revision = doc->revision;
        st.confirm_revision = 0; /* nothing left to confirm: the operator chose */
        st.last_apply = (int64_t)time(NULL);
        (void)state_set_error(&st, why);
        printf("%s (%zu change(s)); revision %" PRIu64 " stays refused until the controller publishes a newer one\n",
               why, res.changes, st.reverted_revision);
        r = state_save(cfg->state_dir, &st, &e);
        if (r < 0) {
                /* The node and current.env are reverted; reverted.env still keeps the floor. */
                fprintf(stderr, "wgfleet-agent revert: the node is reverted, but %s\n", e.msg);
                goto fail;
        }
        printf("a running agent picks this up on reload: systemctl reload wgfleet-agent\n");
        ret = 0;
fail:
        reconcile_result_done(&res);
        if (b)
                ops->close(b);
        wf_doc_free(doc);
        wf_doc_free(cur);
        state_done(&st);
        return ret;
}

int agent_cmd_clear(struct agent_ctx *ctx, int argc, char **argv) {
        const struct config *cfg = &ctx->cfg;
        const struct backend_ops *ops;
        struct backend *b = NULL;
        struct wf_doc *doc = NULL;
        struct wf_err e = {};
        char **names = NULL;
        size_t n = 0;
        int r, ret = 0;

        if (sodium_init() < 0)
                return 1;
        if (argc > 1) {
                /* Explicit interface names: clear those, whatever the cache says. */
                names = argv + 1;
                n = (size_t)argc - 1;
        } else {
                r = read_current(cfg, &doc, &e);
                if (r < 0) {
                        fprintf(stderr, "wgfleet-agent clear: no usable cached document (%s); name the interfaces: "
                                "wgfleet-agent clear IFACE...\n", e.msg);
                        return 1;
                }
                names = calloc(doc->n_ifaces, sizeof(char *));
                for (size_t i = 0; names && i < doc->n_ifaces; i++)
                        names[n++] = doc->ifaces[i].name;
        }
        r = agent_backend_open(cfg, &ops, &b, &e);
        if (r < 0) {
                fprintf(stderr, "wgfleet-agent clear: %s\n", e.msg);
                ret = 1;
                goto out;
        }
        for (size_t i = 0; i < n; i++) {
                r = ops->clear(b, names[i], &e);
                if (r < 0) {
                        fprintf(stderr, "wgfleet-agent clear %s: %s\n", names[i], e.msg);
                        ret = 1;
                } else
                        printf("%s: cleared\n", names[i]);
        }
        /* The exit policy rules (protocol 211, incl. exit_sources) are host-wide: clearing
         * every interface of the cached document removes them too. */
        if (doc && ops->exit_sync) {
                size_t changes = 0;

                r = ops->exit_sync(b, NULL, 0, NULL, 0, false, &changes, &e);
                if (r < 0) {
                        fprintf(stderr, "wgfleet-agent clear: exit rules: %s\n", e.msg);
                        ret = 1;
                } else if (changes)
                        printf("exit rules: cleared (%zu change%s)\n", changes, changes == 1 ? "" : "s");
        }
        if (ops->gateway) {
                struct gw_result gr = {};

                /* The firewall table and the sysctls are host-wide: all of it goes. */
                r = backend_gateway(ops, b, NULL, false, &gr, &e);
                if (r < 0) {
                        fprintf(stderr, "wgfleet-agent clear: %s\n", e.msg);
                        ret = 1;
                } else if (gr.changes)
                        printf("gateway: cleared (%zu change%s)\n", gr.changes, gr.changes == 1 ? "" : "s");
                gw_result_done(&gr);
        }
        ops->close(b);
out:
        if (doc)
                free(names);
        wf_doc_free(doc);
        return ret;
}

/* `exit NAME|auto`: pins an exit for the running agent (state_dir/exit-override, noticed
 * within a second), or hands the choice back to the interface's exit_policy. */
int agent_cmd_exit(struct agent_ctx *ctx, int argc, char **argv) {
        const struct config *cfg = &ctx->cfg;
        struct wf_doc *doc = NULL;
        struct wf_err e = {};
        char path[PATH_MAX], line[80];
        bool known = false;
        int r;

        if (argc != 2 || argv[1][0] == '-') {
                fprintf(stderr, "wgfleet-agent exit: expects one exit peer name or \"auto\"\n");
                return 2;
        }
        snprintf(path, sizeof(path), "%s/%s", cfg->state_dir, WATCH_OVERRIDE_FILE);
        if (strcmp(argv[1], "auto") == 0) {
                if (unlink(path) < 0 && errno != ENOENT) {
                        fprintf(stderr, "wgfleet-agent exit: %s: %s\n", path, strerror(errno));
                        return 1;
                }
                printf("exit: automatic (exit_policy)\n");
                return 0;
        }
        if (sodium_init() < 0)
                return 1;
        r = read_current(cfg, &doc, &e);
        if (r < 0) {
                fprintf(stderr, "wgfleet-agent exit: no cached document to check \"%s\" against: %s\n", argv[1],
                        r == -ENOENT ? "state_dir has no current.env" : e.msg);
                return 1;
        }
        for (size_t i = 0; i < doc->n_ifaces; i++)
                for (size_t j = 0; j < doc->ifaces[i].n_exit; j++)
                        known |= strcmp(doc->ifaces[i].exit[j], argv[1]) == 0;
        wf_doc_free(doc);
        if (!known) {
                fprintf(stderr, "wgfleet-agent exit: \"%s\" is not in any interface's exit[] of the cached document\n", argv[1]);
                return 1;
        }
        snprintf(line, sizeof(line), "%s\n", argv[1]);
        r = wf_write_file_atomic(path, line, strlen(line), 0644 | WF_DIR_OWNER);
        if (r < 0) {
                fprintf(stderr, "wgfleet-agent exit: %s: %s\n", path, strerror(-r));
                return 1;
        }
        printf("exit: %s pinned while it answers\n", argv[1]);
        return 0;
}
