/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "ctl-inventory.h"
#include "document.h"

static void warn_unknown(json_t *obj, const char *const *known, const char *where, wf_warn_fn warn,
                         void *userdata) {
        const char *k;
        json_t *v;

        json_object_foreach(obj, k, v) {
                bool found = false;
                for (size_t i = 0; known[i]; i++)
                        if (strcmp(known[i], k) == 0)
                                found = true;
                if (!found)
                        wf_warnf(warn, userdata, "%s: unknown field \"%s\" ignored", where, k);
        }
}

bool ctl_node_name_valid(const char *name) {
        /* A node is a peer in the other nodes' documents. */
        return doc_name_valid(name, DOC_PEER_NAME_MAX);
}

static void node_done(struct ctl_node *n) {
        free(n->name);
        free(n->endpoint);
        free(n->subnets);
        free(n->backend);
        free(n->iface);
}

void ctl_inventory_free(struct ctl_inventory *inv) {
        if (!inv)
                return;
        free(inv->name);
        free(inv->iface);
        free(inv->route_table);
        for (size_t i = 0; i < inv->n_nodes; i++)
                node_done(&inv->nodes[i]);
        free(inv->nodes);
        free(inv);
}

static void inventory_freep(struct ctl_inventory **p) {
        ctl_inventory_free(*p);
}

const struct ctl_node *ctl_inventory_find(const struct ctl_inventory *inv, const char *name) {
        for (size_t i = 0; i < inv->n_nodes; i++)
                if (strcmp(inv->nodes[i].name, name) == 0)
                        return &inv->nodes[i];
        return NULL;
}

/* Reads an optional unsigned integer field within [min, max]. */
static int get_uint(json_t *obj, const char *key, const char *where, uint64_t min, uint64_t max,
                    uint64_t *ret, struct wf_err *e) {
        json_t *v = json_object_get(obj, key);

        if (!v)
                return 0;
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            (uint64_t)json_integer_value(v) < min || (uint64_t)json_integer_value(v) > max)
                return wf_err_set(e, -EINVAL, "%s.%s: must be an integer in %llu-%llu", where, key,
                                  (unsigned long long)min, (unsigned long long)max);
        *ret = (uint64_t)json_integer_value(v);
        return 1;
}

static int get_string(json_t *obj, const char *key, const char *where, char **ret, struct wf_err *e) {
        json_t *v = json_object_get(obj, key);

        if (!v || json_is_null(v))
                return 0;
        if (!json_is_string(v) || json_string_length(v) == 0)
                return wf_err_set(e, -EINVAL, "%s.%s: must be a non-empty string", where, key);
        *ret = strdup(json_string_value(v));
        if (!*ret)
                return -ENOMEM;
        return 1;
}

