/* SPDX-License-Identifier: MIT */
#pragma once

/* liveness: whether a peer answers, judged from what the running agent measures itself
 * (docs/backends.md, "Liveness"), and the two decisions built on it: which of a peer's
 * endpoints to use (endpoint failover) and which exit peer carries the default route (exit
 * policies). Pure: samples and the clock (milliseconds, any monotonic origin) in, states and
 * choices out; no sockets, so tests/unit/test-liveness.c drives every transition. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model.h"

/* Round-trip samples kept per peer; the median of them is the peer's RTT. */
#define LV_RTT_SAMPLES 5
/* latency policy hysteresis: a challenger must be faster than the active exit by
 * LV_MARGIN_PCT percent and LV_MARGIN_MIN_US, in LV_ROUNDS consecutive rounds. */
#define LV_MARGIN_PCT 20
#define LV_MARGIN_MIN_US 2000
#define LV_ROUNDS 3
/* A return to the primary endpoint that did not come alive doubles the wait before the next
 * return, up to this. */
#define LV_RETURN_HOLD_MAX_MS (600 * 1000)

enum lv_state {
        LV_UNKNOWN, /* watched for less than dead_after and not answered yet */
        LV_ALIVE,   /* answered (probe reply or received bytes) within dead_after */
        LV_DEAD,    /* no answer for dead_after (or never, since watched for that long) */
};

struct lv_peer {
        int64_t since_ms;       /* watched on its current endpoint since */
        int64_t last_alive_ms;  /* last answer, 0 = none since since_ms */
        uint64_t rx;            /* received bytes at the last sample */
        bool have_rx;
        int64_t last_reply_ms;  /* last probe reply, 0 = none */
        uint32_t rtt_us[LV_RTT_SAMPLES]; /* ring of the last round-trip times */
        size_t n_rtt, rtt_next;
};

/* Starts (or restarts, e.g. on a new endpoint) watching at now. */
void lv_reset(struct lv_peer *p, int64_t now_ms);
/* The peer's received-byte counter as observed at now: an advance is an answer. */
void lv_sample_rx(struct lv_peer *p, int64_t now_ms, uint64_t rx);
/* A probe through the tunnel was answered at now after rtt_us. Round-trip times from before a
 * silence longer than dead_after are dropped: a peer that comes back is measured afresh. */
void lv_probe_reply(struct lv_peer *p, int64_t now_ms, uint32_t rtt_us, uint32_t dead_after_ms);
enum lv_state lv_state(const struct lv_peer *p, int64_t now_ms, uint32_t dead_after_ms);
/* Median of the kept round-trip times, 0 when there is none. */
uint32_t lv_rtt_us(const struct lv_peer *p);
const char *lv_state_to_string(enum lv_state s);

/* Probe interval for a failover_after: a third of it (three probes can go unanswered before a
 * peer is dead), between 1 and 5 s. */
uint32_t lv_probe_interval_ms(uint32_t failover_after_s);

/* ---- endpoint failover ---- */

struct lv_switch {
        int64_t at;             /* unix s, 0 = never */
        char from[64], to[64];  /* endpoints, or exit peer names */
        char why[96];
};

struct lv_endpoint {
        size_t n;               /* 1 + number of endpoint_alt */
        size_t cur;             /* index in [endpoint, endpoint_alt...] */
        int64_t switched_ms;    /* last switch, 0 = none */
        uint32_t return_hold_ms; /* wait after a switch before returning to the primary */
        bool returned;          /* on the primary after a return that has not answered yet */
};

enum lv_move {
        LV_STAY,
        LV_NEXT,                /* the current endpoint is dead: the next one, round robin */
        LV_PRIMARY,             /* back to the primary: its host answers on the underlay */
};

/* What to do with one peer now. alive: its state on the current endpoint; primary_up: the
 * primary's host answered the underlay probe recently. Never moves within failover_after of
 * the last switch. */
enum lv_move lv_endpoint_step(const struct lv_endpoint *e, enum lv_state alive, bool primary_up,
                              int64_t now_ms, uint32_t failover_after_ms);
/* Records a move decided by lv_endpoint_step (the caller resets the peer's lv_peer). */
void lv_endpoint_move(struct lv_endpoint *e, enum lv_move m, int64_t now_ms, uint32_t failover_after_ms);
/* The current endpoint answered: a return to the primary succeeded. */
void lv_endpoint_alive(struct lv_endpoint *e, uint32_t failover_after_ms);

/* ---- exit policies ---- */

struct lv_exit_cand {
        enum lv_state state;
        uint32_t rtt_us;        /* 0 = unknown */
        bool active;            /* holds the default route live */
};

/* Hysteresis of one interface's latency choice. */
struct lv_exit_hyst {
        int challenger;         /* -1: none */
        unsigned rounds;        /* consecutive rounds it has been better by the margin */
};

/* Index of the exit to hold the default route; *why gets a static reason when it differs from
 * the current one. primary: the manual policy's exit (index, -1 = the first); pin: the
 * override (-1 = none), taken while not dead. Call once per round (the latency hysteresis
 * counts rounds). */
int lv_exit_choose(const struct lv_exit_cand *c, size_t n, enum wf_exit_policy policy, int primary, int pin,
                   struct lv_exit_hyst *h, const char **why);
