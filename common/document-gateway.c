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

static void pathk(char out[DOC_PATH_MAX], const char *parent, const char *key) {
        doc_pathf(out, "%s.%s", parent, key);
}

static void pathf2(char out[DOC_PATH_MAX], const char *parent, const char *what, size_t i, const char *key) {
        doc_pathf(out, "%s.%s[%zu].%s", parent, what, i, key);
}

/* A prefix with host bits zero that a tunnel can carry (not /0, loopback, multicast...). */
static int get_prefix(struct pctx *c, const json_t *o, const char *path, const char *key, bool host,
                      struct wf_prefix *ret) {
        char q[DOC_PATH_MAX];
        const char *why;
        json_t *v = NULL;
        int r;

        r = doc_get_field(c, o, path, key, true, JSON_STRING, "a string", &v);
        if (r < 0)
                return r;
        pathk(q, path, key);
        if (wf_prefix_parse(json_string_value(v), true, ret, &why) < 0 || (why = doc_prefix_special(ret)))
                return doc_fail(c, q, v, "%s", why);
        if (ret->len == 0)
                return doc_fail(c, q, v, "is a default route, not a LAN");
        if (host && ret->len != (ret->family == AF_INET ? 32 : 128))
                return doc_fail(c, q, v, "is not a single address");
        return 0;
}

