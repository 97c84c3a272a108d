/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "ctl-gateway.h"
#include "ctl-inventory.h"
#include "document.h"
#include "json-read.h"

bool ctl_node_name_valid(const char *name) {
        /* A node is a peer in the other nodes' documents. */
        return doc_name_valid(name, DOC_PEER_NAME_MAX);
}

static void node_done(struct ctl_node *n) {
        free(n->name);
        free(n->endpoint);
        for (size_t i = 0; i < n->n_endpoint_alt; i++)
                free(n->endpoint_alt[i]);
        free(n->endpoint_alt);
        free(n->exit_sources);
        free(n->subnets);
        free(n->backend);
        free(n->iface);
        ctl_gw_node_done(n);
}

void ctl_inventory_free(struct ctl_inventory *inv) {
        if (!inv)
                return;
        free(inv->name);
        free(inv->iface);
        free(inv->route_table);
        free(inv->exit_policy);
        free(inv->exit_primary);
        for (size_t i = 0; i < inv->n_nodes; i++)
                node_done(&inv->nodes[i]);
        free(inv->nodes);
        json_decref(inv->index);
        json_decref(inv->rollout.waves);
        free(inv);
}

static void inventory_freep(struct ctl_inventory **p) {
        ctl_inventory_free(*p);
}

const struct ctl_node *ctl_inventory_find(const struct ctl_inventory *inv, const char *name) {
        json_t *v;

        if (inv->index) {
                v = json_object_get(inv->index, name);
                return v ? &inv->nodes[json_integer_value(v)] : NULL;
        }
        for (size_t i = 0; i < inv->n_nodes; i++)
                if (strcmp(inv->nodes[i].name, name) == 0)
                        return &inv->nodes[i];
        return NULL;
}

bool ctl_inventory_agentless(const struct ctl_inventory *inv, const char *name) {
        const struct ctl_node *n = ctl_inventory_find(inv, name);

        return n && !n->agent;
}

/* Reads an optional unsigned integer within [min, max] into *ret (left alone when absent). */
static int get_u32(struct jr_ctx *c, const json_t *obj, const struct jr_path *p, const char *key,
                   uint64_t min, uint64_t max, const char *range_msg, uint32_t *ret) {
        uint64_t u;
        int r = jr_uint(c, obj, p, key, false, min, max, range_msg, &u);

        if (r > 0)
                *ret = (uint32_t)u;
        return r;
}

/* An optional non-empty string, copied; *ret stays NULL when absent. */
static int get_name(struct jr_ctx *c, const json_t *obj, const struct jr_path *p, const char *key, char **ret) {
        json_t *v = NULL;
        int r = jr_string(c, obj, p, key, false, &v);

        if (r <= 0)
                return r;
        if (json_string_length(v) == 0)
                return jr_fail(c, &JR_KEY(p, key), v, "is empty");
        *ret = strdup(json_string_value(v));
        return *ret ? 1 : -ENOMEM;
}

static int parse_tunnel_cidrs(struct jr_ctx *c, const json_t *wan, const struct jr_path *wp,
                              struct ctl_inventory *inv) {
        const struct jr_path p4 = JR_KEY(wp, "tunnel_cidr"), p6 = JR_KEY(wp, "tunnel_cidr6");
        const char *why;
        json_t *v = NULL;
        int r;

        r = jr_string(c, wan, wp, "tunnel_cidr", true, &v);
        if (r < 0)
                return r;
        if (wf_prefix_parse(json_string_value(v), true, &inv->tunnel_cidr, &why) < 0 ||
            (why = doc_prefix_special_overlap(&inv->tunnel_cidr)))
                return jr_fail(c, &p4, v, "%s", why);
        if ((inv->tunnel_cidr.family == AF_INET && inv->tunnel_cidr.len > 30) ||
            (inv->tunnel_cidr.family == AF_INET6 && inv->tunnel_cidr.len > 126))
                return jr_fail(c, &p4, v, "is too small for a fleet");

        r = jr_string(c, wan, wp, "tunnel_cidr6", false, &v);
        if (r <= 0)
                return r;
        if (wf_prefix_parse(json_string_value(v), true, &inv->tunnel_cidr6, &why) < 0 ||
            inv->tunnel_cidr6.family != AF_INET6 || inv->tunnel_cidr6.len > 126 ||
            doc_prefix_special_overlap(&inv->tunnel_cidr6))
                return jr_fail(c, &p6, v, "is not a unicast IPv6 range (at most /126)");
        if (inv->tunnel_cidr.family != AF_INET)
                return jr_fail(c, &p6, NULL, "only with an IPv4 tunnel_cidr");
        inv->has_tunnel_cidr6 = true;
        return 0;
}

