/* SPDX-License-Identifier: MIT */
/* RouterOS backend: gateways (docs/gateways.md, "RouterOS") as a gw_driver. Forward accepts in
 * /ip(v6)/firewall/filter; the no-masquerade accept, netmap, services (dst-nat) and exit
 * masquerade in /ip(v6)/firewall/nat. Every rule carries "wgfleet:IFACE KIND[ KEY]" and is
 * found by that comment; a rule's body is its matchers and action as "key=value" lines in a
 * fixed key order, the same for wanted and printed rules, so an edit is seen as a difference.
 * Rule order matters on RouterOS (first match wins): ours go before the first foreign rule that
 * would decide the same packets (a drop in forward, any NAT action in the NAT chains), a
 * netmap-out before its interface's no-masquerade accept; a rule found after that is misplaced
 * and moved back. There are no sysctls: RouterOS forwards unless /ip/settings says otherwise,
 * which the agent leaves alone. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ros-backend.h"

#define N_KEYS 16
static const char *const body_keys[N_KEYS] = {
        "chain", "action", "protocol", "src-address", "dst-address", "src-port", "dst-port", "in-interface",
        "out-interface", "in-interface-list", "out-interface-list", "connection-state", "connection-nat-state",
        "to-addresses", "to-ports", "disabled",
};
#define PROPLIST "=.proplist=.id,comment,chain,action,protocol,src-address,dst-address,src-port,dst-port," \
                 "in-interface,out-interface,in-interface-list,out-interface-list,connection-state,"     \
                 "connection-nat-state,to-addresses,to-ports,disabled"

static const char *const menus[] = {
        "/ip/firewall/filter", "/ip/firewall/nat", "/ipv6/firewall/filter", "/ipv6/firewall/nat",
};

static const char *menu_for(int family, bool nat) {
        return menus[(family == AF_INET6) * 2 + nat];
}

static bool menu_is_nat(const char *menu) {
        return strstr(menu, "/nat") != NULL;
}

/* ---- bodies ---- */

struct fields {
        char v[N_KEYS][128];
};

static void fset(struct fields *f, const char *key, const char *value) {
        for (size_t i = 0; i < N_KEYS; i++)
                if (strcmp(body_keys[i], key) == 0)
                        snprintf(f->v[i], sizeof f->v[i], "%s", value ? value : "");
}

/* A host prefix is printed as the bare address, as RouterOS prints firewall addresses. */
static void addr_fmt(const struct wf_prefix *p, char out[64]) {
        wf_prefix_format(p, out);
        if (p->len == (p->family == AF_INET ? 32 : 128))
                *strchr(out, '/') = '\0';
}

static bool is_addr_key(size_t i) {
        return strcmp(body_keys[i], "src-address") == 0 || strcmp(body_keys[i], "dst-address") == 0 ||
               strcmp(body_keys[i], "to-addresses") == 0;
}

/* "key=value" lines, "disabled" only when true; addresses in the form addr_fmt gives. */
static char *body_of(const struct fields *f, const char *extra) {
        char *s = NULL;
        size_t len = 0;
        FILE *m = open_memstream(&s, &len);

        if (!m)
                return NULL;
        for (size_t i = 0; i < N_KEYS; i++) {
                const char *v = f->v[i];
                struct wf_prefix p;
                const char *why;
                char a[64];

                if (!*v || (strcmp(body_keys[i], "disabled") == 0 && !ros_is_true(v)))
                        continue;
                if (is_addr_key(i) && v[0] != '!' && !strchr(v, '-') && wf_prefix_parse(v, false, &p, &why) == 0) {
                        addr_fmt(&p, a);
                        v = a;
                }
                fprintf(m, "%s=%s\n", body_keys[i], v);
        }
        if (extra)
                fprintf(m, "%s\n", extra);
        return fclose(m) == 0 ? s : NULL;
}

