/* SPDX-License-Identifier: MIT */
#pragma once

/* Desired-state document: strict JSON parse and validation into struct wf_doc.
 * docs/protocol.md lists every field and rule. */

#include <stdbool.h>

#include "model.h"
#include "util.h"

/* Names of nodes (1-253) and peers (1-63): start with a letter or digit, then letters, digits,
 * '.', '_', '-'. They end up in file names, RouterOS comments and log lines. */
#define DOC_NODE_NAME_MAX 253
#define DOC_PEER_NAME_MAX 63
bool doc_name_valid(const char *s, size_t max);
/* Linux interface names: 1-15 printable ASCII bytes, not "." or "..", no '/' or ':'. */
bool doc_ifname_valid(const char *s);
/* Endpoint hosts: an IPv4 literal, or a DNS name (labels of 1-63 of A-Z a-z 0-9 '-' '_', not
 * starting or ending with '-', 253 bytes at most, not all digits: "10.0.0.300" is no name). */
bool doc_host_valid(const char *h);
/* Why no tunnel can carry p (loopback, multicast, IPv4-mapped), as a phrase such as "is a
 * multicast prefix (...)"; NULL when it can. The controller applies the same rule. */
const char *doc_prefix_special(const struct wf_prefix *p);

/* Parses and validates one document (the DSSE payload). On error returns -EINVAL (-ENOMEM) and
 * e->msg is one line that names the JSON path and the value. Unknown fields are reported
 * through warn (may be NULL) and ignored. expiry is not checked here (see doc_check_fresh). */
int doc_parse(const char *json, size_t len, struct wf_doc **ret, struct wf_err *e,
              wf_warn_fn warn, void *userdata); /* *ret: taken by the caller, wf_doc_free() */

/* Checks expires_at against now, and the node name when node is non-NULL. */
int doc_check_fresh(const struct wf_doc *d, const char *node, int64_t now, struct wf_err *e);

/* Lockout lint against an underlay address the agent must keep reaching (the controller):
 * refuses a document in which an interface address's subnet, any peer's allowed IPs or any
 * route covers addr (other than the default route of an exit peer, which the agent keeps off
 * the management path with fwmark policy routing). what names the address in the message,
 * e.g. "the controller". */
int doc_check_underlay(const struct wf_doc *d, const struct wf_prefix *addr, const char *what,
                       struct wf_err *e);
/* The same rule for one interface, the one place it is written: the RouterOS backend calls it
 * for the router's API address and this host's address toward it. path starts the field path in
 * the message (e.g. "interfaces[0]." or "interface wfr0: "). */
int doc_check_lockout(const struct wf_iface *f, const char *path, const struct wf_prefix *addr,
                      const char *what, struct wf_err *e);

/* Counts peers over all interfaces. */
size_t doc_count_peers(const struct wf_doc *d);
