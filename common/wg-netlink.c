/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/wireguard.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wg-netlink.h"

/* Dump parts can be as large as the kernel's largest dump skb (32 KiB); be generous. */
#define WGNL_RECV_SIZE (64u * 1024)
#define WGNL_MIN_MESSAGE 256u

struct wgnl {
        struct mnl_socket *genl;
        unsigned genl_portid;
        struct mnl_socket *rt;   /* opened on first use */
        unsigned rt_portid;
        uint16_t family;
        uint32_t seq;
        size_t max_msg;
        struct wgnl_stats stats;
        uint8_t *buf;            /* receive buffer, WGNL_RECV_SIZE */
        uint8_t *sbuf;           /* send buffer, max_msg */
};

/* ---------------------------------------------------------------- encoder ---- */

struct enc {
        const struct wgc_device *d;
        uint16_t family;
        uint32_t seq;
        uint8_t *buf;
        size_t max;
        struct nlmsghdr *nlh;
        unsigned n_msgs;
};

static void enc_start(struct enc *s) {
        struct genlmsghdr *g;

        s->nlh = mnl_nlmsg_put_header(s->buf);
        s->nlh->nlmsg_type = s->family;
        s->nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
        s->nlh->nlmsg_seq = s->seq + s->n_msgs;
        g = mnl_nlmsg_put_extra_header(s->nlh, sizeof(*g));
        g->cmd = WG_CMD_SET_DEVICE;
        g->version = WG_GENL_VERSION;
        mnl_attr_put_strz(s->nlh, WGDEVICE_A_IFNAME, s->d->ifname);
        if (s->n_msgs > 0)
                return;
        /* Device attributes only in the first message: they fit, max >= WGNL_MIN_MESSAGE. */
        if (s->d->flags & WGC_DEV_PRIVATE_KEY)
                mnl_attr_put(s->nlh, WGDEVICE_A_PRIVATE_KEY, WG_KEY_LEN, s->d->private_key);
        if (s->d->flags & WGC_DEV_LISTEN_PORT)
                mnl_attr_put_u16(s->nlh, WGDEVICE_A_LISTEN_PORT, s->d->listen_port);
        if (s->d->flags & WGC_DEV_FWMARK)
                mnl_attr_put_u32(s->nlh, WGDEVICE_A_FWMARK, s->d->fwmark);
}

static int enc_flush(struct enc *s, wgnl_send_fn send, void *userdata) {
        int r = send(userdata, s->nlh);

        s->n_msgs++;
        return r < 0 ? r : 0;
}

static bool put_endpoint(struct nlmsghdr *nlh, size_t max, const struct sockaddr_storage *ss) {
        if (ss->ss_family == AF_INET)
                return mnl_attr_put_check(nlh, max, WGPEER_A_ENDPOINT, sizeof(struct sockaddr_in), ss);
        if (ss->ss_family == AF_INET6)
                return mnl_attr_put_check(nlh, max, WGPEER_A_ENDPOINT, sizeof(struct sockaddr_in6), ss);
        return true;
}

/* The attributes a peer carries in its first chunk. false: they do not fit. */
static bool put_peer_head(struct nlmsghdr *nlh, size_t max, const struct wgc_peer *p) {
        static const uint8_t zero[WG_KEY_LEN];
        uint32_t flags = 0;

        if (p->flags & WGC_PEER_REMOVE)
                return mnl_attr_put_u32_check(nlh, max, WGPEER_A_FLAGS, WGPEER_F_REMOVE_ME);
        if (p->flags & WGC_PEER_REPLACE_ALLOWEDIPS)
                flags |= WGPEER_F_REPLACE_ALLOWEDIPS;
        if (p->flags & WGC_PEER_UPDATE_ONLY)
                flags |= WGPEER_F_UPDATE_ONLY;
        if (flags && !mnl_attr_put_u32_check(nlh, max, WGPEER_A_FLAGS, flags))
                return false;
        if ((p->flags & WGC_PEER_PRESHARED_KEY) &&
            !mnl_attr_put_check(nlh, max, WGPEER_A_PRESHARED_KEY, WG_KEY_LEN,
                                p->preshared_key ? p->preshared_key : zero))
                return false;
        if ((p->flags & WGC_PEER_ENDPOINT) && !put_endpoint(nlh, max, &p->endpoint))
                return false;
        if ((p->flags & WGC_PEER_KEEPALIVE) &&
            !mnl_attr_put_u16_check(nlh, max, WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL, p->keepalive))
                return false;
        return true;
}