static int parse_wan(json_t *wan, struct ctl_inventory *inv, struct wf_err *e, wf_warn_fn warn,
                     void *userdata) {
        static const char *const known[] = { "name", "tunnel_cidr", "tunnel_cidr6", "topology", "interface",
                "listen_port", "validity_days", "poll_interval", "keepalive", "mtu",
                "route_table", "route_metric", NULL };
        const char *s, *why;
        uint64_t u;
        json_t *v;
        int r;

        if (!json_is_object(wan))
                return wf_err_set(e, -EINVAL, "wan: must be an object");
        warn_unknown(wan, known, "wan", warn, userdata);

        r = get_string(wan, "name", "wan", &inv->name, e);
        if (r < 0)
                return r;
        if (!inv->name && !(inv->name = strdup("wan")))
                return -ENOMEM;

        v = json_object_get(wan, "tunnel_cidr");
        if (!json_is_string(v))
                return wf_err_set(e, -EINVAL, "wan.tunnel_cidr: missing (a CIDR such as 10.99.0.0/24)");
        s = json_string_value(v);
        if (wf_prefix_parse(s, true, &inv->tunnel_cidr, &why) < 0)
                return wf_err_set(e, -EINVAL, "wan.tunnel_cidr: \"%s\" %s", s, why);
        if ((why = doc_prefix_special(&inv->tunnel_cidr)))
                return wf_err_set(e, -EINVAL, "wan.tunnel_cidr: \"%s\" %s", s, why);
        if ((inv->tunnel_cidr.family == AF_INET && inv->tunnel_cidr.len > 30) ||
            (inv->tunnel_cidr.family == AF_INET6 && inv->tunnel_cidr.len > 126))
                return wf_err_set(e, -EINVAL, "wan.tunnel_cidr: \"%s\" is too small for a fleet", s);

        v = json_object_get(wan, "tunnel_cidr6");
        if (v && !json_is_null(v)) {
                s = json_is_string(v) ? json_string_value(v) : "?";
                if (wf_prefix_parse(s, true, &inv->tunnel_cidr6, &why) < 0 || inv->tunnel_cidr6.family != AF_INET6 ||
                    inv->tunnel_cidr6.len > 126 || doc_prefix_special(&inv->tunnel_cidr6))
                        return wf_err_set(e, -EINVAL, "wan.tunnel_cidr6: \"%s\" is not a unicast IPv6 range (at most /126)", s);
                if (inv->tunnel_cidr.family != AF_INET)
                        return wf_err_set(e, -EINVAL, "wan.tunnel_cidr6: only with an IPv4 tunnel_cidr");
                inv->has_tunnel_cidr6 = true;
        }

        v = json_object_get(wan, "topology");
        if (!v || (json_is_string(v) && strcmp(json_string_value(v), "mesh") == 0))
                inv->topology = CTL_TOPOLOGY_MESH;
        else if (json_is_string(v) && strcmp(json_string_value(v), "hub-spoke") == 0)
                inv->topology = CTL_TOPOLOGY_HUB_SPOKE;
        else
                return wf_err_set(e, -EINVAL, "wan.topology: must be \"mesh\" or \"hub-spoke\"");

        r = get_string(wan, "interface", "wan", &inv->iface, e);
        if (r < 0)
                return r;
        if (!inv->iface && !(inv->iface = strdup("wg0")))
                return -ENOMEM;
        if (!doc_ifname_valid(inv->iface))
                return wf_err_set(e, -EINVAL, "wan.interface: \"%s\" is not an interface name", inv->iface);

        inv->listen_port = CTL_DEFAULT_PORT;
        if ((r = get_uint(wan, "listen_port", "wan", 1, 65535, &u, e)) < 0)
                return r;
        if (r)
                inv->listen_port = (uint16_t)u;
        inv->validity_days = CTL_DEFAULT_VALIDITY_DAYS;
        if ((r = get_uint(wan, "validity_days", "wan", 1, 3650, &u, e)) < 0)
                return r;
        if (r)
                inv->validity_days = (uint32_t)u;
        inv->poll_interval = CTL_DEFAULT_POLL_INTERVAL;
        if ((r = get_uint(wan, "poll_interval", "wan", 1, 86400, &u, e)) < 0)
                return r;
        if (r)
                inv->poll_interval = (uint32_t)u;
        inv->keepalive = CTL_DEFAULT_KEEPALIVE;
        if ((r = get_uint(wan, "keepalive", "wan", 1, 65535, &u, e)) < 0)
                return r;
        if (r)
                inv->keepalive = (uint32_t)u;
        if ((r = get_uint(wan, "mtu", "wan", 1280, 65535, &u, e)) < 0)
                return r;
        if (r)
                inv->mtu = (uint32_t)u;
        if ((r = get_uint(wan, "route_metric", "wan", 1, UINT32_MAX, &u, e)) < 0)
                return r;
        if (r)
                inv->route_metric = (uint32_t)u;

        /* what the agent accepts: "main" or a table number, not 253 (default) or 255 (local) */
        v = json_object_get(wan, "route_table");
        if (json_is_integer(v)) {
                if ((r = get_uint(wan, "route_table", "wan", 1, UINT32_MAX, &u, e)) < 0)
                        return r;
                if (u == 253 || u == 255)
                        return wf_err_set(e, -EINVAL, "wan.route_table: %llu is the kernel's %s table",
                                          (unsigned long long)u, u == 253 ? "default" : "local");
                if (asprintf(&inv->route_table, "%llu", (unsigned long long)u) < 0)
                        return -ENOMEM;
                inv->route_table_numeric = true;
        } else if (v && !json_is_null(v)) {
                if (!json_is_string(v) || strcmp(json_string_value(v), "main") != 0)
                        return wf_err_set(e, -EINVAL, "wan.route_table: must be \"main\" or a table number");
                if (!(inv->route_table = strdup("main")))
                        return -ENOMEM;
        }
        return 0;
}

