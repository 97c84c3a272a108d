/* SPDX-License-Identifier: MIT */
#include <stdlib.h>
#include <string.h>

#include "exit.h"
#include "util.h"

uint32_t exit_stale_after(uint32_t failover_after, uint16_t keepalive) {
        uint32_t floor = EXIT_REKEY_S + keepalive + EXIT_REKEY_SLACK_S;

        return failover_after > floor ? failover_after : floor;
}

bool exit_healthy(int64_t last_handshake, int64_t now, uint32_t stale_after) {
        return last_handshake > 0 && now - last_handshake <= (int64_t)stale_after;
}

static bool healthy(const struct exit_candidate *c, int64_t now, uint32_t failover_after) {
        return exit_healthy(c->last_handshake, now, exit_stale_after(failover_after, c->keepalive));
}

int exit_choose(const struct exit_candidate *c, size_t n, int64_t now, uint32_t failover_after) {
        int cur = -1;

        if (n == 0)
                return -1;
        for (size_t i = 0; i < n && cur < 0; i++)
                if (c[i].active)
                        cur = (int)i;
        /* Sticky: a healthy active exit is never replaced, so a recovered earlier one does not
         * take the default route back and sessions do not flap. */
        if (cur >= 0 && healthy(&c[cur], now, failover_after))
                return cur;
        for (size_t i = 0; i < n; i++)
                if (healthy(&c[i], now, failover_after))
                        return (int)i;
        return cur >= 0 ? cur : 0;
}

uint32_t exit_mark(const struct wf_iface *iface) {
        if (iface->fwmark)
                return iface->fwmark;
        return iface->listen_port ? iface->listen_port : EXIT_DEFAULT_MARK;
}

static bool has_default(const struct wf_prefix *a, size_t n, int family) {
        for (size_t i = 0; i < n; i++)
                if (a[i].len == 0 && (family == AF_UNSPEC || a[i].family == family))
                        return true;
        return false;
}

static const struct wf_live_peer *live_peer(const struct wf_live_iface *live, const uint8_t *key) {
        if (!live || !live->exists)
                return NULL;
        for (size_t i = 0; i < live->n_peers; i++)
                if (memcmp(live->peers[i].public_key, key, WF_KEY_LEN) == 0)
                        return &live->peers[i];
        return NULL;
}

/* The running agent's liveness choice when it names a candidate; else the handshake-based one,
 * with the manual policy's primary first while its handshake is fresh. */
static int pick(const struct plan_target *t, const struct wf_iface *f, const size_t *idx,
                const struct exit_candidate *cand, size_t n, int64_t now, uint32_t failover_after) {
        const char *want = f->exit_choice;

        if (!want && f->exit_policy == WF_EXIT_MANUAL)
                want = f->exit_primary ? f->exit_primary : f->exit[0];
        for (size_t c = 0; want && c < n; c++)
                if (strcmp(t->peers[idx[c]].peer->name, want) == 0 &&
                    (f->exit_choice || healthy(&cand[c], now, failover_after)))
                        return (int)c;
        return exit_choose(cand, n, now, failover_after);
}

int exit_target_build(struct plan_target *t, const struct wf_live_iface *live, int64_t now,
                      uint32_t failover_after, struct exit_target *ret) {
        const struct wf_iface *f = t->iface;
        _cleanup_free_ struct exit_candidate *cand = NULL;
        _cleanup_free_ size_t *idx = NULL;
        struct exit_target x = { .active = -1, .previous = -1 };
        size_t n = 0;
        int k;

        *ret = x;
        if (f->n_exit == 0)
                return 0;
        cand = calloc(f->n_exit, sizeof(*cand));
        idx = calloc(f->n_exit, sizeof(*idx));
        if (!cand || !idx)
                return -ENOMEM;
        /* Document order of exit[]: the first listed is preferred. */
        for (size_t e = 0; e < f->n_exit; e++)
                for (size_t i = 0; i < t->n_peers; i++) {
                        const struct wf_peer *p = t->peers[i].peer;
                        const struct wf_live_peer *lp;

                        if (strcmp(p->name, f->exit[e]) != 0 || t->peers[i].hold ||
                            !has_default(p->allowed_ips, p->n_allowed_ips, AF_UNSPEC))
                                continue;
                        lp = live_peer(live, p->public_key);
                        cand[n] = (struct exit_candidate){
                                .active = lp && has_default(lp->allowed_ips, lp->n_allowed_ips, AF_UNSPEC),
                                .last_handshake = lp ? lp->last_handshake : 0,
                                .keepalive = p->persistent_keepalive > 0 ? (uint16_t)p->persistent_keepalive : 0,
                        };
                        idx[n++] = i;
                        break;
                }
        if (n == 0)
                return 0;
        k = pick(t, f, idx, cand, n, now, failover_after);

        x.iface = *f;
        x.mark = x.iface.fwmark = exit_mark(f);
        x.n_peers = t->n_peers;
        x.peers = calloc(t->n_peers + 1, sizeof(*x.peers));
        x.stripped = calloc(t->n_peers + 1, sizeof(*x.stripped));
        if (!x.peers || !x.stripped) {
                exit_target_done(&x);
                return -ENOMEM;
        }
        x.active = (int)idx[k];
        x.active_handshake = cand[k].last_handshake;
        for (size_t c = 0; c < n; c++)
                if (cand[c].active && x.previous < 0) {
                        x.previous = (int)idx[c];
                        x.previous_handshake = cand[c].last_handshake;
                }
        for (size_t c = 0; c < n; c++) {
                size_t i = idx[c];
                const struct wf_peer *p = t->peers[i].peer;
                struct wf_prefix *keep;
                size_t m = 0;

                x.peers[i] = *p;
                if ((int)i == x.active) {
                        x.v4 = has_default(p->allowed_ips, p->n_allowed_ips, AF_INET);
                        x.v6 = has_default(p->allowed_ips, p->n_allowed_ips, AF_INET6);
                        continue;
                }
                keep = malloc((p->n_allowed_ips + 1) * sizeof(*keep));
                if (!keep) {
                        exit_target_done(&x);
                        return -ENOMEM;
                }
                for (size_t j = 0; j < p->n_allowed_ips; j++)
                        if (p->allowed_ips[j].len > 0)
                                keep[m++] = p->allowed_ips[j];
                x.peers[i].allowed_ips = keep;
                x.peers[i].n_allowed_ips = m;
                x.stripped[i] = true;
        }
        *ret = x;
        /* Point the target at the adjusted copies only once nothing can fail. */
        for (size_t c = 0; c < n; c++)
                if (ret->stripped[idx[c]])
                        t->peers[idx[c]].peer = &ret->peers[idx[c]];
        t->iface = &ret->iface;
        return 0;
}

void exit_target_done(struct exit_target *x) {
        if (!x)
                return;
        for (size_t i = 0; x->peers && x->stripped && i < x->n_peers; i++)
                if (x->stripped[i])
                        free(x->peers[i].allowed_ips);
        free(x->peers);
        free(x->stripped);
        *x = (struct exit_target){ .active = -1, .previous = -1 };
}
