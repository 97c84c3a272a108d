/* SPDX-License-Identifier: MIT */
/* Benchmark helper (run by bench/run inside the vm, as root, on the real kernel module):
 *   wgfleet-bench conf N [--change I]        a `wg setconf` file with N synthetic peers
 *   wgfleet-bench apply IFACE N [--change I [--variant V]] [--no-routes] [--big K]
 *   (both take --offset K: peers K..K+N-1, and --port P: the listen port, default 51820)
 *                                            observe + plan + apply the same peers through the
 *                                            linux backend; prints phase timings
 *   wgfleet-bench observe IFACE              times the WireGuard dump and the route part apart
 *   wgfleet-bench dump IFACE                 peer and allowed-IP totals as wg-netlink parses them
 *   wgfleet-bench doc IFACE N [--change I --variant V --revision R]
 *                                            the same peers as a desired-state payload (node
 *                                            "bench") for `wgfleet-agent apply`
 *   wgfleet-bench key                        the device's private key (base64), as conf uses it
 *   wgfleet-bench time CMD [ARG...]          runs CMD, prints its wall time in ms and its peak RSS
 *   wgfleet-bench plan N [--change I]        (host, no module) plan_compute alone, in memory
 *   wgfleet-bench routes IFACE N             (host) route_observe with the conflict check; the
 *                                            apply command's routes must be on IFACE
 * Peers are derived from their index, so conf and apply describe exactly the same peers; with
 * --change I, peer I has another endpoint (port + V, default 1). */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "model.h"
#include "plan.h"
#include "route.h"
#include "util.h"
#include "wg-netlink.h"

/* How far the changed peer's port moves: runs with different variants each change one peer. */
static long variant = 1;
/* Peer i is built from index i + offset: runs with different offsets have disjoint peers, keys
 * and prefixes, so their devices and routes coexist. */
static size_t offset;
static uint16_t listen_port = 51820;

static uint64_t splitmix(uint64_t *s) {
        uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
}

static void derive_key(uint64_t index, uint8_t key[32]) {
        uint64_t s = (index + offset) * 7919 + 17;

        for (int i = 0; i < 4; i++) {
                uint64_t v = splitmix(&s);
                memcpy(key + 8 * i, &v, 8);
        }
}

static double now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Peer i: 10.64.0.0/10 + i as /32, fd64::i/128, endpoint 192.0.2.x:(20000 + i % 40000). */
static void peer_prefixes(size_t i, struct wf_prefix out[2]) {
        uint32_t v4;

        i += offset;
        v4 = 0x0a400000u + (uint32_t)i;

        out[0] = (struct wf_prefix){ .family = AF_INET, .len = 32 };
        v4 = htonl(v4);
        memcpy(out[0].addr, &v4, 4);
        out[1] = (struct wf_prefix){ .family = AF_INET6, .len = 128 };
        out[1].addr[0] = 0xfd;
        out[1].addr[1] = 0x64;
        out[1].addr[12] = (uint8_t)(i >> 24);
        out[1].addr[13] = (uint8_t)(i >> 16);
        out[1].addr[14] = (uint8_t)(i >> 8);
        out[1].addr[15] = (uint8_t)i;
}


static uint16_t peer_port(size_t i, long change) {
        return (uint16_t)(20000 + i % 40000 + ((long)i == change ? variant : 0));
}

static void peer_endpoint(size_t i, long change, struct sockaddr_storage *ss) {
        struct sockaddr_in *sin = (struct sockaddr_in *)ss;

        memset(ss, 0, sizeof(*ss));
        sin->sin_family = AF_INET;
        sin->sin_port = htons(peer_port(i, change));
        sin->sin_addr.s_addr = htonl(0xc0000200u + (uint32_t)(i % 250) + 1);
}

static const uint8_t private_key[32] = { 0x08, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
                                         16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 0x41 };

