/* SPDX-License-Identifier: MIT */
/* Gateway driver for Linux: nftables (libnftables, JSON in and out) and forwarding sysctls. */
#include <dirent.h>
#include <errno.h>
#include <unistd.h>
#include <sys/socket.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <nftables/libnftables.h>

#include "nft-gateway.h"

#define SYSCTL_ROOT "/proc/sys"

struct nftgw {
        struct nft_ctx *nft; /* owned */
        char *state_dir;     /* owned */
};

static const struct chain_spec {
        const char *name, *type, *hook;
        int prio;
} chains[] = {
        { "forward", "filter", "forward", 0 },
        { "prerouting", "nat", "prerouting", -100 },   /* dstnat */
        { "postrouting", "nat", "postrouting", 100 },  /* srcnat */
};

/* ---- wanted rules: nftables JSON expressions, in the form `nft -j list` prints them ---- */

static json_t *match(json_t *left, json_t *right) {
        return json_pack("{s:{s:s, s:o, s:o}}", "match", "op", "==", "left", left, "right", right);
}

static json_t *meta(const char *key) {
        return json_pack("{s:{s:s}}", "meta", "key", key);
}

static json_t *payload(const char *proto, const char *field) {
        return json_pack("{s:{s:s, s:s}}", "payload", "protocol", proto, "field", field);
}

static bool full_len(const struct wf_prefix *p) {
        return p->len == (p->family == AF_INET ? 32 : 128);
}

/* A host prefix is printed as a plain address, anything else as {"prefix": ...}. */
static json_t *addr_json(const struct wf_prefix *p) {
        char buf[64], *slash;

        wf_prefix_format(p, buf);
        slash = strchr(buf, '/');
        if (slash)
                *slash = '\0';
        if (full_len(p))
                return json_string(buf);
        return json_pack("{s:{s:s, s:i}}", "prefix", "addr", buf, "len", (int)p->len);
}

static const char *fam(const struct wf_prefix *p) {
        return p->family == AF_INET ? "ip" : "ip6";
}

/* snat/dnat to a prefix, address for address (netmap), or to one address (and port). */
static json_t *nat(const char *kind, const struct wf_prefix *to, uint16_t port) {
        json_t *o = json_pack("{s:s, s:o}", "family", fam(to), "addr", addr_json(to));

        if (o && port)
                json_object_set_new(o, "port", json_integer(port));
        if (o && !full_len(to)) {
                json_object_set_new(o, "flags", json_string("netmap"));
                json_object_set_new(o, "type_flags", json_string("prefix"));
        }
        return json_pack("{s:o}", kind, o);
}

