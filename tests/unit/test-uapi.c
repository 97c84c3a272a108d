/* SPDX-License-Identifier: MIT */
/* The UAPI codec fed text directly: get replies in, set requests out. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "plan-change.h"
#include "tap.h"
#include "uapi.h"

/* A plan's WireGuard part as a set request, as the uapi backend sends it. */
static int format_plan(const struct plan *p, const struct plan_target *t, char **ret, size_t *ret_len) {
        struct wgc_device d;
        int r = plan_wg_change(p, t, &d);

        if (r < 0)
                return r;
        r = uapi_format_set(&d, ret, ret_len);
        free((void *)d.peers);
        return r;
}

static const char get_reply[] =
        "private_key=e84b5a6d2717c1003a13b431570353dbaca9146cf150c5f8575680feba52027a\n"
        "listen_port=51820\n"
        "fwmark=81\n"
        "public_key=b85996fecc9c7f1fc6d2572a76eda11d59bcd20be8e543b15ce4bd85a8e75a33\n"
        "preshared_key=0000000000000000000000000000000000000000000000000000000000000000\n"
        "protocol_version=1\n"
        "endpoint=192.0.2.1:51820\n"
        "last_handshake_time_sec=1700000000\n"
        "last_handshake_time_nsec=5\n"
        "tx_bytes=1000\n"
        "rx_bytes=2000\n"
        "persistent_keepalive_interval=25\n"
        "allowed_ip=10.1.0.0/24\n"
        "allowed_ip=fd00:1::/64\n"
        "public_key=58402e695ba1772b1cc9309755f043251ea77fdcf10fbe63989ceb7e19321376\n"
        "preshared_key=1111111111111111111111111111111111111111111111111111111111111111\n"
        "endpoint=[fd00::7]:4000\n"
        "last_handshake_time_sec=0\n"
        "tx_bytes=0\n"
        "rx_bytes=0\n"
        "persistent_keepalive_interval=0\n"
        "errno=0\n"
        "\n";

static void test_parse_get(void) {
        struct wf_live_iface live = {};
        struct wf_err e = {};
        uint8_t priv[32], pub[32];
        char buf[64];

        CHECK(uapi_parse_get(get_reply, strlen(get_reply), &live, &e) == 0);
        CHECK(live.has_private_key);
        sodium_hex2bin(priv, 32, "e84b5a6d2717c1003a13b431570353dbaca9146cf150c5f8575680feba52027a", 64,
                       NULL, NULL, NULL);
        crypto_scalarmult_curve25519_base(pub, priv);
        CHECK(memcmp(pub, live.public_key, 32) == 0);
        CHECK(live.listen_port == 51820);
        CHECK(live.fwmark == 81);
        CHECK(live.n_peers == 2);
        if (live.n_peers == 2) {
                struct wf_live_peer *a = &live.peers[0], *b = &live.peers[1];
                CHECK(a->public_key[0] == 0xb8 && a->public_key[31] == 0x33);
                CHECK(!a->has_preshared_key);
                wf_sockaddr_format(&a->endpoint, buf);
                CHECK(strcmp(buf, "192.0.2.1:51820") == 0);
                CHECK(a->last_handshake == 1700000000);
                CHECK(a->tx_bytes == 1000 && a->rx_bytes == 2000);
                CHECK(a->persistent_keepalive == 25);
                CHECK(a->n_allowed_ips == 2);
                wf_prefix_format(&a->allowed_ips[1], buf);
                CHECK(strcmp(buf, "fd00:1::/64") == 0);
                CHECK(b->has_preshared_key && b->preshared_key[0] == 0x11);
                wf_sockaddr_format(&b->endpoint, buf);
                CHECK(strcmp(buf, "[fd00::7]:4000") == 0);
                CHECK(b->n_allowed_ips == 0);
        }
        free(live.name);
        for (size_t i = 0; i < live.n_peers; i++)
                free(live.peers[i].allowed_ips);
        free(live.peers);
}

static void test_parse_errors(void) {
        struct wf_live_iface live = {};
        struct wf_err e = {};
        int en = -1;

        CHECK(uapi_parse_get("errno=2\n\n", 9, &live, &e) == -2);
        CHECK(uapi_parse_get("listen_port=x\nerrno=0\n\n", 23, &live, &e) == -EBADMSG);
        CHECK_STR_CONTAINS(e.msg, "line 1");
        CHECK(uapi_parse_get("listen_port=1\n\n", 15, &live, &e) == -EBADMSG);
        CHECK_STR_CONTAINS(e.msg, "no errno");
        CHECK(uapi_parse_get("public_key=zz\nerrno=0\n\n", 23, &live, &e) == -EBADMSG);
        free(live.peers);
        CHECK(uapi_parse_errno("errno=22\n\n", 10, &en) == 0 && en == 22);
        CHECK(uapi_parse_errno("garbage\n\n", 9, &en) == -EBADMSG);
}

