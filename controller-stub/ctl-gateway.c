/* SPDX-License-Identifier: MIT */
/* Gateways in the inventory: parsing, conflicts, translated prefixes and service addresses,
 * and the gateway fields of a node's document (docs/inventory.md, "Gateways"). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl-gateway.h"
#include "document.h"

#define DEFAULT_NAT_POOL "172.16.0.0/12"

/* ---- parsing ---- */

static int get_prefix(struct jr_ctx *c, const json_t *o, const struct jr_path *p, const char *key,
                      struct wf_prefix *ret) {
        const char *why;
        json_t *v = NULL;
        int r = jr_string(c, o, p, key, false, &v);

        if (r <= 0)
                return r;
        if (wf_prefix_parse(json_string_value(v), true, ret, &why) < 0)
                return jr_fail(c, &JR_KEY(p, key), v, "%s", why);
        if (ret->len == 0 || (why = doc_prefix_special(ret)))
                return jr_fail(c, &JR_KEY(p, key), v, "%s", ret->len == 0 ? "is everything" : why);
        return 1;
}

int ctl_gw_parse_wan(struct jr_ctx *c, const json_t *wan, const struct jr_path *wp, struct ctl_inventory *inv) {
        const char *why;
        int r = get_prefix(c, wan, wp, "services_cidr", &inv->services_cidr);

        if (r < 0)
                return r;
        inv->has_services_cidr = r > 0;
        r = get_prefix(c, wan, wp, "nat_pool", &inv->nat_pool);
        if (r == 0 && wf_prefix_parse(DEFAULT_NAT_POOL, true, &inv->nat_pool, &why) < 0)
                return -EINVAL;
        return r < 0 ? r : 0;
}

int ctl_gw_parse_subnet(struct jr_ctx *c, const json_t *sn, const struct jr_path *ep, const struct ctl_node *n,
                        struct ctl_subnet *sub) {
        char a[64];
        int r;

        (void)n;
        if (!sn)
                return 0;
        r = jr_bool(c, sn, ep, "auto_nat", false, &sub->auto_nat);
        if (r >= 0)
                r = get_prefix(c, sn, ep, "nat", &sub->nat);
        if (r <= 0)
                return r;
        sub->has_nat = true;
        wf_prefix_format(&sub->prefix, a);
        if (sub->nat.family != sub->prefix.family || sub->nat.len != sub->prefix.len)
                return jr_fail(c, &JR_KEY(ep, "nat"), json_object_get(sn, "nat"),
                               "is not the same family and prefix length as cidr %s (netmap maps address for address)", a);
        return 0;
}

static int parse_service(struct jr_ctx *c, const json_t *arr, const struct jr_path *sp, size_t i,
                         struct ctl_service *s) {
        static const char *const known[] = { "name", "protocol", "port", "target", "address", NULL };
        const struct jr_path ep = JR_IDX(sp, i);
        _cleanup_free_ char *host = NULL;
        json_t *o = NULL, *v = NULL;
        uint64_t port = 0;
        const char *why;
        int r;

        r = jr_elem_object(c, arr, sp, i, &o);
        if (r >= 0)
                r = jr_string(c, o, &ep, "name", true, &v);
        if (r < 0)
                return r;
        jr_unknown_fields(c, o, &ep, known);
        if (!doc_name_valid(json_string_value(v), DOC_PEER_NAME_MAX))
                return jr_fail(c, &JR_KEY(&ep, "name"), v, "is not a service name (1-63 of A-Z a-z 0-9 . _ -, "
                               "starting with a letter or digit)");
        if (!(s->name = strdup(json_string_value(v))))
                return -ENOMEM;
        r = jr_string(c, o, &ep, "protocol", true, &v);
        if (r < 0)
                return r;
        if (strcmp(json_string_value(v), "tcp") != 0 && strcmp(json_string_value(v), "udp") != 0)
                return jr_fail(c, &JR_KEY(&ep, "protocol"), v, "is not \"tcp\" or \"udp\"");
        s->protocol = strcmp(json_string_value(v), "tcp") == 0 ? IPPROTO_TCP : IPPROTO_UDP;
        r = jr_uint(c, o, &ep, "port", true, 1, 65535, "is not a port (1-65535)", &port);
        if (r < 0)
                return r;
        s->port = (uint16_t)port;
        r = jr_string(c, o, &ep, "target", true, &v);
        if (r < 0)
                return r;
        if (wf_endpoint_split(json_string_value(v), &host, &s->target_port, &why) < 0 ||
            wf_prefix_parse(host, false, &s->target, &why) < 0 || strchr(host, '/'))
                return jr_fail(c, &JR_KEY(&ep, "target"), v, "is not a literal ip:port or [v6]:port");
        r = jr_string(c, o, &ep, "address", false, &v);
        if (r <= 0)
                return r;
        if (strchr(json_string_value(v), '/') || wf_prefix_parse(json_string_value(v), false, &s->address, &why) < 0 ||
            doc_prefix_special(&s->address))
                return jr_fail(c, &JR_KEY(&ep, "address"), v, "is not a single unicast address");
        if (s->address.family != s->target.family)
                return jr_fail(c, &JR_KEY(&ep, "address"), v, "is not of the target's address family");
        s->has_address = true;
        return 0;
}

