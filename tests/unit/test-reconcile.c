/* SPDX-License-Identifier: MIT */
/* reconcile against a fake backend: the retry loop (partial failures, re-observe, bounded
 * attempts), dry run, the node key check, preshared key files, retire. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "keys.h"
#include "reconcile.h"
#include "tap.h"

/* The fake data plane: "converged" once an apply went through; observe reports the target
 * exactly then, an empty interface before. */
struct backend {
        const struct wf_iface *iface;
        uint8_t pub[32];
        int fail_applies;      /* this many applies fail with -EIO */
        bool ignore_applies;   /* applies "succeed" but change nothing */
        bool converged;
        int applies, observes, clears;
        char cleared[32];
};

static int fake_open(_unused_ struct backend **ret, _unused_ const struct config *c,
                     _unused_ struct wf_err *e) { return -ENOTSUP; }
static void fake_close(_unused_ struct backend *b) {}

static int fake_observe(struct backend *b, const char *name, _unused_ const struct wf_iface *d,
                        struct wf_live_iface **ret, _unused_ struct wf_err *e) {
        struct wf_live_iface *l = calloc(1, sizeof(*l));

        b->observes++;
        l->name = strdup(name);
        l->exists = true;
        if (b->converged) {
                const struct wf_iface *f = b->iface;
                l->up = true;
                l->has_private_key = true;
                memcpy(l->public_key, b->pub, 32);
                l->listen_port = f->listen_port;
                l->addresses = calloc(f->n_addresses + 1, sizeof(*l->addresses));
                memcpy(l->addresses, f->addresses, f->n_addresses * sizeof(*l->addresses));
                l->n_addresses = f->n_addresses;
                l->peers = calloc(f->n_peers + 1, sizeof(*l->peers));
                l->routes = calloc(16, sizeof(*l->routes));
                for (size_t i = 0; i < f->n_peers; i++) {
                        struct wf_live_peer *p = &l->peers[l->n_peers++];
                        memcpy(p->public_key, f->peers[i].public_key, 32);
                        p->allowed_ips = calloc(f->peers[i].n_allowed_ips + 1, sizeof(*p->allowed_ips));
                        memcpy(p->allowed_ips, f->peers[i].allowed_ips, f->peers[i].n_allowed_ips * sizeof(*p->allowed_ips));
                        p->n_allowed_ips = f->peers[i].n_allowed_ips;
                        for (size_t k = 0; k < p->n_allowed_ips; k++)
                                l->routes[l->n_routes++] = (struct wf_live_route){
                                        .dst = p->allowed_ips[k], .table = 254, .metric = 10,
                                        .protocol = WF_RTPROT, .ours = true };
                }
        }
        *ret = l;
        return 0;
}

static int fake_apply(struct backend *b, _unused_ const struct plan *p, _unused_ const struct plan_target *t,
                      struct wf_err *e) {
        b->applies++;
        if (b->fail_applies > 0) {
                b->fail_applies--;
                return wf_err_set(e, -EIO, "fake: peer set failed midway");
        }
        if (!b->ignore_applies)
                b->converged = true;
        return 0;
}

static int fake_clear(struct backend *b, const char *iface, _unused_ struct wf_err *e) {
        b->clears++;
        snprintf(b->cleared, sizeof(b->cleared), "%s", iface);
        return 0;
}

static const struct backend_ops fake_ops = {
        .name = "fake", .open = fake_open, .close = fake_close, .observe = fake_observe,
        .apply = fake_apply, .clear = fake_clear,
};

static char dir[] = "/tmp/wfl-reconcile-XXXXXX";
static char state[128], secrets[128];

struct fixture {
        struct wf_doc doc;
        struct wf_iface iface;
        struct wf_peer peers[2];
        struct wf_prefix aips[2][1];
        struct wf_prefix addr;
        struct config cfg;
        struct backend b;
};

