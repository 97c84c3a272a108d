/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <endian.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "util.h"

static void peer_done(struct wf_peer *p) {
        free(p->name);
        free(p->endpoint);
        free(p->endpoint_host);
        for (size_t i = 0; i < p->n_endpoint_alt; i++)
                free(p->endpoint_alt[i]);
        free(p->endpoint_alt);
        free(p->allowed_ips);
        free(p->preshared_key_ref);
}

static void iface_done(struct wf_iface *i) {
        free(i->name);
        free(i->addresses);
        for (size_t j = 0; j < i->n_peers; j++)
                peer_done(&i->peers[j]);
        free(i->peers);
        for (size_t j = 0; j < i->n_routes; j++)
                free(i->routes[j].via);
        free(i->routes);
        for (size_t j = 0; j < i->n_exit; j++)
                free(i->exit[j]);
        free(i->exit);
        free(i->exit_primary);
        free(i->exit_sources);
        free(i->masquerade_out);
        free(i->netmap);
        for (size_t j = 0; j < i->n_services; j++)
                free(i->services[j].name);
        free(i->services);
}

void wf_doc_free(struct wf_doc *d) {
        if (!d)
                return;
        free(d->node);
        for (size_t i = 0; i < d->n_ifaces; i++)
                iface_done(&d->ifaces[i]);
        free(d->ifaces);
        free(d);
}

void wf_live_iface_free(struct wf_live_iface *l) {
        if (!l)
                return;
        free(l->name);
        free(l->addresses);
        for (size_t i = 0; i < l->n_peers; i++) {
                free(l->peers[i].allowed_ips);
                free(l->peers[i].backend_id);
                free(l->peers[i].comment);
        }
        if (l->peers) /* observed preshared keys */
                explicit_bzero(l->peers, l->n_peers * sizeof(*l->peers));
        free(l->peers);
        for (size_t i = 0; i < l->n_routes; i++) {
                free(l->routes[i].backend_id);
                free(l->routes[i].comment);
        }
        free(l->routes);
        free(l->backend_id);
        free(l);
}

static size_t addr_len(int family) {
        return family == AF_INET ? 4 : 16;
}

int wf_prefix_parse(const char *s, bool strict, struct wf_prefix *ret, const char **why) {
        char buf[INET6_ADDRSTRLEN + 8];
        const char *slash;
        struct wf_prefix p = {};
        unsigned long len;
        size_t alen;

        if (!s || strlen(s) >= sizeof(buf)) {
                *why = "is not a CIDR";
                return -EINVAL;
        }
        slash = strchr(s, '/');
        alen = slash ? (size_t)(slash - s) : strlen(s);
        memcpy(buf, s, alen);
        buf[alen] = '\0';
        if (inet_pton(AF_INET, buf, p.addr) == 1)
                p.family = AF_INET;
        else if (inet_pton(AF_INET6, buf, p.addr) == 1)
                p.family = AF_INET6;
        else {
                *why = "is not a CIDR";
                return -EINVAL;
        }
        if (slash) {
                char *end;
                const char *q = slash + 1;

                if (*q < '0' || *q > '9' || (q[0] == '0' && q[1] != '\0')) {
                        *why = "is not a CIDR";
                        return -EINVAL;
                }
                len = strtoul(q, &end, 10);
                if (*end != '\0' || len > addr_len(p.family) * 8) {
                        *why = "has an invalid prefix length";
                        return -EINVAL;
                }
        } else
                len = addr_len(p.family) * 8;
        p.len = (uint8_t)len;
        if (strict) {
                struct wf_prefix m = p;
                wf_prefix_mask(&m);
                if (memcmp(m.addr, p.addr, sizeof(p.addr)) != 0) {
                        *why = "has host bits set";
                        return -EINVAL;
                }
        }
        *ret = p;
        return 0;
}

void wf_prefix_format(const struct wf_prefix *p, char out[64]) {
        char a[INET6_ADDRSTRLEN];

        if (!inet_ntop(p->family, p->addr, a, sizeof(a))) {
                snprintf(out, 64, "?");
                return;
        }
        snprintf(out, 64, "%s/%u", a, p->len);
}

void wf_prefix_mask(struct wf_prefix *p) {
        size_t n = addr_len(p->family);

        for (size_t i = 0; i < 16; i++) {
                unsigned bits = i * 8 >= p->len ? 0 : p->len - i * 8;
                if (i >= n)
                        p->addr[i] = 0;
                else if (bits < 8)
                        p->addr[i] &= (uint8_t)(0xff << (8 - bits));
        }
}

