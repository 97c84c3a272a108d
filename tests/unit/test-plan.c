/* SPDX-License-Identifier: MIT */
/* The planner on hand-built target and live states. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "plan.h"
#include "tap.h"
#include "util.h"

#define NPEERS 4

static void sa4(struct sockaddr_storage *ss, const char *ip, uint16_t port) {
        struct sockaddr_in *s = (struct sockaddr_in *)ss;

        memset(ss, 0, sizeof(*ss));
        s->sin_family = AF_INET;
        s->sin_port = htons(port);
        inet_pton(AF_INET, ip, &s->sin_addr);
}

/* A fixture: an interface with NPEERS peers, each with two allowed IPs 10.<i>.0.0/24 and
 * fd00:<i>::/64, and the live state that matches it exactly. */
struct fx {
        struct wf_iface iface;
        struct wf_peer peers[NPEERS];
        struct wf_prefix aips[NPEERS][4];
        struct wf_prefix addrs[2];
        struct plan_peer tpeers[NPEERS];
        struct plan_target t;
        struct wf_live_iface live;
        struct wf_live_peer lpeers[NPEERS];
        struct wf_prefix laips[NPEERS][4];
        struct wf_live_route lroutes[2 * NPEERS + 2];
        struct wf_prefix laddrs[2];
};

static void fx_init(struct fx *f) {
        char buf[64];

        memset(f, 0, sizeof(*f));
        f->iface.name = (char *)"wflp0";
        f->iface.listen_port = 51820;
        f->iface.route_table = 254;
        f->iface.route_metric = 10;
        f->addrs[0] = tap_prefix("10.200.0.1/32");
        f->addrs[1] = tap_prefix("fd00:200::1/128");
        f->iface.addresses = f->addrs;
        f->iface.n_addresses = 2;
        f->iface.peers = f->peers;
        f->iface.n_peers = NPEERS;
        f->t.iface = &f->iface;
        f->t.has_private_key = true;
        memset(f->t.private_key, 0x11, 32);
        memset(f->t.public_key, 0x22, 32);
        f->t.peers = f->tpeers;
        f->t.n_peers = NPEERS;

        f->live.name = (char *)"wflp0";
        f->live.exists = true;
        f->live.up = true;
        f->live.mtu = 1420;
        f->live.has_private_key = true;
        memset(f->live.public_key, 0x22, 32);
        f->live.listen_port = 51820;
        memcpy(f->laddrs, f->addrs, sizeof(f->addrs));
        f->live.addresses = f->laddrs;
        f->live.n_addresses = 2;
        f->live.peers = f->lpeers;
        f->live.n_peers = NPEERS;
        f->live.routes = f->lroutes;

        for (int i = 0; i < NPEERS; i++) {
                struct wf_peer *p = &f->peers[i];
                static char names[NPEERS][8];
                snprintf(names[i], sizeof(names[i]), "p%d", i);
                p->name = names[i];
                /* keys in reverse order of index, so sorting matters */
                memset(p->public_key, 0xf0 - i, 32);
                p->persistent_keepalive = -1;
                snprintf(buf, sizeof(buf), "10.%d.0.0/24", i + 1);
                f->aips[i][0] = tap_prefix(buf);
                snprintf(buf, sizeof(buf), "fd00:%d::/64", i + 1);
                f->aips[i][1] = tap_prefix(buf);
                p->allowed_ips = f->aips[i];
                p->n_allowed_ips = 2;
                f->tpeers[i].peer = p;
                sa4(&f->tpeers[i].endpoint, "192.0.2.1", (uint16_t)(51000 + i));

                /* live, stored in a different order */
                struct wf_live_peer *l = &f->lpeers[NPEERS - 1 - i];
                memcpy(l->public_key, p->public_key, 32);
                l->endpoint = f->tpeers[i].endpoint;
                /* live allowed IPs in the opposite order */
                f->laips[i][0] = f->aips[i][1];
                f->laips[i][1] = f->aips[i][0];
                l->allowed_ips = f->laips[i];
                l->n_allowed_ips = 2;
                l->last_handshake = 1000;
                for (int k = 0; k < 2; k++)
                        f->lroutes[f->live.n_routes++] = (struct wf_live_route){
                                .dst = f->aips[i][k], .table = 254, .metric = 10,
                                .protocol = WF_RTPROT, .ours = true, .ifindex = 7 };
        }
}

