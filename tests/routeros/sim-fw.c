/* SPDX-License-Identifier: MIT */
/* The simulated RouterOS 7 firewall: value checks for /ip(v6)/firewall/{filter,nat} and the
 * path of one new forwarded connection through them. RouterOS runs a forwarded packet through
 * prerouting (chain dstnat of the nat menu), the routing decision, chain forward of the filter
 * menu and postrouting (chain srcnat); in each chain the rules are tried in the menu's order
 * and the first matching rule with a terminating action decides. Interface lists have no
 * members here (so only "all" and negations match); jump targets are not followed. */
#include "sim-fw.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "sim-db.h"
#include "util.h"

static const char *const nat_actions[] = {
        "accept", "add-dst-to-address-list", "add-src-to-address-list", "dst-nat", "endpoint-independent-nat",
        "jump", "log", "masquerade", "netmap", "passthrough", "redirect", "return", "same", "src-nat",
};

bool sim_fw_nat_action_known(const char *action) {
        for (size_t i = 0; i < ELEMENTSOF(nat_actions); i++)
                if (strcmp(action, nat_actions[i]) == 0)
                        return true;
        return false;
}

static bool full(const struct wf_prefix *p) {
        return p->len == (p->family == AF_INET ? 32 : 128);
}

/* A bare address of family (0: either) into p as a host prefix. */
static int parse_host(const char *s, int family, struct wf_prefix *p) {
        const char *why;

        if (strchr(s, '/') || wf_prefix_parse(s, false, p, &why) < 0 || (family && p->family != family))
                return -EINVAL;
        return 0;
}

int sim_fw_addr_normalise(const char *v, int family, bool neg, char **out) {
        const char *dash = strchr(v, '-'), *bang = neg && v[0] == '!' ? "!" : "";
        char buf[160], a[64];
        struct wf_prefix p, q;
        const char *why;

        v += *bang ? 1 : 0;
        if (dash) {
                _cleanup_free_ char *lo = strndup(v, (size_t)(dash - v));
                if (!lo || parse_host(lo, family, &p) < 0 || parse_host(dash + 1, p.family, &q) < 0 ||
                    memcmp(p.addr, q.addr, 16) > 0)
                        return -EINVAL;
                snprintf(buf, sizeof buf, "%s%s", bang, v);
        } else {
                if (wf_prefix_parse(v, false, &p, &why) < 0 || (family && p.family != family))
                        return -EINVAL;
                wf_prefix_mask(&p);
                wf_prefix_format(&p, a);
                if (full(&p))
                        *strchr(a, '/') = '\0';
                snprintf(buf, sizeof buf, "%s%s", bang, a);
        }
        *out = strdup(buf);
        return *out ? 0 : -ENOMEM;
}

/* ---- matching ---- */

struct packet {
        const char *in, *out, *proto;
        struct wf_prefix src, dst; /* host prefixes */
        long sport, dport;         /* -1: none */
        bool dstnatted;
};

/* value (normalised: [!]address, prefix or range) contains a. */
static bool addr_match(const char *value, const struct wf_prefix *a) {
        bool neg = value[0] == '!', in = false;
        const char *v = value + neg, *dash = strchr(v, '-');
        struct wf_prefix p, q;
        const char *why;

        if (dash) {
                _cleanup_free_ char *lo = strndup(v, (size_t)(dash - v));
                in = lo && parse_host(lo, a->family, &p) == 0 && parse_host(dash + 1, a->family, &q) == 0 &&
                     memcmp(p.addr, a->addr, 16) <= 0 && memcmp(a->addr, q.addr, 16) <= 0;
        } else if (wf_prefix_parse(v, false, &p, &why) == 0)
                in = p.family == a->family && wf_prefix_contains(&p, a);
        return in != neg;
}

static bool port_match(const char *list, long port) {
        const char *p = list;

        while (port >= 0 && *p) {
                char *end;
                long lo = strtol(p, &end, 10), hi = lo;
                if (*end == '-')
                        hi = strtol(end + 1, &end, 10);
                if (port >= lo && port <= hi)
                        return true;
                p = *end == ',' ? end + 1 : end;
                if (end == p && *p)
                        break;
        }
        return false;
}

static bool name_match(const char *value, const char *name) {
        bool neg = value[0] == '!';
        return (name && strcmp(value + neg, name) == 0) != neg;
}

/* Interface lists have no members in the simulator: only "all" (and negations) match. */
static bool list_match(const char *value) {
        bool neg = value[0] == '!';
        return (strcmp(value + neg, "all") == 0) != neg;
}

