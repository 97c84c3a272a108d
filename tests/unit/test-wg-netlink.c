/* SPDX-License-Identifier: MIT */
/* The netlink encoder and decoder without a kernel: SET messages are split, then decoded back
 * (SET and GET share their attribute layout) and compared with what went in. */
#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/wireguard.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "plan-change.h"
#include "tap.h"
#include "util.h"
#include "wg-netlink.h"

struct msg {
        uint8_t *data;
        size_t len;
};

struct sink {
        struct msg *msgs;
        size_t n;
        int fail_at; /* -1: never */
};

static int sink_send(void *userdata, struct nlmsghdr *nlh) {
        struct sink *s = userdata;

        if (s->fail_at >= 0 && (size_t)s->fail_at == s->n)
                return -EINVAL;
        s->msgs = realloc(s->msgs, (s->n + 1) * sizeof(*s->msgs));
        s->msgs[s->n].len = nlh->nlmsg_len;
        s->msgs[s->n].data = malloc(nlh->nlmsg_len);
        memcpy(s->msgs[s->n].data, nlh, nlh->nlmsg_len);
        s->n++;
        return 0;
}

static void sink_done(struct sink *s) {
        for (size_t i = 0; i < s->n; i++)
                free(s->msgs[i].data);
        free(s->msgs);
}

/* Per message facts the decoder does not keep: device attributes and each peer's flags. */
struct facts {
        bool has_dev_attrs;
        uint32_t peer_flags[4096];
        uint8_t peer_keys[4096][WG_KEY_LEN];
        size_t n_peers;
};

static int peer_attr_cb(const struct nlattr *a, void *data) {
        struct facts *f = data;

        if (mnl_attr_get_type(a) == WGPEER_A_FLAGS)
                f->peer_flags[f->n_peers] = mnl_attr_get_u32(a);
        if (mnl_attr_get_type(a) == WGPEER_A_PUBLIC_KEY)
                memcpy(f->peer_keys[f->n_peers], mnl_attr_get_payload(a), WG_KEY_LEN);
        return MNL_CB_OK;
}

static int dev_attr_cb(const struct nlattr *a, void *data) {
        struct facts *f = data;
        const struct nlattr *p;

        switch (mnl_attr_get_type(a)) {
        case WGDEVICE_A_PRIVATE_KEY:
        case WGDEVICE_A_LISTEN_PORT:
        case WGDEVICE_A_FWMARK:
        case WGDEVICE_A_FLAGS:
                f->has_dev_attrs = true;
                break;
        case WGDEVICE_A_PEERS:
                mnl_attr_for_each_nested(p, a) {
                        f->peer_flags[f->n_peers] = 0;
                        mnl_attr_parse_nested(p, peer_attr_cb, f);
                        f->n_peers++;
                }
                break;
        }
        return MNL_CB_OK;
}

static void facts_of(const struct msg *m, struct facts *f) {
        memset(f, 0, sizeof(*f));
        mnl_attr_parse((const struct nlmsghdr *)m->data, sizeof(struct genlmsghdr), dev_attr_cb, f);
}

static void make_key(uint8_t k[WG_KEY_LEN], unsigned i) {
        memset(k, 0, WG_KEY_LEN);
        k[0] = 0xa0;
        k[1] = (uint8_t)(i >> 8);
        k[2] = (uint8_t)i;
}

static struct wf_prefix v4(unsigned a, unsigned b, unsigned c, uint8_t len) {
        struct wf_prefix p = { .family = AF_INET, .len = len };

        p.addr[0] = 10;
        p.addr[1] = (uint8_t)a;
        p.addr[2] = (uint8_t)b;
        p.addr[3] = (uint8_t)c;
        return p;
}

