/* SPDX-License-Identifier: MIT */
/* Endpoint resolution is bounded: in a private network and mount namespace, resolv.conf points
 * at a local DNS server that never answers. Literal endpoints resolve at once, names give up at
 * the deadline with a note, and no name delays the others beyond it. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <time.h>

#include "reconcile.h"
#include "tap.h"

static int64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int main(void) {
        char conf[] = "/tmp/wfl-resolv-XXXXXX";
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(53) };
        struct wf_peer peers[3] = {
                { .name = (char *)"literal", .endpoint = (char *)"192.0.2.5:51820", .endpoint_host = (char *)"192.0.2.5", .endpoint_port = 51820 },
                { .name = (char *)"silent", .endpoint = (char *)"peer.wfl.example:51820", .endpoint_host = (char *)"peer.wfl.example", .endpoint_port = 51820 },
                { .name = (char *)"cgnat" },
        };
        struct wf_iface iface = { .name = (char *)"wflr0", .peers = peers, .n_peers = 3 };
        struct plan_peer tp[3] = { { .peer = &peers[0] }, { .peer = &peers[1] }, { .peer = &peers[2] } };
        struct plan_target t = { .iface = &iface, .peers = tp, .n_peers = 3 };
        char **notes = NULL, buf[64];
        size_t n_notes = 0;
        int fd, sfd;
        int64_t t0, dt;

        if (getuid() != 0) {
                printf("skip: needs root for namespaces\n");
                return 77;
        }
        if (unshare(CLONE_NEWNET | CLONE_NEWNS) < 0) {
                printf("skip: unshare: %s\n", strerror(errno));
                return 77;
        }
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 || system("ip link set lo up") != 0) {
                printf("skip: cannot set up the namespaces\n");
                return 77;
        }
        fd = mkstemp(conf);
        CHECK(fd >= 0);
        dprintf(fd, "nameserver 127.0.0.1\noptions timeout:30 attempts:1\n");
        close(fd);
        CHECK(mount(conf, "/etc/resolv.conf", NULL, MS_BIND, NULL) == 0);
        /* The DNS server that never answers. */
        sfd = socket(AF_INET, SOCK_DGRAM, 0);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        CHECK(bind(sfd, (struct sockaddr *)&sa, sizeof(sa)) == 0);

        t0 = now_ms();
        CHECK(reconcile_resolve(&t, 1500, &notes, &n_notes) == 0);
        dt = now_ms() - t0;
        printf("resolution with one silent name took %lld ms (bound 1500)\n", (long long)dt);
        /* The point is the bound: it waited for the silent name (>= 1.4 s), and gave up long
         * before the resolver's own 30 s timeout (generous: a loaded 2-core CI machine). */
        CHECK(dt >= 1400 && dt < 6000);

        wf_sockaddr_format(&tp[0].endpoint, buf);
        CHECK(strcmp(buf, "192.0.2.5:51820") == 0);
        CHECK(!tp[0].endpoint_keep);
        CHECK(tp[1].endpoint.ss_family == 0 && tp[1].endpoint_keep);
        CHECK(tp[2].endpoint.ss_family == 0 && !tp[2].endpoint_keep);
        CHECK(n_notes == 1);
        if (n_notes == 1) {
                CHECK_STR_CONTAINS(notes[0], "peer silent");
                CHECK_STR_CONTAINS(notes[0], "peer.wfl.example:51820");
                CHECK_STR_CONTAINS(notes[0], "keeping the live endpoint");
        }
        for (size_t i = 0; i < n_notes; i++)
                free(notes[i]);
        free(notes);
        umount("/etc/resolv.conf");
        unlink(conf);
        close(sfd);
        return TAP_DONE();
}