/* What the agent accepts: "main" or a table number, not 253 (default) or 255 (local). */
static int parse_route_table(struct jr_ctx *c, const json_t *wan, const struct jr_path *wp,
                             struct ctl_inventory *inv) {
        const struct jr_path q = JR_KEY(wp, "route_table");
        json_t *v = json_object_get(wan, "route_table");
        uint64_t u;
        int r;

        if (json_is_integer(v)) {
                r = jr_uint(c, wan, wp, "route_table", true, 1, UINT32_MAX, "is not a route table (1-4294967295)", &u);
                if (r < 0)
                        return r;
                if (u == 253 || u == 255)
                        return jr_fail(c, &q, v, "is the kernel's %s table", u == 253 ? "default" : "local");
                if (asprintf(&inv->route_table, "%llu", (unsigned long long)u) < 0)
                        return -ENOMEM;
                inv->route_table_numeric = true;
        } else if (v && !json_is_null(v)) {
                if (!json_is_string(v) || strcmp(json_string_value(v), "main") != 0)
                        return jr_fail(c, &q, v, "is not \"main\" or a table number");
                if (!(inv->route_table = strdup("main")))
                        return -ENOMEM;
        }
        return 0;
}

static int parse_wan(struct jr_ctx *c, const json_t *root, struct ctl_inventory *inv) {
        static const char *const known[] = { "name", "tunnel_cidr", "tunnel_cidr6", "topology", "interface",
                "listen_port", "validity_days", "poll_interval", "keepalive", "mtu",
                "route_table", "route_metric", "exit_policy", "exit_primary", "services_cidr", "nat_pool", NULL };
        const struct jr_path wp = JR_KEY(NULL, "wan");
        json_t *wan = NULL, *v = NULL;
        uint32_t port = CTL_DEFAULT_PORT;
        int r;

        r = jr_object(c, root, NULL, "wan", true, &wan);
        if (r < 0)
                return r;
        jr_unknown_fields(c, wan, &wp, known);

        r = get_name(c, wan, &wp, "name", &inv->name);
        if (r < 0)
                return r;
        if (!inv->name && !(inv->name = strdup("wan")))
                return -ENOMEM;
        r = parse_tunnel_cidrs(c, wan, &wp, inv);
        if (r < 0)
                return r;

        inv->topology = CTL_TOPOLOGY_MESH;
        r = jr_string(c, wan, &wp, "topology", false, &v);
        if (r < 0)
                return r;
        if (r > 0 && strcmp(json_string_value(v), "hub-spoke") == 0)
                inv->topology = CTL_TOPOLOGY_HUB_SPOKE;
        else if (r > 0 && strcmp(json_string_value(v), "mesh") != 0)
                return jr_fail(c, &JR_KEY(&wp, "topology"), v, "is not \"mesh\" or \"hub-spoke\"");

        r = get_name(c, wan, &wp, "interface", &inv->iface);
        if (r < 0)
                return r;
        if (!inv->iface && !(inv->iface = strdup("wg0")))
                return -ENOMEM;
        if (!doc_ifname_valid(inv->iface))
                return jr_fail(c, &JR_KEY(&wp, "interface"), json_object_get(wan, "interface"),
                               "is not an interface name");

        inv->validity_days = CTL_DEFAULT_VALIDITY_DAYS;
        inv->poll_interval = CTL_DEFAULT_POLL_INTERVAL;
        inv->keepalive = CTL_DEFAULT_KEEPALIVE;
        if ((r = get_u32(c, wan, &wp, "listen_port", 1, 65535, "is not a port (1-65535)", &port)) < 0 ||
            (r = get_u32(c, wan, &wp, "validity_days", 1, 3650, "is out of range (1-3650 days)",
                         &inv->validity_days)) < 0 ||
            (r = get_u32(c, wan, &wp, "poll_interval", 1, 86400, "is out of range (1-86400 seconds)",
                         &inv->poll_interval)) < 0 ||
            (r = get_u32(c, wan, &wp, "keepalive", 1, 65535, "is out of range (1-65535 seconds)",
                         &inv->keepalive)) < 0 ||
            (r = get_u32(c, wan, &wp, "mtu", 1280, 65535, "is not an MTU (1280-65535)", &inv->mtu)) < 0 ||
            (r = get_u32(c, wan, &wp, "route_metric", 1, UINT32_MAX, "is not a route metric (1-4294967295)",
                         &inv->route_metric)) < 0)
                return r;
        inv->listen_port = (uint16_t)port;
        /* exit_policy and exit_primary: rendered into every document with exits (docs/inventory.md) */
        r = jr_string(c, wan, &wp, "exit_policy", false, &v);
        if (r > 0 && strcmp(json_string_value(v), "latency") != 0 && strcmp(json_string_value(v), "manual") != 0)
                return jr_fail(c, &JR_KEY(&wp, "exit_policy"), v, "is not \"latency\" or \"manual\"");
        if (r > 0 && !(inv->exit_policy = strdup(json_string_value(v))))
                return -ENOMEM;
        if (r >= 0)
                r = jr_strdup(c, wan, &wp, "exit_primary", false, &inv->exit_primary);
        if (r < 0)
                return r;
        r = ctl_gw_parse_wan(c, wan, &wp, inv);
        return r < 0 ? r : parse_route_table(c, wan, &wp, inv);
}

