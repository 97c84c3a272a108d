/* SPDX-License-Identifier: MIT */
#pragma once

/* The simulated network around the router: which underlay hosts answer, and what follows for
 * each WireGuard peer, second by second: handshakes (on coming up and every 120 s), received
 * keepalives, and the counters and last-handshake that /interface/wireguard/peers/print shows;
 * and RouterOS 7's /ping, answered by a peer's tunnel address only while that peer is up. A
 * peer is up while it is enabled, has an endpoint whose host is reachable (all are, until
 * /wgfleet-sim/reach says otherwise), and --handshake-after has passed since it was added.
 * Reads the configuration through sim_db_n_items/sim_db_item_attr only. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "sim-fw.h"

struct sim_db;
struct sim_net;

struct sim_net_opts {
        int handshake_after; /* -1: peers never come up */
        bool quiet;          /* remotes send no keepalives: rx moves by handshakes and pings only */
        bool no_ping;        /* /ping refused as for an API user without the "test" policy */
};

struct sim_net *sim_net_new(const struct sim_net_opts *o);
void sim_net_free(struct sim_net *n);

/* Advances every peer's traffic to now. Call before anything changes the configuration or the
 * reachability, so the past is settled under the state it had. */
void sim_net_settle(struct sim_net *n, const struct sim_db *db, time_t now);

struct sim_peer_rt {
        time_t last_handshake; /* 0: never */
        uint64_t rx, tx;
};
/* The settled runtime of the peer with .id number id; false when unknown. */
bool sim_net_peer(const struct sim_net *n, unsigned id, struct sim_peer_rt *ret);

/* /ping =address= =count= [=interval= =interface= =src-address= ...]: one row per echo (seq,
 * host, size, ttl, time, sent, received, packet-loss, min-rtt, avg-rtt, max-rtt; status=timeout
 * for a lost one) into rows[i] (up to SIM_NET_ROW_KV pairs each). Answers at once, without
 * waiting for the interval. Returns the number of rows, or -errno with err set (a trap). */
#define SIM_NET_MAX_ROWS 10
#define SIM_NET_ROW_KV 12
int sim_net_ping(struct sim_net *n, const struct sim_db *db, const char *const *keys, const char *const *vals,
                 size_t nkv, struct sim_fw_kv rows[SIM_NET_MAX_ROWS][SIM_NET_ROW_KV], size_t n_kv[SIM_NET_MAX_ROWS],
                 char err[256]);

/* /wgfleet-sim/reach =address=HOST =reachable=yes|no (not a RouterOS command): whether the
 * underlay host answers, as an endpoint and to /ping. Returns 0 or -EINVAL with err set. */
int sim_net_reach(struct sim_net *n, const struct sim_db *db, const char *const *keys, const char *const *vals,
                  size_t nkv, char err[256]);