static int add(struct gw_state *s, const char *iface, const char *chain, const char *comment,
               json_t *expr, const char *text) {
        _cleanup_free_ char *body = NULL;
        int r;

        if (!expr)
                return -ENOMEM;
        body = json_dumps(expr, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(expr);
        if (!body)
                return -ENOMEM;
        r = gw_state_add_rule(s, iface, chain, comment, body, text);
        return r;
}

static int want_netmap(struct gw_state *s, const struct wf_iface *f, const struct wf_netmap *m) {
        char comment[128], text[256], lo[64], ov[64];
        int r;

        wf_prefix_format(&m->local, lo);
        wf_prefix_format(&m->overlay, ov);
        snprintf(comment, sizeof(comment), "wgfleet:%s:netmap-in:%s", f->name, ov);
        snprintf(text, sizeof(text), "from %s to %s: dnat to %s", f->name, ov, lo);
        r = add(s, f->name, "prerouting", comment,
                json_pack("[o, o, o]", match(meta("iifname"), json_string(f->name)),
                          match(payload(fam(&m->overlay), "daddr"), addr_json(&m->overlay)),
                          nat("dnat", &m->local, 0)), text);
        if (r < 0)
                return r;
        snprintf(comment, sizeof(comment), "wgfleet:%s:netmap-out:%s", f->name, ov);
        snprintf(text, sizeof(text), "from %s out %s: snat to %s", lo, f->name, ov);
        return add(s, f->name, "postrouting", comment,
                   json_pack("[o, o, o]", match(meta("oifname"), json_string(f->name)),
                             match(payload(fam(&m->local), "saddr"), addr_json(&m->local)),
                             nat("snat", &m->overlay, 0)), text);
}

static int want_service(struct gw_state *s, const struct wf_iface *f, const struct wf_service *v) {
        const char *proto = v->protocol == IPPROTO_TCP ? "tcp" : "udp";
        char comment[128], text[256], a[64], t[64];

        wf_prefix_format(&v->address, a);
        wf_prefix_format(&v->target, t);
        *strchr(a, '/') = '\0';
        *strchr(t, '/') = '\0';
        snprintf(comment, sizeof(comment), "wgfleet:%s:service:%s", f->name, v->name);
        snprintf(text, sizeof(text), "service %s: from %s to %s %s/%u: dnat to %s port %u", v->name, f->name,
                 a, proto, v->port, t, v->target_port);
        return add(s, f->name, "prerouting", comment,
                   json_pack("[o, o, o, o]", match(meta("iifname"), json_string(f->name)),
                             match(payload(fam(&v->address), "daddr"), addr_json(&v->address)),
                             match(payload(proto, "dport"), json_integer(v->port)),
                             nat("dnat", &v->target, v->target_port)), text);
}

/* Traffic that entered through the tunnel: WireGuard accepts from a peer only sources inside its
 * allowed IPs, so those prefixes are exactly the tunnel's sources (a /0 would be everything). In
 * postrouting the input interface is not known any more, so the source is what is matched. NAT
 * chains see only a connection's first packet: one rule per prefix costs nothing per packet. */
static int want_masquerade(struct gw_state *s, const struct wf_iface *f) {
        for (size_t i = 0; i < f->n_peers; i++)
                for (size_t k = 0; k < f->peers[i].n_allowed_ips; k++) {
                        const struct wf_prefix *p = &f->peers[i].allowed_ips[k];
                        char comment[128], text[256], a[64];
                        int r;

                        if (p->len == 0)
                                continue;
                        wf_prefix_format(p, a);
                        snprintf(comment, sizeof(comment), "wgfleet:%s:masquerade:%s", f->name, a);
                        snprintf(text, sizeof(text), "from %s (peer %s) out %s: masquerade", a,
                                 f->peers[i].name, f->masquerade_out);
                        r = add(s, f->name, "postrouting", comment,
                                json_pack("[o, o, {s:n}]", match(meta("oifname"), json_string(f->masquerade_out)),
                                          match(payload(fam(p), "saddr"), addr_json(p)), "masquerade"), text);
                        if (r < 0)
                                return r;
                }
        return 0;
}

static int want_forwarding(struct gw_state *s, const struct wf_iface *f) {
        char comment[128], text[128], key[128];
        bool v6 = false;
        int r;

        for (int out = 0; out < 2; out++) {
                snprintf(comment, sizeof(comment), "wgfleet:%s:forward-%s", f->name, out ? "out" : "in");
                snprintf(text, sizeof(text), "accept forwarded traffic %s %s", out ? "out to" : "in from", f->name);
                r = add(s, f->name, "forward", comment,
                        json_pack("[o, {s:n}]", match(meta(out ? "oifname" : "iifname"), json_string(f->name)),
                                  "accept"), text);
                if (r < 0)
                        return r;
        }
        /* A packet is forwarded when the interface it arrives on forwards: ip_forward turns it
         * on for all of them (the LAN side of a netmap, an exit's egress for the replies). */
        r = gw_state_add_sysctl(s, "net/ipv4/ip_forward", "1");
        snprintf(key, sizeof(key), "net/ipv4/conf/%s/forwarding", f->name);
        if (r >= 0)
                r = gw_state_add_sysctl(s, key, "1");
        for (size_t i = 0; i < f->n_addresses; i++)
                v6 |= f->addresses[i].family == AF_INET6;
        if (!v6 || r < 0)
                return r;
        /* IPv6 forwards only with all.forwarding on, whatever the interface says. */
        r = gw_state_add_sysctl(s, "net/ipv6/conf/all/forwarding", "1");
        snprintf(key, sizeof(key), "net/ipv6/conf/%s/forwarding", f->name);
        return r < 0 ? r : gw_state_add_sysctl(s, key, "1");
}

int nftgw_want(const struct wf_doc *doc, struct gw_state *ret) {
        struct gw_state s = {};
        int r = 0;

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
                return r;
        }
        *ret = s;
        return 0;
}

