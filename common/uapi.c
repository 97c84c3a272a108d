/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include <sodium.h>

#include "uapi.h"

#define UAPI_MAX_REPLY (256u * 1024 * 1024)

/* ---- codec ---- */

static int hex_key(const char *s, size_t n, uint8_t out[WF_KEY_LEN]) {
        size_t bin_len = 0;

        if (n != 2 * WF_KEY_LEN)
                return -EINVAL;
        if (sodium_hex2bin(out, WF_KEY_LEN, s, n, NULL, &bin_len, NULL) != 0 || bin_len != WF_KEY_LEN)
                return -EINVAL;
        return 0;
}

static int parse_u64(const char *s, uint64_t max, uint64_t *ret) {
        uint64_t v;
        int r = wf_parse_u64(s, &v);

        if (r < 0)
                return r;
        if (v > max)
                return -ERANGE;
        *ret = v;
        return 0;
}

/* "1.2.3.4:51820", "[fd00::1]:51820" (an optional %scope is dropped). */
static int parse_endpoint(const char *s, struct sockaddr_storage *ret) {
        char host[INET6_ADDRSTRLEN + 1];
        const char *colon, *h = s, *hend;
        uint64_t port;

        memset(ret, 0, sizeof(*ret));
        if (*s == '[') {
                h = s + 1;
                hend = strchr(h, ']');
                if (!hend || hend[1] != ':')
                        return -EINVAL;
                colon = hend + 1;
                const char *pct = memchr(h, '%', (size_t)(hend - h));
                if (pct)
                        hend = pct;
        } else {
                colon = strrchr(s, ':');
                if (!colon)
                        return -EINVAL;
                hend = colon;
        }
        if ((size_t)(hend - h) >= sizeof(host) || parse_u64(colon + 1, 65535, &port) < 0)
                return -EINVAL;
        memcpy(host, h, (size_t)(hend - h));
        host[hend - h] = '\0';
        if (*s != '[') {
                struct sockaddr_in *s4 = (struct sockaddr_in *)ret;
                if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
                        return -EINVAL;
                s4->sin_family = AF_INET;
                s4->sin_port = htons((uint16_t)port);
        } else {
                struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ret;
                if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
                        return -EINVAL;
                s6->sin6_family = AF_INET6;
                s6->sin6_port = htons((uint16_t)port);
        }
        return 0;
}

static struct wf_live_peer *peer_push(struct wf_live_iface *live, size_t *cap) {
        if (live->n_peers == *cap) {
                size_t nc = *cap ? *cap * 2 : 16;
                /* not realloc(): the old block holds preshared keys */
                struct wf_live_peer *x = malloc(nc * sizeof(*x));
                if (!x)
                        return NULL;
                if (live->peers) {
                        memcpy(x, live->peers, live->n_peers * sizeof(*x));
                        sodium_memzero(live->peers, live->n_peers * sizeof(*x));
                        free(live->peers);
                }
                live->peers = x;
                *cap = nc;
        }
        struct wf_live_peer *p = &live->peers[live->n_peers++];
        memset(p, 0, sizeof(*p));
        return p;
}

static int aip_push(struct wf_live_peer *p, const struct wf_prefix *x) {
        /* capacity: powers of two, derived from the count */
        size_t n = p->n_allowed_ips;
        if ((n & (n - 1)) == 0) {
                struct wf_prefix *y = realloc(p->allowed_ips, (n ? 2 * n : 1) * sizeof(*y));
                if (!y)
                        return -ENOMEM;
                p->allowed_ips = y;
        }
        p->allowed_ips[p->n_allowed_ips++] = *x;
        return 0;
}

int uapi_parse_errno(const char *text, size_t len, int *ret_errno) {
        const char *end = text + len, *line = text;

        while (line < end) {
                const char *nl = memchr(line, '\n', (size_t)(end - line));
                size_t n = nl ? (size_t)(nl - line) : (size_t)(end - line);
                if (n > 6 && memcmp(line, "errno=", 6) == 0) {
                        char buf[24];
                        uint64_t v;
                        if (n - 6 >= sizeof(buf))
                                return -EBADMSG;
                        memcpy(buf, line + 6, n - 6);
                        buf[n - 6] = '\0';
                        if (parse_u64(buf, 4095, &v) < 0)
                                return -EBADMSG;
                        *ret_errno = (int)v;
                        return 0;
                }
                line += n + 1;
        }
        return -EBADMSG;
}

/* The line buffer held private_key= or preshared_key= lines: wiped on every way out. */
static void line_wipe(char (*b)[256]) {
        sodium_memzero(*b, sizeof(*b));
}

