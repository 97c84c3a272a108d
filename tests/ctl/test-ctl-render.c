/* SPDX-License-Identifier: MIT */
/* Rendering rules of wgfleet-controller (docs/inventory.md): topology, CGNAT, routed subnets,
 * allocation and revision stability, overlap errors, enrolment. Each rendered envelope is
 * verified with the agent's DSSE code and parsed with the agent's strict document parser. */
#include <jansson.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ctl-inventory.h"
#include "ctl-render.h"
#include "ctl-state.h"
#include "document.h"
#include "dsse.h"
#include "../unit/tap.h"

#define NOW 1795000000
#define DAY 86400

static uint8_t sk[64], pk[32];
static char keys[8][45];
static char warnings[4096];

static void collect_warning(_unused_ void *userdata, const char *msg) {
        strncat(warnings, msg, sizeof(warnings) - strlen(warnings) - 2);
        strcat(warnings, "\n");
}

/* Builds an inventory from a format with %K0..%K7 replaced by node keys. */
static char *inventory(const char *fmt) {
        char *out = malloc(8192), *o = out;

        for (const char *p = fmt; *p;) {
                if (p[0] == '%' && p[1] == 'K' && p[2] >= '0' && p[2] <= '7') {
                        o += sprintf(o, "%s", keys[p[2] - '0']);
                        p += 3;
                } else
                        *o++ = *p++;
        }
        *o = '\0';
        return out;
}

static struct ctl_render *render_at(const char *fmt, struct ctl_state *st, int64_t now, struct wf_err *e) {
        char *text = inventory(fmt);
        struct ctl_inventory *inv = NULL;
        struct ctl_render *r = NULL;

        warnings[0] = '\0';
        if (ctl_inventory_parse(text, strlen(text), &inv, e, collect_warning, NULL) >= 0)
                (void)ctl_render_all(inv, st, now, sk, &r, e, collect_warning, NULL);
        ctl_inventory_free(inv);
        free(text);
        return r;
}

/* Every envelope must verify with the trust key and parse as a valid document for its node. */
static void check_envelopes(const struct ctl_render *r) {
        struct dsse_trust t = { .keys = &pk, .n_keys = 1 };

        for (size_t i = 0; r && i < r->n_nodes; i++) {
                char *payload = NULL;
                size_t len;
                struct wf_doc *d = NULL;
                struct wf_err e = {};

                CHECK(dsse_verify(r->nodes[i].envelope, r->nodes[i].envelope_len, DSSE_DEFAULT_MAX_SIZE, &t,
                                  &payload, &len, &e) >= 0);
                CHECK(payload && strcmp(payload, r->nodes[i].payload) == 0);
                if (doc_parse(r->nodes[i].payload, r->nodes[i].payload_len, &d, &e, NULL, NULL) < 0)
                        fprintf(stderr, "document of %s rejected: %s\n", r->nodes[i].node, e.msg);
                CHECK(d != NULL);
                CHECK(d && strcmp(d->node, r->nodes[i].node) == 0 && d->revision == r->nodes[i].revision);
                CHECK(d && doc_check_fresh(d, r->nodes[i].node, NOW, &e) >= 0);
                wf_doc_free(d);
                free(payload);
        }
}

static json_t *doc(const struct ctl_render *r, const char *node) {
        const struct ctl_rendered *n = ctl_render_find(r, node);
        return n ? json_loads(n->payload, 0, NULL) : NULL;
}

static json_t *iface(json_t *d) {
        return json_array_get(json_object_get(d, "interfaces"), 0);
}

static json_t *peer(json_t *d, const char *name) {
        json_t *peers = json_object_get(iface(d), "peers"), *p;
        size_t i;

        json_array_foreach(peers, i, p)
                if (strcmp(json_string_value(json_object_get(p, "name")), name) == 0)
                        return p;
        return NULL;
}

static size_t n_peers(json_t *d) {
        return json_array_size(json_object_get(iface(d), "peers"));
}

/* The peer's allowed IPs joined with spaces, for exact comparisons. */
static const char *allowed(json_t *d, const char *name) {
        static char buf[1024];
        json_t *p = peer(d, name), *v;
        size_t i;

        buf[0] = '\0';
        if (!p)
                return "(no such peer)";
        json_array_foreach(json_object_get(p, "allowed_ips"), i, v) {
                if (i)
                        strcat(buf, " ");
                strcat(buf, json_string_value(v));
        }
        return buf;
}

#define CHECK_ALLOWED(d, name, want)                                                              \
        do {                                                                                      \
                const char *_got = allowed(d, name);                                              \
                if (strcmp(_got, want) != 0) {                                                    \
                        fprintf(stderr, "%s:%d: allowed_ips of %s: got \"%s\", want \"%s\"\n",    \
                                __FILE__, __LINE__, name, _got, want);                            \
                        tap_failures++;                                                           \
                }                                                                                 \
        } while (0)

static void test_mesh(void) {
        struct ctl_state *st = NULL;
        struct wf_err e = {};
        struct ctl_render *r;
        json_t *a, *b, *c;

        ctl_state_load(NULL, &st, &e);
        r = render_at("{\"wan\": {\"name\": \"m\", \"tunnel_cidr\": \"10.1.0.0/24\", \"topology\": \"mesh\", \"listen_port\": 51000},"
                      " \"nodes\": [{\"name\": \"a\", \"endpoint\": \"198.51.100.1\", \"public_key\": \"%K0\"},"
                      " {\"name\": \"b\", \"endpoint\": \"198.51.100.2:7000\", \"public_key\": \"%K1\","
                      "  \"subnets\": [{\"cidr\": \"192.168.2.0/24\", \"routed\": true}, {\"cidr\": \"192.168.20.0/24\", \"routed\": false}]},"
                      " {\"name\": \"c\", \"endpoint\": \"[2001:db8::3]:51000\", \"public_key\": \"%K2\"}]}", st, NOW, &e);
        CHECK(r != NULL);
        if (!r) {
                fprintf(stderr, "mesh: %s\n", e.msg);
                return;
        }
        check_envelopes(r);
        a = doc(r, "a"), b = doc(r, "b"), c = doc(r, "c");
        CHECK(n_peers(a) == 2 && n_peers(b) == 2 && n_peers(c) == 2);
        CHECK(!peer(a, "a") && peer(a, "b") && peer(a, "c"));
        /* sequential allocation in inventory order, host addresses */
        CHECK(strcmp(json_string_value(json_array_get(json_object_get(iface(a), "addresses"), 0)), "10.1.0.1/32") == 0);
        CHECK(strcmp(json_string_value(json_array_get(json_object_get(iface(c), "addresses"), 0)), "10.1.0.3/32") == 0);
        CHECK(json_integer_value(json_object_get(iface(a), "listen_port")) == 51000);
        CHECK(strcmp(json_string_value(json_object_get(iface(b), "public_key")), keys[1]) == 0);
        /* routed subnet in others' allowed IPs, the local-only one nowhere */
        CHECK_ALLOWED(a, "b", "10.1.0.2/32 192.168.2.0/24");
        CHECK_ALLOWED(c, "b", "10.1.0.2/32 192.168.2.0/24");
        CHECK_ALLOWED(b, "a", "10.1.0.1/32");
        /* a bare endpoint gets the listen port; v6 keeps its brackets */
        CHECK(strcmp(json_string_value(json_object_get(peer(b, "a"), "endpoint")), "198.51.100.1:51000") == 0);
        CHECK(strcmp(json_string_value(json_object_get(peer(a, "b"), "endpoint")), "198.51.100.2:7000") == 0);
        CHECK(strcmp(json_string_value(json_object_get(peer(a, "c"), "endpoint")), "[2001:db8::3]:51000") == 0);
        CHECK(!json_object_get(peer(a, "b"), "persistent_keepalive"));
        CHECK(strcmp(json_string_value(json_object_get(a, "schema")), "wgfleet/desired-state/v1") == 0);
        CHECK(strcmp(json_string_value(json_object_get(a, "expires_at")), "2026-12-18T11:06:40Z") == 0); /* +30 days */
        json_decref(a), json_decref(b), json_decref(c);
        ctl_render_free(r);
        ctl_state_free(st);
}