/* The value of key in a body, copied into out ("" when absent). */
static void body_get(const char *body, const char *key, char out[128]) {
        size_t kl = strlen(key);

        out[0] = '\0';
        for (const char *l = body; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
                if (strncmp(l, key, kl) == 0 && l[kl] == '=') {
                        snprintf(out, 128, "%.*s", (int)strcspn(l + kl + 1, "\n"), l + kl + 1);
                        return;
                }
}

/* ---- wanted rules ---- */

static int want_add(struct gw_state *s, const char *iface, const char *menu, const struct fields *f,
                    const char *kind, const char *key, const char *text) {
        _cleanup_free_ char *body = body_of(f, NULL), *comment = NULL, *chain = NULL;

        if (!body || asprintf(&comment, ROS_COMMENT_PREFIX "%s %s%s%s", iface, kind, key ? " " : "", key ? key : "") < 0 ||
            asprintf(&chain, "%s %s", menu, f->v[0]) < 0)
                return -ENOMEM;
        return gw_state_add_rule(s, iface, chain, comment, body, text);
}

static bool has_family(const struct wf_iface *f, int family) {
        for (size_t i = 0; i < f->n_addresses; i++)
                if (f->addresses[i].family == family)
                        return true;
        return false;
}

/* Forward accepts both ways, and the no-masquerade accept: traffic leaving by the tunnel keeps
 * its source (the router's own masquerade rules would otherwise hide the LAN behind it). */
static int want_forwarding(struct gw_state *s, const struct wf_iface *f) {
        int r = 0;

        for (int fam = 0; r >= 0 && fam < 2; fam++) {
                int family = fam ? AF_INET6 : AF_INET;
                struct fields x = {};
                char text[128];

                if (fam && !has_family(f, AF_INET6))
                        break;
                for (int out = 0; r >= 0 && out < 2; out++) {
                        x = (struct fields){};
                        fset(&x, "chain", "forward");
                        fset(&x, "action", "accept");
                        fset(&x, out ? "out-interface" : "in-interface", f->name);
                        snprintf(text, sizeof text, "accept forwarded traffic %s %s", out ? "out to" : "in from", f->name);
                        r = want_add(s, f->name, menu_for(family, false), &x, "forward", out ? "out" : "in", text);
                }
                x = (struct fields){};
                fset(&x, "chain", "srcnat");
                fset(&x, "action", "accept");
                fset(&x, "out-interface", f->name);
                snprintf(text, sizeof text, "out %s: no masquerade (before the router's own)", f->name);
                if (r >= 0)
                        r = want_add(s, f->name, menu_for(family, true), &x, "no-masquerade", NULL, text);
        }
        return r;
}

static int want_netmap(struct gw_state *s, const struct wf_iface *f, const struct wf_netmap *m) {
        const char *menu = menu_for(m->local.family, true);
        struct fields x = {};
        char lo[64], ov[64], text[256];
        int r;

        addr_fmt(&m->local, lo);
        addr_fmt(&m->overlay, ov);
        fset(&x, "chain", "dstnat");
        fset(&x, "action", "netmap");
        fset(&x, "in-interface", f->name);
        fset(&x, "dst-address", ov);
        fset(&x, "to-addresses", lo);
        snprintf(text, sizeof text, "from %s to %s: netmap to %s", f->name, ov, lo);
        r = want_add(s, f->name, menu, &x, "netmap-in", ov, text);
        if (r < 0)
                return r;
        x = (struct fields){};
        fset(&x, "chain", "srcnat");
        fset(&x, "action", "netmap");
        fset(&x, "out-interface", f->name);
        fset(&x, "src-address", lo);
        fset(&x, "to-addresses", ov);
        snprintf(text, sizeof text, "from %s out %s: netmap to %s", lo, f->name, ov);
        return want_add(s, f->name, menu, &x, "netmap-out", ov, text);
}

static int want_service(struct gw_state *s, const struct wf_iface *f, const struct wf_service *v) {
        const char *proto = v->protocol == IPPROTO_TCP ? "tcp" : "udp";
        struct fields x = {};
        char a[64], t[64], port[8], tport[8], text[256];

        addr_fmt(&v->address, a);
        addr_fmt(&v->target, t);
        snprintf(port, sizeof port, "%u", v->port);
        snprintf(tport, sizeof tport, "%u", v->target_port);
        fset(&x, "chain", "dstnat");
        fset(&x, "action", "dst-nat");
        fset(&x, "protocol", proto);
        fset(&x, "dst-address", a);
        fset(&x, "dst-port", port);
        fset(&x, "in-interface", f->name);
        fset(&x, "to-addresses", t);
        fset(&x, "to-ports", tport);
        snprintf(text, sizeof text, "service %s: from %s to %s %s/%u: dst-nat to %s port %u", v->name, f->name, a,
                 proto, v->port, t, v->target_port);
        return want_add(s, f->name, menu_for(v->address.family, true), &x, "service", v->name, text);
}

/* As on Linux: the peers' allowed IPs are exactly the tunnel's sources (docs/gateways.md). */
static int want_masquerade(struct gw_state *s, const struct wf_iface *f) {
        for (size_t i = 0; i < f->n_peers; i++)
                for (size_t k = 0; k < f->peers[i].n_allowed_ips; k++) {
                        const struct wf_prefix *p = &f->peers[i].allowed_ips[k];
                        struct fields x = {};
                        char a[64], text[256];
                        int r;

                        if (p->len == 0)
                                continue;
                        addr_fmt(p, a);
                        fset(&x, "chain", "srcnat");
                        fset(&x, "action", "masquerade");
                        fset(&x, "src-address", a);
                        fset(&x, "out-interface", f->masquerade_out);
                        snprintf(text, sizeof text, "from %s (peer %s) out %s: masquerade", a, f->peers[i].name,
                                 f->masquerade_out);
                        r = want_add(s, f->name, menu_for(p->family, true), &x, "masquerade", a, text);
                        if (r < 0)
                                return r;
                }
        return 0;
}

static int rosgw_want(void *ctx, const struct wf_doc *doc, struct gw_state *ret, struct wf_err *e) {
        struct gw_state s = {};
        int r = 0;

        (void)ctx;
        for (size_t i = 0; doc && r >= 0 && i < doc->n_ifaces; i++) {
                const struct wf_iface *f = &doc->ifaces[i];

                if (f->forwarding)
                        r = want_forwarding(&s, f);
                for (size_t k = 0; r >= 0 && k < f->n_services; k++)
                        r = want_service(&s, f, &f->services[k]);
                for (size_t k = 0; r >= 0 && k < f->n_netmap; k++)
                        r = want_netmap(&s, f, &f->netmap[k]);
                if (r >= 0 && f->masquerade_out)
                        r = want_masquerade(&s, f);
        }
        if (r < 0) {
                gw_state_done(&s);
                return wf_err_set(e, r, "gateway: %s", strerror(-r));
        }
        *ret = s;
        return 0;
}

/* ---- rule order ---- */

struct row {
        char id[32], chain[32], action[32], comment[160];
        bool disabled;
        struct fields f;
};

struct rows {
        struct row *v;
        size_t n;
};

/* A foreign rule that would decide the packets ours are for: in the filter a drop, in the NAT
 * chains any address-changing or accepting action (logging and list actions go on). */
static bool is_blocker(const struct row *r, bool nat) {
        static const char *const filter_stop[] = { "drop", "reject", "tarpit" };
        static const char *const nat_go_on[] = { "passthrough", "log", "add-src-to-address-list",
                                                 "add-dst-to-address-list", "jump" };

        if (ros_is_ours(r->comment) || r->disabled)
                return false;
        for (size_t i = 0; !nat && i < ELEMENTSOF(filter_stop); i++)
                if (strcmp(r->action, filter_stop[i]) == 0)
                        return true;
        for (size_t i = 0; nat && i < ELEMENTSOF(nat_go_on); i++)
                if (strcmp(r->action, nat_go_on[i]) == 0)
                        return false;
        return nat;
}

/* Where a rule of ours with this comment belongs: before the returned row (-1: anywhere). */
static ssize_t target_of(const struct rows *t, const char *chain, const char *comment, bool nat) {
        char accept[160] = "";
        const char *sp = strstr(comment, " netmap-out ");

        if (sp)
                snprintf(accept, sizeof accept, "%.*s no-masquerade", (int)(sp - comment), comment);
        for (size_t i = 0; i < t->n; i++)
                if (strcmp(t->v[i].chain, chain) == 0 &&
                    (is_blocker(&t->v[i], nat) || (accept[0] && strcmp(t->v[i].comment, accept) == 0)))
                        return (ssize_t)i;
        return -1;
}

static void rows_done(struct rows *t) {
        free(t->v);
        *t = (struct rows){};
}

/* Every rule of menu (of chain, when not NULL), in order. A menu the router lacks (no ipv6
 * package) is empty. */
static int rows_load(struct backend *b, const char *menu, const char *chain, struct rows *ret, struct wf_err *e) {
        _cleanup_free_ char *q = NULL;
        struct rosconn_reply rep;
        char cmd[64];
        int r;

        *ret = (struct rows){};
        snprintf(cmd, sizeof cmd, "%s/print", menu);
        if (chain && asprintf(&q, "?chain=%s", chain) < 0)
                return -ENOMEM;
        r = q ? ROS_CALL(b, &rep, e, cmd, q, PROPLIST) : ROS_CALL(b, &rep, e, cmd, PROPLIST);
        if (r == -EREMOTEIO && strstr(rep.trap, "no such command")) {
                e->msg[0] = '\0';
                r = 0;
        }
        ret->v = r >= 0 ? calloc(rep.n_re + 1, sizeof(*ret->v)) : NULL;
        if (r >= 0 && !ret->v)
                r = -ENOMEM;
        for (size_t i = 0; r >= 0 && i < rep.n_re; i++) {
                struct row *w = &ret->v[ret->n++];
                const char *v;
#define GET(k) ((v = rosconn_reply_get(&rep, i, k)) ? v : "")
                snprintf(w->id, sizeof w->id, "%s", GET(".id"));
                snprintf(w->chain, sizeof w->chain, "%s", GET("chain"));
                snprintf(w->action, sizeof w->action, "%s", *GET("action") ? v : "accept");
                snprintf(w->comment, sizeof w->comment, "%s", GET("comment"));
                w->disabled = ros_is_true(GET("disabled"));
                for (size_t k = 0; k < N_KEYS; k++)
                        fset(&w->f, body_keys[k], GET(body_keys[k]));
#undef GET
        }
        rosconn_reply_done(&rep);
        if (r < 0)
                rows_done(ret);
        return r;
}

/* Ours and a gateway rule: every wgfleet: rule in a NAT menu, and in a filter menu all but the
 * input chain (where the listen port's accept lives, ros_firewall_state). */
static bool gw_row(const struct row *r, bool nat) {
        return ros_is_ours(r->comment) && (nat || strcmp(r->chain, "input") != 0);
}

/* ---- observe ---- */

static int observe_menu(struct backend *b, const char *menu, struct gw_state *s, struct wf_err *e) {
        bool nat = menu_is_nat(menu);
        struct rows t;
        int r = rows_load(b, menu, NULL, &t, e);

        for (size_t i = 0; r >= 0 && i < t.n; i++) {
                const struct row *w = &t.v[i];
                _cleanup_free_ char *iface = NULL, *chain = NULL, *body = NULL, *text = NULL;
                ssize_t tgt;

                if (!gw_row(w, nat))
                        continue;
                tgt = target_of(&t, w->chain, w->comment, nat);
                if (tgt >= 0 && (size_t)tgt < i) {
                        if (asprintf(&text, "%s (after %s rule %s)", w->comment,
                                     ros_is_ours(t.v[tgt].comment) ? "our no-masquerade" : "the foreign", t.v[tgt].id) < 0)
                                r = -ENOMEM;
                }
                iface = strndup(w->comment + strlen(ROS_COMMENT_PREFIX), strcspn(w->comment + strlen(ROS_COMMENT_PREFIX), " "));
                body = body_of(&w->f, text ? "placement=wrong" : NULL);
                if (r < 0 || !iface || !body || asprintf(&chain, "%s %s", menu, w->chain) < 0) {
                        r = -ENOMEM;
                        break;
                }
                r = gw_state_add_rule(s, iface, chain, w->comment, body, text ? text : w->comment);
                if (r >= 0 && !(s->rules[s->n_rules - 1].backend_id = strdup(w->id)))
                        r = -ENOMEM;
        }
        rows_done(&t);
        return r;
}

static int rosgw_observe(void *ctx, const struct gw_state *want, struct gw_state *ret, struct wf_err *e) {
        struct backend *b = ctx;
        struct gw_state s = {};
        int r;

        (void)want;
        r = ros_connect(b, e);
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(menus); i++)
                r = observe_menu(b, menus[i], &s, e);
        if (r < 0) {
                gw_state_done(&s);
                return e->msg[0] ? r : wf_err_set(e, r, "gateway: observe: %s", strerror(-r));
        }
        *ret = s;
        return 0;
}

