/* SPDX-License-Identifier: MIT */
#include <fnmatch.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "ctl-fleet.h"
#include "ctl-history.h"
#include "ctl-inventory.h"
#include "ctl-rollout.h"
#include "json-read.h"

struct ctl_rollout {
        struct ctl_rollout_cfg cfg;
        char *path;      /* STATE_DIR/rollout.json, NULL: in memory */
        json_t *st;      /* the persisted state (see save()) */
        json_t *reports; /* node -> {"state", "applied", "at", "healthy": [names], "error", "reverted"} */
        json_t *agentless; /* names of the inventory's nodes without an agent */
};

/* ---- configuration ---- */

static void cfg_done(struct ctl_rollout_cfg *c) {
        json_decref(c->waves);
        *c = (struct ctl_rollout_cfg){};
}

int ctl_rollout_set_inventory(struct ctl_rollout *ro, const struct ctl_inventory *inv) {
        json_t *agentless = json_object();
        int r = agentless ? 0 : -ENOMEM;

        for (size_t i = 0; r >= 0 && i < inv->n_nodes; i++)
                if (!inv->nodes[i].agent && json_object_set_new(agentless, inv->nodes[i].name, json_true()) < 0)
                        r = -ENOMEM;
        if (r < 0) {
                json_decref(agentless);
                return r;
        }
        cfg_done(&ro->cfg);
        ro->cfg = inv->rollout;
        json_incref(ro->cfg.waves);
        json_decref(ro->agentless);
        ro->agentless = agentless;
        return 0;
}

bool ctl_rollout_agentless(const struct ctl_rollout *ro, const char *node) {
        return json_object_get(ro->agentless, node) != NULL;
}

/* The first wave with a pattern matching node; nodes no wave names go in the last. */
static size_t wave_of(const struct ctl_rollout_cfg *c, const char *node) {
        size_t n = json_array_size(c->waves);

        for (size_t i = 0; i < n; i++) {
                json_t *w = json_array_get(c->waves, i);
                for (size_t j = 0; j < json_array_size(w); j++)
                        if (fnmatch(json_string_value(json_array_get(w, j)), node, FNM_CASEFOLD) == 0)
                                return i;
        }
        return n ? n - 1 : 0;
}

unsigned ctl_rollout_wave(const struct ctl_rollout *ro, const char *node) {
        return (unsigned)wave_of(&ro->cfg, node) + 1;
}

/* ---- state ---- */

int ctl_rollout_new(const char *state_dir, struct ctl_rollout **ret, struct wf_err *e) {
        struct ctl_rollout *ro = calloc(1, sizeof(*ro));
        _cleanup_free_ char *text = NULL;
        size_t len;
        int r;

        if (!ro || !(ro->reports = json_object()) || (state_dir && asprintf(&ro->path, "%s/%s", state_dir, CTL_ROLLOUT_FILE) < 0)) {
                ctl_rollout_free(ro);
                return -ENOMEM;
        }
        if (ro->path && (r = wf_read_file(ro->path, 64u * 1024 * 1024, &text, &len)) >= 0) {
                ro->st = json_loadb(text, len, 0, NULL);
                if (!json_is_object(ro->st)) {
                        r = wf_err_set(e, -EINVAL, "%s: corrupt", ro->path);
                        ctl_rollout_free(ro);
                        return r;
                }
        }
        if (!ro->st)
                ro->st = json_pack("{s:s, s:i, s:{}}", "state", "idle", "id", 0, "served");
        if (!ro->st) {
                ctl_rollout_free(ro);
                return -ENOMEM;
        }
        *ret = ro;
        return 0;
}

void ctl_rollout_free(struct ctl_rollout *ro) {
        if (!ro)
                return;
        cfg_done(&ro->cfg);
        json_decref(ro->agentless);
        json_decref(ro->st);
        json_decref(ro->reports);
        free(ro->path);
        free(ro);
}