/* A bare address or name gets the node's listen port. */
static int endpoint_value(struct jr_ctx *c, const char *key, const char *s, const struct ctl_node *n, char **ret) {
        _cleanup_free_ char *host = NULL;
        struct in6_addr a6;
        const char *why;
        uint16_t port;
        int r;

        if (wf_endpoint_split(s, &host, &port, &why) == 0) {
                if (s[0] != '[' && !doc_host_valid(host))
                        return wf_err_set(c->e, -EINVAL, "node %s: %s \"%s\" has an invalid host", n->name, key, s);
                *ret = strdup(s);
                return *ret ? 0 : -ENOMEM;
        }
        if (inet_pton(AF_INET6, s, &a6) == 1)
                r = asprintf(ret, "[%s]:%u", s, n->listen_port);
        else if (doc_host_valid(s))
                r = asprintf(ret, "%s:%u", s, n->listen_port);
        else
                return wf_err_set(c->e, -EINVAL, "node %s: %s \"%s\" is not host, host:port or [v6]:port",
                                  n->name, key, s);
        return r < 0 ? -ENOMEM : 0;
}

static int parse_endpoint(struct jr_ctx *c, const json_t *o, const struct jr_path *np, struct ctl_node *n) {
        const struct jr_path ap = JR_KEY(np, "endpoint_alt");
        json_t *v = NULL;
        int r = jr_string(c, o, np, "endpoint", false, &v);

        if (r > 0)
                r = endpoint_value(c, "endpoint", json_string_value(v), n, &n->endpoint);
        if (r < 0)
                return r;
        /* endpoint_alt: the agents fail over to these when the endpoint stops answering */
        r = jr_array(c, o, np, "endpoint_alt", false, &v);
        if (r <= 0)
                return r;
        if (!n->endpoint)
                return wf_err_set(c->e, -EINVAL, "node %s: endpoint_alt without endpoint", n->name);
        n->endpoint_alt = calloc(json_array_size(v) + 1, sizeof(char *));
        if (!n->endpoint_alt)
                return -ENOMEM;
        for (size_t i = 0; i < json_array_size(v); i++) {
                json_t *s = NULL;

                r = jr_elem_string(c, v, &ap, i, &s);
                if (r >= 0)
                        r = endpoint_value(c, "endpoint_alt", json_string_value(s), n, &n->endpoint_alt[i]);
                if (r < 0)
                        return r;
                n->n_endpoint_alt = i + 1;
        }
        return 0;
}