static bool put_allowedip(struct nlmsghdr *nlh, size_t max, const struct wf_prefix *a) {
        struct nlattr *n = mnl_attr_nest_start_check(nlh, max, 0);

        if (!n)
                return false;
        if (!mnl_attr_put_u16_check(nlh, max, WGALLOWEDIP_A_FAMILY, (uint16_t)a->family) ||
            !mnl_attr_put_check(nlh, max, WGALLOWEDIP_A_IPADDR, a->family == AF_INET ? 4 : 16, a->addr) ||
            !mnl_attr_put_u8_check(nlh, max, WGALLOWEDIP_A_CIDR_MASK, a->len)) {
                mnl_attr_nest_cancel(nlh, n);
                return false;
        }
        mnl_attr_nest_end(nlh, n);
        return true;
}

int wgnl_encode_set(const struct wgc_device *d, uint16_t family, uint32_t seq, void *buf,
                    size_t max_msg, wgnl_send_fn send, void *userdata) {
        struct enc s = { .d = d, .family = family, .seq = seq, .buf = buf, .max = max_msg };
        size_t i = 0, j = 0; /* next peer, and its next allowed IP */
        int r;

        if (max_msg < WGNL_MIN_MESSAGE)
                return -EMSGSIZE;
        if (d->n_peers == 0 && d->flags == 0)
                return 0;

        while (true) {
                struct nlattr *peers;
                size_t peers_in_msg = 0;

                enc_start(&s);
                if (i == d->n_peers) {
                        r = enc_flush(&s, send, userdata);
                        return r < 0 ? r : (int)s.n_msgs;
                }
                peers = mnl_attr_nest_start_check(s.nlh, s.max, WGDEVICE_A_PEERS);
                if (!peers)
                        return -EMSGSIZE;

                for (; i < d->n_peers; i++, j = 0) {
                        const struct wgc_peer *p = &d->peers[i];
                        size_t j0 = j;
                        struct nlattr *pn, *an = NULL;
                        bool head_ok, partial;

                        pn = mnl_attr_nest_start_check(s.nlh, s.max, 0);
                        if (!pn)
                                break;
                        if (j == 0)
                                head_ok = mnl_attr_put_check(s.nlh, s.max, WGPEER_A_PUBLIC_KEY, WG_KEY_LEN, p->public_key) &&
                                          put_peer_head(s.nlh, s.max, p);
                        else /* a continuation: the peer exists now, only add the rest */
                                head_ok = mnl_attr_put_check(s.nlh, s.max, WGPEER_A_PUBLIC_KEY, WG_KEY_LEN, p->public_key) &&
                                          mnl_attr_put_u32_check(s.nlh, s.max, WGPEER_A_FLAGS, WGPEER_F_UPDATE_ONLY);
                        if (!head_ok) {
                                mnl_attr_nest_cancel(s.nlh, pn);
                                break;
                        }
                        if (!(p->flags & WGC_PEER_REMOVE) && j < p->n_allowed_ips) {
                                an = mnl_attr_nest_start_check(s.nlh, s.max, WGPEER_A_ALLOWEDIPS);
                                for (; an && j < p->n_allowed_ips; j++)
                                        if (!put_allowedip(s.nlh, s.max, &p->allowed_ips[j]))
                                                break;
                                if (!an || j == j0) {
                                        /* Not one allowed IP fits: the whole peer moves on. */
                                        mnl_attr_nest_cancel(s.nlh, pn);
                                        j = j0;
                                        break;
                                }
                                mnl_attr_nest_end(s.nlh, an);
                        }
                        partial = !(p->flags & WGC_PEER_REMOVE) && j < p->n_allowed_ips;
                        if (partial && j0 == 0 && (p->flags & WGC_PEER_REPLACE_ALLOWEDIPS) && peers_in_msg > 0) {
                                /* Between the chunks of a replaced list its tail has no peer:
                                 * give the peer a message of its own, where it may fit whole. */
                                mnl_attr_nest_cancel(s.nlh, pn);
                                j = 0;
                                break;
                        }
                        mnl_attr_nest_end(s.nlh, pn);
                        peers_in_msg++;
                        if (partial)
                                break; /* the rest of this peer continues in the next message */
                }
                if (peers_in_msg == 0)
                        return -EMSGSIZE;
                mnl_attr_nest_end(s.nlh, peers);
                r = enc_flush(&s, send, userdata);
                if (r < 0)
                        return r;
                if (i == d->n_peers)
                        return (int)s.n_msgs;
        }
}