const struct ctl_rollout_cfg *ctl_rollout_cfg(const struct ctl_rollout *ro) {
        return &ro->cfg;
}

static int save(const struct ctl_rollout *ro, struct wf_err *e) {
        _cleanup_free_ char *text = NULL;
        int r;

        if (!ro->path)
                return 0;
        text = json_dumps(ro->st, JSON_INDENT(2) | JSON_SORT_KEYS);
        if (!text)
                return -ENOMEM;
        r = wf_write_file_atomic(ro->path, text, strlen(text), 0640);
        return r < 0 ? wf_err_set(e, r, "%s: %s", ro->path, strerror(-r)) : 0;
}

json_t *ctl_rollout_report_digest(const char *body, size_t len, int64_t received_at) {
        json_t *root = json_loadb(body, len, 0, NULL), *ifaces, *healthy, *errs, *o;
        const char *err = NULL;
        bool reverted = false;

        if (!json_is_object(root)) {
                json_decref(root);
                return NULL;
        }
        healthy = json_array();
        ifaces = json_object_get(root, "interfaces");
        for (size_t i = 0; healthy && i < json_array_size(ifaces); i++) {
                json_t *peers = json_object_get(json_array_get(ifaces, i), "peers");
                for (size_t j = 0; j < json_array_size(peers); j++) {
                        json_t *p = json_array_get(peers, j);
                        const char *name = json_string_value(json_object_get(p, "name"));
                        if (name)
                                json_array_append_new(healthy, json_pack("{s:s, s:b}", "name", name, "healthy",
                                                                         json_is_true(json_object_get(p, "healthy"))));
                }
        }
        errs = json_object_get(root, "errors");
        for (size_t i = 0; i < json_array_size(errs); i++) {
                const char *s = json_string_value(json_array_get(errs, i));
                if (s && !err)
                        err = s;
                if (s && strstr(s, "reverted revision"))
                        reverted = true;
        }
        o = json_pack("{s:s, s:I, s:I, s:o, s:s, s:b}",
                      "state", json_string_value(json_object_get(root, "state")) ?: "",
                      "applied", json_integer_value(json_object_get(root, "applied_revision")),
                      "at", (json_int_t)received_at, "peers", healthy, "error", err ?: "", "reverted", reverted);
        json_decref(root);
        return o;
}

int ctl_rollout_report_keep(struct ctl_rollout *ro, const char *node, json_t *digest) {
        if (!digest || json_object_set_new(ro->reports, node, digest) < 0)
                return -ENOMEM;
        return 0;
}

int ctl_rollout_report(struct ctl_rollout *ro, const char *node, const char *body, size_t len, int64_t received_at) {
        return ctl_rollout_report_keep(ro, node, ctl_rollout_report_digest(body, len, received_at));
}

/* ---- the gate ---- */

#define SERVED_LOG 64

static uint64_t u64(json_t *o, const char *key) {
        return (uint64_t)json_integer_value(json_object_get(o, key));
}

static const char *str(json_t *o, const char *key) {
        return json_string_value(json_object_get(o, key)) ?: "";
}

static json_t *obj(json_t *parent, const char *key) {
        json_t *o = json_object_get(parent, key);

        if (!json_is_object(o)) {
                o = json_object();
                json_object_set_new(parent, key, o);
        }
        return o;
}

/* Serves t's target revision; S.log keeps the last SERVED_LOG revisions served to each node. */
static void serve(json_t *S, const struct ctl_rendered *t, const struct ctl_state *st) {
        json_t *log_all = obj(S, "log"), *log;
        struct ctl_node_rev rev = {};

        (void)ctl_state_node_rev(st, t->node, &rev);
        json_object_set_new(obj(S, "served"), t->node,
                            json_pack("{s:I, s:s}", "revision", (json_int_t)t->revision, "hash", rev.hash));
        log = json_object_get(log_all, t->node);
        if (!json_is_array(log)) {
                log = json_array();
                json_object_set_new(log_all, t->node, log);
        }
        if (!json_array_size(log) || json_integer_value(json_array_get(log, json_array_size(log) - 1)) != (json_int_t)t->revision)
                json_array_append_new(log, json_integer((json_int_t)t->revision));
        while (json_array_size(log) > SERVED_LOG)
                json_array_remove(log, 0);
}