/* ---- libnftables ---- */

int nftgw_new(struct nftgw **ret, const char *state_dir, struct wf_err *e) {
        struct nftgw *g = calloc(1, sizeof(*g));

        if (!g)
                return -ENOMEM;
        g->state_dir = strdup(state_dir ? state_dir : "/var/lib/wgfleet");
        if (!g->state_dir) {
                nftgw_free(g);
                return wf_err_set(e, -ENOMEM, "nftables: out of memory");
        }
        *ret = g;
        return 0;
}

/* The libnftables context is made on first use, after a check that the kernel has netfilter
 * netlink: libnftables exit()s the whole process when it cannot open its socket. */
static int nft_open(struct nftgw *g, struct wf_err *e) {
        int fd;

        if (g->nft)
                return 0;
        fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
        if (fd < 0)
                return wf_err_set(e, -errno, "nftables: no netfilter netlink in this kernel (%s)", strerror(errno));
        close(fd);
        g->nft = nft_ctx_new(NFT_CTX_DEFAULT);
        if (!g->nft)
                return wf_err_set(e, -ENOMEM, "nftables: cannot create a context");
        nft_ctx_output_set_flags(g->nft, NFT_CTX_OUTPUT_JSON | NFT_CTX_OUTPUT_HANDLE);
        if (nft_ctx_buffer_output(g->nft) < 0 || nft_ctx_buffer_error(g->nft) < 0)
                return wf_err_set(e, -ENOMEM, "nftables: cannot buffer output");
        return 0;
}

void nftgw_free(struct nftgw *g) {
        if (!g)
                return;
        if (g->nft)
                nft_ctx_free(g->nft);
        free(g->state_dir);
        free(g);
}

/* Runs one nft command (text or JSON, one transaction) and parses its JSON output. */
static int nft_run(struct nftgw *g, const char *cmd, json_t **ret, struct wf_err *e) {
        const char *out, *err;
        json_error_t je;

        int r = nft_open(g, e);

        if (r < 0)
                return r;
        if (nft_run_cmd_from_buffer(g->nft, cmd) != 0) {
                err = nft_ctx_get_error_buffer(g->nft);
                return wf_err_set(e, -EIO, "nftables: %.*s", (int)strcspn(err ? err : "", "\n"), err ? err : "");
        }
        out = nft_ctx_get_output_buffer(g->nft);
        (void)nft_ctx_get_error_buffer(g->nft);
        if (!ret)
                return 0;
        *ret = json_loads(out && *out ? out : "{\"nftables\": []}", 0, &je);
        if (!*ret)
                return wf_err_set(e, -EIO, "nftables: unreadable JSON output (%s)", je.text);
        return 0;
}

static bool chain_ours(const json_t *c) {
        const char *name = json_string_value(json_object_get(c, "name"));

        for (size_t i = 0; name && i < ELEMENTSOF(chains); i++)
                if (strcmp(name, chains[i].name) == 0)
                        return json_is_string(json_object_get(c, "hook")) &&
                               strcmp(json_string_value(json_object_get(c, "type")), chains[i].type) == 0 &&
                               strcmp(json_string_value(json_object_get(c, "hook")), chains[i].hook) == 0 &&
                               json_integer_value(json_object_get(c, "prio")) == chains[i].prio &&
                               json_is_string(json_object_get(c, "policy")) &&
                               strcmp(json_string_value(json_object_get(c, "policy")), "accept") == 0;
        return false;
}

static int observe_rule(struct gw_state *s, const json_t *rule) {
        const char *comment = json_string_value(json_object_get(rule, "comment"));
        _cleanup_free_ char *body = json_dumps(json_object_get(rule, "expr"), JSON_COMPACT | JSON_SORT_KEYS);
        _cleanup_free_ char *iface = NULL;
        int r;

        if (!body)
                return -ENOMEM;
        if (comment && strncmp(comment, "wgfleet:", 8) == 0)
                iface = strndup(comment + 8, strcspn(comment + 8, ":"));
        r = gw_state_add_rule(s, iface, json_string_value(json_object_get(rule, "chain")), comment, body,
                              comment);
        if (r >= 0)
                s->rules[s->n_rules - 1].handle = (uint64_t)json_integer_value(json_object_get(rule, "handle"));
        return r;
}