static void fx_init(struct fixture *f) {
        struct wf_err e = {};

        memset(f, 0, sizeof(*f));
        f->cfg.state_dir = state;
        f->cfg.secrets_dir = secrets;
        f->addr = tap_prefix("10.70.0.1/32");
        f->iface = (struct wf_iface){ .name = (char *)"wflr0", .listen_port = 51820, .addresses = &f->addr,
                                      .n_addresses = 1, .route_table = 254, .route_metric = 10,
                                      .peers = f->peers, .n_peers = 2 };
        for (int i = 0; i < 2; i++) {
                f->peers[i].name = (char *)(i ? "p1" : "p0");
                memset(f->peers[i].public_key, 0x40 + i, 32);
                f->peers[i].persistent_keepalive = -1;
                f->aips[i][0] = tap_prefix(i ? "10.70.2.0/24" : "10.70.1.0/24");
                f->peers[i].allowed_ips = f->aips[i];
                f->peers[i].n_allowed_ips = 1;
        }
        f->doc = (struct wf_doc){ .node = (char *)"n", .revision = 1, .ifaces = &f->iface, .n_ifaces = 1 };
        f->b.iface = &f->iface;
        CHECK(keys_load_public(state, f->b.pub, &e) == 0);
}

static void test_retry(void) {
        struct fixture f;
        struct reconcile_result res = {};
        struct wf_err e = {};

        /* one partial failure: re-observe, re-plan, succeed on the second apply */
        fx_init(&f);
        f.b.fail_applies = 1;
        CHECK(reconcile_doc(&fake_ops, &f.b, &f.cfg, &f.doc, 0, &res, &e) == 0);
        CHECK(res.n_ifaces == 1 && res.error == 0);
        CHECK(res.ifaces[0].attempts == 2);
        CHECK(f.b.applies == 2 && f.b.observes == 3);
        CHECK(res.ifaces[0].changes > 0 && res.changes == res.ifaces[0].changes);
        CHECK(res.ifaces[0].live && res.ifaces[0].live->n_peers == 2);
        reconcile_result_done(&res);

        /* converged already: observe once, apply nothing */
        f.b.applies = f.b.observes = 0;
        CHECK(reconcile_doc(&fake_ops, &f.b, &f.cfg, &f.doc, 0, &res, &e) == 0);
        CHECK(f.b.applies == 0 && f.b.observes == 1);
        CHECK(res.changes == 0 && res.ifaces[0].plan.n_ops == 0);
        reconcile_result_done(&res);

        /* always failing: bounded, then a clear error carrying the backend's message */
        fx_init(&f);
        f.b.fail_applies = 100;
        CHECK(reconcile_doc(&fake_ops, &f.b, &f.cfg, &f.doc, 0, &res, &e) == -EIO);
        CHECK(f.b.applies == RECONCILE_MAX_ATTEMPTS);
        CHECK(res.error == -EIO && res.ifaces[0].error == -EIO);
        CHECK_STR_CONTAINS(res.ifaces[0].error_msg, "wflr0: apply failed after 3 attempts: fake: peer set failed midway");
        CHECK_STR_CONTAINS(e.msg, "apply failed after 3 attempts");
        reconcile_result_done(&res);

        /* applies that do not take: not converged, said so */
        fx_init(&f);
        f.b.ignore_applies = true;
        CHECK(reconcile_doc(&fake_ops, &f.b, &f.cfg, &f.doc, 0, &res, &e) == -EAGAIN);
        CHECK(f.b.applies == RECONCILE_MAX_ATTEMPTS);
        CHECK_STR_CONTAINS(res.ifaces[0].error_msg, "changes left after 3 applies");
        reconcile_result_done(&res);
}

static void test_dry_run(void) {
        struct fixture f;
        struct reconcile_result res = {};
        struct wf_err e = {};

        fx_init(&f);
        CHECK(reconcile_doc(&fake_ops, &f.b, &f.cfg, &f.doc, RECONCILE_DRY_RUN, &res, &e) == 0);
        CHECK(f.b.applies == 0);
        CHECK(res.changes > 0 && plan_changes(&res.ifaces[0].plan) == res.changes);
        /* the private key does not outlive the call */
        uint8_t zero[32] = {};
        CHECK(memcmp(res.ifaces[0].target.private_key, zero, 32) == 0);
        reconcile_result_done(&res);
}