static size_t count(const struct plan *p, enum plan_op_kind k) {
        size_t n = 0;
        for (size_t i = 0; i < p->n_ops; i++)
                n += p->ops[i].kind == k;
        return n;
}

static const struct plan_op *find(const struct plan *p, enum plan_op_kind k) {
        for (size_t i = 0; i < p->n_ops; i++)
                if (p->ops[i].kind == k)
                        return &p->ops[i];
        return NULL;
}

static char *text(const struct plan *p) {
        static char buf[8192];
        FILE *f = fmemopen(buf, sizeof(buf), "w");
        plan_print_text(p, f);
        fclose(f);
        return buf;
}

static void test_noop(void) {
        struct fx f;
        struct plan p;
        json_t *a = json_array();

        fx_init(&f);
        CHECK(plan_compute(&f.t, &f.live, &p) == 0);
        CHECK(p.n_ops == 0);
        CHECK(plan_changes(&p) == 0);
        CHECK(plan_to_json(&p, a) == 0);
        CHECK(json_array_size(a) == 0);
        CHECK(strcmp(text(&p), "") == 0);
        json_decref(a);
        plan_done(&p);
}

static void test_one_changed_peer(void) {
        struct fx f;
        struct plan p;
        const struct plan_op *op;

        fx_init(&f);
        sa4(&f.tpeers[2].endpoint, "198.51.100.7", 51820);
        CHECK(plan_compute(&f.t, &f.live, &p) == 0);
        CHECK(p.n_ops == 1);
        op = find(&p, PLAN_PEER_UPDATE);
        CHECK(op && op->flags == PLAN_PEER_ENDPOINT);
        CHECK(op && op->peer == &f.tpeers[2]);
        CHECK(op && memcmp(op->live_peer->public_key, f.peers[2].public_key, 32) == 0);
        CHECK_STR_CONTAINS(text(&p), "wflp0: update peer p2 [");
        CHECK_STR_CONTAINS(text(&p), "(endpoint 198.51.100.7:51820)");
        plan_done(&p);

        /* keepalive and preshared key, flagged alone */
        fx_init(&f);
        f.peers[1].persistent_keepalive = 25;
        f.tpeers[3].has_preshared_key = true;
        memset(f.tpeers[3].preshared_key, 0x33, 32);
        CHECK(plan_compute(&f.t, &f.live, &p) == 0);
        CHECK(p.n_ops == 2);
        for (size_t i = 0; i < p.n_ops; i++) {
                CHECK(p.ops[i].kind == PLAN_PEER_UPDATE);
                if (p.ops[i].peer == &f.tpeers[1])
                        CHECK(p.ops[i].flags == PLAN_PEER_KEEPALIVE);
                else
                        CHECK(p.ops[i].flags == PLAN_PEER_PRESHARED_KEY);
        }
        plan_done(&p);
}

/* A live endpoint that roamed away from the document's is pointed back (the document wins). */
static void test_endpoint_roamed(void) {
        struct fx f;
        struct plan p;

        fx_init(&f);
        sa4(&f.lpeers[NPEERS - 1 - 1].endpoint, "203.0.113.9", 40000);
        f.lpeers[NPEERS - 1 - 1].last_handshake = 100000;
        CHECK(plan_compute(&f.t, &f.live, &p) == 0);
        CHECK(p.n_ops == 1 && p.ops[0].flags == PLAN_PEER_ENDPOINT && p.ops[0].peer == &f.tpeers[1]);
        plan_done(&p);
}

static void test_endpoint_keep(void) {
        struct fx f;
        struct plan p;

        /* An unresolved name (or no endpoint at all) never rewrites the live endpoint. */
        fx_init(&f);
        memset(&f.tpeers[0].endpoint, 0, sizeof(f.tpeers[0].endpoint));
        f.tpeers[0].endpoint_keep = true;
        memset(&f.tpeers[1].endpoint, 0, sizeof(f.tpeers[1].endpoint));
        CHECK(plan_compute(&f.t, &f.live, &p) == 0);
        CHECK(p.n_ops == 0);
        plan_done(&p);
}