int ctl_gw_parse_node(struct jr_ctx *c, const json_t *o, const struct jr_path *np, const struct ctl_inventory *inv,
                      struct ctl_node *n) {
        static const char *const exit_known[] = { "out_interface", NULL };
        const struct jr_path sp = JR_KEY(np, "services"), xp = JR_KEY(np, "exit");
        json_t *arr = NULL, *x = NULL, *v = NULL;
        int r;

        (void)inv;
        r = jr_array(c, o, np, "services", false, &arr);
        if (r > 0 && !(n->services = calloc(json_array_size(arr) + 1, sizeof(*n->services))))
                return -ENOMEM;
        for (size_t i = 0; r > 0 && i < json_array_size(arr); i++) {
                r = parse_service(c, arr, &sp, i, &n->services[n->n_services]);
                n->n_services++;
                for (size_t k = 0; r >= 0 && k < i; k++)
                        if (strcmp(n->services[k].name, n->services[i].name) == 0)
                                r = jr_fail(c, &JR_KEY(&JR_IDX(&sp, i), "name"),
                                            json_object_get(json_array_get(arr, i), "name"),
                                            "is also the name of services[%zu]", k);
                if (r >= 0)
                        r = 1;
        }
        if (r < 0)
                return r;
        r = jr_object(c, o, np, "exit", false, &x);
        if (r <= 0)
                return r;
        jr_unknown_fields(c, x, &xp, exit_known);
        r = jr_string(c, x, &xp, "out_interface", true, &v);
        if (r < 0)
                return r;
        if (!doc_ifname_valid(json_string_value(v)))
                return jr_fail(c, &JR_KEY(&xp, "out_interface"), v, "is not an interface name");
        if (strcmp(json_string_value(v), n->iface) == 0)
                return jr_fail(c, &JR_KEY(&xp, "out_interface"), v,
                               "is the node's WireGuard interface (an exit's traffic leaves by another one)");
        n->exit_out = strdup(json_string_value(v));
        return n->exit_out ? 0 : -ENOMEM;
}

void ctl_gw_node_done(struct ctl_node *n) {
        for (size_t i = 0; i < n->n_services; i++)
                free(n->services[i].name);
        free(n->services);
        free(n->exit_out);
}

/* ---- conflicts ---- */

bool ctl_gw_overlap_ok(const struct ctl_subnet *a, const struct ctl_subnet *b) {
        return a->auto_nat || a->has_nat || b->auto_nat || b->has_nat;
}

