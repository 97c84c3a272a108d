/* SPDX-License-Identifier: MIT */
/* The liveness watch of `run`: probes, samples and the override file in, the endpoint in use
 * and the chosen exit out (through agentr_watch_adjust and an apply). What is alive and what to
 * choose is common/liveness.c's; this file does the I/O. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/icmp6.h>
#include <netinet/ip_icmp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "agent-run.h"
#include "agent-watch.h"
#include "exit.h"
#include "liveness.h"

#define TICK_USEC USEC_PER_SEC
#define N_PROBES 256
#define DP_PING_WAIT_MS 500

struct wpeer {
        char iface[WF_IFNAMSIZ];
        uint8_t key[WF_KEY_LEN];
        char name[64];
        bool exit;                     /* an exit candidate of its interface */
        bool probe;                    /* has a tunnel address to probe */
        struct sockaddr_storage tunnel;
        uint16_t keepalive;
        struct lv_peer lv;
        /* [endpoint, endpoint_alt...]: owned copies, host parsed */
        size_t n_ep;
        char **ep, **host;
        uint16_t *port;
        struct lv_endpoint ept;
        struct lv_switch last;
        struct sockaddr_storage primary; /* the primary's resolved address (family 0: unknown) */
        int64_t primary_ms;            /* its last answer on the underlay */
};

struct wiface {
        char name[WF_IFNAMSIZ];
        enum wf_exit_policy policy;
        char primary[64];              /* exit_primary, "" = the first */
        char choice[64];               /* the exit chosen, "" = none yet */
        struct lv_exit_hyst h;
        struct lv_switch last;
};

struct probe {
        bool used;
        bool underlay;
        uint32_t gen;
        size_t peer;
        uint64_t sent_usec;
        struct sockaddr_storage to;
};

struct agent_watch {
        struct wpeer *peers;
        size_t n_peers;
        struct wiface *ifaces;
        size_t n_ifaces;
        const struct wf_doc *doc;      /* what peers/ifaces follow (borrowed identity) */
        uint64_t doc_rev;
        uint32_t gen;
        int fd[2];                     /* ICMP echo sockets, IPv4 and IPv6 (-1: none) */
        bool dp_ping;                  /* the data plane pings for us (ops->ping: RouterOS /ping) */
        sd_event_source *io[2], *tick;
        struct probe probes[N_PROBES];
        uint16_t seq;
        int64_t last_round_ms;
        char override[64];
        struct timespec override_mtime;
        bool override_exists;
        void **grave;                  /* freed at the next adjust: the last working copy borrowed them */
        size_t n_grave;
};

static bool can_probe(const struct agent_watch *w, const struct wpeer *p) {
        return p->probe && (w->dp_ping || w->fd[p->tunnel.ss_family == AF_INET6] >= 0);
}

static int64_t mono_ms(void) {
        return (int64_t)(agentr_mono_usec() / 1000);
}

static uint32_t failover_ms(const struct agent *a) {
        return a->ctx->cfg.failover_after * 1000;
}

static void bury(struct agent_watch *w, void *p) {
        void **g;

        if (!p)
                return;
        g = realloc(w->grave, (w->n_grave + 1) * sizeof(*g));
        if (!g) {
                /* Better a leak than a use after free. */
                return;
        }
        w->grave = g;
        g[w->n_grave++] = p;
}

static void grave_clear(struct agent_watch *w) {
        for (size_t i = 0; i < w->n_grave; i++)
                free(w->grave[i]);
        free(w->grave);
        w->grave = NULL;
        w->n_grave = 0;
}

static void wpeer_bury(struct agent_watch *w, struct wpeer *p) {
        for (size_t i = 0; i < p->n_ep; i++) {
                bury(w, p->ep[i]);
                bury(w, p->host[i]);
        }
        bury(w, p->ep);
        bury(w, p->host);
        bury(w, p->port);
}

/* ---- following the document ---- */

static bool holds_default(const struct wf_prefix *a, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (a[i].len == 0)
                        return true;
        return false;
}

