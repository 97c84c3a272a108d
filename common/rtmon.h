/* SPDX-License-Identifier: MIT */
#pragma once

/* rtmon: an rtnetlink monitor (libmnl). One socket joined to the link, IPv4/IPv6 address and
 * IPv4/IPv6 route groups turns kernel notifications into plain events; `run` uses them to keep
 * its cache of the live state true between full observations (docs/operations.md, "Observation
 * in run"). The parser is pure (bytes in, an event out), so unit tests feed it directly. */

#include <stdbool.h>
#include <stdint.h>

#include "model.h"
#include "util.h"

struct nlmsghdr;

enum rtmon_kind {
        RTMON_LINK,
        RTMON_ADDR,
        RTMON_ROUTE,
};

struct rtmon_event {
        enum rtmon_kind kind;
        bool del;                    /* RTM_DELLINK, RTM_DELADDR, RTM_DELROUTE */
        int ifindex;                 /* link; address; route output interface (0: none or multipath) */
        char ifname[WF_IFNAMSIZ];    /* links: the name ("" when absent) */
        bool up;                     /* links: IFF_UP */
        uint32_t mtu;                /* links: 0 when absent */
        struct wf_prefix prefix;     /* addresses (host bits kept), route destinations */
        uint32_t table, metric;      /* routes */
        uint8_t protocol;            /* routes: WF_RTPROT when the agent's */
};

/* One notification: 1 with *ret filled, 0 when it is not an event of interest (another message
 * type, a route that is not unicast, another family), -EINVAL when it is malformed. */
int rtmon_parse(const struct nlmsghdr *nlh, struct rtmon_event *ret);

struct rtmon;

/* Opens the socket in the calling thread's network namespace, non-blocking, joined to the
 * groups above. */
int rtmon_open(struct rtmon **ret, struct wf_err *e);
struct rtmon *rtmon_close(struct rtmon *m); /* takes NULL, returns NULL */
static inline void rtmon_closep(struct rtmon **m) { rtmon_close(*m); }
#define _cleanup_rtmon_ _cleanup_(rtmon_closep)
int rtmon_fd(const struct rtmon *m);

typedef void (*rtmon_fn)(void *userdata, const struct rtmon_event *ev);
/* Reads every queued notification (without blocking) and calls fn for each event. Returns the
 * number of messages read, -ENOBUFS when the kernel dropped notifications because the socket
 * buffer was full (the events are lost: the caller must read the whole state again; the
 * socket stays usable), another -errno on failure. */
int rtmon_read(struct rtmon *m, rtmon_fn fn, void *userdata);
