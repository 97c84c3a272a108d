/* SPDX-License-Identifier: MIT */
#pragma once

/* wg-change: one change to a WireGuard device (its attributes, then its peers in the order to
 * send them), in the plain form the data planes take: generic netlink (wg-netlink.c), UAPI text
 * (uapi.c), RouterOS commands (ros-apply.c). Nothing here knows plans: plan-change.c makes these
 * from plan operations, and is the one place that decides which fields an operation carries. */

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "model.h"

enum {
        WGC_DEV_PRIVATE_KEY = 1 << 0,
        WGC_DEV_LISTEN_PORT = 1 << 1,
        WGC_DEV_FWMARK = 1 << 2,
};

enum {
        WGC_PEER_REMOVE = 1 << 0,              /* remove it; nothing else is sent */
        WGC_PEER_REPLACE_ALLOWEDIPS = 1 << 1,  /* allowed_ips is the full list */
        WGC_PEER_UPDATE_ONLY = 1 << 2,         /* an existing peer: never create it by accident */
        WGC_PEER_PRESHARED_KEY = 1 << 3,       /* preshared_key, or NULL to clear it */
        WGC_PEER_ENDPOINT = 1 << 4,
        WGC_PEER_KEEPALIVE = 1 << 5,           /* keepalive, 0 turns it off */
};

/* One peer's change. Everything is borrowed. Without REPLACE_ALLOWEDIPS, allowed_ips are added
 * to the peer's list. */
struct wgc_peer {
        const uint8_t *public_key;       /* WF_KEY_LEN bytes */
        unsigned flags;                  /* WGC_PEER_* */
        const uint8_t *preshared_key;
        struct sockaddr_storage endpoint;
        uint16_t keepalive;
        const struct wf_prefix *allowed_ips;
        size_t n_allowed_ips;
};

/* One device's change: attributes, then peers in order (adds and updates before removals, so
 * an allowed IP moving away from a removed peer is taken over first). Borrowed. */
struct wgc_device {
        const char *ifname;
        unsigned flags;                  /* WGC_DEV_* */
        const uint8_t *private_key;
        uint16_t listen_port;
        uint32_t fwmark;
        const struct wgc_peer *peers;
        size_t n_peers;
};
