/* SPDX-License-Identifier: MIT */
/* The RouterOS backend: the shared plan, executed as RouterOS 7 API commands.
 *
 * Ownership on the router is the comment: everything created here carries one starting with
 * "wgfleet:" and nothing else is changed, except foreign static routes to one of our
 * destinations with a distance below ours, which the plan demotes to 11 (PLAN_ROUTE_DEMOTE; the
 * original distance is recorded in the route's own comment, ros-demote.c) and puts back when
 * the destination is no longer ours or on clear. Peers are found by public key, never by
 * .id (not stable across reboots), and changed in place with set, only the differing
 * properties. */
#include <arpa/inet.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "document.h"
#include "ros-backend.h"

bool ros_is_ours(const char *comment) {
        return comment && strncmp(comment, ROS_COMMENT_PREFIX, strlen(ROS_COMMENT_PREFIX)) == 0;
}

/* Ours and for this interface: "wgfleet:IFACE" or "wgfleet:IFACE ...". */
bool ros_is_ours_for(const char *comment, const char *iface) {
        size_t pl = strlen(ROS_COMMENT_PREFIX), il = strlen(iface);
        return ros_is_ours(comment) && strncmp(comment + pl, iface, il) == 0 &&
               (comment[pl + il] == 0 || comment[pl + il] == ' ');
}

bool ros_is_true(const char *v) {
        return v && (strcmp(v, "true") == 0 || strcmp(v, "yes") == 0);
}

static void ros_close(struct backend *b) {
        if (!b)
                return;
        rosconn_close(b->conn);
        wf_erase_free(b->password);
        free(b->host);
        free(b->ca_file);
        free(b->user);
        free(b->state_dir);
        free(b);
}

static int ros_open(struct backend **ret, const struct config *c, struct wf_err *e) {
        if (!c->ros_host)
                return wf_err_set(e, -EINVAL, "[routeros] host: not set");
        if (!c->ros_user)
                return wf_err_set(e, -EINVAL, "[routeros] user: not set");
        struct backend *b = calloc(1, sizeof *b);
        if (!b)
                return -ENOMEM;
        b->host = strdup(c->ros_host);
        b->user = strdup(c->ros_user);
        b->ca_file = c->ros_ca_file ? strdup(c->ros_ca_file) : NULL;
        b->state_dir = strdup(c->state_dir ? c->state_dir : "/var/lib/wgfleet");
        b->port = c->ros_port;
        b->tls = c->ros_tls;
        b->tls_verify = c->ros_tls_verify;
        b->probe_timeout = c->ros_probe_timeout;
        if (!b->host || !b->user || !b->state_dir || (c->ros_ca_file && !b->ca_file)) {
                ros_close(b);
                return -ENOMEM;
        }
        int r = rosconn_read_password(c->ros_password_file, &b->password, e);
        if (r < 0) {
                ros_close(b);
                return r;
        }
        *ret = b;
        return 0;
}

static void mgmt_add(struct backend *b, const struct sockaddr_storage *ss, bool local);

int ros_connect(struct backend *b, struct wf_err *e) {
        if (b->conn && !rosconn_is_dead(b->conn))
                return 0;
        rosconn_close(b->conn);
        b->conn = NULL;
        struct rosconn_opts o = {
                .host = b->host,
                .port = b->port,
                .tls = b->tls,
                .tls_verify = b->tls_verify,
                .ca_file = b->ca_file,
                .user = b->user,
                .password = b->password,
                .timeout_ms = 10000,
        };
        int r = rosconn_open(&b->conn, &o, e);
        if (r < 0)
                return r;
        struct sockaddr_storage local, peer;
        if (rosconn_addresses(b->conn, &local, &peer) == 0) {
                mgmt_add(b, &peer, false);
                mgmt_add(b, &local, true);
        }
        return 0;
}