static int cmd_conf(size_t n, long change) {
        char b64[45];

        wf_key_to_b64(private_key, b64);
        printf("[Interface]\nPrivateKey = %s\nListenPort = %u\n", b64, listen_port);
        for (size_t i = 0; i < n; i++) {
                uint8_t key[32];
                struct wf_prefix p[2];
                char a[64], b[64];
                struct sockaddr_storage ss;
                char ep[64];

                derive_key(i, key);
                wf_key_to_b64(key, b64);
                peer_prefixes(i, p);
                wf_prefix_format(&p[0], a);
                wf_prefix_format(&p[1], b);
                peer_endpoint(i, change, &ss);
                wf_sockaddr_format(&ss, ep);
                printf("\n[Peer]\nPublicKey = %s\nAllowedIPs = %s, %s\nEndpoint = %s\n", b64, a, b, ep);
        }
        return 0;
}

/* The desired-state payload of the same peers for the whole agent process (bench/run signs it):
 * node "bench", interface ifname, one /32 address outside the peers' prefixes. */
static int cmd_doc(const char *ifname, size_t n, long change, long revision) {
        char b64[45];

        printf("{\"schema\":\"wgfleet/desired-state/v1\",\"node\":\"bench\",\"revision\":%ld,"
               "\"issued_at\":\"2026-01-01T00:00:00Z\",\"expires_at\":\"2099-01-01T00:00:00Z\","
               "\"interfaces\":[{\"name\":\"%s\",\"listen_port\":%u,\"addresses\":[\"100.64.0.1/32\"],"
               "\"peers\":[", revision, ifname, listen_port);
        for (size_t i = 0; i < n; i++) {
                uint8_t key[32];
                struct wf_prefix p[2];
                struct sockaddr_storage ss;
                char a[64], b[64], ep[64];

                derive_key(i, key);
                wf_key_to_b64(key, b64);
                peer_prefixes(i, p);
                wf_prefix_format(&p[0], a);
                wf_prefix_format(&p[1], b);
                peer_endpoint(i, change, &ss);
                wf_sockaddr_format(&ss, ep);
                printf("%s{\"name\":\"p%zu\",\"public_key\":\"%s\",\"endpoint\":\"%s\",\"allowed_ips\":[\"%s\",\"%s\"]}",
                       i ? "," : "", i + offset, b64, ep, a, b);
        }
        printf("]}]}\n");
        return 0;
}

static int cmd_apply(const char *ifname, size_t n, long change, bool routes, size_t big) {
        struct wf_iface iface = { .listen_port = listen_port, .route_table = 254, .route_metric = 10 };
        struct plan_target t = { .iface = &iface, .has_private_key = true };
        struct config cfg = {};
        struct backend *b = NULL;
        struct wf_live_iface *live = NULL;
        struct plan p = {};
        struct wf_err e = {};
        size_t n_all = n + (big ? 1 : 0), changes = 0;
        double t0, t1, t2, t3;
        int r;

        iface.name = (char *)ifname;
        memcpy(t.private_key, private_key, 32);
        crypto_scalarmult_base(t.public_key, t.private_key);
        iface.peers = calloc(n_all, sizeof(*iface.peers));
        t.peers = calloc(n_all, sizeof(*t.peers));
        if (!iface.peers || !t.peers)
                return -ENOMEM;
        for (size_t i = 0; i < n_all; i++) {
                struct wf_peer *wp = &iface.peers[i];

                derive_key(i, wp->public_key);
                wp->persistent_keepalive = -1;
                if (i < n) {
                        wp->allowed_ips = calloc(2, sizeof(*wp->allowed_ips));
                        peer_prefixes(i, wp->allowed_ips);
                        wp->n_allowed_ips = 2;
                } else {
                        /* One peer with many allowed IPs: 10.128.x.y/30 blocks. */
                        wp->allowed_ips = calloc(big, sizeof(*wp->allowed_ips));
                        for (size_t j = 0; j < big; j++) {
                                uint32_t a = htonl(0x0a800000u + (uint32_t)j * 4);
                                wp->allowed_ips[j] = (struct wf_prefix){ .family = AF_INET, .len = 30 };
                                memcpy(wp->allowed_ips[j].addr, &a, 4);
                        }
                        wp->n_allowed_ips = big;
                }
                t.peers[i].peer = wp;
                peer_endpoint(i, change, &t.peers[i].endpoint);
        }
        iface.n_peers = t.n_peers = n_all;

        t0 = now_ms();
        r = backend_linux_ops.open(&b, &cfg, &e);
        if (r >= 0)
                r = backend_linux_ops.observe(b, ifname, routes ? &iface : NULL, &live, &e);
        t1 = now_ms();
        if (r >= 0)
                r = plan_compute(&t, live, &p);
        if (r >= 0 && !routes) {
                /* Peers only, to compare with wg setconf, which installs no routes. */
                size_t k = 0;
                for (size_t i = 0; i < p.n_ops; i++)
                        if (p.ops[i].kind != PLAN_ROUTE_ADD && p.ops[i].kind != PLAN_ROUTE_DEL &&
                            p.ops[i].kind != PLAN_ROUTE_CONFLICT)
                                p.ops[k++] = p.ops[i];
                p.n_ops = k;
        }
        t2 = now_ms();
        if (r >= 0) {
                changes = plan_changes(&p);
                r = backend_linux_ops.apply(b, &p, &t, &e);
        }
        t3 = now_ms();
        if (r < 0)
                fprintf(stderr, "wgfleet-bench: %s\n", e.msg[0] ? e.msg : strerror(-r));
        else
                printf("peers=%zu changes=%zu observe_ms=%.1f plan_ms=%.1f apply_ms=%.1f total_ms=%.1f\n",
                       n_all, changes, t1 - t0, t2 - t1, t3 - t2, t3 - t0);
        plan_done(&p);
        wf_live_iface_free(live);
        if (b)
                backend_linux_ops.close(b);
        for (size_t i = 0; i < n_all; i++)
                free(iface.peers[i].allowed_ips);
        free(iface.peers);
        free(t.peers);
        return r;
}

