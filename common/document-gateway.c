/* SPDX-License-Identifier: MIT */
/* The gateway fields of an interface: forwarding, masquerade, netmap, services (docs/protocol.md
 * rules 40-47, docs/gateways.md). */
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "document-internal.h"

static const char *const masq_fields[] = { "out_interface", NULL };
static const char *const netmap_fields[] = { "local", "overlay", NULL };
static const char *const service_fields[] = { "name", "address", "protocol", "port", "target", NULL };

/* A prefix with host bits zero that a tunnel can carry (not /0, loopback, multicast...). */
static int get_prefix(struct jr_ctx *c, const json_t *o, const struct jr_path *p, const char *key, bool host,
                      struct wf_prefix *ret) {
        const struct jr_path q = JR_KEY(p, key);
        const char *why;
        json_t *v = NULL;
        int r;

        r = jr_string(c, o, p, key, true, &v);
        if (r < 0)
                return r;
        if (wf_prefix_parse(json_string_value(v), true, ret, &why) < 0 || (why = doc_prefix_special(ret)))
                return jr_fail(c, &q, v, "%s", why);
        if (ret->len == 0)
                return jr_fail(c, &q, v, "is a default route, not a LAN");
        if (host && ret->len != (ret->family == AF_INET ? 32 : 128))
                return jr_fail(c, &q, v, "is not a single address");
        return 0;
}

static int parse_masquerade(struct jr_ctx *c, const json_t *o, const struct jr_path *p, struct wf_iface *f) {
        const struct jr_path q = JR_KEY(p, "masquerade"), oq = JR_KEY(&q, "out_interface");
        json_t *m = NULL, *v = NULL;
        int r;

        r = jr_object(c, o, p, "masquerade", false, &m);
        if (r <= 0)
                return r;
        r = doc_check_fields(c, m, &q, masq_fields);
        if (r < 0)
                return r;
        r = jr_string(c, m, &q, "out_interface", true, &v);
        if (r < 0)
                return r;
        if (!doc_ifname_valid(json_string_value(v)))
                return jr_fail(c, &oq, v, "is not an interface name (1-15 printable ASCII bytes, no '/' or ':')");
        if (strcmp(json_string_value(v), f->name) == 0)
                return jr_fail(c, &oq, v, "is this interface (masquerade is for traffic that leaves by another one)");
        f->masquerade_out = strdup(json_string_value(v));
        return f->masquerade_out ? 0 : -ENOMEM;
}

/* An allowed IP (not a /0) of a peer of f inside p: that peer claims part of p. */
static const struct wf_prefix *claimed(const struct wf_iface *f, const struct wf_prefix *p, size_t *ret_peer) {
        for (size_t i = 0; i < f->n_peers; i++)
                for (size_t k = 0; k < f->peers[i].n_allowed_ips; k++) {
                        const struct wf_prefix *a = &f->peers[i].allowed_ips[k];
                        if (a->len > 0 && wf_prefix_contains(p, a)) {
                                *ret_peer = i;
                                return a;
                        }
                }
        return NULL;
}

/* Every netmap prefix (local and overlay of every entry) is distinct from every other. */
static int check_netmap_overlaps(struct jr_ctx *c, const json_t *arr, const struct jr_path *np,
                                 const struct wf_iface *f) {
        char a[64];

        for (size_t i = 0; i < 2 * f->n_netmap; i++) {
                const struct wf_prefix *pi = i % 2 ? &f->netmap[i / 2].overlay : &f->netmap[i / 2].local;
                const char *ki = i % 2 ? "overlay" : "local";

                for (size_t j = 0; j < i; j++) {
                        const struct wf_prefix *pj = j % 2 ? &f->netmap[j / 2].overlay : &f->netmap[j / 2].local;
                        const struct jr_path e = JR_IDX(np, i / 2);

                        if (!wf_prefix_overlap(pi, pj))
                                continue;
                        wf_prefix_format(pj, a);
                        return jr_fail(c, &JR_KEY(&e, ki), json_object_get(json_array_get(arr, i / 2), ki),
                                       "overlaps netmap[%zu].%s %s", j / 2, j % 2 ? "overlay" : "local", a);
                }
        }
        return 0;
}