/* ---- apply ---- */

/* "MENU CHAIN" */
static void split_chain(const char *c, char menu[64], char chain[32]) {
        snprintf(menu, 64, "%.*s", (int)strcspn(c, " "), c);
        snprintf(chain, 32, "%s", strchr(c, ' ') ? strchr(c, ' ') + 1 : "");
}

static ssize_t row_index(const struct rows *t, const char *id) {
        for (size_t i = 0; id && i < t->n; i++)
                if (strcmp(t->v[i].id, id) == 0)
                        return (ssize_t)i;
        return -1;
}

/* Adds w before its target, or before hint (the .id of the rule that followed the one it
 * replaces) when that is still in place. */
static int add_rule(struct backend *b, const struct gw_rule *w, const char *hint, struct wf_err *e) {
        struct ros_words words = {};
        char menu[64], chain[32], v[128];
        struct rows t;
        ssize_t tgt, h;
        int r;

        split_chain(w->chain, menu, chain);
        r = rows_load(b, menu, chain, &t, e);
        if (r < 0)
                return r;
        tgt = target_of(&t, chain, w->comment, menu_is_nat(menu));
        h = row_index(&t, hint);
        if (h >= 0 && (tgt < 0 || h <= tgt))
                tgt = h;
        ros_words_add(&words, "%s/add", menu);
        for (size_t i = 0; i < N_KEYS; i++) {
                body_get(w->body, body_keys[i], v);
                if (*v)
                        ros_words_add(&words, "=%s=%s", body_keys[i], v);
        }
        ros_words_add(&words, "=comment=%s", w->comment);
        if (tgt >= 0)
                ros_words_add(&words, "=place-before=%s", t.v[tgt].id);
        rows_done(&t);
        return ros_simple(b, &words, e);
}

