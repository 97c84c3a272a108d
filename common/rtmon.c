/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <stdlib.h>
#include <string.h>

#include "rtmon.h"

/* Large enough for the burst a link deletion with thousands of routes causes; when even this
 * overflows, the kernel says ENOBUFS and the caller resyncs. */
#define RTMON_RCVBUF (4 * 1024 * 1024)

struct rtmon {
        struct mnl_socket *sk;
        char *buf;              /* MNL_SOCKET_BUFFER_SIZE bytes */
};

static size_t family_len(int family) {
        return family == AF_INET ? 4 : family == AF_INET6 ? 16 : 0;
}

static int parse_link(const struct nlmsghdr *nlh, struct rtmon_event *ev) {
        const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
        const struct nlattr *a;

        if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*ifi)))
                return -EINVAL;
        ev->kind = RTMON_LINK;
        ev->ifindex = ifi->ifi_index;
        ev->up = ifi->ifi_flags & IFF_UP;
        mnl_attr_for_each(a, nlh, sizeof(*ifi)) {
                uint16_t len = mnl_attr_get_payload_len(a);

                switch (mnl_attr_get_type(a)) {
                case IFLA_IFNAME:
                        if (len == 0 || len > WF_IFNAMSIZ)
                                return -EINVAL;
                        memcpy(ev->ifname, mnl_attr_get_payload(a), len);
                        ev->ifname[WF_IFNAMSIZ - 1] = '\0';
                        break;
                case IFLA_MTU:
                        if (len < 4)
                                return -EINVAL;
                        ev->mtu = mnl_attr_get_u32(a);
                        break;
                default:
                        break;
                }
        }
        return 1;
}

static int parse_addr(const struct nlmsghdr *nlh, struct rtmon_event *ev) {
        const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
        const struct nlattr *a;
        size_t alen;
        bool local = false;

        if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*ifa)))
                return -EINVAL;
        alen = family_len(ifa->ifa_family);
        if (alen == 0)
                return 0;
        if (ifa->ifa_prefixlen > alen * 8)
                return -EINVAL;
        ev->kind = RTMON_ADDR;
        ev->ifindex = (int)ifa->ifa_index;
        ev->prefix.family = ifa->ifa_family;
        ev->prefix.len = ifa->ifa_prefixlen;
        /* IFA_LOCAL is the interface's own address on point-to-point links, IFA_ADDRESS the
         * peer's there; elsewhere both are the same. The interface's wins. */
        mnl_attr_for_each(a, nlh, sizeof(*ifa)) {
                uint16_t type = mnl_attr_get_type(a);

                if (type != IFA_LOCAL && !(type == IFA_ADDRESS && !local))
                        continue;
                if (mnl_attr_get_payload_len(a) != alen)
                        return -EINVAL;
                memcpy(ev->prefix.addr, mnl_attr_get_payload(a), alen);
                local |= type == IFA_LOCAL;
        }
        return 1;
}

static int parse_route(const struct nlmsghdr *nlh, struct rtmon_event *ev) {
        const struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
        const struct nlattr *a;
        size_t alen;

        if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*rtm)))
                return -EINVAL;
        alen = family_len(rtm->rtm_family);
        if (alen == 0 || rtm->rtm_type != RTN_UNICAST)
                return 0;
        if (rtm->rtm_dst_len > alen * 8)
                return -EINVAL;
        ev->kind = RTMON_ROUTE;
        ev->prefix.family = rtm->rtm_family;
        ev->prefix.len = rtm->rtm_dst_len;
        ev->table = rtm->rtm_table;
        ev->protocol = rtm->rtm_protocol;
        mnl_attr_for_each(a, nlh, sizeof(*rtm)) {
                uint16_t len = mnl_attr_get_payload_len(a);

                switch (mnl_attr_get_type(a)) {
                case RTA_DST:
                        if (len != alen)
                                return -EINVAL;
                        memcpy(ev->prefix.addr, mnl_attr_get_payload(a), len);
                        break;
                case RTA_TABLE:
                        if (len < 4)
                                return -EINVAL;
                        ev->table = mnl_attr_get_u32(a);
                        break;
                case RTA_PRIORITY:
                        if (len < 4)
                                return -EINVAL;
                        ev->metric = mnl_attr_get_u32(a);
                        break;
                case RTA_OIF:
                        if (len < 4)
                                return -EINVAL;
                        ev->ifindex = (int)mnl_attr_get_u32(a);
                        break;
                default:
                        break;
                }
        }
        return 1;
}