static int parse_netmap(struct jr_ctx *c, const json_t *o, const struct jr_path *p, struct wf_iface *f) {
        const struct jr_path np = JR_KEY(p, "netmap");
        json_t *arr = NULL;
        char a[64];
        size_t peer;
        int r;

        r = jr_array(c, o, p, "netmap", false, &arr);
        if (r <= 0)
                return r;
        f->netmap = calloc(json_array_size(arr) + 1, sizeof(*f->netmap));
        if (!f->netmap)
                return -ENOMEM;
        for (size_t i = 0; i < json_array_size(arr); i++) {
                const struct jr_path q = JR_IDX(&np, i);
                json_t *e = NULL;
                struct wf_netmap *m = &f->netmap[i];
                const struct wf_prefix *hit;

                r = jr_elem_object(c, arr, &np, i, &e);
                if (r >= 0)
                        r = doc_check_fields(c, e, &q, netmap_fields);
                if (r >= 0)
                        r = get_prefix(c, e, &q, "local", false, &m->local);
                if (r >= 0)
                        r = get_prefix(c, e, &q, "overlay", false, &m->overlay);
                if (r < 0)
                        return r;
                f->n_netmap = i + 1;
                if (m->overlay.family != m->local.family || m->overlay.len != m->local.len) {
                        wf_prefix_format(&m->local, a);
                        return jr_fail(c, &JR_KEY(&q, "overlay"), json_object_get(e, "overlay"),
                                       "is not the same family and prefix length as local %s (netmap maps "
                                       "address for address)", a);
                }
                /* The overlay prefix is this node's: a peer claiming part of it would take its
                 * traffic. The local one stays on the LAN: a peer routing part of it would pull
                 * the LAN into the tunnel. Wider allowed IPs (a hub's summary) are fine. */
                for (int k = 0; k < 2; k++) {
                        const struct wf_prefix *pk = k ? &m->local : &m->overlay;
                        const char *key = k ? "local" : "overlay";

                        hit = claimed(f, pk, &peer);
                        if (!hit)
                                continue;
                        wf_prefix_format(hit, a);
                        return jr_fail(c, &JR_KEY(&q, key), json_object_get(e, key),
                                       "contains allowed IP %s of peer \"%s\" (the %s prefix is this node's)",
                                       a, f->peers[peer].name, key);
                }
        }
        return check_netmap_overlaps(c, arr, &np, f);
}

static int parse_target(struct jr_ctx *c, const json_t *s, const struct jr_path *q, struct wf_service *svc) {
        _cleanup_free_ char *host = NULL;
        const char *why;

        if (wf_endpoint_split(json_string_value(s), &host, &svc->target_port, &why) < 0)
                return jr_fail(c, q, s, "is not an address:port (e.g. 192.168.1.10:8443)");
        if (wf_prefix_parse(host, false, &svc->target, &why) < 0 || strchr(host, '/'))
                return jr_fail(c, q, s, "is not an address:port (the host must be an IP address)");
        if ((why = doc_prefix_special(&svc->target)))
                return jr_fail(c, q, s, "%s", why);
        if (svc->target.family != svc->address.family)
                return jr_fail(c, q, s, "is not in the address family of address");
        return 0;
}