int uapi_parse_get(const char *text, size_t len, struct wf_live_iface *live, struct wf_err *e) {
        const char *end = text + len, *line = text;
        struct wf_live_peer *peer = NULL;
        size_t cap = live->n_peers, lineno = 0;
        bool saw_errno = false;
        _cleanup_(line_wipe) char buf[256];
        int r;

        /* One array of the right size: doubling a 10k-peer array copies it and holds both. */
        if (!live->peers) {
                size_t n = 0;
                for (const char *q = text; (q = memmem(q, (size_t)(end - q), "\npublic_key=", 12)); q += 12)
                        n++;
                if (n > 0) {
                        live->peers = malloc(n * sizeof(*live->peers));
                        if (!live->peers)
                                return -ENOMEM;
                        cap = n;
                }
        }
        while (line < end) {
                const char *nl = memchr(line, '\n', (size_t)(end - line));
                size_t n = nl ? (size_t)(nl - line) : (size_t)(end - line);
                const char *eq, *val;
                size_t klen;
                uint64_t v;

                lineno++;
                if (n == 0)
                        break; /* the empty line ends the reply */
                if (n >= sizeof(buf))
                        return wf_err_set(e, -EBADMSG, "uapi reply line %zu: too long", lineno);
                memcpy(buf, line, n);
                buf[n] = '\0';
                line += n + 1;
                eq = strchr(buf, '=');
                if (!eq)
                        return wf_err_set(e, -EBADMSG, "uapi reply line %zu: no '='", lineno);
                klen = (size_t)(eq - buf);
                val = eq + 1;
#define KEY(k) (klen == strlen(k) && memcmp(buf, k, klen) == 0)
                if (KEY("errno")) {
                        if (parse_u64(val, 4095, &v) < 0)
                                return wf_err_set(e, -EBADMSG, "uapi reply line %zu: bad errno", lineno);
                        if (v != 0)
                                return wf_err_set(e, -(int)v, "uapi get: errno=%d (%s)", (int)v, strerror((int)v));
                        saw_errno = true;
                } else if (KEY("private_key") && !peer) {
                        uint8_t priv[WF_KEY_LEN];
                        r = hex_key(val, strlen(val), priv);
                        if (r < 0) {
                                sodium_memzero(priv, sizeof(priv));
                                return wf_err_set(e, -EBADMSG, "uapi reply line %zu: bad private key", lineno);
                        }
                        live->has_private_key = !sodium_is_zero(priv, WF_KEY_LEN);
                        if (live->has_private_key)
                                crypto_scalarmult_curve25519_base(live->public_key, priv);
                        sodium_memzero(priv, sizeof(priv));
                } else if (KEY("listen_port") && !peer) {
                        if (parse_u64(val, 65535, &v) < 0)
                                return wf_err_set(e, -EBADMSG, "uapi reply line %zu: bad listen_port %s", lineno, val);
                        live->listen_port = (uint16_t)v;
                } else if (KEY("fwmark") && !peer) {
                        if (parse_u64(val, UINT32_MAX, &v) < 0)
                                return wf_err_set(e, -EBADMSG, "uapi reply line %zu: bad fwmark %s", lineno, val);
                        live->fwmark = (uint32_t)v;
                } else if (KEY("public_key")) {
                        peer = peer_push(live, &cap);
                        if (!peer)
                                return -ENOMEM;
                        if (hex_key(val, strlen(val), peer->public_key) < 0)
                                return wf_err_set(e, -EBADMSG, "uapi reply line %zu: bad public key", lineno);
                } else if (!peer) {
                        continue; /* device keys we do not model (protocol additions) */
                } else if (KEY("preshared_key")) {
                        if (hex_key(val, strlen(val), peer->preshared_key) < 0)
                                return wf_err_set(e, -EBADMSG, "uapi reply line %zu: bad preshared key", lineno);
                        peer->has_preshared_key = !sodium_is_zero(peer->preshared_key, WF_KEY_LEN);
                } else if (KEY("endpoint")) {
                        if (parse_endpoint(val, &peer->endpoint) < 0)
                                return wf_err_set(e, -EBADMSG, "uapi reply line %zu: bad endpoint %s", lineno, val);
                } else if (KEY("persistent_keepalive_interval")) {
                        if (parse_u64(val, 65535, &v) < 0)
                                return wf_err_set(e, -EBADMSG, "uapi reply line %zu: bad keepalive %s", lineno, val);
                        peer->persistent_keepalive = (uint16_t)v;
                } else if (KEY("last_handshake_time_sec")) {
                        if (parse_u64(val, INT64_MAX, &v) < 0)
                                return wf_err_set(e, -EBADMSG, "uapi reply line %zu: bad handshake time", lineno);
                        peer->last_handshake = (int64_t)v;
                } else if (KEY("rx_bytes") || KEY("tx_bytes")) {
                        if (parse_u64(val, UINT64_MAX, &v) < 0)
                                return wf_err_set(e, -EBADMSG, "uapi reply line %zu: bad counter %s", lineno, val);
                        *(buf[0] == 'r' ? &peer->rx_bytes : &peer->tx_bytes) = v;
                } else if (KEY("allowed_ip")) {
                        struct wf_prefix x;
                        const char *why;
                        if (wf_prefix_parse(val, false, &x, &why) < 0)
                                return wf_err_set(e, -EBADMSG, "uapi reply line %zu: allowed_ip %s %s", lineno, val, why);
                        wf_prefix_mask(&x);
                        if (aip_push(peer, &x) < 0)
                                return -ENOMEM;
                }
#undef KEY
        }
        if (!saw_errno)
                return wf_err_set(e, -EBADMSG, "uapi reply: no errno line");
        return 0;
}