/* A translated prefix overlaps nothing: no subnet, range or other translated prefix. */
static int check_nat(const struct ctl_inventory *inv, const struct ctl_node *n, const struct ctl_subnet *s,
                     struct wf_err *e) {
        char a[64], x[64], b[64];

        wf_prefix_format(&s->prefix, a);
        wf_prefix_format(&s->nat, x);
        if (wf_prefix_overlap(&s->nat, &inv->tunnel_cidr) ||
            (inv->has_tunnel_cidr6 && wf_prefix_overlap(&s->nat, &inv->tunnel_cidr6)))
                return wf_err_set(e, -EINVAL, "node %s: subnet %s: nat %s overlaps the tunnel range", n->name, a, x);
        if (inv->has_services_cidr && wf_prefix_overlap(&s->nat, &inv->services_cidr)) {
                wf_prefix_format(&inv->services_cidr, b);
                return wf_err_set(e, -EINVAL, "node %s: subnet %s: nat %s overlaps services_cidr %s", n->name, a, x, b);
        }
        for (size_t j = 0; j < inv->n_nodes; j++)
                for (size_t k = 0; k < inv->nodes[j].n_subnets; k++) {
                        const struct ctl_subnet *o = &inv->nodes[j].subnets[k];
                        if (wf_prefix_overlap(&s->nat, &o->prefix)) {
                                wf_prefix_format(&o->prefix, b);
                                return wf_err_set(e, -EINVAL, "node %s: subnet %s: nat %s overlaps subnet %s of node %s",
                                                  n->name, a, x, b, inv->nodes[j].name);
                        }
                        if (o != s && o->has_nat && wf_prefix_overlap(&s->nat, &o->nat)) {
                                wf_prefix_format(&o->nat, b);
                                return wf_err_set(e, -EINVAL, "node %s: subnet %s: nat %s overlaps nat %s of node %s",
                                                  n->name, a, x, b, inv->nodes[j].name);
                        }
                }
        return 0;
}

int ctl_gw_check(const struct ctl_inventory *inv, struct wf_err *e) {
        char a[64], b[64];
        int r;

        if (inv->has_services_cidr) {
                wf_prefix_format(&inv->services_cidr, b);
                if (wf_prefix_overlap(&inv->services_cidr, &inv->tunnel_cidr) ||
                    (inv->has_tunnel_cidr6 && wf_prefix_overlap(&inv->services_cidr, &inv->tunnel_cidr6)))
                        return wf_err_set(e, -EINVAL, "wan: services_cidr %s overlaps the tunnel range", b);
        }
        for (size_t i = 0; i < inv->n_nodes; i++) {
                const struct ctl_node *n = &inv->nodes[i];

                for (size_t k = 0; k < n->n_subnets; k++) {
                        const struct ctl_subnet *s = &n->subnets[k];
                        wf_prefix_format(&s->prefix, a);
                        if (inv->has_services_cidr && wf_prefix_overlap(&s->prefix, &inv->services_cidr))
                                return wf_err_set(e, -EINVAL, "node %s: subnet %s overlaps services_cidr %s", n->name, a, b);
                        if (s->has_nat && (r = check_nat(inv, n, s, e)) < 0)
                                return r;
                }
                for (size_t k = 0; k < n->n_services; k++) {
                        const struct ctl_service *v = &n->services[k];
                        if (!v->has_address && !inv->has_services_cidr)
                                return wf_err_set(e, -EINVAL, "node %s: service %s has no address and wan.services_cidr is not set",
                                                  n->name, v->name);
                        for (size_t j = 0; v->has_address && j <= i; j++)
                                for (size_t l = 0; l < (j == i ? k : inv->nodes[j].n_services); l++) {
                                        const struct ctl_service *w = &inv->nodes[j].services[l];
                                        if (!w->has_address || !wf_prefix_equal(&v->address, &w->address) ||
                                            (j == i && (w->port != v->port || w->protocol != v->protocol)))
                                                continue;
                                        wf_prefix_format(&v->address, a);
                                        return wf_err_set(e, -EINVAL, "node %s: service %s address %s is also service %s of node %s",
                                                          n->name, v->name, a, w->name, inv->nodes[j].name);
                                }
                }
        }
        return 0;
}

/* ---- allocation ---- */

void ctl_gw_free(struct ctl_gw_node *g, size_t n) {
        for (size_t i = 0; g && i < n; i++) {
                free(g[i].overlay);
                free(g[i].translated);
                free(g[i].svc);
        }
        free(g);
}

/* The idx-th prefix of length len inside pool. */
static bool nth_prefix(const struct wf_prefix *pool, unsigned len, uint64_t idx, struct wf_prefix *ret) {
        struct wf_prefix p = *pool;

        if (len < pool->len || (len - pool->len < 64 && idx >> (len - pool->len)))
                return false;
        wf_prefix_mask(&p);
        p.len = (uint8_t)len;
        for (unsigned bit = len; bit-- > pool->len && idx;) {
                if (idx & 1)
                        p.addr[bit / 8] |= (uint8_t)(0x80 >> (bit % 8));
                idx >>= 1;
        }
        *ret = p;
        return true;
}

