/* SPDX-License-Identifier: MIT */
/* The simulated network around the router (sim-net.h). WireGuard's timers as far as the
 * counters show them: a handshake (148 bytes out, 92 in) when a peer comes up and every
 * REKEY_AFTER_TIME (120 s) while it stays up; a keepalive (32 bytes) from the remote every
 * persistent-keepalive seconds when keepalives flow both ways, and from the router on its own
 * persistent-keepalive whether or not anybody hears it; a 56-byte echo through the tunnel is a
 * 116-byte packet each way. */
#include "sim-net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "rosapi.h"
#include "sim-db.h"
#include "util.h"

#define PEERS "/interface/wireguard/peers"
#define REKEY_S 120
#define HS_RX 92
#define HS_TX 148
#define KA_BYTES 32
#define ECHO_BYTES 116
#define MAX_DOWN 64

struct rt {
        unsigned id;
        time_t at;     /* settled up to and including this second */
        bool up;       /* at `at` */
        struct sim_peer_rt v;
};

struct sim_net {
        struct sim_net_opts o;
        struct rt *rt;
        size_t n_rt;
        char *down[MAX_DOWN]; /* unreachable hosts */
        size_t n_down;
};

struct sim_net *sim_net_new(const struct sim_net_opts *o) {
        struct sim_net *n = calloc(1, sizeof(*n));

        if (n)
                n->o = *o;
        return n;
}

void sim_net_free(struct sim_net *n) {
        if (!n)
                return;
        for (size_t i = 0; i < n->n_down; i++)
                free(n->down[i]);
        free(n->rt);
        free(n);
}

static bool reachable(const struct sim_net *n, const char *host) {
        for (size_t i = 0; host && i < n->n_down; i++)
                if (strcmp(n->down[i], host) == 0)
                        return false;
        return host != NULL;
}

static unsigned item_id(const struct sim_db *db, size_t i) {
        const char *s = sim_db_item_attr(db, PEERS, i, ".id");

        return s ? (unsigned)strtoul(s + 1, NULL, 16) : 0;
}

static struct rt *rt_of(struct sim_net *n, unsigned id, time_t created) {
        struct rt *r;

        for (size_t i = 0; i < n->n_rt; i++)
                if (n->rt[i].id == id)
                        return &n->rt[i];
        r = realloc(n->rt, (n->n_rt + 1) * sizeof(*r));
        if (!r)
                abort();
        n->rt = r;
        n->rt[n->n_rt] = (struct rt){ .id = id, .at = created - 1 };
        return &n->rt[n->n_rt++];
}

static long keepalive_s(const char *v) {
        uint64_t ms;

        return v && rosapi_duration_parse(v, &ms) == 0 ? (long)(ms / 1000) : 0;
}

static bool enabled(const struct sim_db *db, size_t i) {
        const char *dis = sim_db_item_attr(db, PEERS, i, "disabled");

        return !dis || strcmp(dis, "true") != 0;
}

/* Whether peer i answers at second t under the present configuration and reachability. */
static bool peer_up(const struct sim_net *n, const struct sim_db *db, size_t i, time_t t) {
        return n->o.handshake_after >= 0 && enabled(db, i) &&
               reachable(n, sim_db_item_attr(db, PEERS, i, "endpoint-address")) &&
               t >= sim_db_item_created(db, PEERS, i) + n->o.handshake_after;
}

static void settle_peer(struct sim_net *n, const struct sim_db *db, size_t i, time_t now) {
        struct rt *r = rt_of(n, item_id(db, i), sim_db_item_created(db, PEERS, i));
        long ka = keepalive_s(sim_db_item_attr(db, PEERS, i, "persistent-keepalive"));

        /* A simulator left idle for long settles the last hour only. */
        if (now - r->at > 3600)
                r->at = now - 3600;
        for (time_t t = r->at + 1; t <= now; t++) {
                bool up = peer_up(n, db, i, t);

                if (up && (!r->up || !r->v.last_handshake || t - r->v.last_handshake >= REKEY_S)) {
                        r->v.last_handshake = t;
                        r->v.rx += HS_RX;
                        r->v.tx += HS_TX;
                } else if (up && !n->o.quiet && ka > 0 && (t - r->v.last_handshake) % ka == 0) {
                        r->v.rx += KA_BYTES;
                }
                if (ka > 0 && t % ka == 0 && enabled(db, i) && r->v.last_handshake)
                        r->v.tx += KA_BYTES;
                r->up = up;
        }
        if (now > r->at)
                r->at = now;
}

void sim_net_settle(struct sim_net *n, const struct sim_db *db, time_t now) {
        size_t np = sim_db_n_items(db, PEERS);

        for (size_t i = 0; i < np; i++)
                settle_peer(n, db, i, now);
}

bool sim_net_peer(const struct sim_net *n, unsigned id, struct sim_peer_rt *ret) {
        for (size_t i = 0; i < n->n_rt; i++)
                if (n->rt[i].id == id) {
                        *ret = n->rt[i].v;
                        return true;
                }
        return false;
}

static const char *kv_get(const char *const *keys, const char *const *vals, size_t nkv, const char *k) {
        for (size_t i = 0; i < nkv; i++)
                if (strcmp(keys[i], k) == 0)
                        return vals[i];
        return NULL;
}

/* The enabled peer whose allowed-address covers addr (the route the router's echo takes into a
 * tunnel), or -1: an underlay host. */