static const char *hubspoke_fmt =
        "{\"wan\": {\"name\": \"hs\", \"tunnel_cidr\": \"10.2.0.0/24\", \"topology\": \"hub-spoke\"},"
        " \"nodes\": [{\"name\": \"s1\", \"endpoint\": \"198.51.100.11\", \"public_key\": \"%K1\","
        "   \"subnets\": [{\"cidr\": \"172.16.1.0/24\", \"routed\": true}]},"
        " {\"name\": \"hub\", \"role\": \"hub\", \"endpoint\": \"198.51.100.1\", \"public_key\": \"%K0\","
        "   \"subnets\": [{\"cidr\": \"172.16.0.0/24\", \"routed\": true}]},"
        " {\"name\": \"s2\", \"endpoint\": \"198.51.100.12\", \"public_key\": \"%K2\","
        "   \"subnets\": [{\"cidr\": \"172.16.2.0/24\", \"routed\": true}]},"
        " {\"name\": \"cgn\", \"public_key\": \"%K3\"}]}";

static void test_hub_spoke_and_cgnat(void) {
        struct ctl_state *st = NULL;
        struct wf_err e = {};
        struct ctl_render *r;
        json_t *hub, *s1, *s2, *cgn;

        ctl_state_load(NULL, &st, &e);
        r = render_at(hubspoke_fmt, st, NOW, &e);
        CHECK(r != NULL);
        if (!r) {
                fprintf(stderr, "hub-spoke: %s\n", e.msg);
                return;
        }
        check_envelopes(r);
        hub = doc(r, "hub"), s1 = doc(r, "s1"), s2 = doc(r, "s2"), cgn = doc(r, "cgn");
        /* the hub peers everyone with their own prefixes */
        CHECK(n_peers(hub) == 3);
        CHECK_ALLOWED(hub, "s1", "10.2.0.1/32 172.16.1.0/24");
        CHECK_ALLOWED(hub, "cgn", "10.2.0.4/32");
        /* spokes peer only the hub, and reach the other spokes through it: the tunnel range
         * minus their own address (s1 is 10.2.0.1, the hub 10.2.0.2, s2 .3, cgn .4), and the
         * other spokes' routed subnets; never their own subnet */
        CHECK(n_peers(s1) == 1 && peer(s1, "hub") && !peer(s1, "s2"));
        CHECK_ALLOWED(s1, "hub", "10.2.0.0/32 10.2.0.2/32 10.2.0.3/32 10.2.0.4/30 10.2.0.8/29 10.2.0.16/28 "
                                 "10.2.0.32/27 10.2.0.64/26 10.2.0.128/25 172.16.0.0/24 172.16.2.0/24");
        CHECK_ALLOWED(s2, "hub", "10.2.0.0/31 10.2.0.2/32 10.2.0.4/30 10.2.0.8/29 10.2.0.16/28 10.2.0.32/27 "
                                 "10.2.0.64/26 10.2.0.128/25 172.16.0.0/24 172.16.1.0/24");
        CHECK_ALLOWED(cgn, "hub", "10.2.0.0/31 10.2.0.2/32 10.2.0.3/32 10.2.0.5/32 10.2.0.6/31 10.2.0.8/29 "
                                  "10.2.0.16/28 10.2.0.32/27 10.2.0.64/26 10.2.0.128/25 172.16.0.0/24 "
                                  "172.16.1.0/24 172.16.2.0/24");
        /* CGNAT: nobody has an endpoint for it; it keeps its NAT mapping open, others do not */
        CHECK(peer(hub, "cgn") && !json_object_get(peer(hub, "cgn"), "endpoint"));
        CHECK(!json_object_get(peer(hub, "cgn"), "persistent_keepalive"));
        CHECK(json_integer_value(json_object_get(peer(cgn, "hub"), "persistent_keepalive")) == 25);
        CHECK(strcmp(json_string_value(json_object_get(peer(cgn, "hub"), "endpoint")), "198.51.100.1:51820") == 0);
        CHECK(!json_object_get(peer(s1, "hub"), "persistent_keepalive"));
        json_decref(hub), json_decref(s1), json_decref(s2), json_decref(cgn);
        ctl_render_free(r);

        /* hub-spoke without a hub: a mesh, with a warning */
        r = render_at("{\"wan\": {\"tunnel_cidr\": \"10.2.0.0/24\", \"topology\": \"hub-spoke\"},"
                      " \"nodes\": [{\"name\": \"x\", \"public_key\": \"%K4\", \"endpoint\": \"192.0.2.1\"},"
                      " {\"name\": \"y\", \"public_key\": \"%K5\", \"endpoint\": \"192.0.2.2\"},"
                      " {\"name\": \"z\", \"public_key\": \"%K6\", \"endpoint\": \"192.0.2.3\"}]}", st, NOW, &e);
        CHECK(r != NULL);
        CHECK_STR_CONTAINS(warnings, "no node has role \"hub\"");
        if (r) {
                json_t *x = doc(r, "x");
                CHECK(n_peers(x) == 2);
                json_decref(x);
        }
        ctl_render_free(r);
        ctl_state_free(st);
}