struct taken {
        const struct ctl_inventory *inv;
        const struct ctl_gw_node *g;
};

/* Free for a translated prefix: no subnet, range, services range or translated prefix so far. */
static bool nat_free(const struct taken *t, const struct wf_prefix *p) {
        const struct ctl_inventory *inv = t->inv;

        if (wf_prefix_overlap(p, &inv->tunnel_cidr) || (inv->has_tunnel_cidr6 && wf_prefix_overlap(p, &inv->tunnel_cidr6)) ||
            (inv->has_services_cidr && wf_prefix_overlap(p, &inv->services_cidr)))
                return false;
        for (size_t j = 0; j < inv->n_nodes; j++)
                for (size_t k = 0; k < inv->nodes[j].n_subnets; k++)
                        if (wf_prefix_overlap(p, &inv->nodes[j].subnets[k].prefix) ||
                            (t->g[j].translated[k] && wf_prefix_overlap(p, &t->g[j].overlay[k])))
                                return false;
        return true;
}

static bool needs_nat(const struct ctl_inventory *inv, size_t i, const struct ctl_subnet *s) {
        if (!s->routed || s->has_nat || !s->auto_nat)
                return false;
        for (size_t j = 0; j < inv->n_nodes; j++)
                for (size_t k = 0; j != i && k < inv->nodes[j].n_subnets; k++)
                        if (inv->nodes[j].subnets[k].routed && wf_prefix_overlap(&s->prefix, &inv->nodes[j].subnets[k].prefix))
                                return true;
        return false;
}

static void nat_key(const struct ctl_node *n, const struct ctl_subnet *s, char out[160]) {
        char a[64];

        wf_prefix_format(&s->prefix, a);
        snprintf(out, 160, "%s %s", n->name, a);
}

static int allocate_nat(const struct ctl_inventory *inv, struct ctl_state *st, struct ctl_gw_node *g,
                        struct wf_err *e) {
        const struct taken t = { inv, g };
        char key[160], a[64], b[64];

        for (int pass = 0; pass < 2; pass++)
                for (size_t i = 0; i < inv->n_nodes; i++)
                        for (size_t k = 0; k < inv->nodes[i].n_subnets; k++) {
                                const struct ctl_subnet *s = &inv->nodes[i].subnets[k];
                                const char *prev, *why;
                                struct wf_prefix p;
                                bool found = false;

                                if (g[i].translated[k] || !needs_nat(inv, i, s))
                                        continue;
                                nat_key(&inv->nodes[i], s, key);
                                prev = ctl_state_allocation(st, CTL_NAT, key);
                                if (pass == 0) {
                                        /* kept across renders while it is still free */
                                        if (prev && wf_prefix_parse(prev, true, &p, &why) == 0 && p.len == s->prefix.len &&
                                            wf_prefix_contains(&inv->nat_pool, &p) && nat_free(&t, &p))
                                                found = true;
                                } else
                                        for (uint64_t idx = 0; !found && idx < (1u << 20) &&
                                                               nth_prefix(&inv->nat_pool, s->prefix.len, idx, &p); idx++)
                                                found = p.family == s->prefix.family && nat_free(&t, &p);
                                if (!found && pass == 1) {
                                        wf_prefix_format(&s->prefix, a);
                                        wf_prefix_format(&inv->nat_pool, b);
                                        return wf_err_set(e, -ENOSPC, "node %s: subnet %s: nat_pool %s has no free /%u left",
                                                          inv->nodes[i].name, a, b, s->prefix.len);
                                }
                                if (!found)
                                        continue;
                                g[i].overlay[k] = p;
                                g[i].translated[k] = true;
                        }
        return 0;
}

static bool svc_free(const struct ctl_inventory *inv, const struct ctl_gw_node *g, const struct wf_prefix *p) {
        for (size_t j = 0; j < inv->n_nodes; j++)
                for (size_t k = 0; k < inv->nodes[j].n_services; k++)
                        if (g[j].svc[k].family && wf_prefix_equal(&g[j].svc[k], p))
                                return false;
        return true;
}