/* ---------------------------------------------------------------- decoder ---- */

/* Arrays here grow only through this helper, so capacity follows from the count. */
static int grow(void **array, size_t n, size_t size) {
        size_t cap;
        void *p;

        if (n < 4 ? n != 0 : (n & (n - 1)) != 0)
                return 0;
        cap = n < 4 ? 4 : n * 2;
        p = realloc(*array, cap * size);
        if (!p)
                return -ENOMEM;
        *array = p;
        return 0;
}

struct attr_table {
        const struct nlattr **tb;
        int max;
};

static int attr_collect(const struct nlattr *a, void *data) {
        struct attr_table *t = data;
        int type = mnl_attr_get_type(a);

        if (type <= t->max)
                t->tb[type] = a;
        return MNL_CB_OK;
}

/* mnl_attr_parse_nested with attr_collect, inlined: a 10k-peer dump has 30 000 nests, and the
 * per-attribute library calls were most of the decoder's time. Same walk, same bounds. */
static int nested(const struct nlattr *a, const struct nlattr **tb, int max) {
        const uint8_t *p = (const uint8_t *)a + MNL_ATTR_HDRLEN, *end = (const uint8_t *)a + a->nla_len;

        memset(tb, 0, sizeof(*tb) * (max + 1));
        while ((size_t)(end - p) >= sizeof(struct nlattr)) {
                const struct nlattr *x = (const struct nlattr *)p;
                int type = x->nla_type & NLA_TYPE_MASK;

                if (x->nla_len < sizeof(struct nlattr) || x->nla_len > end - p)
                        break;
                if (type <= max)
                        tb[type] = x;
                p += MNL_ALIGN(x->nla_len);
        }
        return 0;
}