static void test_two_hubs(void) {
        struct ctl_state *st = NULL;
        struct wf_err e = {};
        struct ctl_render *r;
        json_t *s1, *h2;

        ctl_state_load(NULL, &st, &e);
        r = render_at("{\"wan\": {\"tunnel_cidr\": \"10.8.0.0/29\", \"topology\": \"hub-spoke\"}, \"nodes\": ["
                      " {\"name\": \"h1\", \"role\": \"hub\", \"public_key\": \"%K0\", \"endpoint\": \"192.0.2.1\"},"
                      " {\"name\": \"h2\", \"role\": \"hub\", \"public_key\": \"%K1\", \"endpoint\": \"192.0.2.2\","
                      "  \"subnets\": [\"172.20.0.0/16\"]},"
                      " {\"name\": \"s1\", \"public_key\": \"%K2\", \"endpoint\": \"192.0.2.3\"},"
                      " {\"name\": \"s2\", \"public_key\": \"%K3\", \"endpoint\": \"192.0.2.4\", \"subnets\": [\"172.21.0.0/16\"]}]}",
                      st, NOW, &e);
        CHECK(r != NULL);
        if (!r) {
                fprintf(stderr, "two hubs: %s\n", e.msg);
                return;
        }
        check_envelopes(r);
        s1 = doc(r, "s1"), h2 = doc(r, "h2");
        /* the spoke peers both hubs; the first carries the transit range (without h2's address,
         * so no allowed IP is on two peers), the second only its own prefixes */
        CHECK(n_peers(s1) == 2);
        CHECK_ALLOWED(s1, "h1", "10.8.0.0/32 10.8.0.1/32 10.8.0.4/30 172.21.0.0/16");
        CHECK_ALLOWED(s1, "h2", "10.8.0.2/32 172.20.0.0/16");
        /* hubs peer every node, each with its own prefixes */
        CHECK(n_peers(h2) == 3);
        CHECK_ALLOWED(h2, "h1", "10.8.0.1/32");
        CHECK_ALLOWED(h2, "s2", "10.8.0.4/32 172.21.0.0/16");
        json_decref(s1), json_decref(h2);
        ctl_render_free(r);
        ctl_state_free(st);
}

static void test_errors(void) {
        struct ctl_state *st = NULL;
        struct wf_err e = {};
        struct ctl_render *r;

        ctl_state_load(NULL, &st, &e);
        r = render_at("{\"wan\": {\"tunnel_cidr\": \"10.3.0.0/24\"}, \"nodes\": [{\"name\": \"a\"},"
                      " {\"name\": \"site7\", \"subnets\": [{\"cidr\": \"10.3.0.128/25\", \"routed\": true}]}]}", st, NOW, &e);
        CHECK(r == NULL);
        CHECK_STR_CONTAINS(e.msg, "node site7");
        CHECK_STR_CONTAINS(e.msg, "10.3.0.128/25");
        CHECK_STR_CONTAINS(e.msg, "tunnel_cidr");

        /* a non-routed subnet overlapping the tunnel range is refused too */
        r = render_at("{\"wan\": {\"tunnel_cidr\": \"10.3.0.0/24\"}, \"nodes\": ["
                      " {\"name\": \"b\", \"subnets\": [{\"cidr\": \"10.0.0.0/8\", \"routed\": false}]}]}", st, NOW, &e);
        CHECK(r == NULL);
        CHECK_STR_CONTAINS(e.msg, "node b: subnet 10.0.0.0/8 overlaps tunnel_cidr");

        r = render_at("{\"wan\": {\"tunnel_cidr\": \"10.3.0.0/24\"}, \"nodes\": ["
                      " {\"name\": \"east\", \"subnets\": [{\"cidr\": \"192.168.0.0/16\", \"routed\": true}]},"
                      " {\"name\": \"west\", \"subnets\": [{\"cidr\": \"192.168.7.0/24\", \"routed\": true}]}]}", st, NOW, &e);
        CHECK(r == NULL);
        CHECK_STR_CONTAINS(e.msg, "node west");
        CHECK_STR_CONTAINS(e.msg, "192.168.7.0/24");
        CHECK_STR_CONTAINS(e.msg, "192.168.0.0/16 of node east");

        /* two overlapping subnets are fine when one is not routed (it is never an allowed IP) */
        r = render_at("{\"wan\": {\"tunnel_cidr\": \"10.3.0.0/24\"}, \"nodes\": ["
                      " {\"name\": \"east\", \"subnets\": [{\"cidr\": \"192.168.0.0/16\", \"routed\": true}]},"
                      " {\"name\": \"west\", \"subnets\": [{\"cidr\": \"192.168.7.0/24\", \"routed\": false}]}]}", st, NOW, &e);
        CHECK(r != NULL);
        ctl_render_free(r);

        r = render_at("{\"wan\": {\"tunnel_cidr\": \"10.3.0.0/24\"}, \"nodes\": [{\"name\": \"a\", \"tunnel_ip\": \"10.4.0.1\"}]}",
                      st, NOW, &e);
        CHECK(r == NULL);
        CHECK_STR_CONTAINS(e.msg, "node a: tunnel_ip 10.4.0.1 is outside tunnel_cidr");
        r = render_at("{\"wan\": {\"tunnel_cidr\": \"10.3.0.0/24\"}, \"nodes\": [{\"name\": \"a\"}, {\"name\": \"a\"}]}",
                      st, NOW, &e);
        CHECK(r == NULL);
        CHECK_STR_CONTAINS(e.msg, "node a: duplicate");
        r = render_at("{\"wan\": {\"tunnel_cidr\": \"10.3.0.0/30\"}, \"nodes\": [{\"name\": \"a\"}, {\"name\": \"b\"}, {\"name\": \"c\"}]}",
                      st, NOW, &e);
        CHECK(r == NULL);
        CHECK_STR_CONTAINS(e.msg, "node c: tunnel_cidr 10.3.0.0/30 has no free address");
        r = render_at("{\"wan\": {\"tunnel_cidr\": \"10.3.0.0/24\", \"topology\": \"ring\"}, \"nodes\": []}", st, NOW, &e);
        CHECK(r == NULL);
        CHECK_STR_CONTAINS(e.msg, "wan.topology");
        r = render_at("{\"wan\": {\"tunnel_cidr\": \"10.3.0.0/24\"}, \"nodes\": [{\"name\": \"a\", \"public_key\": \"nope\"}]}",
                      st, NOW, &e);
        CHECK(r == NULL);
        CHECK_STR_CONTAINS(e.msg, "node a: public_key");
        r = render_at("{\"wan\": {\"tunnel_cidr\": \"10.3.0.0/24\"}, \"nodes\": [{\"name\": \"../etc\"}]}", st, NOW, &e);
        CHECK(r == NULL);
        CHECK_STR_CONTAINS(e.msg, "nodes[0].name");
        r = render_at("{\"wan\": {\"tunnel_cidr\": \"10.3.0.0/24\"}, \"nodes\": ["
                      " {\"name\": \"lan\", \"subnets\": [\"198.51.100.0/24\"]},"
                      " {\"name\": \"far\", \"endpoint\": \"198.51.100.7:51820\"}]}", st, NOW, &e);
        CHECK(r == NULL);
        CHECK_STR_CONTAINS(e.msg, "node lan: routed subnet 198.51.100.0/24 contains the endpoint 198.51.100.7:51820 of node far");

        /* what the agent would refuse on every node is refused here, once (found by fuzz-ctl) */
        r = render_at("{\"wan\": {\"tunnel_cidr\": \"10.3.0.0/24\"}, \"nodes\": [{\"name\": \"a\", \"endpoint\": \"384.0.2.1\"}]}",
                      st, NOW, &e);
        CHECK(r == NULL);
        CHECK_STR_CONTAINS(e.msg, "node a: endpoint \"384.0.2.1\"");
        r = render_at("{\"wan\": {\"tunnel_cidr\": \"10.3.0.0/24\"}, \"nodes\": [{\"name\": \"m\", \"subnets\": [\"233.16.1.0/24\"]}]}",
                      st, NOW, &e);
        CHECK(r == NULL);
        CHECK_STR_CONTAINS(e.msg, "node m: routed subnet 233.16.1.0/24 is a multicast prefix (WireGuard carries unicast only)");
        r = render_at("{\"wan\": {\"tunnel_cidr\": \"10.3.0.0/24\", \"route_table\": 255}, \"nodes\": []}", st, NOW, &e);
        CHECK(r == NULL);
        CHECK_STR_CONTAINS(e.msg, "wan.route_table: 255 is the kernel's local table");
        r = render_at("{\"wan\": {\"tunnel_cidr\": \"10.3.0.0/24\"}, \"nodes\": [{\"name\": \"i\", \"interface\": \"\\u007fwg\"}]}",
                      st, NOW, &e);
        CHECK(r == NULL);
        CHECK_STR_CONTAINS(e.msg, "node i: interface");
        r = render_at("{\"wan\": {\"tunnel_cidr\": \"10.3.0.0/24\"} \"nodes\": []}", st, NOW, &e);
        CHECK(r == NULL);
        CHECK_STR_CONTAINS(e.msg, "inventory: line 1");

        /* wrong types and ranges: the JSON path and the value, as in documents */
        static const struct {
                const char *inv, *msg;
        } typed[] = {
                { "{\"wan\": {\"tunnel_cidr\": \"10.3.0.0/24\", \"listen_port\": 70000}, \"nodes\": []}",
                  "wan.listen_port: 70000 is not a port (1-65535)" },
                { "{\"wan\": {\"tunnel_cidr\": 10}, \"nodes\": []}", "wan.tunnel_cidr: 10 is not a string" },
                { "{\"wan\": {\"tunnel_cidr\": \"10.3.0.0/24\"}}", "nodes: is missing (required)" },
                { "[]", "inventory: an array is not a JSON object" },
                { "{\"wan\": {\"tunnel_cidr\": \"10.3.0.0/24\"}, \"nodes\": [{\"name\": \"a\", \"listen_port\": \"x\"}]}",
                  "nodes[0].listen_port: \"x\" is not an integer" },
                { "{\"wan\": {\"tunnel_cidr\": \"10.3.0.0/24\"}, \"nodes\": [{\"name\": \"a\", \"subnets\": [5]}]}",
                  "nodes[0].subnets[0]: 5 is not an object" },
                { "{\"wan\": {\"tunnel_cidr\": \"10.3.0.0/24\"}, \"nodes\": [{\"name\": \"a\","
                  " \"subnets\": [{\"cidr\": \"10.9.0.0/24\", \"routed\": \"yes\"}]}]}",
                  "nodes[0].subnets[0].routed: \"yes\" is not a boolean" },
        };
        for (size_t i = 0; i < ELEMENTSOF(typed); i++) {
                r = render_at(typed[i].inv, st, NOW, &e);
                CHECK(r == NULL);
                CHECK_STR_CONTAINS(e.msg, typed[i].msg);
        }
        ctl_state_free(st);
}

