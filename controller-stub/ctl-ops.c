/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ctl-fleet.h"
#include "ctl-history.h"
#include "ctl-ops.h"
#include "ctl-wgquick.h"

static bool was_served(void *ud, const char *node, uint64_t rev) {
        return ctl_rollout_was_served(ud, node, rev);
}

static int run_revert(struct ctl_ops_ctx *ctx, json_t *req, char *msg, size_t sz) {
        const char *node = json_string_value(json_object_get(req, "node")) ?: "";
        uint64_t to = (uint64_t)json_integer_value(json_object_get(req, "to")), got;
        size_t done = 0, off = 0;
        struct wf_err e = {};

        for (size_t i = 0; i < ctx->render->n_nodes; i++) {
                const char *n = ctx->render->nodes[i].node;
                if (strcmp(node, "*") != 0 && strcmp(node, n) != 0)
                        continue;
                struct ctl_node_rev cur = {};
                (void)ctl_state_node_rev(ctx->st, n, &cur);
                e.msg[0] = '\0';
                if (ctl_revert(ctx->st, ctx->state_dir, ctx->render, n, to,
                               ctx->ro ? ctl_rollout_served_hash(ctx->ro, n) : cur.hash,
                               ctx->ro ? was_served : NULL, ctx->ro, &got, &e) < 0)
                        off += (size_t)snprintf(msg + off, off < sz ? sz - off : 0, "%s%s", off ? "; " : "", e.msg);
                else {
                        done++;
                        off += (size_t)snprintf(msg + off, off < sz ? sz - off : 0,
                                                "%snode %s: the content of revision %llu is published under a new revision",
                                                off ? "; " : "", n, (unsigned long long)got);
                }
        }
        if (!done && !off)
                snprintf(msg, sz, "node %s: not in the inventory", node);
        return done ? 1 : -ENOENT;
}

int ctl_ops_run(struct ctl_ops_ctx *ctx, json_t *req, int64_t now, char *msg, size_t sz) {
        const char *op = json_string_value(json_object_get(req, "op")) ?: "";
        struct wf_err e = {};
        int r;

        if (!strcmp(op, "revert"))
                return run_revert(ctx, req, msg, sz);
        if (!ctx->ro) {
                snprintf(msg, sz, "rollout %s: needs a running serve", op);
                return -EOPNOTSUPP;
        }
        if (!strcmp(op, "resume"))
                r = ctl_rollout_resume(ctx->ro, ctx->st, now, &e);
        else if (!strcmp(op, "abort"))
                r = ctl_rollout_abort(ctx->ro, ctx->render, ctx->st, ctx->state_dir, &e);
        else {
                snprintf(msg, sz, "op: \"%.32s\" is not revert, resume or abort", op);
                return -EINVAL;
        }
        snprintf(msg, sz, "%s", r < 0 ? e.msg : !strcmp(op, "resume") ? "rollout resumed at wave 1" : "rollout aborted");
        return r < 0 ? r : 1;
}

int ctl_ops_take_requests(struct ctl_ops_ctx *ctx, int64_t now, wf_warn_fn log, void *userdata) {
        _cleanup_free_ char *dir = NULL;
        struct dirent **ents = NULL;
        int n, any = 0;

        if (asprintf(&dir, "%s/%s", ctx->state_dir, CTL_OPS_DIR) < 0)
                return -ENOMEM;
        n = scandir(dir, &ents, NULL, alphasort);
        for (int i = 0; i < n; i++) {
                const char *name = ents[i]->d_name;
                size_t l = strlen(name);
                _cleanup_free_ char *path = NULL, *done = NULL, *text = NULL, *answer = NULL;
                char msg[2048] = "";
                size_t len;
                json_t *req;
                int r = -EINVAL;

                if (l > 5 && !strcmp(name + l - 5, ".json") && asprintf(&path, "%s/%s", dir, name) >= 0 &&
                    asprintf(&done, "%s/%.*s.done", dir, (int)(l - 5), name) >= 0 &&
                    wf_read_file(path, 65536, &text, &len) >= 0) {
                        req = json_loadb(text, len, 0, NULL);
                        if (json_is_object(req))
                                r = ctl_ops_run(ctx, req, now, msg, sizeof(msg));
                        else
                                snprintf(msg, sizeof(msg), "%s: not a JSON object", name);
                        json_decref(req);
                        wf_warnf(log, userdata, "operator request %s: %s", name, msg);
                        answer = json_dumps(json_pack("{s:b, s:s}", "ok", r >= 0, "message", msg), JSON_COMPACT);
                        if (answer)
                                (void)wf_write_file_atomic(done, answer, strlen(answer), 0640);
                        (void)unlink(path);
                        any |= r > 0;
                }
                free(ents[i]);
        }
        free(ents);
        return any;
}