static int parse_service(struct jr_ctx *c, const json_t *e, const struct jr_path *q, struct wf_service *svc) {
        json_t *v = NULL;
        json_int_t n = 0;
        int r;

        r = doc_check_fields(c, e, q, service_fields);
        if (r >= 0)
                r = jr_string(c, e, q, "name", true, &v);
        if (r < 0)
                return r;
        if (!doc_name_valid(json_string_value(v), DOC_PEER_NAME_MAX))
                return jr_fail(c, &JR_KEY(q, "name"), v, "is not a service name (1-63 of A-Z a-z 0-9 . _ -, "
                               "starting with a letter or digit)");
        svc->name = strdup(json_string_value(v));
        if (!svc->name)
                return -ENOMEM;
        r = get_prefix(c, e, q, "address", true, &svc->address);
        if (r >= 0)
                r = jr_string(c, e, q, "protocol", true, &v);
        if (r < 0)
                return r;
        if (strcmp(json_string_value(v), "tcp") == 0)
                svc->protocol = IPPROTO_TCP;
        else if (strcmp(json_string_value(v), "udp") == 0)
                svc->protocol = IPPROTO_UDP;
        else
                return jr_fail(c, &JR_KEY(q, "protocol"), v, "is not \"tcp\" or \"udp\"");
        r = jr_int(c, e, q, "port", true, 1, 65535, "is not a port (1-65535)", &n);
        if (r < 0)
                return r;
        svc->port = (uint16_t)n;
        r = jr_string(c, e, q, "target", true, &v);
        if (r < 0)
                return r;
        return parse_target(c, v, &JR_KEY(q, "target"), svc);
}

static int parse_services(struct jr_ctx *c, const json_t *o, const struct jr_path *p, struct wf_iface *f) {
        const struct jr_path sp = JR_KEY(p, "services");
        json_t *arr = NULL;
        char a[64];
        int r;

        r = jr_array(c, o, p, "services", false, &arr);
        if (r <= 0)
                return r;
        f->services = calloc(json_array_size(arr) + 1, sizeof(*f->services));
        if (!f->services)
                return -ENOMEM;
        for (size_t i = 0; i < json_array_size(arr); i++) {
                const struct jr_path q = JR_IDX(&sp, i);
                json_t *e = NULL;
                struct wf_service *s = &f->services[i];
                size_t peer;

                f->n_services = i + 1;
                r = jr_elem_object(c, arr, &sp, i, &e);
                if (r >= 0)
                        r = parse_service(c, e, &q, s);
                if (r < 0)
                        return r;
                for (size_t j = 0; j < i; j++) {
                        const struct wf_service *t = &f->services[j];
                        if (strcmp(t->name, s->name) == 0)
                                return jr_fail(c, &JR_KEY(&q, "name"), json_object_get(e, "name"),
                                               "is a duplicate service name (also services[%zu])", j);
                        if (t->protocol == s->protocol && t->port == s->port &&
                            wf_prefix_equal(&t->address, &s->address)) {
                                wf_prefix_format(&s->address, a);
                                return jr_fail(c, &JR_KEY(&q, "port"), json_object_get(e, "port"),
                                               "is also the %s port of services[%zu] \"%s\" at %s",
                                               s->protocol == IPPROTO_TCP ? "tcp" : "udp", j, t->name, a);
                        }
                }
                /* The service address is this node's; a peer holding exactly it takes its
                 * traffic away (a wider prefix through a hub is fine). */
                if (claimed(f, &s->address, &peer))
                        return jr_fail(c, &JR_KEY(&q, "address"), json_object_get(e, "address"),
                                       "is an allowed IP of peer \"%s\" (a service address is this node's)",
                                       f->peers[peer].name);
        }
        return 0;
}

int doc_gateway_parse(struct jr_ctx *c, const json_t *o, const struct jr_path *p, struct wf_iface *f) {
        int r;

        r = jr_bool(c, o, p, "forwarding", false, &f->forwarding);
        if (r >= 0)
                r = parse_masquerade(c, o, p, f);
        if (r >= 0)
                r = parse_netmap(c, o, p, f);
        if (r >= 0)
                r = parse_services(c, o, p, f);
        return r < 0 ? r : 0;
}