static bool is_exit(const struct wf_iface *f, const struct wf_peer *p) {
        for (size_t i = 0; i < f->n_exit; i++)
                if (strcmp(f->exit[i], p->name) == 0)
                        return holds_default(p->allowed_ips, p->n_allowed_ips);
        return false;
}

/* The peer's tunnel address: its first host-length allowed IP. */
static bool tunnel_addr(const struct wf_peer *p, struct sockaddr_storage *ss) {
        for (size_t i = 0; i < p->n_allowed_ips; i++) {
                const struct wf_prefix *x = &p->allowed_ips[i];

                memset(ss, 0, sizeof(*ss));
                if (x->family == AF_INET && x->len == 32) {
                        struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
                        s4->sin_family = AF_INET;
                        memcpy(&s4->sin_addr, x->addr, 4);
                        return true;
                }
                if (x->family == AF_INET6 && x->len == 128) {
                        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
                        s6->sin6_family = AF_INET6;
                        memcpy(&s6->sin6_addr, x->addr, 16);
                        return true;
                }
        }
        return false;
}

static int wpeer_init(struct wpeer *w, const struct wf_iface *f, const struct wf_peer *p, int64_t now) {
        *w = (struct wpeer){ .exit = is_exit(f, p) };
        snprintf(w->iface, sizeof(w->iface), "%s", f->name);
        snprintf(w->name, sizeof(w->name), "%s", p->name);
        memcpy(w->key, p->public_key, WF_KEY_LEN);
        w->probe = tunnel_addr(p, &w->tunnel);
        w->keepalive = p->persistent_keepalive > 0 ? (uint16_t)p->persistent_keepalive : 0;
        lv_reset(&w->lv, now);
        w->n_ep = p->endpoint ? 1 + p->n_endpoint_alt : 0;
        w->ep = calloc(w->n_ep + 1, sizeof(char *));
        w->host = calloc(w->n_ep + 1, sizeof(char *));
        w->port = calloc(w->n_ep + 1, sizeof(uint16_t));
        if (!w->ep || !w->host || !w->port)
                return -ENOMEM;
        for (size_t i = 0; i < w->n_ep; i++) {
                const char *s = i == 0 ? p->endpoint : p->endpoint_alt[i - 1];
                const char *why;

                w->ep[i] = strdup(s);
                if (!w->ep[i] || wf_endpoint_split(s, &w->host[i], &w->port[i], &why) < 0)
                        return -ENOMEM; /* validated by the document parser */
        }
        w->ept.n = w->n_ep;
        return 0;
}

static bool same_endpoints(const struct wpeer *w, const struct wf_peer *p) {
        if (w->n_ep != (p->endpoint ? 1 + p->n_endpoint_alt : 0))
                return false;
        for (size_t i = 0; i < w->n_ep; i++)
                if (strcmp(w->ep[i], i == 0 ? p->endpoint : p->endpoint_alt[i - 1]) != 0)
                        return false;
        return true;
}

static struct wpeer *find_peer(struct wpeer *v, size_t n, const char *iface, const uint8_t *key) {
        for (size_t i = 0; i < n; i++)
                if (strcmp(v[i].iface, iface) == 0 && memcmp(v[i].key, key, WF_KEY_LEN) == 0)
                        return &v[i];
        return NULL;
}

static struct wiface *find_iface(struct agent_watch *w, const char *name) {
        for (size_t i = 0; i < w->n_ifaces; i++)
                if (strcmp(w->ifaces[i].name, name) == 0)
                        return &w->ifaces[i];
        return NULL;
}

/* Watched: exit candidates (in exit[] order) and peers with alternates. */
static bool watched(const struct wf_iface *f, const struct wf_peer *p) {
        return is_exit(f, p) || p->n_endpoint_alt > 0;
}

