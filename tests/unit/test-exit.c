/* SPDX-License-Identifier: MIT */
/* Exit selection: the choice itself, and the adjusted target through the real planner. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "document.h"
#include "exit.h"
#include "plan.h"
#include "status.h"
#include "tap.h"

#define NOW 1000000
#define FAILOVER 300 /* above the rekey floor */

static struct wf_prefix P(const char *s) {
        struct wf_prefix p = {};
        const char *why;

        if (wf_prefix_parse(s, false, &p, &why) < 0)
                abort();
        return p;
}

static void test_choose(void) {
        struct exit_candidate c[3] = {};

        CHECK(exit_choose(c, 0, NOW, FAILOVER) == -1);

        /* Initial: nobody has handshaked, nobody active: the first listed. */
        memset(c, 0, sizeof(c));
        CHECK(exit_choose(c, 3, NOW, FAILOVER) == 0);
        /* Initial, all healthy: still the first. */
        for (int i = 0; i < 3; i++)
                c[i].last_handshake = NOW - 10;
        CHECK(exit_choose(c, 3, NOW, FAILOVER) == 0);
        /* Initial, the first never answered: the first healthy one. */
        c[0].last_handshake = 0;
        CHECK(exit_choose(c, 3, NOW, FAILOVER) == 1);

        /* Sticky: the active second one stays while healthy, although the first is healthy. */
        memset(c, 0, sizeof(c));
        c[0].last_handshake = NOW - 5;
        c[1].last_handshake = NOW - 100;
        c[1].active = true;
        CHECK(exit_choose(c, 3, NOW, FAILOVER) == 1);
        /* Exactly at the limit is still healthy. */
        c[1].last_handshake = NOW - FAILOVER;
        CHECK(exit_choose(c, 3, NOW, FAILOVER) == 1);

        /* Failover: the active one goes stale: the first healthy one in order. */
        memset(c, 0, sizeof(c));
        c[0].active = true;
        c[0].last_handshake = NOW - FAILOVER - 1;
        c[1].last_handshake = 0;
        c[2].last_handshake = NOW - 3;
        CHECK(exit_choose(c, 3, NOW, FAILOVER) == 2);

        /* No flap: after failing over to 2, a recovered 0 does not take it back... */
        memset(c, 0, sizeof(c));
        c[0].last_handshake = NOW - 1;
        c[2].active = true;
        c[2].last_handshake = NOW - 60;
        CHECK(exit_choose(c, 3, NOW, FAILOVER) == 2);
        /* ...only when 2 goes stale does the default route go back to 0 (failback). */
        c[2].last_handshake = NOW - 500;
        CHECK(exit_choose(c, 3, NOW, FAILOVER) == 0);

        /* None healthy: the current one stays (no pointless move between dead exits). */
        memset(c, 0, sizeof(c));
        c[0].last_handshake = NOW - 1000;
        c[1].active = true;
        c[1].last_handshake = NOW - 1000;
        CHECK(exit_choose(c, 3, NOW, FAILOVER) == 1);
        /* None healthy, none active: the first. */
        c[1].active = false;
        CHECK(exit_choose(c, 3, NOW, FAILOVER) == 0);

        /* Several active (a v4 /0 on one, a v6 /0 on another): the first active one counts. */
        memset(c, 0, sizeof(c));
        c[1].active = c[2].active = true;
        c[1].last_handshake = c[2].last_handshake = NOW - 1;
        CHECK(exit_choose(c, 3, NOW, FAILOVER) == 1);

        /* A threshold below WireGuard's rekey interval is raised: a live session's handshake
         * is renewed only every 120 s (+ keepalive), it must not look stale in between. */
        CHECK(exit_stale_after(5, 0) == EXIT_REKEY_S + EXIT_REKEY_SLACK_S);
        CHECK(exit_stale_after(5, 25) == EXIT_REKEY_S + 25 + EXIT_REKEY_SLACK_S);
        CHECK(exit_stale_after(120, 25) == 155);
        CHECK(exit_stale_after(400, 25) == 400);
        memset(c, 0, sizeof(c));
        c[0].active = true;
        c[0].keepalive = 25;
        c[0].last_handshake = NOW - 150; /* rekey pending: still healthy */
        c[1].last_handshake = NOW - 1;
        CHECK(exit_choose(c, 2, NOW, 5) == 0);
        c[0].last_handshake = NOW - 156;
        CHECK(exit_choose(c, 2, NOW, 5) == 1);

        CHECK(!exit_healthy(0, NOW, FAILOVER));
        CHECK(exit_healthy(NOW, NOW, 0));
}