/* A growing text buffer that may hold key material: it is zeroed whenever it moves. */
struct sbuf {
        char *s;
        size_t n, cap;
        bool oom;
};

static void sb_printf(struct sbuf *b, const char *fmt, ...) _printf_(2, 3);
static void sb_printf(struct sbuf *b, const char *fmt, ...) {
        va_list ap;
        int k;

        if (b->oom)
                return;
        for (;;) {
                va_start(ap, fmt);
                k = vsnprintf(b->s + b->n, b->cap - b->n, fmt, ap);
                va_end(ap);
                if (k < 0) {
                        b->oom = true;
                        return;
                }
                if ((size_t)k < b->cap - b->n) {
                        b->n += (size_t)k;
                        return;
                }
                size_t nc = b->cap * 2 + (size_t)k + 64;
                char *x = malloc(nc);
                if (!x) {
                        b->oom = true;
                        return;
                }
                if (b->s) {
                        memcpy(x, b->s, b->n);
                        sodium_memzero(b->s, b->cap);
                        free(b->s);
                }
                b->s = x;
                b->cap = nc;
        }
}

static void sb_key(struct sbuf *b, const char *name, const uint8_t key[WF_KEY_LEN]) {
        char hex[2 * WF_KEY_LEN + 1];

        sodium_bin2hex(hex, sizeof(hex), key, WF_KEY_LEN);
        sb_printf(b, "%s=%s\n", name, hex);
        sodium_memzero(hex, sizeof(hex));
}

static void sb_prefixes(struct sbuf *b, const struct wf_prefix *a, size_t n) {
        char buf[64];

        for (size_t i = 0; i < n; i++) {
                wf_prefix_format(&a[i], buf);
                sb_printf(b, "allowed_ip=%s\n", buf);
        }
}

static const uint8_t zero_key[WF_KEY_LEN];

int uapi_format_set(const struct wgc_device *d, char **ret, size_t *ret_len) {
        struct sbuf b = { .s = malloc(4096), .cap = 4096 };
        char buf[64];

        if (!b.s)
                return -ENOMEM;
        if (d->flags == 0 && d->n_peers == 0) {
                free(b.s);
                *ret = NULL;
                *ret_len = 0;
                return 0;
        }
        b.s[0] = '\0';
        sb_printf(&b, "set=1\n");
        if (d->flags & WGC_DEV_PRIVATE_KEY)
                sb_key(&b, "private_key", d->private_key);
        if (d->flags & WGC_DEV_LISTEN_PORT)
                sb_printf(&b, "listen_port=%u\n", d->listen_port);
        if (d->flags & WGC_DEV_FWMARK)
                sb_printf(&b, "fwmark=%u\n", d->fwmark);
        for (size_t i = 0; i < d->n_peers; i++) {
                const struct wgc_peer *p = &d->peers[i];

                sb_key(&b, "public_key", p->public_key);
                if (p->flags & WGC_PEER_REMOVE) {
                        sb_printf(&b, "remove=true\n");
                        continue;
                }
                if (p->flags & WGC_PEER_UPDATE_ONLY)
                        sb_printf(&b, "update_only=true\n");
                if (p->flags & WGC_PEER_PRESHARED_KEY)
                        sb_key(&b, "preshared_key", p->preshared_key ? p->preshared_key : zero_key);
                if (p->flags & WGC_PEER_ENDPOINT) {
                        wf_sockaddr_format(&p->endpoint, buf);
                        sb_printf(&b, "endpoint=%s\n", buf);
                }
                if (p->flags & WGC_PEER_KEEPALIVE)
                        sb_printf(&b, "persistent_keepalive_interval=%u\n", p->keepalive);
                /* One peer section: wireguard-go applies it under one IPC lock. */
                if ((p->flags & WGC_PEER_REPLACE_ALLOWEDIPS) && (p->flags & WGC_PEER_UPDATE_ONLY))
                        sb_printf(&b, "replace_allowed_ips=true\n");
                sb_prefixes(&b, p->allowed_ips, p->n_allowed_ips);
        }
        sb_printf(&b, "\n");
        if (b.oom) {
                uapi_request_free(b.s, b.cap);
                return -ENOMEM;
        }
        *ret = b.s;
        *ret_len = b.n;
        return 0;
}