static int add_peer(struct agent_watch *w, struct wpeer *nv, size_t *n, const struct wf_iface *f,
                    const struct wf_peer *p, int64_t now) {
        struct wpeer *old = find_peer(w->peers, w->n_peers, f->name, p->public_key);
        int r;

        if (find_peer(nv, *n, f->name, p->public_key))
                return 0;
        /* Unchanged endpoints keep their state; changed ones start over. */
        if (old && same_endpoints(old, p)) {
                nv[*n] = *old;
                nv[*n].exit = is_exit(f, p);
                nv[*n].probe = tunnel_addr(p, &nv[*n].tunnel);
                *old = (struct wpeer){};
                (*n)++;
                return 0;
        }
        r = wpeer_init(&nv[*n], f, p, now);
        (*n)++;
        return r;
}

static const struct wf_peer *doc_peer(const struct wf_iface *f, const char *name) {
        for (size_t i = 0; i < f->n_peers; i++)
                if (strcmp(f->peers[i].name, name) == 0)
                        return &f->peers[i];
        return NULL;
}

static int sync_doc(struct agent_watch *w, const struct wf_doc *doc) {
        struct wpeer *nv;
        struct wiface *ni;
        size_t n = 0, total = 0;
        int64_t now = mono_ms();
        int r = 0;

        if (doc == w->doc && (!doc || doc->revision == w->doc_rev))
                return 0;
        /* Only exits and peers with alternate endpoints are watched: a 10 000-peer hub has
         * few, and a slot is 768 bytes. */
        for (size_t i = 0; doc && i < doc->n_ifaces; i++)
                for (size_t j = 0; j < doc->ifaces[i].n_peers; j++)
                        total += watched(&doc->ifaces[i], &doc->ifaces[i].peers[j]);
        nv = calloc(total + 1, sizeof(*nv));
        ni = calloc((doc ? doc->n_ifaces : 0) + 1, sizeof(*ni));
        if (!nv || !ni) {
                free(nv);
                free(ni);
                return -ENOMEM;
        }
        for (size_t i = 0; doc && i < doc->n_ifaces; i++) {
                const struct wf_iface *f = &doc->ifaces[i];
                struct wiface *old = find_iface(w, f->name);

                ni[i] = old && old->policy == f->exit_policy ? *old : (struct wiface){ .h.challenger = -1 };
                snprintf(ni[i].name, sizeof(ni[i].name), "%s", f->name);
                ni[i].policy = f->exit_policy;
                snprintf(ni[i].primary, sizeof(ni[i].primary), "%s", f->exit_primary ? f->exit_primary : "");
                for (size_t e = 0; r >= 0 && e < f->n_exit; e++) {
                        const struct wf_peer *p = doc_peer(f, f->exit[e]);
                        if (p && watched(f, p))
                                r = add_peer(w, nv, &n, f, p, now);
                }
                for (size_t j = 0; r >= 0 && j < f->n_peers; j++)
                        if (watched(f, &f->peers[j]))
                                r = add_peer(w, nv, &n, f, &f->peers[j], now);
        }
        for (size_t i = 0; i < w->n_peers; i++)
                wpeer_bury(w, &w->peers[i]);
        bury(w, w->peers);
        bury(w, w->ifaces);
        w->peers = nv;
        w->n_peers = n;
        w->ifaces = ni;
        w->n_ifaces = doc ? doc->n_ifaces : 0;
        w->doc = doc;
        w->doc_rev = doc ? doc->revision : 0;
        w->gen++;
        return r;
}

/* ---- probes ---- */

static void probe_send(struct agent *a, size_t peer, const struct sockaddr_storage *to, bool underlay,
                       uint32_t mark) {
        struct agent_watch *w = a->watch;
        int fam = to->ss_family == AF_INET6, fd = w->fd[fam];
        struct probe *pr;
        uint8_t pkt[16] = {};
        uint16_t seq = ++w->seq;

        if (fd < 0)
                return;
        if (fam) {
                struct icmp6_hdr *h = (struct icmp6_hdr *)pkt;
                h->icmp6_type = ICMP6_ECHO_REQUEST;
                h->icmp6_seq = htons(seq);
        } else {
                struct icmphdr *h = (struct icmphdr *)pkt;
                h->type = ICMP_ECHO;
                h->un.echo.sequence = htons(seq);
        }
        /* Underlay probes go the way WireGuard's own packets go (its fwmark), tunnel probes
         * the way the node's traffic goes. */
        (void)setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark));
        if (sendto(fd, pkt, sizeof(pkt), MSG_DONTWAIT, (const struct sockaddr *)to,
                   fam ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in)) < 0)
                return; /* no route yet, or a full queue: an unanswered probe is what it is */
        pr = &w->probes[seq % N_PROBES];
        *pr = (struct probe){ .used = true, .underlay = underlay, .gen = w->gen, .peer = peer,
                              .sent_usec = agentr_mono_usec(), .to = *to };
}