static void test_peer_add_remove(void) {
        struct fx f;
        struct plan p;
        const struct plan_op *op;
        char key[45];

        fx_init(&f);
        /* live lacks p0 (lpeers[3]) and its routes (lroutes[0..1]) */
        f.live.n_peers = 3;
        f.live.routes = &f.lroutes[2];
        f.live.n_routes = 6;
        CHECK(plan_compute(&f.t, &f.live, &p) == 0);
        CHECK(count(&p, PLAN_PEER_ADD) == 1);
        CHECK(count(&p, PLAN_PEER_REMOVE) == 0);
        CHECK(count(&p, PLAN_PEER_UPDATE) == 0);
        op = find(&p, PLAN_PEER_ADD);
        CHECK(op && op->peer == &f.tpeers[0]);
        CHECK(op && (op->flags & PLAN_PEER_ALLOWED_IPS_ADD) && (op->flags & PLAN_PEER_ENDPOINT));
        CHECK(count(&p, PLAN_ROUTE_ADD) == 2);
        plan_done(&p);

        fx_init(&f);
        f.iface.n_peers = f.t.n_peers = 3; /* p3 removed from the document */
        CHECK(plan_compute(&f.t, &f.live, &p) == 0);
        CHECK(count(&p, PLAN_PEER_REMOVE) == 1);
        CHECK(count(&p, PLAN_ROUTE_DEL) == 2);
        CHECK(plan_changes(&p) == 3);
        op = find(&p, PLAN_PEER_REMOVE);
        CHECK(op && memcmp(op->live_peer->public_key, f.peers[3].public_key, 32) == 0);
        for (size_t i = 0; i < p.n_ops; i++)
                if (p.ops[i].kind == PLAN_ROUTE_DEL)
                        CHECK(wf_prefix_equal(&p.ops[i].prefix, &f.aips[3][0]) ||
                              wf_prefix_equal(&p.ops[i].prefix, &f.aips[3][1]));
        wf_key_to_b64(f.peers[3].public_key, key);
        CHECK_STR_CONTAINS(text(&p), key);
        CHECK_STR_CONTAINS(text(&p), "delete route 10.4.0.0/24 table 254 metric 10 (proto 211)");
        /* removal comes after every add/update, route deletion after route adds */
        CHECK(p.ops[0].kind == PLAN_PEER_REMOVE);
        plan_done(&p);
}

static void test_allowed_ips(void) {
        struct fx f;
        struct plan p;
        const struct plan_op *op;
        struct wf_prefix extra = tap_prefix("10.99.0.0/24");

        /* additions only: incremental, no replace */
        fx_init(&f);
        f.aips[1][2] = extra;
        f.peers[1].n_allowed_ips = 3;
        CHECK(plan_compute(&f.t, &f.live, &p) == 0);
        op = find(&p, PLAN_PEER_UPDATE);
        CHECK(op && op->flags == PLAN_PEER_ALLOWED_IPS_ADD);
        CHECK(op && op->n_allowed_ips_add == 1 && wf_prefix_equal(&op->allowed_ips_add[0], &extra));
        CHECK(count(&p, PLAN_ROUTE_ADD) == 1);
        CHECK(count(&p, PLAN_PEER_UPDATE) == 1);
        plan_done(&p);

        /* one must go: replace with the full list; the removal list names it */
        fx_init(&f);
        f.peers[1].n_allowed_ips = 1; /* drops fd00:2::/64 */
        CHECK(plan_compute(&f.t, &f.live, &p) == 0);
        op = find(&p, PLAN_PEER_UPDATE);
        CHECK(op && op->flags == PLAN_PEER_ALLOWED_IPS_REPLACE);
        CHECK(op && op->n_allowed_ips_del == 1 && wf_prefix_equal(&op->allowed_ips_del[0], &f.aips[1][1]));
        CHECK(count(&p, PLAN_ROUTE_DEL) == 1);
        CHECK_STR_CONTAINS(text(&p), "allowed ips replaced by 10.2.0.0/24, dropping fd00:2::/64");
        plan_done(&p);

        /* a prefix moving from p1 to p2: p2 adds it (which moves it), p1 is not touched */
        fx_init(&f);
        f.peers[1].n_allowed_ips = 1;
        f.aips[2][2] = f.aips[1][1];
        f.peers[2].n_allowed_ips = 3;
        CHECK(plan_compute(&f.t, &f.live, &p) == 0);
        CHECK(p.n_ops == 1);
        op = find(&p, PLAN_PEER_UPDATE);
        CHECK(op && op->peer == &f.tpeers[2] && op->flags == PLAN_PEER_ALLOWED_IPS_ADD);
        plan_done(&p);

        /* order: add-only updates before replacing ones before removals */
        fx_init(&f);
        f.peers[0].n_allowed_ips = 1;            /* p0: replace */
        f.aips[3][2] = extra;                    /* p3: add */
        f.peers[3].n_allowed_ips = 3;
        CHECK(plan_compute(&f.t, &f.live, &p) == 0);
        {
                int first_add = -1, first_rep = -1;
                for (size_t i = 0; i < p.n_ops; i++) {
                        if (p.ops[i].kind != PLAN_PEER_UPDATE)
                                continue;
                        if ((p.ops[i].flags & PLAN_PEER_ALLOWED_IPS_ADD) && first_add < 0)
                                first_add = (int)i;
                        if ((p.ops[i].flags & PLAN_PEER_ALLOWED_IPS_REPLACE) && first_rep < 0)
                                first_rep = (int)i;
                }
                CHECK(first_add >= 0 && first_rep > first_add);
        }
        plan_done(&p);
}