static void test_mark(void) {
        struct wf_iface f = { .listen_port = 51900 };

        CHECK(exit_mark(&f) == 51900);
        f.fwmark = 0x1234;
        CHECK(exit_mark(&f) == 0x1234);
        f.fwmark = 0;
        f.listen_port = 0;
        CHECK(exit_mark(&f) == EXIT_DEFAULT_MARK);
}

/* Interface with a mesh peer and two exits A, B (both 0.0.0.0/0 and ::/0 plus one /24). */
struct fx {
        struct wf_iface iface;
        struct wf_peer peers[3];
        struct wf_prefix aips[3][3];
        char *exits[2];
        struct plan_peer pp[3];
        struct plan_target t;
        struct wf_live_iface live;
        struct wf_live_peer lpeers[3];
        struct wf_prefix laips[3][3];
};

static void fx_init(struct fx *x) {
        static const char *names[] = { "mesh", "exit-a", "exit-b" };

        memset(x, 0, sizeof(*x));
        x->exits[0] = "exit-a";
        x->exits[1] = "exit-b";
        x->iface = (struct wf_iface){ .name = "wg0", .listen_port = 51820, .route_table = 254,
                                      .route_metric = 10, .peers = x->peers, .n_peers = 3,
                                      .exit = x->exits, .n_exit = 2 };
        for (int i = 0; i < 3; i++) {
                char buf[32];
                snprintf(buf, sizeof(buf), "10.%d.0.0/24", i + 1);
                x->peers[i] = (struct wf_peer){ .name = (char *)names[i], .allowed_ips = x->aips[i],
                                                .persistent_keepalive = -1 };
                memset(x->peers[i].public_key, i + 1, WF_KEY_LEN);
                x->aips[i][x->peers[i].n_allowed_ips++] = P(buf);
                if (i > 0) {
                        x->aips[i][x->peers[i].n_allowed_ips++] = P("0.0.0.0/0");
                        x->aips[i][x->peers[i].n_allowed_ips++] = P("::/0");
                }
                x->pp[i].peer = &x->peers[i];
        }
        x->t = (struct plan_target){ .iface = &x->iface, .peers = x->pp, .n_peers = 3 };
        x->live = (struct wf_live_iface){ .name = "wg0", .exists = true, .up = true, .listen_port = 51820,
                                          .fwmark = 51820, .peers = x->lpeers, .n_peers = 3 };
        for (int i = 0; i < 3; i++) {
                memcpy(x->lpeers[i].public_key, x->peers[i].public_key, WF_KEY_LEN);
                x->lpeers[i].allowed_ips = x->laips[i];
                x->laips[i][x->lpeers[i].n_allowed_ips++] = x->aips[i][0];
        }
}

static void live_give_default(struct fx *x, int i) {
        x->laips[i][x->lpeers[i].n_allowed_ips++] = P("0.0.0.0/0");
        x->laips[i][x->lpeers[i].n_allowed_ips++] = P("::/0");
}

static const struct plan_op *only_peer_op(const struct plan *p, size_t *n) {
        const struct plan_op *last = NULL;

        *n = 0;
        for (size_t i = 0; i < p->n_ops; i++)
                if (p->ops[i].kind >= PLAN_PEER_ADD && p->ops[i].kind <= PLAN_PEER_REMOVE) {
                        last = &p->ops[i];
                        (*n)++;
                }
        return last;
}