static bool pending(json_t *served, const struct ctl_rendered *t, const struct ctl_state *st) {
        struct ctl_node_rev rev = {};

        (void)ctl_state_node_rev(st, t->node, &rev);
        return strcmp(str(json_object_get(served, t->node), "hash"), rev.hash) != 0;
}

/* The peers each node reports healthy now: what must stay healthy through the change. */
static json_t *baseline(const struct ctl_rollout *ro) {
        json_t *b = json_object(), *rep;
        const char *node;

        json_object_foreach(ro->reports, node, rep) {
                json_t *names = json_array(), *p;
                size_t i;

                json_array_foreach(json_object_get(rep, "peers"), i, p)
                        if (json_is_true(json_object_get(p, "healthy")))
                                json_array_append_new(names, json_string(str(p, "name")));
                json_object_set_new(b, node, names);
        }
        return b;
}

/* Adds old's peers to b (takes b, returns it): a resume right after a halt sees the peers the
 * change broke still unhealthy, and must not stop expecting them healthy. */
static json_t *baseline_merge(json_t *b, json_t *old) {
        const char *node;
        json_t *names, *v;
        size_t i;

        json_object_foreach(old, node, names) {
                json_t *cur = json_object_get(b, node);
                if (!json_is_array(cur)) {
                        cur = json_array();
                        json_object_set_new(b, node, cur);
                }
                json_array_foreach(names, i, v) {
                        json_t *w;
                        size_t j;
                        bool have = false;
                        json_array_foreach(cur, j, w)
                                have = have || json_equal(v, w);
                        if (!have)
                                json_array_append(cur, v);
                }
        }
        return b;
}

/* Reports taken before the wave started must not judge it, even those of the same second
 * (a resume right after the halting report would halt again on that report). */
static void start_wave(struct ctl_rollout *ro, json_t *S, size_t wave, int64_t now) {
        const char *node;
        json_t *rep;

        json_object_foreach(ro->reports, node, rep)
                if (json_integer_value(json_object_get(rep, "at")) >= now)
                        json_object_set_new(rep, "at", json_integer(now - 1));
        json_object_set_new(S, "wave", json_integer((json_int_t)wave));
        json_object_set_new(S, "wave_started_at", json_integer(now));
        json_object_set_new(S, "settled_since", json_integer(0));
}