static void test_routes(void) {
        struct fx f;
        struct plan p;
        const struct plan_op *op;
        json_t *a = json_array(), *c = json_array();

        /* a foreign route to a wanted destination with another metric: reported, ours added */
        fx_init(&f);
        f.lroutes[0].ours = false; /* p0's 10.1.0.0/24 is now someone else's, metric 5 */
        f.lroutes[0].protocol = 4; /* RTPROT_STATIC */
        f.lroutes[0].metric = 5;
        CHECK(plan_compute(&f.t, &f.live, &p) == 0);
        CHECK(count(&p, PLAN_ROUTE_CONFLICT) == 1);
        CHECK(count(&p, PLAN_ROUTE_ADD) == 1);
        CHECK(count(&p, PLAN_ROUTE_DEL) == 0);
        op = find(&p, PLAN_ROUTE_CONFLICT);
        CHECK(op && op->live_route == &f.lroutes[0]);
        CHECK(plan_changes(&p) == 1);
        CHECK_STR_CONTAINS(text(&p), "conflict: foreign route 10.1.0.0/24 table 254 metric 5 proto 4");
        CHECK(plan_to_json(&p, a) == 0);
        CHECK(plan_conflicts_to_json(&p, c) == 0);
        CHECK(json_array_size(a) == 1 && json_array_size(c) == 1);
        CHECK(strcmp(json_string_value(json_object_get(json_array_get(c, 0), "op")), "route_conflict") == 0);
        CHECK(json_integer_value(json_object_get(json_array_get(c, 0), "protocol")) == 4);
        CHECK(strcmp(json_string_value(json_object_get(json_array_get(a, 0), "dst")), "10.1.0.0/24") == 0);
        plan_done(&p);

        /* same metric: the kernel keeps one route per key, so ours is not attempted */
        fx_init(&f);
        f.lroutes[0].ours = false;
        f.lroutes[0].protocol = 4;
        CHECK(plan_compute(&f.t, &f.live, &p) == 0);
        CHECK(count(&p, PLAN_ROUTE_CONFLICT) == 1);
        CHECK(plan_changes(&p) == 0);
        plan_done(&p);

        /* metric change: add the new one, delete the old one (adds first) */
        fx_init(&f);
        f.iface.route_metric = 20;
        CHECK(plan_compute(&f.t, &f.live, &p) == 0);
        CHECK(count(&p, PLAN_ROUTE_ADD) == 2 * NPEERS);
        CHECK(count(&p, PLAN_ROUTE_DEL) == 2 * NPEERS);
        CHECK(p.ops[0].kind == PLAN_ROUTE_ADD && p.ops[p.n_ops - 1].kind == PLAN_ROUTE_DEL);
        plan_done(&p);

        /* routes[] adds a destination; a default-route allowed IP is never routed in the table */
        fx_init(&f);
        struct wf_route extra = { .dst = tap_prefix("172.16.0.0/12"), .via = (char *)"p1" };
        f.iface.routes = &extra;
        f.iface.n_routes = 1;
        f.aips[0][2] = tap_prefix("0.0.0.0/0");
        f.peers[0].n_allowed_ips = 3;
        f.laips[0][2] = f.aips[0][2];
        f.lpeers[NPEERS - 1].n_allowed_ips = 3;
        CHECK(plan_compute(&f.t, &f.live, &p) == 0);
        CHECK(p.n_ops == 1);
        op = find(&p, PLAN_ROUTE_ADD);
        CHECK(op && wf_prefix_equal(&op->prefix, &extra.dst));
        plan_done(&p);

        json_decref(a);
        json_decref(c);
}