/* The data plane's own echo (a RouterOS router pings through its tunnel, or on its underlay
 * for a primary's host): synchronous, an unanswered one costs DP_PING_WAIT_MS of the tick. */
static void dp_probe(struct agent *a, size_t peer, const struct sockaddr_storage *to, bool underlay) {
        struct agent_watch *w = a->watch;
        struct wf_err e = {};
        uint32_t rtt = 0;
        int r = a->ops->ping(a->backend, to, DP_PING_WAIT_MS, &rtt, &e);

        if (r == -EPERM) {
                w->dp_ping = false;
                agentd_log(LOG_WARNING, "liveness: %s: peers are judged by received bytes and handshakes only; "
                           "give the API user's group the 'test' policy", e.msg);
        } else if (r > 0 && underlay) {
                w->peers[peer].primary_ms = mono_ms();
        } else if (r > 0) {
                lv_probe_reply(&w->peers[peer].lv, mono_ms(), rtt, failover_ms(a));
        }
}

static bool same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b) {
        if (a->ss_family != b->ss_family)
                return false;
        if (a->ss_family == AF_INET)
                return memcmp(&((const struct sockaddr_in *)a)->sin_addr, &((const struct sockaddr_in *)b)->sin_addr, 4) == 0;
        return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr, &((const struct sockaddr_in6 *)b)->sin6_addr, 16) == 0;
}

static int on_icmp(_unused_ sd_event_source *s, int fd, _unused_ uint32_t revents, void *userdata) {
        struct agent *a = userdata;
        struct agent_watch *w = a->watch;
        uint8_t buf[256];

        for (;;) {
                struct sockaddr_storage from = {};
                socklen_t fl = sizeof(from);
                ssize_t k = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
                struct probe *pr;
                uint16_t seq;
                bool reply;

                if (k < 0)
                        return 0;
                if (k < 8)
                        continue;
                if (from.ss_family == AF_INET6) {
                        const struct icmp6_hdr *h = (const struct icmp6_hdr *)buf;
                        reply = h->icmp6_type == ICMP6_ECHO_REPLY;
                        seq = ntohs(h->icmp6_seq);
                } else {
                        const struct icmphdr *h = (const struct icmphdr *)buf;
                        reply = h->type == ICMP_ECHOREPLY;
                        seq = ntohs(h->un.echo.sequence);
                }
                pr = &w->probes[seq % N_PROBES];
                if (!reply || !pr->used || pr->gen != w->gen || pr->peer >= w->n_peers || !same_addr(&pr->to, &from))
                        continue;
                pr->used = false;
                if (pr->underlay)
                        w->peers[pr->peer].primary_ms = mono_ms();
                else
                        lv_probe_reply(&w->peers[pr->peer].lv, mono_ms(),
                                       (uint32_t)(agentr_mono_usec() - pr->sent_usec), failover_ms(a));
        }
}

static int open_icmp(struct agent *a, int fam) {
        struct agent_watch *w = a->watch;
        int fd = socket(fam ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                        fam ? IPPROTO_ICMPV6 : IPPROTO_ICMP);

        if (fd < 0)
                return -errno;
        w->fd[fam] = fd;
        return sd_event_add_io(a->event, &w->io[fam], fd, EPOLLIN, on_icmp, a);
}

/* ---- one round: samples, probes ---- */

static const struct wf_live_iface *live_iface(const struct agent *a, const char *name) {
        for (size_t i = 0; i < a->n_live; i++)
                if (a->live[i] && a->live[i]->name && strcmp(a->live[i]->name, name) == 0)
                        return a->live[i];
        return NULL;
}