/* Optional integer attributes: absent leaves *ret as it is; present must have the right size. */
#define DEFINE_GET_UINT(bits)                                                                  \
        static int get_u##bits(const struct nlattr *a, uint##bits##_t *ret) {                  \
                if (!a)                                                                        \
                        return 0;                                                              \
                if (mnl_attr_validate(a, MNL_TYPE_U##bits) < 0)                                \
                        return -EINVAL;                                                        \
                *ret = mnl_attr_get_u##bits(a);                                                \
                return 0;                                                                      \
        }
DEFINE_GET_UINT(16)
DEFINE_GET_UINT(32)
DEFINE_GET_UINT(64)

static int parse_allowedips(const struct nlattr *list, struct wf_live_peer *p) {
        const struct nlattr *a;

        mnl_attr_for_each_nested(a, list) {
                const struct nlattr *tb[WGALLOWEDIP_A_MAX + 1];
                struct wf_prefix x = {};
                size_t alen;

                if (nested(a, tb, WGALLOWEDIP_A_MAX) < 0)
                        return -EINVAL;
                if (!tb[WGALLOWEDIP_A_FAMILY] || !tb[WGALLOWEDIP_A_IPADDR] || !tb[WGALLOWEDIP_A_CIDR_MASK] ||
                    mnl_attr_validate(tb[WGALLOWEDIP_A_FAMILY], MNL_TYPE_U16) < 0 ||
                    mnl_attr_validate(tb[WGALLOWEDIP_A_CIDR_MASK], MNL_TYPE_U8) < 0)
                        return -EINVAL;
                x.family = mnl_attr_get_u16(tb[WGALLOWEDIP_A_FAMILY]);
                alen = x.family == AF_INET ? 4 : x.family == AF_INET6 ? 16 : 0;
                if (alen == 0 || mnl_attr_get_payload_len(tb[WGALLOWEDIP_A_IPADDR]) != alen)
                        return -EINVAL;
                memcpy(x.addr, mnl_attr_get_payload(tb[WGALLOWEDIP_A_IPADDR]), alen);
                x.len = mnl_attr_get_u8(tb[WGALLOWEDIP_A_CIDR_MASK]);
                if (x.len > alen * 8)
                        return -EINVAL;
                if (grow((void **)&p->allowed_ips, p->n_allowed_ips, sizeof(*p->allowed_ips)) < 0)
                        return -ENOMEM;
                p->allowed_ips[p->n_allowed_ips++] = x;
        }
        return 0;
}

static int parse_peer(const struct nlattr *pa, struct wf_live_iface *live) {
        const struct nlattr *tb[WGPEER_A_MAX + 1];
        struct wf_live_peer *p;
        static const uint8_t zero[WG_KEY_LEN];

        if (nested(pa, tb, WGPEER_A_MAX) < 0)
                return -EINVAL;
        if (!tb[WGPEER_A_PUBLIC_KEY] || mnl_attr_get_payload_len(tb[WGPEER_A_PUBLIC_KEY]) != WG_KEY_LEN)
                return -EINVAL;

        /* A dump part may start with the peer the previous part ended in: same key, more IPs. */
        if (live->n_peers > 0 &&
            memcmp(live->peers[live->n_peers - 1].public_key, mnl_attr_get_payload(tb[WGPEER_A_PUBLIC_KEY]), WG_KEY_LEN) == 0) {
                p = &live->peers[live->n_peers - 1];
                return tb[WGPEER_A_ALLOWEDIPS] ? parse_allowedips(tb[WGPEER_A_ALLOWEDIPS], p) : 0;
        }

        if (grow((void **)&live->peers, live->n_peers, sizeof(*live->peers)) < 0)
                return -ENOMEM;
        p = &live->peers[live->n_peers++];
        memset(p, 0, sizeof(*p));
        memcpy(p->public_key, mnl_attr_get_payload(tb[WGPEER_A_PUBLIC_KEY]), WG_KEY_LEN);

        if (tb[WGPEER_A_PRESHARED_KEY]) {
                if (mnl_attr_get_payload_len(tb[WGPEER_A_PRESHARED_KEY]) != WG_KEY_LEN)
                        return -EINVAL;
                memcpy(p->preshared_key, mnl_attr_get_payload(tb[WGPEER_A_PRESHARED_KEY]), WG_KEY_LEN);
                p->has_preshared_key = memcmp(p->preshared_key, zero, WG_KEY_LEN) != 0;
        }
        if (tb[WGPEER_A_ENDPOINT]) {
                size_t len = mnl_attr_get_payload_len(tb[WGPEER_A_ENDPOINT]);
                const struct sockaddr *sa = mnl_attr_get_payload(tb[WGPEER_A_ENDPOINT]);

                if (len < sizeof(sa_family_t))
                        return -EINVAL;
                if (sa->sa_family == AF_INET && len == sizeof(struct sockaddr_in))
                        memcpy(&p->endpoint, sa, len);
                else if (sa->sa_family == AF_INET6 && len == sizeof(struct sockaddr_in6))
                        memcpy(&p->endpoint, sa, len);
                else if (sa->sa_family != AF_UNSPEC)
                        return -EINVAL;
        }
        if (get_u16(tb[WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL], &p->persistent_keepalive) < 0)
                return -EINVAL;
        if (tb[WGPEER_A_LAST_HANDSHAKE_TIME]) {
                struct { int64_t sec, nsec; } ts;

                if (mnl_attr_get_payload_len(tb[WGPEER_A_LAST_HANDSHAKE_TIME]) != sizeof(ts))
                        return -EINVAL;
                memcpy(&ts, mnl_attr_get_payload(tb[WGPEER_A_LAST_HANDSHAKE_TIME]), sizeof(ts));
                p->last_handshake = ts.sec;
        }
        if (get_u64(tb[WGPEER_A_RX_BYTES], &p->rx_bytes) < 0)
                return -EINVAL;
        if (get_u64(tb[WGPEER_A_TX_BYTES], &p->tx_bytes) < 0)
                return -EINVAL;
        if (tb[WGPEER_A_ALLOWEDIPS])
                return parse_allowedips(tb[WGPEER_A_ALLOWEDIPS], p);
        return 0;
}

int wgnl_parse_device_msg(const struct nlmsghdr *nlh, struct wf_live_iface *live) {
        const struct nlattr *tb[WGDEVICE_A_MAX + 1] = {};
        struct attr_table t = { tb, WGDEVICE_A_MAX };
        const struct nlattr *a;
        int r;

        if (mnl_nlmsg_get_payload_len(nlh) < sizeof(struct genlmsghdr))
                return -EINVAL;
        if (mnl_attr_parse(nlh, sizeof(struct genlmsghdr), attr_collect, &t) < 0)
                return -EINVAL;

        if (tb[WGDEVICE_A_IFINDEX]) {
                if (mnl_attr_validate(tb[WGDEVICE_A_IFINDEX], MNL_TYPE_U32) < 0)
                        return -EINVAL;
                live->ifindex = (int)mnl_attr_get_u32(tb[WGDEVICE_A_IFINDEX]);
        }
        if (tb[WGDEVICE_A_IFNAME] && !live->name) {
                if (mnl_attr_validate(tb[WGDEVICE_A_IFNAME], MNL_TYPE_NUL_STRING) < 0)
                        return -EINVAL;
                live->name = strdup(mnl_attr_get_str(tb[WGDEVICE_A_IFNAME]));
                if (!live->name)
                        return -ENOMEM;
        }
        if (tb[WGDEVICE_A_PRIVATE_KEY]) {
                static const uint8_t zero[WG_KEY_LEN];

                if (mnl_attr_get_payload_len(tb[WGDEVICE_A_PRIVATE_KEY]) != WG_KEY_LEN)
                        return -EINVAL;
                /* Only whether one is set matters; the key itself is not kept. */
                live->has_private_key = memcmp(mnl_attr_get_payload(tb[WGDEVICE_A_PRIVATE_KEY]), zero, WG_KEY_LEN) != 0;
        }
        if (tb[WGDEVICE_A_PUBLIC_KEY]) {
                if (mnl_attr_get_payload_len(tb[WGDEVICE_A_PUBLIC_KEY]) != WG_KEY_LEN)
                        return -EINVAL;
                memcpy(live->public_key, mnl_attr_get_payload(tb[WGDEVICE_A_PUBLIC_KEY]), WG_KEY_LEN);
        }
        if (get_u16(tb[WGDEVICE_A_LISTEN_PORT], &live->listen_port) < 0)
                return -EINVAL;
        if (get_u32(tb[WGDEVICE_A_FWMARK], &live->fwmark) < 0)
                return -EINVAL;
        if (tb[WGDEVICE_A_PEERS])
                mnl_attr_for_each_nested(a, tb[WGDEVICE_A_PEERS]) {
                        r = parse_peer(a, live);
                        if (r < 0)
                                return r;
                }
        return 0;
}

/* ---------------------------------------------------------------- sockets ---- */

struct family_ctx {
        uint16_t id;
};

static int family_attr_cb(const struct nlattr *a, void *data) {
        struct family_ctx *f = data;

        if (mnl_attr_get_type(a) == CTRL_ATTR_FAMILY_ID && mnl_attr_validate(a, MNL_TYPE_U16) >= 0)
                f->id = mnl_attr_get_u16(a);
        return MNL_CB_OK;
}

static int family_cb(const struct nlmsghdr *nlh, void *data) {
        return mnl_attr_parse(nlh, sizeof(struct genlmsghdr), family_attr_cb, data) < 0 ? MNL_CB_ERROR : MNL_CB_OK;
}

/* Sends one request and reads until its ACK (or the end of its dump). -errno from the kernel. */
static int transact(struct mnl_socket *nl, unsigned portid, uint8_t *buf, struct nlmsghdr *nlh,
                    mnl_cb_t cb, void *data, uint64_t *parts) {
        uint32_t seq = nlh->nlmsg_seq;
        int r;

        if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
                return -errno;
        do {
                ssize_t n = mnl_socket_recvfrom(nl, buf, WGNL_RECV_SIZE);

                if (n < 0)
                        return -errno;
                if (parts)
                        (*parts)++;
                r = mnl_cb_run(buf, n, seq, portid, cb, data);
        } while (r > MNL_CB_STOP);
        if (r < 0)
                return errno > 0 ? -errno : -EIO;
        return 0;
}

static uint32_t next_seq(struct wgnl *c) {
        return ++c->seq;
}

int wgnl_open(struct wgnl **ret, struct wf_err *e) {
        struct wgnl *c;
        struct nlmsghdr *nlh;
        struct genlmsghdr *g;
        struct family_ctx f = {};
        long page = sysconf(_SC_PAGESIZE);
        int r;

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->max_msg = page > 0 && page < 8192 ? (size_t)page : 8192;
        c->seq = (uint32_t)time(NULL);
        c->buf = malloc(WGNL_RECV_SIZE);
        c->sbuf = malloc(WGNL_RECV_SIZE);
        if (!c->buf || !c->sbuf) {
                wgnl_close(c);
                return -ENOMEM;
        }
        c->genl = mnl_socket_open(NETLINK_GENERIC);
        if (!c->genl || mnl_socket_bind(c->genl, 0, MNL_SOCKET_AUTOPID) < 0) {
                r = -errno;
                wgnl_close(c);
                return wf_err_set(e, r, "generic netlink socket: %s", strerror(-r));
        }
        c->genl_portid = mnl_socket_get_portid(c->genl);

        nlh = mnl_nlmsg_put_header(c->buf);
        nlh->nlmsg_type = GENL_ID_CTRL;
        nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
        nlh->nlmsg_seq = next_seq(c);
        g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
        g->cmd = CTRL_CMD_GETFAMILY;
        g->version = 1;
        mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, WG_GENL_NAME);
        r = transact(c->genl, c->genl_portid, c->buf, nlh, family_cb, &f, NULL);
        if (r < 0 || f.id == 0) {
                wgnl_close(c);
                if (r == -ENOENT || r == 0)
                        return wf_err_set(e, -ENOENT, "the kernel has no WireGuard (generic netlink family \"%s\" not found; load the wireguard module)", WG_GENL_NAME);
                return wf_err_set(e, r, "resolving generic netlink family %s: %s", WG_GENL_NAME, strerror(-r));
        }
        c->family = f.id;
        *ret = c;
        return 0;
}