/* One command; words is a NULL-terminated array. */
int ros_call(struct backend *b, const char *const *words, struct rosconn_reply *rep, struct wf_err *e) {
        struct rosapi_sentence s;
        int r = 0;
        rosapi_sentence_init(&s);
        for (size_t i = 0; words[i] && r >= 0; i++)
                r = rosapi_sentence_adds(&s, words[i]);
        if (r < 0) {
                rosapi_sentence_done(&s);
                *rep = (struct rosconn_reply){};
                rosapi_sentence_init(&rep->done);
                return wf_err_set(e, r, "routeros: out of memory");
        }
        r = rosconn_call(b->conn, &s, rep, e);
        rosapi_sentence_done(&s);
        return r;
}


void ros_words_done(struct ros_words *w) {
        for (size_t i = 0; i < w->n; i++) {
                /* keys travel in these words: wipe them */
                sodium_memzero(w->w[i], strlen(w->w[i]));
                free(w->w[i]);
        }
        w->n = 0;
        w->err = 0;
}

int ros_words_add(struct ros_words *w, const char *fmt, ...) _printf_(2, 3);
int ros_words_add(struct ros_words *w, const char *fmt, ...) {
        va_list ap;
        if (w->err < 0)
                return w->err;
        if (w->n + 1 >= ELEMENTSOF(w->w))
                return (w->err = -E2BIG);
        va_start(ap, fmt);
        int r = vasprintf(&w->w[w->n], fmt, ap);
        va_end(ap);
        if (r < 0)
                return (w->err = -ENOMEM);
        w->n++;
        w->w[w->n] = NULL;
        return 0;
}

int ros_words_call(struct backend *b, struct ros_words *w, struct rosconn_reply *rep, struct wf_err *e) {
        if (w->err < 0) {
                *rep = (struct rosconn_reply){};
                rosapi_sentence_init(&rep->done);
                return wf_err_set(e, w->err, "routeros: %s: cannot build the command", w->n ? w->w[0] : "?");
        }
        w->w[w->n] = NULL;
        return ros_call(b, (const char *const *)w->w, rep, e);
}

/* ---- lockout ---- */

