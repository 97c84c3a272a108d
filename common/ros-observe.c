/* SPDX-License-Identifier: MIT */
/* RouterOS backend: reading the live state of one interface (wireguard, peers, addresses,
 * routes, the firewall accept) into the shared model. Foreign items are seen only where the
 * document wants exactly them. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ros-backend.h"

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
        int r = ROS_CALL(b, &rep, e, cmd, q);
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
                if (ros_is_true(rosconn_reply_get(&rep, i, "dynamic")) || !a || wf_prefix_parse(a, false, &p, &why) < 0)
                        continue;
                bool wanted = false;
                for (size_t k = 0; d && k < d->n_addresses; k++)
                        wanted |= wf_prefix_equal(&d->addresses[k], &p);
                /* foreign addresses are invisible unless they are exactly what we want */
                if (!ros_is_ours(comment) && !wanted)
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

#define PEER_FIELDS ".id,public-key,comment,endpoint-address,endpoint-port,current-endpoint-address," \
        "current-endpoint-port,allowed-address,persistent-keepalive,last-handshake,rx,tx"
/* RouterOS 7 shows private-key to a full-rights API user: never asked for, so the router's own
 * key never leaves it. */
#define WG_FIELDS "=.proplist=.id,name,comment,disabled,listen-port,mtu,public-key"

static int observe_peers(struct backend *b, const char *iface, const struct wf_iface *d, struct wf_live_iface *l,
                         struct wf_err *e) {
        struct rosconn_reply rep;
        _cleanup_free_ char *q = NULL;
        time_t now = time(NULL);

        if (asprintf(&q, "?interface=%s", iface) < 0)
                return -ENOMEM;
        /* Only the fields read below: a PSK is asked for only over a connection that may carry
         * key material (verified TLS), so over insecure_plaintext none is on the wire either way
         * (a PSK left on the router by hand is then not seen). */
        int r = ROS_CALL(b, &rep, e, "/interface/wireguard/peers/print", q,
                         rosconn_may_send_secrets(b->conn) ? "=.proplist=" PEER_FIELDS ",preshared-key"
                                                           : "=.proplist=" PEER_FIELDS);
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
                if (!ros_is_ours(comment) && !dp)
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
        int r = ROS_CALL(b, &rep, e, cmd, "?dynamic=false",
                     "=.proplist=.id,dst-address,gateway,distance,comment,routing-table,disabled");
        if (r == -EREMOTEIO && strstr(rep.trap, "no such command")) {
                rosconn_reply_done(&rep);
                return 0;
        }
        if (r < 0) {
                rosconn_reply_done(&rep);
                return r;
        }
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
                bool ours = ros_is_ours(comment);
                if (ours && (!gw || strcmp(gw, iface) != 0))
                        continue; /* ours, but another interface's */
                uint32_t demoted_from = 0;
                const char *rest;
                bool demoted = !ours && ros_demote_tag_parse(comment, iface, &demoted_from, &rest);
                /* foreign: to a destination we want (a conflict, or one to demote), or one this
                 * interface demoted (to put back when no longer wanted) */
                if (!ours && !demoted &&
                    (!prefix_wanted_route(d, &p) || ros_is_true(rosconn_reply_get(&rep, i, "disabled"))))
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
                        .comment = !ours && comment ? strdup(comment) : NULL,
                        .demoted = demoted,
                        .demoted_from = demoted_from,
                };
                if (!lr->backend_id || (!ours && comment && !lr->comment)) {
                        rosconn_reply_done(&rep);
                        return -ENOMEM;
                }
        }
        rosconn_reply_done(&rep);
        return 0;
}

/* Our input accept for the listen port, before the first drop rule of the input chain. Returns
 * 1 when it is in place, 0 when not; ret_id gets our rule's .id (or "" when absent). */