/* Where the data plane picks by metric alone (RouterOS), a foreign route below route_demote_below
 * is demoted, not just reported; one we demoted goes back when its destination is not wanted. */
static void test_route_demote(void) {
        struct fx f;
        struct plan p;
        const struct plan_op *op;
        json_t *a = json_array(), *c = json_array();

        fx_init(&f);
        f.t.route_demote_below = 10;
        f.t.route_demote_to = 11;
        f.lroutes[0].ours = false; /* a foreign 10.1.0.0/24 at distance 1, ours there at 10 */
        f.lroutes[0].metric = 1;
        f.lroutes[f.live.n_routes++] = (struct wf_live_route){ .dst = f.aips[0][0], .table = 254, .metric = 10,
                                                               .protocol = WF_RTPROT, .ours = true };
        /* and one demoted earlier for a destination no longer wanted */
        f.lroutes[f.live.n_routes++] = (struct wf_live_route){ .dst = tap_prefix("10.77.0.0/24"), .table = 254,
                                                               .metric = 11, .demoted = true, .demoted_from = 2 };
        CHECK(plan_compute(&f.t, &f.live, &p) == 0);
        CHECK(count(&p, PLAN_ROUTE_DEMOTE) == 1 && count(&p, PLAN_ROUTE_RESTORE) == 1);
        CHECK(count(&p, PLAN_ROUTE_CONFLICT) == 0 && count(&p, PLAN_ROUTE_ADD) == 0 && count(&p, PLAN_ROUTE_DEL) == 0);
        op = find(&p, PLAN_ROUTE_DEMOTE);
        CHECK(op && op->live_route == &f.lroutes[0] && plan_op_metric_to(&p, op) == 11);
        op = find(&p, PLAN_ROUTE_RESTORE);
        CHECK(op && plan_op_metric_to(&p, op) == 2);
        CHECK(plan_changes(&p) == 2);
        CHECK_STR_CONTAINS(text(&p), "wflp0: demote foreign route 10.1.0.0/24 table 254 metric 1 -> 11");
        CHECK_STR_CONTAINS(text(&p), "wflp0: restore foreign route 10.77.0.0/24 table 254 metric 11 -> 2");
        CHECK(plan_to_json(&p, a) == 0 && plan_conflicts_to_json(&p, c) == 0);
        CHECK(json_array_size(a) == 2 && json_array_size(c) == 0);
        CHECK(strcmp(json_string_value(json_object_get(json_array_get(a, 0), "op")), "route_demote") == 0);
        CHECK(json_integer_value(json_object_get(json_array_get(a, 0), "metric_to")) == 11);
        plan_done(&p);

        /* once demoted (metric 11, not below 10) it is a conflict again: reported, no change */
        f.lroutes[0].metric = 11;
        f.lroutes[0].demoted = true;
        f.lroutes[0].demoted_from = 1;
        f.live.n_routes--;
        CHECK(plan_compute(&f.t, &f.live, &p) == 0);
        CHECK(count(&p, PLAN_ROUTE_CONFLICT) == 1 && plan_changes(&p) == 0);
        plan_done(&p);

        /* the same foreign route where nothing demotes (the kernel): report only, as always */
        f.t.route_demote_below = 0;
        f.lroutes[0].metric = 1;
        f.lroutes[0].demoted = false;
        CHECK(plan_compute(&f.t, &f.live, &p) == 0);
        CHECK(count(&p, PLAN_ROUTE_CONFLICT) == 1 && count(&p, PLAN_ROUTE_DEMOTE) == 0 && plan_changes(&p) == 0);
        plan_done(&p);
        json_decref(a);
        json_decref(c);
}

