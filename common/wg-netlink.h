/* SPDX-License-Identifier: MIT */
#pragma once

/* Kernel WireGuard over generic netlink (libmnl), plus creating and deleting links of kind
 * wireguard over rtnetlink. Sockets live in a context; nothing is global.
 *
 * Layers: the encoder (wgnl_encode_set) and the decoder (wgnl_parse_device_msg) are pure (bytes
 * in, structs out) so unit tests feed them directly; wgnl_get_device/wgnl_set talk to
 * the kernel, always with ACKs requested and read. */

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "model.h"
#include "util.h"
#include "wg-change.h"

struct nlmsghdr;
struct wgnl;

/* What one context has sent and received; the bench and the vm suite read these. */
struct wgnl_stats {
        uint64_t set_messages;   /* WG_CMD_SET_DEVICE messages sent */
        uint64_t set_bytes;
        uint64_t get_requests;   /* WG_CMD_GET_DEVICE dumps started */
        uint64_t get_messages;   /* dump parts received */
        uint64_t link_messages;  /* rtnetlink requests */
};

/* Called for every finished message; returns >= 0 to go on, -errno to stop. */
typedef int (*wgnl_send_fn)(void *userdata, struct nlmsghdr *nlh);

/* Pure encoder: builds the SET_DEVICE messages of one device change (wg-change.h), each of at
 * most max_msg bytes, in buf (max_msg bytes) and hands each to send. Device attributes go only
 * in the first message; a peer that does not fit is cancelled, the message sent, and the peer
 * starts again in the next one; a peer whose allowed IPs do not fit in one message continues
 * in the next with only its key and the rest of its allowed IPs (REPLACE_ALLOWEDIPS only in its first chunk, UPDATE_ONLY in every chunk). A
 * peer that replaces its list starts a new message rather than split when that lets it fit
 * whole: between chunks, the tail of a replaced list has no peer.
 * Returns the number of messages, -EMSGSIZE when max_msg cannot hold one peer with one allowed
 * IP, or the error send returned. */
int wgnl_encode_set(const struct wgc_device *d, uint16_t family, uint32_t seq, void *buf,
                    size_t max_msg, wgnl_send_fn send, void *userdata);

/* Pure decoder for one GET_DEVICE dump part (or a SET message: same attributes). Fills the
 * device fields present and appends peers to live; a part whose first peer has the key of the
 * last peer already in live continues that peer's allowed IPs. Returns 0, -EINVAL on malformed
 * attributes, -ENOMEM. */
int wgnl_parse_device_msg(const struct nlmsghdr *nlh, struct wf_live_iface *live);

/* Opens the generic netlink socket and resolves the "wireguard" family. -ENOENT (with e) when
 * the kernel has no WireGuard. */
int wgnl_open(struct wgnl **ret, struct wf_err *e);
/* Takes NULL, returns NULL. With WGFLEET_WGNL_STATS=FILE in the environment (a debug hook for
 * the benchmarks and the vm suite), appends this context's counters to FILE as one line
 * "set_messages=N set_bytes=N get_requests=N get_messages=N link_messages=N". */
struct wgnl *wgnl_close(struct wgnl *c);
static inline void wgnl_closep(struct wgnl **c) { wgnl_close(*c); }
#define _cleanup_wgnl_ _cleanup_(wgnl_closep)

/* Largest SET message (default: the page size, at most 8 KiB, as the kernel's own tools do). */
void wgnl_set_max_message(struct wgnl *c, size_t max);
void wgnl_get_stats(const struct wgnl *c, struct wgnl_stats *ret);

/* Dumps one device into live (name, ifindex, keys, port, fwmark, peers with allowed IPs,
 * handshake and counters). live->exists is set. -ENODEV when there is no such link,
 * -EOPNOTSUPP when the link is not WireGuard. */
int wgnl_get_device(struct wgnl *c, const char *ifname, struct wf_live_iface *live, struct wf_err *e);

/* One device change (wg-change.h) as SET_DEVICE messages, in the order given. Nothing is sent
 * when d has no flags and no peers. */
int wgnl_set(struct wgnl *c, const struct wgc_device *d, struct wf_err *e);

/* rtnetlink: creates a link of kind wireguard (-EEXIST when present), deletes one. */
int wgnl_link_create(struct wgnl *c, const char *ifname, struct wf_err *e);
int wgnl_link_delete(struct wgnl *c, const char *ifname, struct wf_err *e);