/* exit_sources (docs/inventory.md); which nodes are exits is the "exit" object's (ctl-gateway.c). */
static int parse_exit(struct jr_ctx *c, const json_t *o, const struct jr_path *np, struct ctl_node *n) {
        const struct jr_path sp = JR_KEY(np, "exit_sources");
        json_t *v = NULL;
        int r = jr_array(c, o, np, "exit_sources", false, &v);

        if (r <= 0)
                return r;
        n->exit_sources = calloc(json_array_size(v) + 1, sizeof(*n->exit_sources));
        if (!n->exit_sources)
                return -ENOMEM;
        for (size_t i = 0; i < json_array_size(v); i++) {
                struct wf_prefix *x = &n->exit_sources[i];
                const char *why;
                json_t *s = NULL;

                r = jr_elem_string(c, v, &sp, i, &s);
                if (r < 0)
                        return r;
                if (wf_prefix_parse(json_string_value(s), true, x, &why) < 0 || (why = doc_prefix_special(x)) ||
                    (x->len == 0 && (why = "is every source (leave exit_sources out instead)")))
                        return wf_err_set(c->e, -EINVAL, "node %s: exit_sources \"%s\" %s", n->name,
                                          json_string_value(s), why);
                for (size_t j = 0; j < i; j++)
                        if (wf_prefix_equal(&n->exit_sources[j], x))
                                return wf_err_set(c->e, -EINVAL, "node %s: exit_sources \"%s\" is listed twice",
                                                  n->name, json_string_value(s));
                n->n_exit_sources = i + 1;
        }
        return 0;
}

/* tunnel_ip / tunnel_ip6: a host address inside range. */
static int parse_tunnel_ip(struct jr_ctx *c, const json_t *o, const struct jr_path *np, const char *key,
                           bool v6, const char *range_name, const struct wf_prefix *range,
                           const struct ctl_node *n, bool *ret_has, struct wf_prefix *ret) {
        const char *s, *why;
        json_t *v = NULL;
        struct wf_prefix p;
        int r = jr_string(c, o, np, key, false, &v);

        if (r <= 0)
                return r;
        s = json_string_value(v);
        if (!range)
                return wf_err_set(c->e, -EINVAL, "node %s: %s without wan.%s", n->name, key, range_name);
        /* tunnel_cidr may be either family; tunnel_cidr6 is IPv6 */
        if (strchr(s, '/') || wf_prefix_parse(s, false, &p, &why) < 0 || (v6 && p.family != AF_INET6))
                return wf_err_set(c->e, -EINVAL, "node %s: %s \"%s\" is not an %saddress", n->name, key, s,
                                  v6 ? "IPv6 " : "");
        if (!wf_prefix_contains(range, &p))
                return wf_err_set(c->e, -EINVAL, "node %s: %s %s is outside %s", n->name, key, s, range_name);
        *ret = p;
        *ret_has = true;
        return 0;
}

static int parse_subnets(struct jr_ctx *c, const json_t *o, const struct jr_path *np, struct ctl_node *n) {
        static const char *const known[] = { "cidr", "routed", "auto_nat", "nat", NULL };
        const struct jr_path sp = JR_KEY(np, "subnets");
        json_t *v = NULL;
        int r = jr_array(c, o, np, "subnets", false, &v);

        if (r <= 0)
                return r;
        n->subnets = calloc(json_array_size(v) + 1, sizeof(*n->subnets));
        if (!n->subnets)
                return -ENOMEM;
        for (size_t i = 0; i < json_array_size(v); i++) {
                const struct jr_path ep = JR_IDX(&sp, i);
                json_t *sn = json_array_get(v, i), *cidr = sn;
                struct ctl_subnet *sub = &n->subnets[n->n_subnets];
                const char *why;

                /* a bare string means a routed subnet */
                sub->routed = true;
                if (!json_is_string(sn)) {
                        r = jr_elem_object(c, v, &sp, i, &sn);
                        if (r < 0)
                                return r;
                        jr_unknown_fields(c, sn, &ep, known);
                        r = jr_string(c, sn, &ep, "cidr", true, &cidr);
                        if (r >= 0)
                                r = jr_bool(c, sn, &ep, "routed", false, &sub->routed);
                        if (r < 0)
                                return r;
                }
                if (wf_prefix_parse(json_string_value(cidr), true, &sub->prefix, &why) < 0)
                        return wf_err_set(c->e, -EINVAL, "node %s: subnet \"%s\" %s", n->name,
                                          json_string_value(cidr), why);
                r = ctl_gw_parse_subnet(c, sn == cidr ? NULL : sn, &ep, n, sub);
                if (r < 0)
                        return r;
                n->n_subnets++;
        }
        return 0;
}

