/* SPDX-License-Identifier: MIT */
#pragma once

/* The data model shared by every layer: the desired state (what a document says) and the
 * live state (what a backend observed). Nothing here does I/O. */

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define WF_KEY_LEN 32
#define WF_IFNAMSIZ 16
#define WF_SCHEMA_DOC "wgfleet/desired-state/v1"
#define WF_SCHEMA_STATUS "wgfleet/status/v1"
#define WF_PAYLOAD_TYPE "application/vnd.wgfleet.desired-state+json"
/* rtnetlink protocol number that marks routes the agent owns (see docs/backends.md). */
#define WF_RTPROT 211
#define WF_DEFAULT_METRIC 10
#define WF_HEALTHY_HANDSHAKE_S 180

/* An address with prefix length. For interface addresses the host bits are kept
 * (10.0.0.1/24); for allowed IPs and routes they must be zero. */
struct wf_prefix {
        int family; /* AF_INET or AF_INET6 */
        uint8_t addr[16];
        uint8_t len;
};

struct wf_peer {
        char *name;
        uint8_t public_key[WF_KEY_LEN];
        char *endpoint;      /* "host:port" / "[v6]:port" as written, NULL when absent (CGNAT) */
        char *endpoint_host; /* host part without brackets */
        uint16_t endpoint_port;
        char **endpoint_alt; /* same syntax as endpoint */
        size_t n_endpoint_alt;
        struct wf_prefix *allowed_ips;
        size_t n_allowed_ips;
        int persistent_keepalive; /* -1 when absent */
        char *preshared_key_ref;  /* file name in secrets_dir, NULL when absent */
};

struct wf_route {
        struct wf_prefix dst;
        char *via; /* peer name */
};

/* Gateway fields (docs/gateways.md): the node's LAN local seen by the overlay as overlay (same
 * prefix length), and a service published at address:port forwarded to target:target_port. */
struct wf_netmap {
        struct wf_prefix local, overlay;
};

struct wf_service {
        char *name;
        struct wf_prefix address;        /* host prefix (/32, /128) */
        int protocol;                    /* IPPROTO_TCP or IPPROTO_UDP */
        uint16_t port;
        struct wf_prefix target;         /* host prefix, same family as address */
        uint16_t target_port;
};

/* An interface's exit_policy (docs/backends.md, "Exit policies"). */
enum wf_exit_policy {
        WF_EXIT_FAILOVER, /* absent: the active exit stays while it answers */
        WF_EXIT_LATENCY,
        WF_EXIT_MANUAL,
};

struct wf_iface {
        char *name;
        uint16_t listen_port;
        struct wf_prefix *addresses;
        size_t n_addresses;
        uint32_t mtu;         /* 0 when absent */
        uint32_t fwmark;      /* 0 when absent */
        uint32_t route_table; /* 254 (main) by default */
        uint32_t route_metric;
        bool has_public_key;
        uint8_t public_key[WF_KEY_LEN];
        struct wf_peer *peers;
        size_t n_peers;
        struct wf_route *routes;
        size_t n_routes;
        char **exit; /* peer names allowed to carry the default route */
        size_t n_exit;
        enum wf_exit_policy exit_policy;
        char *exit_primary;              /* a name in exit[], NULL: the first */
        struct wf_prefix *exit_sources;  /* only these sources go to the exit (none: all) */
        size_t n_exit_sources;
        /* Not from the document: the running agent's working copy names the exit its liveness
         * tracker chose (borrowed); NULL: exit_target_build chooses from handshakes. */
        const char *exit_choice;
        bool forwarding;
        char *masquerade_out;            /* masquerade.out_interface, NULL when absent */
        struct wf_netmap *netmap;
        size_t n_netmap;
        struct wf_service *services;
        size_t n_services;
};

struct wf_doc {
        char *node;
        uint64_t revision;
        int64_t issued_at;
        int64_t expires_at;
        struct wf_iface *ifaces;
        size_t n_ifaces;
};

void wf_doc_free(struct wf_doc *d); /* takes NULL */