/* A usable host of the services range: not the network, not the IPv4 broadcast. */
static bool svc_host(const struct wf_prefix *cidr, const struct wf_prefix *p) {
        unsigned max = cidr->family == AF_INET ? 32 : 128;
        struct wf_prefix net = *cidr, last;

        if (p->family != cidr->family || !wf_prefix_contains(cidr, p))
                return false;
        wf_prefix_mask(&net);
        net.len = (uint8_t)max;
        if (wf_prefix_equal(&net, p))
                return false;
        return cidr->family != AF_INET || cidr->len >= 31 ||
               !nth_prefix(cidr, max, (1ull << (max - cidr->len)) - 1, &last) || !wf_prefix_equal(&last, p);
}

static int allocate_services(const struct ctl_inventory *inv, struct ctl_state *st, struct ctl_gw_node *g,
                             struct wf_err *e) {
        const struct wf_prefix *cidr = &inv->services_cidr;
        char key[160], a[64];

        for (size_t i = 0; i < inv->n_nodes; i++)
                for (size_t k = 0; k < inv->nodes[i].n_services; k++)
                        if (inv->nodes[i].services[k].has_address)
                                g[i].svc[k] = inv->nodes[i].services[k].address;
        for (int pass = 0; pass < 2; pass++)
                for (size_t i = 0; i < inv->n_nodes; i++)
                        for (size_t k = 0; k < inv->nodes[i].n_services; k++) {
                                const char *prev, *why;
                                struct wf_prefix p;
                                bool found = false;

                                if (g[i].svc[k].family)
                                        continue;
                                snprintf(key, sizeof key, "%s/%s", inv->nodes[i].name, inv->nodes[i].services[k].name);
                                prev = ctl_state_allocation(st, CTL_SERVICES, key);
                                if (pass == 0)
                                        found = prev && !strchr(prev, '/') && wf_prefix_parse(prev, false, &p, &why) == 0 &&
                                                svc_host(cidr, &p) && svc_free(inv, g, &p);
                                for (uint64_t idx = 1; pass == 1 && !found && idx < (1u << 20) &&
                                                       nth_prefix(cidr, cidr->family == AF_INET ? 32 : 128, idx, &p); idx++)
                                        found = svc_host(cidr, &p) && svc_free(inv, g, &p);
                                if (!found && pass == 1) {
                                        wf_prefix_format(cidr, a);
                                        return wf_err_set(e, -ENOSPC, "node %s: service %s: services_cidr %s has no free address left",
                                                          inv->nodes[i].name, inv->nodes[i].services[k].name, a);
                                }
                                if (found)
                                        g[i].svc[k] = p;
                        }
        return 0;
}

static bool keep_key(const char *key, void *userdata) {
        const struct taken *t = userdata;
        char k2[160];

        for (size_t i = 0; i < t->inv->n_nodes; i++) {
                const struct ctl_node *n = &t->inv->nodes[i];
                for (size_t k = 0; k < n->n_subnets; k++) {
                        nat_key(n, &n->subnets[k], k2);
                        if (t->g[i].translated[k] && !n->subnets[k].has_nat && strcmp(k2, key) == 0)
                                return true;
                }
                for (size_t k = 0; k < n->n_services; k++) {
                        snprintf(k2, sizeof k2, "%s/%s", n->name, n->services[k].name);
                        if (!n->services[k].has_address && strcmp(k2, key) == 0)
                                return true;
                }
        }
        return false;
}

/* What is allocated goes to the state file; what is not used any more leaves it. */
static int remember(const struct ctl_inventory *inv, struct ctl_state *st, const struct ctl_gw_node *g) {
        struct taken t = { inv, g };
        char key[160], a[64];
        int r = 0;

        ctl_state_prune_allocations(st, CTL_NAT, keep_key, &t);
        ctl_state_prune_allocations(st, CTL_SERVICES, keep_key, &t);
        for (size_t i = 0; r >= 0 && i < inv->n_nodes; i++) {
                const struct ctl_node *n = &inv->nodes[i];
                for (size_t k = 0; r >= 0 && k < n->n_subnets; k++) {
                        if (!g[i].translated[k] || n->subnets[k].has_nat)
                                continue;
                        nat_key(n, &n->subnets[k], key);
                        wf_prefix_format(&g[i].overlay[k], a);
                        r = ctl_state_set_allocation(st, CTL_NAT, key, a);
                }
                for (size_t k = 0; r >= 0 && k < n->n_services; k++) {
                        if (n->services[k].has_address)
                                continue;
                        snprintf(key, sizeof key, "%s/%s", n->name, n->services[k].name);
                        wf_prefix_format(&g[i].svc[k], a);
                        *strchr(a, '/') = '\0';
                        r = ctl_state_set_allocation(st, CTL_SERVICES, key, a);
                }
        }
        return r;
}