/* One of the words in allowed (NULL-terminated), or absent. */
static int get_word(struct jr_ctx *c, const json_t *o, const struct jr_path *np, const char *key,
                    const char *const *allowed, const char *what, const struct ctl_node *n, json_t **ret) {
        json_t *v = NULL;
        int r = jr_string(c, o, np, key, false, &v);

        if (r <= 0)
                return r;
        for (const char *const *w = allowed; *w; w++)
                if (strcmp(*w, json_string_value(v)) == 0) {
                        *ret = v;
                        return 1;
                }
        return wf_err_set(c->e, -EINVAL, "node %s: %s must be %s", n->name, key, what);
}

static int parse_node(struct jr_ctx *c, const json_t *nodes, const struct jr_path *lp, size_t idx,
                      const struct ctl_inventory *inv, struct ctl_node *n) {
        static const char *const known[] = { "name", "role", "endpoint", "public_key", "tunnel_ip", "tunnel_ip6",
                "subnets", "backend", "interface", "listen_port", "agent", "services", "exit", "endpoint_alt",
                "exit_sources", NULL };
        const struct jr_path np = JR_IDX(lp, idx);
        uint32_t port = inv->listen_port;
        json_t *o = NULL, *v = NULL;
        int r;

        r = jr_elem_object(c, nodes, lp, idx, &o);
        if (r >= 0)
                r = jr_string(c, o, &np, "name", true, &v);
        if (r < 0)
                return r;
        if (!ctl_node_name_valid(json_string_value(v)))
                return jr_fail(c, &JR_KEY(&np, "name"), v, "is not a node name (1-63 of A-Z a-z 0-9 . _ -, "
                               "starting with a letter or digit)");
        if (!(n->name = strdup(json_string_value(v))))
                return -ENOMEM;
        jr_unknown_fields(c, o, &np, known);

        r = get_word(c, o, &np, "role", (const char *const[]){ "hub", "spoke", NULL }, "\"hub\" or \"spoke\"", n, &v);
        if (r < 0)
                return r;
        n->hub = r > 0 && strcmp(json_string_value(v), "hub") == 0;
        r = get_u32(c, o, &np, "listen_port", 1, 65535, "is not a port (1-65535)", &port);
        if (r < 0)
                return r;
        n->listen_port = (uint16_t)port;
        r = parse_endpoint(c, o, &np, n);
        if (r >= 0)
                r = parse_exit(c, o, &np, n);
        if (r < 0)
                return r;

        r = jr_string(c, o, &np, "public_key", false, &v);
        if (r < 0)
                return r;
        if (r > 0 && wf_b64_decode_exact(json_string_value(v), n->public_key, 32) < 0)
                return wf_err_set(c->e, -EINVAL, "node %s: public_key is not a base64 WireGuard key", n->name);
        n->has_public_key = r > 0;

        if ((r = parse_tunnel_ip(c, o, &np, "tunnel_ip", false, "tunnel_cidr", &inv->tunnel_cidr, n,
                                 &n->has_tunnel_ip, &n->tunnel_ip)) < 0 ||
            (r = parse_tunnel_ip(c, o, &np, "tunnel_ip6", true, "tunnel_cidr6",
                                 inv->has_tunnel_cidr6 ? &inv->tunnel_cidr6 : NULL, n,
                                 &n->has_tunnel_ip6, &n->tunnel_ip6)) < 0 ||
            (r = parse_subnets(c, o, &np, n)) < 0)
                return r;

        n->agent = true;
        if ((r = jr_bool(c, o, &np, "agent", false, &n->agent)) < 0)
                return r;
        r = get_word(c, o, &np, "backend", (const char *const[]){ "linux", "uapi", "routeros", NULL },
                     "linux, uapi or routeros", n, &v);
        if (r < 0)
                return r;
        if (r > 0 && !(n->backend = strdup(json_string_value(v))))
                return -ENOMEM;

        r = get_name(c, o, &np, "interface", &n->iface);
        if (r < 0)
                return r;
        if (!n->iface && !(n->iface = strdup(inv->iface)))
                return -ENOMEM;
        if (!doc_ifname_valid(n->iface))
                return wf_err_set(c->e, -EINVAL, "node %s: interface \"%s\" is not an interface name", n->name, n->iface);
        return ctl_gw_parse_node(c, o, &np, inv, n);
}