/* Why the current wave must halt, written to why; false when it need not. */
static bool halt_reason(const struct ctl_rollout *ro, json_t *S, json_t *gated, int64_t now, char *why, size_t sz) {
        int64_t t0 = json_integer_value(json_object_get(S, "wave_started_at"));
        json_t *to = json_object_get(S, "to"), *base = json_object_get(S, "baseline"), *names, *v;
        const char *node;
        size_t i;

        json_array_foreach(gated, i, v) {
                const char *n = json_string_value(v);
                json_t *rep = json_object_get(ro->reports, n);
                uint64_t want = u64(json_object_get(to, n), "revision");

                if (!rep || json_integer_value(json_object_get(rep, "at")) < t0)
                        continue;
                if (!strcmp(str(rep, "state"), "rejected") || !strcmp(str(rep, "state"), "degraded")) {
                        snprintf(why, sz, "node %s is %s with revision %llu: %s", n, str(rep, "state"),
                                 (unsigned long long)want, *str(rep, "error") ? str(rep, "error") : "no error given");
                        return true;
                }
                if (json_is_true(json_object_get(rep, "reverted")) && u64(rep, "applied") < want) {
                        snprintf(why, sz, "node %s reverted revision %llu by itself: %s", n, (unsigned long long)want,
                                 str(rep, "error"));
                        return true;
                }
        }
        json_object_foreach(base, node, names) {
                json_t *rep = json_object_get(ro->reports, node), *p;
                size_t j, k;

                if (!rep || json_integer_value(json_object_get(rep, "at")) < t0)
                        continue;
                json_array_foreach(json_object_get(rep, "peers"), j, p)
                        json_array_foreach(names, k, v)
                                if (!strcmp(str(p, "name"), json_string_value(v) ?: "") &&
                                    !json_is_true(json_object_get(p, "healthy"))) {
                                        snprintf(why, sz, "node %s: peer %s was healthy before the change and is not now",
                                                 node, str(p, "name"));
                                        return true;
                                }
        }
        if (now - t0 > (int64_t)ro->cfg.deadline) {
                json_array_foreach(gated, i, v) {
                        const char *n = json_string_value(v);
                        json_t *rep = json_object_get(ro->reports, n);
                        uint64_t want = u64(json_object_get(to, n), "revision");
                        if (!rep || u64(rep, "applied") != want || strcmp(str(rep, "state"), "converged") != 0) {
                                snprintf(why, sz, "wave %zu missed its deadline (%u s): node %s has not applied revision %llu",
                                         (size_t)json_integer_value(json_object_get(S, "wave")) + 1, ro->cfg.deadline, n,
                                         (unsigned long long)want);
                                return true;
                        }
                }
        }
        return false;
}

/* Rolls the halted wave back: each node that got the change is pinned to what it ran before. */
static int roll_back(json_t *S, json_t *gated, const struct ctl_render *target,
                     struct ctl_state *st, const char *state_dir, struct wf_err *e) {
        json_t *from = json_object_get(S, "from"), *v;
        size_t i;
        int r;

        json_array_foreach(gated, i, v) {
                const char *n = json_string_value(v);
                const struct ctl_rendered *t = ctl_render_find(target, n);
                uint64_t rev = u64(json_object_get(from, n), "revision");

                if (!t || !rev)
                        continue;
                r = ctl_pin_set(st, state_dir, n, rev, t->inventory_hash, "rollout", e);
                if (r < 0)
                        return r;
        }
        return 0;
}

static void hold(json_t *S, const char *node, const char *fmt, ...) _printf_(3, 4);
static void hold(json_t *S, const char *node, const char *fmt, ...) {
        char buf[512];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        json_array_append_new(json_object_get(S, "holding"), json_pack("{s:s, s:s}", "node", node, "why", buf));
}

/* Publishes wave w's pending nodes; returns the names of the wave's nodes gated in this rollout. */
static json_t *publish_wave(struct ctl_rollout *ro, json_t *S, size_t w, const struct ctl_render *target,
                            const struct ctl_state *st, bool *changed) {
        json_t *served = obj(S, "served"), *to = obj(S, "to"), *gated = json_array();

        for (size_t i = 0; i < target->n_nodes; i++) {
                const struct ctl_rendered *t = &target->nodes[i];
                if (wave_of(&ro->cfg, t->node) != w)
                        continue;
                if (pending(served, t, st)) {
                        serve(S, t, st);
                        json_object_set_new(to, t->node, json_pack("{s:I}", "revision", (json_int_t)t->revision));
                        *changed = true;
                }
                if (json_object_get(to, t->node) && !ctl_rollout_agentless(ro, t->node))
                        json_array_append_new(gated, json_string(t->node));
        }
        return gated;
}