static int observe_table(struct nftgw *g, bool needed, struct gw_state *s, struct wf_err *e) {
        json_t *root = NULL, *o;
        size_t i, n_chains = 0, n_ours = 0;
        int r;

        r = nft_run(g, "list tables " NFTGW_FAMILY, &root, e);
        /* A node that asks for no rules must not fail where nftables is unusable (no nf_tables
         * in the kernel, no CAP_NET_ADMIN for a dry run): there is nothing of ours to find. */
        if (r < 0 && !needed) {
                e->msg[0] = '\0';
                return 0;
        }
        if (r < 0)
                return r;
        json_array_foreach(json_object_get(root, "nftables"), i, o) {
                const json_t *t = json_object_get(o, "table");
                const char *name = json_string_value(json_object_get(t, "name"));
                s->table |= name && strcmp(name, NFTGW_TABLE) == 0;
        }
        json_decref(root);
        if (!s->table)
                return 0;
        r = nft_run(g, "list table " NFTGW_FAMILY " " NFTGW_TABLE, &root, e);
        if (r < 0)
                return r;
        json_array_foreach(json_object_get(root, "nftables"), i, o) {
                const json_t *c = json_object_get(o, "chain"), *rule = json_object_get(o, "rule");
                if (c) {
                        n_chains++;
                        n_ours += chain_ours(c);
                } else if (rule) {
                        r = observe_rule(s, rule);
                        if (r < 0)
                                break;
                }
        }
        json_decref(root);
        s->chains_ok = n_chains == ELEMENTSOF(chains) && n_ours == n_chains;
        return r;
}

/* ---- sysctls ---- */

static int sysctl_read(const char *key, char **ret) {
        _cleanup_free_ char *path = NULL;
        char *v = NULL;
        size_t n;
        int r;

        if (asprintf(&path, SYSCTL_ROOT "/%s", key) < 0)
                return -ENOMEM;
        r = wf_read_file(path, 4096, &v, &n);
        if (r < 0)
                return r;
        v[strcspn(v, "\n")] = '\0';
        *ret = v;
        return 0;
}

static int sysctl_write(const char *key, const char *value) {
        _cleanup_free_ char *path = NULL;
        FILE *f;
        int r = 0;

        if (asprintf(&path, SYSCTL_ROOT "/%s", key) < 0)
                return -ENOMEM;
        f = fopen(path, "we");
        if (!f)
                return -errno;
        if (fprintf(f, "%s\n", value) < 0)
                r = -EIO;
        if (fclose(f) != 0 && r == 0)
                r = -errno;
        return r;
}

static int saved_path(const struct nftgw *g, char **ret) {
        return asprintf(ret, "%s/" NFTGW_SAVED_FILE, g->state_dir) < 0 ? -ENOMEM : 0;
}

/* The saved file: one "key value" line per setting, in the order to restore them; loaded into
 * s->sysctls. */
