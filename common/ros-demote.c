/* SPDX-License-Identifier: MIT */
/* RouterOS backend: demoting foreign static routes that would beat ours, and putting them back.
 * The record is on the router, in the route's own comment: "wgfleet-demoted:IFACE:DISTANCE"
 * followed by the comment it had (after one space), so nothing is kept on this host and a
 * demotion and its record are one set command. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ros-backend.h"

bool ros_demote_tag_parse(const char *comment, const char *iface, uint32_t *ret_from, const char **ret_rest) {
        size_t pl = strlen(ROS_DEMOTE_TAG), il = strlen(iface);
        uint32_t v = 0;
        const char *p;

        if (!comment || strncmp(comment, ROS_DEMOTE_TAG, pl) != 0 || strncmp(comment + pl, iface, il) != 0 ||
            comment[pl + il] != ':')
                return false;
        p = comment + pl + il + 1;
        /* a RouterOS distance: 1-255, at most three digits */
        for (size_t n = 0; *p >= '0' && *p <= '9'; p++, n++) {
                if (n == 3)
                        return false;
                v = v * 10 + (uint32_t)(*p - '0');
        }
        if (v == 0 || v > 255 || (*p != '\0' && *p != ' '))
                return false;
        *ret_from = v;
        *ret_rest = *p ? p + 1 : p;
        return true;
}

int ros_route_demote(struct backend *b, const char *iface, const struct wf_prefix *dst,
                     const struct wf_live_route *r, uint32_t to, struct wf_err *e) {
        struct ros_words w = {};

        if (!r || r->ours || !r->backend_id || !*r->backend_id)
                return 0;
        ros_words_add(&w, "%s/set", ros_route_menu(dst->family));
        ros_words_add(&w, "=.id=%s", r->backend_id);
        ros_words_add(&w, "=distance=%u", to);
        ros_words_add(&w, "=comment=" ROS_DEMOTE_TAG "%s:%u%s%s", iface, r->metric,
                      r->comment && *r->comment ? " " : "", r->comment ? r->comment : "");
        return ros_simple(b, &w, e);
}

int ros_route_restore(struct backend *b, const char *iface, int family, const char *id, uint32_t distance,
                      const char *comment, struct wf_err *e) {
        struct ros_words w = {};
        const char *rest;
        uint32_t from;

        if (!ros_demote_tag_parse(comment, iface, &from, &rest))
                return 0;
        ros_words_add(&w, "%s/set", ros_route_menu(family));
        ros_words_add(&w, "=.id=%s", id);
        /* only what we left: a distance changed by hand since stays as it is */
        if (distance == ROS_DEMOTE_TO)
                ros_words_add(&w, "=distance=%u", from);
        ros_words_add(&w, "=comment=%s", rest);
        return ros_simple(b, &w, e);
}

static int restore_menu(struct backend *b, const char *iface, int family, struct wf_err *e) {
        struct rosconn_reply rep;
        char cmd[64];

        snprintf(cmd, sizeof cmd, "%s/print", ros_route_menu(family));
        int r = ROS_CALL(b, &rep, e, cmd, "?dynamic=false", "=.proplist=.id,distance,comment");
        if (r == -EREMOTEIO && strstr(rep.trap, "no such command")) {
                rosconn_reply_done(&rep);
                return 0;
        }
        for (size_t i = 0; r >= 0 && i < rep.n_re; i++) {
                const char *id = rosconn_reply_get(&rep, i, ".id");
                const char *d = rosconn_reply_get(&rep, i, "distance");
                uint64_t dist = 0;

                if (!id || (d && wf_parse_u64(d, &dist) < 0))
                        continue;
                r = ros_route_restore(b, iface, family, id, (uint32_t)dist,
                                      rosconn_reply_get(&rep, i, "comment"), e);
        }
        rosconn_reply_done(&rep);
        return r < 0 ? r : 0;
}

int ros_restore_demoted(struct backend *b, const char *iface, struct wf_err *e) {
        int r = restore_menu(b, iface, AF_INET, e);

        return r < 0 ? r : restore_menu(b, iface, AF_INET6, e);
}