static void test_format_set(void) {
        struct wf_iface iface = { .name = (char *)"wflu0", .listen_port = 51821, .fwmark = 7 };
        struct wf_peer peers[2] = {};
        struct wf_prefix a0[] = { tap_prefix("10.1.0.0/24") }, a1[] = { tap_prefix("10.2.0.0/24"), tap_prefix("fd00:2::/64") };
        struct plan_peer tp[2] = {};
        struct plan_target t = { .iface = &iface, .has_private_key = true, .peers = tp, .n_peers = 2 };
        struct wf_live_peer gone = {};
        struct wf_prefix add[] = { tap_prefix("10.9.0.0/16") };
        struct plan_op ops[5] = {
                { .kind = PLAN_IFACE_SET, .flags = PLAN_SET_PRIVATE_KEY | PLAN_SET_LISTEN_PORT | PLAN_SET_FWMARK | PLAN_SET_UP },
                { .kind = PLAN_PEER_ADD, .peer = &tp[0], .flags = PLAN_PEER_ENDPOINT | PLAN_PEER_ALLOWED_IPS_ADD },
                { .kind = PLAN_PEER_UPDATE, .peer = &tp[1], .flags = PLAN_PEER_KEEPALIVE | PLAN_PEER_ALLOWED_IPS_ADD,
                  .allowed_ips_add = add, .n_allowed_ips_add = 1 },
                { .kind = PLAN_PEER_UPDATE, .peer = &tp[1], .flags = PLAN_PEER_ALLOWED_IPS_REPLACE | PLAN_PEER_PRESHARED_KEY },
                { .kind = PLAN_PEER_REMOVE, .live_peer = &gone },
        };
        struct plan p = { .iface = (char *)"wflu0", .ops = ops, .n_ops = 5 };
        char *req = NULL;
        size_t len = 0;

        memset(t.private_key, 0xaa, 32);
        memset(peers[0].public_key, 0x01, 32);
        memset(peers[1].public_key, 0x02, 32);
        memset(gone.public_key, 0x03, 32);
        peers[0].allowed_ips = a0;
        peers[0].n_allowed_ips = 1;
        peers[0].persistent_keepalive = -1;
        peers[1].allowed_ips = a1;
        peers[1].n_allowed_ips = 2;
        peers[1].persistent_keepalive = 15;
        tp[0].peer = &peers[0];
        tp[1].peer = &peers[1];
        struct sockaddr_in *s4 = (struct sockaddr_in *)&tp[0].endpoint;
        s4->sin_family = AF_INET;
        s4->sin_port = htons(51820);
        inet_pton(AF_INET, "198.51.100.1", &s4->sin_addr);

        CHECK(format_plan(&p, &t, &req, &len) == 0);
        CHECK(req && len == strlen(req));
        const char *expect =
                "set=1\n"
                "private_key=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n"
                "listen_port=51821\n"
                "fwmark=7\n"
                "public_key=0101010101010101010101010101010101010101010101010101010101010101\n"
                "endpoint=198.51.100.1:51820\n"
                "allowed_ip=10.1.0.0/24\n"
                "public_key=0202020202020202020202020202020202020202020202020202020202020202\n"
                "update_only=true\n"
                "persistent_keepalive_interval=15\n"
                "allowed_ip=10.9.0.0/16\n"
                "public_key=0202020202020202020202020202020202020202020202020202020202020202\n"
                "update_only=true\n"
                "preshared_key=0000000000000000000000000000000000000000000000000000000000000000\n"
                "replace_allowed_ips=true\n"
                "allowed_ip=10.2.0.0/24\n"
                "allowed_ip=fd00:2::/64\n"
                "public_key=0303030303030303030303030303030303030303030303030303030303030303\n"
                "remove=true\n"
                "\n";
        CHECK(req && strcmp(req, expect) == 0);
        if (req && strcmp(req, expect) != 0)
                fprintf(stderr, "got:\n%s", req);
        uapi_request_free(req, len);

        /* only link-level ops: nothing to send over the socket */
        struct plan_op only[] = { { .kind = PLAN_IFACE_SET, .flags = PLAN_SET_UP | PLAN_SET_MTU },
                                  { .kind = PLAN_ROUTE_ADD } };
        struct plan q = { .iface = (char *)"wflu0", .ops = only, .n_ops = 2 };
        CHECK(format_plan(&q, &t, &req, &len) == 0);
        CHECK(req == NULL && len == 0);
}

int main(void) {
        if (sodium_init() < 0)
                return 1;
        test_parse_get();
        test_parse_errors();
        test_format_set();
        return TAP_DONE();
}