/* Every connection evaluated is new. */
static bool state_match(const char *value) {
        bool neg = value[0] == '!';
        _cleanup_free_ char *copy = strdup(value + neg);
        bool has_new = false;

        for (char *save = NULL, *t = copy ? strtok_r(copy, ",", &save) : NULL; t; t = strtok_r(NULL, ",", &save))
                has_new |= strcmp(t, "new") == 0;
        return has_new != neg;
}

static bool rule_matches(const struct sim_db *db, const char *menu, size_t i, const char *chain,
                         const struct packet *pk) {
#define A(k) sim_db_item_attr(db, menu, i, k)
        const char *v;

        if ((v = A("disabled")) && strcmp(v, "true") == 0)
                return false;
        if (!(v = A("chain")) || strcmp(v, chain) != 0)
                return false;
        if ((v = A("in-interface")) && !name_match(v, pk->in))
                return false;
        if ((v = A("out-interface")) && strcmp(chain, "dstnat") != 0 && !name_match(v, pk->out))
                return false;
        if (((v = A("in-interface-list")) && !list_match(v)) || ((v = A("out-interface-list")) && !list_match(v)))
                return false;
        if (((v = A("src-address")) && !addr_match(v, &pk->src)) || ((v = A("dst-address")) && !addr_match(v, &pk->dst)))
                return false;
        if ((v = A("protocol")) && !name_match(v, pk->proto))
                return false;
        if (((v = A("src-port")) && !port_match(v, pk->sport)) || ((v = A("dst-port")) && !port_match(v, pk->dport)))
                return false;
        if ((v = A("connection-state")) && !state_match(v))
                return false;
        if ((v = A("connection-nat-state")) && !name_match(v, pk->dstnatted ? "dstnat" : ""))
                return false;
        return true;
#undef A
}

/* address for address: the network of to, the host part of a */
static void netmap(struct wf_prefix *a, const char *to) {
        struct wf_prefix t;
        const char *why;

        if (wf_prefix_parse(to, false, &t, &why) < 0 || t.family != a->family)
                return;
        for (unsigned bit = 0; bit < t.len; bit++) {
                uint8_t m = (uint8_t)(0x80 >> (bit % 8));
                a->addr[bit / 8] = (uint8_t)((a->addr[bit / 8] & ~m) | (t.addr[bit / 8] & m));
        }
}

/* to-addresses: the first address of a range, or the address itself */
static void to_first(struct wf_prefix *a, const char *to) {
        _cleanup_free_ char *lo = strndup(to, strcspn(to, "-/"));
        struct wf_prefix t;

        if (lo && parse_host(lo, a->family, &t) == 0)
                memcpy(a->addr, t.addr, 16);
}

/* The address masquerade picks: the first address on the out-interface. */
static bool masquerade(const struct sim_db *db, const char *out, struct wf_prefix *src) {
        const char *menu = src->family == AF_INET ? "/ip/address" : "/ipv6/address";

        for (size_t i = 0; i < sim_db_n_items(db, menu); i++) {
                const char *ifc = sim_db_item_attr(db, menu, i, "interface");
                const char *a = sim_db_item_attr(db, menu, i, "address");
                const char *dis = sim_db_item_attr(db, menu, i, "disabled");
                struct wf_prefix p;
                const char *why;
                if (!ifc || strcmp(ifc, out) != 0 || (dis && strcmp(dis, "true") == 0) ||
                    wf_prefix_parse(a, false, &p, &why) < 0)
                        continue;
                memcpy(src->addr, p.addr, 16);
                return true;
        }
        return false;
}

/* One chain: the index of the deciding rule (or -1: end of chain) and its action. */
static ssize_t run_chain(const struct sim_db *db, const char *menu, const char *chain, const struct packet *pk,
                         const char **ret_action) {
        static const char *const go_on[] = { "passthrough", "log", "add-src-to-address-list",
                                             "add-dst-to-address-list", "jump", "fasttrack-connection" };

        for (size_t i = 0; i < sim_db_n_items(db, menu); i++) {
                const char *action = sim_db_item_attr(db, menu, i, "action");
                bool cont = false;

                if (!rule_matches(db, menu, i, chain, pk))
                        continue;
                for (size_t k = 0; k < ELEMENTSOF(go_on); k++)
                        cont |= action && strcmp(action, go_on[k]) == 0;
                if (cont)
                        continue;
                *ret_action = action ? action : "accept";
                return (ssize_t)i;
        }
        *ret_action = NULL;
        return -1;
}