/* One evaluation of a rolling rollout. */
static int run_rolling(struct ctl_rollout *ro, json_t *S, const struct ctl_render *target, struct ctl_state *st,
                       const char *state_dir, int64_t now, struct ctl_rollout_step *ret, struct wf_err *e,
                       wf_warn_fn log, void *userdata) {
        size_t n_waves = json_array_size(ro->cfg.waves);
        json_t *served = obj(S, "served");

        /* A node of a passed wave changed again: the new change starts from the first wave. */
        for (size_t i = 0; i < target->n_nodes; i++)
                if (pending(served, &target->nodes[i], st) &&
                    wave_of(&ro->cfg, target->nodes[i].node) < (size_t)json_integer_value(json_object_get(S, "wave"))) {
                        wf_warnf(log, userdata, "rollout %lld: node %s changed again; starting over at wave 1",
                                 json_integer_value(json_object_get(S, "id")), target->nodes[i].node);
                        start_wave(ro, S, 0, now);
                        break;
                }
        for (;;) {
                size_t w = (size_t)json_integer_value(json_object_get(S, "wave"));
                json_t *gated, *v, *to = obj(S, "to");
                bool all = true;
                char why[512];
                size_t i;

                if (w >= n_waves) {
                        json_object_set_new(S, "state", json_string("done"));
                        json_object_set_new(S, "finished_at", json_integer(now));
                        wf_warnf(log, userdata, "rollout %lld: done", json_integer_value(json_object_get(S, "id")));
                        return 0;
                }
                gated = publish_wave(ro, S, w, target, st, &ret->served_changed);
                if (json_array_size(gated) && halt_reason(ro, S, gated, now, why, sizeof(why))) {
                        int r = roll_back(S, gated, target, st, state_dir, e);
                        json_decref(gated);
                        json_object_set_new(S, "state", json_string("halted"));
                        json_object_set_new(S, "reason", json_string(why));
                        json_object_set_new(S, "halted_at", json_integer(now));
                        wf_warnf(log, userdata, "rollout %lld halted at wave %zu: %s; the wave is rolled back",
                                 json_integer_value(json_object_get(S, "id")), w + 1, why);
                        ret->rerender = true;
                        return r;
                }
                json_array_foreach(gated, i, v) {
                        const char *n = json_string_value(v);
                        json_t *rep = json_object_get(ro->reports, n);
                        uint64_t want = u64(json_object_get(to, n), "revision");
                        if (!rep || u64(rep, "applied") != want || strcmp(str(rep, "state"), "converged") != 0) {
                                hold(S, n, "has not applied revision %llu yet (applied %llu, %s)", (unsigned long long)want,
                                     rep ? (unsigned long long)u64(rep, "applied") : 0ull,
                                     rep ? str(rep, "state") : "never reported");
                                all = false;
                        }
                }
                if (!all) {
                        json_object_set_new(S, "settled_since", json_integer(0));
                        json_decref(gated);
                        return 0;
                }
                int64_t since = json_integer_value(json_object_get(S, "settled_since"));
                if (json_array_size(gated) && !since)
                        json_object_set_new(S, "settled_since", json_integer(since = now));
                if (json_array_size(gated) && now - since < (int64_t)ro->cfg.settle) {
                        json_array_foreach(gated, i, v)
                                hold(S, json_string_value(v), "settling: %lld s of %u s without a peer going unhealthy",
                                     (long long)(now - since), ro->cfg.settle);
                        json_decref(gated);
                        return 0;
                }
                json_decref(gated);
                start_wave(ro, S, w + 1, now);
                if (w + 1 < n_waves)
                        wf_warnf(log, userdata, "rollout %lld: wave %zu done, wave %zu starts",
                                 json_integer_value(json_object_get(S, "id")), w + 1, w + 2);
        }
}