struct wgnl *wgnl_close(struct wgnl *c) {
        const char *path;

        if (!c)
                return NULL;
        /* Debug hook for the benchmarks: append this context's counters to a file. */
        path = secure_getenv("WGFLEET_WGNL_STATS");
        if (path && *path) {
                FILE *f = fopen(path, "ae");

                if (f) {
                        fprintf(f, "set_messages=%llu set_bytes=%llu get_requests=%llu get_messages=%llu link_messages=%llu\n",
                                (unsigned long long)c->stats.set_messages, (unsigned long long)c->stats.set_bytes,
                                (unsigned long long)c->stats.get_requests, (unsigned long long)c->stats.get_messages,
                                (unsigned long long)c->stats.link_messages);
                        fclose(f);
                }
        }
        if (c->genl)
                mnl_socket_close(c->genl);
        if (c->rt)
                mnl_socket_close(c->rt);
        free(c->buf);
        free(c->sbuf);
        free(c);
        return NULL;
}

void wgnl_set_max_message(struct wgnl *c, size_t max) {
        if (max < WGNL_MIN_MESSAGE)
                max = WGNL_MIN_MESSAGE;
        if (max > WGNL_RECV_SIZE)
                max = WGNL_RECV_SIZE;
        c->max_msg = max;
}