/* Where observation time goes: the WireGuard dump and the rtnetlink part, timed apart. */
static int cmd_observe(const char *ifname) {
        _cleanup_wgnl_ struct wgnl *wg = NULL;
        _cleanup_route_ctx_ struct route_ctx *rt = NULL;
        struct wf_live_iface *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
        struct wf_err e = {};
        double t0, t1, t2;
        int r;

        if (!a || !b)
                return -ENOMEM;
        r = wgnl_open(&wg, &e);
        if (r >= 0)
                r = route_ctx_new(&rt, &e);
        t0 = now_ms();
        if (r >= 0)
                r = wgnl_get_device(wg, ifname, a, &e);
        t1 = now_ms();
        if (r >= 0)
                r = route_observe(rt, ifname, NULL, b, &e);
        t2 = now_ms();
        if (r < 0)
                fprintf(stderr, "wgfleet-bench: %s\n", e.msg);
        else
                printf("wg_dump_ms=%.1f peers=%zu route_observe_ms=%.1f routes=%zu\n", t1 - t0, a->n_peers,
                       t2 - t1, b->n_routes);
        wf_live_iface_free(a);
        wf_live_iface_free(b);
        return r;
}

/* What our own parser makes of a dump: totals to compare with `wg show`. */
static int cmd_dump(const char *ifname) {
        _cleanup_wgnl_ struct wgnl *wg = NULL;
        struct wf_live_iface *l = calloc(1, sizeof(*l));
        struct wgnl_stats st;
        struct wf_err e = {};
        size_t total = 0, max = 0;
        int r;

        if (!l)
                return -ENOMEM;
        r = wgnl_open(&wg, &e);
        if (r >= 0)
                r = wgnl_get_device(wg, ifname, l, &e);
        if (r < 0) {
                fprintf(stderr, "wgfleet-bench: %s\n", e.msg);
                wf_live_iface_free(l);
                return r;
        }
        for (size_t i = 0; i < l->n_peers; i++) {
                total += l->peers[i].n_allowed_ips;
                if (l->peers[i].n_allowed_ips > max)
                        max = l->peers[i].n_allowed_ips;
        }
        wgnl_get_stats(wg, &st);
        printf("peers=%zu allowed_ips=%zu max_per_peer=%zu get_messages=%llu\n", l->n_peers, total, max,
               (unsigned long long)st.get_messages);
        wf_live_iface_free(l);
        return 0;
}