static void test_iface(void) {
        struct fx f;
        struct plan p;
        struct wf_live_iface missing = { .name = (char *)"wflp0" };
        const struct plan_op *op;

        fx_init(&f);
        f.iface.mtu = 1380;
        f.iface.fwmark = 0x51;
        f.live.up = false;
        f.live.listen_port = 40000;
        CHECK(plan_compute(&f.t, &f.live, &p) == 0);
        CHECK(p.n_ops == 1);
        op = find(&p, PLAN_IFACE_SET);
        CHECK(op && op->flags == (PLAN_SET_MTU | PLAN_SET_FWMARK | PLAN_SET_UP | PLAN_SET_LISTEN_PORT));
        plan_done(&p);

        /* another private key live */
        fx_init(&f);
        f.live.public_key[0] ^= 1;
        f.laddrs[1] = tap_prefix("fd00:200::2/128");
        CHECK(plan_compute(&f.t, &f.live, &p) == 0);
        op = find(&p, PLAN_IFACE_SET);
        CHECK(op && op->flags == PLAN_SET_PRIVATE_KEY);
        CHECK(count(&p, PLAN_ADDR_DEL) == 1 && count(&p, PLAN_ADDR_ADD) == 1);
        CHECK_STR_CONTAINS(text(&p), "delete address fd00:200::2/128");
        plan_done(&p);

        /* a missing interface: create, then everything */
        fx_init(&f);
        CHECK(plan_compute(&f.t, &missing, &p) == 0);
        CHECK(p.ops[0].kind == PLAN_IFACE_CREATE);
        CHECK(count(&p, PLAN_PEER_ADD) == NPEERS);
        CHECK(count(&p, PLAN_ADDR_ADD) == 2);
        CHECK(count(&p, PLAN_ROUTE_ADD) == 2 * NPEERS);
        CHECK(count(&p, PLAN_PEER_REMOVE) == 0);
        plan_done(&p);
}

static void test_json_shape(void) {
        struct fx f;
        struct plan p;
        json_t *a = json_array();
        char *s;

        fx_init(&f);
        sa4(&f.tpeers[2].endpoint, "198.51.100.7", 51820);
        f.peers[2].n_allowed_ips = 1;
        CHECK(plan_compute(&f.t, &f.live, &p) == 0);
        CHECK(plan_to_json(&p, a) == 0);
        s = json_dumps(a, JSON_COMPACT | JSON_SORT_KEYS);
        CHECK_STR_CONTAINS(s, "\"op\":\"peer_update\"");
        CHECK_STR_CONTAINS(s, "\"peer\":\"p2\"");
        CHECK_STR_CONTAINS(s, "\"endpoint\":\"198.51.100.7:51820\"");
        CHECK_STR_CONTAINS(s, "\"allowed_ips\":[\"10.3.0.0/24\"]");
        CHECK_STR_CONTAINS(s, "\"allowed_ips_remove\":[\"fd00:3::/64\"]");
        CHECK_STR_CONTAINS(s, "\"op\":\"route_del\"");
        CHECK(strstr(s, "private") == NULL);
        free(s);
        json_decref(a);
        plan_done(&p);
}