static int parse_node(json_t *o, size_t idx, const struct ctl_inventory *inv, struct ctl_node *n,
                      struct wf_err *e, wf_warn_fn warn, void *userdata) {
        static const char *const known[] = { "name", "role", "endpoint", "public_key", "tunnel_ip", "tunnel_ip6",
                "subnets", "backend", "interface", "listen_port", "agent", NULL };
        char where[96];
        const char *s, *why;
        uint64_t u;
        json_t *v;
        int r;

        snprintf(where, sizeof(where), "nodes[%zu]", idx);
        if (!json_is_object(o))
                return wf_err_set(e, -EINVAL, "%s: must be an object", where);
        v = json_object_get(o, "name");
        if (!json_is_string(v) || !ctl_node_name_valid(json_string_value(v)))
                return wf_err_set(e, -EINVAL, "%s.name: missing or invalid (letters, digits, '.', '_', '-'; at most 63)",
                                  where);
        if (!(n->name = strdup(json_string_value(v))))
                return -ENOMEM;
        snprintf(where, sizeof(where), "node %s", n->name);
        warn_unknown(o, known, where, warn, userdata);

        v = json_object_get(o, "role");
        if (v) {
                if (!json_is_string(v) || (strcmp(json_string_value(v), "hub") != 0 &&
                                           strcmp(json_string_value(v), "spoke") != 0))
                        return wf_err_set(e, -EINVAL, "%s: role must be \"hub\" or \"spoke\"", where);
                n->hub = strcmp(json_string_value(v), "hub") == 0;
        }

        n->listen_port = inv->listen_port;
        if ((r = get_uint(o, "listen_port", where, 1, 65535, &u, e)) < 0)
                return r;
        if (r)
                n->listen_port = (uint16_t)u;

        v = json_object_get(o, "endpoint");
        if (v && !json_is_null(v)) {
                _cleanup_free_ char *host = NULL;
                uint16_t port;
                struct in6_addr a6;

                if (!json_is_string(v))
                        return wf_err_set(e, -EINVAL, "%s: endpoint must be a string", where);
                s = json_string_value(v);
                if (wf_endpoint_split(s, &host, &port, &why) == 0) {
                        if (s[0] != '[' && !doc_host_valid(host))
                                return wf_err_set(e, -EINVAL, "%s: endpoint \"%s\" has an invalid host", where, s);
                        if (!(n->endpoint = strdup(s)))
                                return -ENOMEM;
                } else if (inet_pton(AF_INET6, s, &a6) == 1) {
                        /* a bare address or name gets the node's listen port */
                        if (asprintf(&n->endpoint, "[%s]:%u", s, n->listen_port) < 0)
                                return -ENOMEM;
                } else if (doc_host_valid(s)) {
                        if (asprintf(&n->endpoint, "%s:%u", s, n->listen_port) < 0)
                                return -ENOMEM;
                } else
                        return wf_err_set(e, -EINVAL, "%s: endpoint \"%s\" is not host, host:port or [v6]:port",
                                          where, s);
        }

        v = json_object_get(o, "public_key");
        if (v && !json_is_null(v)) {
                if (!json_is_string(v) || wf_b64_decode_exact(json_string_value(v), n->public_key, 32) < 0)
                        return wf_err_set(e, -EINVAL, "%s: public_key is not a base64 WireGuard key", where);
                n->has_public_key = true;
        }

        v = json_object_get(o, "tunnel_ip");
        if (v && !json_is_null(v)) {
                struct wf_prefix p;
                if (!json_is_string(v))
                        return wf_err_set(e, -EINVAL, "%s: tunnel_ip must be a string", where);
                s = json_string_value(v);
                if (strchr(s, '/') || wf_prefix_parse(s, false, &p, &why) < 0)
                        return wf_err_set(e, -EINVAL, "%s: tunnel_ip \"%s\" is not an address", where, s);
                if (!wf_prefix_contains(&inv->tunnel_cidr, &p))
                        return wf_err_set(e, -EINVAL, "%s: tunnel_ip %s is outside tunnel_cidr", where, s);
                n->tunnel_ip = p;
                n->has_tunnel_ip = true;
        }

        v = json_object_get(o, "tunnel_ip6");
        if (v && !json_is_null(v)) {
                struct wf_prefix p;
                s = json_is_string(v) ? json_string_value(v) : "?";
                if (!inv->has_tunnel_cidr6)
                        return wf_err_set(e, -EINVAL, "%s: tunnel_ip6 without wan.tunnel_cidr6", where);
                if (strchr(s, '/') || wf_prefix_parse(s, false, &p, &why) < 0 || p.family != AF_INET6)
                        return wf_err_set(e, -EINVAL, "%s: tunnel_ip6 \"%s\" is not an IPv6 address", where, s);
                if (!wf_prefix_contains(&inv->tunnel_cidr6, &p))
                        return wf_err_set(e, -EINVAL, "%s: tunnel_ip6 %s is outside tunnel_cidr6", where, s);
                n->tunnel_ip6 = p;
                n->has_tunnel_ip6 = true;
        }

        v = json_object_get(o, "subnets");
        if (v) {
                if (!json_is_array(v))
                        return wf_err_set(e, -EINVAL, "%s: subnets must be an array", where);
                n->subnets = calloc(json_array_size(v) + 1, sizeof(*n->subnets));
                if (!n->subnets)
                        return -ENOMEM;
                for (size_t i = 0; i < json_array_size(v); i++) {
                        static const char *const sknown[] = { "cidr", "routed", NULL };
                        json_t *sn = json_array_get(v, i), *c, *rt;
                        struct ctl_subnet *sub = &n->subnets[n->n_subnets];

                        if (json_is_string(sn)) {
                                c = sn;
                                rt = NULL;
                        } else if (json_is_object(sn)) {
                                warn_unknown(sn, sknown, where, warn, userdata);
                                c = json_object_get(sn, "cidr");
                                rt = json_object_get(sn, "routed");
                        } else
                                return wf_err_set(e, -EINVAL, "%s: subnets[%zu] must be an object", where, i);
                        if (!json_is_string(c) || wf_prefix_parse(json_string_value(c), true, &sub->prefix, &why) < 0)
                                return wf_err_set(e, -EINVAL, "%s: subnet \"%s\" %s", where,
                                                  json_is_string(c) ? json_string_value(c) : "?",
                                                  json_is_string(c) ? why : "has no cidr");
                        if (rt && !json_is_boolean(rt))
                                return wf_err_set(e, -EINVAL, "%s: subnet %s: routed must be true or false",
                                                  where, json_string_value(c));
                        sub->routed = !rt || json_is_true(rt);
                        n->n_subnets++;
                }
        }

        v = json_object_get(o, "backend");
        if (v) {
                if (!json_is_string(v) || (strcmp(json_string_value(v), "linux") != 0 &&
                                           strcmp(json_string_value(v), "uapi") != 0 &&
                                           strcmp(json_string_value(v), "routeros") != 0))
                        return wf_err_set(e, -EINVAL, "%s: backend must be linux, uapi or routeros", where);
                if (!(n->backend = strdup(json_string_value(v))))
                        return -ENOMEM;
        }

        if ((r = get_string(o, "interface", where, &n->iface, e)) < 0)
                return r;
        if (!n->iface && !(n->iface = strdup(inv->iface)))
                return -ENOMEM;
        if (!doc_ifname_valid(n->iface))
                return wf_err_set(e, -EINVAL, "%s: interface \"%s\" is not an interface name", where, n->iface);
        return 0;
}