/* ---- live state, as a backend observed it ---- */

struct wf_live_peer {
        uint8_t public_key[WF_KEY_LEN];
        bool has_preshared_key;
        uint8_t preshared_key[WF_KEY_LEN];
        struct sockaddr_storage endpoint; /* ss_family == 0: none */
        struct wf_prefix *allowed_ips;
        size_t n_allowed_ips;
        uint16_t persistent_keepalive;
        int64_t last_handshake; /* unix seconds, 0 = never */
        uint64_t rx_bytes, tx_bytes;
        char *backend_id; /* e.g. RouterOS ".id"; NULL for Linux */
        char *comment;    /* RouterOS comment; NULL for Linux */
};

struct wf_live_route {
        struct wf_prefix dst;
        uint32_t table;
        uint32_t metric;   /* RouterOS: distance */
        uint8_t protocol;  /* WF_RTPROT when ours */
        bool ours;
        int ifindex;
        char *backend_id;
        char *comment;     /* RouterOS: the route's comment (foreign routes only) */
        /* A foreign route this interface demoted (the record is on the router: RouterOS, a tag
         * in the comment): its metric before. */
        bool demoted;
        uint32_t demoted_from;
};

struct wf_live_iface {
        char *name;
        bool exists;
        int ifindex;
        bool up;
        uint32_t mtu;
        bool has_private_key;
        uint8_t public_key[WF_KEY_LEN]; /* derived from the private key */
        uint16_t listen_port;
        uint32_t fwmark;
        struct wf_prefix *addresses;
        size_t n_addresses;
        struct wf_live_peer *peers;
        size_t n_peers;
        struct wf_live_route *routes; /* ours, plus foreign ones to the same destinations */
        size_t n_routes;
        char *backend_id;
};

void wf_live_iface_free(struct wf_live_iface *l); /* takes NULL; frees members and l itself */

/* ---- prefix helpers ---- */

/* Parses "10.0.0.0/24", "fd00::/64", also a bare address (/32, /128). With strict, host bits
 * must be zero. Returns -EINVAL with a reason in why (static string) on failure. */
int wf_prefix_parse(const char *s, bool strict, struct wf_prefix *ret, const char **why);
void wf_prefix_format(const struct wf_prefix *p, char out[64]);
/* Zeroes host bits. */
void wf_prefix_mask(struct wf_prefix *p);
bool wf_prefix_equal(const struct wf_prefix *a, const struct wf_prefix *b);
/* a contains b (b's network inside a's network). */
bool wf_prefix_contains(const struct wf_prefix *a, const struct wf_prefix *b);
bool wf_prefix_overlap(const struct wf_prefix *a, const struct wf_prefix *b);
int wf_prefix_cmp(const struct wf_prefix *a, const struct wf_prefix *b);
/* Sorts a in place (wf_prefix_cmp) and drops duplicates; returns the new count. */
size_t wf_prefixes_sort_unique(struct wf_prefix *a, size_t n);
/* Every destination iface wants routed: each peer's allowed IPs and routes[].dst, except /0
 * (the exit selection's). malloc'd, sorted, without duplicates. Returns 0 or -ENOMEM. */
int wf_iface_routes_wanted(const struct wf_iface *iface, struct wf_prefix **ret, size_t *ret_n);

/* Splits "host:port" / "[v6]:port". Host is malloc'd into *ret_host. */
int wf_endpoint_split(const char *s, char **ret_host, uint16_t *ret_port, const char **why);
/* A listen address: "1.2.3.4:port" or "[v6]:port", numeric (no name lookup). On -EINVAL *why
 * says what is wrong, e.g. "has no valid port (1-65535)"; -ENOMEM. */
int wf_sockaddr_parse(const char *s, struct sockaddr_storage *ret, const char **why);
void wf_sockaddr_format(const struct sockaddr_storage *ss, char out[64]); /* "1.2.3.4:51820", "[::1]:51820", "" */
bool wf_sockaddr_equal(const struct sockaddr_storage *a, const struct sockaddr_storage *b);