static const char *alloc_a =
        "{\"wan\": {\"tunnel_cidr\": \"10.5.0.0/29\"}, \"nodes\": [{\"name\": \"n1\", \"public_key\": \"%K0\"},"
        " {\"name\": \"n2\", \"public_key\": \"%K1\"}, {\"name\": \"n3\", \"public_key\": \"%K2\"}]}";
/* n0 inserted first, n2 removed, n4 pins an explicit address */
static const char *alloc_b =
        "{\"wan\": {\"tunnel_cidr\": \"10.5.0.0/29\"}, \"nodes\": [{\"name\": \"n0\", \"public_key\": \"%K3\"},"
        " {\"name\": \"n1\", \"public_key\": \"%K0\"}, {\"name\": \"n3\", \"public_key\": \"%K2\"},"
        " {\"name\": \"n4\", \"public_key\": \"%K4\", \"tunnel_ip\": \"10.5.0.6\"}]}";

static const char *addr_of(const struct ctl_render *r, const char *node) {
        static char buf[64];
        json_t *d = doc(r, node);

        snprintf(buf, sizeof(buf), "%s", d ? json_string_value(json_array_get(json_object_get(iface(d), "addresses"), 0)) : "-");
        json_decref(d);
        return buf;
}

static void test_allocation_and_revisions(void) {
        char dir[] = "/tmp/wfc-test-state-XXXXXX";
        struct ctl_state *st = NULL;
        struct wf_err e = {};
        struct ctl_render *r1, *r2, *r3, *r4;
        char envelope_n1[4096];

        CHECK(mkdtemp(dir) != NULL);
        CHECK(ctl_state_load(dir, &st, &e) >= 0);
        r1 = render_at(alloc_a, st, NOW, &e);
        CHECK(r1 && ctl_state_save(st, &e) >= 0);
        ctl_state_free(st);
        if (!r1)
                return;
        CHECK(strcmp(addr_of(r1, "n1"), "10.5.0.1/32") == 0);
        CHECK(strcmp(addr_of(r1, "n3"), "10.5.0.3/32") == 0);
        CHECK(ctl_render_find(r1, "n1")->revision == NOW && ctl_render_find(r1, "n1")->changed);
        snprintf(envelope_n1, sizeof(envelope_n1), "%s", ctl_render_find(r1, "n1")->envelope);

        /* unchanged inventory, a day later, state reloaded from disk: byte-identical, no revision moves */
        CHECK(ctl_state_load(dir, &st, &e) >= 0);
        r2 = render_at(alloc_a, st, NOW + DAY, &e);
        CHECK(r2 != NULL);
        for (size_t i = 0; r2 && i < r2->n_nodes; i++) {
                CHECK(!r2->nodes[i].changed);
                CHECK(r2->nodes[i].revision == r1->nodes[i].revision);
                CHECK(strcmp(r2->nodes[i].etag, r1->nodes[i].etag) == 0);
        }
        CHECK(r2 && strcmp(ctl_render_find(r2, "n1")->envelope, envelope_n1) == 0);

        /* insert, remove, pin: the survivors keep their addresses; n0 takes the lowest free one */
        r3 = render_at(alloc_b, st, NOW + 2 * DAY, &e);
        CHECK(r3 != NULL);
        if (!r3) {
                fprintf(stderr, "alloc_b: %s\n", e.msg);
                goto out;
        }
        check_envelopes(r3);
        CHECK(strcmp(addr_of(r3, "n1"), "10.5.0.1/32") == 0);
        CHECK(strcmp(addr_of(r3, "n3"), "10.5.0.3/32") == 0);
        CHECK(strcmp(addr_of(r3, "n0"), "10.5.0.2/32") == 0);
        CHECK(strcmp(addr_of(r3, "n4"), "10.5.0.6/32") == 0);
        CHECK(ctl_state_allocation(st, CTL_ALLOC, "n2") == NULL);
        CHECK(strcmp(ctl_state_allocation(st, CTL_ALLOC, "n4"), "10.5.0.6") == 0);
        /* n1's peers changed: a new revision, strictly greater */
        CHECK(ctl_render_find(r3, "n1")->changed);
        CHECK(ctl_render_find(r3, "n1")->revision > ctl_render_find(r1, "n1")->revision);
        CHECK(ctl_state_save(st, &e) >= 0);

        /* a change in the same second still increases the revision */
        r4 = render_at(alloc_a, st, NOW + 2 * DAY, &e);
        CHECK(r4 && ctl_render_find(r4, "n1")->revision == ctl_render_find(r3, "n1")->revision + 1);
        ctl_render_free(r4);
        r4 = render_at(alloc_b, st, NOW + 2 * DAY + 1, &e);
        ctl_render_free(r4);

        /* past half the validity (15 of 30 days) an unchanged document is reissued */
        r4 = render_at(alloc_b, st, NOW + 18 * DAY, &e);
        CHECK(r4 && ctl_render_find(r4, "n1")->changed);
        CHECK(r4 && ctl_render_find(r4, "n1")->revision == NOW + 18 * DAY);
        ctl_render_free(r4);
out:
        ctl_render_free(r1);
        ctl_render_free(r2);
        ctl_render_free(r3);
        ctl_state_free(st);
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        CHECK(system(cmd) == 0);
}

