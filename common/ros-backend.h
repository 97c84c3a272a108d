/* SPDX-License-Identifier: MIT */
#pragma once

/* Internals shared by the RouterOS backend's files (backend-routeros.c: connection, commands,
 * lockout, probe, clear; ros-observe.c; ros-apply.c; ros-demote.c). Not for other modules. */

#include <stdbool.h>
#include <stdint.h>

#include "backend.h"
#include "rosapi.h"
#include "rosconn.h"

#define ROS_COMMENT_PREFIX "wgfleet:"
#define ROS_DEMOTE_TAG "wgfleet-demoted:"
#define ROS_DEMOTE_BELOW 10
#define ROS_DEMOTE_TO 11

/* One address of the management path: the router's (as resolved or connected), or this host's
 * source address toward it (local). */
struct ros_mgmt {
        struct wf_prefix addr;
        bool local;
};

struct backend {
        char *host;
        uint16_t port;
        bool tls, tls_verify;
        char *ca_file;
        char *user;
        char *password; /* secret: zeroed on close */
        char *state_dir;
        uint32_t probe_timeout;
        struct rosconn *conn;
        struct ros_mgmt mgmt[8];
        size_t n_mgmt;
        bool mgmt_resolved;
};

bool ros_is_ours(const char *comment);
/* Ours and for this interface: "wgfleet:IFACE" or "wgfleet:IFACE ...". */
bool ros_is_ours_for(const char *comment, const char *iface);
bool ros_is_true(const char *v);
const char *ros_addr_menu(int family);
const char *ros_route_menu(int family);

/* (Re)connects when there is no live connection. */
int ros_connect(struct backend *b, struct wf_err *e);
/* One command; words is a NULL-terminated array. rep is always initialised. */
int ros_call(struct backend *b, const char *const *words, struct rosconn_reply *rep, struct wf_err *e);
#define ROS_CALL(b, rep, e, ...) ros_call((b), (const char *const[]){ __VA_ARGS__, NULL }, (rep), (e))

/* A growing list of words for commands with optional arguments. */
struct ros_words {
        char *w[32];
        size_t n;
        int err; /* sticky: a command missing a word (its comment!) is never sent */
};

void ros_words_done(struct ros_words *w);
int ros_words_add(struct ros_words *w, const char *fmt, ...) _printf_(2, 3);
int ros_words_call(struct backend *b, struct ros_words *w, struct rosconn_reply *rep, struct wf_err *e);
/* Sends w, then frees its words. */
int ros_simple(struct backend *b, struct ros_words *w, struct wf_err *e);
/* The .id of our (wgfleet:) item in menu matching the queries (q2 may be NULL) into out:
 * 1 found, 0 none, -errno. */
int ros_find_id(struct backend *b, const char *menu, const char *q1, const char *q2, char out[32],
                struct wf_err *e);

/* ros-observe.c */
int ros_observe(struct backend *b, const char *iface, const struct wf_iface *desired,
                struct wf_live_iface **ret, struct wf_err *e);
/* backend_ops.device_key */
int ros_device_key(struct backend *b, const char *iface, bool create, uint8_t pub[WF_KEY_LEN], struct wf_err *e);
/* Our input accept for the listen port, before the first drop rule of the input chain. Returns
 * 1 when it is in place, 0 when not; ret_id gets our rule's .id (or "" when absent). */
int ros_firewall_state(struct backend *b, const char *iface, uint16_t port, char ret_id[32],
                       char ret_first_drop[32], struct wf_err *e);

/* ros-apply.c: executes the plan's operations (the lockout check is the caller's). */
int ros_apply_ops(struct backend *b, const struct plan *p, const struct plan_target *t, struct wf_err *e);

/* ros-gateway.c: forwarding, NAT and services as firewall rules (docs/gateways.md); ctx is the
 * backend. */
extern const struct gw_driver ros_gw_driver;

/* ros-demote.c: a demotion is recorded in the route's comment, "wgfleet-demoted:IFACE:DIST"
 * then one space and the comment it had. */
/* true when comment is iface's demotion record: *ret_from is the distance before, *ret_rest
 * the comment it had (borrowed from comment). */
bool ros_demote_tag_parse(const char *comment, const char *iface, uint32_t *ret_from, const char **ret_rest);
/* Sets the foreign route r (to dst) to distance to, recording its distance and comment. */
int ros_route_demote(struct backend *b, const char *iface, const struct wf_prefix *dst,
                     const struct wf_live_route *r, uint32_t to, struct wf_err *e);
/* Puts back a route iface demoted (comment holds the record; nothing when it does not): its
 * comment, and its distance when it is still the demoted one. */
int ros_route_restore(struct backend *b, const char *iface, int family, const char *id, uint32_t distance,
                      const char *comment, struct wf_err *e);
/* clear: puts back every route iface demoted, in both route menus. */
int ros_restore_demoted(struct backend *b, const char *iface, struct wf_err *e);