int ros_firewall_state(struct backend *b, const char *iface, uint16_t port, char ret_id[32],
                          char ret_first_drop[32], struct wf_err *e) {
        struct rosconn_reply rep;
        _cleanup_free_ char *comment = NULL;
        char ps[8];
        ssize_t ours = -1, drop = -1;

        ret_id[0] = ret_first_drop[0] = 0;
        if (asprintf(&comment, ROS_COMMENT_PREFIX "%s allow udp", iface) < 0)
                return -ENOMEM;
        int r = ROS_CALL(b, &rep, e, "/ip/firewall/filter/print", "?chain=input",
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
                             strcmp(dp, ps) == 0 && !ros_is_true(rosconn_reply_get(&rep, i, "disabled"));
                } else if (drop < 0 && a && (strcmp(a, "drop") == 0 || strcmp(a, "reject") == 0) &&
                           !ros_is_true(rosconn_reply_get(&rep, i, "disabled"))) {
                        drop = (ssize_t)i;
                        snprintf(ret_first_drop, 32, "%s", rosconn_reply_get(&rep, i, ".id"));
                }
        }
        rosconn_reply_done(&rep);
        return ok && (drop < 0 || ours < drop) ? 1 : 0;
}

int ros_observe(struct backend *b, const char *iface, const struct wf_iface *desired,
                       struct wf_live_iface **ret, struct wf_err *e) {
        struct rosconn_reply rep = {};
        _cleanup_free_ char *q = NULL;
        int r;

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
        r = ROS_CALL(b, &rep, e, "/interface/wireguard/print", q, WG_FIELDS);
        if (r == -ECONNRESET) {
                /* a connection kept from an earlier cycle may have been closed by the router
                 * meanwhile: one fresh connection before giving up */
                rosconn_reply_done(&rep);
                r = ros_connect(b, e);
                if (r >= 0)
                        r = ROS_CALL(b, &rep, e, "/interface/wireguard/print", q, WG_FIELDS);
        }
        if (r < 0)
                goto fail;
        if (rep.n_re == 0) {
                rosconn_reply_done(&rep);
                *ret = l;
                return 0;
        }
        const char *comment = rosconn_reply_get(&rep, 0, "comment");
        if (!ros_is_ours(comment)) {
                r = wf_err_set(e, -EEXIST,
                               "routeros: interface %s exists on the router without a \"%s\" comment: not managed by wgfleet, left alone (rename it, or set its comment to adopt it)",
                               iface, ROS_COMMENT_PREFIX);
                goto fail;
        }
        l->exists = true;
        l->up = !ros_is_true(rosconn_reply_get(&rep, 0, "disabled"));
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
                r = ros_firewall_state(b, iface, l->listen_port, id, drop, e);
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


/* The key the router generated for iface, read back (public-key only). create: an absent
 * interface is added, ours (comment) and without private-key, so that RouterOS generates one. */
int ros_device_key(struct backend *b, const char *iface, bool create, uint8_t pub[WF_KEY_LEN], struct wf_err *e) {
        _cleanup_free_ char *q = NULL;
        bool created = false;
        int r;

        if (asprintf(&q, "?name=%s", iface) < 0)
                return -ENOMEM;
        for (;;) {
                struct rosconn_reply rep;
                if ((r = ros_connect(b, e)) < 0)
                        return r;
                r = ROS_CALL(b, &rep, e, "/interface/wireguard/print", q, "=.proplist=.id,comment,public-key");
                if (r >= 0 && rep.n_re > 0) {
                        const char *comment = rosconn_reply_get(&rep, 0, "comment");
                        if (!ros_is_ours(comment))
                                r = wf_err_set(e, -EEXIST, "routeros: interface %s exists on the router without a "
                                               "\"%s\" comment: not managed by wgfleet (set its comment to adopt it)",
                                               iface, ROS_COMMENT_PREFIX);
                        else if (parse_key(rosconn_reply_get(&rep, 0, "public-key"), pub) < 0)
                                r = wf_err_set(e, -ENOKEY, "routeros: interface %s has no public-key", iface);
                        else
                                r = created;
                }
                bool absent = r >= 0 && rep.n_re == 0;
                rosconn_reply_done(&rep);
                if (!absent)
                        return r;
                if (!create || created)
                        return wf_err_set(e, -ENOENT, "routeros: interface %s does not exist on the router", iface);
                struct ros_words w = {};
                ros_words_add(&w, "/interface/wireguard/add");
                ros_words_add(&w, "=name=%s", iface);
                ros_words_add(&w, "=comment=" ROS_COMMENT_PREFIX "%s", iface);
                if ((r = ros_simple(b, &w, e)) < 0)
                        return r;
                created = true;
        }
}