void wgnl_get_stats(const struct wgnl *c, struct wgnl_stats *ret) {
        *ret = c->stats;
}

static int genl_reopen(struct wgnl *c) {
        struct mnl_socket *nl = mnl_socket_open(NETLINK_GENERIC);

        if (!nl)
                return -errno;
        if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
                int r = -errno;
                mnl_socket_close(nl);
                return r;
        }
        mnl_socket_close(c->genl);
        c->genl = nl;
        c->genl_portid = mnl_socket_get_portid(nl);
        return 0;
}

struct dump_ctx {
        struct wf_live_iface *live;
        int r;
};

static int dump_cb(const struct nlmsghdr *nlh, void *data) {
        struct dump_ctx *d = data;

        d->r = wgnl_parse_device_msg(nlh, d->live);
        return d->r < 0 ? MNL_CB_ERROR : MNL_CB_OK;
}

int wgnl_get_device(struct wgnl *c, const char *ifname, struct wf_live_iface *live, struct wf_err *e) {
        struct nlmsghdr *nlh;
        struct genlmsghdr *g;
        struct dump_ctx d = { .live = live };
        int r;

        if (!ifname || strlen(ifname) >= IFNAMSIZ)
                return wf_err_set(e, -EINVAL, "interface name \"%s\" is not valid", ifname ? ifname : "");
        nlh = mnl_nlmsg_put_header(c->sbuf);
        nlh->nlmsg_type = c->family;
        nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_DUMP;
        nlh->nlmsg_seq = next_seq(c);
        g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
        g->cmd = WG_CMD_GET_DEVICE;
        g->version = WG_GENL_VERSION;
        mnl_attr_put_strz(nlh, WGDEVICE_A_IFNAME, ifname);
        c->stats.get_requests++;
        r = transact(c->genl, c->genl_portid, c->buf, nlh, dump_cb, &d, &c->stats.get_messages);
        if (d.r < 0) {
                /* The rest of the dump is still queued on the socket: start over on a new one. */
                int k = genl_reopen(c);

                if (k < 0)
                        return wf_err_set(e, k, "%s: malformed WireGuard dump (%s), and reopening the socket failed: %s",
                                          ifname, strerror(-d.r), strerror(-k));
                return wf_err_set(e, d.r, "%s: malformed WireGuard dump: %s", ifname, strerror(-d.r));
        }
        if (r == -ENODEV)
                return wf_err_set(e, r, "%s: no such interface", ifname);
        if (r == -EOPNOTSUPP)
                return wf_err_set(e, r, "%s: not a WireGuard interface", ifname);
        if (r < 0)
                return wf_err_set(e, r, "%s: reading the WireGuard device: %s", ifname, strerror(-r));
        live->exists = true;
        return 0;
}