/* Cross-node rules: unique names, keys and tunnel IPs; subnets clear of the tunnel range;
 * routed subnets disjoint (they become allowed IPs, which must not overlap between peers). */
static int check_fleet(struct ctl_inventory *inv, struct wf_err *e, wf_warn_fn warn, void *userdata) {
        char a[64], b[64], t[64];
        const char *why;
        size_t hubs = 0;

        wf_prefix_format(&inv->tunnel_cidr, t);
        if (inv->exit_primary) {
                bool found = false;
                for (size_t i = 0; i < inv->n_nodes; i++)
                        found |= strcmp(inv->nodes[i].name, inv->exit_primary) == 0 && inv->nodes[i].exit_out;
                if (!found)
                        return wf_err_set(e, -EINVAL, "wan.exit_primary: \"%s\" is not an exit node (one with \"exit\")",
                                          inv->exit_primary);
        }
        for (size_t i = 0; i < inv->n_nodes; i++) {
                struct ctl_node *n = &inv->nodes[i];

                hubs += n->hub;
                for (size_t j = 0; j < i; j++) {
                        struct ctl_node *m = &inv->nodes[j];
                        if (strcasecmp(n->name, m->name) == 0)
                                return wf_err_set(e, -EINVAL, "node %s: duplicate node name", n->name);
                        if (n->has_public_key && m->has_public_key &&
                            memcmp(n->public_key, m->public_key, 32) == 0)
                                return wf_err_set(e, -EINVAL, "node %s: public_key is also node %s's", n->name, m->name);
                        if (n->has_tunnel_ip6 && m->has_tunnel_ip6 && wf_prefix_equal(&n->tunnel_ip6, &m->tunnel_ip6)) {
                                wf_prefix_format(&n->tunnel_ip6, a);
                                return wf_err_set(e, -EINVAL, "node %s: tunnel_ip6 %s is also node %s's", n->name, a, m->name);
                        }
                        if (n->has_tunnel_ip && m->has_tunnel_ip && wf_prefix_equal(&n->tunnel_ip, &m->tunnel_ip)) {
                                wf_prefix_format(&n->tunnel_ip, a);
                                return wf_err_set(e, -EINVAL, "node %s: tunnel_ip %s is also node %s's", n->name, a, m->name);
                        }
                }
                for (size_t k = 0; k < n->n_subnets; k++) {
                        struct ctl_subnet *s = &n->subnets[k];
                        wf_prefix_format(&s->prefix, a);
                        if (wf_prefix_overlap(&s->prefix, &inv->tunnel_cidr))
                                return wf_err_set(e, -EINVAL, "node %s: subnet %s overlaps tunnel_cidr %s",
                                                  n->name, a, t);
                        if (inv->has_tunnel_cidr6 && wf_prefix_overlap(&s->prefix, &inv->tunnel_cidr6)) {
                                wf_prefix_format(&inv->tunnel_cidr6, b);
                                return wf_err_set(e, -EINVAL, "node %s: subnet %s overlaps tunnel_cidr6 %s",
                                                  n->name, a, b);
                        }
                        if (s->prefix.len == 0 && s->routed)
                                return wf_err_set(e, -EINVAL, "node %s: subnet %s would route everything; use exit selection, not a routed subnet",
                                                  n->name, a);
                        if (!s->routed)
                                continue;
                        if ((why = doc_prefix_special(&s->prefix)))
                                return wf_err_set(e, -EINVAL, "node %s: routed subnet %s %s", n->name, a, why);
                        for (size_t j = 0; j <= i; j++) {
                                struct ctl_node *m = &inv->nodes[j];
                                for (size_t l = 0; l < (j == i ? k : m->n_subnets); l++) {
                                        if (!m->subnets[l].routed || !wf_prefix_overlap(&s->prefix, &m->subnets[l].prefix) ||
                                            (j != i && ctl_gw_overlap_ok(s, &m->subnets[l])))
                                                continue;
                                        wf_prefix_format(&m->subnets[l].prefix, b);
                                        return wf_err_set(e, -EINVAL, "node %s: routed subnet %s overlaps routed subnet %s of node %s",
                                                          n->name, a, b, m->name);
                                }
                        }
                }
        }
        /* An endpoint inside another node's routed subnet: peers would route the tunnel's own
         * UDP packets into the tunnel. */
        for (size_t i = 0; i < inv->n_nodes; i++) {
                struct ctl_node *m = &inv->nodes[i];
                _cleanup_free_ char *host = NULL;
                struct wf_prefix ep;
                uint16_t port;

                if (!m->endpoint || wf_endpoint_split(m->endpoint, &host, &port, &why) < 0 ||
                    wf_prefix_parse(host, false, &ep, &why) < 0)
                        continue; /* a DNS name: not known here */
                for (size_t j = 0; j < inv->n_nodes; j++)
                        for (size_t k = 0; j != i && k < inv->nodes[j].n_subnets; k++) {
                                const struct ctl_subnet *sn = &inv->nodes[j].subnets[k];
                                if (!sn->routed || !wf_prefix_contains(&sn->prefix, &ep))
                                        continue;
                                wf_prefix_format(&sn->prefix, a);
                                return wf_err_set(e, -EINVAL, "node %s: routed subnet %s contains the endpoint %s of node %s "
                                                  "(its tunnel packets would be routed into the tunnel)",
                                                  inv->nodes[j].name, a, m->endpoint, m->name);
                        }
        }
        if (inv->topology == CTL_TOPOLOGY_HUB_SPOKE && hubs == 0) {
                wf_warnf(warn, userdata, "wan: topology hub-spoke but no node has role \"hub\": rendering a mesh");
                inv->topology = CTL_TOPOLOGY_MESH;
        }
        if (inv->topology == CTL_TOPOLOGY_MESH && hubs > 0)
                wf_warnf(warn, userdata, "wan: topology mesh: role \"hub\" has no effect");
        size_t cgnat = 0;
        for (size_t i = 0; i < inv->n_nodes; i++)
                cgnat += !inv->nodes[i].endpoint;
        if (inv->topology == CTL_TOPOLOGY_MESH && cgnat > 1)
                wf_warnf(warn, userdata, "wan: %zu nodes without endpoint in a mesh cannot reach each other "
                         "(neither can dial the other); a hub-spoke wan with a reachable hub can", cgnat);
        for (size_t i = 0; i < inv->n_nodes; i++) {
                struct ctl_node *n = &inv->nodes[i];
                if (n->hub && !n->endpoint)
                        wf_warnf(warn, userdata, "node %s: a hub without endpoint can only be reached by nodes it contacts first", n->name);
        }
        return 0;
}

