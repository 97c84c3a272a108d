/* SPDX-License-Identifier: MIT */
#include <stdlib.h>
#include <string.h>

#include "liveness.h"

void lv_reset(struct lv_peer *p, int64_t now_ms) {
        *p = (struct lv_peer){ .since_ms = now_ms };
}

void lv_sample_rx(struct lv_peer *p, int64_t now_ms, uint64_t rx) {
        /* The first sample is a baseline: bytes received before watching started say nothing
         * about now. A counter going back (the peer was re-created) is a new baseline too. */
        if (p->have_rx && rx > p->rx)
                p->last_alive_ms = now_ms;
        p->rx = rx;
        p->have_rx = true;
}

void lv_probe_reply(struct lv_peer *p, int64_t now_ms, uint32_t rtt_us, uint32_t dead_after_ms) {
        /* An exit that died at 10 ms and came back at 95 ms must not win on its old samples. */
        if (p->last_reply_ms && now_ms - p->last_reply_ms > (int64_t)dead_after_ms)
                p->n_rtt = p->rtt_next = 0;
        p->last_reply_ms = now_ms;
        p->last_alive_ms = now_ms;
        p->rtt_us[p->rtt_next] = rtt_us ? rtt_us : 1;
        p->rtt_next = (p->rtt_next + 1) % LV_RTT_SAMPLES;
        if (p->n_rtt < LV_RTT_SAMPLES)
                p->n_rtt++;
}

enum lv_state lv_state(const struct lv_peer *p, int64_t now_ms, uint32_t dead_after_ms) {
        if (p->last_alive_ms > 0 && now_ms - p->last_alive_ms <= (int64_t)dead_after_ms)
                return LV_ALIVE;
        /* Never answered: dead once it had as long as an answering peer would need. */
        if (p->last_alive_ms == 0 && now_ms - p->since_ms < (int64_t)dead_after_ms)
                return LV_UNKNOWN;
        return LV_DEAD;
}

static int cmp_u32(const void *a, const void *b) {
        uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

        return x < y ? -1 : x > y;
}

uint32_t lv_rtt_us(const struct lv_peer *p) {
        uint32_t v[LV_RTT_SAMPLES];

        if (p->n_rtt == 0)
                return 0;
        /* The median: one delayed reply (a busy host, a retransmitted handshake) does not move
         * the exit. */
        memcpy(v, p->rtt_us, p->n_rtt * sizeof(v[0]));
        qsort(v, p->n_rtt, sizeof(v[0]), cmp_u32);
        return v[p->n_rtt / 2];
}

const char *lv_state_to_string(enum lv_state s) {
        switch (s) {
        case LV_ALIVE:
                return "alive";
        case LV_DEAD:
                return "dead";
        case LV_UNKNOWN:
                break;
        }
        return "unknown";
}

uint32_t lv_probe_interval_ms(uint32_t failover_after_s) {
        uint32_t ms = failover_after_s * 1000 / 3;

        if (ms < 1000)
                return 1000;
        return ms > 5000 ? 5000 : ms;
}

/* ---- endpoint failover ---- */

enum lv_move lv_endpoint_step(const struct lv_endpoint *e, enum lv_state alive, bool primary_up,
                              int64_t now_ms, uint32_t failover_after_ms) {
        int64_t since = e->switched_ms ? now_ms - e->switched_ms : INT64_MAX;

        if (e->n < 2 || since < (int64_t)failover_after_ms)
                return LV_STAY;
        /* Back to the primary as soon as its host answers, even from a working alternate: the
         * primary is where the operator wants the traffic. */
        if (e->cur != 0 && primary_up && since >= (int64_t)(e->return_hold_ms ? e->return_hold_ms : failover_after_ms))
                return LV_PRIMARY;
        return alive == LV_DEAD ? LV_NEXT : LV_STAY;
}