static const struct wf_live_peer *live_peer(const struct wf_live_iface *l, const uint8_t *key) {
        for (size_t i = 0; l && i < l->n_peers; i++)
                if (memcmp(l->peers[i].public_key, key, WF_KEY_LEN) == 0)
                        return &l->peers[i];
        return NULL;
}

static const struct wf_iface *doc_iface(const struct wf_doc *d, const char *name) {
        for (size_t i = 0; d && i < d->n_ifaces; i++)
                if (strcmp(d->ifaces[i].name, name) == 0)
                        return &d->ifaces[i];
        return NULL;
}

/* Received bytes of the peers that did not answer a probe lately (one observation per
 * interface, only then): the tunnel may answer without answering ICMP. A peer that cannot be
 * probed at all falls back on its handshake age (the rekey-aware threshold of exit.h). */
static void sample_rx(struct agent *a, int64_t now, uint32_t interval) {
        struct agent_watch *w = a->watch;

        for (size_t i = 0; i < w->n_peers; i++) {
                const struct wf_iface *f;
                struct wf_live_iface *l = NULL;
                struct wf_err e = {};
                bool need = false;

                if (i > 0 && strcmp(w->peers[i].iface, w->peers[i - 1].iface) == 0)
                        continue;
                for (size_t j = i; j < w->n_peers && strcmp(w->peers[j].iface, w->peers[i].iface) == 0; j++)
                        need |= !can_probe(w, &w->peers[j]) || now - w->peers[j].lv.last_alive_ms > (int64_t)interval;
                f = doc_iface(a->p.doc, w->peers[i].iface);
                if (!need || !f || a->ops->observe(a->backend, f->name, f, &l, &e) < 0)
                        continue;
                for (size_t j = i; j < w->n_peers && strcmp(w->peers[j].iface, w->peers[i].iface) == 0; j++) {
                        struct wpeer *p = &w->peers[j];
                        const struct wf_live_peer *lp = live_peer(l, p->key);

                        if (!lp)
                                continue;
                        lv_sample_rx(&p->lv, now, lp->rx_bytes);
                        if (!can_probe(w, p) &&
                            exit_healthy(lp->last_handshake, agentr_now(),
                                         exit_stale_after(a->ctx->cfg.failover_after, p->keepalive)))
                                p->lv.last_alive_ms = now;
                }
                wf_live_iface_free(l);
        }
}

static void send_probes(struct agent *a) {
        struct agent_watch *w = a->watch;

        for (size_t i = 0; i < w->n_peers; i++) {
                struct wpeer *p = &w->peers[i];
                const struct wf_live_iface *l;

                if (p->probe && w->dp_ping)
                        dp_probe(a, i, &p->tunnel, false);
                else if (p->probe)
                        probe_send(a, i, &p->tunnel, false, 0);
                if (p->ept.cur == 0 || !p->primary.ss_family)
                        continue;
                l = live_iface(a, p->iface);
                if (w->dp_ping)
                        dp_probe(a, i, &p->primary, true);
                else
                        probe_send(a, i, &p->primary, true, l ? l->fwmark : 0);
        }
}

/* ---- decisions ---- */

static void record(struct lv_switch *s, const char *from, const char *to, const char *why) {
        s->at = agentr_now();
        snprintf(s->from, sizeof(s->from), "%s", from);
        snprintf(s->to, sizeof(s->to), "%s", to);
        snprintf(s->why, sizeof(s->why), "%s", why);
}