int ctl_gw_allocate(const struct ctl_inventory *inv, struct ctl_state *st, struct ctl_gw_node **ret,
                    struct wf_err *e) {
        struct ctl_gw_node *g = calloc(inv->n_nodes + 1, sizeof(*g));
        int r = g ? 0 : -ENOMEM;

        for (size_t i = 0; r >= 0 && i < inv->n_nodes; i++) {
                const struct ctl_node *n = &inv->nodes[i];
                g[i].overlay = calloc(n->n_subnets + 1, sizeof(*g[i].overlay));
                g[i].translated = calloc(n->n_subnets + 1, sizeof(*g[i].translated));
                g[i].svc = calloc(n->n_services + 1, sizeof(*g[i].svc));
                if (!g[i].overlay || !g[i].translated || !g[i].svc)
                        r = -ENOMEM;
                for (size_t k = 0; r >= 0 && k < n->n_subnets; k++) {
                        g[i].translated[k] = n->subnets[k].has_nat && n->subnets[k].routed;
                        g[i].overlay[k] = g[i].translated[k] ? n->subnets[k].nat : n->subnets[k].prefix;
                }
        }
        if (r >= 0)
                r = allocate_nat(inv, st, g, e);
        if (r >= 0)
                r = allocate_services(inv, st, g, e);
        if (r >= 0)
                r = remember(inv, st, g);
        if (r < 0) {
                ctl_gw_free(g, inv->n_nodes);
                return r;
        }
        *ret = g;
        return 0;
}

/* ---- the node's document ---- */

static json_t *host_json(const struct wf_prefix *p, uint16_t port) {
        char a[64], out[80];

        wf_prefix_format(p, a);
        *strchr(a, '/') = '\0';
        if (!port)
                return json_string(a);
        snprintf(out, sizeof out, p->family == AF_INET6 ? "[%s]:%u" : "%s:%u", a, port);
        return json_string(out);
}

static json_t *prefix_json(const struct wf_prefix *p) {
        char a[64];

        wf_prefix_format(p, a);
        return json_string(a);
}

int ctl_gw_render_iface(const struct ctl_inventory *inv, size_t idx, const struct ctl_gw_node *g, json_t *iface) {
        const struct ctl_node *n = &inv->nodes[idx];
        bool translated = false, hub = n->hub && inv->topology == CTL_TOPOLOGY_HUB_SPOKE;
        json_t *netmap = json_array(), *svc = json_array();
        int k = !netmap || !svc;

        for (size_t i = 0; !k && i < n->n_subnets; i++) {
                if (!g->translated[i])
                        continue;
                translated = true;
                k |= json_array_append_new(netmap, json_pack("{s:o, s:o}", "local", prefix_json(&n->subnets[i].prefix),
                                                             "overlay", prefix_json(&g->overlay[i])));
        }
        for (size_t i = 0; !k && i < n->n_services; i++) {
                const struct ctl_service *v = &n->services[i];
                k |= json_array_append_new(svc, json_pack("{s:s, s:o, s:s, s:i, s:o}", "name", v->name, "address",
                                                          host_json(&g->svc[i], 0), "protocol",
                                                          v->protocol == IPPROTO_TCP ? "tcp" : "udp", "port", (int)v->port,
                                                          "target", host_json(&v->target, v->target_port)));
        }
        /* hubs forward spoke to spoke; exits, translated LANs and services forward to the LAN */
        if (!k && (hub || n->exit_out || translated || n->n_services))
                k |= json_object_set_new(iface, "forwarding", json_true());
        if (!k && n->exit_out)
                k |= json_object_set_new(iface, "masquerade", json_pack("{s:s}", "out_interface", n->exit_out));
        if (!k && translated)
                k |= json_object_set(iface, "netmap", netmap);
        if (!k && n->n_services)
                k |= json_object_set(iface, "services", svc);
        json_decref(netmap);
        json_decref(svc);
        return k ? -ENOMEM : 0;
}