static void test_split(size_t max) {
        enum { N = 300, BIG = 170, BIG_IPS = 250 };
        static uint8_t keys[N][WG_KEY_LEN];
        static struct wf_prefix ips[N][2];
        static struct wf_prefix big[BIG_IPS];
        static struct wgc_peer peers[N];
        static struct facts f;
        uint8_t priv[WG_KEY_LEN] = { 1 };
        struct wgc_device d = {
                .ifname = "wfk0", .flags = WGC_DEV_PRIVATE_KEY | WGC_DEV_LISTEN_PORT,
                .private_key = priv, .listen_port = 51820, .peers = peers, .n_peers = N,
        };
        struct sink s = { .fail_at = -1 };
        struct wf_live_iface *live = calloc(1, sizeof(*live));
        uint8_t *buf = malloc(max);
        size_t replace_seen[N] = {}, first_chunk_msg[N];
        int r;

        for (unsigned i = 0; i < N; i++) {
                make_key(keys[i], i);
                peers[i].public_key = keys[i];
                peers[i].flags = (i % 3 == 0 ? WGC_PEER_UPDATE_ONLY : 0) | WGC_PEER_REPLACE_ALLOWEDIPS |
                                 WGC_PEER_ENDPOINT | WGC_PEER_KEEPALIVE;
                ips[i][0] = v4(i >> 8, i & 0xff, 0, 24);
                ips[i][1] = (struct wf_prefix){ .family = AF_INET6, .len = 64 };
                ips[i][1].addr[0] = 0xfd;
                ips[i][1].addr[7] = (uint8_t)i;
                peers[i].allowed_ips = ips[i];
                peers[i].n_allowed_ips = 2;
                peers[i].keepalive = 25;
                if (i % 2) {
                        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&peers[i].endpoint;
                        sin6->sin6_family = AF_INET6;
                        sin6->sin6_port = htons(51820);
                        sin6->sin6_addr.s6_addr[0] = 0xfd;
                        sin6->sin6_addr.s6_addr[15] = (uint8_t)i;
                } else {
                        struct sockaddr_in *sin = (struct sockaddr_in *)&peers[i].endpoint;
                        sin->sin_family = AF_INET;
                        sin->sin_port = htons(51820);
                        sin->sin_addr.s_addr = htonl(0xc0000200u + i);
                }
        }
        for (unsigned j = 0; j < BIG_IPS; j++)
                big[j] = v4(200 + j / 256, j % 256, 0, 24);
        peers[BIG].allowed_ips = big;
        peers[BIG].n_allowed_ips = BIG_IPS;
        peers[7].flags = WGC_PEER_REMOVE;

        r = wgnl_encode_set(&d, 0x42, 1, buf, max, sink_send, &s);
        CHECK(r > 1);
        CHECK((size_t)r == s.n);

        for (size_t m = 0; m < s.n; m++) {
                CHECK(s.msgs[m].len <= max);
                facts_of(&s.msgs[m], &f);
                CHECK(f.has_dev_attrs == (m == 0));
                CHECK(wgnl_parse_device_msg((const struct nlmsghdr *)s.msgs[m].data, live) == 0);
                for (size_t k = 0; k < f.n_peers; k++) {
                        unsigned i = (unsigned)f.peer_keys[k][1] << 8 | f.peer_keys[k][2];
                        if (i >= N)
                                continue;
                        if (f.peer_flags[k] & WGPEER_F_REPLACE_ALLOWEDIPS) {
                                replace_seen[i]++;
                                first_chunk_msg[i] = m;
                        }
                        if (i % 3 == 0 || replace_seen[i] == 0 || first_chunk_msg[i] != m)
                                if (i != 7)
                                        CHECK(f.peer_flags[k] & WGPEER_F_UPDATE_ONLY);
                }
        }
        /* Every peer exactly once, in order, with every allowed IP; REPLACE only once each. */
        CHECK(live->n_peers == N);
        for (unsigned i = 0; i < N && i < live->n_peers; i++) {
                const struct wf_live_peer *lp = &live->peers[i];
                CHECK(memcmp(lp->public_key, keys[i], WG_KEY_LEN) == 0);
                CHECK(replace_seen[i] == (i == 7 ? 0 : 1));
                if (i == 7) {
                        CHECK(lp->n_allowed_ips == 0);
                        continue;
                }
                CHECK(lp->n_allowed_ips == peers[i].n_allowed_ips);
                for (size_t j = 0; j < lp->n_allowed_ips && j < peers[i].n_allowed_ips; j++)
                        CHECK(wf_prefix_equal(&lp->allowed_ips[j], &peers[i].allowed_ips[j]));
                CHECK(lp->persistent_keepalive == 25);
                CHECK(wf_sockaddr_equal(&lp->endpoint, &peers[i].endpoint));
        }
        /* The big peer cannot fit in one page: it must have been continued. Every other peer
         * replaces its list and fits in a message: never split. */
        {
                static size_t chunks[N];
                memset(chunks, 0, sizeof(chunks));
                for (size_t m = 0; m < s.n; m++) {
                        facts_of(&s.msgs[m], &f);
                        for (size_t k = 0; k < f.n_peers; k++) {
                                unsigned i = (unsigned)f.peer_keys[k][1] << 8 | f.peer_keys[k][2];
                                if (i < N)
                                        chunks[i]++;
                        }
                }
                for (unsigned i = 0; i < N; i++)
                        CHECK(chunks[i] == 1 || (i == BIG && max <= 4096 && chunks[i] >= 2) ||
                              (i == BIG && max > 4096));
        }
        CHECK(live->listen_port == 51820);
        CHECK(live->has_private_key);
        wf_live_iface_free(live);
        sink_done(&s);

        /* A failing send stops the encoder and reports the error. */
        s = (struct sink){ .fail_at = 1 };
        CHECK(wgnl_encode_set(&d, 0x42, 1, buf, max, sink_send, &s) == -EINVAL);
        CHECK(s.n == 1);
        sink_done(&s);
        free(buf);
}