int ctl_ops_request(const char *state_dir, json_t *req, unsigned wait_s, bool *ret_ok, char **ret_msg,
                    struct wf_err *e) {
        _cleanup_free_ char *dir = NULL, *path = NULL, *done = NULL, *text = NULL;
        struct timespec ts;
        int r;

        clock_gettime(CLOCK_REALTIME, &ts);
        if (asprintf(&dir, "%s/%s", state_dir, CTL_OPS_DIR) < 0 ||
            asprintf(&path, "%s/%lld%09ld-%d.json", dir, (long long)ts.tv_sec, ts.tv_nsec, (int)getpid()) < 0 ||
            asprintf(&done, "%.*s.done", (int)(strlen(path) - 5), path) < 0 ||
            !(text = json_dumps(req, JSON_COMPACT)))
                return -ENOMEM;
        if (mkdir(dir, 0750) < 0 && errno != EEXIST)
                return wf_err_set(e, -errno, "%s: %s", dir, strerror(errno));
        r = wf_write_file_atomic(path, text, strlen(text), 0640);
        if (r < 0)
                return wf_err_set(e, r, "%s: %s", path, strerror(-r));
        for (unsigned i = 0; i < wait_s * 10; i++) {
                _cleanup_free_ char *ans = NULL;
                size_t len;
                json_t *j;

                usleep(100 * 1000);
                if (wf_read_file(done, 65536, &ans, &len) < 0)
                        continue;
                j = json_loadb(ans, len, 0, NULL);
                *ret_ok = json_is_true(json_object_get(j, "ok"));
                *ret_msg = strdup(json_string_value(json_object_get(j, "message")) ?: "");
                json_decref(j);
                (void)unlink(done);
                return *ret_msg ? 1 : -ENOMEM;
        }
        return 0;
}

struct ctl_ops_history_row *ctl_ops_history_rows(const struct ctl_rollout *ro, const struct ctl_render *target,
                                                 const char *state_dir) {
        size_t n = target ? target->n_nodes : 0;
        struct ctl_ops_history_row *rows = calloc(n + 1, sizeof(*rows));

        for (size_t i = 0; rows && i < n; i++) {
                const char *node = target->nodes[i].node;
                if (!(rows[i].node = strdup(node))) {
                        ctl_ops_history_rows_free(rows, i);
                        return NULL;
                }
                rows[i].served = ctl_rollout_served(ro, node);
                if ((rows[i].agentless = ctl_rollout_agentless(ro, node)))
                        rows[i].config_stale = ctl_wgquick_stale(state_dir, target, node);
        }
        return rows;
}

void ctl_ops_history_rows_free(struct ctl_ops_history_row *rows, size_t n) {
        for (size_t i = 0; rows && i < n; i++)
                free(rows[i].node);
        free(rows);
}

char *ctl_ops_fleet_html(char *page, const char *rollout_html, const struct ctl_ops_history_row *rows, size_t n,
                         const char *state_dir) {
        char *buf = NULL, *end = page ? strstr(page, "</body>") : NULL;
        size_t len = 0;
        FILE *f;

        if (!end || !rollout_html || !(f = open_memstream(&buf, &len)))
                return page;
        fwrite(page, 1, (size_t)(end - page), f);
        fputs(rollout_html, f);
        fputs("<h2>History</h2>\n<table id=\"history\"><thead><tr><th>node</th><th>revisions kept (newest first; "
              "<b>bold</b>: served)</th><th>wg-quick configuration</th></tr></thead><tbody>\n", f);
        for (size_t i = 0; i < n; i++) {
                const char *node = rows[i].node;
                _cleanup_free_ uint64_t *revs = NULL;
                size_t k = 0;

                fputs("<tr data-node=\"", f);
                ctl_html_escape(f, node);
                fputs("\"><td>", f);
                ctl_html_escape(f, node);
                fputs("</td><td class=\"revisions\">", f);
                (void)ctl_history_revisions(state_dir, node, &revs, &k);
                for (size_t j = k; j-- > 0 && j + 8 >= k;)
                        fprintf(f, revs[j] == rows[i].served ? "<b>%llu</b> " : "%llu ", (unsigned long long)revs[j]);
                fputs("</td><td class=\"wgquick\">", f);
                if (rows[i].agentless) {
                        int st = rows[i].config_stale;
                        fputs(st > 0 ? "<span class=\"config-stale\">config stale</span>" : st == 0 ? "up to date" : "never downloaded", f);
                } else
                        fputs("-", f);
                fputs("</td></tr>\n", f);
        }
        fputs("</tbody></table>\n", f);
        fputs(end, f);
        if (fclose(f) != 0) {
                free(buf);
                return page;
        }
        free(page);
        return buf;
}

