/* SPDX-License-Identifier: MIT */
#pragma once

/* The simulated router's firewall as a packet sees it: value checks for the firewall menus
 * and an evaluation of one new forwarded connection through dstnat, the forward filter and
 * srcnat, first match wins, in the menus' order (RouterOS 7 packet flow, reduced to what the
 * tests check). Reads the database through sim_db_n_items/sim_db_item_attr only. */

#include <stdbool.h>
#include <stddef.h>

struct sim_db;

/* Firewall address (src-address, dst-address; neg: "!" allowed): an address, a prefix or a
 * range "a-b" of family (0: any); a host prefix is stored as the bare address, as RouterOS
 * prints it. to-addresses the same without "!". *out: malloc'd. */
int sim_fw_addr_normalise(const char *v, int family, bool neg, char **out);
bool sim_fw_nat_action_known(const char *action);

struct sim_fw_kv {
        char k[32];
        char v[128];
};
#define SIM_FW_MAX_OUT 8

/* Evaluates the packet given as (key, value) pairs: in-interface, out-interface (the egress
 * after routing), src-address, dst-address, optional protocol, src-port, dst-port. Fills out[]
 * with dstnat-rule, dst-address, dst-port, forward, forward-rule, srcnat-rule, src-address.
 * Returns 0, or -EINVAL with err set. */
int sim_fw_evaluate(const struct sim_db *db, const char *const *keys, const char *const *vals, size_t n,
                    struct sim_fw_kv out[SIM_FW_MAX_OUT], size_t *n_out, char err[256]);