static void mgmt_add(struct backend *b, const struct sockaddr_storage *ss, bool local) {
        struct ros_mgmt m = { .local = local, .addr = { .family = ss->ss_family } };

        if (ss->ss_family == AF_INET) {
                memcpy(m.addr.addr, &((const struct sockaddr_in *)ss)->sin_addr, 4);
                m.addr.len = 32;
        } else if (ss->ss_family == AF_INET6) {
                memcpy(m.addr.addr, &((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
                m.addr.len = 128;
        } else
                return;
        for (size_t i = 0; i < b->n_mgmt; i++)
                if (b->mgmt[i].local == local && wf_prefix_equal(&b->mgmt[i].addr, &m.addr))
                        return;
        if (b->n_mgmt < ELEMENTSOF(b->mgmt))
                b->mgmt[b->n_mgmt++] = m;
}

/* The management path, resolved once per backend (status refreshes never resolve names): the
 * router's addresses, and for each the source address this host uses toward it, which is what
 * the router sees as the API peer (a connected UDP socket: the kernel's route lookup, no packet
 * is sent). Unresolvable: nothing to check yet, the connect will say so. */
static void mgmt_resolve(struct backend *b) {
        struct addrinfo hints = { .ai_socktype = SOCK_STREAM };
        struct addrinfo *res = NULL;
        char port[8];

        if (b->mgmt_resolved)
                return;
        snprintf(port, sizeof port, "%u", b->port ? b->port : b->tls ? 8729 : 8728);
        if (getaddrinfo(b->host, port, &hints, &res) != 0)
                return;
        for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
                struct sockaddr_storage ss = {}, local = {};
                socklen_t l = sizeof local;
                int fd;

                if (ai->ai_addrlen > sizeof ss)
                        continue;
                memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
                mgmt_add(b, &ss, false);
                fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
                if (fd < 0)
                        continue;
                if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
                    getsockname(fd, (struct sockaddr *)&local, &l) == 0)
                        mgmt_add(b, &local, true);
                close(fd);
        }
        freeaddrinfo(res);
        b->mgmt_resolved = true;
}

/* The router and this host must stay reachable over the management path: refuses a document
 * whose tunnel range, peer allowed IPs or extra routes cover one of its addresses, before
 * anything is sent (document rule 38, doc_check_lockout, for these addresses). */
static int check_lockout(struct backend *b, const struct wf_iface *d, struct wf_err *e) {
        if (!d)
                return 0;
        mgmt_resolve(b);
        for (size_t i = 0; i < b->n_mgmt; i++) {
                const char *what = b->mgmt[i].local ? "this host's address toward the router"
                                                    : "the router's API address";
                struct doc_lockout l;
                char a[64], x[64];

                if (doc_check_lockout(d, &b->mgmt[i].addr, &l) == 0)
                        continue;
                wf_prefix_format(&b->mgmt[i].addr, a);
                if (l.kind == DOC_LOCKOUT_ADDRESS) {
                        wf_prefix_format(&d->addresses[l.idx], x);
                        return wf_err_set(e, -EPERM, "interface %s: addresses[%zu]: \"%s\" puts %s %s on the tunnel (lockout)",
                                          d->name, l.idx, x, what, a);
                }
                wf_prefix_format(&l.prefix, x);
                if (l.kind == DOC_LOCKOUT_ROUTE)
                        return wf_err_set(e, -EPERM, "interface %s: routes[%zu].dst: \"%s\" covers %s %s (lockout)",
                                          d->name, l.idx, x, what, a);
                return wf_err_set(e, -EPERM, "interface %s: peers[%zu].allowed_ips[%zu]: \"%s\" covers %s %s (lockout)",
                                  d->name, l.peer, l.idx, x, what, a);
        }
        return 0;
}

/* Before any command of an observe or apply: the lockout check on the addresses known so far,
 * the connection, and the check again on the addresses the connection really uses. */
static int ros_ready(struct backend *b, const struct wf_iface *d, struct wf_err *e) {
        int r = check_lockout(b, d, e);

        if (r >= 0)
                r = ros_connect(b, e);
        if (r >= 0)
                r = check_lockout(b, d, e);
        return r;
}

int ros_find_id(struct backend *b, const char *menu, const char *q1, const char *q2, char out[32],
                   struct wf_err *e) {
        struct rosconn_reply rep;
        char cmd[64];
        snprintf(cmd, sizeof cmd, "%s/print", menu);
        int r = q2 ? ROS_CALL(b, &rep, e, cmd, q1, q2, "=.proplist=.id,comment")
                   : ROS_CALL(b, &rep, e, cmd, q1, "=.proplist=.id,comment");
        out[0] = 0;
        if (r >= 0)
                for (size_t i = 0; i < rep.n_re; i++)
                        if (ros_is_ours(rosconn_reply_get(&rep, i, "comment"))) {
                                snprintf(out, 32, "%s", rosconn_reply_get(&rep, i, ".id"));
                                break;
                        }
        rosconn_reply_done(&rep);
        return r < 0 ? r : out[0] ? 1 : 0;
}

int ros_simple(struct backend *b, struct ros_words *w, struct wf_err *e) {
        struct rosconn_reply rep;
        int r = ros_words_call(b, w, &rep, e);
        rosconn_reply_done(&rep);
        ros_words_done(w);
        return r;
}

const char *ros_addr_menu(int family) {
        return family == AF_INET6 ? "/ipv6/address" : "/ip/address";
}

const char *ros_route_menu(int family) {
        return family == AF_INET6 ? "/ipv6/route" : "/ip/route";
}

/* ---- observe, apply ---- */

static int ros_observe_checked(struct backend *b, const char *iface, const struct wf_iface *desired,
                               struct wf_live_iface **ret, struct wf_err *e) {
        int r = ros_ready(b, desired, e);
        if (r < 0)
                return r;
        return ros_observe(b, iface, desired, ret, e);
}

static int ros_apply(struct backend *b, const struct plan *p, const struct plan_target *t, struct wf_err *e) {
        int r = ros_ready(b, t->iface, e);
        if (r < 0)
                return r;
        return ros_apply_ops(b, p, t, e);
}

/* ---- probe ---- */

static int ros_probe(struct backend *b, const char *iface, struct wf_err *e) {
        time_t deadline = time(NULL) + b->probe_timeout;
        _cleanup_free_ char *q = NULL;
        size_t managed = 0;

        if (asprintf(&q, "?interface=%s", iface) < 0)
                return -ENOMEM;
        for (;;) {
                struct rosconn_reply rep;
                int r = ros_connect(b, e);
                if (r < 0)
                        return r;
                r = ROS_CALL(b, &rep, e, "/interface/wireguard/peers/print", q,
                         "=.proplist=.id,comment,last-handshake");
                if (r < 0) {
                        rosconn_reply_done(&rep);
                        return r;
                }
                managed = 0;
                for (size_t i = 0; i < rep.n_re; i++) {
                        uint64_t ms;
                        if (!ros_is_ours(rosconn_reply_get(&rep, i, "comment")))
                                continue;
                        managed++;
                        /* a handshake that happened within the probe window (or just before) */
                        if (rosapi_duration_parse(rosconn_reply_get(&rep, i, "last-handshake"), &ms) == 0 &&
                            ms / 1000 <= (uint64_t)b->probe_timeout + 180) {
                                rosconn_reply_done(&rep);
                                return 1;
                        }
                }
                rosconn_reply_done(&rep);
                if (managed == 0)
                        return 1; /* nothing to wait for */
                if (time(NULL) >= deadline)
                        break;
                struct timespec ts = { .tv_sec = 1 };
                nanosleep(&ts, NULL);
        }
        wf_err_set(e, -ETIMEDOUT,
                   "routeros: no managed peer of %s completed a handshake within %u s (%zu peers): check endpoints, keys and the firewall",
                   iface, b->probe_timeout, managed);
        return 0;
}

/* ---- ping ---- */

/* A /ping row's time ("2ms500us", "12ms", "850us"): microseconds, 0 when unreadable. */
static uint32_t ping_time_us(const char *s) {
        uint64_t ms, us = 0;
        const char *u = s ? strstr(s, "us") : NULL;

        if (rosapi_duration_parse(s, &ms) < 0)
                return 0;
        /* the duration parser drops the sub-millisecond part: add it back */
        if (u) {
                while (u > s && u[-1] >= '0' && u[-1] <= '9')
                        u--;
                us = strtoull(u, NULL, 10) % 1000;
        }
        return (uint32_t)(ms * 1000 + us);
}

/* RouterOS 7 /ping with count=1: the router sends the echo itself, through the tunnel whose
 * allowed-address covers addr, or on its underlay. The one !re carries received= (0 or 1),
 * and time= when the reply came, status=timeout when it did not within interval. */
static int ros_ping(struct backend *b, const struct sockaddr_storage *addr, uint32_t wait_ms, uint32_t *rtt_us,
                    struct wf_err *e) {
        char host[INET6_ADDRSTRLEN], a[80], iv[32];
        struct rosconn_reply rep;
        const void *raw = addr->ss_family == AF_INET6 ? (const void *)&((const struct sockaddr_in6 *)addr)->sin6_addr
                                                      : (const void *)&((const struct sockaddr_in *)addr)->sin_addr;
        int r;

        if (!inet_ntop(addr->ss_family, raw, host, sizeof(host)))
                return wf_err_set(e, -EAFNOSUPPORT, "routeros: ping: no address");
        r = ros_connect(b, e);
        if (r < 0)
                return r;
        snprintf(a, sizeof(a), "=address=%s", host);
        snprintf(iv, sizeof(iv), "=interval=%" PRIu32 "ms", wait_ms < 10 ? 10 : wait_ms);
        r = ROS_CALL(b, &rep, e, "/ping", a, "=count=1", iv);
        if (r == -EREMOTEIO) {
                /* "not enough permissions": the API user's group lacks the test policy */
                wf_err_set(e, -EPERM, "routeros: /ping refused: %s", rep.trap);
                r = -EPERM;
        } else if (r == 0) {
                const char *got = rep.n_re ? rosconn_reply_get(&rep, rep.n_re - 1, "received") : NULL;

                r = got && strtoul(got, NULL, 10) > 0;
                if (r)
                        *rtt_us = ping_time_us(rosconn_reply_get(&rep, rep.n_re - 1, "time"));
        }
        rosconn_reply_done(&rep);
        return r;
}

/* ---- clear ---- */

static int remove_ours(struct backend *b, const char *iface, const char *menu, struct wf_err *e) {
        struct rosconn_reply rep;
        char cmd[64];
        snprintf(cmd, sizeof cmd, "%s/print", menu);
        int r = ROS_CALL(b, &rep, e, cmd, "=.proplist=.id,comment");
        if (r == -EREMOTEIO && strstr(rep.trap, "no such command")) {
                rosconn_reply_done(&rep);
                return 0;
        }
        for (size_t i = 0; r >= 0 && i < rep.n_re; i++) {
                if (!ros_is_ours_for(rosconn_reply_get(&rep, i, "comment"), iface))
                        continue;
                struct ros_words w = {};
                ros_words_add(&w, "%s/remove", menu);
                ros_words_add(&w, "=.id=%s", rosconn_reply_get(&rep, i, ".id"));
                r = ros_simple(b, &w, e);
        }
        rosconn_reply_done(&rep);
        return r < 0 ? r : 0;
}

static int ros_clear(struct backend *b, const char *iface, struct wf_err *e) {
        static const char *const menus[] = {
                "/ip/firewall/filter", "/ip/firewall/nat", "/ipv6/firewall/filter", "/ipv6/firewall/nat",
                "/ip/route", "/ipv6/route", "/ip/address", "/ipv6/address",
                "/interface/wireguard/peers", "/interface/wireguard",
        };
        int r = ros_connect(b, e);
        if (r < 0)
                return r;
        /* every wgfleet: resource of this interface goes, routes and rules first */
        for (size_t i = 0; i < ELEMENTSOF(menus); i++)
                if ((r = remove_ours(b, iface, menus[i], e)) < 0)
                        return r;
        return ros_restore_demoted(b, iface, e);
}

/* ---- gateway ---- */

/* The lockout check of every interface first: a refused document sends nothing at all. */
static int ros_gateway(struct backend *b, const struct wf_doc *doc, bool dry_run, struct gw_result *ret,
                       struct wf_err *e) {
        for (size_t i = 0; doc && i < doc->n_ifaces; i++) {
                int r = check_lockout(b, &doc->ifaces[i], e);
                if (r < 0) {
                        *ret = (struct gw_result){};
                        return r;
                }
        }
        return gw_sync(&ros_gw_driver, b, doc, dry_run, ret, e);
}

const struct backend_ops backend_routeros_ops = {
        .name = "routeros",
        .own_keys = true,
        .route_demote_below = ROS_DEMOTE_BELOW,
        .route_demote_to = ROS_DEMOTE_TO,
        .open = ros_open,
        .close = ros_close,
        .observe = ros_observe_checked,
        .device_key = ros_device_key,
        .apply = ros_apply,
        .clear = ros_clear,
        .probe = ros_probe,
        .gateway = ros_gateway,
        .ping = ros_ping,
};