struct set_ctx {
        struct wgnl *c;
        unsigned n;
        int r;
};

static int set_send(void *userdata, struct nlmsghdr *nlh) {
        struct set_ctx *s = userdata;
        struct wgnl *c = s->c;

        nlh->nlmsg_seq = next_seq(c);
        c->stats.set_messages++;
        c->stats.set_bytes += nlh->nlmsg_len;
        s->n++;
        s->r = transact(c->genl, c->genl_portid, c->buf, nlh, NULL, NULL, NULL);
        return s->r;
}

int wgnl_set(struct wgnl *c, const struct wgc_device *d, struct wf_err *e) {
        struct set_ctx s = { .c = c };
        int r;

        if (!d->ifname || strlen(d->ifname) >= IFNAMSIZ)
                return wf_err_set(e, -EINVAL, "interface name \"%s\" is not valid", d->ifname ? d->ifname : "");
        r = wgnl_encode_set(d, c->family, 0, c->sbuf, c->max_msg, set_send, &s);
        if (r >= 0)
                return r;
        if (s.r < 0)
                return wf_err_set(e, r, "%s: WireGuard SET_DEVICE message %u failed: %s (messages before it were applied)",
                                  d->ifname, s.n, strerror(-r));
        return wf_err_set(e, r, "%s: building the WireGuard SET_DEVICE message: %s", d->ifname, strerror(-r));
}