static ssize_t tunnel_peer(const struct sim_db *db, const struct wf_prefix *addr) {
        size_t np = sim_db_n_items(db, PEERS);

        for (size_t i = 0; i < np; i++) {
                const char *al = sim_db_item_attr(db, PEERS, i, "allowed-address");
                char buf[1024], *save = NULL;

                if (!al || !enabled(db, i))
                        continue;
                snprintf(buf, sizeof(buf), "%s", al);
                for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
                        struct wf_prefix p;
                        const char *why;

                        /* the default route an exit carries is not where an echo is answered */
                        if (wf_prefix_parse(tok, false, &p, &why) == 0 && p.len > 0 && wf_prefix_contains(&p, addr))
                                return (ssize_t)i;
                }
        }
        return -1;
}

static void kv(struct sim_fw_kv *row, size_t *n, const char *k, const char *v) {
        snprintf(row[*n].k, sizeof(row[*n].k), "%s", k);
        snprintf(row[*n].v, sizeof(row[*n].v), "%s", v);
        (*n)++;
}

int sim_net_ping(struct sim_net *n, const struct sim_db *db, const char *const *keys, const char *const *vals,
                 size_t nkv, struct sim_fw_kv rows[SIM_NET_MAX_ROWS][SIM_NET_ROW_KV], size_t n_kv[SIM_NET_MAX_ROWS],
                 char err[256]) {
        const char *addr = kv_get(keys, vals, nkv, "address"), *cnt = kv_get(keys, vals, nkv, "count");
        struct wf_prefix a;
        const char *why;
        long count;
        ssize_t peer;
        struct rt *r = NULL;
        unsigned sent = 0, got = 0;
        char *end, num[32];

        if (n->o.no_ping) {
                snprintf(err, 256, "not enough permissions (9)");
                return -EPERM;
        }
        if (!addr || wf_prefix_parse(addr, false, &a, &why) < 0 || a.len != (a.family == AF_INET ? 32 : 128)) {
                snprintf(err, 256, "invalid value for argument address");
                return -EINVAL;
        }
        /* RouterOS pings until cancelled without a count; the simulator answers whole commands. */
        count = cnt ? strtol(cnt, &end, 10) : 0;
        if (!cnt || *end || count < 1 || count > SIM_NET_MAX_ROWS) {
                snprintf(err, 256, "simulator: /ping needs count=1..%d", SIM_NET_MAX_ROWS);
                return -EINVAL;
        }
        peer = tunnel_peer(db, &a);
        if (peer >= 0)
                r = rt_of(n, item_id(db, (size_t)peer), sim_db_item_created(db, PEERS, (size_t)peer));
        for (long s = 0; s < count; s++) {
                struct sim_fw_kv *row = rows[s];
                bool answered;
                size_t k = 0;

                if (r) {
                        /* the echo goes into the tunnel when the peer has an endpoint at all */
                        answered = peer_up(n, db, (size_t)peer, time(NULL));
                        if (sim_db_item_attr(db, PEERS, (size_t)peer, "endpoint-address") || r->v.last_handshake)
                                r->v.tx += ECHO_BYTES;
                        if (answered)
                                r->v.rx += ECHO_BYTES;
                } else {
                        answered = reachable(n, addr);
                }
                sent++;
                got += answered;
                snprintf(num, sizeof(num), "%ld", s);
                kv(row, &k, "seq", num);
                kv(row, &k, "host", addr);
                if (answered) {
                        kv(row, &k, "size", "56");
                        kv(row, &k, "ttl", "64");
                        kv(row, &k, "time", r ? "2ms500us" : "1ms200us");
                } else {
                        kv(row, &k, "status", "timeout");
                }
                snprintf(num, sizeof(num), "%u", sent);
                kv(row, &k, "sent", num);
                snprintf(num, sizeof(num), "%u", got);
                kv(row, &k, "received", num);
                snprintf(num, sizeof(num), "%u", (sent - got) * 100 / sent);
                kv(row, &k, "packet-loss", num);
                if (got) {
                        kv(row, &k, "min-rtt", r ? "2ms500us" : "1ms200us");
                        kv(row, &k, "avg-rtt", r ? "2ms500us" : "1ms200us");
                        kv(row, &k, "max-rtt", r ? "2ms500us" : "1ms200us");
                }
                n_kv[s] = k;
        }
        return (int)count;
}

int sim_net_reach(struct sim_net *n, const struct sim_db *db, const char *const *keys, const char *const *vals,
                  size_t nkv, char err[256]) {
        const char *host = kv_get(keys, vals, nkv, "address"), *v = kv_get(keys, vals, nkv, "reachable");
        bool down;

        if (!host || !*host || !v || (strcmp(v, "yes") != 0 && strcmp(v, "no") != 0)) {
                snprintf(err, 256, "usage: =address=HOST =reachable=yes|no");
                return -EINVAL;
        }
        sim_net_settle(n, db, time(NULL));
        down = strcmp(v, "no") == 0;
        for (size_t i = 0; i < n->n_down; i++)
                if (strcmp(n->down[i], host) == 0) {
                        if (!down) {
                                free(n->down[i]);
                                n->down[i] = n->down[--n->n_down];
                        }
                        return 0;
                }
        if (!down)
                return 0;
        if (n->n_down == MAX_DOWN) {
                snprintf(err, 256, "too many unreachable hosts");
                return -ENOSPC;
        }
        n->down[n->n_down] = strdup(host);
        if (!n->down[n->n_down])
                abort();
        n->n_down++;
        return 0;
}