static void test_subnet_change_revisions(void) {
        struct ctl_state *st = NULL;
        struct wf_err e = {};
        struct ctl_render *r1, *r2;

        ctl_state_load(NULL, &st, &e);
        r1 = render_at(hubspoke_fmt, st, NOW, &e);
        /* a new routed subnet on s1: the hub and the other spokes change, s1's own document not */
        char *fmt2 = strdup(hubspoke_fmt);
        char *p = strstr(fmt2, "172.16.1.0/24");
        memcpy(p, "172.16.9.0/24", 13);
        r2 = render_at(fmt2, st, NOW + 60, &e);
        free(fmt2);
        CHECK(r1 && r2);
        if (r1 && r2) {
                CHECK(!ctl_render_find(r2, "s1")->changed);
                CHECK(ctl_render_find(r2, "s1")->revision == ctl_render_find(r1, "s1")->revision);
                CHECK(ctl_render_find(r2, "hub")->changed && ctl_render_find(r2, "s2")->changed &&
                      ctl_render_find(r2, "cgn")->changed);
                CHECK(ctl_render_find(r2, "hub")->revision == NOW + 60);
                json_t *hub = doc(r2, "hub");
                CHECK_ALLOWED(hub, "s1", "10.2.0.1/32 172.16.9.0/24");
                json_decref(hub);
        }
        ctl_render_free(r1);
        ctl_render_free(r2);

        /* a new spoke without subnets: only the hub's document changes (the spokes already
         * route the whole tunnel range through it), plus the new spoke's own */
        r1 = render_at(hubspoke_fmt, st, NOW + 100, &e);
        char *fmt3 = strdup(hubspoke_fmt);
        fmt3[strlen(fmt3) - 2] = '\0'; /* drop the closing "]}" */
        char *fmt4 = NULL;
        CHECK(asprintf(&fmt4, "%s, {\"name\": \"s9\", \"public_key\": \"%%K7\", \"endpoint\": \"198.51.100.19\"}]}", fmt3) > 0);
        r2 = render_at(fmt4, st, NOW + 160, &e);
        free(fmt3);
        free(fmt4);
        CHECK(r1 && r2);
        if (r1 && r2) {
                CHECK(ctl_render_find(r2, "hub")->changed);
                CHECK(ctl_render_find(r2, "s9")->changed);
                CHECK(!ctl_render_find(r2, "s1")->changed && !ctl_render_find(r2, "s2")->changed &&
                      !ctl_render_find(r2, "cgn")->changed);
                json_t *s9 = doc(r2, "s9");
                CHECK(n_peers(s9) == 1);
                CHECK_ALLOWED(s9, "hub", "10.2.0.0/31 10.2.0.2/32 10.2.0.3/32 10.2.0.4/32 10.2.0.6/31 10.2.0.8/29 "
                                         "10.2.0.16/28 10.2.0.32/27 10.2.0.64/26 10.2.0.128/25 172.16.0.0/24 "
                                         "172.16.1.0/24 172.16.2.0/24");
                json_decref(s9);
        }
        ctl_render_free(r1);
        ctl_render_free(r2);
        ctl_state_free(st);
}

static void test_enrolment(void) {
        struct ctl_state *st = NULL;
        struct wf_err e = {};
        struct ctl_render *r;
        const char *fmt = "{\"wan\": {\"tunnel_cidr\": \"10.6.0.0/24\"}, \"nodes\": ["
                          "{\"name\": \"a\", \"public_key\": \"%K0\", \"endpoint\": \"192.0.2.1\"},"
                          "{\"name\": \"b\", \"public_key\": \"%K1\", \"endpoint\": \"192.0.2.2\"},"
                          "{\"name\": \"late\", \"endpoint\": \"192.0.2.3\"}]}";
        json_t *a, *late;
        uint64_t rev_a;

        ctl_state_load(NULL, &st, &e);
        r = render_at(fmt, st, NOW, &e);
        CHECK(r != NULL);
        if (!r)
                return;
        check_envelopes(r);
        CHECK_STR_CONTAINS(warnings, "node late: no public key yet");
        a = doc(r, "a"), late = doc(r, "late");
        CHECK(n_peers(a) == 1 && !peer(a, "late"));
        /* the unenrolled node still gets its own document (it needs it to come up), without a key */
        CHECK(late && n_peers(late) == 2 && !json_object_get(iface(late), "public_key"));
        rev_a = ctl_render_find(r, "a")->revision;
        json_decref(a), json_decref(late);
        ctl_render_free(r);

        uint8_t k[32];
        memset(k, 0x77, sizeof(k));
        CHECK(ctl_state_set_enrolled(st, "late", k) >= 0);
        r = render_at(fmt, st, NOW + 5, &e);
        CHECK(r != NULL);
        if (!r)
                return;
        a = doc(r, "a"), late = doc(r, "late");
        CHECK(n_peers(a) == 2 && peer(a, "late"));
        CHECK(ctl_render_find(r, "a")->revision > rev_a);
        char b64[45];
        wf_key_to_b64(k, b64);
        CHECK(late && strcmp(json_string_value(json_object_get(iface(late), "public_key")), b64) == 0);
        json_decref(a), json_decref(late);
        ctl_render_free(r);
        ctl_state_free(st);
}

