/* SPDX-License-Identifier: MIT */
/* The RouterOS backend: the shared plan, executed as RouterOS 7 API commands.
 *
 * Ownership on the router is the comment: everything created here carries one starting with
 * "wgfleet:" and nothing else is changed, except foreign static routes to one of our
 * destinations with a distance below ours, which are demoted to 11 (remembered in
 * state_dir/routeros-demoted, restored by clear). Peers are found by public key, never by
 * .id (not stable across reboots), and changed in place with set, only the differing
 * properties. */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <sodium.h>

#include "backend.h"
#include "rosapi.h"
#include "rosconn.h"

#define ROS_COMMENT_PREFIX "wgfleet:"
#define ROS_DEMOTED_FILE "routeros-demoted"
#define ROS_DEMOTE_BELOW 10
#define ROS_DEMOTE_TO 11

struct backend {
        char *host;
        uint16_t port;
        bool tls, tls_verify;
        char *ca_file;
        char *user;
        char *password; /* secret: zeroed on close */
        char *state_dir;
        uint32_t probe_timeout;
        struct rosconn *conn;
};

static bool is_ours(const char *comment) {
        return comment && strncmp(comment, ROS_COMMENT_PREFIX, strlen(ROS_COMMENT_PREFIX)) == 0;
}

/* Ours and for this interface: "wgfleet:IFACE" or "wgfleet:IFACE ...". */
static bool is_ours_for(const char *comment, const char *iface) {
        size_t pl = strlen(ROS_COMMENT_PREFIX), il = strlen(iface);
        return is_ours(comment) && strncmp(comment + pl, iface, il) == 0 &&
               (comment[pl + il] == 0 || comment[pl + il] == ' ');
}