static int parse_packet(const char *const *keys, const char *const *vals, size_t n, struct packet *pk, char err[256]) {
        const char *src = NULL, *dst = NULL;

        *pk = (struct packet){ .sport = -1, .dport = -1 };
        for (size_t i = 0; i < n; i++) {
                const char *k = keys[i], *v = vals[i];
                if (strcmp(k, "in-interface") == 0)
                        pk->in = v;
                else if (strcmp(k, "out-interface") == 0)
                        pk->out = v;
                else if (strcmp(k, "protocol") == 0)
                        pk->proto = v;
                else if (strcmp(k, "src-address") == 0)
                        src = v;
                else if (strcmp(k, "dst-address") == 0)
                        dst = v;
                else if (strcmp(k, "src-port") == 0 || strcmp(k, "dst-port") == 0)
                        *(k[0] == 's' ? &pk->sport : &pk->dport) = strtol(v, NULL, 10);
                else {
                        snprintf(err, 256, "unknown parameter %s", k);
                        return -EINVAL;
                }
        }
        if (!pk->in || !pk->out || !src || !dst || parse_host(src, 0, &pk->src) < 0 ||
            parse_host(dst, pk->src.family, &pk->dst) < 0) {
                snprintf(err, 256, "evaluate needs in-interface, out-interface, src-address and dst-address (addresses of one family)");
                return -EINVAL;
        }
        return 0;
}

static void put(struct sim_fw_kv *out, size_t *n, const char *k, const char *fmt, ...) _printf_(4, 5);
static void put(struct sim_fw_kv *out, size_t *n, const char *k, const char *fmt, ...) {
        va_list ap;

        if (*n >= SIM_FW_MAX_OUT)
                return;
        snprintf(out[*n].k, sizeof out[*n].k, "%s", k);
        va_start(ap, fmt);
        vsnprintf(out[*n].v, sizeof out[*n].v, fmt, ap);
        va_end(ap);
        (*n)++;
}

static const char *rule_id(const struct sim_db *db, const char *menu, ssize_t i) {
        return i < 0 ? "none" : sim_db_item_attr(db, menu, (size_t)i, ".id");
}

static void host_fmt(const struct wf_prefix *p, char out[64]) {
        wf_prefix_format(p, out);
        *strchr(out, '/') = '\0';
}

int sim_fw_evaluate(const struct sim_db *db, const char *const *keys, const char *const *vals, size_t n,
                    struct sim_fw_kv out[SIM_FW_MAX_OUT], size_t *n_out, char err[256]) {
        struct packet pk;
        const char *nat, *filter, *action;
        char a[64];
        ssize_t i;

        if (parse_packet(keys, vals, n, &pk, err) < 0)
                return -EINVAL;
        nat = pk.src.family == AF_INET ? "/ip/firewall/nat" : "/ipv6/firewall/nat";
        filter = pk.src.family == AF_INET ? "/ip/firewall/filter" : "/ipv6/firewall/filter";
        *n_out = 0;

        i = run_chain(db, nat, "dstnat", &pk, &action);
        put(out, n_out, "dstnat-rule", "%s", rule_id(db, nat, i));
        if (action && (strcmp(action, "dst-nat") == 0 || strcmp(action, "netmap") == 0)) {
                const char *to = sim_db_item_attr(db, nat, (size_t)i, "to-addresses");
                const char *tp = sim_db_item_attr(db, nat, (size_t)i, "to-ports");
                if (to)
                        strcmp(action, "netmap") == 0 ? netmap(&pk.dst, to) : to_first(&pk.dst, to);
                if (tp)
                        pk.dport = strtol(tp, NULL, 10);
                pk.dstnatted = true;
        }
        host_fmt(&pk.dst, a);
        put(out, n_out, "dst-address", "%s", a);
        put(out, n_out, "dst-port", "%ld", pk.dport);

        i = run_chain(db, filter, "forward", &pk, &action);
        put(out, n_out, "forward", "%s", action ? action : "accept");
        put(out, n_out, "forward-rule", "%s", rule_id(db, filter, i));
        if (action && strcmp(action, "accept") != 0)
                return 0; /* dropped: never reaches srcnat */

        i = run_chain(db, nat, "srcnat", &pk, &action);
        put(out, n_out, "srcnat-rule", "%s", rule_id(db, nat, i));
        if (action && strcmp(action, "masquerade") == 0 && !masquerade(db, pk.out, &pk.src)) {
                put(out, n_out, "src-address", "none (no address on %s to masquerade to)", pk.out);
                return 0;
        }
        if (action && strcmp(action, "netmap") == 0 && sim_db_item_attr(db, nat, (size_t)i, "to-addresses"))
                netmap(&pk.src, sim_db_item_attr(db, nat, (size_t)i, "to-addresses"));
        else if (action && strcmp(action, "src-nat") == 0 && sim_db_item_attr(db, nat, (size_t)i, "to-addresses"))
                to_first(&pk.src, sim_db_item_attr(db, nat, (size_t)i, "to-addresses"));
        host_fmt(&pk.src, a);
        put(out, n_out, "src-address", "%s", a);
        return 0;
}