static void test_dual_stack(void) {
        struct ctl_state *st = NULL;
        struct wf_err e = {};
        struct ctl_render *r;
        json_t *a;

        ctl_state_load(NULL, &st, &e);
        r = render_at("{\"wan\": {\"tunnel_cidr\": \"10.7.0.0/24\", \"tunnel_cidr6\": \"fd99::/64\"}, \"nodes\": ["
                      " {\"name\": \"a\", \"public_key\": \"%K0\", \"endpoint\": \"192.0.2.1\"},"
                      " {\"name\": \"b\", \"public_key\": \"%K1\", \"tunnel_ip6\": \"fd99::10\","
                      "  \"subnets\": [\"2001:db8:b::/48\"]}]}", st, NOW, &e);
        CHECK(r != NULL);
        if (!r) {
                fprintf(stderr, "dual stack: %s\n", e.msg);
                return;
        }
        check_envelopes(r);
        a = doc(r, "a");
        CHECK(json_array_size(json_object_get(iface(a), "addresses")) == 2);
        CHECK(strcmp(json_string_value(json_array_get(json_object_get(iface(a), "addresses"), 1)), "fd99::1/128") == 0);
        CHECK_ALLOWED(a, "b", "10.7.0.2/32 2001:db8:b::/48 fd99::10/128");
        CHECK(strcmp(ctl_state_allocation(st, CTL_ALLOC6, "a"), "fd99::1") == 0);
        json_decref(a);
        ctl_render_free(r);

        r = render_at("{\"wan\": {\"tunnel_cidr\": \"10.7.0.0/24\", \"tunnel_cidr6\": \"fd99::/64\"}, \"nodes\": ["
                      " {\"name\": \"c\", \"subnets\": [\"fd99::/56\"]}]}", st, NOW, &e);
        CHECK(r == NULL);
        CHECK_STR_CONTAINS(e.msg, "node c: subnet fd99::/56 overlaps tunnel_cidr6 fd99::/64");

        /* two CGNAT nodes in a mesh cannot reach each other: warned */
        r = render_at("{\"wan\": {\"tunnel_cidr\": \"10.7.0.0/24\"}, \"nodes\": [{\"name\": \"x\"}, {\"name\": \"y\"}]}",
                      st, NOW, &e);
        CHECK(r != NULL);
        CHECK_STR_CONTAINS(warnings, "2 nodes without endpoint in a mesh cannot reach each other");
        ctl_render_free(r);
        ctl_state_free(st);
}

/* endpoint_alt, exits, exit_policy, exit_primary and exit_sources rendered into documents. */
static void test_exits(void) {
        struct ctl_state *st = NULL;
        struct wf_err e = {};
        struct ctl_render *r;
        json_t *c, *g1, *v;

        ctl_state_load(NULL, &st, &e);
        r = render_at("{\"wan\": {\"tunnel_cidr\": \"10.8.0.0/24\", \"exit_policy\": \"latency\", \"exit_primary\": \"g2\"},"
                      " \"nodes\": [{\"name\": \"g1\", \"public_key\": \"%K0\", \"endpoint\": \"192.0.2.1\","
                      "  \"endpoint_alt\": [\"192.0.2.101\", \"gw1.example.net:4500\"], \"exit\": {\"out_interface\": \"eth0\"}},"
                      " {\"name\": \"g2\", \"public_key\": \"%K1\", \"endpoint\": \"192.0.2.2\", \"exit\": {\"out_interface\": \"eth0\"}},"
                      " {\"name\": \"c\", \"public_key\": \"%K2\","
                      "  \"exit_sources\": [\"192.168.50.0/24\"]}]}", st, NOW, &e);
        CHECK(r != NULL);
        if (!r) {
                fprintf(stderr, "exits: %s\n", e.msg);
                ctl_state_free(st);
                return;
        }
        check_envelopes(r);
        c = doc(r, "c"), g1 = doc(r, "g1");
        CHECK_ALLOWED(c, "g1", "0.0.0.0/0 10.8.0.1/32");
        CHECK_ALLOWED(c, "g2", "0.0.0.0/0 10.8.0.2/32");
        v = json_object_get(peer(c, "g1"), "endpoint_alt");
        CHECK(json_array_size(v) == 2 && strcmp(json_string_value(json_array_get(v, 0)), "192.0.2.101:51820") == 0 &&
              strcmp(json_string_value(json_array_get(v, 1)), "gw1.example.net:4500") == 0);
        v = json_object_get(iface(c), "exit");
        CHECK(json_array_size(v) == 2 && strcmp(json_string_value(json_array_get(v, 0)), "g1") == 0);
        CHECK(strcmp(json_string_value(json_object_get(iface(c), "exit_policy")), "latency") == 0);
        CHECK(strcmp(json_string_value(json_object_get(iface(c), "exit_primary")), "g2") == 0);
        CHECK(strcmp(json_string_value(json_array_get(json_object_get(iface(c), "exit_sources"), 0)), "192.168.50.0/24") == 0);
        /* an exit peering another exit uses it too; exit_primary only where it is an exit */
        CHECK(strcmp(json_string_value(json_object_get(iface(g1), "exit_policy")), "latency") == 0);
        CHECK(strcmp(json_string_value(json_object_get(iface(g1), "exit_primary")), "g2") == 0);
        CHECK(!json_object_get(iface(g1), "exit_sources"));
        json_decref(c), json_decref(g1);
        ctl_render_free(r);

        r = render_at("{\"wan\": {\"tunnel_cidr\": \"10.8.0.0/24\", \"exit_primary\": \"c\"},"
                      " \"nodes\": [{\"name\": \"c\"}]}", st, NOW, &e);
        CHECK(r == NULL);
        CHECK_STR_CONTAINS(e.msg, "wan.exit_primary: \"c\" is not an exit node (one with \"exit\")");
        r = render_at("{\"wan\": {\"tunnel_cidr\": \"10.8.0.0/24\", \"exit_policy\": \"fastest\"}, \"nodes\": []}", st, NOW, &e);
        CHECK(r == NULL);
        CHECK_STR_CONTAINS(e.msg, "wan.exit_policy: \"fastest\" is not \"latency\" or \"manual\"");
        r = render_at("{\"wan\": {\"tunnel_cidr\": \"10.8.0.0/24\"}, \"nodes\": [{\"name\": \"c\", \"endpoint_alt\": [\"192.0.2.9\"]}]}",
                      st, NOW, &e);
        CHECK(r == NULL);
        CHECK_STR_CONTAINS(e.msg, "node c: endpoint_alt without endpoint");
        r = render_at("{\"wan\": {\"tunnel_cidr\": \"10.8.0.0/24\"}, \"nodes\": [{\"name\": \"c\","
                      " \"exit_sources\": [\"0.0.0.0/0\"]}]}", st, NOW, &e);
        CHECK(r == NULL);
        CHECK_STR_CONTAINS(e.msg, "node c: exit_sources \"0.0.0.0/0\" is every source");
        r = render_at("{\"wan\": {\"tunnel_cidr\": \"10.8.0.0/24\"}, \"nodes\": [{\"name\": \"c\", \"endpoint\": \"192.0.2.3\","
                      " \"endpoint_alt\": [\"384.0.2.1\"]}]}", st, NOW, &e);
        CHECK(r == NULL);
        CHECK_STR_CONTAINS(e.msg, "node c: endpoint_alt \"384.0.2.1\"");
        ctl_state_free(st);
}