static bool is_true(const char *v) {
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

static int ros_connect(struct backend *b, struct wf_err *e) {
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
        return rosconn_open(&b->conn, &o, e);
}

/* One command; words is a NULL-terminated array. */
static int ros_call(struct backend *b, const char *const *words, struct rosconn_reply *rep, struct wf_err *e) {
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

#define CALL(b, rep, e, ...) ros_call((b), (const char *const[]){ __VA_ARGS__, NULL }, (rep), (e))

/* A growing list of words for commands with optional arguments. */
struct words {
        char *w[32];
        size_t n;
        int err; /* sticky: a command missing a word (its comment!) is never sent */
};

static void words_done(struct words *w) {
        for (size_t i = 0; i < w->n; i++) {
                /* keys travel in these words: wipe them */
                sodium_memzero(w->w[i], strlen(w->w[i]));
                free(w->w[i]);
        }
        w->n = 0;
        w->err = 0;
}

static int words_add(struct words *w, const char *fmt, ...) _printf_(2, 3);
static int words_add(struct words *w, const char *fmt, ...) {
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

static int words_call(struct backend *b, struct words *w, struct rosconn_reply *rep, struct wf_err *e) {
        if (w->err < 0) {
                *rep = (struct rosconn_reply){};
                rosapi_sentence_init(&rep->done);
                return wf_err_set(e, w->err, "routeros: %s: cannot build the command", w->n ? w->w[0] : "?");
        }
        w->w[w->n] = NULL;
        return ros_call(b, (const char *const *)w->w, rep, e);
}

/* ---- lockout ---- */

/* The router's management address must stay reachable: refuse a document whose tunnel range,
 * peer allowed IPs or extra routes cover it, before anything is sent. */
static int check_lockout(const struct backend *b, const struct wf_iface *d, struct wf_err *e) {
        struct addrinfo hints = { .ai_socktype = SOCK_STREAM };
        struct addrinfo *res = NULL;

        if (!d)
                return 0;
        if (getaddrinfo(b->host, NULL, &hints, &res) != 0)
                return 0; /* unresolvable: the connect will say so */
        int r = 0;
        for (struct addrinfo *ai = res; ai && r == 0; ai = ai->ai_next) {
                struct wf_prefix host = { .family = ai->ai_family };
                char hs[64], ps[64];
                if (ai->ai_family == AF_INET) {
                        memcpy(host.addr, &((struct sockaddr_in *)ai->ai_addr)->sin_addr, 4);
                        host.len = 32;
                } else if (ai->ai_family == AF_INET6) {
                        memcpy(host.addr, &((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr, 16);
                        host.len = 128;
                } else
                        continue;
                inet_ntop(host.family, host.addr, hs, sizeof hs);
                for (size_t i = 0; i < d->n_addresses && r == 0; i++) {
                        struct wf_prefix net = d->addresses[i];
                        wf_prefix_mask(&net);
                        if (wf_prefix_contains(&net, &host)) {
                                wf_prefix_format(&net, ps);
                                r = wf_err_set(e, -EPERM,
                                               "routeros: management address %s (host %s) is inside the tunnel range %s of %s: refused, the router would be cut off",
                                               hs, b->host, ps, d->name);
                        }
                }
                for (size_t i = 0; i < d->n_peers && r == 0; i++)
                        for (size_t j = 0; j < d->peers[i].n_allowed_ips && r == 0; j++) {
                                const struct wf_prefix *p = &d->peers[i].allowed_ips[j];
                                /* no route is installed for /0 (exit selection is separate) */
                                if (p->len > 0 && wf_prefix_contains(p, &host)) {
                                        wf_prefix_format(p, ps);
                                        r = wf_err_set(e, -EPERM,
                                                       "routeros: management address %s (host %s) is inside allowed IP %s of peer %s: refused, the router would be cut off",
                                                       hs, b->host, ps, d->peers[i].name);
                                }
                        }
                for (size_t i = 0; i < d->n_routes && r == 0; i++)
                        if (d->routes[i].dst.len > 0 && wf_prefix_contains(&d->routes[i].dst, &host)) {
                                wf_prefix_format(&d->routes[i].dst, ps);
                                r = wf_err_set(e, -EPERM,
                                               "routeros: management address %s (host %s) is inside route %s: refused, the router would be cut off",
                                               hs, b->host, ps);
                        }
        }
        freeaddrinfo(res);
        return r;
}

/* ---- observe ---- */

static int parse_key(const char *s, uint8_t out[WF_KEY_LEN]) {
        return s ? wf_b64_decode_exact(s, out, WF_KEY_LEN) : -EINVAL;
}

static void fill_sockaddr(struct sockaddr_storage *ss, const char *addr, const char *port) {
        long p = port ? strtol(port, NULL, 10) : 0;
        memset(ss, 0, sizeof *ss);
        if (!addr || !*addr || p <= 0 || p > 65535)
                return;
        struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
        if (inet_pton(AF_INET, addr, &a4->sin_addr) == 1) {
                a4->sin_family = AF_INET;
                a4->sin_port = htons((uint16_t)p);
        } else if (inet_pton(AF_INET6, addr, &a6->sin6_addr) == 1) {
                a6->sin6_family = AF_INET6;
                a6->sin6_port = htons((uint16_t)p);
        }
}

static int parse_prefix_list(const char *s, struct wf_prefix **ret, size_t *ret_n) {
        size_t n = 0, cap = 0;
        struct wf_prefix *v = NULL;
        _cleanup_free_ char *copy = strdup(s ? s : "");
        if (!copy)
                return -ENOMEM;
        for (char *save = NULL, *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                struct wf_prefix p;
                const char *why;
                while (*t == ' ')
                        t++;
                if (wf_prefix_parse(t, false, &p, &why) < 0)
                        continue;
                wf_prefix_mask(&p);
                if (n == cap) {
                        cap = cap ? cap * 2 : 4;
                        struct wf_prefix *nv = realloc(v, cap * sizeof(*v));
                        if (!nv) {
                                free(v);
                                return -ENOMEM;
                        }
                        v = nv;
                }
                v[n++] = p;
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

static const struct wf_peer *desired_peer(const struct wf_iface *d, const uint8_t key[WF_KEY_LEN]) {
        for (size_t i = 0; d && i < d->n_peers; i++)
                if (memcmp(d->peers[i].public_key, key, WF_KEY_LEN) == 0)
                        return &d->peers[i];
        return NULL;
}

static bool prefix_wanted_route(const struct wf_iface *d, const struct wf_prefix *p) {
        if (!d)
                return false;
        for (size_t i = 0; i < d->n_peers; i++)
                for (size_t j = 0; j < d->peers[i].n_allowed_ips; j++)
                        if (d->peers[i].allowed_ips[j].len > 0 && wf_prefix_equal(&d->peers[i].allowed_ips[j], p))
                                return true;
        for (size_t i = 0; i < d->n_routes; i++)
                if (d->routes[i].dst.len > 0 && wf_prefix_equal(&d->routes[i].dst, p))
                        return true;
        return false;
}

static int observe_addresses(struct backend *b, const char *menu, const char *iface, const struct wf_iface *d,
                             struct wf_live_iface *l, struct wf_err *e) {
        struct rosconn_reply rep;
        _cleanup_free_ char *q = NULL;
        char cmd[64];

        snprintf(cmd, sizeof cmd, "%s/print", menu);
        if (asprintf(&q, "?interface=%s", iface) < 0)
                return -ENOMEM;
        int r = CALL(b, &rep, e, cmd, q);
        if (r == -EREMOTEIO && strstr(rep.trap, "no such command")) {
                /* no ipv6 package: no IPv6 addresses */
                rosconn_reply_done(&rep);
                return 0;
        }
        if (r < 0) {
                rosconn_reply_done(&rep);
                return r;
        }
        for (size_t i = 0; i < rep.n_re; i++) {
                const char *a = rosconn_reply_get(&rep, i, "address");
                const char *comment = rosconn_reply_get(&rep, i, "comment");
                struct wf_prefix p;
                const char *why;
                if (is_true(rosconn_reply_get(&rep, i, "dynamic")) || !a || wf_prefix_parse(a, false, &p, &why) < 0)
                        continue;
                bool wanted = false;
                for (size_t k = 0; d && k < d->n_addresses; k++)
                        wanted |= wf_prefix_equal(&d->addresses[k], &p);
                /* foreign addresses are invisible unless they are exactly what we want */
                if (!is_ours(comment) && !wanted)
                        continue;
                struct wf_prefix *n = realloc(l->addresses, (l->n_addresses + 1) * sizeof(*n));
                if (!n) {
                        rosconn_reply_done(&rep);
                        return -ENOMEM;
                }
                l->addresses = n;
                l->addresses[l->n_addresses++] = p;
        }
        rosconn_reply_done(&rep);
        return 0;
}

static int observe_peers(struct backend *b, const char *iface, const struct wf_iface *d, struct wf_live_iface *l,
                         struct wf_err *e) {
        struct rosconn_reply rep;
        _cleanup_free_ char *q = NULL;
        time_t now = time(NULL);

        if (asprintf(&q, "?interface=%s", iface) < 0)
                return -ENOMEM;
        int r = CALL(b, &rep, e, "/interface/wireguard/peers/print", q);
        if (r < 0) {
                rosconn_reply_done(&rep);
                return r;
        }
        l->peers = calloc(rep.n_re ? rep.n_re : 1, sizeof(*l->peers));
        if (!l->peers) {
                rosconn_reply_done(&rep);
                return -ENOMEM;
        }
        for (size_t i = 0; i < rep.n_re; i++) {
                uint8_t key[WF_KEY_LEN];
                const char *comment = rosconn_reply_get(&rep, i, "comment");
                if (parse_key(rosconn_reply_get(&rep, i, "public-key"), key) < 0)
                        continue;
                const struct wf_peer *dp = desired_peer(d, key);
                /* a foreign peer is seen only when the document wants its key (apply refuses to
                 * touch it); otherwise it does not exist for us and is never removed */
                if (!is_ours(comment) && !dp)
                        continue;
                struct wf_live_peer *p = &l->peers[l->n_peers];
                memcpy(p->public_key, key, WF_KEY_LEN);
                const char *psk = rosconn_reply_get(&rep, i, "preshared-key");
                if (psk && *psk && parse_key(psk, p->preshared_key) == 0)
                        p->has_preshared_key = true;
                fill_sockaddr(&p->endpoint, rosconn_reply_get(&rep, i, "endpoint-address"),
                              rosconn_reply_get(&rep, i, "endpoint-port"));
                /* The roaming endpoint is shown only where the document sets none, so a
                 * configured endpoint is never taken as already in place. */
                if (p->endpoint.ss_family == 0 && (!dp || !dp->endpoint))
                        fill_sockaddr(&p->endpoint, rosconn_reply_get(&rep, i, "current-endpoint-address"),
                                      rosconn_reply_get(&rep, i, "current-endpoint-port"));
                r = parse_prefix_list(rosconn_reply_get(&rep, i, "allowed-address"), &p->allowed_ips,
                                      &p->n_allowed_ips);
                if (r < 0)
                        break;
                uint64_t ms;
                if (rosapi_duration_parse(rosconn_reply_get(&rep, i, "persistent-keepalive"), &ms) == 0)
                        p->persistent_keepalive = (uint16_t)(ms / 1000 > 65535 ? 65535 : ms / 1000);
                /* last-handshake is an age ("1m23s"): turn it into a time */
                if (rosapi_duration_parse(rosconn_reply_get(&rep, i, "last-handshake"), &ms) == 0)
                        p->last_handshake = (int64_t)now - (int64_t)(ms / 1000);
                /* The plan keeps a live endpoint that differs from the document while the peer
                 * handshakes (it roamed). Here the live endpoint is the configured one, never the
                 * roamed one, so a difference is a hand edit: hide the handshake so the plan
                 * puts the document's endpoint back. */
                if (dp && dp->endpoint_host && p->endpoint.ss_family != 0) {
                        struct sockaddr_storage want;
                        char port[8];
                        snprintf(port, sizeof port, "%u", dp->endpoint_port);
                        fill_sockaddr(&want, dp->endpoint_host, port);
                        if (want.ss_family != 0 && !wf_sockaddr_equal(&want, &p->endpoint))
                                p->last_handshake = 0;
                }
                uint64_t v;
                const char *rx = rosconn_reply_get(&rep, i, "rx"), *tx = rosconn_reply_get(&rep, i, "tx");
                if (rx && wf_parse_u64(rx, &v) == 0)
                        p->rx_bytes = v;
                if (tx && wf_parse_u64(tx, &v) == 0)
                        p->tx_bytes = v;
                p->backend_id = strdup(rosconn_reply_get(&rep, i, ".id") ? rosconn_reply_get(&rep, i, ".id") : "");
                p->comment = strdup(comment ? comment : "");
                l->n_peers++;
                if (!p->backend_id || !p->comment) {
                        r = -ENOMEM;
                        break;
                }
        }
        rosconn_reply_done(&rep);
        return r < 0 ? r : 0;
}

static int observe_routes(struct backend *b, const char *menu, const char *iface, const struct wf_iface *d,
                          struct wf_live_iface *l, struct wf_err *e) {
        struct rosconn_reply rep;
        char cmd[64];

        snprintf(cmd, sizeof cmd, "%s/print", menu);
        int r = CALL(b, &rep, e, cmd, "?dynamic=false",
                     "=.proplist=.id,dst-address,gateway,distance,comment,routing-table,disabled");
        if (r == -EREMOTEIO && strstr(rep.trap, "no such command")) {
                rosconn_reply_done(&rep);
                return 0;
        }
        if (r < 0) {
                rosconn_reply_done(&rep);
                return r;
        }
        size_t base = l->n_routes;
        for (size_t i = 0; i < rep.n_re; i++) {
                const char *dst = rosconn_reply_get(&rep, i, "dst-address");
                const char *gw = rosconn_reply_get(&rep, i, "gateway");
                const char *comment = rosconn_reply_get(&rep, i, "comment");
                const char *table = rosconn_reply_get(&rep, i, "routing-table");
                struct wf_prefix p;
                const char *why;
                if (!dst || wf_prefix_parse(dst, false, &p, &why) < 0)
                        continue;
                wf_prefix_mask(&p);
                bool ours = is_ours(comment);
                if (ours && (!gw || strcmp(gw, iface) != 0))
                        continue; /* ours, but another interface's */
                if (!ours && (!prefix_wanted_route(d, &p) || is_true(rosconn_reply_get(&rep, i, "disabled"))))
                        continue;
                struct wf_live_route *n = realloc(l->routes, (l->n_routes + 1) * sizeof(*n));
                if (!n) {
                        rosconn_reply_done(&rep);
                        return -ENOMEM;
                }
                l->routes = n;
                struct wf_live_route *lr = &l->routes[l->n_routes++];
                uint64_t dist = 1;
                const char *ds = rosconn_reply_get(&rep, i, "distance");
                if (ds)
                        wf_parse_u64(ds, &dist);
                *lr = (struct wf_live_route){
                        .dst = p,
                        /* routes go to RouterOS's main table whatever route_table says (its
                         * tables are named, under /routing/table): main stands for the wanted one */
                        .table = !table || strcmp(table, "main") == 0 ? (d ? d->route_table : 254) : 0,
                        .metric = (uint32_t)dist,
                        .protocol = ours ? WF_RTPROT : 0,
                        .ours = ours,
                        .backend_id = strdup(rosconn_reply_get(&rep, i, ".id") ? rosconn_reply_get(&rep, i, ".id") : ""),
                };
                if (!lr->backend_id) {
                        rosconn_reply_done(&rep);
                        return -ENOMEM;
                }
        }
        rosconn_reply_done(&rep);
        /* A foreign route below our distance still wins: our route is left out of the
         * observation, so the plan adds it and apply demotes the foreign one (the add itself
         * is skipped when ours is there). */
        for (size_t i = base; i < l->n_routes;) {
                bool beaten = false;
                for (size_t k = base; l->routes[i].ours && k < l->n_routes; k++)
                        if (!l->routes[k].ours && wf_prefix_equal(&l->routes[k].dst, &l->routes[i].dst) &&
                            l->routes[k].metric < ROS_DEMOTE_BELOW)
                                beaten = true;
                if (!beaten) {
                        i++;
                        continue;
                }
                free(l->routes[i].backend_id);
                memmove(&l->routes[i], &l->routes[i + 1], (l->n_routes - i - 1) * sizeof(*l->routes));
                l->n_routes--;
        }
        return 0;
}

/* Our input accept for the listen port, before the first drop rule of the input chain. Returns
 * 1 when it is in place, 0 when not; ret_id gets our rule's .id (or "" when absent). */
static int firewall_state(struct backend *b, const char *iface, uint16_t port, char ret_id[32],
                          char ret_first_drop[32], struct wf_err *e) {
        struct rosconn_reply rep;
        _cleanup_free_ char *comment = NULL;
        char ps[8];
        ssize_t ours = -1, drop = -1;

        ret_id[0] = ret_first_drop[0] = 0;
        if (asprintf(&comment, ROS_COMMENT_PREFIX "%s allow udp", iface) < 0)
                return -ENOMEM;
        int r = CALL(b, &rep, e, "/ip/firewall/filter/print", "?chain=input",
                     "=.proplist=.id,action,protocol,dst-port,comment,disabled");
        if (r < 0) {
                rosconn_reply_done(&rep);
                return r;
        }
        snprintf(ps, sizeof ps, "%u", port);
        bool ok = false;
        for (size_t i = 0; i < rep.n_re; i++) {
                const char *c = rosconn_reply_get(&rep, i, "comment");
                const char *a = rosconn_reply_get(&rep, i, "action");
                if (c && strcmp(c, comment) == 0 && ours < 0) {
                        ours = (ssize_t)i;
                        snprintf(ret_id, 32, "%s", rosconn_reply_get(&rep, i, ".id"));
                        const char *pr = rosconn_reply_get(&rep, i, "protocol");
                        const char *dp = rosconn_reply_get(&rep, i, "dst-port");
                        ok = a && strcmp(a, "accept") == 0 && pr && strcmp(pr, "udp") == 0 && dp &&
                             strcmp(dp, ps) == 0 && !is_true(rosconn_reply_get(&rep, i, "disabled"));
                } else if (drop < 0 && a && (strcmp(a, "drop") == 0 || strcmp(a, "reject") == 0) &&
                           !is_true(rosconn_reply_get(&rep, i, "disabled"))) {
                        drop = (ssize_t)i;
                        snprintf(ret_first_drop, 32, "%s", rosconn_reply_get(&rep, i, ".id"));
                }
        }
        rosconn_reply_done(&rep);
        return ok && (drop < 0 || ours < drop) ? 1 : 0;
}

static int ros_observe(struct backend *b, const char *iface, const struct wf_iface *desired,
                       struct wf_live_iface **ret, struct wf_err *e) {
        struct rosconn_reply rep = {};
        _cleanup_free_ char *q = NULL;
        int r;

        r = check_lockout(b, desired, e);
        if (r < 0)
                return r;
        r = ros_connect(b, e);
        if (r < 0)
                return r;
        struct wf_live_iface *l = calloc(1, sizeof *l);
        if (!l || !(l->name = strdup(iface))) {
                free(l);
                return -ENOMEM;
        }
        if (asprintf(&q, "?name=%s", iface) < 0) {
                r = -ENOMEM;
                goto fail;
        }
        r = CALL(b, &rep, e, "/interface/wireguard/print", q);
        if (r == -ECONNRESET) {
                /* a connection kept from an earlier cycle may have been closed by the router
                 * meanwhile: one fresh connection before giving up */
                rosconn_reply_done(&rep);
                r = ros_connect(b, e);
                if (r >= 0)
                        r = CALL(b, &rep, e, "/interface/wireguard/print", q);
        }
        if (r < 0)
                goto fail;
        if (rep.n_re == 0) {
                rosconn_reply_done(&rep);
                *ret = l;
                return 0;
        }
        const char *comment = rosconn_reply_get(&rep, 0, "comment");
        if (!is_ours(comment)) {
                r = wf_err_set(e, -EEXIST,
                               "routeros: interface %s exists on the router without a \"%s\" comment: not managed by wgfleet, left alone (rename it, or set its comment to adopt it)",
                               iface, ROS_COMMENT_PREFIX);
                goto fail;
        }
        l->exists = true;
        l->up = !is_true(rosconn_reply_get(&rep, 0, "disabled"));
        l->backend_id = strdup(rosconn_reply_get(&rep, 0, ".id") ? rosconn_reply_get(&rep, 0, ".id") : "");
        uint64_t v;
        const char *s = rosconn_reply_get(&rep, 0, "listen-port");
        if (s && wf_parse_u64(s, &v) == 0 && v <= 65535)
                l->listen_port = (uint16_t)v;
        s = rosconn_reply_get(&rep, 0, "mtu");
        if (s && wf_parse_u64(s, &v) == 0 && v <= UINT32_MAX)
                l->mtu = (uint32_t)v;
        if (parse_key(rosconn_reply_get(&rep, 0, "public-key"), l->public_key) == 0)
                l->has_private_key = true;
        /* RouterOS has no fwmark: report what is wanted so the plan never chases it */
        l->fwmark = desired ? desired->fwmark : 0;
        rosconn_reply_done(&rep);

        if ((r = observe_addresses(b, "/ip/address", iface, desired, l, e)) < 0 ||
            (r = observe_addresses(b, "/ipv6/address", iface, desired, l, e)) < 0 ||
            (r = observe_peers(b, iface, desired, l, e)) < 0 ||
            (r = observe_routes(b, "/ip/route", iface, desired, l, e)) < 0 ||
            (r = observe_routes(b, "/ipv6/route", iface, desired, l, e)) < 0)
                goto fail_live;

        /* The firewall accept is part of the listen port: when it is missing or misplaced the
         * port shows as unset, so the plan sets it and apply repairs the rule. */
        if (l->listen_port) {
                char id[32], drop[32];
                r = firewall_state(b, iface, l->listen_port, id, drop, e);
                if (r < 0)
                        goto fail_live;
                if (r == 0)
                        l->listen_port = 0;
        }
        *ret = l;
        return 0;
fail:
        rosconn_reply_done(&rep);
fail_live:
        wf_live_iface_free(l);
        return r;
}

/* ---- apply ---- */

static int find_id(struct backend *b, const char *menu, const char *q1, const char *q2, char out[32],
                   struct wf_err *e) {
        struct rosconn_reply rep;
        char cmd[64];
        snprintf(cmd, sizeof cmd, "%s/print", menu);
        int r = q2 ? CALL(b, &rep, e, cmd, q1, q2, "=.proplist=.id,comment")
                   : CALL(b, &rep, e, cmd, q1, "=.proplist=.id,comment");
        out[0] = 0;
        if (r >= 0)
                for (size_t i = 0; i < rep.n_re; i++)
                        if (is_ours(rosconn_reply_get(&rep, i, "comment"))) {
                                snprintf(out, 32, "%s", rosconn_reply_get(&rep, i, ".id"));
                                break;
                        }
        rosconn_reply_done(&rep);
        return r < 0 ? r : out[0] ? 1 : 0;
}

static int simple(struct backend *b, struct words *w, struct wf_err *e) {
        struct rosconn_reply rep;
        int r = words_call(b, w, &rep, e);
        rosconn_reply_done(&rep);
        words_done(w);
        return r;
}

static int ensure_firewall(struct backend *b, const char *iface, uint16_t port, struct wf_err *e) {
        char id[32], drop[32];
        struct words w = {};
        int r = firewall_state(b, iface, port, id, drop, e);
        if (r != 0)
                return r;
        if (id[0]) {
                /* ours but wrong or misplaced: replace it in one remove + add */
                words_add(&w, "/ip/firewall/filter/remove");
                words_add(&w, "=.id=%s", id);
                if ((r = simple(b, &w, e)) < 0)
                        return r;
                if (strcmp(drop, id) == 0)
                        drop[0] = 0;
        }
        words_add(&w, "/ip/firewall/filter/add");
        words_add(&w, "=chain=input");
        words_add(&w, "=action=accept");
        words_add(&w, "=protocol=udp");
        words_add(&w, "=dst-port=%u", port);
        words_add(&w, "=comment=" ROS_COMMENT_PREFIX "%s allow udp", iface);
        if (drop[0])
                words_add(&w, "=place-before=%s", drop);
        return simple(b, &w, e);
}

static int demote_state_add(struct backend *b, const char *iface, const char *menu, const char *dst, const char *gw,
                            unsigned dist, struct wf_err *e) {
        _cleanup_free_ char *path = NULL, *old = NULL, *line = NULL, *nw = NULL;
        size_t len = 0;
        if (asprintf(&path, "%s/" ROS_DEMOTED_FILE, b->state_dir) < 0 ||
            asprintf(&line, "%s %s %s %s %u\n", iface, menu, dst, gw ? gw : "-", dist) < 0)
                return -ENOMEM;
        int r = wf_read_file(path, 1 << 20, &old, &len);
        if (r < 0 && r != -ENOENT)
                return wf_err_set(e, r, "routeros: %s: %s", path, strerror(-r));
        /* the first distance recorded is the original one */
        char key[256];
        snprintf(key, sizeof key, "%s %s %s %s ", iface, menu, dst, gw ? gw : "-");
        for (const char *p = old; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : p + strlen(p))
                if (strncmp(p, key, strlen(key)) == 0)
                        return 0;
        if (asprintf(&nw, "%s%s", old ? old : "", line) < 0)
                return -ENOMEM;
        mkdir(b->state_dir, 0700);
        r = wf_write_file_atomic(path, nw, strlen(nw), 0600);
        if (r < 0)
                return wf_err_set(e, r, "routeros: cannot record the demoted route in %s: %s", path, strerror(-r));
        return 0;
}

/* The static routes of one menu, read once per apply: route adds check them for foreign routes
 * to demote and for ours already in place without a print per route. */
struct route_entry {
        char id[32];
        struct wf_prefix dst;
        char *gw;
        unsigned distance;
        bool ours;
};

struct route_table {
        bool loaded;
        struct route_entry *v;
        size_t n;
};

static void route_table_done(struct route_table *t) {
        for (size_t i = 0; i < t->n; i++)
                free(t->v[i].gw);
        free(t->v);
        *t = (struct route_table){};
}

static int route_table_load(struct backend *b, const char *menu, struct route_table *t, struct wf_err *e) {
        struct rosconn_reply rep;
        char cmd[64];

        if (t->loaded)
                return 0;
        snprintf(cmd, sizeof cmd, "%s/print", menu);
        int r = CALL(b, &rep, e, cmd, "?dynamic=false", "=.proplist=.id,dst-address,gateway,distance,comment");
        if (r < 0) {
                rosconn_reply_done(&rep);
                return r;
        }
        t->v = calloc(rep.n_re ? rep.n_re : 1, sizeof(*t->v));
        if (!t->v) {
                rosconn_reply_done(&rep);
                return -ENOMEM;
        }
        for (size_t i = 0; i < rep.n_re; i++) {
                struct route_entry *x = &t->v[t->n];
                const char *dst = rosconn_reply_get(&rep, i, "dst-address");
                const char *gw = rosconn_reply_get(&rep, i, "gateway");
                const char *ds = rosconn_reply_get(&rep, i, "distance");
                const char *why;
                if (!dst || wf_prefix_parse(dst, false, &x->dst, &why) < 0)
                        continue;
                wf_prefix_mask(&x->dst);
                snprintf(x->id, sizeof x->id, "%s", rosconn_reply_get(&rep, i, ".id") ? rosconn_reply_get(&rep, i, ".id") : "");
                x->gw = strdup(gw ? gw : "-");
                x->distance = ds ? (unsigned)atoi(ds) : 1;
                x->ours = is_ours(rosconn_reply_get(&rep, i, "comment"));
                if (!x->gw) {
                        rosconn_reply_done(&rep);
                        return -ENOMEM;
                }
                t->n++;
        }
        rosconn_reply_done(&rep);
        t->loaded = true;
        return 0;
}

/* Demotes foreign static routes to dst with a distance below ours. */
static int demote_foreign(struct backend *b, const char *iface, const char *menu, struct route_table *t,
                          const struct wf_prefix *dst, struct wf_err *e) {
        char ds[64];
        int r = route_table_load(b, menu, t, e);
        if (r < 0)
                return r;
        wf_prefix_format(dst, ds);
        for (size_t i = 0; i < t->n; i++) {
                struct route_entry *x = &t->v[i];
                if (x->ours || x->distance >= ROS_DEMOTE_BELOW || !wf_prefix_equal(&x->dst, dst))
                        continue;
                /* remember first: a crash between the two leaves a record, never a lost original */
                r = demote_state_add(b, iface, menu, ds, x->gw, x->distance, e);
                if (r < 0)
                        return r;
                struct words w = {};
                words_add(&w, "%s/set", menu);
                words_add(&w, "=.id=%s", x->id);
                words_add(&w, "=distance=%u", ROS_DEMOTE_TO);
                r = simple(b, &w, e);
                if (r < 0)
                        return r;
                x->distance = ROS_DEMOTE_TO;
        }
        return 0;
}

static const char *addr_menu(int family) {
        return family == AF_INET6 ? "/ipv6/address" : "/ip/address";
}

static const char *route_menu(int family) {
        return family == AF_INET6 ? "/ipv6/route" : "/ip/route";
}

static void fmt_endpoint(const struct sockaddr_storage *ss, char host[64], unsigned *port) {
        if (ss->ss_family == AF_INET) {
                inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, host, 64);
                *port = ntohs(((const struct sockaddr_in *)ss)->sin_port);
        } else {
                inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, host, 64);
                *port = ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
        }
}

/* "=key=a,b,c": the prefixes of a then b, each once (RouterOS takes the whole list). */
static int add_prefix_list(struct words *w, const char *key, const struct wf_prefix *a, size_t na,
                           const struct wf_prefix *b2, size_t nb) {
        size_t cap = (na + nb) * 64 + 1, o = 0;
        _cleanup_free_ char *s = calloc(1, cap);
        if (!s)
                return (w->err = -ENOMEM);
        for (size_t i = 0; i < na + nb; i++) {
                const struct wf_prefix *p = i < na ? &a[i] : &b2[i - na];
                bool seen = false;
                for (size_t k = 0; k < i && !seen; k++)
                        seen = wf_prefix_equal(k < na ? &a[k] : &b2[k - na], p);
                if (seen)
                        continue;
                char one[64];
                wf_prefix_format(p, one);
                o += (size_t)snprintf(s + o, cap - o, "%s%s", o ? "," : "", one);
        }
        return words_add(w, "=%s=%s", key, s);
}

static int op_peer_add(struct backend *b, const char *iface, const struct plan_op *op, struct wf_err *e) {
        const struct plan_peer *pp = op->peer;
        const struct wf_peer *dp = pp->peer;
        struct words w = {};
        char key[45];

        words_add(&w, "/interface/wireguard/peers/add");
        words_add(&w, "=interface=%s", iface);
        wf_key_to_b64(dp->public_key, key);
        words_add(&w, "=public-key=%s", key);
        add_prefix_list(&w, "allowed-address", dp->allowed_ips, dp->n_allowed_ips, NULL, 0);
        if (pp->endpoint.ss_family != 0) {
                char host[64];
                unsigned port;
                fmt_endpoint(&pp->endpoint, host, &port);
                words_add(&w, "=endpoint-address=%s", host);
                words_add(&w, "=endpoint-port=%u", port);
        }
        if (dp->persistent_keepalive > 0)
                words_add(&w, "=persistent-keepalive=%ds", dp->persistent_keepalive);
        if (pp->has_preshared_key) {
                wf_key_to_b64(pp->preshared_key, key);
                words_add(&w, "=preshared-key=%s", key);
        }
        words_add(&w, "=comment=" ROS_COMMENT_PREFIX "%s peer %s", iface, dp->name ? dp->name : "");
        sodium_memzero(key, sizeof key);
        return simple(b, &w, e);
}

static int op_peer_update(struct backend *b, const char *iface, const struct plan_op *op, struct wf_err *e) {
        const struct plan_peer *pp = op->peer;
        const struct wf_live_peer *lp = op->live_peer;
        struct words w = {};
        char key[45];
        size_t before;

        if (!lp->backend_id || !*lp->backend_id)
                return wf_err_set(e, -EINVAL, "routeros: peer %s has no .id", op->peer_name ? op->peer_name : "?");
        if (!is_ours(lp->comment))
                return wf_err_set(e, -EEXIST,
                                  "routeros: peer %s (%s) exists on the router without a \"%s\" comment: not changed (set its comment to adopt it)",
                                  op->peer_name ? op->peer_name : "?", lp->backend_id, ROS_COMMENT_PREFIX);
        words_add(&w, "/interface/wireguard/peers/set");
        words_add(&w, "=.id=%s", lp->backend_id);
        before = w.n;
        if ((op->flags & PLAN_PEER_ENDPOINT) && pp->endpoint.ss_family != 0) {
                char host[64], lhost[64] = "";
                unsigned port, lport = 0;
                fmt_endpoint(&pp->endpoint, host, &port);
                if (lp->endpoint.ss_family != 0)
                        fmt_endpoint(&lp->endpoint, lhost, &lport);
                if (strcmp(host, lhost) != 0)
                        words_add(&w, "=endpoint-address=%s", host);
                if (port != lport)
                        words_add(&w, "=endpoint-port=%u", port);
        }
        if (op->flags & PLAN_PEER_KEEPALIVE)
                words_add(&w, "=persistent-keepalive=%ds",
                          pp->peer->persistent_keepalive > 0 ? pp->peer->persistent_keepalive : 0);
        if (op->flags & PLAN_PEER_PRESHARED_KEY) {
                if (pp->has_preshared_key) {
                        wf_key_to_b64(pp->preshared_key, key);
                        words_add(&w, "=preshared-key=%s", key);
                        sodium_memzero(key, sizeof key);
                } else
                        words_add(&w, "=preshared-key=");
        }
        /* RouterOS takes the whole list: the live one plus additions, minus what goes */
        if (op->flags & PLAN_PEER_ALLOWED_IPS_REPLACE)
                add_prefix_list(&w, "allowed-address", pp->peer->allowed_ips, pp->peer->n_allowed_ips, NULL, 0);
        else if (op->flags & PLAN_PEER_ALLOWED_IPS_ADD)
                add_prefix_list(&w, "allowed-address", lp->allowed_ips, lp->n_allowed_ips, op->allowed_ips_add,
                                op->n_allowed_ips_add);
        if (w.err == 0 && w.n == before) {
                words_done(&w);
                return 0;
        }
        return simple(b, &w, e);
}

static int op_iface(struct backend *b, const struct plan *p, const struct plan_op *op, const struct plan_target *t,
                    bool create, struct wf_err *e) {
        const struct wf_iface *d = t->iface;
        struct words w = {};
        char key[45];

        if (create) {
                words_add(&w, "/interface/wireguard/add");
                words_add(&w, "=name=%s", p->iface);
                words_add(&w, "=comment=" ROS_COMMENT_PREFIX "%s", p->iface);
        } else {
                char id[32];
                _cleanup_free_ char *q = NULL;
                if (asprintf(&q, "?name=%s", p->iface) < 0)
                        return -ENOMEM;
                int r = find_id(b, "/interface/wireguard", q, NULL, id, e);
                if (r < 0)
                        return r;
                if (r == 0)
                        return wf_err_set(e, -ENOENT, "routeros: interface %s vanished", p->iface);
                words_add(&w, "/interface/wireguard/set");
                words_add(&w, "=.id=%s", id);
        }
        size_t before = w.n;
        if ((create || (op->flags & PLAN_SET_LISTEN_PORT)) && d->listen_port)
                words_add(&w, "=listen-port=%u", d->listen_port);
        if ((create || (op->flags & PLAN_SET_MTU)) && d->mtu)
                words_add(&w, "=mtu=%u", d->mtu);
        if ((create || (op->flags & PLAN_SET_PRIVATE_KEY)) && t->has_private_key) {
                wf_key_to_b64(t->private_key, key);
                words_add(&w, "=private-key=%s", key);
                sodium_memzero(key, sizeof key);
        }
        if (!create && (op->flags & PLAN_SET_UP))
                words_add(&w, "=disabled=no");
        if (!create && w.err == 0 && w.n == before) {
                words_done(&w);
                return 0;
        }
        return simple(b, &w, e);
}

static int op_route_add(struct backend *b, const char *iface, const struct plan *p, const struct plan_op *op,
                        struct route_table *t, struct wf_err *e) {
        const char *menu = route_menu(op->prefix.family);
        char dst[64];
        struct words w = {};

        int r = demote_foreign(b, iface, menu, t, &op->prefix, e);
        if (r < 0)
                return r;
        /* Ours at the wanted distance may be there already (left out of the observation because
         * a foreign route beat it): then the demotion was all it took. One at another distance
         * stays until its PLAN_ROUTE_DEL, after the new one is in: make before break. */
        for (size_t i = 0; i < t->n; i++)
                if (t->v[i].ours && t->v[i].distance == p->route_metric && strcmp(t->v[i].gw, iface) == 0 &&
                    wf_prefix_equal(&t->v[i].dst, &op->prefix))
                        return 0;
        wf_prefix_format(&op->prefix, dst);
        words_add(&w, "%s/add", menu);
        words_add(&w, "=dst-address=%s", dst);
        words_add(&w, "=gateway=%s", iface);
        words_add(&w, "=distance=%u", p->route_metric);
        words_add(&w, "=comment=" ROS_COMMENT_PREFIX "%s route", iface);
        return simple(b, &w, e);
}

static int apply_ops(struct backend *b, const struct plan *p, const struct plan_target *t,
                     struct route_table rt[2], struct wf_err *e) {
        const char *iface = p->iface;
        bool created = false;
        int r = 0;

        for (size_t i = 0; i < p->n_ops; i++) {
                const struct plan_op *op = &p->ops[i];
                struct words w = {};
                char a[64], id[32];
                _cleanup_free_ char *q1 = NULL, *q2 = NULL;

                switch (op->kind) {
                case PLAN_IFACE_CREATE:
                        r = op_iface(b, p, op, t, true, e);
                        created = true;
                        break;
                case PLAN_IFACE_SET:
                        /* a fresh interface got everything in its add */
                        r = created ? 0 : op_iface(b, p, op, t, false, e);
                        if (r >= 0 && t->iface->listen_port)
                                r = ensure_firewall(b, iface, t->iface->listen_port, e);
                        break;
                case PLAN_ADDR_ADD:
                        wf_prefix_format(&op->prefix, a);
                        words_add(&w, "%s/add", addr_menu(op->prefix.family));
                        words_add(&w, "=address=%s", a);
                        words_add(&w, "=interface=%s", iface);
                        if (op->prefix.family == AF_INET6)
                                words_add(&w, "=advertise=no");
                        words_add(&w, "=comment=" ROS_COMMENT_PREFIX "%s address", iface);
                        r = simple(b, &w, e);
                        break;
                case PLAN_ADDR_DEL:
                        wf_prefix_format(&op->prefix, a);
                        if (asprintf(&q1, "?address=%s", a) < 0 || asprintf(&q2, "?interface=%s", iface) < 0)
                                return -ENOMEM;
                        r = find_id(b, addr_menu(op->prefix.family), q1, q2, id, e);
                        if (r > 0) {
                                words_add(&w, "%s/remove", addr_menu(op->prefix.family));
                                words_add(&w, "=.id=%s", id);
                                r = simple(b, &w, e);
                        }
                        break;
                case PLAN_PEER_ADD:
                        r = op_peer_add(b, iface, op, e);
                        break;
                case PLAN_PEER_UPDATE:
                        r = op_peer_update(b, iface, op, e);
                        break;
                case PLAN_PEER_REMOVE:
                        if (!op->live_peer || !is_ours(op->live_peer->comment))
                                break;
                        words_add(&w, "/interface/wireguard/peers/remove");
                        words_add(&w, "=.id=%s", op->live_peer->backend_id);
                        r = simple(b, &w, e);
                        break;
                case PLAN_ROUTE_ADD:
                        r = op_route_add(b, iface, p, op, &rt[op->prefix.family == AF_INET6], e);
                        break;
                case PLAN_ROUTE_DEL:
                        if (!op->live_route || !op->live_route->ours)
                                break;
                        words_add(&w, "%s/remove", route_menu(op->prefix.family));
                        words_add(&w, "=.id=%s", op->live_route->backend_id);
                        r = simple(b, &w, e);
                        break;
                case PLAN_ROUTE_CONFLICT:
                        if (op->live_route && op->live_route->metric < ROS_DEMOTE_BELOW)
                                r = demote_foreign(b, iface, route_menu(op->prefix.family),
                                                   &rt[op->prefix.family == AF_INET6], &op->prefix, e);
                        break;
                default:
                        break;
                }
                words_done(&w);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int ros_apply(struct backend *b, const struct plan *p, const struct plan_target *t, struct wf_err *e) {
        struct route_table rt[2] = {};
        int r = check_lockout(b, t->iface, e);
        if (r < 0)
                return r;
        r = ros_connect(b, e);
        if (r < 0)
                return r;
        r = apply_ops(b, p, t, rt, e);
        route_table_done(&rt[0]);
        route_table_done(&rt[1]);
        return r;
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
                r = CALL(b, &rep, e, "/interface/wireguard/peers/print", q,
                         "=.proplist=.id,comment,last-handshake");
                if (r < 0) {
                        rosconn_reply_done(&rep);
                        return r;
                }
                managed = 0;
                for (size_t i = 0; i < rep.n_re; i++) {
                        uint64_t ms;
                        if (!is_ours(rosconn_reply_get(&rep, i, "comment")))
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

/* ---- clear ---- */

static int remove_ours(struct backend *b, const char *iface, const char *menu, struct wf_err *e) {
        struct rosconn_reply rep;
        char cmd[64];
        snprintf(cmd, sizeof cmd, "%s/print", menu);
        int r = CALL(b, &rep, e, cmd, "=.proplist=.id,comment");
        if (r == -EREMOTEIO && strstr(rep.trap, "no such command")) {
                rosconn_reply_done(&rep);
                return 0;
        }
        for (size_t i = 0; r >= 0 && i < rep.n_re; i++) {
                if (!is_ours_for(rosconn_reply_get(&rep, i, "comment"), iface))
                        continue;
                struct words w = {};
                words_add(&w, "%s/remove", menu);
                words_add(&w, "=.id=%s", rosconn_reply_get(&rep, i, ".id"));
                r = simple(b, &w, e);
        }
        rosconn_reply_done(&rep);
        return r < 0 ? r : 0;
}

/* Puts back the distances recorded for iface and drops their records; others stay. */
static int restore_demoted(struct backend *b, const char *iface, struct wf_err *e) {
        _cleanup_free_ char *path = NULL, *data = NULL, *keep = NULL;
        size_t len, kl = 0;
        if (asprintf(&path, "%s/" ROS_DEMOTED_FILE, b->state_dir) < 0)
                return -ENOMEM;
        int r = wf_read_file(path, 1 << 20, &data, &len);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return wf_err_set(e, r, "routeros: %s: %s", path, strerror(-r));
        keep = calloc(1, len + 1);
        if (!keep)
                return -ENOMEM;
        for (char *save = NULL, *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char ifn[64], menu[32], dst[64], gw[128];
                unsigned dist;
                if (sscanf(line, "%63s %31s %63s %127s %u", ifn, menu, dst, gw, &dist) != 5)
                        continue;
                if (strcmp(ifn, iface) != 0) {
                        kl += (size_t)sprintf(keep + kl, "%s\n", line);
                        continue;
                }
                _cleanup_free_ char *q = NULL;
                struct rosconn_reply rep;
                char cmd[64];
                snprintf(cmd, sizeof cmd, "%s/print", menu);
                if (asprintf(&q, "?dst-address=%s", dst) < 0)
                        return -ENOMEM;
                r = CALL(b, &rep, e, cmd, q, "?dynamic=false", "=.proplist=.id,gateway,distance,comment");
                for (size_t i = 0; r >= 0 && i < rep.n_re; i++) {
                        const char *g = rosconn_reply_get(&rep, i, "gateway");
                        const char *d = rosconn_reply_get(&rep, i, "distance");
                        /* only what we left: the same gateway, still at our demoted distance */
                        if (is_ours(rosconn_reply_get(&rep, i, "comment")) || strcmp(g ? g : "-", gw) != 0 || !d ||
                            atoi(d) != ROS_DEMOTE_TO)
                                continue;
                        struct words w = {};
                        words_add(&w, "%s/set", menu);
                        words_add(&w, "=.id=%s", rosconn_reply_get(&rep, i, ".id"));
                        words_add(&w, "=distance=%u", dist);
                        r = simple(b, &w, e);
                }
                rosconn_reply_done(&rep);
                if (r < 0)
                        return r;
        }
        if (kl > 0) {
                r = wf_write_file_atomic(path, keep, kl, 0600);
                if (r < 0)
                        return wf_err_set(e, r, "routeros: cannot rewrite %s: %s", path, strerror(-r));
        } else if (unlink(path) < 0 && errno != ENOENT)
                return wf_err_set(e, -errno, "routeros: cannot remove %s: %m", path);
        return 0;
}

static int ros_clear(struct backend *b, const char *iface, struct wf_err *e) {
        static const char *const menus[] = {
                "/ip/firewall/filter", "/ip/route", "/ipv6/route", "/ip/address", "/ipv6/address",
                "/interface/wireguard/peers", "/interface/wireguard",
        };
        int r = ros_connect(b, e);
        if (r < 0)
                return r;
        /* every wgfleet: resource of this interface goes, routes and rules first */
        for (size_t i = 0; i < ELEMENTSOF(menus); i++)
                if ((r = remove_ours(b, iface, menus[i], e)) < 0)
                        return r;
        return restore_demoted(b, iface, e);
}

const struct backend_ops backend_routeros_ops = {
        .name = "routeros",
        .open = ros_open,
        .close = ros_close,
        .observe = ros_observe,
        .apply = ros_apply,
        .clear = ros_clear,
        .probe = ros_probe,
};