/* Host-side profiling without the kernel module: the plan of one changed peer among n against
 * an in-memory live state that holds exactly the other peers and their 2n routes. */
static int cmd_plan(size_t n, long change, int reps) {
        struct wf_iface iface = { .name = (char *)"wfp0", .listen_port = listen_port, .route_table = 254,
                                  .route_metric = 10 };
        struct plan_target t = { .iface = &iface };
        struct wf_live_iface live = { .exists = true, .up = true, .listen_port = listen_port };
        struct wf_prefix *pre = calloc(2 * n + 1, sizeof(*pre));
        double best = 1e18;
        size_t ops = 0;

        iface.peers = calloc(n + 1, sizeof(*iface.peers));
        t.peers = calloc(n + 1, sizeof(*t.peers));
        live.peers = calloc(n + 1, sizeof(*live.peers));
        live.routes = calloc(2 * n + 1, sizeof(*live.routes));
        if (!pre || !iface.peers || !t.peers || !live.peers || !live.routes)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                struct wf_peer *wp = &iface.peers[i];
                struct wf_live_peer *lp = &live.peers[n - 1 - i]; /* kernel order differs */

                derive_key(i, wp->public_key);
                wp->persistent_keepalive = -1;
                peer_prefixes(i, &pre[2 * i]);
                wp->allowed_ips = &pre[2 * i];
                wp->n_allowed_ips = 2;
                t.peers[i].peer = wp;
                peer_endpoint(i, change, &t.peers[i].endpoint);
                memcpy(lp->public_key, wp->public_key, 32);
                lp->allowed_ips = &pre[2 * i];
                lp->n_allowed_ips = 2;
                peer_endpoint(i, -1, &lp->endpoint);
                /* route_list's order: the IPv4 dump, then the IPv6 one, each in address order */
                for (int k = 0; k < 2; k++)
                        live.routes[k * n + i] = (struct wf_live_route){
                                .dst = pre[2 * i + k], .table = 254, .metric = 10, .protocol = WF_RTPROT,
                                .ours = true };
        }
        iface.n_peers = t.n_peers = live.n_peers = n;
        live.n_routes = 2 * n;
        for (int k = 0; k < reps; k++) {
                struct plan p = {};
                double t0 = now_ms();
                if (plan_compute(&t, &live, &p) < 0)
                        return -ENOMEM;
                double dt = now_ms() - t0;
                best = dt < best ? dt : best;
                ops = plan_changes(&p);
                plan_done(&p);
        }
        printf("peers=%zu changes=%zu plan_ms=%.2f (best of %d)\n", n, ops, best, reps);
        free(pre);
        free(iface.peers);
        free(t.peers);
        free(live.peers);
        free(live.routes);
        return 0;
}

/* Host-side profiling of the route part of an observation, with the conflict check: the
 * desired state is the apply command's n peers (their routes must already be on ifname). */
static int cmd_routes(const char *ifname, size_t n, int reps) {
        _cleanup_route_ctx_ struct route_ctx *rt = NULL;
        struct wf_iface iface = { .route_table = 254, .route_metric = 10 };
        struct wf_prefix *pre = calloc(2 * n + 1, sizeof(*pre));
        struct wf_err e = {};
        double best = 1e18;
        size_t routes = 0;
        int r;

        iface.peers = calloc(n + 1, sizeof(*iface.peers));
        if (!pre || !iface.peers)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                peer_prefixes(i, &pre[2 * i]);
                iface.peers[i].allowed_ips = &pre[2 * i];
                iface.peers[i].n_allowed_ips = 2;
        }
        iface.n_peers = n;
        r = route_ctx_new(&rt, &e);
        for (int k = 0; r >= 0 && k < reps; k++) {
                struct wf_live_iface *l = calloc(1, sizeof(*l));
                double t0 = now_ms();
                if (!l)
                        return -ENOMEM;
                r = route_observe(rt, ifname, &iface, l, &e);
                double dt = now_ms() - t0;
                best = dt < best ? dt : best;
                routes = l->n_routes;
                wf_live_iface_free(l);
        }
        if (r < 0)
                fprintf(stderr, "wgfleet-bench: %s\n", e.msg[0] ? e.msg : strerror(-r));
        else
                printf("routes=%zu route_observe_ms=%.2f (best of %d, with the conflict check)\n", routes,
                       best, reps);
        free(pre);
        free(iface.peers);
        return r;
}