void uapi_request_free(char *req, size_t len) {
        if (!req)
                return;
        sodium_memzero(req, len);
        free(req);
}

/* ---- socket ---- */

static int64_t now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int wait_fd(int fd, short events, int64_t deadline) {
        struct pollfd pfd = { .fd = fd, .events = events };
        int64_t left = deadline - now_ms();
        int r;

        if (left <= 0)
                return -ETIMEDOUT;
        r = poll(&pfd, 1, (int)left);
        if (r < 0)
                return -errno;
        return r == 0 ? -ETIMEDOUT : 0;
}

int uapi_transact(const char *dir, const char *iface, const char *req, size_t req_len,
                  int timeout_ms, char **ret, size_t *ret_len, struct wf_err *e) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int fd = -1;
        int64_t deadline = now_ms() + timeout_ms;
        char *out = NULL;
        size_t n = 0, cap = 0;
        int r;

        if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s.sock", dir, iface) >= sizeof(sa.sun_path))
                return wf_err_set(e, -ENAMETOOLONG, "uapi socket path %s/%s.sock is too long", dir, iface);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return wf_err_set(e, -errno, "uapi socket: %m");
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
                r = -errno;
                return wf_err_set(e, r, "connect %s: %s", sa.sun_path, strerror(-r));
        }
        for (size_t off = 0; off < req_len;) {
                ssize_t k = send(fd, req + off, req_len - off, MSG_NOSIGNAL);
                if (k < 0 && (errno == EAGAIN || errno == EINTR)) {
                        r = wait_fd(fd, POLLOUT, deadline);
                        if (r < 0)
                                return wf_err_set(e, r, "uapi %s: send: %s", iface, strerror(-r));
                        continue;
                }
                if (k < 0)
                        return wf_err_set(e, -errno, "uapi %s: send: %m", iface);
                off += (size_t)k;
        }
        for (;;) {
                ssize_t k;

                if (cap - n < 65536) {
                        size_t nc = cap ? cap * 2 : 65536 * 2;
                        char *x;
                        if (nc > UAPI_MAX_REPLY) {
                                uapi_request_free(out, cap);
                                return wf_err_set(e, -EFBIG, "uapi %s: reply larger than %u bytes", iface, UAPI_MAX_REPLY);
                        }
                        x = malloc(nc);
                        if (!x) {
                                uapi_request_free(out, cap);
                                return -ENOMEM;
                        }
                        if (out) {
                                memcpy(x, out, n);
                                uapi_request_free(out, cap);
                        }
                        out = x;
                        cap = nc;
                }
                k = recv(fd, out + n, cap - n - 1, 0);
                if (k < 0 && (errno == EAGAIN || errno == EINTR)) {
                        r = wait_fd(fd, POLLIN, deadline);
                        if (r < 0) {
                                uapi_request_free(out, cap);
                                return wf_err_set(e, r, "uapi %s: no reply: %s", iface, strerror(-r));
                        }
                        continue;
                }
                if (k < 0) {
                        r = -errno;
                        uapi_request_free(out, cap);
                        return wf_err_set(e, r, "uapi %s: recv: %s", iface, strerror(-r));
                }
                n += (size_t)k;
                out[n] = '\0';
                /* The reply ends with the line "errno=N" and an empty line. */
                if (n >= 2 && out[n - 1] == '\n' && out[n - 2] == '\n') {
                        size_t ls = n - 2;
                        while (ls > 0 && out[ls - 1] != '\n')
                                ls--;
                        if (strncmp(out + ls, "errno=", 6) == 0)
                                break;
                }
                if (k == 0) {
                        uapi_request_free(out, cap);
                        return wf_err_set(e, -ECONNRESET, "uapi %s: connection closed before the reply ended", iface);
                }
        }
        *ret = out;
        *ret_len = n;
        return 0;
}
