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
const char *doc_prefix_special_overlap(const struct wf_prefix *p);

/* Parses and validates one document (the DSSE payload). On error returns -EINVAL (-ENOMEM) and
 * e->msg is one line that names the JSON path and the value. Unknown fields are reported
 * through warn (may be NULL) and ignored. expiry is not checked here (see doc_check_fresh). */
int doc_parse(const char *json, size_t len, struct wf_doc **ret, struct wf_err *e,
              wf_warn_fn warn, void *userdata); /* *ret: taken by the caller, wf_doc_free() */

/* Checks expires_at against now, and the node name when node is non-NULL. */
int doc_check_fresh(const struct wf_doc *d, const char *node, int64_t now, struct wf_err *e);

/* Lockout, the rule itself: what in interface f would carry addr (an underlay address the
 * node must keep reaching: the controller, a router's management address) into the tunnel.
 * Checked in this order: a peer's allowed IP (other than /0, which only an exit peer carries
 * and the agent keeps off the management path with fwmark policy routing), an extra route's
 * dst (other than the default route), an interface address's subnet (a connected route on the
 * tunnel). Returns 1 and fills *ret on the first hit, 0 when nothing covers addr. Callers
 * phrase the refusal themselves. */
enum doc_lockout_kind {
        DOC_LOCKOUT_ALLOWED_IP,         /* peers[peer].allowed_ips[idx] */
        DOC_LOCKOUT_ROUTE,              /* routes[idx].dst */
        DOC_LOCKOUT_ADDRESS,            /* addresses[idx]; prefix is its subnet */
};
struct doc_lockout {
        enum doc_lockout_kind kind;
        size_t peer;                    /* DOC_LOCKOUT_ALLOWED_IP only, else SIZE_MAX */
        size_t idx;
        struct wf_prefix prefix;        /* what covers addr */
};
int doc_check_lockout(const struct wf_iface *f, const struct wf_prefix *addr, struct doc_lockout *ret);

/* Lockout lint (doc_check_lockout on every interface) against an underlay address the agent
 * must keep reaching: refuses the document with a message naming the JSON path; what names the
 * address in the message, e.g. "the controller". */
int doc_check_underlay(const struct wf_doc *d, const struct wf_prefix *addr, const char *what,
                       struct wf_err *e);

/* Counts peers over all interfaces. */
size_t doc_count_peers(const struct wf_doc *d);