static int parse_masquerade(struct pctx *c, const json_t *o, const char *path, struct wf_iface *f) {
        char q[DOC_PATH_MAX];
        json_t *m = NULL, *v = NULL;
        int r;

        r = doc_get_field(c, o, path, "masquerade", false, JSON_OBJECT, "an object", &m);
        if (r < 0 || !m)
                return r;
        doc_pathf(q, "%s.masquerade", path);
        r = doc_check_fields(c, m, q, masq_fields);
        if (r < 0)
                return r;
        r = doc_get_field(c, m, q, "out_interface", true, JSON_STRING, "a string", &v);
        if (r < 0)
                return r;
        doc_pathf(q, "%s.masquerade.out_interface", path);
        if (!doc_ifname_valid(json_string_value(v)))
                return doc_fail(c, q, v, "is not an interface name (1-15 printable ASCII bytes, no '/' or ':')");
        if (strcmp(json_string_value(v), f->name) == 0)
                return doc_fail(c, q, v, "is this interface (masquerade is for traffic that leaves by another one)");
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
static int check_netmap_overlaps(struct pctx *c, const json_t *arr, const char *path, const struct wf_iface *f) {
        char q[DOC_PATH_MAX], a[64];

        for (size_t i = 0; i < 2 * f->n_netmap; i++) {
                const struct wf_prefix *pi = i % 2 ? &f->netmap[i / 2].overlay : &f->netmap[i / 2].local;
                const char *ki = i % 2 ? "overlay" : "local";

                for (size_t j = 0; j < i; j++) {
                        const struct wf_prefix *pj = j % 2 ? &f->netmap[j / 2].overlay : &f->netmap[j / 2].local;
                        if (!wf_prefix_overlap(pi, pj))
                                continue;
                        pathf2(q, path, "netmap", i / 2, ki);
                        wf_prefix_format(pj, a);
                        return doc_fail(c, q, json_object_get(json_array_get(arr, i / 2), ki),
                                        "overlaps netmap[%zu].%s %s", j / 2, j % 2 ? "overlay" : "local", a);
                }
        }
        return 0;
}

static int parse_netmap(struct pctx *c, const json_t *o, const char *path, struct wf_iface *f) {
        char q[DOC_PATH_MAX], a[64];
        json_t *arr = NULL;
        size_t peer;
        int r;

        r = doc_get_field(c, o, path, "netmap", false, JSON_ARRAY, "an array", &arr);
        if (r < 0 || !arr)
                return r;
        f->netmap = calloc(json_array_size(arr) + 1, sizeof(*f->netmap));
        if (!f->netmap)
                return -ENOMEM;
        for (size_t i = 0; i < json_array_size(arr); i++) {
                const json_t *e = json_array_get(arr, i);
                struct wf_netmap *m = &f->netmap[i];
                const struct wf_prefix *hit;

                doc_pathf(q, "%s.netmap[%zu]", path, i);
                if (!json_is_object(e))
                        return doc_fail(c, q, e, "is not an object");
                r = doc_check_fields(c, e, q, netmap_fields);
                if (r >= 0)
                        r = get_prefix(c, e, q, "local", false, &m->local);
                if (r >= 0)
                        r = get_prefix(c, e, q, "overlay", false, &m->overlay);
                if (r < 0)
                        return r;
                f->n_netmap = i + 1;
                pathf2(q, path, "netmap", i, "overlay");
                if (m->overlay.family != m->local.family || m->overlay.len != m->local.len) {
                        wf_prefix_format(&m->local, a);
                        return doc_fail(c, q, json_object_get(e, "overlay"),
                                        "is not the same family and prefix length as local %s (netmap maps "
                                        "address for address)", a);
                }
                /* The overlay prefix is this node's: a peer claiming part of it would take its
                 * traffic. The local one stays on the LAN: a peer routing part of it would pull
                 * the LAN into the tunnel. Wider allowed IPs (a hub's summary) are fine. */
                for (int k = 0; k < 2; k++) {
                        const struct wf_prefix *p = k ? &m->local : &m->overlay;
                        const char *key = k ? "local" : "overlay";

                        hit = claimed(f, p, &peer);
                        if (!hit)
                                continue;
                        pathf2(q, path, "netmap", i, key);
                        wf_prefix_format(hit, a);
                        return doc_fail(c, q, json_object_get(e, key),
                                        "contains allowed IP %s of peer \"%s\" (the %s prefix is this node's)",
                                        a, f->peers[peer].name, key);
                }
        }
        return check_netmap_overlaps(c, arr, path, f);
}

static int parse_target(struct pctx *c, const json_t *s, const char *q, struct wf_service *svc) {
        _cleanup_free_ char *host = NULL;
        const char *why;

        if (wf_endpoint_split(json_string_value(s), &host, &svc->target_port, &why) < 0)
                return doc_fail(c, q, s, "is not an address:port (e.g. 192.168.1.10:8443)");
        if (wf_prefix_parse(host, false, &svc->target, &why) < 0 || strchr(host, '/'))
                return doc_fail(c, q, s, "is not an address:port (the host must be an IP address)");
        if ((why = doc_prefix_special(&svc->target)))
                return doc_fail(c, q, s, "%s", why);
        if (svc->target.family != svc->address.family)
                return doc_fail(c, q, s, "is not in the address family of address");
        return 0;
}

static int parse_service(struct pctx *c, const json_t *e, const char *q, struct wf_service *svc) {
        char k[DOC_PATH_MAX];
        json_t *v = NULL;
        bool present;
        json_int_t n;
        int r;

        if (!json_is_object(e))
                return doc_fail(c, q, e, "is not an object");
        r = doc_check_fields(c, e, q, service_fields);
        if (r >= 0)
                r = doc_get_field(c, e, q, "name", true, JSON_STRING, "a string", &v);
        if (r < 0)
                return r;
        pathk(k, q, "name");
        if (!doc_name_valid(json_string_value(v), DOC_PEER_NAME_MAX))
                return doc_fail(c, k, v, "is not a service name (1-63 of A-Z a-z 0-9 . _ -, starting with a "
                                "letter or digit)");
        svc->name = strdup(json_string_value(v));
        if (!svc->name)
                return -ENOMEM;
        r = get_prefix(c, e, q, "address", true, &svc->address);
        if (r >= 0)
                r = doc_get_field(c, e, q, "protocol", true, JSON_STRING, "a string", &v);
        if (r < 0)
                return r;
        pathk(k, q, "protocol");
        if (strcmp(json_string_value(v), "tcp") == 0)
                svc->protocol = IPPROTO_TCP;
        else if (strcmp(json_string_value(v), "udp") == 0)
                svc->protocol = IPPROTO_UDP;
        else
                return doc_fail(c, k, v, "is not \"tcp\" or \"udp\"");
        r = doc_get_int(c, e, q, "port", true, 1, 65535, "is not a port (1-65535)", &present, &n);
        if (r < 0)
                return r;
        svc->port = (uint16_t)n;
        r = doc_get_field(c, e, q, "target", true, JSON_STRING, "a string", &v);
        if (r < 0)
                return r;
        pathk(k, q, "target");
        return parse_target(c, v, k, svc);
}

static int parse_services(struct pctx *c, const json_t *o, const char *path, struct wf_iface *f) {
        char q[DOC_PATH_MAX], a[64];
        json_t *arr = NULL;
        int r;

        r = doc_get_field(c, o, path, "services", false, JSON_ARRAY, "an array", &arr);
        if (r < 0 || !arr)
                return r;
        f->services = calloc(json_array_size(arr) + 1, sizeof(*f->services));
        if (!f->services)
                return -ENOMEM;
        for (size_t i = 0; i < json_array_size(arr); i++) {
                const json_t *e = json_array_get(arr, i);
                struct wf_service *s = &f->services[i];
                size_t peer;

                doc_pathf(q, "%s.services[%zu]", path, i);
                f->n_services = i + 1;
                r = parse_service(c, e, q, s);
                if (r < 0)
                        return r;
                for (size_t j = 0; j < i; j++) {
                        const struct wf_service *t = &f->services[j];
                        if (strcmp(t->name, s->name) == 0) {
                                pathf2(q, path, "services", i, "name");
                                return doc_fail(c, q, json_object_get(e, "name"),
                                                "is a duplicate service name (also services[%zu])", j);
                        }
                        if (t->protocol == s->protocol && t->port == s->port &&
                            wf_prefix_equal(&t->address, &s->address)) {
                                pathf2(q, path, "services", i, "port");
                                wf_prefix_format(&s->address, a);
                                return doc_fail(c, q, json_object_get(e, "port"),
                                                "is also the %s port of services[%zu] \"%s\" at %s",
                                                s->protocol == IPPROTO_TCP ? "tcp" : "udp", j, t->name, a);
                        }
                }
                /* The service address is this node's; a peer holding exactly it takes its
                 * traffic away (a wider prefix through a hub is fine). */
                if (claimed(f, &s->address, &peer)) {
                        pathf2(q, path, "services", i, "address");
                        return doc_fail(c, q, json_object_get(e, "address"),
                                        "is an allowed IP of peer \"%s\" (a service address is this node's)",
                                        f->peers[peer].name);
                }
        }
        return 0;
}

int doc_gateway_parse(struct pctx *c, const json_t *o, const char *path, struct wf_iface *f) {
        json_t *v = json_object_get(o, "forwarding");
        char q[DOC_PATH_MAX];
        int r;

        if (v && !json_is_null(v) && !json_is_boolean(v)) {
                doc_pathf(q, "%s.forwarding", path);
                return doc_fail(c, q, v, "is not a boolean");
        }
        f->forwarding = json_is_true(v);
        r = parse_masquerade(c, o, path, f);
        if (r >= 0)
                r = parse_netmap(c, o, path, f);
        if (r >= 0)
                r = parse_services(c, o, path, f);
        return r;
}
