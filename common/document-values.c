/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <string.h>

#include "document.h"

/* What one value of a document may be: names, hosts, prefixes. The controller checks its
 * inventory with the same functions. */

static bool name_char(char ch, bool first) {
        return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
               (!first && (ch == '.' || ch == '_' || ch == '-'));
}

bool doc_name_valid(const char *s, size_t max) {
        size_t n = strlen(s);

        if (n < 1 || n > max)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!name_char(s[i], i == 0))
                        return false;
        return true;
}

bool doc_ifname_valid(const char *s) {
        size_t n = strlen(s);

        /* The kernel's dev_valid_name(), and ASCII only: the name also goes into RouterOS words,
         * wireguard-go socket paths and log lines. */
        if (n < 1 || n >= WF_IFNAMSIZ || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
                return false;
        for (size_t i = 0; i < n; i++) {
                unsigned char ch = (unsigned char)s[i];
                if (ch == '/' || ch == ':' || ch <= ' ' || ch >= 0x7f)
                        return false;
        }
        return true;
}

/* A trailing dot is allowed. */
bool doc_host_valid(const char *h) {
        struct in_addr a;
        size_t n = strlen(h), label = 0;
        bool alpha = false;

        if (inet_pton(AF_INET, h, &a) == 1)
                return true;
        if (n > 0 && h[n - 1] == '.')
                n--;
        if (n == 0 || n > 253)
                return false;
        for (size_t i = 0; i <= n; i++) {
                char ch = i < n ? h[i] : '.';

                if (ch == '.') {
                        if (label == 0 || label > 63 || h[i - 1] == '-')
                                return false;
                        label = 0;
                        continue;
                }
                if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                      ch == '-' || ch == '_'))
                        return false;
                if (label == 0 && ch == '-')
                        return false;
                if (!(ch >= '0' && ch <= '9') && ch != '.')
                        alpha = true;
                label++;
        }
        return alpha;
}

/* The kernel keeps loopback and multicast to itself, and an IPv4-mapped IPv6 prefix never
 * matches a packet (write the IPv4 prefix). Link-local stays allowed: routing daemons run over
 * fe80:: on tunnels. */
static const char *prefix_special(const struct wf_prefix *p, bool overlap) {
        static const struct {
                struct wf_prefix p;
                const char *why, *overlaps;
        } special[] = {
                { { AF_INET, { 127 }, 8 }, "is a loopback prefix (no tunnel can carry it)",
                  "overlaps the loopback prefix 127.0.0.0/8" },
                { { AF_INET, { 224 }, 4 }, "is a multicast prefix (WireGuard carries unicast only)",
                  "overlaps the multicast prefix 224.0.0.0/4" },
                { { AF_INET6, { [15] = 1 }, 128 }, "is the loopback address (no tunnel can carry it)",
                  "contains the loopback address ::1" },
                { { AF_INET6, { 0xff }, 8 }, "is a multicast prefix (WireGuard carries unicast only)",
                  "overlaps the multicast prefix ff00::/8" },
                { { AF_INET6, { [10] = 0xff, [11] = 0xff }, 96 },
                  "is an IPv4-mapped IPv6 prefix (write the IPv4 prefix instead)",
                  "overlaps the IPv4-mapped prefix ::ffff:0:0/96" },
        };

        for (size_t i = 0; i < ELEMENTSOF(special); i++) {
                if (wf_prefix_contains(&special[i].p, p))
                        return special[i].why;
                if (overlap && wf_prefix_overlap(&special[i].p, p))
                        return special[i].overlaps;
        }
        return NULL;
}

const char *doc_prefix_special(const struct wf_prefix *p) {
        return prefix_special(p, false);
}

/* For a range addresses are taken from (a tunnel_cidr): none of them may be special. */
const char *doc_prefix_special_overlap(const struct wf_prefix *p) {
        return prefix_special(p, true);
}