bool wf_prefix_equal(const struct wf_prefix *a, const struct wf_prefix *b) {
        return a->family == b->family && a->len == b->len &&
               memcmp(a->addr, b->addr, addr_len(a->family)) == 0;
}

bool wf_prefix_contains(const struct wf_prefix *a, const struct wf_prefix *b) {
        struct wf_prefix x = *b;

        if (a->family != b->family || a->len > b->len)
                return false;
        x.len = a->len;
        wf_prefix_mask(&x);
        struct wf_prefix y = *a;
        wf_prefix_mask(&y);
        return memcmp(x.addr, y.addr, addr_len(a->family)) == 0;
}

bool wf_prefix_overlap(const struct wf_prefix *a, const struct wf_prefix *b) {
        return wf_prefix_contains(a, b) || wf_prefix_contains(b, a);
}

/* The order of memcmp over the address bytes, read as big-endian words: sorting and searching
 * 10 000-peer documents compares prefixes a few hundred thousand times per plan. */
int wf_prefix_cmp(const struct wf_prefix *a, const struct wf_prefix *b) {
        if (a->family != b->family)
                return a->family < b->family ? -1 : 1;
        if (a->family == AF_INET) {
                uint32_t x, y;
                memcpy(&x, a->addr, 4);
                memcpy(&y, b->addr, 4);
                if (x != y)
                        return be32toh(x) < be32toh(y) ? -1 : 1;
        } else {
                for (size_t i = 0; i < 16; i += 8) {
                        uint64_t x, y;
                        memcpy(&x, a->addr + i, 8);
                        memcpy(&y, b->addr + i, 8);
                        if (x != y)
                                return be64toh(x) < be64toh(y) ? -1 : 1;
                }
        }
        return a->len < b->len ? -1 : a->len > b->len ? 1 : 0;
}

int wf_endpoint_split(const char *s, char **ret_host, uint16_t *ret_port, const char **why) {
        const char *colon, *host, *hend;
        unsigned long port;
        char *end, *h;

        *why = "is not host:port";
        if (!s || !*s)
                return -EINVAL;
        if (s[0] == '[') {
                const char *rb = strchr(s, ']');
                if (!rb || rb[1] != ':')
                        return -EINVAL;
                host = s + 1;
                hend = rb;
                colon = rb + 1;
        } else {
                colon = strrchr(s, ':');
                if (!colon || memchr(s, ':', (size_t)(colon - s)))
                        return -EINVAL; /* a bare v6 address needs brackets */
                host = s;
                hend = colon;
        }
        if (hend == host)
                return -EINVAL;
        for (const char *c = host; c < hend; c++)
                if (*c <= ' ' || *c == '/' || *c == '@' || (unsigned char)*c >= 0x7f)
                        return -EINVAL;
        if (colon[1] < '1' || colon[1] > '9') {
                *why = "has no valid port (1-65535)";
                return -EINVAL;
        }
        port = strtoul(colon + 1, &end, 10);
        if (*end != '\0' || port < 1 || port > 65535) {
                *why = "has no valid port (1-65535)";
                return -EINVAL;
        }
        if (s[0] == '[') {
                struct in6_addr a;
                char buf[INET6_ADDRSTRLEN];
                size_t n = (size_t)(hend - host);
                if (n >= sizeof(buf))
                        return -EINVAL;
                memcpy(buf, host, n);
                buf[n] = '\0';
                if (inet_pton(AF_INET6, buf, &a) != 1) {
                        *why = "has an invalid IPv6 address";
                        return -EINVAL;
                }
        }
        h = strndup(host, (size_t)(hend - host));
        if (!h)
                return -ENOMEM;
        *ret_host = h;
        *ret_port = (uint16_t)port;
        return 0;
}

int wf_sockaddr_parse(const char *s, struct sockaddr_storage *ret, const char **why) {
        struct sockaddr_storage ss = {};
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        _cleanup_free_ char *host = NULL;
        uint16_t port;
        int r;

        r = wf_endpoint_split(s, &host, &port, why);
        if (r < 0)
                return r;
        if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
                in->sin_family = AF_INET;
                in->sin_port = htons(port);
        } else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
                in6->sin6_family = AF_INET6;
                in6->sin6_port = htons(port);
        } else {
                *why = "is not an IP address and port";
                return -EINVAL;
        }
        *ret = ss;
        return 0;
}