/* ---------------------------------------------------------------- links ---- */

static int rt_socket(struct wgnl *c, struct wf_err *e) {
        int r;

        if (c->rt)
                return 0;
        c->rt = mnl_socket_open(NETLINK_ROUTE);
        if (!c->rt || mnl_socket_bind(c->rt, 0, MNL_SOCKET_AUTOPID) < 0) {
                r = -errno;
                if (c->rt)
                        mnl_socket_close(c->rt);
                c->rt = NULL;
                return wf_err_set(e, r, "rtnetlink socket: %s", strerror(-r));
        }
        c->rt_portid = mnl_socket_get_portid(c->rt);
        return 0;
}

static struct nlmsghdr *link_msg(struct wgnl *c, uint16_t type, uint16_t flags, const char *ifname) {
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(c->sbuf);
        struct ifinfomsg *ifi;

        nlh->nlmsg_type = type;
        nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
        nlh->nlmsg_seq = next_seq(c);
        ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
        ifi->ifi_family = AF_UNSPEC;
        mnl_attr_put_strz(nlh, IFLA_IFNAME, ifname);
        return nlh;
}

int wgnl_link_create(struct wgnl *c, const char *ifname, struct wf_err *e) {
        struct nlmsghdr *nlh;
        struct nlattr *info;
        int r;

        if (!ifname || strlen(ifname) >= IFNAMSIZ)
                return wf_err_set(e, -EINVAL, "interface name \"%s\" is not valid", ifname ? ifname : "");
        r = rt_socket(c, e);
        if (r < 0)
                return r;
        nlh = link_msg(c, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, ifname);
        info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
        mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "wireguard");
        mnl_attr_nest_end(nlh, info);
        c->stats.link_messages++;
        r = transact(c->rt, c->rt_portid, c->buf, nlh, NULL, NULL, NULL);
        if (r == -EOPNOTSUPP)
                return wf_err_set(e, r, "%s: creating a wireguard link: the kernel has no WireGuard", ifname);
        if (r < 0)
                return wf_err_set(e, r, "%s: creating a wireguard link: %s", ifname, strerror(-r));
        return 0;
}

int wgnl_link_delete(struct wgnl *c, const char *ifname, struct wf_err *e) {
        struct nlmsghdr *nlh;
        int r;

        if (!ifname || strlen(ifname) >= IFNAMSIZ)
                return wf_err_set(e, -EINVAL, "interface name \"%s\" is not valid", ifname ? ifname : "");
        r = rt_socket(c, e);
        if (r < 0)
                return r;
        nlh = link_msg(c, RTM_DELLINK, 0, ifname);
        c->stats.link_messages++;
        r = transact(c->rt, c->rt_portid, c->buf, nlh, NULL, NULL, NULL);
        if (r < 0)
                return wf_err_set(e, r, "%s: deleting the link: %s", ifname, strerror(-r));
        return 0;
}
