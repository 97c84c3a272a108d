/* SPDX-License-Identifier: MIT */
/* plan and apply: a local signed document, without a controller. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "agent-load.h"
#include "agent.h"
#include "backend.h"
#include "reconcile.h"

struct apply_args {
        const char *trust_key;
        const char *node;
        const char *envelope;
        bool json;
};

static int parse_args(const char *cmd, bool allow_json, int argc, char **argv, struct apply_args *a) {
        static const struct option opts[] = {
                { "trust-key", required_argument, NULL, 't' },
                { "node", required_argument, NULL, 'n' },
                { "json", no_argument, NULL, 'j' },
                {},
        };
        int c;

        while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                switch (c) {
                case 't':
                        a->trust_key = optarg;
                        break;
                case 'n':
                        a->node = optarg;
                        break;
                case 'j':
                        if (allow_json) {
                                a->json = true;
                                break;
                        }
                        /* fall through */
                default:
                        fprintf(stderr, "usage: wgfleet-agent %s%s --trust-key FILE [--node NAME] ENVELOPE\n",
                                cmd, allow_json ? " [--json]" : "");
                        return -EINVAL;
                }
        }
        if (optind + 1 != argc) {
                fprintf(stderr, "usage: wgfleet-agent %s%s --trust-key FILE [--node NAME] ENVELOPE\n",
                        cmd, allow_json ? " [--json]" : "");
                return -EINVAL;
        }
        a->envelope = argv[optind];
        return 0;
}

static void wf_doc_freep(struct wf_doc **d) { wf_doc_free(*d); }

/* Loads the document and runs reconcile. Returns the exit status for failures before the
 * result exists (1, or 2 for usage), 0 when res is filled. */
static int run(struct agent_ctx *ctx, const struct apply_args *a, unsigned flags,
               struct wf_doc **ret_doc, struct reconcile_result *res) {
        _cleanup_(wf_doc_freep) struct wf_doc *doc = NULL;
        const struct backend_ops *ops;
        struct backend *b = NULL;
        struct wf_err e = {};
        int r;

        r = agent_load_envelope(&ctx->cfg, a->trust_key, a->envelope, a->node, &doc, &e);
        if (r >= 0)
                r = agent_backend_open(&ctx->cfg, &ops, &b, &e);
        if (r < 0) {
                fprintf(stderr, "wgfleet-agent: %s\n", e.msg);
                return 1;
        }
        r = reconcile_doc(ops, b, &ctx->cfg, doc, flags, res, &e);
        /* After a deploy, backends that can tell (routeros) wait a bounded time for a handshake:
         * none is a warning, not a failure. */
        for (size_t i = 0; r >= 0 && !(flags & RECONCILE_DRY_RUN) && ops->probe && i < res->n_ifaces; i++) {
                const struct reconcile_iface *ri = &res->ifaces[i];
                struct wf_err pe = {};
                if (ri->error || ri->changes == 0)
                        continue;
                if (ops->probe(b, ri->name, &pe) == 0)
                        fprintf(stderr, "wgfleet-agent: warning: %s\n", pe.msg);
                else if (pe.msg[0])
                        fprintf(stderr, "wgfleet-agent: probe %s: %s\n", ri->name, pe.msg);
        }
        ops->close(b);
        if (r < 0 && res->n_ifaces == 0) {
                fprintf(stderr, "wgfleet-agent: %s\n", e.msg);
                return 1;
        }
        *ret_doc = TAKE_PTR(doc);
        return 0;
}

static void print_text(const struct reconcile_result *res, bool applied) {
        for (size_t i = 0; i < res->n_ifaces; i++) {
                const struct reconcile_iface *ri = &res->ifaces[i];

                plan_print_text(&ri->plan, stdout);
                for (size_t j = 0; j < ri->n_notes; j++)
                        printf("%s: note: %s\n", ri->name, ri->notes[j]);
                if (ri->exit_active)
                        printf("%s: exit: peer %s carries the default route (table %u)\n", ri->name,
                               ri->exit_active, ri->exit.mark);
                if (ri->error)
                        fprintf(stderr, "error: %s\n", ri->error_msg);
                else if (!applied)
                        printf("%s: %zu change%s\n", ri->name, ri->changes, ri->changes == 1 ? "" : "s");
                else if (ri->changes == 0)
                        printf("%s: no changes, already converged\n", ri->name);
                else
                        printf("%s: converged (%zu change%s, %u apply%s)\n", ri->name, ri->changes,
                               ri->changes == 1 ? "" : "s", ri->attempts, ri->attempts == 1 ? "" : " attempts");
        }
        plan_print_text(&res->gw.plan, stdout);
        if (res->gw_error)
                fprintf(stderr, "error: %s\n", res->gw_error_msg);
        else if (res->gw.changes)
                printf("gateway: %zu change%s%s\n", res->gw.changes, res->gw.changes == 1 ? "" : "s",
                       applied ? "" : " to make");
        if (res->exit_changes)
                printf("exit policy routing: %zu rule and default-route change%s%s\n", res->exit_changes,
                       res->exit_changes == 1 ? "" : "s", applied ? "" : " to make");
}