static int remove_rule(struct backend *b, const struct gw_rule *l, struct wf_err *e) {
        struct ros_words w = {};
        char menu[64], chain[32];

        split_chain(l->chain, menu, chain);
        ros_words_add(&w, "%s/remove", menu);
        ros_words_add(&w, "=.id=%s", l->backend_id);
        return ros_simple(b, &w, e);
}

static int replace_rule(struct backend *b, const struct gw_rule *l, const struct gw_rule *w, struct wf_err *e) {
        char menu[64], chain[32], next[32] = "";
        struct rows t;
        ssize_t i;
        int r;

        split_chain(l->chain, menu, chain);
        r = rows_load(b, menu, chain, &t, e);
        i = r >= 0 ? row_index(&t, l->backend_id) : -1;
        if (i >= 0 && (size_t)i + 1 < t.n)
                snprintf(next, sizeof next, "%s", t.v[i + 1].id);
        rows_done(&t);
        if (r >= 0)
                r = remove_rule(b, l, e);
        return r < 0 ? r : add_rule(b, w, next[0] ? next : NULL, e);
}

/* In place: set what differs (and enable it). A matcher added by hand that the wanted rule
 * does not have cannot be set away: then the rule is replaced, in its place. */
static int update_rule(struct backend *b, const struct gw_rule *l, const struct gw_rule *w, struct wf_err *e) {
        struct ros_words words = {};
        char menu[64], chain[32], lv[128], wv[128];
        size_t before;

        split_chain(w->chain, menu, chain);
        for (size_t i = 0; i < N_KEYS; i++) {
                body_get(l->body, body_keys[i], lv);
                body_get(w->body, body_keys[i], wv);
                if (*lv && !*wv && strcmp(body_keys[i], "disabled") != 0)
                        return replace_rule(b, l, w, e);
        }
        ros_words_add(&words, "%s/set", menu);
        ros_words_add(&words, "=.id=%s", l->backend_id);
        before = words.n;
        for (size_t i = 0; i < N_KEYS; i++) {
                body_get(l->body, body_keys[i], lv);
                body_get(w->body, body_keys[i], wv);
                if (strcmp(body_keys[i], "disabled") == 0 && *lv)
                        ros_words_add(&words, "=disabled=no");
                else if (strcmp(lv, wv) != 0)
                        ros_words_add(&words, "=%s=%s", body_keys[i], wv);
        }
        if (words.err == 0 && words.n == before) {
                ros_words_done(&words);
                return 0;
        }
        return ros_simple(b, &words, e);
}

