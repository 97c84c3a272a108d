/* SPDX-License-Identifier: MIT */
/* Liveness, endpoint failover and exit policies (common/liveness.c): every transition, with the
 * clock as a parameter. */
#include "liveness.h"
#include "tap.h"

#define S 1000 /* ms */
#define FO (6 * S) /* failover_after 6 s */

static void test_state(void) {
        struct lv_peer p;

        lv_reset(&p, 100 * S);
        CHECK(lv_state(&p, 100 * S, FO) == LV_UNKNOWN);
        CHECK(lv_state(&p, 105 * S, FO) == LV_UNKNOWN);
        /* Never answered for failover_after: dead (a peer that never answered counts as not alive). */
        CHECK(lv_state(&p, 106 * S, FO) == LV_DEAD);
        /* The first rx sample is a baseline, not an answer. */
        lv_sample_rx(&p, 101 * S, 5000);
        CHECK(lv_state(&p, 106 * S, FO) == LV_DEAD);
        lv_sample_rx(&p, 102 * S, 5000);
        CHECK(lv_state(&p, 106 * S, FO) == LV_DEAD);
        lv_sample_rx(&p, 103 * S, 5032);
        CHECK(lv_state(&p, 106 * S, FO) == LV_ALIVE);
        CHECK(lv_state(&p, 109 * S, FO) == LV_ALIVE);
        CHECK(lv_state(&p, 109 * S + 1, FO) == LV_DEAD);
        /* A probe reply revives it and gives an RTT. */
        lv_probe_reply(&p, 110 * S, 40000, FO);
        CHECK(lv_state(&p, 110 * S, FO) == LV_ALIVE);
        CHECK(lv_rtt_us(&p) == 40000);
        /* The median: one slow reply does not move it. */
        lv_probe_reply(&p, 111 * S, 41000, FO);
        lv_probe_reply(&p, 112 * S, 900000, FO);
        CHECK(lv_rtt_us(&p) == 41000);
        /* An idle healthy tunnel answering every probe interval stays alive forever. */
        for (int64_t t = 112 * S; t < 712 * S; t += 2 * S) {
                lv_probe_reply(&p, t, 300, FO);
                CHECK(lv_state(&p, t + 2 * S - 1, FO) == LV_ALIVE);
        }
        CHECK(lv_probe_interval_ms(6) == 2000 && lv_probe_interval_ms(1) == 1000 && lv_probe_interval_ms(120) == 5000);
        CHECK(strcmp(lv_state_to_string(LV_DEAD), "dead") == 0);
        /* Back after a silence: the samples from before it do not count (an exit that died at
         * 10 ms and returns at 95 ms is a 95 ms exit from its first reply on). */
        for (int64_t t = 800 * S; t < 805 * S; t++)
                lv_probe_reply(&p, t, 10000, FO);
        CHECK(lv_rtt_us(&p) == 10000);
        lv_probe_reply(&p, 805 * S + FO, 95000, FO);
        CHECK(lv_rtt_us(&p) == 95000 && p.n_rtt == 1);
        lv_probe_reply(&p, 806 * S + FO, 96000, FO);
        CHECK(lv_rtt_us(&p) == 96000 && p.n_rtt == 2);
}