static void test_target(void) {
        struct fx x;
        struct exit_target et;
        struct plan p;
        const struct plan_op *op;
        size_t n;

        /* Initial: A is chosen and gets both /0; B is stripped; the device gets the mark. */
        fx_init(&x);
        CHECK(exit_target_build(&x.t, &x.live, NOW, FAILOVER, &et) == 0);
        CHECK(et.active == 1 && et.previous == -1 && et.v4 && et.v6 && et.mark == 51820);
        CHECK(x.t.iface->fwmark == 51820);
        CHECK(x.t.peers[1].peer == &x.peers[1]);
        CHECK(x.t.peers[2].peer->n_allowed_ips == 1);
        CHECK(plan_compute(&x.t, &x.live, &p) == 0);
        op = only_peer_op(&p, &n);
        CHECK(n == 1 && op && op->kind == PLAN_PEER_UPDATE && op->peer == &x.pp[1] &&
              op->flags == PLAN_PEER_ALLOWED_IPS_ADD && op->n_allowed_ips_add == 2);
        /* /0 never becomes a plain route. */
        for (size_t i = 0; i < p.n_ops; i++)
                CHECK(p.ops[i].kind != PLAN_ROUTE_ADD || p.ops[i].prefix.len > 0);
        plan_done(&p);
        exit_target_done(&et);

        /* A active and healthy, B healthy too: nothing to change at all. */
        fx_init(&x);
        live_give_default(&x, 1);
        x.lpeers[1].last_handshake = NOW - 30;
        x.lpeers[2].last_handshake = NOW - 1;
        CHECK(exit_target_build(&x.t, &x.live, NOW, FAILOVER, &et) == 0);
        CHECK(et.active == 1 && et.previous == 1);
        CHECK(plan_compute(&x.t, &x.live, &p) == 0);
        only_peer_op(&p, &n);
        CHECK(n == 0);
        for (size_t i = 0; i < p.n_ops; i++)
                CHECK(p.ops[i].kind != PLAN_IFACE_SET);
        plan_done(&p);
        exit_target_done(&et);

        /* A goes stale: /0 moves to B by one in-place add on B (WireGuard moves the prefix in
         * its trie); A is not rewritten, the mesh peer is untouched. */
        fx_init(&x);
        live_give_default(&x, 1);
        x.lpeers[1].last_handshake = NOW - FAILOVER - 5;
        x.lpeers[2].last_handshake = NOW - 1;
        x.lpeers[0].last_handshake = NOW - 1;
        CHECK(exit_target_build(&x.t, &x.live, NOW, FAILOVER, &et) == 0);
        CHECK(et.active == 2 && et.previous == 1);
        CHECK(plan_compute(&x.t, &x.live, &p) == 0);
        op = only_peer_op(&p, &n);
        CHECK(n == 1 && op && op->peer == &x.pp[2] && op->flags == PLAN_PEER_ALLOWED_IPS_ADD &&
              op->n_allowed_ips_add == 2);
        plan_done(&p);
        exit_target_done(&et);

        /* Both A and B hold a /0 (v4 on A, v6 on B, e.g. hand-made): A keeps both, B gets its
         * /0 removed through the normal replace path. */
        fx_init(&x);
        x.laips[1][x.lpeers[1].n_allowed_ips++] = P("0.0.0.0/0");
        x.laips[2][x.lpeers[2].n_allowed_ips++] = P("::/0");
        x.lpeers[1].last_handshake = x.lpeers[2].last_handshake = NOW - 1;
        CHECK(exit_target_build(&x.t, &x.live, NOW, FAILOVER, &et) == 0);
        CHECK(et.active == 1);
        CHECK(plan_compute(&x.t, &x.live, &p) == 0);
        op = only_peer_op(&p, &n);
        CHECK(n == 1 && op && op->peer == &x.pp[1] && op->n_allowed_ips_add == 1);
        plan_done(&p);
        exit_target_done(&et);

        /* A peer held back (unreadable preshared key) is never chosen. */
        fx_init(&x);
        x.pp[1].hold = true;
        CHECK(exit_target_build(&x.t, &x.live, NOW, FAILOVER, &et) == 0);
        CHECK(et.active == 2);
        exit_target_done(&et);

        /* No exits: the target is left alone. */
        fx_init(&x);
        x.iface.n_exit = 0;
        CHECK(exit_target_build(&x.t, &x.live, NOW, FAILOVER, &et) == 0);
        CHECK(et.active == -1 && x.t.iface == &x.iface);
        exit_target_done(&et);
}