static void test_node_key(void) {
        struct fixture f;
        struct reconcile_result res = {};
        struct wf_err e = {};

        fx_init(&f);
        f.iface.has_public_key = true;
        memset(f.iface.public_key, 0x99, 32);
        CHECK(reconcile_doc(&fake_ops, &f.b, &f.cfg, &f.doc, 0, &res, &e) < 0);
        CHECK(f.b.applies == 0 && f.b.observes == 0);
        CHECK_STR_CONTAINS(res.ifaces[0].error_msg, "is not this node's key");
        reconcile_result_done(&res);

        fx_init(&f);
        f.iface.has_public_key = true;
        memcpy(f.iface.public_key, f.b.pub, 32);
        CHECK(reconcile_doc(&fake_ops, &f.b, &f.cfg, &f.doc, 0, &res, &e) == 0);
        reconcile_result_done(&res);

        /* no node key at all: one clear error, nothing touched */
        fx_init(&f);
        f.cfg.state_dir = (char *)"/nonexistent/wfl";
        CHECK(reconcile_doc(&fake_ops, &f.b, &f.cfg, &f.doc, 0, &res, &e) < 0);
        CHECK_STR_CONTAINS(e.msg, "/nonexistent/wfl");
        CHECK(f.b.observes == 0);
}

static void test_psk(void) {
        struct fixture f;
        struct reconcile_result res = {};
        struct wf_err e = {};
        char path[256];
        int fd;

        snprintf(path, sizeof(path), "%s/good.psk", secrets);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        CHECK(fd >= 0);
        dprintf(fd, "MzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzM=\n");
        close(fd);

        fx_init(&f);
        f.peers[0].preshared_key_ref = (char *)"good.psk";
        f.peers[1].preshared_key_ref = (char *)"missing.psk";
        CHECK(reconcile_doc(&fake_ops, &f.b, &f.cfg, &f.doc, RECONCILE_DRY_RUN, &res, &e) == -ENOKEY);
        CHECK(res.ifaces[0].target.peers[0].has_preshared_key);
        CHECK(res.ifaces[0].target.peers[0].preshared_key[0] == '3');
        CHECK(res.ifaces[0].target.peers[1].hold);
        snprintf(path, sizeof(path), "%s/missing.psk", secrets);
        CHECK_STR_CONTAINS(res.ifaces[0].error_msg, path);
        CHECK_STR_CONTAINS(res.ifaces[0].error_msg, "peer p1");
        /* the held peer is not in the plan; the other one is */
        size_t adds = 0;
        for (size_t i = 0; i < res.ifaces[0].plan.n_ops; i++)
                if (res.ifaces[0].plan.ops[i].kind == PLAN_PEER_ADD) {
                        adds++;
                        CHECK(res.ifaces[0].plan.ops[i].peer->peer == &f.peers[0]);
                }
        CHECK(adds == 1);
        reconcile_result_done(&res);

        /* a path instead of a name is refused, not followed */
        fx_init(&f);
        f.peers[0].preshared_key_ref = (char *)"../state/private.key";
        CHECK(reconcile_doc(&fake_ops, &f.b, &f.cfg, &f.doc, RECONCILE_DRY_RUN, &res, &e) == -ENOKEY);
        CHECK(res.ifaces[0].target.peers[0].hold && !res.ifaces[0].target.peers[0].has_preshared_key);
        reconcile_result_done(&res);
}

static void test_retire(void) {
        struct fixture f;
        struct wf_err e = {};
        struct wf_iface other = { .name = (char *)"wflgone0" };
        struct wf_iface both[2];
        struct wf_doc old;

        fx_init(&f);
        both[0] = f.iface;
        both[1] = other;
        old = (struct wf_doc){ .ifaces = both, .n_ifaces = 2 };
        CHECK(reconcile_retire(&fake_ops, &f.b, &old, &f.doc, &e) == 0);
        CHECK(f.b.clears == 1 && strcmp(f.b.cleared, "wflgone0") == 0);
        CHECK(reconcile_retire(&fake_ops, &f.b, NULL, &f.doc, &e) == 0);
        CHECK(f.b.clears == 1);
}

int main(void) {
        struct wf_err e = {};

        if (sodium_init() < 0 || !mkdtemp(dir))
                return 1;
        snprintf(state, sizeof(state), "%s/state", dir);
        snprintf(secrets, sizeof(secrets), "%s/secrets", dir);
        mkdir(secrets, 0700);
        if (keys_ensure(state, &e) < 0) {
                fprintf(stderr, "keys_ensure: %s\n", e.msg);
                return 1;
        }
        test_retry();
        test_dry_run();
        test_node_key();
        test_psk();
        test_retire();
        char cmd[256];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        if (system(cmd) != 0)
                fprintf(stderr, "could not remove %s\n", dir);
        return TAP_DONE();
}