/* Gateways (docs/inventory.md "Gateways"): two sites with the same LAN (one auto_nat, one with
 * a given nat), a published service, a hub that is also the exit. */
static const char *gw_fmt =
        "{\"wan\": {\"tunnel_cidr\": \"10.99.0.0/24\", \"topology\": \"hub-spoke\", \"services_cidr\": \"10.0.5.0/24\"},"
        " \"nodes\": ["
        "  {\"name\": \"hub\", \"role\": \"hub\", \"endpoint\": \"203.0.113.1\", \"public_key\": \"%K0\","
        "   \"exit\": {\"out_interface\": \"eth0\"}},"
        "  %EXTRA"
        "  {\"name\": \"a\", \"endpoint\": \"198.51.100.7\", \"public_key\": \"%K1\","
        "   \"subnets\": [{\"cidr\": \"192.168.1.0/24\", \"auto_nat\": true}],"
        "   \"services\": [{\"name\": \"nas-web\", \"protocol\": \"tcp\", \"port\": 443, \"target\": \"192.168.1.10:8443\"}]},"
        "  {\"name\": \"b\", \"endpoint\": \"198.51.100.8\", \"public_key\": \"%K2\","
        "   \"subnets\": [{\"cidr\": \"192.168.1.0/24\", \"nat\": \"172.20.1.0/24\"}]},"
        "  {\"name\": \"c\", \"public_key\": \"%K3\"}]}";

static char *gw_inventory(const char *extra) {
        static char buf[4096];
        const char *at = strstr(gw_fmt, "%EXTRA");

        snprintf(buf, sizeof buf, "%.*s%s%s", (int)(at - gw_fmt), gw_fmt, extra, at + 6);
        return buf;
}

static const char *dump(json_t *v) {
        static char buf[1024];
        char *s = v ? json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) : NULL;

        snprintf(buf, sizeof buf, "%s", s ? s : "(absent)");
        free(s);
        return buf;
}

#define CHECK_JSON(v, want)                                                                       \
        do {                                                                                      \
                const char *_got = dump(v);                                                       \
                if (strcmp(_got, want) != 0) {                                                    \
                        fprintf(stderr, "%s:%d: got %s, want %s\n", __FILE__, __LINE__, _got, want); \
                        tap_failures++;                                                           \
                }                                                                                 \
        } while (0)

static void test_gateways(void) {
        struct ctl_state *st = NULL;
        struct wf_err e = {};
        struct ctl_render *r;
        json_t *d;

        ctl_state_load(NULL, &st, &e);
        r = render_at(gw_inventory(""), st, NOW, &e);
        if (!r)
                fprintf(stderr, "gateway render: %s\n", e.msg);
        CHECK(r != NULL);
        check_envelopes(r);

        d = doc(r, "hub");
        CHECK_JSON(json_object_get(iface(d), "forwarding"), "true");
        CHECK_JSON(json_object_get(iface(d), "masquerade"), "{\"out_interface\":\"eth0\"}");
        CHECK_JSON(json_object_get(iface(d), "netmap"), "(absent)");
        CHECK_JSON(json_object_get(iface(d), "exit"), "(absent)");
        CHECK_ALLOWED(d, "a", "10.0.5.1/32 10.99.0.2/32 172.16.0.0/24");
        CHECK_ALLOWED(d, "b", "10.99.0.3/32 172.20.1.0/24");
        json_decref(d);

        d = doc(r, "a");
        CHECK_JSON(json_object_get(iface(d), "forwarding"), "true");
        CHECK_JSON(json_object_get(iface(d), "masquerade"), "(absent)");
        CHECK_JSON(json_object_get(iface(d), "netmap"), "[{\"local\":\"192.168.1.0/24\",\"overlay\":\"172.16.0.0/24\"}]");
        CHECK_JSON(json_object_get(iface(d), "services"),
                   "[{\"address\":\"10.0.5.1\",\"name\":\"nas-web\",\"port\":443,\"protocol\":\"tcp\",\"target\":\"192.168.1.10:8443\"}]");
        CHECK_JSON(json_object_get(iface(d), "exit"), "[\"hub\"]");
        /* b's LAN as b's overlay prefix; the tunnel range minus a's own address */
        CHECK_ALLOWED(d, "hub", "0.0.0.0/0 10.99.0.0/32 10.99.0.1/32 10.99.0.3/32 10.99.0.4/30 10.99.0.8/29 "
                                "10.99.0.16/28 10.99.0.32/27 10.99.0.64/26 10.99.0.128/25 172.20.1.0/24");
        json_decref(d);

        d = doc(r, "b");
        CHECK_JSON(json_object_get(iface(d), "netmap"), "[{\"local\":\"192.168.1.0/24\",\"overlay\":\"172.20.1.0/24\"}]");
        CHECK_JSON(json_object_get(iface(d), "services"), "(absent)");
        CHECK_STR_CONTAINS(allowed(d, "hub"), "10.0.5.1/32 10.99.0.0/32");
        CHECK_STR_CONTAINS(allowed(d, "hub"), " 172.16.0.0/24");
        json_decref(d);

        d = doc(r, "c");
        CHECK_JSON(json_object_get(iface(d), "forwarding"), "(absent)");
        CHECK_JSON(json_object_get(iface(d), "exit"), "[\"hub\"]");
        CHECK_STR_CONTAINS(allowed(d, "hub"), "0.0.0.0/0 10.0.5.1/32 ");
        CHECK_STR_CONTAINS(allowed(d, "hub"), " 172.16.0.0/24 172.20.1.0/24");
        json_decref(d);
        CHECK_STR_CONTAINS(ctl_state_allocation(st, "nat", "a 192.168.1.0/24") ? ctl_state_allocation(st, "nat", "a 192.168.1.0/24") : "", "172.16.0.0/24");
        CHECK_STR_CONTAINS(ctl_state_allocation(st, "services", "a/nas-web") ? ctl_state_allocation(st, "services", "a/nas-web") : "", "10.0.5.1");
        ctl_render_free(r);

        /* a third site with the same LAN, listed before a, and a service with its address given:
         * a keeps its prefix and its service address (state), the newcomer gets the next ones */
        r = render_at(gw_inventory("{\"name\": \"d\", \"endpoint\": \"198.51.100.9\", \"public_key\": \"%K4\","
                                   " \"subnets\": [{\"cidr\": \"192.168.1.0/24\", \"auto_nat\": true}],"
                                   " \"services\": [{\"name\": \"dns\", \"protocol\": \"udp\", \"port\": 53,"
                                   " \"target\": \"192.168.1.1:53\"}, {\"name\": \"ssh\", \"protocol\": \"tcp\","
                                   " \"port\": 22, \"target\": \"192.168.1.2:22\", \"address\": \"10.0.5.9\"}]},"),
                      st, NOW + 60, &e);
        if (!r)
                fprintf(stderr, "gateway render 2: %s\n", e.msg);
        CHECK(r != NULL);
        check_envelopes(r);
        d = doc(r, "a");
        CHECK_JSON(json_object_get(iface(d), "netmap"), "[{\"local\":\"192.168.1.0/24\",\"overlay\":\"172.16.0.0/24\"}]");
        json_decref(d);
        d = doc(r, "d");
        CHECK_JSON(json_object_get(iface(d), "netmap"), "[{\"local\":\"192.168.1.0/24\",\"overlay\":\"172.16.1.0/24\"}]");
        CHECK_JSON(json_object_get(iface(d), "services"),
                   "[{\"address\":\"10.0.5.2\",\"name\":\"dns\",\"port\":53,\"protocol\":\"udp\",\"target\":\"192.168.1.1:53\"},"
                   "{\"address\":\"10.0.5.9\",\"name\":\"ssh\",\"port\":22,\"protocol\":\"tcp\",\"target\":\"192.168.1.2:22\"}]");
        json_decref(d);
        d = doc(r, "hub");
        CHECK_ALLOWED(d, "d", "10.0.5.2/32 10.0.5.9/32 10.99.0.5/32 172.16.1.0/24");
        CHECK_ALLOWED(d, "a", "10.0.5.1/32 10.99.0.2/32 172.16.0.0/24");
        json_decref(d);
        ctl_render_free(r);
        ctl_state_free(st);
}