int rtmon_parse(const struct nlmsghdr *nlh, struct rtmon_event *ret) {
        *ret = (struct rtmon_event){};
        switch (nlh->nlmsg_type) {
        case RTM_NEWLINK:
        case RTM_DELLINK:
                ret->del = nlh->nlmsg_type == RTM_DELLINK;
                return parse_link(nlh, ret);
        case RTM_NEWADDR:
        case RTM_DELADDR:
                ret->del = nlh->nlmsg_type == RTM_DELADDR;
                return parse_addr(nlh, ret);
        case RTM_NEWROUTE:
        case RTM_DELROUTE:
                ret->del = nlh->nlmsg_type == RTM_DELROUTE;
                return parse_route(nlh, ret);
        default:
                return 0;
        }
}

int rtmon_open(struct rtmon **ret, struct wf_err *e) {
        static const unsigned groups[] = {
                RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR, RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_ROUTE,
        };
        struct rtmon *m = calloc(1, sizeof(*m));
        int rcvbuf = RTMON_RCVBUF, fd, r;

        if (!m)
                return -ENOMEM;
        m->buf = malloc(MNL_SOCKET_BUFFER_SIZE);
        m->sk = m->buf ? mnl_socket_open2(NETLINK_ROUTE, SOCK_NONBLOCK | SOCK_CLOEXEC) : NULL;
        if (!m->sk) {
                r = m->buf ? -errno : -ENOMEM;
                rtmon_close(m);
                return wf_err_set(e, r, "rtnetlink monitor socket: %s", strerror(-r));
        }
        fd = mnl_socket_get_fd(m->sk);
        /* SO_RCVBUFFORCE works with CAP_NET_ADMIN beyond rmem_max; SO_RCVBUF is the fallback. */
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
                (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
        r = mnl_socket_bind(m->sk, 0, MNL_SOCKET_AUTOPID) < 0 ? -errno : 0;
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(groups); i++) {
                unsigned g = groups[i];
                if (mnl_socket_setsockopt(m->sk, NETLINK_ADD_MEMBERSHIP, &g, sizeof(g)) < 0)
                        r = -errno;
        }
        if (r < 0) {
                rtmon_close(m);
                return wf_err_set(e, r, "rtnetlink monitor: join groups: %s", strerror(-r));
        }
        *ret = m;
        return 0;
}

struct rtmon *rtmon_close(struct rtmon *m) {
        if (!m)
                return NULL;
        if (m->sk)
                mnl_socket_close(m->sk);
        free(m->buf);
        free(m);
        return NULL;
}

int rtmon_fd(const struct rtmon *m) {
        return mnl_socket_get_fd(m->sk);
}

int rtmon_read(struct rtmon *m, rtmon_fn fn, void *userdata) {
        int msgs = 0;

        for (;;) {
                ssize_t n = mnl_socket_recvfrom(m->sk, m->buf, MNL_SOCKET_BUFFER_SIZE);
                int len;

                if (n < 0) {
                        if (errno == EAGAIN || errno == EWOULDBLOCK)
                                return msgs;
                        if (errno == EINTR)
                                continue;
                        return -errno; /* ENOBUFS included: notifications were lost */
                }
                len = (int)n;
                for (const struct nlmsghdr *h = (const void *)m->buf; mnl_nlmsg_ok(h, len);
                     h = mnl_nlmsg_next(h, &len)) {
                        struct rtmon_event ev;

                        msgs++;
                        if (rtmon_parse(h, &ev) > 0)
                                fn(userdata, &ev);
                }
        }
}