/* rollout.waves: [["hub"], ["site1", "site*"], ["*"]]. */
static int parse_waves(struct jr_ctx *c, const json_t *ro, const struct jr_path *p, struct ctl_rollout_cfg *cfg) {
        const struct jr_path wp = JR_KEY(p, "waves");
        json_t *waves = NULL, *wave, *name = NULL;
        int r;

        if ((r = jr_array(c, ro, p, "waves", true, &waves)) < 0)
                return r;
        if (json_array_size(waves) == 0)
                return jr_fail(c, &wp, NULL, "must name at least one wave");
        for (size_t i = 0; i < json_array_size(waves); i++) {
                const struct jr_path ip = JR_IDX(&wp, i);
                wave = json_array_get(waves, i);
                if (!json_is_array(wave) || json_array_size(wave) == 0)
                        return jr_fail(c, &ip, wave, "is not a non-empty array of node names");
                for (size_t j = 0; j < json_array_size(wave); j++) {
                        const char *n;
                        if ((r = jr_elem_string(c, wave, &ip, j, &name)) < 0)
                                return r;
                        n = json_string_value(name);
                        if (!*n || strlen(n) > 63 ||
                            strspn(n, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-*?[]") != strlen(n))
                                return jr_fail(c, &JR_IDX(&ip, j), name, "is not a node name or a pattern (* ? [])");
                }
        }
        cfg->waves = json_incref(waves);
        return 0;
}

static int parse_rollout(struct jr_ctx *c, const json_t *root, struct ctl_rollout_cfg *cfg) {
        static const char *const known[] = { "waves", "settle", "deadline", NULL };
        const struct jr_path p = JR_KEY(NULL, "rollout");
        uint64_t settle = CTL_ROLLOUT_SETTLE, deadline = CTL_ROLLOUT_DEADLINE;
        json_t *ro = NULL;
        int r;

        if ((r = jr_object(c, root, NULL, "rollout", false, &ro)) <= 0)
                return r;
        jr_unknown_fields(c, ro, &p, known);
        if ((r = parse_waves(c, ro, &p, cfg)) < 0 ||
            (r = jr_uint(c, ro, &p, "settle", false, 0, 86400, "is not a number of seconds (0-86400)", &settle)) < 0 ||
            (r = jr_uint(c, ro, &p, "deadline", false, 1, 7 * 86400, "is not a number of seconds (1-604800)", &deadline)) < 0)
                return r;
        if (deadline <= settle)
                return jr_fail(c, &JR_KEY(&p, "deadline"), json_object_get(ro, "deadline"),
                               "must be longer than settle (%llu)", (unsigned long long)settle);
        cfg->settle = (uint32_t)settle;
        cfg->deadline = (uint32_t)deadline;
        cfg->enabled = true;
        return 0;
}

int ctl_inventory_parse(const char *json, size_t len, struct ctl_inventory **ret, struct wf_err *e,
                        wf_warn_fn warn, void *userdata) {
        static const char *const known[] = { "wan", "nodes", "rollout", NULL };
        struct jr_ctx c = { .e = e, .warn = warn, .userdata = userdata, .root = "inventory",
                            .unknown = JR_UNKNOWN_QUOTED };
        const struct jr_path lp = JR_KEY(NULL, "nodes");
        _cleanup_(inventory_freep) struct ctl_inventory *inv = NULL;
        json_error_t jerr;
        json_t *root = NULL, *nodes = NULL;
        int r;

        if (jr_load(json, len, &root, &jerr) < 0)
                return wf_err_set(e, -EINVAL, "inventory: line %d: %s", jerr.line, jerr.text);
        inv = calloc(1, sizeof(*inv));
        if (!inv) {
                json_decref(root);
                return -ENOMEM;
        }
        if (!json_is_object(root)) {
                r = jr_fail(&c, NULL, root, "is not a JSON object");
                goto out;
        }
        jr_unknown_fields(&c, root, NULL, known);
        r = parse_wan(&c, root, inv);
        if (r >= 0)
                r = jr_array(&c, root, NULL, "nodes", true, &nodes);
        if (r < 0)
                goto out;
        inv->nodes = calloc(json_array_size(nodes) + 1, sizeof(*inv->nodes));
        if (!inv->nodes) {
                r = -ENOMEM;
                goto out;
        }
        for (size_t i = 0; i < json_array_size(nodes); i++) {
                inv->n_nodes++;
                r = parse_node(&c, nodes, &lp, i, inv, &inv->nodes[i]);
                if (r < 0)
                        goto out;
        }
        /* every report and document request looks its node up: O(1), not 10 000 compares */
        inv->index = json_object();
        for (size_t i = 0; inv->index && i < inv->n_nodes; i++)
                if (!json_object_get(inv->index, inv->nodes[i].name) &&
                    json_object_set_new(inv->index, inv->nodes[i].name, json_integer((json_int_t)i)) < 0)
                        json_decref(TAKE_PTR(inv->index));
        r = check_fleet(inv, e, warn, userdata);
        if (r >= 0)
                r = ctl_gw_check(inv, e);
        if (r >= 0)
                r = parse_rollout(&c, root, &inv->rollout);
        if (r < 0)
                goto out;
        *ret = TAKE_PTR(inv);
        r = 0;
out:
        json_decref(root);
        return r;
}

int ctl_inventory_load(const char *path, struct ctl_inventory **ret, struct wf_err *e,
                       wf_warn_fn warn, void *userdata) {
        _cleanup_free_ char *text = NULL;
        size_t len;
        int r;

        r = wf_read_file(path, 16u * 1024 * 1024, &text, &len);
        if (r < 0)
                return wf_err_set(e, r, "%s: %s", path, strerror(-r));
        return ctl_inventory_parse(text, len, ret, e, warn, userdata);
}