/* At most one peer moves per tick ("one peer at a time"). Returns whether one moved. */
static bool decide_endpoints(struct agent *a, int64_t now, uint32_t interval) {
        struct agent_watch *w = a->watch;
        uint32_t fo = failover_ms(a);

        for (size_t i = 0; i < w->n_peers; i++) {
                struct wpeer *p = &w->peers[i];
                enum lv_state st = lv_state(&p->lv, now, fo);
                bool primary_up = p->primary_ms && now - p->primary_ms <= 2 * (int64_t)interval;
                enum lv_move m;
                size_t from = p->ept.cur;
                char why[96];

                if (st == LV_ALIVE)
                        lv_endpoint_alive(&p->ept, fo);
                m = lv_endpoint_step(&p->ept, st, primary_up, now, fo);
                if (m == LV_STAY)
                        continue;
                lv_endpoint_move(&p->ept, m, now, fo);
                if (m == LV_PRIMARY)
                        snprintf(why, sizeof(why), "primary answers on the underlay");
                else
                        snprintf(why, sizeof(why), "no answer for %" PRIu32 " s", a->ctx->cfg.failover_after);
                record(&p->last, p->ep[from], p->ep[p->ept.cur], why);
                lv_reset(&p->lv, now);
                p->primary_ms = 0;
                a->counters.endpoint_switches++;
                agentd_log(LOG_NOTICE, "%s: peer %s: endpoint %s -> %s (%s)", p->iface, p->name, p->ep[from],
                           p->ep[p->ept.cur], why);
                return true;
        }
        return false;
}

static const char *live_exit(const struct agent *a, const char *iface, size_t from, size_t to) {
        const struct wf_live_iface *l = live_iface(a, iface);

        for (size_t i = from; i < to; i++) {
                const struct wf_live_peer *lp = live_peer(l, a->watch->peers[i].key);
                if (lp && holds_default(lp->allowed_ips, lp->n_allowed_ips))
                        return a->watch->peers[i].name;
        }
        return NULL;
}

/* One interface's exit choice; returns whether the default route must move. */
static bool decide_exit(struct agent *a, struct wiface *wi, int64_t now) {
        struct agent_watch *w = a->watch;
        struct lv_exit_cand c[64];
        size_t idx[64], n = 0;
        int primary = -1, pin = -1, k;
        const char *cur, *why;

        for (size_t i = 0; i < w->n_peers && n < ELEMENTSOF(c); i++) {
                struct wpeer *p = &w->peers[i];
                const struct wf_live_peer *lp;

                if (!p->exit || strcmp(p->iface, wi->name) != 0)
                        continue;
                lp = live_peer(live_iface(a, wi->name), p->key);
                c[n] = (struct lv_exit_cand){
                        .state = lv_state(&p->lv, now, failover_ms(a)),
                        .rtt_us = lv_rtt_us(&p->lv),
                        .active = lp && holds_default(lp->allowed_ips, lp->n_allowed_ips),
                };
                if (wi->primary[0] && strcmp(p->name, wi->primary) == 0)
                        primary = (int)n;
                if (w->override[0] && strcmp(p->name, w->override) == 0)
                        pin = (int)n;
                idx[n++] = i;
        }
        if (n == 0)
                return false;
        k = lv_exit_choose(c, n, wi->policy, primary, pin, &wi->h, &why);
        snprintf(wi->choice, sizeof(wi->choice), "%s", w->peers[idx[k]].name);
        cur = live_exit(a, wi->name, idx[0], idx[n - 1] + 1);
        if (cur && strcmp(cur, wi->choice) == 0)
                return false;
        if (cur) {
                record(&wi->last, cur, wi->choice, why[0] ? why : "policy");
                a->counters.exit_switches++;
                agentd_log(LOG_NOTICE, "%s: exit: default route moves from peer %s to peer %s (%s)", wi->name, cur,
                           wi->choice, wi->last.why);
        }
        return true;
}

static bool decide_exits(struct agent *a, int64_t now) {
        bool moved = false;

        for (size_t i = 0; i < a->watch->n_ifaces; i++)
                moved |= decide_exit(a, &a->watch->ifaces[i], now);
        return moved;
}