static int print_json(const struct reconcile_result *res) {
        json_t *root = json_object(), *ops = json_array(), *conflicts = json_array(),
               *notes = json_array(), *errors = json_array(), *exits = json_array();
        int r = 0;

        if (!root || !ops || !conflicts || !notes || !errors || !exits)
                r = -ENOMEM;
        for (size_t i = 0; r >= 0 && i < res->n_ifaces; i++) {
                const struct reconcile_iface *ri = &res->ifaces[i];

                r = plan_to_json(&ri->plan, ops);
                if (r >= 0)
                        r = plan_conflicts_to_json(&ri->plan, conflicts);
                for (size_t j = 0; r >= 0 && j < ri->n_notes; j++)
                        if (json_array_append_new(notes, json_pack("{s:s, s:s}", "interface", ri->name,
                                                                   "note", ri->notes[j])) < 0)
                                r = -ENOMEM;
                if (r >= 0 && ri->exit_active &&
                    json_array_append_new(exits, json_pack("{s:s, s:s, s:I}", "interface", ri->name,
                                                           "active", ri->exit_active,
                                                           "table", (json_int_t)ri->exit.mark)) < 0)
                        r = -ENOMEM;
                if (r >= 0 && ri->error &&
                    json_array_append_new(errors, json_pack("{s:s, s:s}", "interface", ri->name,
                                                            "error", ri->error_msg)) < 0)
                        r = -ENOMEM;
        }
        if (r >= 0)
                r = plan_to_json(&res->gw.plan, ops);
        if (r >= 0 && res->gw_error &&
            json_array_append_new(errors, json_pack("{s:s, s:s}", "interface", "gateway", "error", res->gw_error_msg)) < 0)
                r = -ENOMEM;
        if (r >= 0) {
                json_object_set(root, "operations", ops);
                json_object_set(root, "conflicts", conflicts);
                json_object_set(root, "notes", notes);
                json_object_set(root, "errors", errors);
                json_object_set(root, "exits", exits);
                json_object_set_new(root, "exit_routing_changes", json_integer((json_int_t)res->exit_changes));
                if (json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) < 0)
                        r = -EIO;
                putchar('\n');
        }
        json_decref(ops);
        json_decref(conflicts);
        json_decref(notes);
        json_decref(errors);
        json_decref(exits);
        json_decref(root);
        return r;
}

int agent_cmd_plan(struct agent_ctx *ctx, int argc, char **argv) {
        _cleanup_(wf_doc_freep) struct wf_doc *doc = NULL;
        struct reconcile_result res = {};
        struct apply_args a = {};
        int r;

        if (parse_args("plan", true, argc, argv, &a) < 0)
                return 2;
        r = run(ctx, &a, RECONCILE_DRY_RUN, &doc, &res);
        if (r != 0)
                return r;
        if (a.json) {
                if (print_json(&res) < 0) {
                        reconcile_result_done(&res);
                        return 1;
                }
        } else
                print_text(&res, false);
        r = res.error ? 1 : 0;
        reconcile_result_done(&res);
        return r;
}

int agent_cmd_apply(struct agent_ctx *ctx, int argc, char **argv) {
        _cleanup_(wf_doc_freep) struct wf_doc *doc = NULL;
        struct reconcile_result res = {};
        struct apply_args a = {};
        int r;

        if (parse_args("apply", false, argc, argv, &a) < 0)
                return 2;
        r = run(ctx, &a, 0, &doc, &res);
        if (r != 0)
                return r;
        print_text(&res, true);
        r = res.error ? 1 : 0;
        reconcile_result_done(&res);
        return r;
}