void lv_endpoint_move(struct lv_endpoint *e, enum lv_move m, int64_t now_ms, uint32_t failover_after_ms) {
        if (m == LV_STAY)
                return;
        if (!e->return_hold_ms)
                e->return_hold_ms = failover_after_ms;
        if (m == LV_PRIMARY) {
                e->cur = 0;
                e->returned = true;
        } else {
                /* The primary answered on the underlay but not through the tunnel: wait longer
                 * before the next return, so a half-broken primary does not flap the peer. */
                if (e->returned) {
                        e->return_hold_ms = e->return_hold_ms * 2 > LV_RETURN_HOLD_MAX_MS ?
                                LV_RETURN_HOLD_MAX_MS : e->return_hold_ms * 2;
                        e->returned = false;
                }
                e->cur = (e->cur + 1) % e->n;
        }
        e->switched_ms = now_ms;
}

void lv_endpoint_alive(struct lv_endpoint *e, uint32_t failover_after_ms) {
        if (!e->returned)
                return;
        e->returned = false;
        e->return_hold_ms = failover_after_ms;
}

/* ---- exit policies ---- */

static int first_alive(const struct lv_exit_cand *c, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (c[i].state == LV_ALIVE)
                        return (int)i;
        return -1;
}

/* The fastest alive candidate other than skip (alive ones without a measurement last). */
static int fastest(const struct lv_exit_cand *c, size_t n, int skip) {
        int best = -1;

        for (size_t i = 0; i < n; i++) {
                if ((int)i == skip || c[i].state != LV_ALIVE)
                        continue;
                if (best < 0 || (c[i].rtt_us && (!c[best].rtt_us || c[i].rtt_us < c[best].rtt_us)))
                        best = (int)i;
        }
        return best;
}

static bool faster_by_margin(uint32_t challenger, uint32_t current) {
        return challenger && current && (uint64_t)challenger * 100 < (uint64_t)current * (100 - LV_MARGIN_PCT) &&
               current - challenger >= LV_MARGIN_MIN_US;
}

static int latency_choose(const struct lv_exit_cand *c, size_t n, int cur, struct lv_exit_hyst *h,
                          const char **why) {
        int best;

        if (cur < 0 || c[cur].state == LV_DEAD) {
                *h = (struct lv_exit_hyst){ .challenger = -1 };
                best = fastest(c, n, -1);
                *why = cur < 0 ? "lowest latency" : "active exit not answering";
                return best >= 0 ? best : cur >= 0 ? cur : 0;
        }
        best = fastest(c, n, cur);
        if (best < 0 || !faster_by_margin(c[best].rtt_us, c[cur].rtt_us)) {
                *h = (struct lv_exit_hyst){ .challenger = -1 };
                return cur;
        }
        if (h->challenger != best)
                *h = (struct lv_exit_hyst){ .challenger = best };
        if (++h->rounds < LV_ROUNDS)
                return cur;
        *h = (struct lv_exit_hyst){ .challenger = -1 };
        *why = "lower latency";
        return best;
}

int lv_exit_choose(const struct lv_exit_cand *c, size_t n, enum wf_exit_policy policy, int primary, int pin,
                   struct lv_exit_hyst *h, const char **why) {
        int cur = -1, k;

        *why = "";
        if (n == 0)
                return -1;
        for (size_t i = 0; i < n && cur < 0; i++)
                if (c[i].active)
                        cur = (int)i;
        if (pin >= 0 && (size_t)pin < n && c[pin].state != LV_DEAD) {
                *why = "override";
                return pin;
        }
        if (policy == WF_EXIT_LATENCY)
                return latency_choose(c, n, cur, h, why);
        if (policy == WF_EXIT_MANUAL) {
                k = primary >= 0 && (size_t)primary < n ? primary : 0;
                if (c[k].state != LV_DEAD) {
                        *why = "exit_primary";
                        return k;
                }
        }
        /* Sticky: a live exit keeps the default route, so a recovered one does not take it back. */
        if (cur >= 0 && c[cur].state != LV_DEAD)
                return cur;
        k = first_alive(c, n);
        *why = cur < 0 ? "first answering exit" : "active exit not answering";
        return k >= 0 ? k : cur >= 0 ? cur : 0;
}