/* Cross-node rules: unique names, keys and tunnel IPs; subnets clear of the tunnel range;
 * routed subnets disjoint (they become allowed IPs, which must not overlap between peers). */
static int check_fleet(struct ctl_inventory *inv, struct wf_err *e, wf_warn_fn warn, void *userdata) {
        char a[64], b[64], t[64];
        const char *why;
        size_t hubs = 0;

        wf_prefix_format(&inv->tunnel_cidr, t);
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
                                        if (!m->subnets[l].routed || !wf_prefix_overlap(&s->prefix, &m->subnets[l].prefix))
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

int ctl_inventory_parse(const char *json, size_t len, struct ctl_inventory **ret, struct wf_err *e,
                        wf_warn_fn warn, void *userdata) {
        _cleanup_(inventory_freep) struct ctl_inventory *inv = NULL;
        static const char *const known[] = { "wan", "nodes", "rollout", NULL };
        json_error_t jerr;
        json_t *root, *nodes;
        int r;

        root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!root)
                return wf_err_set(e, -EINVAL, "inventory: line %d: %s", jerr.line, jerr.text);
        inv = calloc(1, sizeof(*inv));
        if (!inv) {
                json_decref(root);
                return -ENOMEM;
        }
        if (!json_is_object(root)) {
                r = wf_err_set(e, -EINVAL, "inventory: must be a JSON object");
                goto out;
        }
        warn_unknown(root, known, "inventory", warn, userdata);
        r = parse_wan(json_object_get(root, "wan"), inv, e, warn, userdata);
        if (r < 0)
                goto out;
        nodes = json_object_get(root, "nodes");
        if (!json_is_array(nodes)) {
                r = wf_err_set(e, -EINVAL, "nodes: missing (an array of nodes)");
                goto out;
        }
        inv->nodes = calloc(json_array_size(nodes) + 1, sizeof(*inv->nodes));
        if (!inv->nodes) {
                r = -ENOMEM;
                goto out;
        }
        for (size_t i = 0; i < json_array_size(nodes); i++) {
                inv->n_nodes++;
                r = parse_node(json_array_get(nodes, i), i, inv, &inv->nodes[i], e, warn, userdata);
                if (r < 0)
                        goto out;
        }
        r = check_fleet(inv, e, warn, userdata);
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