/* Moves misplaced rules of ours in one chain before their targets, one at a time (each move
 * shifts the others), until none is left; bounded by the chain's length. */
static int place_chain(struct backend *b, const char *menu_chain, struct wf_err *e) {
        char menu[64], chain[32];
        bool nat;
        int r = 0;

        split_chain(menu_chain, menu, chain);
        nat = menu_is_nat(menu);
        for (unsigned round = 0; r >= 0 && round < 256; round++) {
                struct ros_words w = {};
                struct rows t;
                ssize_t from = -1, tgt = -1;

                r = rows_load(b, menu, chain, &t, e);
                for (size_t i = 0; r >= 0 && from < 0 && i < t.n; i++) {
                        if (!gw_row(&t.v[i], nat))
                                continue;
                        tgt = target_of(&t, chain, t.v[i].comment, nat);
                        if (tgt >= 0 && (size_t)tgt < i)
                                from = (ssize_t)i;
                }
                if (r < 0 || from < 0) {
                        rows_done(&t);
                        break;
                }
                ros_words_add(&w, "%s/move", menu);
                ros_words_add(&w, "=numbers=%s", t.v[from].id);
                ros_words_add(&w, "=destination=%s", t.v[tgt].id);
                rows_done(&t);
                r = ros_simple(b, &w, e);
        }
        return r;
}