static void test_nothing_to_send(void) {
        struct sink s = { .fail_at = -1 };
        struct wgc_device d = { .ifname = "wfk0" };
        uint8_t buf[4096];

        CHECK(wgnl_encode_set(&d, 0x42, 1, buf, sizeof(buf), sink_send, &s) == 0);
        CHECK(s.n == 0);
        CHECK(wgnl_encode_set(&d, 0x42, 1, buf, 64, sink_send, &s) == -EMSGSIZE);
        sink_done(&s);
}

static void test_malformed(void) {
        uint8_t buf[512];
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
        struct genlmsghdr *g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
        struct nlattr *peers, *p;
        struct wf_live_iface *live = calloc(1, sizeof(*live));
        uint8_t shortkey[8] = {};

        g->cmd = WG_CMD_GET_DEVICE;
        peers = mnl_attr_nest_start(nlh, WGDEVICE_A_PEERS);
        p = mnl_attr_nest_start(nlh, 0);
        mnl_attr_put(nlh, WGPEER_A_PUBLIC_KEY, sizeof(shortkey), shortkey);
        mnl_attr_nest_end(nlh, p);
        mnl_attr_nest_end(nlh, peers);
        CHECK(wgnl_parse_device_msg(nlh, live) == -EINVAL);
        CHECK(live->n_peers == 0);
        wf_live_iface_free(live);

        /* an attribute whose length runs past its nest is not read: the key is missing */
        uint8_t key[32] = { 9 };
        struct nlattr *ka;
        live = calloc(1, sizeof(*live));
        nlh = mnl_nlmsg_put_header(buf);
        g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
        g->cmd = WG_CMD_GET_DEVICE;
        peers = mnl_attr_nest_start(nlh, WGDEVICE_A_PEERS);
        p = mnl_attr_nest_start(nlh, 0);
        ka = (struct nlattr *)((uint8_t *)nlh + nlh->nlmsg_len);
        mnl_attr_put(nlh, WGPEER_A_PUBLIC_KEY, sizeof(key), key);
        mnl_attr_nest_end(nlh, p);
        mnl_attr_nest_end(nlh, peers);
        ka->nla_len += 8;
        CHECK(wgnl_parse_device_msg(nlh, live) == -EINVAL);
        CHECK(live->n_peers == 0);
        /* the same with a correct length parses */
        ka->nla_len -= 8;
        CHECK(wgnl_parse_device_msg(nlh, live) == 0);
        CHECK(live->n_peers == 1 && live->peers[0].public_key[0] == 9);
        wf_live_iface_free(live);
}


