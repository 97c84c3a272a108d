/* SPDX-License-Identifier: MIT */
#pragma once

/* Kernel WireGuard over generic netlink (libmnl), plus creating and deleting links of kind
 * wireguard over rtnetlink. Sockets live in a context; nothing is global.
 *
 * Layers: the encoder (wgnl_encode_set) and the decoder (wgnl_parse_device_msg) are pure (bytes
 * in, structs out) so unit tests feed them directly; wgnl_get_device/wgnl_set/wgnl_apply talk to
 * the kernel, always with ACKs requested and read. */

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "model.h"
#include "plan.h"
#include "util.h"

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

enum {
        WGNL_DEV_PRIVATE_KEY = 1 << 0,
        WGNL_DEV_LISTEN_PORT = 1 << 1,
        WGNL_DEV_FWMARK = 1 << 2,
};

enum {
        WGNL_PEER_REMOVE = 1 << 0,              /* WGPEER_F_REMOVE_ME; nothing else is sent */
        WGNL_PEER_REPLACE_ALLOWEDIPS = 1 << 1,  /* first chunk of the peer only */
        WGNL_PEER_UPDATE_ONLY = 1 << 2,         /* never creates the peer by accident */
        WGNL_PEER_PRESHARED_KEY = 1 << 3,       /* preshared_key, or zeros to clear */
        WGNL_PEER_ENDPOINT = 1 << 4,
        WGNL_PEER_KEEPALIVE = 1 << 5,
};

/* One peer in a SET. Everything is borrowed. */
struct wgnl_peer_set {
        const uint8_t *public_key;       /* WF_KEY_LEN bytes */
        unsigned flags;                  /* WGNL_PEER_* */
        const uint8_t *preshared_key;    /* NULL with WGNL_PEER_PRESHARED_KEY: clear it */
        struct sockaddr_storage endpoint;
        uint16_t keepalive;
        const struct wf_prefix *allowed_ips; /* added (or the replacement list) */
        size_t n_allowed_ips;
};

/* One SET_DEVICE operation, split into as many messages as it needs. Borrowed. */
struct wgnl_device_set {
        const char *ifname;
        unsigned flags;                  /* WGNL_DEV_* */
        const uint8_t *private_key;
        uint16_t listen_port;
        uint32_t fwmark;
        const struct wgnl_peer_set *peers;
        size_t n_peers;
};

/* Called for every finished message; returns >= 0 to go on, -errno to stop. */
typedef int (*wgnl_send_fn)(void *userdata, struct nlmsghdr *nlh);

/* Pure encoder: builds SET_DEVICE messages of at most max_msg bytes in buf (max_msg bytes) and
 * hands each to send. Device attributes go only in the first message; a peer that does not fit
 * is cancelled, the message sent, and the peer starts again in the next one; a peer whose
 * allowed IPs do not fit in one message continues in the next with only its key and the rest of
 * its allowed IPs (REPLACE_ALLOWEDIPS only in its first chunk, UPDATE_ONLY in every chunk). A
 * peer that replaces its list starts a new message rather than split when that lets it fit
 * whole: between chunks, the tail of a replaced list has no peer.
 * Returns the number of messages, -EMSGSIZE when max_msg cannot hold one peer with one allowed
 * IP, or the error send returned. */
int wgnl_encode_set(const struct wgnl_device_set *d, uint16_t family, uint32_t seq, void *buf,
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

int wgnl_set(struct wgnl *c, const struct wgnl_device_set *d, struct wf_err *e);

/* Pure: the WireGuard part of a plan as one SET operation: device attributes from PLAN_IFACE_SET
 * (private key, listen port, fwmark), then adds and updates in plan order, then removals (an
 * allowed IP moving away from a removed peer is taken over first). Adds carry the full list with
 * REPLACE_ALLOWEDIPS; updates carry UPDATE_ONLY and only their flagged fields. ret->peers is
 * malloc'd (free it); everything it points to is borrowed from p and t. */
int wgnl_plan_to_set(const struct plan *p, const struct plan_target *t, struct wgnl_device_set *ret);

/* Executes the WireGuard part of a plan (PLAN_IFACE_SET private key/port/fwmark, PLAN_PEER_*)
 * in one SET operation; other operations are ignored. Nothing is sent when nothing applies. */
int wgnl_apply(struct wgnl *c, const struct plan *p, const struct plan_target *t, struct wf_err *e);

/* rtnetlink: creates a link of kind wireguard (-EEXIST when present), deletes one. */
int wgnl_link_create(struct wgnl *c, const char *ifname, struct wf_err *e);
int wgnl_link_delete(struct wgnl *c, const char *ifname, struct wf_err *e);
