/* SPDX-License-Identifier: MIT */
/* Gateway plan: wanted vs observed firewall rules and sysctls, as plan operations. Pure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "gateway.h"

static void rule_done(struct gw_rule *r) {
        free(r->iface);
        free(r->chain);
        free(r->comment);
        free(r->body);
        free(r->text);
        free(r->backend_id);
}

static void sysctls_free(struct gw_sysctl *s, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(s[i].key);
                free(s[i].value);
        }
        free(s);
}

void gw_state_done(struct gw_state *s) {
        if (!s)
                return;
        for (size_t i = 0; i < s->n_rules; i++)
                rule_done(&s->rules[i]);
        free(s->rules);
        sysctls_free(s->sysctls, s->n_sysctls);
        sysctls_free(s->saved, s->n_saved);
        *s = (struct gw_state){};
}

static char *dup_or_null(const char *s, bool *fail) {
        char *d;

        if (!s)
                return NULL;
        d = strdup(s);
        if (!d)
                *fail = true;
        return d;
}

int gw_state_add_rule(struct gw_state *s, const char *iface, const char *chain, const char *comment,
                      const char *body, const char *text) {
        struct gw_rule *x, *r;
        bool fail = false;

        x = realloc(s->rules, (s->n_rules + 1) * sizeof(*x));
        if (!x)
                return -ENOMEM;
        s->rules = x;
        r = &x[s->n_rules];
        *r = (struct gw_rule){
                .iface = dup_or_null(iface, &fail),
                .chain = dup_or_null(chain, &fail),
                .comment = dup_or_null(comment, &fail),
                .body = dup_or_null(body, &fail),
                .text = dup_or_null(text, &fail),
        };
        s->n_rules++;
        return fail ? -ENOMEM : 0;
}

int gw_state_add_sysctl(struct gw_state *s, const char *key, const char *value) {
        struct gw_sysctl *x;
        bool fail = false;

        for (size_t i = 0; i < s->n_sysctls; i++)
                if (strcmp(s->sysctls[i].key, key) == 0)
                        return 0;
        x = realloc(s->sysctls, (s->n_sysctls + 1) * sizeof(*x));
        if (!x)
                return -ENOMEM;
        s->sysctls = x;
        x[s->n_sysctls] = (struct gw_sysctl){ .key = dup_or_null(key, &fail), .value = dup_or_null(value, &fail) };
        s->n_sysctls++;
        return fail ? -ENOMEM : 0;
}

static const struct gw_rule *rule_find(const struct gw_state *s, const struct gw_rule *r) {
        for (size_t i = 0; i < s->n_rules; i++)
                if (s->rules[i].comment && strcmp(s->rules[i].comment, r->comment) == 0 &&
                    strcmp(s->rules[i].chain, r->chain) == 0)
                        return &s->rules[i];
        return NULL;
}

static const struct gw_sysctl *sysctl_find(const struct gw_sysctl *a, size_t n, const char *key) {
        for (size_t i = 0; i < n; i++)
                if (strcmp(a[i].key, key) == 0)
                        return &a[i];
        return NULL;
}

static int push(struct plan *p, enum plan_op_kind kind, const struct gw_rule *rule,
                const struct gw_sysctl *want, const struct gw_sysctl *live) {
        struct plan_op *x = realloc(p->ops, (p->n_ops + 1) * sizeof(*x));

        if (!x)
                return -ENOMEM;
        p->ops = x;
        x[p->n_ops++] = (struct plan_op){ .kind = kind, .gw_rule = rule, .gw_sysctl = want, .gw_live_sysctl = live };
        return 0;
}

static int plan_rules(const struct gw_state *want, const struct gw_state *live, struct plan *p) {
        /* A table whose chains are not the agent's any more (a chain deleted, its policy or hook
         * changed, a chain added) is rebuilt: deleted and filled again in one transaction. */
        bool rebuild = live->table && (!live->chains_ok || want->n_rules == 0);
        int r;

        if (rebuild) {
                r = push(p, PLAN_GW_TABLE_DEL, NULL, NULL, NULL);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; !rebuild && i < live->n_rules; i++) {
                const struct gw_rule *w = live->rules[i].comment ? rule_find(want, &live->rules[i]) : NULL;
                if (w && strcmp(w->body, live->rules[i].body) == 0)
                        continue;
                r = push(p, PLAN_GW_RULE_DEL, &live->rules[i], NULL, NULL);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < want->n_rules; i++) {
                const struct gw_rule *l = rebuild ? NULL : rule_find(live, &want->rules[i]);
                if (l && strcmp(l->body, want->rules[i].body) == 0)
                        continue;
                r = push(p, PLAN_GW_RULE_ADD, &want->rules[i], NULL, NULL);
                if (r < 0)
                        return r;
        }
        return 0;
}