static void check_refused(const char *inv, const char *want) {
        struct ctl_state *st = NULL;
        struct wf_err e = {};
        struct ctl_render *r;

        ctl_state_load(NULL, &st, &e);
        r = render_at(inv, st, NOW, &e);
        CHECK(r == NULL);
        CHECK(strchr(e.msg, '\n') == NULL);
        CHECK_STR_CONTAINS(e.msg, want);
        ctl_render_free(r);
        ctl_state_free(st);
}

static void test_gateway_errors(void) {
#define W(x) "{\"wan\": {\"tunnel_cidr\": \"10.99.0.0/24\"" x
        check_refused(W(", \"services_cidr\": \"10.0.5.0/24\"}, \"nodes\": [{\"name\": \"a\", \"subnets\": [\"10.0.5.0/25\"]}]}"),
                      "node a: subnet 10.0.5.0/25 overlaps services_cidr 10.0.5.0/24");
        check_refused(W(", \"services_cidr\": \"10.99.0.0/16\"}, \"nodes\": [{\"name\": \"a\"}]}"),
                      "wan: services_cidr 10.99.0.0/16 overlaps the tunnel range");
        check_refused(W(", \"nat_pool\": \"172.16.0.0/33\"}, \"nodes\": []}"), "wan.nat_pool: \"172.16.0.0/33\"");
        check_refused(W("}, \"nodes\": [{\"name\": \"a\", \"subnets\": [\"192.168.1.0/24\"]},"
                        " {\"name\": \"b\", \"subnets\": [\"192.168.1.0/24\"]}]}"),
                      "node b: routed subnet 192.168.1.0/24 overlaps routed subnet 192.168.1.0/24 of node a");
        check_refused(W("}, \"nodes\": [{\"name\": \"a\", \"subnets\": [\"10.1.0.0/16\"]},"
                        " {\"name\": \"b\", \"subnets\": [{\"cidr\": \"192.168.1.0/24\", \"nat\": \"10.1.2.0/24\"}]}]}"),
                      "node b: subnet 192.168.1.0/24: nat 10.1.2.0/24 overlaps subnet 10.1.0.0/16 of node a");
        check_refused(W("}, \"nodes\": [{\"name\": \"a\", \"subnets\": [{\"cidr\": \"192.168.1.0/24\", \"nat\": \"172.20.1.0/25\"}]}]}"),
                      "nodes[0].subnets[0].nat: \"172.20.1.0/25\" is not the same family and prefix length as cidr 192.168.1.0/24");
        check_refused(W(", \"nat_pool\": \"172.16.0.0/24\"}, \"nodes\": [{\"name\": \"a\", \"subnets\": [{\"cidr\": \"192.168.1.0/24\", \"auto_nat\": true}]},"
                        " {\"name\": \"b\", \"subnets\": [{\"cidr\": \"192.168.1.0/24\", \"auto_nat\": true}]}]}"),
                      "node b: subnet 192.168.1.0/24: nat_pool 172.16.0.0/24 has no free /24 left");
        check_refused(W("}, \"nodes\": [{\"name\": \"a\", \"services\": [{\"name\": \"web\", \"protocol\": \"tcp\", \"port\": 80,"
                        " \"target\": \"192.168.1.10:80\"}]}]}"),
                      "node a: service web has no address and wan.services_cidr is not set");
        check_refused(W(", \"services_cidr\": \"10.0.5.0/24\"}, \"nodes\": [{\"name\": \"a\", \"services\": [{\"name\": \"web\","
                        " \"protocol\": \"icmp\", \"port\": 80, \"target\": \"192.168.1.10:80\"}]}]}"),
                      "nodes[0].services[0].protocol: \"icmp\" is not \"tcp\" or \"udp\"");
        check_refused(W(", \"services_cidr\": \"10.0.5.0/24\"}, \"nodes\": [{\"name\": \"a\", \"services\": [{\"name\": \"web\","
                        " \"protocol\": \"tcp\", \"port\": 80, \"target\": \"nas:80\"}]}]}"),
                      "nodes[0].services[0].target: \"nas:80\" is not a literal ip:port");
        check_refused(W("}, \"nodes\": [{\"name\": \"a\", \"services\": [{\"name\": \"web\", \"protocol\": \"tcp\", \"port\": 80,"
                        " \"target\": \"192.168.1.10:80\", \"address\": \"10.0.5.7\"}]},"
                        " {\"name\": \"b\", \"services\": [{\"name\": \"www\", \"protocol\": \"tcp\", \"port\": 443,"
                        " \"target\": \"192.168.2.10:443\", \"address\": \"10.0.5.7\"}]}]}"),
                      "node b: service www address 10.0.5.7/32 is also service web of node a");
        check_refused(W("}, \"nodes\": [{\"name\": \"a\", \"exit\": {\"out_interface\": \"wg0\"}}]}"),
                      "nodes[0].exit.out_interface: \"wg0\" is the node's WireGuard interface");
#undef W
}

int main(void) {
        CHECK(sodium_init() >= 0);
        crypto_sign_keypair(pk, sk);
        for (int i = 0; i < 8; i++) {
                uint8_t k[32];
                memset(k, 0x10 + i, sizeof(k));
                wf_key_to_b64(k, keys[i]);
        }
        test_mesh();
        test_hub_spoke_and_cgnat();
        test_two_hubs();
        test_errors();
        test_allocation_and_revisions();
        test_subnet_change_revisions();
        test_enrolment();
        test_dual_stack();
        test_exits();
        test_gateways();
        test_gateway_errors();
        return TAP_DONE();
}