/* 10k peers, one changed: exactly one operation. */
static void test_scale(void) {
        enum { N = 10000 };
        struct wf_iface iface = { .name = (char *)"wflp0", .listen_port = 1, .route_table = 254, .route_metric = 10 };
        struct wf_peer *peers = calloc(N, sizeof(*peers));
        struct plan_peer *tp = calloc(N, sizeof(*tp));
        struct wf_live_peer *lp = calloc(N, sizeof(*lp));
        struct wf_prefix *aips = calloc(N, sizeof(*aips));
        struct wf_live_route *lr = calloc(N, sizeof(*lr));
        struct wf_live_iface live = { .exists = true, .up = true, .listen_port = 1 };
        struct plan_target t = { .iface = &iface };
        struct plan p;

        for (int i = 0; i < N; i++) {
                peers[i].public_key[0] = (uint8_t)(i * 7919 % 251);
                memcpy(peers[i].public_key + 1, &i, sizeof(i));
                peers[i].persistent_keepalive = -1;
                aips[i] = (struct wf_prefix){ .family = AF_INET, .len = 32,
                                              .addr = { 10, (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i } };
                peers[i].allowed_ips = &aips[i];
                peers[i].n_allowed_ips = 1;
                tp[i].peer = &peers[i];
                memcpy(lp[N - 1 - i].public_key, peers[i].public_key, 32);
                lp[N - 1 - i].allowed_ips = &aips[i];
                lp[N - 1 - i].n_allowed_ips = 1;
                lr[i] = (struct wf_live_route){ .dst = aips[i], .table = 254, .metric = 10,
                                                .protocol = WF_RTPROT, .ours = true };
        }
        iface.peers = peers;
        iface.n_peers = N;
        t.peers = tp;
        t.n_peers = N;
        live.peers = lp;
        live.n_peers = N;
        live.routes = lr;
        live.n_routes = N;
        peers[4321].persistent_keepalive = 25;
        CHECK(plan_compute(&t, &live, &p) == 0);
        CHECK(p.n_ops == 1 && p.ops[0].kind == PLAN_PEER_UPDATE && p.ops[0].peer == &tp[4321]);
        plan_done(&p);
        free(peers);
        free(tp);
        free(lp);
        free(aips);
        free(lr);
}

/* Long prefix lists in any order (families interleaved, addresses shuffled, duplicates):
 * the same set on both sides is no change; one missing is exactly that one added. */
static void test_many_prefixes_unordered(void) {
        enum { N = 40 };
        struct wf_prefix want[N], have[N];
        struct wf_peer peer = { .name = "many", .allowed_ips = want, .n_allowed_ips = N, .persistent_keepalive = -1 };
        struct wf_iface iface = { .name = (char *)"wflp1", .route_table = 254, .route_metric = 10,
                                  .peers = &peer, .n_peers = 1 };
        struct plan_peer tp = { .peer = &peer };
        struct plan_target t = { .iface = &iface, .peers = &tp, .n_peers = 1 };
        struct wf_live_peer lp = { .allowed_ips = have, .n_allowed_ips = N };
        struct wf_live_route lr[N];
        struct wf_live_iface live = { .exists = true, .up = true, .peers = &lp, .n_peers = 1, .routes = lr };
        struct plan p;
        char buf[64];

        for (int i = 0; i < N; i++) {
                int k = (i * 17) % N; /* a permutation */
                if (k % 2)
                        snprintf(buf, sizeof(buf), "fd00:%d::/64", 1000 - k);
                else
                        snprintf(buf, sizeof(buf), "10.%d.0.0/16", 200 - k);
                want[i] = tap_prefix(buf);
                have[N - 1 - i] = want[i];
        }
        want[N - 1] = want[0]; /* a duplicate in the document's list */
        memcpy(lp.public_key, peer.public_key, 32);
        for (int i = 0; i < N - 1; i++)
                lr[i] = (struct wf_live_route){ .dst = want[N - 2 - i], .table = 254, .metric = 10,
                                                .protocol = WF_RTPROT, .ours = true };
        live.n_routes = N - 1;
        /* have[0] is want[N - 1], the slot the duplicate replaced: the live side has it extra */
        lp.allowed_ips = have + 1;
        lp.n_allowed_ips = N - 1;
        CHECK(plan_compute(&t, &live, &p) == 0);
        CHECK(p.n_ops == 0);
        plan_done(&p);

        /* drop want[5] from the live side: one add, one route add */
        struct wf_prefix missing = want[5];
        size_t k = 0;
        for (int i = 1; i < N; i++)
                if (!wf_prefix_equal(&have[i], &missing))
                        have[k++] = have[i];
        lp.allowed_ips = have;
        lp.n_allowed_ips = k;
        k = 0;
        for (int i = 0; i < N - 1; i++)
                if (!wf_prefix_equal(&lr[i].dst, &missing))
                        lr[k++] = lr[i];
        live.n_routes = k;
        CHECK(plan_compute(&t, &live, &p) == 0);
        CHECK(p.n_ops == 2);
        CHECK(p.n_ops == 2 && p.ops[0].kind == PLAN_PEER_UPDATE && p.ops[0].flags == PLAN_PEER_ALLOWED_IPS_ADD &&
              p.ops[0].n_allowed_ips_add == 1 && wf_prefix_equal(&p.ops[0].allowed_ips_add[0], &missing));
        CHECK(p.n_ops == 2 && p.ops[1].kind == PLAN_ROUTE_ADD && wf_prefix_equal(&p.ops[1].prefix, &missing));
        plan_done(&p);
}

int main(void) {
        test_noop();
        test_one_changed_peer();
        test_endpoint_keep();
        test_endpoint_roamed();
        test_peer_add_remove();
        test_allowed_ips();
        test_routes();
        test_route_demote();
        test_iface();
        test_json_shape();
        test_scale();
        test_many_prefixes_unordered();
        return TAP_DONE();
}