/* The override file: noticed within a tick, no restart. Returns whether it changed. */
static bool read_override(struct agent *a) {
        struct agent_watch *w = a->watch;
        char path[PATH_MAX], buf[64] = "";
        struct stat st;
        bool exists;
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", a->ctx->cfg.state_dir, WATCH_OVERRIDE_FILE);
        exists = stat(path, &st) == 0;
        if (exists == w->override_exists && (!exists || (st.st_mtim.tv_sec == w->override_mtime.tv_sec &&
                                                         st.st_mtim.tv_nsec == w->override_mtime.tv_nsec)))
                return false;
        w->override_exists = exists;
        w->override_mtime = exists ? st.st_mtim : (struct timespec){};
        f = exists ? fopen(path, "re") : NULL;
        if (f) {
                if (!fgets(buf, sizeof(buf), f))
                        buf[0] = 0;
                fclose(f);
        }
        buf[strcspn(buf, " \t\r\n")] = 0;
        if (strcmp(buf, w->override) == 0)
                return false;
        snprintf(w->override, sizeof(w->override), "%s", buf);
        agentd_log(LOG_NOTICE, "exit override: %s", buf[0] ? buf : "none (policy)");
        return true;
}

static int on_tick(_unused_ sd_event_source *s, _unused_ uint64_t usec, void *userdata) {
        struct agent *a = userdata;
        struct agent_watch *w = a->watch;
        uint32_t interval = lv_probe_interval_ms(a->ctx->cfg.failover_after);
        int64_t now = mono_ms();
        bool move = false;

        if (a->p.doc && !a->applying) {
                (void)sync_doc(w, a->p.doc);
                if (read_override(a))
                        move |= decide_exits(a, now);
                if (now - w->last_round_ms >= (int64_t)interval) {
                        w->last_round_ms = now;
                        sample_rx(a, now, interval);
                        move |= decide_exits(a, now);
                        send_probes(a);
                }
                move |= decide_endpoints(a, now, interval);
                if (move && agentr_apply_now(a, POLICY_APPLY_FAILOVER) >= 0)
                        agentr_send_report(a);
        }
        agentr_timer_arm(a, &w->tick, TICK_USEC, on_tick);
        return 0;
}

/* ---- the agent's side ---- */

int agentr_watch_start(struct agent *a) {
        struct agent_watch *w = calloc(1, sizeof(*w));
        int r;

        if (!w)
                return -ENOMEM;
        w->fd[0] = w->fd[1] = -1;
        a->watch = w;
        agentr_timer_arm(a, &w->tick, TICK_USEC, on_tick);
        /* A sidecar's host is not on the router's tunnels: the router pings for it. */
        w->dp_ping = a->ops->ping != NULL;
        if (w->dp_ping)
                return 0;
        /* An unprivileged ICMP echo socket (net.ipv4.ping_group_range, which covers IPv6 too):
         * no CAP_NET_RAW needed, and the kernel hands each socket only its own replies. */
        r = open_icmp(a, 0);
        if (r < 0)
                agentd_log(LOG_WARNING, "liveness: no ICMP echo socket (%s): peers are judged by received "
                           "bytes only; allow the agent's group in net.ipv4.ping_group_range", strerror(-r));
        (void)open_icmp(a, 1);
        return 0;
}

void agentr_watch_free(struct agent *a) {
        struct agent_watch *w = a->watch;

        if (!w)
                return;
        for (int i = 0; i < 2; i++) {
                sd_event_source_disable_unref(w->io[i]);
                if (w->fd[i] >= 0)
                        close(w->fd[i]);
        }
        sd_event_source_disable_unref(w->tick);
        for (size_t i = 0; i < w->n_peers; i++)
                wpeer_bury(w, &w->peers[i]);
        bury(w, w->peers);
        bury(w, w->ifaces);
        grave_clear(w);
        free(w);
        a->watch = NULL;
}

static void primary_addr(struct wpeer *p, const struct wf_peer *rp) {
        struct addrinfo hints = { .ai_socktype = SOCK_DGRAM, .ai_flags = AI_NUMERICHOST }, *res = NULL;

        /* The working copy carries the resolver's address for a name; an unresolved name
         * leaves the primary unprobed (the peer stays on its alternate). */
        if (!rp->endpoint_host || getaddrinfo(rp->endpoint_host, NULL, &hints, &res) != 0)
                return;
        memset(&p->primary, 0, sizeof(p->primary));
        memcpy(&p->primary, res->ai_addr, res->ai_addrlen);
        freeaddrinfo(res);
}

