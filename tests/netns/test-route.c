/* SPDX-License-Identifier: MIT */
/* route.c against a real kernel: a private network namespace with a dummy link. Checks what
 * `ip` reports after each call, not what route.c returned. */
#include <errno.h>
#include <linux/rtnetlink.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "route.h"
#include "tap.h"

static char *run(const char *cmd) {
        static char out[65536];
        FILE *f = popen(cmd, "r");
        size_t n;

        if (!f)
                return NULL;
        n = fread(out, 1, sizeof(out) - 1, f);
        out[n] = '\0';
        pclose(f);
        return out;
}

int main(void) {
        _cleanup_route_ctx_ struct route_ctx *c = NULL;
        struct wf_err e = {};
        struct route_link l;
        struct wf_live_route *routes = NULL;
        size_t n_routes = 0, n_addrs = 0;
        struct wf_prefix *addrs = NULL;

        if (getuid() != 0) {
                printf("skip: needs root for a network namespace\n");
                return 77;
        }
        if (unshare(CLONE_NEWNET) < 0) {
                printf("skip: unshare(CLONE_NEWNET): %s\n", strerror(errno));
                return 77;
        }
        if (system("ip link add wflr0 type veth peer name wflr1 && ip link set wflr1 up") != 0) {
                printf("skip: cannot create a veth pair in the namespace\n");
                return 77;
        }
        CHECK(route_ctx_new(&c, &e) == 0);

        CHECK(route_link_get(c, "wflnone", &l, &e) == -ENODEV);
        CHECK(route_link_get(c, "wflr0", &l, &e) == 0);
        CHECK(!l.up);
        CHECK(route_link_set(c, l.ifindex, 1380, true, &e) == 0);
        CHECK_STR_CONTAINS(run("ip link show wflr0"), "mtu 1380");
        CHECK(route_link_get(c, "wflr0", &l, &e) == 0);
        CHECK(l.up && l.mtu == 1380);

        struct wf_prefix a4 = tap_prefix("10.77.0.1/32"), a6 = tap_prefix("fd77::1/128");
        CHECK(route_addr_add(c, l.ifindex, &a4, &e) == 0);
        CHECK(route_addr_add(c, l.ifindex, &a6, &e) == 0);
        CHECK_STR_CONTAINS(run("ip -4 addr show dev wflr0"), "inet 10.77.0.1/32");
        CHECK_STR_CONTAINS(run("ip -6 addr show dev wflr0"), "inet6 fd77::1/128");
        CHECK(route_addr_list(c, l.ifindex, &addrs, &n_addrs, &e) == 0);
        CHECK(n_addrs >= 2);
        free(addrs);

        struct wf_prefix d1 = tap_prefix("10.78.0.0/24"), d2 = tap_prefix("fd78::/64"), d3 = tap_prefix("10.79.0.0/16");
        CHECK(route_add(c, l.ifindex, &d1, 254, 10, &e) == 0);
        CHECK(route_add(c, l.ifindex, &d2, 254, 10, &e) == 0);
        CHECK(route_add(c, l.ifindex, &d3, 100, 20, &e) == 0);
        CHECK_STR_CONTAINS(run("ip -4 route show proto 211"), "10.78.0.0/24 dev wflr0 scope link metric 10");
        CHECK_STR_CONTAINS(run("ip -6 route show proto 211"), "fd78::/64 dev wflr0 metric 10");
        CHECK_STR_CONTAINS(run("ip -4 route show table 100 proto 211"), "10.79.0.0/16 dev wflr0 scope link metric 20");
        /* adding the same route twice is an error the caller sees */
        CHECK(route_add(c, l.ifindex, &d1, 254, 10, &e) == -EEXIST);

        /* a foreign route to a wanted destination: listed as not ours; unrelated ones: not listed */
        CHECK(system("ip route add 10.78.0.0/24 dev wflr0 proto static metric 5") == 0);
        CHECK(system("ip route add 10.90.0.0/24 dev wflr0 proto static") == 0);
        struct wf_prefix want[] = { d1 };
        CHECK(route_list(c, l.ifindex, 254, want, 1, &routes, &n_routes, &e) == 0);
        size_t ours = 0, foreign = 0;
        for (size_t i = 0; i < n_routes; i++) {
                if (routes[i].ours)
                        ours++;
                else {
                        foreign++;
                        CHECK(wf_prefix_equal(&routes[i].dst, &d1) && routes[i].metric == 5);
                }
        }
        CHECK(ours == 3);
        CHECK(foreign == 1);

        /* a route_table that holds no routes yet: no error, nothing foreign, ours still found */
        struct wf_live_route *r2 = NULL;
        size_t n2 = 0;
        CHECK(route_list(c, l.ifindex, 4242, want, 1, &r2, &n2, &e) == 0);
        CHECK(n2 == 3);
        for (size_t i = 0; i < n2; i++)
                CHECK(r2[i].ours && r2[i].protocol == WF_RTPROT && r2[i].ifindex == l.ifindex);
        free(r2);
        /* ours on another interface are not this interface's */
        CHECK(system("ip link add wflr2 type veth peer name wflr3 && ip link set wflr2 up && ip link set wflr3 up && "
                     "ip route add 10.91.0.0/24 dev wflr2 proto 211 metric 10") == 0);
        r2 = NULL;
        n2 = 0;
        CHECK(route_list(c, l.ifindex, 254, NULL, 0, &r2, &n2, &e) == 0);
        CHECK(n2 == 3);
        free(r2);

        /* deleting ours leaves the foreign route to the same destination alone */
        for (size_t i = 0; i < n_routes; i++)
                if (routes[i].ours && wf_prefix_equal(&routes[i].dst, &d1))
                        CHECK(route_del(c, &routes[i], &e) == 0);
        for (size_t i = 0; i < n_routes; i++)
                if (!routes[i].ours)
                        CHECK(route_del(c, &routes[i], &e) == -EPERM);
        CHECK(strstr(run("ip -4 route show proto 211"), "10.78.0.0/24") == NULL);
        CHECK_STR_CONTAINS(run("ip -4 route show proto static"), "10.78.0.0/24 dev wflr0 scope link metric 5");
        CHECK_STR_CONTAINS(run("ip -4 route show proto static"), "10.90.0.0/24");
        free(routes);

        /* every field read back from a dump: a table above 255 (only in RTA_TABLE), the metric,
         * and a foreign multipath route (no single output interface) to the same destination */
        struct wf_prefix d4 = tap_prefix("10.92.0.0/24");
        CHECK(route_add(c, l.ifindex, &d4, 1000, 7, &e) == 0);
        CHECK(system("ip route add 10.92.0.0/24 table 1000 proto static metric 3 "
                     "nexthop dev wflr0 nexthop dev wflr2") == 0);
        struct wf_prefix want4[] = { d4 };
        r2 = NULL;
        n2 = 0;
        CHECK(route_list(c, l.ifindex, 1000, want4, 1, &r2, &n2, &e) == 0);
        size_t seen_ours = 0, seen_foreign = 0;
        for (size_t i = 0; i < n2; i++) {
                if (r2[i].ours && wf_prefix_equal(&r2[i].dst, &d4)) {
                        seen_ours++;
                        CHECK(r2[i].table == 1000 && r2[i].metric == 7 && r2[i].ifindex == l.ifindex &&
                              r2[i].protocol == WF_RTPROT);
                } else if (!r2[i].ours) {
                        seen_foreign++;
                        CHECK(wf_prefix_equal(&r2[i].dst, &d4) && r2[i].table == 1000 && r2[i].metric == 3 &&
                              r2[i].protocol == RTPROT_STATIC && r2[i].ifindex == 0);
                }
        }
        CHECK(seen_ours == 1 && seen_foreign == 1);
        free(r2);

        CHECK(route_addr_del(c, l.ifindex, &a4, &e) == 0);
        CHECK(strstr(run("ip -4 addr show dev wflr0"), "10.77.0.1") == NULL);
        if (tap_failures)
                fprintf(stderr, "last error: %s\n", e.msg);
        return TAP_DONE();
}