int ctl_rollout_run(struct ctl_rollout *ro, const struct ctl_render *target, struct ctl_state *st,
                    const char *state_dir, int64_t now, struct ctl_rollout_step *ret, struct wf_err *e,
                    wf_warn_fn log, void *userdata) {
        json_t *S = ro->st, *served = obj(S, "served"), *v;
        _cleanup_free_ char *before = json_dumps(S, JSON_COMPACT | JSON_SORT_KEYS);
        const char *k, *state;
        size_t n_pending = 0;
        void *tmp;
        int r = 0;

        *ret = (struct ctl_rollout_step){};
        json_object_foreach_safe(served, tmp, k, v)
                if (!ctl_render_find(target, k))
                        json_object_del(served, k);
        for (size_t i = 0; i < target->n_nodes; i++) {
                const struct ctl_rendered *t = &target->nodes[i];
                json_t *sv = json_object_get(served, t->node);
                /* New nodes, nodes without an agent, renewals (same content) and everything
                 * without waves go out at once. */
                if (!sv || !ro->cfg.enabled || ctl_rollout_agentless(ro, t->node) ||
                    (!pending(served, t, st) && u64(sv, "revision") != t->revision)) {
                        if (!sv || u64(sv, "revision") != t->revision)
                                ret->served_changed = true;
                        serve(S, t, st);
                }
                n_pending += pending(served, t, st);
        }
        json_object_set_new(S, "holding", json_array());
        state = str(S, "state");
        if (!ro->cfg.enabled)
                json_object_set_new(S, "state", json_string("idle"));
        else if (!strcmp(state, "halted")) {
                const char *by;
                /* Only the halted wave's rollback goes out. */
                for (size_t i = 0; i < target->n_nodes; i++)
                        if (pending(served, &target->nodes[i], st) && ctl_pin_get(st, target->nodes[i].node, &by, NULL) > 0 &&
                            !strcmp(by, "rollout")) {
                                serve(S, &target->nodes[i], st);
                                ret->served_changed = true;
                        }
                hold(S, "*", "halted: %s", str(S, "reason"));
        } else if (n_pending || !strcmp(state, "rolling")) {
                if (strcmp(state, "rolling") != 0) {
                        json_object_set_new(S, "id", json_integer(json_integer_value(json_object_get(S, "id")) + 1));
                        json_object_set_new(S, "state", json_string("rolling"));
                        json_object_set_new(S, "started_at", json_integer(now));
                        json_object_set_new(S, "reason", json_string(""));
                        json_object_set_new(S, "from", json_deep_copy(served));
                        json_object_set_new(S, "to", json_object());
                        json_object_set_new(S, "baseline", baseline(ro));
                        start_wave(ro, S, 0, now);
                        wf_warnf(log, userdata, "rollout %lld: %zu node(s) changed, wave 1 starts",
                                 json_integer_value(json_object_get(S, "id")), n_pending);
                }
                r = run_rolling(ro, S, target, st, state_dir, now, ret, e, log, userdata);
        }
        _cleanup_free_ char *after = json_dumps(S, JSON_COMPACT | JSON_SORT_KEYS);
        if (r >= 0 && (!before || !after || strcmp(before, after) != 0))
                r = save(ro, e);
        return r;
}

const char *ctl_rollout_served_hash(const struct ctl_rollout *ro, const char *node) {
        return str(json_object_get(json_object_get(ro->st, "served"), node), "hash");
}

bool ctl_rollout_was_served(const struct ctl_rollout *ro, const char *node, uint64_t rev) {
        json_t *log = json_object_get(json_object_get(ro->st, "log"), node), *v;
        size_t i;

        json_array_foreach(log, i, v)
                if ((uint64_t)json_integer_value(v) == rev)
                        return true;
        return false;
}

uint64_t ctl_rollout_served(const struct ctl_rollout *ro, const char *node) {
        return u64(json_object_get(json_object_get(ro->st, "served"), node), "revision");
}