/* Plan operations -> one device change (plan-change.c): field selection, flags, plan order. */
static void test_plan_to_set(void) {
        struct wf_prefix ips_a[2] = { v4(1, 0, 0, 24), v4(1, 1, 0, 24) };
        struct wf_prefix ips_c[1] = { v4(3, 0, 0, 24) };
        struct wf_prefix add_b[1] = { v4(2, 9, 0, 24) };
        struct wf_peer pa = { .name = "a", .allowed_ips = ips_a, .n_allowed_ips = 2, .persistent_keepalive = 25 };
        struct wf_peer pb = { .name = "b", .persistent_keepalive = -1 };
        struct wf_peer pc = { .name = "c", .allowed_ips = ips_c, .n_allowed_ips = 1, .persistent_keepalive = -1 };
        struct wf_iface iface = { .name = "wfk0", .listen_port = 51820, .fwmark = 7 };
        struct plan_peer tp[3] = { { .peer = &pa, .has_preshared_key = true }, { .peer = &pb }, { .peer = &pc } };
        struct plan_target t = { .iface = &iface, .has_private_key = true, .peers = tp, .n_peers = 3 };
        struct wf_live_peer lx = {}, lb = {}, lc = {};
        struct plan_op ops[6] = {
                { .kind = PLAN_IFACE_SET, .flags = PLAN_SET_PRIVATE_KEY | PLAN_SET_LISTEN_PORT | PLAN_SET_MTU },
                /* an add's flags as plan_compute sets them from the peer */
                { .kind = PLAN_PEER_ADD, .peer = &tp[0], .flags = PLAN_PEER_ENDPOINT | PLAN_PEER_KEEPALIVE |
                                                                 PLAN_PEER_PRESHARED_KEY | PLAN_PEER_ALLOWED_IPS_ADD },
                { .kind = PLAN_PEER_UPDATE, .peer = &tp[1], .live_peer = &lb,
                  .flags = PLAN_PEER_ENDPOINT | PLAN_PEER_ALLOWED_IPS_ADD, .allowed_ips_add = add_b, .n_allowed_ips_add = 1 },
                { .kind = PLAN_PEER_UPDATE, .peer = &tp[2], .live_peer = &lc,
                  .flags = PLAN_PEER_PRESHARED_KEY | PLAN_PEER_KEEPALIVE | PLAN_PEER_ALLOWED_IPS_REPLACE },
                { .kind = PLAN_PEER_REMOVE, .live_peer = &lx }, /* plan order: removals last */
                { .kind = PLAN_ROUTE_ADD },
        };
        struct plan p = { .iface = "wfk0", .ops = ops, .n_ops = 6 };
        struct wgc_device d;
        struct sockaddr_in *sin;

        make_key(pa.public_key, 1);
        make_key(pb.public_key, 2);
        make_key(pc.public_key, 3);
        make_key(lx.public_key, 4);
        memcpy(lb.public_key, pb.public_key, WG_KEY_LEN);
        memcpy(lc.public_key, pc.public_key, WG_KEY_LEN);
        memset(tp[0].preshared_key, 0x55, WG_KEY_LEN);
        sin = (struct sockaddr_in *)&tp[0].endpoint;
        sin->sin_family = AF_INET;
        sin->sin_port = htons(1);
        sin = (struct sockaddr_in *)&tp[1].endpoint;
        sin->sin_family = AF_INET;
        sin->sin_port = htons(2);
        memset(t.private_key, 0x11, WG_KEY_LEN);

        CHECK(plan_wg_change(&p, &t, &d) == 0);
        CHECK(strcmp(d.ifname, "wfk0") == 0);
        CHECK(d.flags == (WGC_DEV_PRIVATE_KEY | WGC_DEV_LISTEN_PORT)); /* MTU is rtnetlink's */
        CHECK(d.private_key == t.private_key && d.listen_port == 51820);
        CHECK(d.n_peers == 4);
        if (d.n_peers == 4) {
                const struct wgc_peer *a = &d.peers[0], *b = &d.peers[1], *c = &d.peers[2], *x = &d.peers[3];

                CHECK(a->public_key == pa.public_key);
                CHECK(a->flags == (WGC_PEER_REPLACE_ALLOWEDIPS | WGC_PEER_PRESHARED_KEY | WGC_PEER_ENDPOINT | WGC_PEER_KEEPALIVE));
                CHECK(a->preshared_key == tp[0].preshared_key && a->keepalive == 25);
                CHECK(a->allowed_ips == ips_a && a->n_allowed_ips == 2);
                CHECK(b->public_key == pb.public_key);
                CHECK(b->flags == (WGC_PEER_UPDATE_ONLY | WGC_PEER_ENDPOINT));
                CHECK(b->allowed_ips == add_b && b->n_allowed_ips == 1);
                CHECK(c->flags == (WGC_PEER_UPDATE_ONLY | WGC_PEER_PRESHARED_KEY | WGC_PEER_KEEPALIVE |
                                   WGC_PEER_REPLACE_ALLOWEDIPS));
                CHECK(c->preshared_key == NULL && c->keepalive == 0);
                CHECK(c->allowed_ips == ips_c && c->n_allowed_ips == 1);
                CHECK(x->public_key == lx.public_key && x->flags == WGC_PEER_REMOVE);
        }
        free((void *)d.peers);

        /* Nothing for WireGuard in a routes-only plan. */
        p.ops = &ops[5];
        p.n_ops = 1;
        CHECK(plan_wg_change(&p, &t, &d) == 0);
        CHECK(d.flags == 0 && d.n_peers == 0);
        free((void *)d.peers);
}

int main(void) {
        test_split(4096);
        test_split(1024);
        test_split(16384);
        test_nothing_to_send();
        test_malformed();
        test_plan_to_set();
        return TAP_DONE();
}