static void test_endpoint(void) {
        struct lv_endpoint e = { .n = 3 };

        /* Alive or unknown: stay. */
        CHECK(lv_endpoint_step(&e, LV_ALIVE, false, 10 * S, FO) == LV_STAY);
        CHECK(lv_endpoint_step(&e, LV_UNKNOWN, false, 10 * S, FO) == LV_STAY);
        /* Dead on the primary: next, round robin. */
        CHECK(lv_endpoint_step(&e, LV_DEAD, false, 10 * S, FO) == LV_NEXT);
        lv_endpoint_move(&e, LV_NEXT, 10 * S, FO);
        CHECK(e.cur == 1);
        /* Never faster than once per failover_after. */
        CHECK(lv_endpoint_step(&e, LV_DEAD, false, 15 * S, FO) == LV_STAY);
        CHECK(lv_endpoint_step(&e, LV_DEAD, true, 15 * S, FO) == LV_STAY);
        CHECK(lv_endpoint_step(&e, LV_DEAD, false, 16 * S, FO) == LV_NEXT);
        lv_endpoint_move(&e, LV_NEXT, 16 * S, FO);
        CHECK(e.cur == 2);
        lv_endpoint_move(&e, LV_NEXT, 22 * S, FO);
        CHECK(e.cur == 0);
        lv_endpoint_move(&e, LV_NEXT, 28 * S, FO);
        CHECK(e.cur == 1);
        /* Alive on the alternate, the primary answers on the underlay: back. */
        CHECK(lv_endpoint_step(&e, LV_ALIVE, false, 40 * S, FO) == LV_STAY);
        CHECK(lv_endpoint_step(&e, LV_ALIVE, true, 40 * S, FO) == LV_PRIMARY);
        lv_endpoint_move(&e, LV_PRIMARY, 40 * S, FO);
        CHECK(e.cur == 0 && e.returned);
        /* The primary did not answer through the tunnel: the next return waits twice as long. */
        CHECK(lv_endpoint_step(&e, LV_DEAD, true, 46 * S, FO) == LV_NEXT);
        lv_endpoint_move(&e, LV_NEXT, 46 * S, FO);
        CHECK(e.cur == 1 && e.return_hold_ms == 2 * FO);
        CHECK(lv_endpoint_step(&e, LV_ALIVE, true, 52 * S, FO) == LV_STAY);
        CHECK(lv_endpoint_step(&e, LV_ALIVE, true, 58 * S, FO) == LV_PRIMARY);
        lv_endpoint_move(&e, LV_PRIMARY, 58 * S, FO);
        /* This time it answers: the hold goes back to failover_after, and it stays. */
        lv_endpoint_alive(&e, FO);
        CHECK(!e.returned && e.return_hold_ms == FO);
        for (int64_t t = 60 * S; t < 120 * S; t += S)
                CHECK(lv_endpoint_step(&e, LV_ALIVE, true, t, FO) == LV_STAY);
        /* A peer without alternates never moves. */
        struct lv_endpoint one = { .n = 1 };
        CHECK(lv_endpoint_step(&one, LV_DEAD, false, 100 * S, FO) == LV_STAY);
}