int ctl_rollout_served_view(const struct ctl_rollout *ro, const struct ctl_render *target, const char *state_dir,
                            struct ctl_render **ret, struct wf_err *e) {
        struct ctl_render *v = calloc(1, sizeof(*v));
        int r;

        if (!v || !(v->nodes = calloc(target->n_nodes + 1, sizeof(*v->nodes)))) {
                free(v);
                return -ENOMEM;
        }
        for (size_t i = 0; i < target->n_nodes; i++) {
                const struct ctl_rendered *t = &target->nodes[i];
                struct ctl_rendered *o = &v->nodes[v->n_nodes++];
                uint64_t rev = ctl_rollout_served(ro, t->node);

                *o = *t;
                o->payload = NULL;
                o->envelope = NULL;
                if (!(o->node = strdup(t->node)))
                        goto nomem;
                if (!rev || rev == t->revision) {
                        if (t->envelope && !(o->envelope = strndup(t->envelope, t->envelope_len)))
                                goto nomem;
                        continue;
                }
                r = ctl_history_envelope(state_dir, t->node, rev, &o->envelope, &o->envelope_len);
                if (r < 0) {
                        ctl_render_free(v);
                        return wf_err_set(e, r, "node %s: served revision %llu is not in the history", t->node,
                                          (unsigned long long)rev);
                }
                uint8_t h[crypto_hash_sha256_BYTES];
                char hex[65];
                crypto_hash_sha256(h, (const uint8_t *)o->envelope, o->envelope_len);
                sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
                o->revision = rev;
                o->changed = false;
                snprintf(o->etag, sizeof(o->etag), "\"%llu-%.8s\"", (unsigned long long)rev, hex);
        }
        if (ctl_render_index(v) < 0)
                goto nomem;
        *ret = v;
        return 0;
nomem:
        ctl_render_free(v);
        return -ENOMEM;
}

/* ---- operator commands ---- */

int ctl_rollout_resume(struct ctl_rollout *ro, struct ctl_state *st, int64_t now, struct wf_err *e) {
        json_t *S = ro->st;

        if (strcmp(str(S, "state"), "halted") != 0)
                return wf_err_set(e, -EALREADY, "rollout: nothing to resume (state %s)", str(S, "state"));
        ctl_pin_drop_by(st, "rollout");
        json_object_set_new(S, "state", json_string("rolling"));
        json_object_set_new(S, "reason", json_string(""));
        json_object_set_new(S, "baseline", baseline_merge(baseline(ro), json_object_get(S, "baseline")));
        start_wave(ro, S, 0, now);
        return save(ro, e);
}

int ctl_rollout_abort(struct ctl_rollout *ro, const struct ctl_render *target, struct ctl_state *st,
                      const char *state_dir, struct wf_err *e) {
        json_t *S = ro->st, *served = obj(S, "served"), *p, *v;
        const char *k;
        int r;

        if (strcmp(str(S, "state"), "halted") != 0 && strcmp(str(S, "state"), "rolling") != 0)
                return wf_err_set(e, -EALREADY, "rollout: nothing to abort (state %s)", str(S, "state"));
        for (size_t i = 0; i < target->n_nodes; i++) {
                const struct ctl_rendered *t = &target->nodes[i];
                const char *by;
                if (!pending(served, t, st) || (ctl_pin_get(st, t->node, &by, NULL) > 0 && !strcmp(by, "rollout")))
                        continue;
                r = ctl_pin_set(st, state_dir, t->node, ctl_rollout_served(ro, t->node), t->inventory_hash, "operator", e);
                if (r < 0)
                        return r;
        }
        /* The rollback pins stay, now the operator's: they hold until the inventory changes. */
        p = json_object_get(st->root, "pins");
        json_object_foreach(p, k, v)
                json_object_set_new(v, "by", json_string("operator"));
        json_object_set_new(S, "state", json_string("aborted"));
        json_object_set_new(S, "reason", json_string("aborted by the operator"));
        return save(ro, e);
}

/* ---- views ---- */