int gw_plan_compute(const struct gw_state *want, const struct gw_state *live, struct plan *ret) {
        struct plan p = {};
        int r;

        p.iface = strdup("gateway");
        if (!p.iface)
                return -ENOMEM;
        r = plan_rules(want, live, &p);
        for (size_t i = 0; r >= 0 && i < want->n_sysctls; i++) {
                const struct gw_sysctl *l = sysctl_find(live->sysctls, live->n_sysctls, want->sysctls[i].key);
                if (l && l->value && strcmp(l->value, want->sysctls[i].value) == 0)
                        continue;
                r = push(&p, PLAN_GW_SYSCTL_SET, NULL, &want->sysctls[i], l);
        }
        /* Nothing asks for forwarding any more: every value found goes back. */
        for (size_t i = 0; r >= 0 && want->n_sysctls == 0 && i < live->n_saved; i++)
                r = push(&p, PLAN_GW_SYSCTL_RESTORE, NULL, &live->saved[i], NULL);
        if (r < 0) {
                plan_done(&p);
                return r;
        }
        *ret = p;
        return 0;
}

static void key_dotted(const char *key, char out[128]) {
        snprintf(out, 128, "%s", key);
        for (char *c = out; *c; c++)
                if (*c == '/')
                        *c = '.';
}

void gw_op_print(const struct plan_op *op, FILE *f) {
        const struct gw_rule *r = op->gw_rule;
        char key[128];

        switch (op->kind) {
        case PLAN_GW_TABLE_DEL:
                fprintf(f, "gateway: delete the agent's firewall table\n");
                return;
        case PLAN_GW_RULE_DEL:
        case PLAN_GW_RULE_ADD:
                fprintf(f, "%s: %s %s rule: %s\n", r->iface ? r->iface : "gateway",
                        op->kind == PLAN_GW_RULE_ADD ? "add" : "delete", r->chain,
                        r->text ? r->text : r->comment ? r->comment : "(no comment)");
                return;
        case PLAN_GW_SYSCTL_SET:
        case PLAN_GW_SYSCTL_RESTORE:
                key_dotted(op->gw_sysctl->key, key);
                fprintf(f, "gateway: %s sysctl %s %s -> %s\n", op->kind == PLAN_GW_SYSCTL_SET ? "set" : "restore",
                        key, op->gw_live_sysctl && op->gw_live_sysctl->value ? op->gw_live_sysctl->value : "?",
                        op->gw_sysctl->value);
                return;
        default:
                fprintf(f, "?\n");
        }
}

int gw_op_to_json(const struct plan_op *op, json_t *o) {
        const struct gw_rule *r = op->gw_rule;
        char key[128];
        int k = 0;

        if (r) {
                k |= json_object_set_new(o, "interface", r->iface ? json_string(r->iface) : json_null());
                k |= json_object_set_new(o, "chain", json_string(r->chain));
                k |= json_object_set_new(o, "comment", r->comment ? json_string(r->comment) : json_null());
                if (r->text)
                        k |= json_object_set_new(o, "rule", json_string(r->text));
        }
        if (op->gw_sysctl) {
                key_dotted(op->gw_sysctl->key, key);
                k |= json_object_set_new(o, "sysctl", json_string(key));
                k |= json_object_set_new(o, "value", json_string(op->gw_sysctl->value));
                if (op->gw_live_sysctl && op->gw_live_sysctl->value)
                        k |= json_object_set_new(o, "found", json_string(op->gw_live_sysctl->value));
        }
        return k ? -ENOMEM : 0;
}

void gw_result_done(struct gw_result *r) {
        if (!r)
                return;
        plan_done(&r->plan);
        gw_state_done(&r->want);
        gw_state_done(&r->live);
        *r = (struct gw_result){};
}

int gw_sync(const struct gw_driver *d, void *ctx, const struct wf_doc *doc, bool dry_run,
            struct gw_result *ret, struct wf_err *e) {
        struct gw_result res = {};
        int r, last = 0;

        r = d->want(ctx, doc, &res.want, e);
        for (unsigned attempt = 0; r >= 0; attempt++) {
                struct gw_state live = {};
                struct plan p = {};
                size_t left;

                r = d->observe(ctx, &res.want, &live, e);
                if (r < 0)
                        break;
                r = gw_plan_compute(&res.want, &live, &p);
                if (r < 0) {
                        gw_state_done(&live);
                        break;
                }
                left = plan_changes(&p);
                if (attempt == 0) {
                        res.live = live;
                        res.plan = p;
                        res.changes = left;
                }
                if (left == 0 || dry_run || attempt >= GW_MAX_ATTEMPTS) {
                        if (left && !dry_run && !last)
                                last = wf_err_set(e, -EAGAIN, "%zu gateway changes left after %u applies", left, attempt);
                        r = left && !dry_run ? last : 0;
                } else {
                        r = d->apply(ctx, &p, e);
                        res.attempts++;
                        last = r < 0 ? r : 0;
                        r = 0;
                }
                if (attempt > 0) {
                        plan_done(&p);
                        gw_state_done(&live);
                }
                if (left == 0 || dry_run || attempt >= GW_MAX_ATTEMPTS)
                        break;
        }
        *ret = res;
        return r;
}
