/* SPDX-License-Identifier: MIT */
#pragma once

/* nft-gateway: the gateway driver of the Linux backends (linux, uapi). Rules live in one
 * nftables table, `inet wgfleet`, that the agent owns whole; they are read and written through
 * libnftables in its JSON form. Forwarding sysctls under /proc/sys, with the values found saved
 * in the state dir and restored when nothing asks for forwarding any more. docs/gateways.md. */

#include "gateway.h"

#define NFTGW_FAMILY "inet"
#define NFTGW_TABLE "wgfleet"
#define NFTGW_SAVED_FILE "gateway-sysctl.saved"

struct nftgw;

/* state_dir: where the sysctl values found are kept (borrowed, copied). */
int nftgw_new(struct nftgw **ret, const char *state_dir, struct wf_err *e);
void nftgw_free(struct nftgw *g); /* takes NULL */

/* The driver for gw_sync(); its ctx is a struct nftgw. */
extern const struct gw_driver nftgw_driver;

/* Pure: the rules and sysctls a document wants (doc NULL: none). Exposed for unit tests. */
int nftgw_want(const struct wf_doc *doc, struct gw_state *ret);