void wf_sockaddr_format(const struct sockaddr_storage *ss, char out[64]) {
        char a[INET6_ADDRSTRLEN];

        if (ss->ss_family == AF_INET) {
                const struct sockaddr_in *s4 = (const void *)ss;
                inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a));
                snprintf(out, 64, "%s:%u", a, ntohs(s4->sin_port));
        } else if (ss->ss_family == AF_INET6) {
                const struct sockaddr_in6 *s6 = (const void *)ss;
                inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
                snprintf(out, 64, "[%s]:%u", a, ntohs(s6->sin6_port));
        } else
                out[0] = '\0';
}

bool wf_sockaddr_equal(const struct sockaddr_storage *a, const struct sockaddr_storage *b) {
        if (a->ss_family != b->ss_family)
                return false;
        if (a->ss_family == AF_INET) {
                const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
                return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
        }
        if (a->ss_family == AF_INET6) {
                const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
                return x->sin6_port == y->sin6_port &&
                       memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
        }
        return true;
}

/* ---- prefix sets ---- */

static int prefix_cmp_void(const void *a, const void *b) {
        return wf_prefix_cmp(a, b);
}

/* Peers hold one or two prefixes and the kernel dumps tables in order, so the small and the
 * sorted cases skip qsort. */
static bool prefixes_in_order(const struct wf_prefix *a, size_t n) {
        for (size_t i = 1; i < n; i++)
                if (wf_prefix_cmp(&a[i - 1], &a[i]) > 0)
                        return false;
        return true;
}

size_t wf_prefixes_sort_unique(struct wf_prefix *a, size_t n) {
        size_t k = 0, n4 = 0;
        bool sorted = prefixes_in_order(a, n);

        /* Documents list each peer's IPv4 and IPv6 prefixes together, usually in address order:
         * apart by family, each half is often in order already. */
        if (!sorted && n > 8) {
                _cleanup_free_ struct wf_prefix *v6 = malloc(n * sizeof(*v6));
                size_t n6 = 0;

                if (v6) {
                        for (size_t i = 0; i < n; i++)
                                if (a[i].family < AF_INET6)
                                        a[n4++] = a[i];
                                else
                                        v6[n6++] = a[i];
                        memcpy(a + n4, v6, n6 * sizeof(*v6));
                        if (!prefixes_in_order(a, n4))
                                qsort(a, n4, sizeof(*a), prefix_cmp_void);
                        if (!prefixes_in_order(a + n4, n6))
                                qsort(a + n4, n6, sizeof(*a), prefix_cmp_void);
                        sorted = n4 == 0 || n6 == 0 || wf_prefix_cmp(&a[n4 - 1], &a[n4]) <= 0;
                }
        }
        if (!sorted && n <= 8) {
                for (size_t i = 1; i < n; i++) {
                        struct wf_prefix x = a[i];
                        size_t j = i;
                        for (; j > 0 && wf_prefix_cmp(&a[j - 1], &x) > 0; j--)
                                a[j] = a[j - 1];
                        a[j] = x;
                }
        } else if (!sorted)
                qsort(a, n, sizeof(*a), prefix_cmp_void);
        for (size_t i = 0; i < n; i++)
                if (k == 0 || wf_prefix_cmp(&a[k - 1], &a[i]) != 0)
                        a[k++] = a[i];
        return k;
}

int wf_iface_routes_wanted(const struct wf_iface *iface, struct wf_prefix **ret, size_t *ret_n) {
        _cleanup_free_ struct wf_prefix *flat = NULL;
        size_t n = iface->n_routes, k = 0;

        for (size_t i = 0; i < iface->n_peers; i++)
                n += iface->peers[i].n_allowed_ips;
        flat = malloc((n ? n : 1) * sizeof(*flat));
        if (!flat)
                return -ENOMEM;
        /* A default route is the exit selection's (policy routing), never a plain table entry:
         * it would swallow the management path. */
        for (size_t i = 0; i < iface->n_peers; i++)
                for (size_t j = 0; j < iface->peers[i].n_allowed_ips; j++)
                        if (iface->peers[i].allowed_ips[j].len > 0)
                                flat[k++] = iface->peers[i].allowed_ips[j];
        for (size_t i = 0; i < iface->n_routes; i++)
                if (iface->routes[i].dst.len > 0)
                        flat[k++] = iface->routes[i].dst;
        *ret_n = wf_prefixes_sort_unique(flat, k);
        *ret = TAKE_PTR(flat);
        return 0;
}