json_t *ctl_rollout_json(const struct ctl_rollout *ro, const struct ctl_render *target, int64_t now) {
        json_t *S = ro->st, *nodes = json_object(), *o, *holding = json_object_get(S, "holding");

        /* "o" takes the reference: a fresh empty array is not leaked, a kept one is shared */
        o = json_pack("{s:b, s:s, s:I, s:I, s:o, s:i, s:i, s:s, s:o, s:o}",
                      "enabled", ro->cfg.enabled, "state", str(S, "state"),
                      "id", json_integer_value(json_object_get(S, "id")),
                      "wave", json_integer_value(json_object_get(S, "wave")) + 1,
                      "waves", ro->cfg.waves ? json_incref(ro->cfg.waves) : json_array(),
                      "settle", (int)ro->cfg.settle, "deadline", (int)ro->cfg.deadline,
                      "reason", str(S, "reason"),
                      "holding", holding ? json_incref(holding) : json_array(),
                      "nodes", nodes);
        if (!o)
                return NULL;
        for (const char *const *k = (const char *const[]){ "started_at", "wave_started_at", "halted_at", "finished_at", NULL }; *k; k++) {
                json_int_t t = json_integer_value(json_object_get(S, *k));
                char ts[32];
                if (t) {
                        wf_format_rfc3339(t, ts);
                        json_object_set_new(o, *k, json_string(ts));
                }
        }
        for (size_t i = 0; target && i < target->n_nodes; i++) {
                const struct ctl_rendered *t = &target->nodes[i];
                json_object_set_new(nodes, t->node, json_pack("{s:i, s:I, s:I, s:b}",
                                    "wave", (int)wave_of(&ro->cfg, t->node) + 1,
                                    "served", (json_int_t)ctl_rollout_served(ro, t->node),
                                    "target", (json_int_t)t->revision,
                                    "agent", !ctl_rollout_agentless(ro, t->node)));
        }
        (void)now;
        return o;
}

char *ctl_rollout_html(const struct ctl_rollout *ro, const struct ctl_render *target, int64_t now) {
        json_t *S = ro->st, *h, *v;
        char *buf = NULL;
        size_t len = 0, i;
        FILE *f = open_memstream(&buf, &len);

        if (!f)
                return NULL;
        fputs("<h2>Rollout</h2>\n<p id=\"rollout\" class=\"", f);
        ctl_html_escape(f, str(S, "state"));
        fputs("\">", f);
        if (!ro->cfg.enabled)
                fputs("no waves: every change reaches every node at once", f);
        else {
                fprintf(f, "rollout <b>%lld</b>: <b class=\"rstate\">", json_integer_value(json_object_get(S, "id")));
                ctl_html_escape(f, str(S, "state"));
                fprintf(f, "</b>, wave <b class=\"rwave\">%lld</b> of %zu (settle %u s, deadline %u s)",
                        json_integer_value(json_object_get(S, "wave")) + 1, json_array_size(ro->cfg.waves),
                        ro->cfg.settle, ro->cfg.deadline);
                if (*str(S, "reason")) {
                        fputs(" &mdash; <span class=\"reason\">", f);
                        ctl_html_escape(f, str(S, "reason"));
                        fputs("</span>", f);
                }
        }
        fputs("</p>\n<table id=\"waves\"><thead><tr><th>node</th><th>wave</th><th>served revision</th>"
              "<th>target revision</th><th>held up by</th></tr></thead><tbody>\n", f);
        h = json_object_get(S, "holding");
        for (size_t n = 0; target && n < target->n_nodes; n++) {
                const struct ctl_rendered *t = &target->nodes[n];
                uint64_t sv = ctl_rollout_served(ro, t->node);

                fprintf(f, "<tr class=\"%s\" data-node=\"", sv == t->revision ? "ok" : "stale");
                ctl_html_escape(f, t->node);
                fputs("\"><td>", f);
                ctl_html_escape(f, t->node);
                fprintf(f, "</td><td class=\"wave\">%zu</td><td class=\"served\">%llu</td><td class=\"target\">%llu</td><td class=\"why\">",
                        wave_of(&ro->cfg, t->node) + 1, (unsigned long long)sv, (unsigned long long)t->revision);
                json_array_foreach(h, i, v)
                        if (!strcmp(str(v, "node"), t->node)) {
                                ctl_html_escape(f, str(v, "why"));
                                fputs(" ", f);
                        }
                fputs("</td></tr>\n", f);
        }
        fputs("</tbody></table>\n", f);
        (void)now;
        if (fclose(f) != 0) {
                free(buf);
                return NULL;
        }
        return buf;
}