void agentr_watch_adjust(struct agent *a, struct wf_doc *rdoc) {
        struct agent_watch *w = a->watch;

        if (!w)
                return;
        grave_clear(w);
        (void)sync_doc(w, a->p.doc);
        for (size_t i = 0; i < rdoc->n_ifaces; i++) {
                struct wf_iface *f = &rdoc->ifaces[i];
                struct wiface *wi = find_iface(w, f->name);

                if (wi && wi->choice[0])
                        f->exit_choice = wi->choice;
                for (size_t j = 0; j < f->n_peers; j++) {
                        struct wf_peer *rp = &f->peers[j];
                        struct wpeer *p = find_peer(w->peers, w->n_peers, f->name, rp->public_key);

                        if (!p || p->n_ep < 2)
                                continue;
                        primary_addr(p, rp);
                        if (p->ept.cur == 0)
                                continue;
                        rp->endpoint = p->ep[p->ept.cur];
                        rp->endpoint_host = p->host[p->ept.cur];
                        rp->endpoint_port = p->port[p->ept.cur];
                }
        }
}

/* ---- the report ---- */

static json_t *switch_json(const struct lv_switch *s) {
        if (!s->at)
                return json_null();
        return json_pack("{s:I, s:s, s:s, s:s}", "time", (json_int_t)s->at, "from", s->from, "to", s->to,
                         "reason", s->why);
}

static json_t *rtt_json(const struct lv_peer *lv) {
        uint32_t us = lv_rtt_us(lv);

        return us ? json_real(us / 1000.0) : json_null();
}

json_t *agentr_watch_json(const struct agent *a) {
        const struct agent_watch *w = a->watch;
        int64_t now = mono_ms();
        json_t *ifs, *peers;

        if (!w || w->n_peers == 0)
                return NULL;
        ifs = json_array();
        peers = json_array();
        for (size_t i = 0; ifs && i < w->n_ifaces; i++) {
                const struct wiface *wi = &w->ifaces[i];
                json_t *ex = json_array();

                for (size_t j = 0; ex && j < w->n_peers; j++) {
                        const struct wpeer *p = &w->peers[j];
                        if (p->exit && strcmp(p->iface, wi->name) == 0)
                                json_array_append_new(ex, json_pack("{s:s, s:s, s:o}", "name", p->name, "state",
                                        lv_state_to_string(lv_state(&p->lv, now, failover_ms(a))), "rtt_ms", rtt_json(&p->lv)));
                }
                if (!ex || json_array_size(ex) == 0) {
                        json_decref(ex);
                        continue;
                }
                json_array_append_new(ifs, json_pack("{s:s, s:s, s:o, s:o, s:o, s:o}", "name", wi->name,
                        "exit_policy", wi->policy == WF_EXIT_LATENCY ? "latency" : wi->policy == WF_EXIT_MANUAL ? "manual" : "failover",
                        "exit_override", w->override[0] ? json_string(w->override) : json_null(),
                        "exit_chosen", wi->choice[0] ? json_string(wi->choice) : json_null(),
                        "exits", ex, "last_exit_switch", switch_json(&wi->last)));
        }
        for (size_t j = 0; peers && j < w->n_peers; j++) {
                const struct wpeer *p = &w->peers[j];

                json_array_append_new(peers, json_pack("{s:s, s:s, s:o, s:i, s:s, s:o, s:o}", "interface", p->iface,
                        "name", p->name, "endpoint", p->n_ep ? json_string(p->ep[p->ept.cur]) : json_null(),
                        "endpoint_index", (int)p->ept.cur,
                        "state", lv_state_to_string(lv_state(&p->lv, now, failover_ms(a))),
                        "rtt_ms", rtt_json(&p->lv), "last_switch", switch_json(&p->last)));
        }
        return json_pack("{s:o, s:o}", "interfaces", ifs ? ifs : json_array(), "peers", peers ? peers : json_array());
}