#define DOC(aips_b, exits)                                                                      \
        "{\"schema\": \"wgfleet/desired-state/v1\", \"node\": \"n1\", \"revision\": 1,"           \
        " \"issued_at\": \"2026-11-22T00:00:00Z\", \"expires_at\": \"2036-11-22T00:00:00Z\","      \
        " \"interfaces\": [{\"name\": \"wg0\", \"listen_port\": 51820, \"addresses\": [\"10.0.0.1/32\"]," \
        "  \"peers\": ["                                                                         \
        "   {\"name\": \"a\", \"public_key\": \"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\","   \
        "    \"endpoint\": \"192.0.2.1:51820\", \"allowed_ips\": [\"10.0.0.2/32\", \"0.0.0.0/0\"]}," \
        "   {\"name\": \"b\", \"public_key\": \"AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=\","   \
        "    \"endpoint\": \"192.0.2.2:51820\", \"allowed_ips\": [" aips_b "]}],"               \
        "  \"exit\": [" exits "]}]}"

/* Several exits may offer the same default route; other prefixes stay one peer's. */
static void test_document(void) {
        static const char two[] = DOC("\"10.0.0.3/32\", \"0.0.0.0/0\"", "\"a\", \"b\"");
        static const char not_exit[] = DOC("\"10.0.0.3/32\", \"0.0.0.0/0\"", "\"a\"");
        static const char twice[] = DOC("\"0.0.0.0/0\", \"0.0.0.0/0\"", "\"a\", \"b\"");
        static const char shared[] = DOC("\"10.0.0.2/32\"", "\"a\", \"b\"");
        struct wf_doc *d = NULL;
        struct wf_err e = {};

        CHECK(doc_parse(two, sizeof(two) - 1, &d, &e, NULL, NULL) == 0);
        if (!d)
                fprintf(stderr, "%s\n", e.msg);
        wf_doc_free(d);
        d = NULL;
        CHECK(doc_parse(not_exit, sizeof(not_exit) - 1, &d, &e, NULL, NULL) < 0);
        CHECK_STR_CONTAINS(e.msg, "list peer \"b\"");
        CHECK(doc_parse(twice, sizeof(twice) - 1, &d, &e, NULL, NULL) < 0);
        CHECK_STR_CONTAINS(e.msg, "is listed twice");
        CHECK(doc_parse(shared, sizeof(shared) - 1, &d, &e, NULL, NULL) < 0);
        CHECK_STR_CONTAINS(e.msg, "one prefix, one peer");
}

/* The status report marks exit peers active (holding /0 live) or standby. */
static void test_status(void) {
        struct fx x;
        struct wf_doc doc = {};
        struct wf_live_iface *live[1];
        struct status_report r = { .node = "n1", .state = STATUS_CONVERGED, .now = NOW };
        json_t *o, *peers;
        int seen = 0;

        fx_init(&x);
        live_give_default(&x, 2);
        doc.ifaces = &x.iface;
        doc.n_ifaces = 1;
        live[0] = &x.live;
        r.doc = &doc;
        r.live = live;
        r.n_live = 1;
        o = status_to_json(&r);
        CHECK(o);
        peers = json_object_get(json_array_get(json_object_get(o, "interfaces"), 0), "peers");
        for (size_t i = 0; i < json_array_size(peers); i++) {
                json_t *p = json_array_get(peers, i);
                const char *name = json_string_value(json_object_get(p, "name"));
                const char *ex = json_string_value(json_object_get(p, "exit"));

                if (!name)
                        continue;
                if (strcmp(name, "mesh") == 0) {
                        CHECK(!json_object_get(p, "exit"));
                        seen |= 1;
                } else if (strcmp(name, "exit-a") == 0) {
                        CHECK(ex && strcmp(ex, "standby") == 0);
                        seen |= 2;
                } else if (strcmp(name, "exit-b") == 0) {
                        CHECK(ex && strcmp(ex, "active") == 0);
                        seen |= 4;
                }
        }
        CHECK(seen == 7);
        json_decref(o);
}

int main(void) {
        test_document();
        test_status();
        test_choose();
        test_mark();
        test_target();
        return TAP_DONE();
}