static const struct gw_rule *pair_of(const struct plan *p, enum plan_op_kind kind, const struct gw_rule *x) {
        for (size_t i = 0; i < p->n_ops; i++)
                if (p->ops[i].kind == kind && p->ops[i].gw_rule->comment && x->comment &&
                    strcmp(p->ops[i].gw_rule->comment, x->comment) == 0 && strcmp(p->ops[i].gw_rule->chain, x->chain) == 0)
                        return p->ops[i].gw_rule;
        return NULL;
}

static int rosgw_apply(void *ctx, const struct plan *p, struct wf_err *e) {
        struct backend *b = ctx;
        int r = ros_connect(b, e);

        for (size_t i = 0; r >= 0 && i < p->n_ops; i++) {
                const struct plan_op *op = &p->ops[i];
                const struct gw_rule *other;

                if (op->kind == PLAN_GW_RULE_DEL && !pair_of(p, PLAN_GW_RULE_ADD, op->gw_rule))
                        r = remove_rule(b, op->gw_rule, e);
                else if (op->kind == PLAN_GW_RULE_ADD)
                        r = (other = pair_of(p, PLAN_GW_RULE_DEL, op->gw_rule)) ? update_rule(b, other, op->gw_rule, e)
                                                                                : add_rule(b, op->gw_rule, NULL, e);
        }
        /* each chain once, in the order the plan names them */
        for (size_t i = 0; r >= 0 && i < p->n_ops; i++) {
                bool seen = false;

                if (p->ops[i].kind != PLAN_GW_RULE_ADD)
                        continue;
                for (size_t k = 0; k < i; k++)
                        seen |= p->ops[k].kind == PLAN_GW_RULE_ADD && strcmp(p->ops[k].gw_rule->chain, p->ops[i].gw_rule->chain) == 0;
                if (!seen)
                        r = place_chain(b, p->ops[i].gw_rule->chain, e);
        }
        return r;
}

const struct gw_driver ros_gw_driver = {
        .want = rosgw_want,
        .observe = rosgw_observe,
        .apply = rosgw_apply,
};
