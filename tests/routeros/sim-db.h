/* SPDX-License-Identifier: MIT */
#pragma once

/* The simulated router's configuration database: menus of items with RouterOS 7 semantics
 * (.id allocation, add/set/remove/print/move, query stacks, read-only and dynamic entries).
 * The network side (sockets, TLS, login) is in wgfleet-routeros-sim.c. */

#include <stdbool.h>
#include <stdio.h>

#include <time.h>

#include "rosapi.h"

struct sim_db;
struct sim_net_opts;

/* net: the simulated network around the router (sim-net.h): when peers come up, whether
 * remotes send keepalives, whether /ping is allowed. */
struct sim_db *sim_db_new(bool defconf, const struct sim_net_opts *net);
/* RouterOS >= 7.18: a print without results answers !empty before !done. */
void sim_db_set_empty_reply(struct sim_db *db, bool on);
void sim_db_free(struct sim_db *db);

/* Runs one command sentence (words[0] is the command, e.g. "/ip/route/add") and appends the
 * reply sentences to out, each carrying tag when non-NULL. Returns 0, or 1 when the client
 * asked to quit (a !fatal was queued). */
int sim_db_exec(struct sim_db *db, const struct rosapi_sentence *cmd, const char *tag,
                struct rosapi_buf *out, FILE *log);

/* Read access for the firewall evaluator (sim-fw.c): the items of the menu at path (e.g.
 * "/ip/firewall/nat") in order, and an attribute of the i-th (".id" included); NULL when
 * absent. The .id string lives until the next call. */
size_t sim_db_n_items(const struct sim_db *db, const char *path);
time_t sim_db_item_created(const struct sim_db *db, const char *path, size_t i);
const char *sim_db_item_attr(const struct sim_db *db, const char *path, size_t i, const char *key);