static int saved_load(const struct nftgw *g, struct gw_state *s) {
        _cleanup_free_ char *path = NULL, *text = NULL;
        size_t n;
        int r;

        r = saved_path(g, &path);
        if (r < 0)
                return r;
        r = wf_read_file(path, 1 << 20, &text, &n);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        for (char *save = NULL, *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char *sp = strchr(line, ' ');
                if (!sp)
                        continue;
                *sp = '\0';
                r = gw_state_add_sysctl(s, line, sp + 1);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int saved_store(const struct nftgw *g, const struct gw_state *s) {
        _cleanup_free_ char *path = NULL, *text = NULL;
        size_t len = 0;
        FILE *f;
        int r;

        r = saved_path(g, &path);
        if (r < 0)
                return r;
        f = open_memstream(&text, &len);
        if (!f)
                return -ENOMEM;
        for (size_t i = 0; i < s->n_sysctls; i++)
                fprintf(f, "%s %s\n", s->sysctls[i].key, s->sysctls[i].value);
        if (fclose(f) != 0)
                return -ENOMEM;
        return wf_write_file_atomic(path, text, len, 0600 | WF_DIR_OWNER);
}

static int nftgw_observe(void *ctx, const struct gw_state *want, struct gw_state *ret, struct wf_err *e) {
        struct nftgw *g = ctx;
        struct gw_state s = {}, saved = {};
        int r;

        r = observe_table(g, want->n_rules > 0, &s, e);
        for (size_t i = 0; r >= 0 && i < want->n_sysctls; i++) {
                _cleanup_free_ char *v = NULL;
                /* An unreadable one (the interface is not there yet) is one to write. */
                (void)sysctl_read(want->sysctls[i].key, &v);
                r = gw_state_add_sysctl(&s, want->sysctls[i].key, v);
        }
        if (r >= 0)
                r = saved_load(g, &saved);
        s.saved = TAKE_PTR(saved.sysctls);
        s.n_saved = saved.n_sysctls;
        saved.n_sysctls = 0;
        gw_state_done(&saved);
        if (r < 0) {
                gw_state_done(&s);
                return e->msg[0] ? r : wf_err_set(e, r, "gateway: observe: %s", strerror(-r));
        }
        *ret = s;
        return 0;
}

/* A global switch (ip_forward, IPv6 all.forwarding) rewrites every interface's own value, so
 * those are saved with it: restoring the switch first and then each of them gives back exactly
 * what was found. */
static int save_family(struct gw_state *saved, const char *key) {
        const char *dir = strncmp(key, "net/ipv6/", 9) == 0 ? "net/ipv6/conf" : "net/ipv4/conf";
        _cleanup_free_ char *path = NULL;
        struct dirent *de;
        DIR *d;
        int r = 0;

        if (strcmp(key, "net/ipv4/ip_forward") != 0 && strcmp(key, "net/ipv6/conf/all/forwarding") != 0)
                return 0;
        if (asprintf(&path, SYSCTL_ROOT "/%s", dir) < 0)
                return -ENOMEM;
        d = opendir(path);
        if (!d)
                return -errno;
        while (r >= 0 && (de = readdir(d))) {
                _cleanup_free_ char *k = NULL, *v = NULL;

                if (de->d_name[0] == '.' || strcmp(de->d_name, "all") == 0)
                        continue;
                if (asprintf(&k, "%s/%s/forwarding", dir, de->d_name) < 0)
                        r = -ENOMEM;
                else if (sysctl_read(k, &v) >= 0)
                        r = gw_state_add_sysctl(saved, k, v); /* keeps an earlier value */
        }
        closedir(d);
        return r;
}

/* Before the agent first changes key, the value found goes to the saved file. */
static int save_found(const struct nftgw *g, const char *key) {
        struct gw_state saved = {};
        _cleanup_free_ char *v = NULL;
        size_t before;
        int r;

        r = saved_load(g, &saved);
        before = saved.n_sysctls;
        if (r >= 0 && sysctl_read(key, &v) >= 0)
                r = gw_state_add_sysctl(&saved, key, v);
        if (r >= 0)
                r = save_family(&saved, key);
        if (r >= 0 && saved.n_sysctls != before)
                r = saved_store(g, &saved);
        gw_state_done(&saved);
        return r;
}

static int apply_sysctls(struct nftgw *g, const struct plan *p, struct wf_err *e) {
        _cleanup_free_ char *path = NULL;
        bool restored = false;
        int r;

        for (size_t i = 0; i < p->n_ops; i++) {
                const struct plan_op *op = &p->ops[i];
                const char *key = op->gw_sysctl ? op->gw_sysctl->key : NULL;

                if (op->kind == PLAN_GW_SYSCTL_SET) {
                        r = save_found(g, key);
                        if (r < 0)
                                return wf_err_set(e, r, "gateway: saving the value of %s in %s: %s", key,
                                                  g->state_dir, strerror(-r));
                } else if (op->kind != PLAN_GW_SYSCTL_RESTORE)
                        continue;
                r = sysctl_write(key, op->gw_sysctl->value);
                /* An interface that went away since has nothing to restore. */
                if (r == -ENOENT && op->kind == PLAN_GW_SYSCTL_RESTORE)
                        r = 0;
                if (r < 0)
                        return wf_err_set(e, r, "gateway: sysctl %s = %s: %s", key, op->gw_sysctl->value, strerror(-r));
                restored |= op->kind == PLAN_GW_SYSCTL_RESTORE;
        }
        if (!restored)
                return 0;
        r = saved_path(g, &path);
        if (r >= 0 && unlink(path) < 0 && errno != ENOENT)
                r = -errno;
        return r < 0 ? wf_err_set(e, r, "gateway: %s: %s", path ? path : "", strerror(-r)) : 0;
}

/* ---- apply: every rule change in one nftables transaction ---- */

static json_t *table_obj(void) {
        return json_pack("{s:s, s:s}", "family", NFTGW_FAMILY, "name", NFTGW_TABLE);
}

static int append_cmd(json_t *cmds, const char *verb, const char *what, json_t *obj) {
        return obj && json_array_append_new(cmds, json_pack("{s:{s:o}}", verb, what, obj)) == 0 ? 0 : -ENOMEM;
}

static int build_rule_cmds(const struct plan *p, json_t *cmds) {
        bool adds = false;
        int r = 0;

        for (size_t i = 0; r >= 0 && i < p->n_ops; i++) {
                const struct plan_op *op = &p->ops[i];

                if (op->kind == PLAN_GW_TABLE_DEL)
                        r = append_cmd(cmds, "delete", "table", table_obj());
                else if (op->kind == PLAN_GW_RULE_DEL)
                        r = append_cmd(cmds, "delete", "rule",
                                       json_pack("{s:s, s:s, s:s, s:I}", "family", NFTGW_FAMILY, "table", NFTGW_TABLE,
                                                 "chain", op->gw_rule->chain, "handle", (json_int_t)op->gw_rule->handle));
                adds |= op->kind == PLAN_GW_RULE_ADD;
        }
        /* "add" of an existing table or chain is a no-op: both are (re)made before any rule. */
        if (r >= 0 && adds) {
                r = append_cmd(cmds, "add", "table", table_obj());
                for (size_t i = 0; r >= 0 && i < ELEMENTSOF(chains); i++)
                        r = append_cmd(cmds, "add", "chain",
                                       json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:s}", "family", NFTGW_FAMILY,
                                                 "table", NFTGW_TABLE, "name", chains[i].name, "type", chains[i].type,
                                                 "hook", chains[i].hook, "prio", chains[i].prio, "policy", "accept"));
        }
        for (size_t i = 0; r >= 0 && i < p->n_ops; i++) {
                const struct plan_op *op = &p->ops[i];
                json_error_t je;
                json_t *expr;

                if (op->kind != PLAN_GW_RULE_ADD)
                        continue;
                expr = json_loads(op->gw_rule->body, 0, &je);
                r = expr ? append_cmd(cmds, "add", "rule",
                                      json_pack("{s:s, s:s, s:s, s:s, s:o}", "family", NFTGW_FAMILY, "table",
                                                NFTGW_TABLE, "chain", op->gw_rule->chain, "comment",
                                                op->gw_rule->comment, "expr", expr)) : -EINVAL;
        }
        return r;
}

static int nftgw_apply(void *ctx, const struct plan *p, struct wf_err *e) {
        struct nftgw *g = ctx;
        _cleanup_free_ char *text = NULL;
        json_t *cmds = json_array();
        int r;

        if (!cmds)
                return -ENOMEM;
        r = build_rule_cmds(p, cmds);
        if (r >= 0 && json_array_size(cmds) > 0) {
                json_t *root = json_pack("{s:o}", "nftables", json_incref(cmds));
                text = root ? json_dumps(root, JSON_COMPACT) : NULL;
                json_decref(root);
                r = text ? nft_run(g, text, NULL, e) : -ENOMEM;
        }
        json_decref(cmds);
        if (r < 0)
                return r;
        return apply_sysctls(g, p, e);
}

static int nftgw_driver_want(void *ctx, const struct wf_doc *doc, struct gw_state *ret, struct wf_err *e) {
        int r = nftgw_want(doc, ret);

        (void)ctx;
        return r < 0 ? wf_err_set(e, r, "gateway: %s", strerror(-r)) : 0;
}

const struct gw_driver nftgw_driver = {
        .want = nftgw_driver_want,
        .observe = nftgw_observe,
        .apply = nftgw_apply,
};