static int cmd_time(char **argv) {
        struct rusage ru;
        double t0 = now_ms();
        pid_t pid = fork();
        int status;

        if (pid < 0)
                return -errno;
        if (pid == 0) {
                execvp(argv[0], argv);
                _exit(127);
        }
        if (wait4(pid, &status, 0, &ru) < 0)
                return -errno;
        /* ru_maxrss: the child's peak resident set, libraries included, in KiB */
        printf("time_ms=%.1f maxrss_kb=%ld\n", now_ms() - t0, ru.ru_maxrss);
        return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

int main(int argc, char **argv) {
        static const struct option opts[] = {
                { "change", required_argument, NULL, 'c' },
                { "no-routes", no_argument, NULL, 'R' },
                { "big", required_argument, NULL, 'b' },
                { "variant", required_argument, NULL, 'v' },
                { "offset", required_argument, NULL, 'o' },
                { "port", required_argument, NULL, 'p' },
                { "revision", required_argument, NULL, 'r' },
                {}
        };
        long change = -1, revision = 1;
        bool routes = true;
        size_t big = 0;
        int c;

        if (argc >= 3 && strcmp(argv[1], "time") == 0)
                return cmd_time(argv + 2) < 0 ? 1 : 0;
        if (sodium_init() < 0)
                return 1;
        while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0)
                switch (c) {
                case 'c':
                        change = atol(optarg);
                        break;
                case 'R':
                        routes = false;
                        break;
                case 'b':
                        big = (size_t)atol(optarg);
                        break;
                case 'v':
                        variant = atol(optarg);
                        break;
                case 'o':
                        offset = (size_t)atol(optarg);
                        break;
                case 'p':
                        listen_port = (uint16_t)atoi(optarg);
                        break;
                case 'r':
                        revision = atol(optarg);
                        break;
                default:
                        return 2;
                }
        argv += optind;
        argc -= optind;
        if (argc == 1 && strcmp(argv[0], "key") == 0) {
                char b64[45];
                wf_key_to_b64(private_key, b64);
                printf("%s\n", b64);
                return 0;
        }
        if (argc == 3 && strcmp(argv[0], "doc") == 0)
                return cmd_doc(argv[1], (size_t)atol(argv[2]), change, revision) < 0 ? 1 : 0;
        if (argc == 2 && strcmp(argv[0], "conf") == 0)
                return cmd_conf((size_t)atol(argv[1]), change) < 0 ? 1 : 0;
        if (argc == 2 && strcmp(argv[0], "dump") == 0)
                return cmd_dump(argv[1]) < 0 ? 1 : 0;
        if (argc == 2 && strcmp(argv[0], "observe") == 0)
                return cmd_observe(argv[1]) < 0 ? 1 : 0;
        if (argc == 2 && strcmp(argv[0], "plan") == 0)
                return cmd_plan((size_t)atol(argv[1]), change, 5) < 0 ? 1 : 0;
        if (argc == 3 && strcmp(argv[0], "routes") == 0)
                return cmd_routes(argv[1], (size_t)atol(argv[2]), 5) < 0 ? 1 : 0;
        if (argc == 3 && strcmp(argv[0], "apply") == 0)
                return cmd_apply(argv[1], (size_t)atol(argv[2]), change, routes, big) < 0 ? 1 : 0;
        fprintf(stderr, "usage: wgfleet-bench conf|apply ... [--change I [--variant V]] [--offset K] [--port P] [--no-routes] [--big K]; see bench/README.md\n");
        return 2;
}