static void test_exit(void) {
        struct lv_exit_hyst h = { .challenger = -1 };
        struct lv_exit_cand c[3];
        const char *why;

        /* Default policy: sticky while alive; failover to the first alive when dead. */
        c[0] = (struct lv_exit_cand){ .state = LV_ALIVE, .rtt_us = 50000 };
        c[1] = (struct lv_exit_cand){ .state = LV_ALIVE, .rtt_us = 1000, .active = true };
        c[2] = (struct lv_exit_cand){ .state = LV_ALIVE, .rtt_us = 900 };
        CHECK(lv_exit_choose(c, 3, WF_EXIT_FAILOVER, -1, -1, &h, &why) == 1);
        c[1].state = LV_UNKNOWN;
        CHECK(lv_exit_choose(c, 3, WF_EXIT_FAILOVER, -1, -1, &h, &why) == 1);
        c[1].state = LV_DEAD;
        CHECK(lv_exit_choose(c, 3, WF_EXIT_FAILOVER, -1, -1, &h, &why) == 0);
        CHECK(strcmp(why, "active exit not answering") == 0);
        /* None alive: the current one stays. */
        c[0].state = c[2].state = LV_DEAD;
        CHECK(lv_exit_choose(c, 3, WF_EXIT_FAILOVER, -1, -1, &h, &why) == 1);

        /* Latency: the faster by the margin over LV_ROUNDS rounds. */
        c[0] = (struct lv_exit_cand){ .state = LV_ALIVE, .rtt_us = 50000, .active = true };
        c[1] = (struct lv_exit_cand){ .state = LV_ALIVE, .rtt_us = 1000 };
        c[2] = (struct lv_exit_cand){ .state = LV_DEAD };
        for (int i = 1; i < LV_ROUNDS; i++)
                CHECK(lv_exit_choose(c, 3, WF_EXIT_LATENCY, -1, -1, &h, &why) == 0);
        CHECK(lv_exit_choose(c, 3, WF_EXIT_LATENCY, -1, -1, &h, &why) == 1);
        CHECK(strcmp(why, "lower latency") == 0);
        /* A round without the margin restarts the count. */
        h = (struct lv_exit_hyst){ .challenger = -1 };
        CHECK(lv_exit_choose(c, 3, WF_EXIT_LATENCY, -1, -1, &h, &why) == 0);
        c[1].rtt_us = 45000;
        CHECK(lv_exit_choose(c, 3, WF_EXIT_LATENCY, -1, -1, &h, &why) == 0);
        c[1].rtt_us = 1000;
        for (int i = 1; i < LV_ROUNDS; i++)
                CHECK(lv_exit_choose(c, 3, WF_EXIT_LATENCY, -1, -1, &h, &why) == 0);
        CHECK(lv_exit_choose(c, 3, WF_EXIT_LATENCY, -1, -1, &h, &why) == 1);
        /* Close exits (5 %) never flap. */
        c[0].rtt_us = 40000;
        c[1].rtt_us = 38000;
        h = (struct lv_exit_hyst){ .challenger = -1 };
        for (int i = 0; i < 100; i++)
                CHECK(lv_exit_choose(c, 3, WF_EXIT_LATENCY, -1, -1, &h, &why) == 0);
        /* The active one dies: the fastest alive at once. */
        c[0].state = LV_DEAD;
        c[2] = (struct lv_exit_cand){ .state = LV_ALIVE, .rtt_us = 20000 };
        CHECK(lv_exit_choose(c, 3, WF_EXIT_LATENCY, -1, -1, &h, &why) == 2);
        /* No active one yet: the fastest. */
        c[0] = (struct lv_exit_cand){ .state = LV_ALIVE, .rtt_us = 50000 };
        CHECK(lv_exit_choose(c, 3, WF_EXIT_LATENCY, -1, -1, &h, &why) == 2);

        /* Manual: the primary while not dead, failback included. */
        c[0] = (struct lv_exit_cand){ .state = LV_ALIVE, .active = true };
        c[1] = (struct lv_exit_cand){ .state = LV_ALIVE };
        c[2] = (struct lv_exit_cand){ .state = LV_ALIVE };
        CHECK(lv_exit_choose(c, 3, WF_EXIT_MANUAL, 2, -1, &h, &why) == 2);
        c[2].state = LV_DEAD;
        CHECK(lv_exit_choose(c, 3, WF_EXIT_MANUAL, 2, -1, &h, &why) == 0);
        CHECK(lv_exit_choose(c, 3, WF_EXIT_MANUAL, -1, -1, &h, &why) == 0);

        /* Override: pinned while not dead, whatever the policy. */
        c[2].state = LV_ALIVE;
        c[1].rtt_us = 1;
        CHECK(lv_exit_choose(c, 3, WF_EXIT_LATENCY, -1, 2, &h, &why) == 2);
        CHECK(strcmp(why, "override") == 0);
        c[2].state = LV_DEAD;
        CHECK(lv_exit_choose(c, 3, WF_EXIT_FAILOVER, -1, 2, &h, &why) == 0);
        CHECK(lv_exit_choose(c, 0, WF_EXIT_FAILOVER, -1, -1, &h, &why) == -1);
}

int main(void) {
        test_state();
        test_endpoint();
        test_exit();
        return tap_failures ? 1 : 0;
}
